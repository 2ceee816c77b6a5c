/**
 * The one error type of the platform. Domain code says *what* went wrong (a kind and a
 * machine-readable code); each protocol adapter maps the kind to its own wire form.
 */
export type ErrorKind =
  | 'invalid' // the request is malformed or breaks a rule; names the field
  | 'unauthenticated'
  | 'forbidden'
  | 'not_found'
  | 'conflict'
  | 'method_not_allowed'
  | 'payload_too_large'
  | 'unsupported_media_type'
  | 'unprocessable'
  | 'bad_gateway' // a partner's system failed us
  | 'unavailable' // a dependency (the database) is away for now: retry
  | 'internal'

/** The HTTP status of each kind, for every HTTP-based adapter. */
export const HTTP_STATUS: Record<ErrorKind, number> = {
  invalid: 400,
  unauthenticated: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  conflict: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  unprocessable: 422,
  internal: 500,
  bad_gateway: 502,
  unavailable: 503,
}

export class OpenpncError extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly code: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message)
    this.name = 'OpenpncError'
  }
}

/** Input that breaks a rule of one field, naming both; readers of wire formats throw its kinds. */
export class FieldRuleError extends Error {
  constructor(
    readonly field: string,
    readonly rule: string,
  ) {
    super(`${field}: ${rule}`)
    this.name = new.target.name
  }
}

export const invalid = (code: string, message: string, details?: Record<string, unknown>) =>
  new OpenpncError('invalid', code, message, details)
export const notFound = (code: string, message: string) => new OpenpncError('not_found', code, message)
export const conflict = (code: string, message: string) => new OpenpncError('conflict', code, message)

/** PostgreSQL error codes we turn into answers. */
export const PG = {
  uniqueViolation: '23505',
  exclusionViolation: '23P01',
  foreignKeyViolation: '23503',
  checkViolation: '23514',
  invalidTextRepresentation: '22P02',
} as const

export function pgErrorCode(error: unknown): string | undefined {
  const code = (error as { code?: unknown })?.code
  return typeof code === 'string' ? code : undefined
}

/**
 * The data, not the database, is at fault (SQLSTATE classes 22 and 23: a value or a constraint):
 * the same statement would fail the same way for ever, so retrying it cannot help.
 */
export function isPgDataError(error: unknown): boolean {
  const code = pgErrorCode(error)
  return code !== undefined && /^2[23][0-9A-Z]{3}$/.test(code)
}

export function pgConstraint(error: unknown): string | undefined {
  const e = error as { constraint?: unknown; message?: unknown }
  if (typeof e?.constraint === 'string') return e.constraint
  // PGlite does not always fill `constraint`; the message names it.
  const match = typeof e?.message === 'string' ? /constraint "([^"]+)"/.exec(e.message) : null
  return match?.[1]
}

/** Raised when no database connection could be had (the server is down, restarting, refusing). */
export class DatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`database unavailable: ${(cause as Error)?.message ?? String(cause)}`, { cause })
    this.name = 'DatabaseUnavailableError'
  }
}

// SQLSTATEs of a lost or refused connection: class 08, and the server shutting down, crashing,
// starting up or terminating the backend (a restart, a failover, pg_terminate_backend).
const CONNECTION_SQLSTATES = /^(08...|57P0[1-4])$/
// Node's network errors and pg's messages for a connection that died under a query.
const CONNECTION_ERRNOS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
])
const CONNECTION_MESSAGES = /^(Connection terminated|Client has encountered a connection error|Client was closed and is not queryable)/

/**
 * True when the error says the database cannot be reached right now, not that the request was
 * wrong: the answer is a 503 (the caller retries), not a 500, and the platform carries on.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (error instanceof DatabaseUnavailableError) return true
  const code = pgErrorCode(error)
  if (code && (CONNECTION_SQLSTATES.test(code) || CONNECTION_ERRNOS.has(code))) return true
  const message = (error as { message?: unknown })?.message
  return typeof message === 'string' && CONNECTION_MESSAGES.test(message)
}
