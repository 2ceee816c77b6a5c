import { randomUUID } from 'node:crypto'
import { OutgoingHttpError, type OutgoingFailure, type OutgoingHttp } from '../../infra/http/outgoing.ts'
import { OCPI_STATUS } from './protocol.ts'
import { authorizationHeader, type Party } from './transport.ts'

/**
 * What went wrong with a call: the transport's failure (see OutgoingFailure), an HTTP error
 * status, an OCPI status other than success, or an answer that is not an OCPI envelope.
 */
export type OcpiCallFailure = OutgoingFailure | 'http_status' | 'ocpi_status' | 'not_ocpi'

/**
 * A partner's OCPI API could not be used. The message names the failure and never carries the
 * partner's body; its status_message, when it sent one, is kept apart (`statusMessage`) for
 * tools that trust the other side, and stays out of what we log or answer.
 */
export class OcpiClientError extends Error {
  readonly failure: OcpiCallFailure
  /** the failure without the call it happened to (`message` names method and URL too) */
  readonly reason: string
  readonly statusMessage?: string

  constructor(
    message: string,
    readonly httpStatus?: number,
    readonly ocpiStatus?: number,
    details: { failure?: OcpiCallFailure; reason?: string; statusMessage?: string } = {},
  ) {
    super(message)
    this.name = 'OcpiClientError'
    this.failure = details.failure ?? 'unreachable'
    this.reason = details.reason ?? message
    this.statusMessage = details.statusMessage
  }

  /** Refused by our outgoing policy before anything was sent. */
  get refusedByPolicy() {
    return this.failure === 'invalid_url' || this.failure === 'scheme_not_allowed' || this.failure === 'address_not_allowed'
  }
}

export interface OcpiCallOptions {
  /** the outgoing policy every call to a partner goes through */
  http: OutgoingHttp
  token: string
  style: 'base64' | 'raw'
  /** routing headers for functional modules */
  from?: Party
  to?: Party
  body?: unknown
  /** this call's deadline instead of the policy's */
  timeoutMs?: number
}

export interface OcpiResponse<T> {
  data: T
  httpStatus: number
  headers: Record<string, string | string[] | undefined>
  /** the whole answer as received (the envelope), for tools and tests that check it */
  envelope: Record<string, unknown>
}

/** The one HTTP client for OCPI: envelope, authorization, request IDs and routing headers. */
export async function ocpiCall<T>(
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
  url: string,
  options: OcpiCallOptions,
): Promise<OcpiResponse<T>> {
  const requestId = randomUUID()
  const headers: Record<string, string> = {
    authorization: authorizationHeader(options.token, options.style),
    'x-request-id': requestId,
    'x-correlation-id': requestId,
    accept: 'application/json',
  }
  if (options.body !== undefined) headers['content-type'] = 'application/json'
  if (options.from) {
    headers['ocpi-from-country-code'] = options.from.country_code
    headers['ocpi-from-party-id'] = options.from.party_id
  }
  if (options.to) {
    headers['ocpi-to-country-code'] = options.to.country_code
    headers['ocpi-to-party-id'] = options.to.party_id
  }
  let response
  try {
    response = await options.http.request(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      timeoutMs: options.timeoutMs,
    })
  } catch (error) {
    const failure = error instanceof OutgoingHttpError ? error.failure : 'unreachable'
    const reason = (error as Error).message
    throw new OcpiClientError(`${method} ${url}: ${reason}`, undefined, undefined, { failure, reason })
  }
  const text = response.body.toString('utf8')
  let envelope: { data?: T; status_code?: unknown; status_message?: unknown } | undefined
  try {
    envelope = text ? JSON.parse(text) : undefined
  } catch {
    envelope = undefined
  }
  if (response.statusCode >= 300 || !envelope || envelope.status_code !== OCPI_STATUS.success) {
    const status = typeof envelope?.status_code === 'number' ? envelope.status_code : undefined
    const statusMessage = typeof envelope?.status_message === 'string' ? envelope.status_message.slice(0, 300) : undefined
    const [failure, what]: [OcpiCallFailure, string] =
      response.statusCode >= 300
        ? ['http_status', `HTTP ${response.statusCode} from partner${status ? ` (OCPI status ${status})` : ''}`]
        : status !== undefined
          ? ['ocpi_status', `OCPI status ${status} from partner`]
          : ['not_ocpi', `HTTP ${response.statusCode} from partner without an OCPI envelope`]
    throw new OcpiClientError(`${method} ${url}: ${what}`, response.statusCode, status, { failure, reason: what, statusMessage })
  }
  return { data: envelope.data as T, httpStatus: response.statusCode, headers: response.headers, envelope }
}

/**
 * GETs every page of a paginated list by following `Link: <...>; rel="next"`. A Link is followed
 * only within the origin (scheme, host, port) of the endpoint we were given, so the partner's token
 * is never sent elsewhere: a Link to another origin stops the walk with an error naming the rule.
 */
export async function* ocpiPages<T>(url: string, options: OcpiCallOptions & { maxPages?: number }): AsyncGenerator<T[]> {
  const origin = new URL(url).origin
  let next: string | undefined = url
  for (let page = 0; next && page < (options.maxPages ?? 100_000); page++) {
    const response: OcpiResponse<T[]> = await ocpiCall<T[]>('GET', next, options)
    yield Array.isArray(response.data) ? response.data : []
    const link = response.headers.link
    const header = Array.isArray(link) ? link.join(',') : link
    const target = header ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(header)?.[1] : undefined
    if (target === undefined) return
    let resolved: URL
    try {
      resolved = new URL(target, next)
    } catch {
      throw new OcpiClientError(`page ${page + 1} of ${url}: its next-page Link ${JSON.stringify(target)} is not a URL`)
    }
    if (resolved.origin !== origin) {
      throw new OcpiClientError(
        `page ${page + 1} of ${url}: its next-page Link points to ${resolved.origin}, not the endpoint's origin ${origin}; ` +
          'a Link is followed only within the origin of the endpoint, so it was not followed and the token not sent there',
      )
    }
    next = resolved.toString()
  }
}
