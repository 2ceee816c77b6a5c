import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { LightMyRequestResponse } from 'fastify'
import { ADMIN_API } from '../src/protocols/admin-api/routes.ts'
import { DRIVE_API } from '../src/protocols/drive-api/routes.ts'
import { MAX_PARAM_LENGTH } from '../src/server.ts'
import { OCPI_ADMIN_API } from '../src/protocols/ocpi/admin-api.ts'
import { OICP_ADMIN_API } from '../src/protocols/oicp/admin-api.ts'
import { OPCP_ADMIN_API } from '../src/protocols/opcp/admin-api.ts'
import { expectedOcpiRoutes } from '../src/protocols/ocpi/server.ts'
import { ADMIN_KEY, backends, startTestPlatform, type TestPlatform } from './support.ts'

type Schema = { type?: string | string[]; anyOf?: Schema[]; properties?: Record<string, Schema>; const?: unknown }

/** Every route of the REST route tables (the API-key routes are in the Drive API and admin tables). */
const REST_ROUTES = [
  ...Object.values(DRIVE_API),
  ...Object.values(ADMIN_API),
  ...Object.values(OCPI_ADMIN_API),
  ...Object.values(OICP_ADMIN_API),
  ...Object.values(OPCP_ADMIN_API),
]

/** The JSON types a schema accepts. */
function acceptedTypes(schema: Schema): Set<string> {
  const types = new Set<string>()
  const add = (s: Schema) => {
    if (s.anyOf) s.anyOf.forEach(add)
    for (const t of Array.isArray(s.type) ? s.type : s.type ? [s.type] : []) types.add(t)
  }
  add(schema)
  if (types.has('number')) types.add('integer')
  return types
}

const jsonType = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : Number.isInteger(v) ? 'integer' : typeof v)

/** A value of a JSON type the schema does not accept: the coercions we must not do. */
function wrongValue(schema: Schema): unknown {
  const candidates = [12345678901234567, 'false', [false], { value: 1 }, true, null]
  return candidates.find((c) => !acceptedTypes(schema).has(jsonType(c)))
}

/** Each declared field of a body schema, nested objects included, as a path of names. */
function fieldsOf(schema: Schema, at: string[] = []): Array<{ path: string[]; schema: Schema }> {
  return Object.entries(schema.properties ?? {}).flatMap(([name, s]) => [
    { path: [...at, name], schema: s },
    ...(s.type === 'object' && s.properties ? fieldsOf(s, [...at, name]) : []),
  ])
}

function bodyWith(path: string[], value: unknown): Record<string, unknown> {
  const [head, ...rest] = path
  return { [head!]: rest.length === 0 ? value : bodyWith(rest, value) }
}

function assertRestError(response: LightMyRequestResponse, status: number, code?: string) {
  assert.equal(response.statusCode, status, response.body)
  const error = response.json().error
  assert.equal(typeof error?.code, 'string', response.body)
  assert.equal(typeof error?.message, 'string', response.body)
  if (code) assert.equal(error.code, code, response.body)
  return error
}

function assertOcpiError(response: LightMyRequestResponse, status: number, ocpiStatus: number) {
  assert.equal(response.statusCode, status, response.body)
  const body = response.json()
  assert.equal(body.status_code, ocpiStatus, response.body)
  assert.equal(typeof body.status_message, 'string')
  assert.equal(typeof body.timestamp, 'string')
}

for (const backend of backends()) {
  describe(`strict input on every route (${backend})`, () => {
    let t: TestPlatform
    let apiKey: string
    let tokenA: string
    let openapi: { paths: Record<string, Record<string, any>> }
    const userId = 'driver-1'

    /** The key a route of the tables needs. */
    const keyFor = (url: string) => (url.startsWith('/admin') ? ADMIN_KEY : apiKey)
    const fill = (url: string, value: string) => url.replace(/:(\w+)/g, (_, name) => (name === 'userId' ? userId : value))

    before(async () => {
      t = await startTestPlatform(backend)
      apiKey = (await t.createOrganization()).apiKey
      tokenA = (await t.createOcpiPartner('Strict CPO')).tokenA
      await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: userId } })
      openapi = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json()
    })
    after(() => t.close())

    const bodySchema = (spec: { url: string; method: string }): Schema | undefined =>
      openapi.paths[spec.url.replace(/:(\w+)/g, '{$1}')]?.[spec.method.toLowerCase()]?.requestBody?.content?.['application/json']?.schema

    test('every declared body field of a wrong JSON type is a 400 naming the field and the expected type', async () => {
      let checked = 0
      for (const spec of REST_ROUTES) {
        const schema = bodySchema(spec)
        if (!schema) continue
        for (const field of fieldsOf(schema)) {
          const value = wrongValue(field.schema)
          const response = await t.request(keyFor(spec.url), {
            method: spec.method,
            url: fill(spec.url, 'x'),
            payload: bodyWith(field.path, value),
          })
          const what = `${spec.method} ${spec.url} ${field.path.join('.')}=${JSON.stringify(value)}`
          const error = assertRestError(response, 400)
          const name = field.path.join('.')
          const entry = error.errors?.find((e: { field: string }) => e.field === name)
          assert.ok(entry, `${what}: an error for ${name} in ${response.body}`)
          assert.ok(['type', 'anyOf'].includes(entry.rule), `${what}: a type error, got ${entry.rule}`)
          assert.match(entry.message, new RegExp(`^${name.replace('.', '\\.')} must be `), what)
          checked++
        }
      }
      assert.ok(checked >= 25, `checked ${checked} fields`)
    })

    test('an unknown field in every body is a 400 unknown_field naming it', async () => {
      for (const spec of REST_ROUTES) {
        if (!bodySchema(spec)) continue
        const response = await t.request(keyFor(spec.url), {
          method: spec.method,
          url: fill(spec.url, 'x'),
          payload: { unexpectedField: 1 },
        })
        const error = assertRestError(response, 400)
        const entry = error.errors?.find((e: { field: string }) => e.field === 'unexpectedField')
        assert.ok(entry, `${spec.method} ${spec.url}: ${response.body}`)
        assert.equal(entry.code, 'unknown_field')
      }
    })

    test('the coercions of old are refused: a numeric PCID, "false", 0, null or [false] for enabled, a numeric user ID', async () => {
      const pcid = await t.request(apiKey, {
        method: 'POST',
        url: `/v1/users/${userId}/charging-keys/plug-and-charge`,
        payload: { pcid: 12345678901234567 },
      })
      assert.match(assertRestError(pcid, 400).message, /^pcid must be string, got integer/)
      await t.request(apiKey, {
        method: 'POST',
        url: `/v1/users/${userId}/charging-keys/plug-and-charge`,
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-C0AD21B13-P' },
      })
      for (const enabled of ['false', 0, null, [false]]) {
        const response = await t.request(apiKey, {
          method: 'PATCH',
          url: `/v1/users/${userId}/charging-keys/DE8PSC0AD21B13`,
          payload: { enabled },
        })
        assert.match(assertRestError(response, 400).message, /^enabled must be boolean/, JSON.stringify(enabled))
      }
      const key = await t.request(apiKey, { method: 'GET', url: `/v1/users/${userId}/charging-keys/DE8PSC0AD21B13` })
      assert.equal(key.json().enabled, true, 'the key stayed enabled')
      assertRestError(await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: 123 } }), 400)
      assert.equal((await t.request(apiKey, { method: 'GET', url: '/v1/users/123' })).statusCode, 404)
    })

    test('a misspelt field is refused with the field it was probably meant to be, and nothing is created', async () => {
      const response = await t.request(apiKey, {
        method: 'POST',
        url: `/v1/users/${userId}/charging-keys/plug-and-charge`,
        payload: { pcid: 'WDBRF61J21F123457', contractID: 'DE-8PS-C0AD21B14-2' },
      })
      const error = assertRestError(response, 400, 'unknown_field')
      assert.equal(error.message, 'contractID is not a known field; did you mean "contractId"?')
      const keys = (await t.request(apiKey, { method: 'GET', url: `/v1/users/${userId}/charging-keys` })).json().keys
      assert.ok(!keys.some((k: { pcid?: string }) => k.pcid === 'WDBRF61J21F123457'))
      const patch = await t.request(apiKey, {
        method: 'PATCH',
        url: `/v1/users/${userId}/charging-keys/DE8PSC0AD21B13`,
        payload: { enable: false, validFrom: '2030-01-01T00:00:00Z' },
      })
      const patchError = assertRestError(patch, 400, 'unknown_field')
      assert.deepEqual(
        patchError.errors.map((e: { field: string }) => e.field),
        ['enable', 'validFrom'],
      )
      assert.match(patchError.errors[0].message, /did you mean "enabled"\?/)
      const search = await t.request(apiKey, {
        method: 'POST',
        url: '/v1/geosearch/bbox',
        payload: { north: 1, south: 0, east: 1, west: 0, filter: { powerType: 'DC' } },
      })
      assert.match(assertRestError(search, 400, 'unknown_field').message, /^filter is not a known field; did you mean "filters"\?/)
    })

    test('every validation error of a request is reported at once, the first also as code and message', async () => {
      const response = await t.app.inject({
        method: 'POST',
        url: '/admin/v1/organizations',
        headers: { 'x-api-key': ADMIN_KEY },
        payload: { name: 7, enabled: 'yes', checkDigit: 'sometimes', colour: 'blue' },
      })
      const error = assertRestError(response, 400)
      const fields = error.errors.map((e: { field: string }) => e.field).sort()
      assert.deepEqual(fields, ['checkDigit', 'colour', 'enabled', 'name'])
      assert.equal(error.message, error.errors[0].message)
      assert.equal(error.code, error.errors[0].code)
      const checkDigit = error.errors.find((e: { field: string }) => e.field === 'checkDigit')
      assert.match(checkDigit.message, /must be one of "lenient" or "strict"/)
    })

    test('a NUL character in a body, path or query is a 400 in the envelope of every route, OCPI included', async () => {
      const withBody = (method: string) => ['POST', 'PUT', 'PATCH'].includes(method)
      for (const spec of REST_ROUTES) {
        const key = keyFor(spec.url)
        const where = `${spec.method} ${spec.url}`
        if (spec.url.includes(':')) {
          assertRestError(await t.request(key, { method: spec.method, url: spec.url.replace(/:(\w+)/g, 'a%00b') }), 400, 'nul_character')
        }
        assertRestError(await t.request(key, { method: spec.method, url: `${fill(spec.url, 'x')}?q=%00` }), 400, 'nul_character')
        if (withBody(spec.method)) {
          const response = await t.request(key, { method: spec.method, url: fill(spec.url, 'x'), payload: { name: 'a\u0000b' } })
          assert.equal(assertRestError(response, 400, 'nul_character').errors[0].field, 'name', where)
        }
      }
      const ocpi = { authorization: `Token ${Buffer.from(tokenA).toString('base64')}` }
      for (const route of expectedOcpiRoutes()) {
        if (route.url.includes(':')) {
          assertOcpiError(
            await t.app.inject({ method: route.method, url: route.url.replace(/:(\w+)/g, 'a%00b'), headers: ocpi }),
            400,
            2001,
          )
        }
        assertOcpiError(
          await t.app.inject({ method: route.method, url: `${route.url.replace(/:(\w+)/g, 'x')}?q=%00`, headers: ocpi }),
          400,
          2001,
        )
        if (withBody(route.method)) {
          const response = await t.app.inject({
            method: route.method,
            url: route.url.replace(/:(\w+)/g, 'x'),
            headers: ocpi,
            payload: { id: 'a\u0000b' },
          })
          assertOcpiError(response, 400, 2001)
          assert.match(response.json().status_message, /NUL/)
        }
      }
    })

    test('__proto__ is named as a forbidden key, not reported as malformed JSON', async () => {
      const response = await t.request(apiKey, {
        method: 'POST',
        url: '/v1/users',
        headers: { 'content-type': 'application/json' },
        payload: '{"id": "proto", "__proto__": {"admin": true}}',
      })
      assert.match(assertRestError(response, 400, 'forbidden_key').message, /"__proto__"/)
    })

    test('nesting deeper than 32 levels is a 400 naming the limit, on the REST APIs and on OCPI', async () => {
      const deep = `{"id": "deep", "email": ${'['.repeat(40)}${']'.repeat(40)}}`
      const response = await t.request(apiKey, {
        method: 'POST',
        url: '/v1/users',
        headers: { 'content-type': 'application/json' },
        payload: deep,
      })
      assert.match(assertRestError(response, 400, 'nesting_too_deep').message, /32 levels/)
      const ocpi = await t.app.inject({
        method: 'PUT',
        url: '/ocpi/emsp/2.2.1/locations/DE/ABC/L1',
        headers: { authorization: `Token ${Buffer.from(tokenA).toString('base64')}`, 'content-type': 'application/json' },
        payload: `{"id": ${'['.repeat(10_000)}${']'.repeat(10_000)}}`,
      })
      assertOcpiError(ocpi, 400, 2001)
    })

    test('a date-time must be a real instant: a leap second or year 0000 is a 400 naming the field', async () => {
      for (const validTo of ['2016-12-31T23:59:60Z', '0000-01-01T00:00:00Z']) {
        const patch = await t.request(apiKey, {
          method: 'PATCH',
          url: `/v1/users/${userId}/charging-keys/DE8PSC0AD21B13`,
          payload: { validTo },
        })
        assert.equal(assertRestError(patch, 400).errors[0].field, 'validTo', validTo)
        const create = await t.request(apiKey, {
          method: 'POST',
          url: `/v1/users/${userId}/charging-keys/plug-and-charge`,
          payload: { pcid: 'WDBRF61J21F123458', validTo },
        })
        assert.equal(assertRestError(create, 400).errors[0].field, 'validTo', validTo)
      }
    })

    test('a validTo that is not after the key is created is refused on POST as on PATCH (invalid_valid_to)', async () => {
      const create = await t.request(apiKey, {
        method: 'POST',
        url: `/v1/users/${userId}/charging-keys/plug-and-charge`,
        payload: { pcid: 'WDBRF61J21F123459', validTo: '2001-01-01T00:00:00Z' },
      })
      assertRestError(create, 400, 'invalid_valid_to')
      const patch = await t.request(apiKey, {
        method: 'PATCH',
        url: `/v1/users/${userId}/charging-keys/DE8PSC0AD21B13`,
        payload: { validTo: '2001-01-01T00:00:00Z' },
      })
      assertRestError(patch, 400, 'invalid_valid_to')
      const future = await t.request(apiKey, {
        method: 'POST',
        url: `/v1/users/${userId}/charging-keys/plug-and-charge`,
        payload: { pcid: 'WDBRF61J21F123459', validTo: '2099-01-01T00:00:00Z' },
      })
      assert.equal(future.statusCode, 201, future.body)
    })

    test('a user ID of the longest allowed length works on GET and DELETE; one longer is a 414 in the envelope', async () => {
      const long = 'u'.repeat(128)
      assert.equal((await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: long } })).statusCode, 201)
      assert.equal((await t.request(apiKey, { method: 'GET', url: `/v1/users/${long}` })).statusCode, 200)
      assert.equal((await t.request(apiKey, { method: 'GET', url: `/v1/users/${long}/charging-keys` })).statusCode, 200)
      assert.equal((await t.request(apiKey, { method: 'DELETE', url: `/v1/users/${long}` })).statusCode, 204)
      assertRestError(await t.request(apiKey, { method: 'GET', url: `/v1/users/${long}u` }), 414, 'path_parameter_too_long')
      assertOcpiError(await t.app.inject({ method: 'GET', url: `/ocpi/emsp/2.2.1/locations/DE/ABC/${'l'.repeat(200)}` }), 414, 2000)
    })

    test('the router takes every path parameter the schemas allow', () => {
      for (const [path, operations] of Object.entries(openapi.paths)) {
        for (const operation of Object.values(operations)) {
          for (const parameter of operation.parameters ?? []) {
            if (parameter.in !== 'path') continue
            const max = parameter.schema?.maxLength
            assert.ok(typeof max === 'number' && max <= MAX_PARAM_LENGTH, `${path} {${parameter.name}} has maxLength ${max}`)
          }
        }
      }
    })

    test('a known path with another method is a 405 listing the allowed ones, in OCPI too', async () => {
      const put = await t.request(apiKey, { method: 'PUT', url: `/v1/users/${userId}` })
      assertRestError(put, 405, 'method_not_allowed')
      assert.equal(put.headers.allow, 'DELETE, GET, HEAD, PATCH')
      const del = await t.request(apiKey, { method: 'DELETE', url: '/v1/users' })
      assert.equal(del.headers.allow, 'POST')
      const admin = await t.app.inject({ method: 'PUT', url: '/admin/v1/organizations', headers: { 'x-api-key': ADMIN_KEY } })
      assert.equal(admin.statusCode, 405)
      assert.equal(admin.headers.allow, 'GET, HEAD, POST')
      const ocpi = await t.app.inject({
        method: 'DELETE',
        url: '/ocpi/emsp/2.2.1/tokens',
        headers: { authorization: `Token ${Buffer.from(tokenA).toString('base64')}` },
      })
      assertOcpiError(ocpi, 405, 2000)
      assert.equal(ocpi.headers.allow, 'GET, HEAD')
      assertRestError(await t.app.inject({ method: 'GET', url: '/v1/nothing-here' }), 404, 'route_not_found')
    })

    test('trailing and duplicate slashes do not change the answer on any GET route, OCPI included', async () => {
      const strip = (body: string) => body.replace(/"timestamp":"[^"]+"/, '')
      for (const spec of [...REST_ROUTES, ...expectedOcpiRoutes()]) {
        if (spec.method !== 'GET') continue
        const headers = spec.url.startsWith('/ocpi')
          ? { authorization: `Token ${Buffer.from(tokenA).toString('base64')}` }
          : { 'x-api-key': keyFor(spec.url) }
        const url = fill(spec.url, 'x')
        const plain = await t.app.inject({ method: 'GET', url, headers })
        for (const variant of [`${url}/`, url.replace(/\//g, '//')]) {
          const other = await t.app.inject({ method: 'GET', url: variant, headers })
          assert.equal(other.statusCode, plain.statusCode, `${variant}: ${other.body}`)
          assert.equal(strip(other.body), strip(plain.body), variant)
        }
      }
    })

    test('errors the router meets before any route are in our envelope: bad percent-encoding', async () => {
      assertRestError(await t.request(apiKey, { method: 'GET', url: '/v1/users/%E0%A4%A' }), 400, 'malformed_url')
      assertOcpiError(await t.app.inject({ method: 'GET', url: '/ocpi/emsp/2.2.1/locations/DE/ABC/%E0%A4%A' }), 400, 2001)
    })
  })
}
