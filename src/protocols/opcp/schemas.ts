/**
 * Validators for OPCP 1.0.0 payloads, from Hubject's reference (spec/opcp/1.0.0/*.v1.json,
 * OpenAPI 3.0, copied verbatim into the repository; see spec/README.md). The simulator checks what
 * it receives with them, and the tests check what openpnc sends.
 *
 * Each file is registered whole in one Ajv with its file URL as `$id`, so Ajv itself resolves the
 * references between them (`./cps.v1.json#/components/schemas/Error`). The schema-level errata of
 * core/opcp/errata.ts are applied in memory, each where it is cited by ID; the files stay as
 * published.
 */
import { readFileSync } from 'node:fs'
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv'
import addFormatsPlugin from 'ajv-formats'
import { normalizeHubjectPattern } from '../../core/hubject-pattern.ts'
import { MAX_CERTIFICATE_BASE64 } from '../../core/opcp/errata.ts'
import { CALLED, type CalledOperation } from './protocol.ts'

export type OpcpValidator = ValidateFunction<unknown>

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

const SPEC_DIR = new URL('../../../spec/opcp/1.0.0/', import.meta.url)

/** The reference's files, as published. */
export const OPCP_SPEC_FILES = [
  'accessToken.v1.json',
  'ccp.v1.json',
  'cps.v1.json',
  'est.v1.json',
  'pcp.v1.json',
  'rcp.v1.json',
  'webhook.payload.v1.json',
  'webhooks.v1.json',
] as const

/** A SHA-256 fingerprint: 32 bytes in hex, optionally colon-separated. */
export const FINGERPRINT_PATTERN = '^([0-9a-fA-F]{2}:?){31}[0-9a-fA-F]{2}$'
/** The distinguished-name pattern the reference uses elsewhere (RootCertV2, SignedContractDataResponse). */
const DN_PATTERN = '^((CN|OU|O|C|DC|ST)=[^,]+,? ?)+$'

/** The two webhook request bodies of webhook.payload.v1.json, by the kind of event they carry. */
const WEBHOOK_PATHS = {
  root: '/customer.defined.root.event.webhook.path',
  pcidEmaid: '/customer.defined.pcid.emaid.event.webhook.path',
} as const

// ajv-formats is CommonJS: under NodeNext the default import is typed as module.exports.
const addFormats = addFormatsPlugin.default

const isObject = (value: Json | undefined): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value)

const fileUrl = (file: string) => new URL(file, SPEC_DIR).href

const published = new Map<string, JsonObject>()

function readSpec(file: string): JsonObject {
  const cached = published.get(file)
  if (cached) return cached
  if (!(OPCP_SPEC_FILES as readonly string[]).includes(file)) {
    throw new Error(`OPCP 1.0.0: no reference file '${file}'. Known: ${OPCP_SPEC_FILES.join(', ')}`)
  }
  let text: string
  try {
    text = readFileSync(new URL(file, SPEC_DIR), 'utf8')
  } catch (err) {
    throw new Error(`OPCP spec file not found: ${fileUrl(file)}`, { cause: err })
  }
  const doc = JSON.parse(text) as JsonObject
  published.set(file, doc)
  return doc
}

/** Walks every schema-like object of a document, skipping example data (which is not schema). */
function eachNode(node: Json, visit: (node: JsonObject, key: string | undefined) => void, key?: string): void {
  if (Array.isArray(node)) {
    for (const item of node) eachNode(item, visit, key)
    return
  }
  if (!isObject(node)) return
  visit(node, key)
  for (const [childKey, value] of Object.entries(node)) {
    if (childKey === 'example' || childKey === 'examples' || childKey === 'x-examples' || childKey === 'default') continue
    if (childKey === 'properties' && isObject(value)) {
      // A property's name is the key that says what it is (e.g. cpsV2GRootCertificateFingerprint).
      for (const [name, property] of Object.entries(value)) eachNode(property, visit, name)
    } else {
      eachNode(value, visit, childKey)
    }
  }
}

function schemaAt(doc: JsonObject, ...path: string[]): JsonObject {
  let node: Json | undefined = doc
  for (const part of path) node = isObject(node) ? node[part] : undefined
  if (!isObject(node)) throw new Error(`OPCP 1.0.0: the reference has no ${path.join('/')}`)
  return node
}

/** The schema-level errata of core/opcp/errata.ts, applied to a copy of one file. */
function adjust(file: string, doc: JsonObject): void {
  eachNode(doc, (node, key) => {
    // Erratum unicode-pattern-escapes: `\-` outside a class is a syntax error in a Unicode RegExp.
    if (typeof node.pattern === 'string') node.pattern = normalizeHubjectPattern(node.pattern)
    // Erratum certificate-max-length: 800 is the DER limit in bytes, not in base64 characters.
    if (node.type === 'string' && node.maxLength === 800) node.maxLength = MAX_CERTIFICATE_BASE64
    // Erratum fingerprint-patterns: a SHA-256 fingerprint is hex, not a UUID; in ccp's
    // LookupContractResponse the DN and fingerprint patterns are swapped.
    if (key === 'cpsV2GRootCertificateFingerprint' && typeof node.pattern === 'string') node.pattern = FINGERPRINT_PATTERN
    if (key === 'cpsRootCertificateDN' && typeof node.pattern === 'string') node.pattern = DN_PATTERN
    // The same erratum on query parameters (ccp lookupContract and friends).
    if (node.in === 'query' && node.name === 'cpsV2GRootCertificateFingerprint' && isObject(node.schema)) {
      if (typeof node.schema.pattern === 'string') node.schema.pattern = FINGERPRINT_PATTERN
    }
  })
  if (file === 'cps.v1.json') {
    // Erratum contract-data-sub-ca-required: the contract certificate is issued by Sub-CA 2.
    const contractData = schemaAt(doc, 'components', 'schemas', 'ContractData')
    const required = contractData.required as Json[]
    if (!required.includes('contractSubCa2Certificate')) required.push('contractSubCa2Certificate')
  }
  if (file === 'rcp.v1.json') {
    // Erratum root-cert-property-count: exactly one property, yet two required ones.
    const root = schemaAt(doc, 'components', 'schemas', 'RootCertV2')
    delete root.minProperties
    delete root.maxProperties
  }
  if (file === 'webhook.payload.v1.json') {
    const payload = schemaAt(doc, ...webhookBodyPath('pcidEmaid'), 'properties', 'payload', 'properties')
    // Erratum contract-cert-pattern-prose: a sentence and an empty string written as patterns.
    delete schemaAt(payload, 'contractCert').pattern
    delete schemaAt(payload, 'cpsSignerRootFingerprint').pattern
    // Erratum factory-reset-event-name: webhooks.v1.json subscribes to the other name of the event.
    const eventType = schemaAt(doc, ...webhookBodyPath('pcidEmaid'), 'properties', 'eventType')
    const names = eventType.enum as Json[]
    if (!names.includes('mo.prov.cert.updated.factory.reset')) names.push('mo.prov.cert.updated.factory.reset')
  }
}

function webhookBodyPath(kind: keyof typeof WEBHOOK_PATHS): string[] {
  return ['paths', WEBHOOK_PATHS[kind], 'post', 'requestBody', 'content', 'application/json', 'schema']
}

function newAjv(): Ajv {
  // strict: an unknown keyword or format fails compilation loudly instead of being ignored.
  // strictTypes is off: OpenAPI 3.0 writes `enum` without `type` (webhook eventType).
  const ajv = new Ajv({ strict: true, strictTypes: false, strictTuples: false, allErrors: true })
  addFormats(ajv)
  // The OpenAPI document around the schemas, and annotations inside them: documentation only.
  ajv.addVocabulary([
    'openapi',
    'info',
    'servers',
    'paths',
    'components',
    'tags',
    'security',
    'example',
    'x-examples',
    'x-stoplight',
    'x-internal',
    'x-constraint',
    'x-constraint-message',
    'x-oapi-codegen-extra-tags',
  ])
  // `nullable: true` (OpenAPI 3.0) is understood by Ajv itself: it adds null to `type`.
  return ajv
}

function register(ajv: Ajv, withErrata: boolean): Ajv {
  for (const file of OPCP_SPEC_FILES) {
    const doc = structuredClone(readSpec(file))
    if (withErrata) adjust(file, doc)
    doc.$id = fileUrl(file)
    ajv.addSchema(doc)
  }
  return ajv
}

let ajv: Ajv | undefined
const validators = new Map<string, OpcpValidator>()

/** A JSON pointer fragment of path parts. */
const pointer = (parts: string[]) => '#/' + parts.map((p) => encodeURIComponent(p.replace(/~/g, '~0').replace(/\//g, '~1'))).join('/')

function compiled(file: string, parts: string[], what: string): OpcpValidator {
  const ref = fileUrl(file) + pointer(parts)
  const cached = validators.get(ref)
  if (cached) return cached
  try {
    schemaAt(readSpec(file), ...parts)
  } catch (err) {
    throw new Error(`OPCP 1.0.0: ${file} has no ${parts.join('/')}`, { cause: err })
  }
  ajv ??= register(newAjv(), true)
  let validate: OpcpValidator
  try {
    validate = ajv.compile({ $ref: ref })
  } catch (err) {
    throw new Error(`OPCP 1.0.0: ${what} does not compile`, { cause: err })
  }
  validators.set(ref, validate)
  return validate
}

/** Validator for `#/components/schemas/<schemaName>` of a reference file (errata applied). */
export function opcpValidator(file: string, schemaName: string): OpcpValidator {
  return compiled(file, ['components', 'schemas', schemaName], `${file} ${schemaName}`)
}

/** The schema an operation's request body or success answer has: named in CALLED, else inline in the path. */
function operationSchema(op: CalledOperation, side: 'request' | 'answer'): OpcpValidator {
  const operation = CALLED[op] as (typeof CALLED)[CalledOperation] & { request?: string; answer?: string }
  const name = operation[side]
  if (name) return opcpValidator(operation.file, name)
  const where = [
    'paths',
    operation.path,
    operation.method.toLowerCase(),
    ...(side === 'request' ? ['requestBody'] : ['responses', String(operation.status)]),
    'content',
    'application/json',
    'schema',
  ]
  let node: Json | undefined = readSpec(operation.file)
  for (const part of where) node = isObject(node) ? node[part] : undefined
  if (!isObject(node)) throw new Error(`OPCP ${op}: the reference gives no ${side === 'request' ? 'request body' : 'answer'} schema`)
  return compiled(operation.file, where, `${op} ${side}`)
}

export function opcpRequestValidator(op: CalledOperation): OpcpValidator {
  return operationSchema(op, 'request')
}

export function opcpAnswerValidator(op: CalledOperation): OpcpValidator {
  return operationSchema(op, 'answer')
}

/** Validator of a webhook request body: root certificate events, or PCID/EMAID events. */
export function webhookPayloadValidator(kind: 'root' | 'pcidEmaid'): OpcpValidator {
  return compiled('webhook.payload.v1.json', webhookBodyPath(kind), `webhook payload ${kind}`)
}

/** `/contractData/dHpublickey` as `contractData.dHpublickey`; the root as `(body)`. */
function fieldOf(e: ErrorObject): string {
  const parts = e.instancePath
    .split('/')
    .slice(1)
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'))
  if (e.keyword === 'required') parts.push((e.params as { missingProperty: string }).missingProperty)
  if (e.keyword === 'additionalProperties') parts.push((e.params as { additionalProperty: string }).additionalProperty)
  return parts.length === 0 ? '(body)' : parts.map((p, i) => (/^\d+$/.test(p) ? `[${p}]` : i === 0 ? p : `.${p}`)).join('')
}

function ruleOf(e: ErrorObject): string {
  switch (e.keyword) {
    case 'required':
      return 'is required'
    case 'additionalProperties':
      return 'is not allowed'
    case 'enum':
      return `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.map((v) => JSON.stringify(v)).join(', ')}`
    default:
      return e.message ?? e.keyword
  }
}

/** Each schema violation as "field: rule", each once. */
export function errorLines(errors: readonly ErrorObject[] | null | undefined): string[] {
  return [...new Set((errors ?? []).map((e) => `${fieldOf(e)}: ${ruleOf(e)}`))]
}

/** The schema violations as one readable string ("field: rule; field: rule"). */
export function describeErrors(errors: readonly ErrorObject[] | null | undefined): string {
  return errorLines(errors).join('; ')
}

export interface ErratumEffect {
  file: string
  /** a component schema name, or the webhook body kind */
  schema: string
  /** how the published schema behaves differently */
  difference: string
}

/**
 * What the schema-level errata change: the schemas that do not compile as published, and those
 * whose own examples (x-examples) are judged differently as published than with the errata read.
 */
export function schemasFailingWithoutErrata(): ErratumEffect[] {
  const raw = register(newAjv(), false)
  ajv ??= register(newAjv(), true)
  const adjusted = ajv
  const effects: ErratumEffect[] = []
  const targets: Array<{ file: string; schema: string; parts: string[]; examples: Array<[string, unknown]> }> = []
  for (const file of OPCP_SPEC_FILES) {
    const schemas = readSpec(file).components
    if (isObject(schemas) && isObject(schemas.schemas)) {
      for (const name of Object.keys(schemas.schemas)) {
        targets.push({ file, schema: name, parts: ['components', 'schemas', name], examples: opcpExamples(file, name) })
      }
    }
  }
  for (const kind of Object.keys(WEBHOOK_PATHS) as Array<keyof typeof WEBHOOK_PATHS>) {
    targets.push({ file: 'webhook.payload.v1.json', schema: kind, parts: webhookBodyPath(kind), examples: webhookPayloadExamples(kind) })
  }
  for (const { file, schema, parts, examples } of targets) {
    const ref = fileUrl(file) + pointer(parts)
    let asPublished: OpcpValidator
    try {
      asPublished = raw.compile({ $ref: ref })
    } catch (err) {
      effects.push({ file, schema, difference: `does not compile: ${(err as Error).message}` })
      continue
    }
    const withErrata = adjusted.compile({ $ref: ref })
    for (const [name, example] of examples) {
      const a = asPublished(example)
      const b = withErrata(example)
      if (a !== b) {
        effects.push({
          file,
          schema,
          difference: `its example ${name} is ${a ? 'valid' : 'invalid'} as published (${describeErrors(asPublished.errors)}) and ${b ? 'valid' : 'invalid'} with the errata`,
        })
      }
    }
  }
  return effects
}

function examplesAt(schema: JsonObject): Array<[string, unknown]> {
  const out: Array<[string, unknown]> = []
  if (isObject(schema['x-examples'])) {
    for (const [name, value] of Object.entries(schema['x-examples'])) out.push([name, structuredClone(value)])
  }
  return out
}

/** The x-examples of a component schema, as published (for tests and documentation). */
export function opcpExamples(file: string, schemaName: string): Array<[string, unknown]> {
  return examplesAt(schemaAt(readSpec(file), 'components', 'schemas', schemaName))
}

/** The examples of a webhook body (`examples` beside the schema in webhook.payload.v1.json). */
export function webhookPayloadExamples(kind: 'root' | 'pcidEmaid'): Array<[string, unknown]> {
  const content = schemaAt(readSpec('webhook.payload.v1.json'), ...webhookBodyPath(kind).slice(0, -1))
  const examples = content.examples
  if (!isObject(examples)) return []
  return Object.entries(examples).map(([name, value]) => [name, structuredClone(isObject(value) ? value.value : value)])
}
