import { randomUUID } from 'node:crypto'
import type { Config } from '../../config.ts'
import { isJsonObject } from '../../core/json.ts'
import { OutgoingHttp, OutgoingHttpError } from '../../infra/http/outgoing.ts'
import { isRetryableHttpStatus } from '../../infra/delivery/failure.ts'
import { CALLED, opcpPath, type CalledOperation } from './protocol.ts'

/**
 * A call to Hubject's ecosystem failed. The message names the operation, the HTTP status and
 * Hubject's own errorMessages with its traceId (what Hubject's support asks for); `retryable`
 * says whether trying again later can help (transport failures, 5xx, 429, 408).
 */
export class OpcpError extends Error {
  constructor(
    readonly operation: CalledOperation,
    readonly reason: string,
    readonly retryable: boolean,
    readonly httpStatus?: number,
    readonly errorMessages: string[] = [],
    readonly traceId?: string,
  ) {
    const said = errorMessages.length > 0 ? `: ${errorMessages.join('; ')}` : ''
    const trace = traceId ? ` (traceId ${traceId})` : ''
    super(`OPCP ${CALLED[operation].specOperationId}: ${reason}${said}${trace}`)
    this.name = 'OpcpError'
  }
}

export interface OpcpClientOptions {
  /** base URL of the OPCP services; the operations' paths are appended */
  baseUrl: string
  tokenUrl: string
  clientId: string
  clientSecret: string
  audience: string
  http: OutgoingHttp
  /** the clock, for the token's lifetime */
  now?: () => number
}

export interface OpcpAnswer {
  status: number
  /** the parsed JSON answer; undefined for an empty one */
  body: unknown
}

/** A token is renewed this long before Hubject says it expires, so no call carries one that lapses in flight. */
const TOKEN_MARGIN_MS = 60_000

/**
 * Our client of Hubject's Plug&Charge ecosystem (OPCP): OAuth2 client credentials, the token
 * cached until shortly before it expires (one request for it at a time), a bearer token on every
 * call and one retry with a fresh token when a call is refused as unauthorized. Every operation
 * comes from the protocol table (CALLED).
 */
export class OpcpClient {
  private token: { value: string; until: number } | null = null
  private tokenRequest: Promise<string> | null = null

  constructor(readonly options: OpcpClientOptions) {}

  /**
   * The client the configuration describes, or null when no OPCP URL is configured. The URLs are
   * the operator's own settings, not a partner's, so they may be private addresses (a simulator).
   */
  static fromConfig(config: Config): OpcpClient | null {
    if (!config.opcpUrl) return null
    const baseUrl = config.opcpUrl.replace(/\/$/, '')
    return new OpcpClient({
      baseUrl,
      tokenUrl: config.opcpTokenUrl ?? `${baseUrl}${CALLED.issueToken.path}`,
      clientId: config.opcpClientId!,
      clientSecret: config.opcpClientSecret!,
      audience: config.opcpAudience ?? baseUrl,
      http: new OutgoingHttp({
        allowPrivateAddresses: true,
        maxAnswerBytes: Math.max(config.partnerAnswerMaxBytes, 16 * 1024 * 1024),
        timeoutMs: config.partnerTimeoutMs,
      }),
    })
  }

  private now() {
    return this.options.now?.() ?? Date.now()
  }

  /** A valid access token: the cached one, else a new one (concurrent callers share one request). */
  async accessToken(): Promise<string> {
    if (this.token && this.token.until > this.now()) return this.token.value
    this.tokenRequest ??= this.requestToken().finally(() => (this.tokenRequest = null))
    return this.tokenRequest
  }

  private async requestToken(): Promise<string> {
    const { status, body } = await this.send('issueToken', this.options.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({
        client_id: this.options.clientId,
        client_secret: this.options.clientSecret,
        audience: this.options.audience,
        grant_type: 'client_credentials',
      }),
    })
    if (status !== 200 || !isJsonObject(body) || typeof body.access_token !== 'string' || body.access_token === '') {
      const description = isJsonObject(body) && typeof body.error_description === 'string' ? body.error_description : undefined
      const error = isJsonObject(body) && typeof body.error === 'string' ? body.error : undefined
      throw new OpcpError(
        'issueToken',
        status === 200 ? 'the token answer carries no access_token' : `HTTP ${status}`,
        status !== 200 && isRetryableHttpStatus(status),
        status,
        [error, description].filter((m): m is string => m !== undefined),
      )
    }
    const seconds = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 300
    const lifetime = seconds * 1000
    this.token = { value: body.access_token, until: this.now() + Math.max(lifetime - TOKEN_MARGIN_MS, lifetime / 2) }
    return body.access_token
  }

  /** Forgets the cached token (a call was refused as unauthorized, or the operator rotated credentials). */
  dropToken() {
    this.token = null
  }

  private async send(op: CalledOperation, url: string, request: Parameters<OutgoingHttp['request']>[1]): Promise<OpcpAnswer> {
    let answer
    try {
      answer = await this.options.http.request(url, request)
    } catch (error) {
      if (error instanceof OutgoingHttpError) throw new OpcpError(op, error.message, true)
      throw error
    }
    const text = answer.body.toString('utf8')
    let body: unknown
    try {
      body = text === '' ? undefined : JSON.parse(text)
    } catch {
      body = undefined
    }
    return { status: answer.statusCode, body }
  }

  /**
   * Calls an operation of the table and returns its answer when the status is the operation's
   * success status or one of `accept` (e.g. 404 for a lookup); any other status is an OpcpError
   * carrying Hubject's errorMessages and traceId.
   */
  async call(
    op: Exclude<CalledOperation, 'issueToken'>,
    call: { params?: Record<string, string>; query?: Record<string, string>; body?: unknown; accept?: number[] } = {},
  ): Promise<OpcpAnswer> {
    const operation = CALLED[op]
    const url = new URL(`${this.options.baseUrl}${opcpPath(op, call.params)}`)
    for (const [name, value] of Object.entries(call.query ?? {})) url.searchParams.set(name, value)
    const attempt = async () =>
      this.send(op, url.href, {
        method: operation.method,
        headers: {
          authorization: `Bearer ${await this.accessToken()}`,
          accept: 'application/json',
          // Our own trace ID, so an operator can match our log line with Hubject's.
          'x-request-id': randomUUID(),
          ...(call.body !== undefined && { 'content-type': 'application/json' }),
        },
        ...(call.body !== undefined && { body: JSON.stringify(call.body) }),
      })
    let answer = await attempt()
    if (answer.status === 401) {
      this.dropToken()
      answer = await attempt()
    }
    const ok = answer.status === operation.status || (answer.status >= 200 && answer.status < 300) || call.accept?.includes(answer.status)
    if (!ok) {
      const body = isJsonObject(answer.body) ? answer.body : {}
      const messages = Array.isArray(body.errorMessages) ? body.errorMessages.filter((m): m is string => typeof m === 'string') : []
      const traceId = typeof body.traceId === 'string' ? body.traceId : undefined
      throw new OpcpError(op, `HTTP ${answer.status}`, isRetryableHttpStatus(answer.status), answer.status, messages, traceId)
    }
    return answer
  }

  async close(): Promise<void> {
    await this.options.http.close()
  }
}
