import { Ajv, type Options as AjvOptions } from 'ajv'
import addFormats from 'ajv-formats'
import type { FastifyServerOptions } from 'fastify'
import { isRealInstant } from '../../core/date-time.ts'

const KEYWORDS = ['x-error-code', 'x-error-message']

/**
 * An Ajv for one part of a request. Bodies are JSON and must arrive as the schema types them:
 * no coercion (`"false"` is not false, `12345678901234567` is not a PCID). Query strings and path
 * parameters are text, so numbers and booleans in them are converted. Unknown fields are never
 * removed silently (the schemas refuse them), and every broken rule is reported, not the first.
 */
function buildAjv(coerce: boolean): Ajv {
  const options: AjvOptions = {
    coerceTypes: coerce ? 'array' : false,
    useDefaults: true,
    removeAdditional: false,
    allErrors: true,
    verbose: true,
    addUsedSchema: false,
    keywords: KEYWORDS,
  }
  const ajv = new Ajv(options)
  addFormats.default(ajv)
  // Ajv's date-time takes a leap second; `Date` and PostgreSQL do not (nor year 0000).
  ajv.addFormat('date-time', { type: 'string', validate: (text: string) => isRealInstant(text) })
  return ajv
}

const ajvPool = new Map<string, { body: Ajv; text: Ajv }>()

/** The schema controller of our server: one validator per request part, as described above. */
export const schemaController = {
  compilersFactory: {
    buildValidator: ((externalSchemas: Record<string, unknown>) => {
      // Every plugin asks for its validators; the same shared schemas share the same two Ajvs.
      const key = JSON.stringify(externalSchemas ?? {})
      let pair = ajvPool.get(key)
      if (!pair) {
        pair = { body: buildAjv(false), text: buildAjv(true) }
        for (const schema of Object.values(externalSchemas ?? {})) {
          pair.body.addSchema(schema as object)
          pair.text.addSchema(schema as object)
        }
        ajvPool.set(key, pair)
      }
      const { body, text } = pair
      return ({ schema, httpPart }: { schema: object; httpPart?: string }) => (httpPart === 'body' ? body : text).compile(schema)
    }) as unknown as NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator'],
  },
}

type Schema = Record<string | symbol, unknown>

/**
 * The schema with `additionalProperties: false` on every object that names its properties and
 * says nothing about others: a default, so an unknown field is an error without every schema
 * repeating it. An explicit `additionalProperties` (geosearch filters, checked by hand) stays.
 */
export function closedObjects<T>(schema: T): T {
  if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) return schema
  const s = schema as Schema
  const copy: Schema = { ...s }
  if (s.properties && typeof s.properties === 'object') {
    copy.properties = Object.fromEntries(Object.entries(s.properties as Schema).map(([k, v]) => [k, closedObjects(v)]))
    if (s.type === 'object' && s.additionalProperties === undefined) copy.additionalProperties = false
  }
  if (s.items) copy.items = Array.isArray(s.items) ? s.items.map(closedObjects) : closedObjects(s.items)
  for (const key of ['anyOf', 'oneOf', 'allOf'] as const) {
    if (Array.isArray(s[key])) copy[key] = (s[key] as unknown[]).map(closedObjects)
  }
  return copy as T
}
