// Validates OICP payloads against Hubject's OpenAPI 3.0 description of OICP 2.3, EMP side
// (spec/oicp/2.3/, copied into the repository; see spec/README.md). Test-only utility.
//
// How it works (as test/ocpi-spec.ts): the loader starts at openapi.yaml and follows every
// relative `$ref` to load the whole file tree. Each file under schemas/ is one JSON schema; it is
// added to one Ajv (draft-07, which OpenAPI 3.0 schemas follow) with the file's URL as `$id`, so
// Ajv itself resolves "./SessionID.yaml" between them. Named schemas are those listed in
// schemas/_index.yaml (what openapi.yaml puts under components/schemas).
import { AssertionError } from 'node:assert'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormatsPlugin from 'ajv-formats'
import { normalizeHubjectPattern } from '../src/core/hubject-pattern.ts'
import { filesReferenced, isObject, readSpecYaml, refsIn, type Json, type JsonObject } from './spec-files.ts'

export type OicpValidator = ValidateFunction<unknown>

const SPEC_ROOT = new URL('../spec/oicp/2.3/', import.meta.url)
const ENTRY = new URL('openapi.yaml', SPEC_ROOT).href
const SCHEMAS_DIR = new URL('schemas/', SPEC_ROOT).href
const SCHEMA_INDEX = new URL('_index.yaml', SCHEMAS_DIR).href

// ajv-formats is CommonJS: under NodeNext the default import is typed as module.exports.
const addFormats = addFormatsPlugin.default

// Erratum of Hubject's OICP 2.3 YAML too (`\-`, `\,` escapes): see src/core/hubject-pattern.ts.
export { normalizeHubjectPattern }

/**
 * Adjusts a schema file in memory (the files stay verbatim):
 * - patterns go through normalizeHubjectPattern;
 * - `maximum` / `minimum` on a `type: string` are a Hubject erratum for `maxLength` / `minLength`
 *   (the OICP field tables give these as String(n), e.g. CPOPartnerSessionID String(250)); JSON
 *   Schema ignores `maximum` on a string, which would leave every length limit unchecked.
 * `example` values are data, not schema, and are left alone.
 */
function adjustSchema(node: Json): void {
  if (Array.isArray(node)) {
    for (const item of node) adjustSchema(item)
    return
  }
  if (!isObject(node)) return
  if (typeof node.pattern === 'string') node.pattern = normalizeHubjectPattern(node.pattern)
  if (node.type === 'string') {
    if (typeof node.maximum === 'number') {
      node.maxLength = node.maximum
      delete node.maximum
    }
    if (typeof node.minimum === 'number') {
      node.minLength = node.minimum
      delete node.minimum
    }
  }
  for (const [key, value] of Object.entries(node)) {
    if (key === 'example') continue
    if (key === 'properties' && isObject(value)) {
      for (const property of Object.values(value)) adjustSchema(property)
    } else {
      adjustSchema(value)
    }
  }
}

function newAjv(): Ajv {
  // strict: an unknown keyword or format fails compilation loudly instead of being ignored.
  // strictTypes is off: the spec as published writes `maximum` beside `type: string` (see
  // adjustSchema), and schemasFailingWithoutNormalisation compiles it unadjusted.
  const ajv = new Ajv({ strict: true, strictTypes: false, strictTuples: false, allErrors: true })
  addFormats(ajv)
  ajv.addVocabulary(['example']) // OpenAPI annotation, documentation only
  return ajv
}

const files = new Map<string, Json>() // file URL -> parsed YAML, as in the repository
const refsByFile = new Map<string, string[]>()

function loadFile(fileUrl: string): Json {
  if (files.has(fileUrl)) return files.get(fileUrl)!
  const doc = readSpecYaml(fileUrl, 'OICP')
  files.set(fileUrl, doc)
  const refs = refsIn(doc)
  refsByFile.set(fileUrl, refs)
  for (const file of filesReferenced(refs, fileUrl)) loadFile(file)
  return doc
}

function loadAll(): void {
  if (files.size === 0) loadFile(ENTRY)
}

function isSchemaFile(fileUrl: string): boolean {
  return fileUrl.startsWith(SCHEMAS_DIR) && fileUrl !== SCHEMA_INDEX
}

/** Every schema file reachable from openapi.yaml (including ones not named in the index), as URLs. */
export function oicpSchemaFiles(): string[] {
  loadAll()
  return [...files.keys()].filter(isSchemaFile).sort()
}

/** The named schemas of components/schemas, in index order. */
export function oicpSchemaNames(): string[] {
  loadAll()
  const index = files.get(SCHEMA_INDEX)
  if (!isObject(index)) throw new Error('OICP spec: schemas/_index.yaml is not a mapping')
  return Object.keys(index)
}

function schemaFileOf(name: string): string {
  const index = files.get(SCHEMA_INDEX)
  const entry = isObject(index) ? index[name] : undefined
  if (!isObject(entry) || typeof entry.$ref !== 'string') {
    throw new Error(`OICP 2.3: no schema '${name}'. Known: ${oicpSchemaNames().join(', ')}`)
  }
  return new URL(entry.$ref, SCHEMA_INDEX).href
}

/** `$ref`s in the copied tree whose target file is missing (the layout must be kept for them to resolve). */
export function unresolvedOicpRefs(): string[] {
  loadAll()
  const missing: string[] = []
  for (const [file, refs] of refsByFile) {
    for (const ref of refs) {
      if (ref.startsWith('#')) continue
      const target = new URL(ref, file)
      target.hash = ''
      if (files.get(target.href) === undefined) missing.push(`${ref} in ${file}`)
    }
  }
  return missing
}

function registerSchemas(ajv: Ajv, adjust: boolean): Ajv {
  for (const file of oicpSchemaFiles()) {
    const doc = structuredClone(files.get(file)!)
    if (!isObject(doc)) throw new Error(`OICP spec: schema file is not a mapping: ${file}`)
    if (adjust) adjustSchema(doc)
    doc.$id = file
    ajv.addSchema(doc)
  }
  return ajv
}

let ajv: Ajv | undefined
const validators = new Map<string, OicpValidator>()

/** Validator for a named schema (e.g. 'eRoamingAuthorizeStart'); throws on an unknown name or a schema that does not compile. */
export function validatorFor(name: string): OicpValidator {
  const cached = validators.get(name)
  if (cached) return cached
  loadAll()
  const file = schemaFileOf(name)
  ajv ??= registerSchemas(newAjv(), true)
  const validate = ajv.compile({ $ref: file })
  validators.set(name, validate)
  return validate
}

/** Validator for a schema file given relative to schemas/ (for the few files the index does not name). */
export function validatorForFile(relative: string): OicpValidator {
  loadAll()
  const file = new URL(relative, SCHEMAS_DIR).href
  if (!isSchemaFile(file) || !files.has(file)) throw new Error(`OICP 2.3: no schema file '${relative}'`)
  ajv ??= registerSchemas(newAjv(), true)
  return ajv.compile({ $ref: file })
}

/**
 * Names of the schemas that do not compile when the spec is taken exactly as published (no pattern
 * normalisation, no maxLength reading). Shows the trap normalizeHubjectPattern removes.
 */
export function schemasFailingWithoutNormalisation(): string[] {
  loadAll()
  const raw = registerSchemas(newAjv(), false)
  const failing: string[] = []
  for (const name of oicpSchemaNames()) {
    try {
      raw.compile({ $ref: schemaFileOf(name) })
    } catch {
      failing.push(name)
    }
  }
  return failing
}

/** The example a schema file carries at its top level (`example:`), if any. */
export function exampleOf(name: string): unknown {
  loadAll()
  const doc = files.get(schemaFileOf(name))
  return isObject(doc) && doc.example !== undefined ? structuredClone(doc.example) : undefined
}

/**
 * A copy of the payload without object members whose value is null. Real Hubject traffic sends
 * explicit nulls for absent optional fields, which these schemas do not allow: be tolerant on input
 * by dropping them before validation. Nulls inside arrays are kept (they are never meaningful).
 */
export function withoutNulls<T>(payload: T): T {
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip)
    if (typeof node === 'object' && node !== null) {
      const out: Record<string, unknown> = {}
      for (const [key, value] of Object.entries(node)) if (value !== null) out[key] = strip(value)
      return out
    }
    return node
  }
  return strip(payload) as T
}

function describeError(e: ErrorObject): string {
  const where = e.instancePath === '' ? '(root)' : e.instancePath
  let detail = ''
  if (e.keyword === 'required') detail = `: '${(e.params as { missingProperty: string }).missingProperty}'`
  if (e.keyword === 'enum') detail = `: ${JSON.stringify((e.params as { allowedValues: unknown }).allowedValues)}`
  return `${where} ${e.message ?? e.keyword}${detail}`
}

/** Schema violations of the payload, one line each (instancePath + message); empty when valid. */
export function oicpErrors(validate: OicpValidator, payload: unknown): string[] {
  if (validate(payload)) return []
  return [...new Set((validate.errors ?? []).map(describeError))]
}

/** Throws an AssertionError listing every schema violation when the payload is invalid. */
export function assertValidOicp(validate: OicpValidator, payload: unknown, label?: string): void {
  const lines = oicpErrors(validate, payload)
  if (lines.length === 0) return
  throw new AssertionError({
    message: `${label ?? 'payload'} does not match the OICP 2.3 spec:\n  ${lines.join('\n  ')}`,
    actual: payload,
    operator: 'assertValidOicp',
    stackStartFn: assertValidOicp,
  })
}
