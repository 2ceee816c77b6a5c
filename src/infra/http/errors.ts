import { Type } from '@sinclair/typebox'
import type { FastifyError } from 'fastify'
import { HTTP_STATUS, isDatabaseUnavailable, OpenpncError, type ErrorKind } from '../../core/errors.ts'
import { closestName } from './edit-distance.ts'
import { fieldPath } from './json-body.ts'

/** One thing wrong with a request: which field, which rule, and what to send instead. */
export const FieldError = Type.Object(
  {
    field: Type.String({ description: 'the field, e.g. `validTo`, `filters.power`, `roles[0].party_id`; empty: the whole part' }),
    in: Type.Union([Type.Literal('body'), Type.Literal('query'), Type.Literal('path'), Type.Literal('header')]),
    code: Type.String({ description: 'machine-readable, e.g. `validation_error`, `unknown_field`, `invalid_pcid`' }),
    rule: Type.String({ description: 'the rule broken: `type`, `required`, `unknown_field`, `pattern`, `format`, `enum`, ...' }),
    message: Type.String(),
  },
  { title: 'FieldError' },
)
export type FieldErrorInfo = {
  field: string
  in: 'body' | 'query' | 'path' | 'header'
  code: string
  rule: string
  message: string
}

/**
 * Every error of the REST APIs: `{"error": {"code", "message"}}`. A request that breaks its
 * schema is answered with every broken rule at once in `errors`; `code` and `message` are the first's.
 */
export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'machine-readable, snake_case', examples: ['invalid_pcid'] }),
      message: Type.String({ description: 'what was wrong, naming the field' }),
      errors: Type.Optional(
        Type.Array(FieldError, { description: 'validation: every field error of the request, the first as code/message' }),
      ),
      requestId: Type.Optional(Type.String({ description: 'on internal errors: quote it to support' })),
      expected: Type.Optional(Type.String({ description: 'check_digit_mismatch: the correct check character' })),
    }),
  },
  { title: 'Error' },
)

export type ErrorBody = { error: { code: string; message: string; errors?: FieldErrorInfo[]; requestId?: string; expected?: string } }

/** Fastify's own request errors, by code. */
const FASTIFY_ERRORS: Record<string, { kind: ErrorKind; code: string; message?: string; status?: number }> = {
  FST_ERR_CTP_INVALID_JSON_BODY: { kind: 'invalid', code: 'malformed_json', message: 'the request body is not valid JSON' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { kind: 'invalid', code: 'malformed_json', message: 'the request body is empty but declared as JSON' },
  FST_ERR_CTP_BODY_TOO_LARGE: { kind: 'payload_too_large', code: 'payload_too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    kind: 'unsupported_media_type',
    code: 'unsupported_media_type',
    message: 'send the body as application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { kind: 'invalid', code: 'invalid_content_length' },
  FST_ERR_BAD_URL: { kind: 'invalid', code: 'malformed_url', message: 'the URL is not valid (a bad percent-encoding?)' },
  FST_ERR_MAX_PARAM_LENGTH: {
    kind: 'invalid',
    status: 414,
    code: 'path_parameter_too_long',
    message: 'a path parameter is longer than any ID we use',
  },
}

interface AjvError {
  instancePath: string
  schemaPath: string
  keyword: string
  message?: string
  params: Record<string, unknown>
  parentSchema?: Record<string, unknown>
  data?: unknown
}

const PARTS: Record<string, FieldErrorInfo['in']> = { body: 'body', querystring: 'query', params: 'path', headers: 'header' }
const LABELS: Record<FieldErrorInfo['in'], string> = { body: '', query: 'query parameter ', path: 'path parameter ', header: 'header ' }

/** The JSON type of a value, as the messages name it. */
const jsonType = (value: unknown) =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : Number.isInteger(value) ? 'integer' : typeof value

/** `{type: 'string', format: 'email'}` -> `a string (email)`; `{const: 'allow'}` -> `"allow"`. */
function describeSchema(schema: Record<string, unknown>): string {
  if ('const' in schema) return JSON.stringify(schema.const)
  const type = schema.type === 'null' ? 'null' : `${schema.type ?? 'value'}`
  return typeof schema.format === 'string' ? `${type} (${schema.format})` : type
}

/** Does this branch of an anyOf take values of this JSON type? */
function branchTakes(branch: Record<string, unknown>, type: string): boolean {
  const declared = Array.isArray(branch.type) ? branch.type : [branch.type]
  return declared.includes(type) || (type === 'integer' && declared.includes('number'))
}

/**
 * Ajv's errors, one per broken rule and field. An `anyOf` (a TypeBox union) whose value has the
 * type of exactly one alternative reports that alternative's errors (`email` must be an email,
 * not "must match a schema in anyOf"); otherwise it lists the alternatives.
 */
function relevantErrors(errors: AjvError[]): AjvError[] {
  let kept = errors
  for (const anyOf of errors.filter((e) => e.keyword === 'anyOf')) {
    const branches = (anyOf.parentSchema?.anyOf ?? []) as Array<Record<string, unknown>>
    const type = jsonType(anyOf.data)
    const taking = branches.map((b, i) => ({ b, i })).filter(({ b }) => branchTakes(b, type) && !('const' in b))
    const inside = (e: AjvError) => e.schemaPath.startsWith(`${anyOf.schemaPath}/`)
    if (taking.length === 1 && branches.every((b) => !('const' in b))) {
      const only = `${anyOf.schemaPath}/${taking[0]!.i}/`
      kept = kept.filter((e) => e !== anyOf && (!inside(e) || e.schemaPath.startsWith(only)))
    } else kept = kept.filter((e) => !inside(e))
  }
  return kept
}

function describeError(part: FieldErrorInfo['in'], error: AjvError): FieldErrorInfo {
  const segments: Array<string | number> = error.instancePath
    .split('/')
    .slice(1)
    .map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'))
    .map((s) => (/^\d+$/.test(s) ? Number(s) : s))
  const parent = error.parentSchema ?? {}
  let rule = error.keyword
  let code = (parent['x-error-code'] as string | undefined) ?? 'validation_error'
  let rest: string
  if (error.keyword === 'required') {
    segments.push(String(error.params.missingProperty))
    code = 'validation_error'
    rest = 'is required'
  } else if (error.keyword === 'additionalProperties') {
    const unknown = String(error.params.additionalProperty)
    segments.push(unknown)
    rule = code = 'unknown_field'
    const known = Object.keys((parent.properties as Record<string, unknown> | undefined) ?? {})
    const guess = closestName(unknown, known)
    rest = guess
      ? `is not a known field; did you mean "${guess}"?`
      : `is not a known field${known.length > 0 ? ` (known: ${known.join(', ')})` : ''}`
  } else if (error.keyword === 'type') {
    rest = `must be ${describeSchema(parent)}, got ${jsonType(error.data)}`
  } else if (error.keyword === 'anyOf') {
    const branches = (parent.anyOf ?? []) as Array<Record<string, unknown>>
    rest = `must be ${branches.every((b) => 'const' in b) ? 'one of ' : ''}${branches.map(describeSchema).join(' or ')}, got ${
      typeof error.data === 'string' ? JSON.stringify(error.data.slice(0, 64)) : jsonType(error.data)
    }`
  } else if (typeof parent['x-error-message'] === 'string') {
    rest = parent['x-error-message']
  } else if (error.keyword === 'format' && error.params.format === 'date-time') {
    rest = 'must be an RFC 3339 date-time of a real instant, e.g. 2030-01-01T00:00:00Z (no leap second, year 0001-9999)'
  } else {
    rest = error.message ?? 'is invalid'
  }
  const field = fieldPath(segments)
  const message = `${field ? `${LABELS[part]}${field}` : part === 'body' ? 'the request body' : `the ${part}`} ${rest}`
  return { field, in: part, code, rule, message }
}

/** Every field error of one failed part of a request (Fastify validates params, body, query, headers in turn). */
export function fieldErrors(error: FastifyError): FieldErrorInfo[] {
  const part = PARTS[error.validationContext ?? 'body'] ?? 'body'
  const described = relevantErrors(error.validation as unknown as AjvError[]).map((e) => describeError(part, e))
  const seen = new Set<string>()
  return described.filter((e) => !seen.has(`${e.field}\n${e.message}`) && seen.add(`${e.field}\n${e.message}`))
}

/** Any thrown thing -> status and envelope. Internal errors say only the request ID. */
export function toHttpError(error: unknown, requestId: string): { status: number; body: ErrorBody } {
  if (error instanceof OpenpncError) {
    const body: ErrorBody['error'] = { code: error.code, message: error.message }
    if (typeof error.details?.expected === 'string') body.expected = error.details.expected
    if (error.kind === 'invalid' && typeof error.details?.field === 'string') {
      body.errors = [{ field: error.details.field, in: 'body', code: error.code, rule: error.code, message: error.message }]
    }
    return { status: HTTP_STATUS[error.kind], body: { error: body } }
  }
  const fastifyError = error as FastifyError
  if (fastifyError?.validation) {
    const errors = fieldErrors(fastifyError)
    const first = errors[0] ?? { code: 'validation_error', message: 'the request is invalid' }
    return { status: 400, body: { error: { code: first.code, message: first.message, errors } } }
  }
  const known = fastifyError?.code ? FASTIFY_ERRORS[fastifyError.code] : undefined
  if (known) {
    return {
      status: known.status ?? HTTP_STATUS[known.kind],
      body: { error: { code: known.code, message: known.message ?? fastifyError.message } },
    }
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
