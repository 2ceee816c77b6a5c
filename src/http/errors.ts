import { Type } from '@sinclair/typebox'
import type { FastifyError } from 'fastify'
import { HTTP_STATUS, isDatabaseUnavailable, OpenpncError, type ErrorKind } from '../errors.ts'

/** Every error of the REST APIs: `{"error": {"code", "message"}}`. */
export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'machine-readable, snake_case', examples: ['invalid_pcid'] }),
      message: Type.String({ description: 'what was wrong, naming the field' }),
      requestId: Type.Optional(Type.String({ description: 'on internal errors: quote it to support' })),
      expected: Type.Optional(Type.String({ description: 'check_digit_mismatch: the correct check character' })),
    }),
  },
  { title: 'Error' },
)

/** Fastify's own request errors, by code. */
const FASTIFY_ERRORS: Record<string, { kind: ErrorKind; code: string; message?: string }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { kind: 'invalid', code: 'malformed_json', message: 'the request body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { kind: 'invalid', code: 'malformed_json', message: 'the request body is empty but declared as JSON' },
  FST_ERR_CTP_BODY_TOO_LARGE: { kind: 'payload_too_large', code: 'payload_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    kind: 'unsupported_media_type',
    code: 'unsupported_media_type',
    message: 'send the body as application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { kind: 'invalid', code: 'invalid_content_length' },
}

interface AjvError {
  instancePath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
  parentSchema?: Record<string, unknown>
}

/** `/validTo` in the body -> `validTo`; `/filters/0` -> `filters[0]`. */
function fieldName(context: string | undefined, error: AjvError): string {
  const segments = error.instancePath.split('/').slice(1)
  if (error.keyword === 'required') segments.push(String(error.params.missingProperty))
  if (error.keyword === 'additionalProperties') segments.push(String(error.params.additionalProperty))
  const path = segments.reduce((acc, s) => (/^\d+$/.test(s) ? `${acc}[${s}]` : acc ? `${acc}.${s}` : s), '')
  const where =
    context === 'body'
      ? ''
      : context === 'querystring'
        ? 'query parameter '
        : context === 'params'
          ? 'path parameter '
          : `${context ?? ''} `
  return `${where}${path || context || 'request'}`
}

function describeValidation(error: FastifyError): { code: string; message: string } {
  const first = (error.validation as unknown as AjvError[])[0]!
  const field = fieldName(error.validationContext, first)
  // A schema may name its own error code and message (x-error-code / x-error-message).
  const code = (first.parentSchema?.['x-error-code'] as string | undefined) ?? 'validation_error'
  const custom = first.parentSchema?.['x-error-message'] as string | undefined
  if (first.keyword === 'required') return { code: 'validation_error', message: `${field} is required` }
  if (custom) return { code, message: `${field} ${custom}` }
  return { code, message: `${field} ${first.message ?? 'is invalid'}` }
}

/** Any thrown thing -> status and envelope. Internal errors say only the request ID. */
export function toHttpError(error: unknown, requestId: string): { status: number; body: { error: Record<string, string> } } {
  if (error instanceof OpenpncError) {
    const body: Record<string, string> = { code: error.code, message: error.message }
    if (typeof error.details?.expected === 'string') body.expected = error.details.expected
    return { status: HTTP_STATUS[error.kind], body: { error: body } }
  }
  const fastifyError = error as FastifyError
  if (fastifyError?.validation) {
    return { status: 400, body: { error: describeValidation(fastifyError) } }
  }
  const known = fastifyError?.code ? FASTIFY_ERRORS[fastifyError.code] : undefined
  if (known) {
    return { status: HTTP_STATUS[known.kind], body: { error: { code: known.code, message: known.message ?? fastifyError.message } } }
  }
  if (isDatabaseUnavailable(error)) {
    return { status: 503, body: { error: { code: 'database_unavailable', message: 'the database is unavailable; retry shortly' } } }
  }
  const status = fastifyError?.statusCode
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, body: { error: { code: 'bad_request', message: fastifyError.message } } }
  }
  return {
    status: 500,
    body: { error: { code: 'internal_error', message: `internal error; request ID ${requestId}`, requestId } },
  }
}
