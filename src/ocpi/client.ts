import { randomUUID } from 'node:crypto'
import { request } from 'undici'
import { OCPI_STATUS } from './protocol.ts'
import { authorizationHeader, type Party } from './transport.ts'

/** A partner's OCPI API could not be used: transport failure, HTTP error or OCPI error status. */
export class OcpiClientError extends Error {
  constructor(
    message: string,
    readonly httpStatus?: number,
    readonly ocpiStatus?: number,
  ) {
    super(message)
    this.name = 'OcpiClientError'
  }
}

export interface OcpiCallOptions {
  token: string
  style: 'base64' | 'raw'
  /** routing headers for functional modules */
  from?: Party
  to?: Party
  body?: unknown
  timeoutMs?: number
}

export interface OcpiResponse<T> {
  data: T
  httpStatus: number
  headers: Record<string, string | string[] | undefined>
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
  const timeout = options.timeoutMs ?? 10_000
  let response
  try {
    response = await request(url, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      headersTimeout: timeout,
      bodyTimeout: timeout,
    })
  } catch (error) {
    throw new OcpiClientError(`${method} ${url} failed: ${(error as Error).message}`)
  }
  const text = await response.body.text()
  let envelope: { data?: T; status_code?: unknown; status_message?: unknown } | undefined
  try {
    envelope = text ? JSON.parse(text) : undefined
  } catch {
    envelope = undefined
  }
  if (response.statusCode >= 300 || !envelope || envelope.status_code !== OCPI_STATUS.success) {
    const status = typeof envelope?.status_code === 'number' ? envelope.status_code : undefined
    const message = typeof envelope?.status_message === 'string' ? `: ${envelope.status_message}` : ''
    throw new OcpiClientError(
      `${method} ${url} answered HTTP ${response.statusCode}${status ? `, OCPI ${status}` : ''}${message}`,
      response.statusCode,
      status,
    )
  }
  return { data: envelope.data as T, httpStatus: response.statusCode, headers: response.headers }
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
