import { randomUUID } from 'node:crypto'
import { isRealInstant } from '../../core/date-time.ts'
import { HTTP_STATUS, isDatabaseUnavailable, OpenpncError, type ErrorKind } from '../../core/errors.ts'
import { CALLED, OCPI_STATUS, type CalledOperation, type CalledOperationId, type CalledParams, type CalledQuery } from './protocol.ts'

/** OCPI timestamps: UTC with `Z`; milliseconds kept so partners can order quick successive changes. */
export function ocpiTimestamp(date?: Date): string {
  if (date) return date.toISOString()
  // Envelopes are stamped thousands of times a second: format each millisecond once.
  const now = Date.now()
  if (now !== lastStamp.ms) {
    lastStamp.ms = now
    lastStamp.text = new Date(now).toISOString()
  }
  return lastStamp.text
}

const lastStamp = { ms: -1, text: '' }

export interface OcpiEnvelope<T> {
  data?: T
  status_code: number
  status_message?: string
  timestamp: string
}

export function success<T>(data: T, message?: string): OcpiEnvelope<T> {
  return { data, status_code: OCPI_STATUS.success, ...(message && { status_message: message }), timestamp: ocpiTimestamp() }
}

/** An error answered in OCPI terms: an HTTP status and an OCPI status code. */
export class OcpiError extends OpenpncError {
  constructor(
    kind: ErrorKind,
    readonly ocpiStatus: number,
    message: string,
  ) {
    super(kind, `ocpi_${ocpiStatus}`, message)
  }
}

export const invalidParameters = (message: string) => new OcpiError('invalid', OCPI_STATUS.invalidParameters, message)

/** HTTP status and OCPI status for any error raised while serving an OCPI request. */
export function ocpiErrorAnswer(error: unknown): { http: number; status: number; message: string } {
  if (error instanceof OcpiError) {
    return { http: HTTP_STATUS[error.kind], status: error.ocpiStatus, message: error.message }
  }
  if (error instanceof OpenpncError) {
    const status =
      error.kind === 'invalid'
        ? OCPI_STATUS.invalidParameters
        : error.kind === 'internal'
          ? OCPI_STATUS.serverError
          : OCPI_STATUS.clientError
    return { http: HTTP_STATUS[error.kind], status, message: error.message }
  }
  const e = error as {
    validation?: Array<{ instancePath: string; message?: string; params?: Record<string, unknown> }>
    validationContext?: string
    statusCode?: number
    message?: string
  }
  if (e?.validation) {
    const first = e.validation[0]!
    const field = [first.instancePath.replace(/^\//, '').replaceAll('/', '.'), first.params?.missingProperty].filter(Boolean).join('.')
    return {
      http: 400,
      status: OCPI_STATUS.invalidParameters,
      message: `${e.validationContext ?? 'request'}${field ? ` field ${field}` : ''} ${first.message ?? 'is invalid'}`,
    }
  }
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    return { http: e.statusCode, status: OCPI_STATUS.clientError, message: e.message ?? 'bad request' }
  }
  // OCPI has no "unavailable" status: a generic server error (3000), and HTTP says retry later.
  if (isDatabaseUnavailable(error)) return { http: 503, status: OCPI_STATUS.serverError, message: 'database unavailable; retry shortly' }
  return { http: 500, status: OCPI_STATUS.serverError, message: 'internal error' }
}

/**
 * The credentials token in an Authorization header. OCPI 2.2+ sends `Token <base64(token)>`,
 * earlier partners `Token <token>`; both candidates are returned, the caller tries each.
 */
export function tokenCandidates(header: string | undefined): readonly string[] {
  if (!header) return NO_CANDIDATES
  // A partner sends the same header on every call: decoded once, not per request.
  let candidates = candidatesByHeader.get(header)
  if (candidates) return candidates
  candidates = Object.freeze(readTokenCandidates(header))
  // Bounded: headers of unknown tokens (a scan) cannot grow it beyond this.
  if (candidatesByHeader.size >= CANDIDATE_CACHE_SIZE) candidatesByHeader.clear()
  candidatesByHeader.set(header, candidates)
  return candidates
}

const NO_CANDIDATES: readonly string[] = Object.freeze([])
const CANDIDATE_CACHE_SIZE = 1024
const candidatesByHeader = new Map<string, readonly string[]>()

function readTokenCandidates(header: string): string[] {
  const match = /^Token\s+(\S+)\s*$/i.exec(header)
  if (!match) return []
  const raw = match[1]!
  const candidates = [raw]
  if (/^[A-Za-z0-9+/=_-]+$/.test(raw)) {
    const decoded = Buffer.from(raw, 'base64').toString('utf8')
    // A decoded token must be printable ASCII (the spec's token alphabet) to be a candidate.
    if (decoded && /^[\x21-\x7e]+$/.test(decoded) && decoded !== raw) candidates.unshift(decoded)
  }
  return candidates
}

export function authorizationHeader(token: string, style: 'base64' | 'raw'): string {
  return `Token ${style === 'base64' ? Buffer.from(token, 'utf8').toString('base64') : token}`
}

/** X-Request-ID / X-Correlation-ID: the caller's when sane, else new. */
export function requestIdFrom(value: unknown): string {
  return typeof value === 'string' && /^[\x21-\x7e]{1,255}$/.test(value) ? value : randomUUID()
}

export interface Party {
  country_code: string
  party_id: string
}

/** Parses OCPI-from/to routing headers of a request, if present and well-formed. */
export function routingHeaders(headers: Record<string, unknown>): { from?: Party; to?: Party } {
  return {
    from: party(headers['ocpi-from-country-code'], headers['ocpi-from-party-id']),
    to: party(headers['ocpi-to-country-code'], headers['ocpi-to-party-id']),
  }
}

// At module level: every functional OCPI call reads the routing headers.
function party(cc: unknown, id: unknown): Party | undefined {
  return typeof cc === 'string' && typeof id === 'string' && /^[A-Za-z]{2}$/.test(cc) && /^[A-Za-z0-9]{3}$/.test(id)
    ? { country_code: cc.toUpperCase(), party_id: id.toUpperCase() }
    : undefined
}

// ---------- URLs

/**
 * A partner's endpoint URL with path segments appended: one slash between, whether the endpoint
 * ends with `/` or not; duplicate slashes collapsed; segments URL-encoded; its query kept.
 */
export function endpointUrl(endpoint: string, ...segments: string[]): URL {
  const url = new URL(endpoint)
  url.pathname = [url.pathname.replace(/\/+$/, ''), ...segments.map(encodeURIComponent)].join('/').replace(/\/{2,}/g, '/')
  return url
}

/**
 * The one builder of the URLs we call on a CPO: the operation's target URL (from the partner's
 * versions list or version details) with the operation's path segments of the protocol table
 * appended as endpointUrl does (one slash between, each parameter percent-encoded, the target's
 * query kept) and our query parameters added. A target with nothing to append is called as the
 * partner gave it, byte for byte: its URL is its own, and the outgoing policy judges it.
 */
export function calledUrl<Op extends CalledOperationId>(
  op: Op,
  target: string,
  params: CalledParams<Op>,
  query: CalledQuery<Op> = {},
): string {
  const operation: CalledOperation = CALLED[op]
  const values: Readonly<Record<string, string | undefined>> = params
  const segments = operation.path.map((segment) => {
    const name = /^\{(\w+)\}$/.exec(segment)?.[1]
    if (name === undefined) return segment
    const value = values[name]
    if (value === undefined || value === '') throw new Error(`${op}: the path parameter ${name} is missing`)
    return value
  })
  const extra = Object.entries(query).filter((entry): entry is [string, string] => typeof entry[1] === 'string')
  if (segments.length === 0 && extra.length === 0) return target
  const url = segments.length > 0 ? endpointUrl(target, ...segments) : new URL(target)
  for (const [name, value] of extra) url.searchParams.set(name, value)
  return url.toString()
}

/**
 * The path a partner called, as we route it: duplicate slashes collapsed and a trailing slash
 * dropped, so our advertised endpoint URLs (which end with `/`) work whether the partner appends
 * `/{country_code}/...` or `{country_code}/...` (the tokens module writes the latter).
 */
export function canonicalOcpiUrl(url: string): string {
  const query = url.indexOf('?')
  // Every request passes here and most paths are canonical already: told without a new string.
  const end = query === -1 ? url.length : query
  const doubled = url.indexOf('//')
  if (url.charCodeAt(end - 1) !== 47 /* / */ && (doubled === -1 || doubled >= end)) return url
  const path = url.slice(0, end)
  const canonical = path.replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1')
  return canonical === path ? url : canonical + (query === -1 ? '' : url.slice(query))
}

// ---------- pagination

export interface PageRequest {
  offset: number
  limit: number
  dateFrom?: Date
  dateTo?: Date
  /** keyset position from our own Link (so deep pages stay fast); offset still counts for callers */
  after?: { updatedAt: string; seq: string; total: number }
}

/** Reads offset/limit/date_from/date_to (and our cursor) from a query; limit is clamped. */
export function pageRequest(query: Record<string, unknown>, maxLimit: number): PageRequest {
  const int = (name: string, fallback: number) => {
    const value = query[name]
    if (value === undefined || value === '') return fallback
    if (typeof value !== 'string' || !/^\d{1,9}$/.test(value)) throw invalidParameters(`${name} must be a non-negative integer`)
    return Number(value)
  }
  const date = (name: string) => {
    const value = query[name]
    if (value === undefined || value === '') return undefined
    if (typeof value !== 'string' || !isRealInstant(value, { offsetRequired: false })) {
      throw invalidParameters(`${name} must be an RFC 3339 date-time`)
    }
    return new Date(/[zZ]|[+-]\d\d:\d\d$/.test(value) ? value : `${value}Z`)
  }
  const limit = Math.min(int('limit', maxLimit), maxLimit)
  let after: PageRequest['after']
  if (typeof query.cursor === 'string') {
    const [updatedAt, seq, total] = Buffer.from(query.cursor, 'base64url').toString('utf8').split('|')
    if (
      !/^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d{1,6})?([+-]\d\d(:?\d\d)?|Z)?$/.test(updatedAt ?? '') ||
      !/^\d+$/.test(seq ?? '') ||
      !/^\d+$/.test(total ?? '')
    ) {
      throw invalidParameters('cursor is not one we issued; follow the Link header as given')
    }
    after = { updatedAt: updatedAt!, seq: seq!, total: Number(total) }
  }
  return { offset: int('offset', 0), limit: limit === 0 ? maxLimit : limit, dateFrom: date('date_from'), dateTo: date('date_to'), after }
}

/** The exact position (PostgreSQL's own text of the change time, and the key's sequence). */
export function encodeCursor(updatedAt: string, seq: string, total: number): string {
  return Buffer.from(`${updatedAt}|${seq}|${total}`, 'utf8').toString('base64url')
}

/** Link to the next page, repeating the filters and the limit. */
export function nextLink(baseUrl: string, page: PageRequest, returned: number, total: number, cursor: string): string | undefined {
  const nextOffset = page.offset + returned
  if (returned === 0 || nextOffset >= total) return undefined
  const params = new URLSearchParams()
  if (page.dateFrom) params.set('date_from', page.dateFrom.toISOString())
  if (page.dateTo) params.set('date_to', page.dateTo.toISOString())
  params.set('offset', String(nextOffset))
  params.set('limit', String(page.limit))
  params.set('cursor', cursor)
  return `<${baseUrl}?${params}>; rel="next"`
}
