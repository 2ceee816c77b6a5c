import { readFileSync } from 'node:fs'
import type { Config } from '../../config.ts'
import { OutgoingHttp, OutgoingHttpError, type OutgoingFailure } from '../../infra/http/outgoing.ts'
import { CALLED, calledUrl, type CalledOperationId, type CalledQuery } from './protocol.ts'
import { isJsonObject } from '../../core/json.ts'

/**
 * What went wrong with a call to Hubject: the transport's failure (OutgoingFailure), an HTTP
 * error status, or an answer that is not a JSON object.
 */
export type OicpCallFailure = OutgoingFailure | 'http_status' | 'not_json'

/**
 * A call to Hubject failed. The message names the operation and the failure; Hubject's own
 * StatusCode, when its answer carried one, is kept apart (`statusCode`) for callers to act on.
 */
export class OicpClientError extends Error {
  constructor(
    readonly failure: OicpCallFailure,
    /** the failure without the operation it happened to */
    readonly reason: string,
    readonly operation: CalledOperationId,
    readonly httpStatus?: number,
    readonly statusCode?: { Code?: string; Description?: string },
  ) {
    super(`OICP ${CALLED[operation].specOperationId}: ${reason}`)
    this.name = 'OicpClientError'
  }
}

export interface OicpClientOptions {
  /** Hubject's base URL, e.g. https://service-qa.hubject.com/api/oicp (operations' paths are appended) */
  baseUrl: string
  /** our ProviderID, the `{providerID}` of every called path */
  providerId: string
  http: OutgoingHttp
}

export interface OicpAnswer {
  httpStatus: number
  /** Hubject's answer body (a JSON object) */
  body: Record<string, unknown>
}

/**
 * Our client of Hubject: every OICP operation we call (protocol.ts CALLED) goes through `call`,
 * over one connection pool that presents our client certificate and trusts only Hubject's CA
 * when those are configured.
 */
export class OicpClient {
  constructor(readonly options: OicpClientOptions) {}

  /**
   * The client the configuration describes, or null when no Hubject URL is configured. Hubject's
   * URL is the operator's own setting, not a partner's, so it may be a private address (a
   * simulator, a proxy): the outgoing policy's address rule does not apply to it.
   */
  static fromConfig(config: Config): OicpClient | null {
    if (!config.oicpUrl) return null
    const read = (path: string | undefined) => (path === undefined ? undefined : readFileSync(path))
    const http = new OutgoingHttp({
      allowPrivateAddresses: true,
      maxAnswerBytes: Math.max(config.partnerAnswerMaxBytes, 64 * 1024 * 1024),
      timeoutMs: config.partnerTimeoutMs,
      tls: { cert: read(config.oicpClientCert), key: read(config.oicpClientKey), ca: read(config.oicpServerCa) },
    })
    return new OicpClient({ baseUrl: config.oicpUrl, providerId: config.oicpProviderIdResolved, http })
  }

  get providerId() {
    return this.options.providerId
  }

  /** The URL of an operation (for logs and the admin view; never carries a secret). */
  url<Op extends CalledOperationId>(op: Op, query: CalledQuery<Op> = {}): string {
    return calledUrl(this.options.baseUrl, op, { providerID: this.options.providerId } as never, query)
  }

  /**
   * Calls an operation with `body` (sent as JSON) and returns Hubject's answer. A 2xx answer must
   * be a JSON object; any other status is an OicpClientError carrying Hubject's StatusCode when it
   * sent one. The caller judges the answer's Result/StatusCode.
   */
  async call<Op extends CalledOperationId>(op: Op, body: unknown, query: CalledQuery<Op> = {}): Promise<OicpAnswer> {
    const url = this.url(op, query)
    let answer
    try {
      answer = await this.options.http.request(url, {
        method: CALLED[op].method,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(body),
      })
    } catch (error) {
      if (error instanceof OutgoingHttpError) throw new OicpClientError(error.failure, error.message, op)
      throw error
    }
    let parsed: unknown
    try {
      parsed = answer.body.length === 0 ? undefined : JSON.parse(answer.body.toString('utf8'))
    } catch {
      parsed = undefined
    }
    const statusCode =
      isJsonObject(parsed) && isJsonObject(parsed.StatusCode) ? (parsed.StatusCode as OicpClientError['statusCode']) : undefined
    if (answer.statusCode < 200 || answer.statusCode >= 300) {
      const said = statusCode?.Code ? ` (StatusCode ${statusCode.Code})` : ''
      throw new OicpClientError('http_status', `HTTP ${answer.statusCode}${said}`, op, answer.statusCode, statusCode)
    }
    if (!isJsonObject(parsed))
      throw new OicpClientError('not_json', `HTTP ${answer.statusCode} answer is not a JSON object`, op, answer.statusCode)
    return { httpStatus: answer.statusCode, body: parsed }
  }

  async close(): Promise<void> {
    await this.options.http.close()
  }
}
