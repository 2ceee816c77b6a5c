import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import fc from 'fast-check'
import type { LightMyRequestResponse } from 'fastify'
import { ADMIN_API } from '../src/protocols/admin-api/routes.ts'
import { DRIVE_API } from '../src/protocols/drive-api/routes.ts'
import { OCPI_ADMIN_API } from '../src/protocols/ocpi/admin-api.ts'
import { OICP_ADMIN_API } from '../src/protocols/oicp/admin-api.ts'
import { OPCP_ADMIN_API } from '../src/protocols/opcp/admin-api.ts'
import { expectedOcpiRoutes } from '../src/protocols/ocpi/server.ts'
import { ADMIN_KEY, backends, startTestPlatform, type TestPlatform } from './support.ts'

type Schema = { type?: string | string[]; anyOf?: Schema[]; properties?: Record<string, Schema>; items?: Schema; const?: unknown }

const ROUTES = [
  ...[
    ...Object.values(DRIVE_API),
    ...Object.values(ADMIN_API),
    ...Object.values(OCPI_ADMIN_API),
    ...Object.values(OICP_ADMIN_API),
    ...Object.values(OPCP_ADMIN_API),
  ].map((s) => ({
    method: s.method,
    url: s.url,
  })),
  ...expectedOcpiRoutes(),
  { method: 'GET', url: '/health' },
]

/** Strings a partner (or an attacker) might send: ordinary, empty, NUL, control, unicode, long, percent signs. */
const nasty = fc.oneof(
  fc.string({ maxLength: 20 }),
  fc.constantFrom(
    '',
    '\u0000',
    'a\u0000b',
    '%',
    '%00',
    '%E0%A4%A',
    '%2E%2E%2F%2E%2E',
    '\uD800',
    'DE-8PS-C0AD21B13-P',
    'WDBRF61J21F123456',
    '0000-01-01T00:00:00Z',
    '2016-12-31T23:59:60Z',
  ),
  fc.string({ unit: 'binary', maxLength: 10 }),
  fc.string({ minLength: 100, maxLength: 300 }),
)

/** JSON values: huge and odd numbers, wrong types, deep nesting. */
const nastyJson: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    nasty,
    fc.constantFrom(0, -1, 12345678901234567, 1e308, -1e308, 0.1, true, false, null),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('__proto__', 'constructor', 'a\u0000')), tie('value'), {
      maxKeys: 4,
    }),
  ),
})).value

/** A value shaped by a body schema, each field sometimes right, sometimes anything. */
function shaped(schema: Schema | undefined): fc.Arbitrary<unknown> {
  if (!schema?.properties) return nastyJson
  const entries = Object.entries(schema.properties).map(([name, s]) => [name, fc.oneof(nastyJson, shapedField(s))] as const)
  return fc.record(Object.fromEntries(entries), { requiredKeys: [] })
}
function shapedField(schema: Schema): fc.Arbitrary<unknown> {
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map(shapedField))
  if ('const' in schema) return fc.constant(schema.const)
  switch (schema.type) {
    case 'string':
      return nasty
    case 'boolean':
      return fc.boolean()
    case 'integer':
    case 'number':
      return fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))
    case 'array':
      return fc.array(schema.items ? shapedField(schema.items) : nastyJson, { maxLength: 3 })
    case 'object':
      return shaped(schema)
    default:
      return nastyJson
  }
}

/** Every byte outside the unreserved set percent-encoded (a lone surrogate too, as UTF-8 does it). */
const percentEncode = (text: string) =>
  [...Buffer.from(text, 'utf8')]
    .map((b) =>
      /[A-Za-z0-9._~-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).padStart(2, '0').toUpperCase()}`,
    )
    .join('')

const deep = (depth: number) => `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`

function assertEnvelope(url: string, response: LightMyRequestResponse, what: string) {
  assert.ok(response.statusCode < 500, `${what} -> ${response.statusCode} ${response.body.slice(0, 300)}`)
  if (response.statusCode < 400 || response.body === '') return
  const body = response.json()
  if (url.startsWith('/ocpi')) {
    assert.equal(typeof body.status_code, 'number', `${what}: OCPI envelope, got ${response.body.slice(0, 300)}`)
    assert.equal(typeof body.status_message, 'string', what)
    assert.equal(typeof body.timestamp, 'string', what)
  } else {
    assert.equal(typeof body.error?.code, 'string', `${what}: REST envelope, got ${response.body.slice(0, 300)}`)
    assert.equal(typeof body.error?.message, 'string', what)
  }
}

for (const backend of backends()) {
  describe(`fuzzed requests over every route (${backend})`, () => {
    let t: TestPlatform
    let apiKey: string
    let tokenA: string
    let openapi: { paths: Record<string, Record<string, any>> }

    before(async () => {
      t = await startTestPlatform(backend)
      apiKey = (await t.createOrganization()).apiKey
      tokenA = (await t.createOcpiPartner('Fuzz CPO')).tokenA
      await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'driver-1' } })
      openapi = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json()
    })
    after(() => t.close())

    test('no request, however odd, gets a 5xx, and every error is in the envelope of its API', async () => {
      const schemaOf = (route: { method: string; url: string }) =>
        openapi.paths[route.url.replace(/:(\w+)/g, '{$1}')]?.[route.method.toLowerCase()]?.requestBody?.content?.['application/json']
          ?.schema as Schema | undefined
      const request = fc.constantFrom(...ROUTES).chain((route) =>
        fc.record({
          route: fc.constant(route),
          method: fc.oneof(fc.constant(undefined), fc.constantFrom('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS')),
          param: fc.oneof(fc.constantFrom('driver-1', 'DE8PSC0AD21B13', 'DE', '8PS'), nasty),
          extraPath: fc.constantFrom('', '/', '//', '/x', '/%00'),
          query: fc.option(
            fc.dictionary(fc.constantFrom('latitude', 'longitude', 'distance', 'limit', 'offset', 'date_from', 'type', 'x'), nasty, {
              maxKeys: 3,
            }),
          ),
          body: fc.oneof(
            fc.constant(undefined),
            shaped(schemaOf(route)),
            nastyJson,
            fc.constantFrom('{"a":', '', 'null', '[]', deep(40), deep(32), '{"__proto__": {"x": 1}}', 'not json'),
          ),
          contentType: fc.constantFrom(
            'application/json',
            'application/json; charset=utf-8',
            'text/plain',
            'application/x-www-form-urlencoded',
            undefined,
          ),
          auth: fc.constantFrom('organization', 'admin', 'ocpi', 'none', 'garbage'),
        }),
      )
      await fc.assert(
        fc.asyncProperty(request, async (r) => {
          const body = r.body
          const path = r.route.url.replace(/:(\w+)/g, () => percentEncode(r.param)) + r.extraPath
          const query = r.query ? `?${new URLSearchParams(r.query as Record<string, string>)}` : ''
          const headers: Record<string, string> = {}
          if (r.auth === 'organization') headers['x-api-key'] = apiKey
          if (r.auth === 'admin') headers['x-api-key'] = ADMIN_KEY
          if (r.auth === 'ocpi') headers.authorization = `Token ${Buffer.from(tokenA).toString('base64')}`
          if (r.auth === 'garbage') headers.authorization = 'Token \u00ff\u00fe'
          if (r.contentType && body !== undefined) headers['content-type'] = r.contentType
          const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body)
          const method = (r.method ?? r.route.method) as 'GET'
          const response = await t.app.inject({ method, url: path + query, headers, payload })
          assertEnvelope(path, response, `${method} ${path}${query} ${payload?.slice(0, 200) ?? ''}`)
        }),
        { numRuns: 400, seed: 20261201, endOnFailure: true },
      )
    })
  })
}
