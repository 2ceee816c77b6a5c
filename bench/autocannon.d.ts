// autocannon ships no types; just the part of its programmatic API that bench/keys.ts uses.
declare module 'autocannon' {
  interface Options {
    url: string
    method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
    headers?: Record<string, string>
    body?: string
    connections?: number
    /** Stop after this many requests in all. */
    amount?: number
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
