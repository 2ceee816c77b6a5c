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

export function pgConstraint(error: unknown): string | undefined {
  const e = error as { constraint?: unknown; message?: unknown }
  if (typeof e?.constraint === 'string') return e.constraint
  // PGlite does not always fill `constraint`; the message names it.
  const match = typeof e?.message === 'string' ? /constraint "([^"]+)"/.exec(e.message) : null
  return match?.[1]
}
