// Validates OCPI payloads against the EV Roaming Foundation's OpenAPI 3.1 description of OCPI
// (spec/ocpi/, copied into the repository; see spec/README.md). Test-only utility.
//
// How it works: every spec YAML file is added to one Ajv (draft 2020-12) instance as a schema whose
// $id is the file's URL, so Ajv itself resolves the relative cross-file `$ref`s
// ("../../components/schema.yaml#/components/schemas/OCPIResponse") and JSON pointers into
// `paths`/`components`. Loading is synchronous so validators can be built inline in tests.
import { AssertionError } from 'node:assert'
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js'
import addFormatsPlugin from 'ajv-formats'
import { filesReferenced, isObject, readSpecYaml, refsIn, type Json, type JsonObject } from './spec-files.ts'

export type OcpiVersion = '2.2.1' | '2.3.0'
export type OcpiInterfaceFile = 'sender-interface' | 'receiver-interface' | 'interface'
export type OcpiValidator = ValidateFunction<unknown>

const SPECS_ROOT = new URL('../spec/ocpi/', import.meta.url)

// ajv-formats is CommonJS: under NodeNext the default import is typed as module.exports, whose
// `.default` is the plugin (at runtime both are the same function).
const addFormats = addFormatsPlugin.default

/**
 * OCPI "DateTime" (types section of OCPI 2.2.1 and 2.3.0): RFC 3339, string(25), always UTC, and
 * "the absence of the timezone designator implies a UTC timestamp"; fractional seconds allowed.
 * The YAML only says `format: date-time`, so plain RFC 3339 would wrongly reject
 * "2015-06-29T20:39:09" and wrongly accept "2015-06-29T22:39:09+02:00".
 */
const OCPI_DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|\+00:00)?$/

export function isOcpiDateTime(value: string): boolean {
  if (value.length > 25) return false
  const m = OCPI_DATE_TIME.exec(value)
  if (!m) return false
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number]
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate()
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth) return false
  if (hour > 23 || minute > 59) return false
  // RFC 3339 leap second: only valid as 23:59:60 UTC.
  return second <= 59 || (second === 60 && hour === 23 && minute === 59)
}

// strict: an unknown keyword or format in a future spec revision fails compilation loudly
// instead of being silently ignored. strictTypes is off because OpenAPI `allOf` branches such as
// `{properties: {data: ...}}` legitimately omit `type`.
const ajv = new Ajv2020({ strict: true, strictTypes: false, strictTuples: false, allErrors: true })
addFormats(ajv)
ajv.addFormat('date-time', isOcpiDateTime) // replaces ajv-formats' RFC 3339 date-time
// OCPI enum markers. The `enum` keyword does the checking for closed enums; open enums have their
// `enum` removed at load time (see dropOpenEnumLists), so both formats accept any string here.
ajv.addFormat('enum', true)
ajv.addFormat('open-enum', true)
// OpenAPI annotations Ajv does not know; they carry documentation only.
ajv.addVocabulary(['example', 'x-enumDescriptions', 'discriminator', 'xml', 'externalDocs'])
// Each whole OpenAPI document is registered as a schema (so `$ref`s can point into it), and Ajv
// compiles a referenced document's root before following a pointer; its top-level OpenAPI fields
// must therefore be known keywords. The root validator they produce accepts anything.
ajv.addVocabulary(['openapi', 'info', 'jsonSchemaDialect', 'servers', 'paths', 'webhooks', 'components', 'security', 'tags'])

const docs = new Map<string, JsonObject>() // file URL -> parsed (and adjusted) YAML
const validators = new Map<string, OcpiValidator>()

/**
 * An OCPI OpenEnum ("format: open-enum") lists known values but a receiver must accept any string:
 * new values may appear without a version bump. The YAML still carries `enum`, which JSON Schema
 * would enforce as closed, so it is removed; `type: string` stays enforced.
 */
function dropOpenEnumLists(node: Json): void {
  if (Array.isArray(node)) {
    for (const item of node) dropOpenEnumLists(item)
  } else if (isObject(node)) {
    if (node.format === 'open-enum' && Array.isArray(node.enum)) delete node.enum
    for (const value of Object.values(node)) dropOpenEnumLists(value)
  }
}

/** Loads a spec file and, transitively, every file its `$ref`s point to (Ajv resolves refs only among added schemas). */
function loadDoc(fileUrl: string): JsonObject {
  const cached = docs.get(fileUrl)
  if (cached) return cached
  const doc = readSpecYaml(fileUrl, 'OCPI')
  if (!isObject(doc)) throw new Error(`OCPI spec file is not a YAML mapping: ${fileUrl}`)
  dropOpenEnumLists(doc)
  doc.$id = fileUrl
  docs.set(fileUrl, doc)
  ajv.addSchema(doc)
  for (const file of filesReferenced(refsIn(doc), fileUrl)) loadDoc(file)
  return doc
}

function escapePointerToken(token: string): string {
  return token.replaceAll('~', '~0').replaceAll('/', '~1')
}

/** A `$ref` that Ajv accepts: each JSON pointer token escaped, then URI-encoded (paths contain `{}`). */
function refTo(fileUrl: string, tokens: readonly string[]): string {
  return `${fileUrl}#/${tokens.map((t) => encodeURIComponent(escapePointerToken(t))).join('/')}`
}

function specFile(version: OcpiVersion, relative: string): string {
  return new URL(`${version}/${relative}`, SPECS_ROOT).href
}

function compileRef(cacheKey: string, ref: string): OcpiValidator {
  let validate = validators.get(cacheKey)
  if (!validate) {
    validate = ajv.compile({ $ref: ref })
    validators.set(cacheKey, validate)
  }
  return validate
}

/**
 * Validator for a named schema in `components/schemas`: `modules/<module>/schema.yaml`, or
 * `components/schema.yaml` when module is 'components'.
 */
export function ocpiSchema(version: OcpiVersion, module: string, name: string): OcpiValidator {
  const cacheKey = `schema ${version} ${module} ${name}`
  const cached = validators.get(cacheKey)
  if (cached) return cached
  const file = specFile(version, module === 'components' ? 'components/schema.yaml' : `modules/${module}/schema.yaml`)
  const doc = loadDoc(file)
  const schemas = isObject(doc.components) && isObject(doc.components.schemas) ? doc.components.schemas : {}
  if (!(name in schemas)) {
    throw new Error(`OCPI ${version} ${module}: no schema '${name}'. Known: ${Object.keys(schemas).join(', ')}`)
  }
  return compileRef(cacheKey, refTo(file, ['components', 'schemas', name]))
}

interface Located {
  file: string
  tokens: string[]
  node: JsonObject
}

function nodeAt(file: string, tokens: readonly string[]): Json | undefined {
  let node: Json | undefined = loadDoc(file)
  for (const token of tokens) node = isObject(node) ? node[token] : undefined
  return node
}

/** Follows OpenAPI Reference Objects (e.g. a response that is `$ref: .../components/responses/X`) to the real object. */
function followReference(start: Located): Located {
  let current = start
  for (let hops = 0; typeof current.node.$ref === 'string'; hops++) {
    if (hops > 20) throw new Error(`OCPI spec: $ref loop at ${refTo(start.file, start.tokens)}`)
    const target = new URL(current.node.$ref, current.file)
    const pointer = decodeURIComponent(target.hash.replace(/^#/, ''))
    target.hash = ''
    const tokens =
      pointer === ''
        ? []
        : pointer
            .slice(1)
            .split('/')
            .map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~'))
    const node = nodeAt(target.href, tokens)
    if (!isObject(node)) throw new Error(`OCPI spec: unresolvable $ref ${current.node.$ref} in ${current.file}`)
    current = { file: target.href, tokens, node }
  }
  return current
}

function operation(version: OcpiVersion, module: string, interfaceFile: OcpiInterfaceFile, path: string, method: string): Located {
  const file = specFile(version, `modules/${module}/${interfaceFile}.yaml`)
  const doc = loadDoc(file)
  const paths = isObject(doc.paths) ? doc.paths : {}
  const pathItem = paths[path]
  if (!isObject(pathItem)) {
    throw new Error(`OCPI ${version} ${module}/${interfaceFile}: no path '${path}'. Known: ${Object.keys(paths).join(', ')}`)
  }
  const verb = method.toLowerCase()
  const op = pathItem[verb]
  if (!isObject(op)) {
    const known = Object.keys(pathItem).filter((k) => ['get', 'put', 'post', 'patch', 'delete', 'head', 'options', 'trace'].includes(k))
    throw new Error(`OCPI ${version} ${module}/${interfaceFile} ${path}: no '${verb}' operation. Known: ${known.join(', ')}`)
  }
  return { file, tokens: ['paths', path, verb], node: op }
}

/** The `application/json` schema of a Request Body or Response Object, as a `$ref` Ajv can compile. */
function jsonBodyRef(target: Located, what: string): string {
  const content = target.node.content
  if (!isObject(content) || !isObject(content['application/json']) || !isObject(content['application/json'].schema)) {
    throw new Error(`OCPI spec: ${what} documents no application/json body`)
  }
  return refTo(target.file, [...target.tokens, 'content', 'application/json', 'schema'])
}

/** Validator for the JSON body of an operation's documented response with this HTTP status. */
export function ocpiResponseValidator(
  version: OcpiVersion,
  module: string,
  interfaceFile: OcpiInterfaceFile,
  path: string,
  method: string,
  status: number,
): OcpiValidator {
  const cacheKey = `response ${version} ${module} ${interfaceFile} ${path} ${method.toLowerCase()} ${status}`
  const cached = validators.get(cacheKey)
  if (cached) return cached
  const op = operation(version, module, interfaceFile, path, method)
  const responses = op.node.responses
  if (!isObject(responses)) throw new Error(`OCPI ${version} ${path} ${method}: no responses documented`)
  // OpenAPI lookup order: exact code, then range ("4XX"), then "default".
  const key = [String(status), `${Math.floor(status / 100)}XX`, 'default'].find((k) => isObject(responses[k]))
  const what = `OCPI ${version} ${module}/${interfaceFile} ${method.toUpperCase()} ${path} response ${status}`
  if (key === undefined) throw new Error(`${what}: not documented. Documented: ${Object.keys(responses).join(', ')}`)
  const response = followReference({ file: op.file, tokens: [...op.tokens, 'responses', key], node: responses[key] as JsonObject })
  return compileRef(cacheKey, jsonBodyRef(response, what))
}

/** Validator for the JSON request body of an operation; throws if the spec documents none. */
export function ocpiRequestValidator(
  version: OcpiVersion,
  module: string,
  interfaceFile: OcpiInterfaceFile,
  path: string,
  method: string,
): OcpiValidator {
  const cacheKey = `request ${version} ${module} ${interfaceFile} ${path} ${method.toLowerCase()}`
  const cached = validators.get(cacheKey)
  if (cached) return cached
  const op = operation(version, module, interfaceFile, path, method)
  const what = `OCPI ${version} ${module}/${interfaceFile} ${method.toUpperCase()} ${path} request body`
  if (!isObject(op.node.requestBody)) throw new Error(`${what}: not documented`)
  const body = followReference({ file: op.file, tokens: [...op.tokens, 'requestBody'], node: op.node.requestBody })
  return compileRef(cacheKey, jsonBodyRef(body, what))
}

function describeError(e: ErrorObject): string {
  const where = e.instancePath === '' ? '(root)' : e.instancePath
  let detail = ''
  if (e.keyword === 'enum') detail = `: ${JSON.stringify((e.params as { allowedValues: unknown }).allowedValues)}`
  if (e.keyword === 'additionalProperties') detail = `: '${(e.params as { additionalProperty: string }).additionalProperty}'`
  return `  ${where} ${e.message ?? e.keyword}${detail}`
}

/** Throws an AssertionError listing every schema violation (instancePath + message) when the payload is invalid. */
export function assertValidOcpi(validate: OcpiValidator, payload: unknown, label?: string): void {
  if (validate(payload)) return
  const errors = validate.errors ?? []
  // allOf branches can report the same failure twice.
  const lines = [...new Set(errors.map(describeError))]
  throw new AssertionError({
    message: `${label ?? 'payload'} does not match the OCPI spec:\n${lines.join('\n')}`,
    actual: payload,
    operator: 'assertValidOcpi',
    stackStartFn: assertValidOcpi,
  })
}
