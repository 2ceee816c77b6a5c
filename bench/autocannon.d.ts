// autocannon ships no types; just the part of its programmatic API that the benchmarks use.
declare module 'autocannon' {
  /** One request as autocannon builds it; setupRequest receives a fresh copy for every request. */
  interface RequestParams {
    method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
    path?: string
    headers?: Record<string, string>
    body?: string | Buffer
  }

  /** `context` is per connection, reset before each request when `requests` has one entry. */
  interface Request extends RequestParams {
    setupRequest?: (request: RequestParams & { headers: Record<string, string> }, context: Record<string, unknown>) => RequestParams | null
    onResponse?: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string | string[]>) => void
  }

  interface Options {
    url: string
    method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
    headers?: Record<string, string>
    body?: string | Buffer
    connections?: number
    /** Stop after this many requests in all. */
    amount?: number
    /** Stop after this many seconds. */
    duration?: number
    /** Requests to cycle through, per connection. */
    requests?: Request[]
    /** Seconds before a request counts as timed out. */
    timeout?: number
    pipelining?: number
    /** Milliseconds between samples; a run with `amount` ends at the next sample. */
    sampleInt?: number
  }

  interface Result {
    errors: number
    timeouts: number
    resets: number
    mismatches: number
    non2xx: number
    '2xx': number
    statusCodeStats: Record<string, { count: number }>
  }

  interface Instance extends PromiseLike<Result> {
    /** Every response: status, bytes and latency in milliseconds (fractional). */
    on(event: 'response', listener: (client: unknown, statusCode: number, bytes: number, latencyMs: number) => void): this
    on(event: 'reqError', listener: (error: Error) => void): this
    stop(): void
  }

  function autocannon(options: Options): Instance
  export default autocannon
}
