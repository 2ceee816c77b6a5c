import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { ADMIN_API } from '../src/protocols/admin-api/routes.ts'
import { DRIVE_API } from '../src/protocols/drive-api/routes.ts'
import { OCPI_ADMIN_API } from '../src/protocols/ocpi/admin-api.ts'
import { OICP_ADMIN_API } from '../src/protocols/oicp/admin-api.ts'
import { OPCP_ADMIN_API } from '../src/protocols/opcp/admin-api.ts'
import { backends, startTestPlatform, type TestPlatform } from './support.ts'

for (const backend of backends()) {
  describe(`API conventions (${backend})`, () => {
    let t: TestPlatform
    let apiKey: string

    before(async () => {
      t = await startTestPlatform(backend, { OPENPNC_BODY_LIMIT: '2048' })
      apiKey = (await t.createOrganization()).apiKey
      await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'driver-1' } })
    })
    after(() => t.close())

    test('an unknown route is a JSON 404 route_not_found', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/v2/whatever' })
      assert.equal(response.statusCode, 404)
      assert.equal(response.json().error.code, 'route_not_found')
    })

    test('malformed JSON is a 400 malformed_json', async () => {
      const response = await t.request(apiKey, {
        method: 'POST',
        url: '/v1/users',
        headers: { 'content-type': 'application/json' },
        payload: '{"id": "x",',
      })
      assert.equal(response.statusCode, 400)
      assert.equal(response.json().error.code, 'malformed_json')
    })

    test('a body that is not JSON is a 415', async () => {
      const response = await t.request(apiKey, {
        method: 'POST',
        url: '/v1/users',
        headers: { 'content-type': 'text/plain' },
        payload: 'id=x',
      })
      assert.equal(response.statusCode, 415)
      assert.equal(response.json().error.code, 'unsupported_media_type')
    })

    test('a body over the size limit is a 413 payload_too_large', async () => {
      const response = await t.request(apiKey, {
        method: 'POST',
        url: '/v1/users',
        payload: { id: 'big', email: `${'a'.repeat(3000)}@example.com` },
      })
      assert.equal(response.statusCode, 413)
      assert.equal(response.json().error.code, 'payload_too_large')
    })

    test('an internal failure is a 500 with the request ID and no stack trace', async () => {
      await sql`ALTER TABLE users RENAME TO users_away`.execute(t.platform.db)
      try {
        const response = await t.request(apiKey, { method: 'GET', url: '/v1/users/driver-1' })
        assert.equal(response.statusCode, 500)
        const error = response.json().error
        assert.equal(error.code, 'internal_error')
        assert.equal(error.requestId, response.headers['x-request-id'])
        assert.ok(error.message.includes(error.requestId))
        assert.doesNotMatch(response.body, /at |users_away|relation/)
      } finally {
        await sql`ALTER TABLE users_away RENAME TO users`.execute(t.platform.db)
      }
    })

    test("the caller's X-Request-ID is echoed, otherwise one is generated", async () => {
      const given = await t.app.inject({ method: 'GET', url: '/health', headers: { 'x-request-id': 'partner-req-42' } })
      assert.equal(given.headers['x-request-id'], 'partner-req-42')
      const generated = await t.app.inject({ method: 'GET', url: '/health' })
      assert.match(String(generated.headers['x-request-id']), /^[0-9a-f-]{36}$/)
    })

    test('health (liveness) answers ok and names the database backend', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/health' })
      assert.equal(response.statusCode, 200)
      assert.deepEqual(response.json(), { status: 'ok', database: backend })
    })

    test('an Idempotency-Key replays the first response of a POST', async () => {
      const send = () =>
        t.request(apiKey, {
          method: 'POST',
          url: '/v1/users/driver-1/charging-keys/plug-and-charge',
          headers: { 'idempotency-key': 'create-key-1' },
          payload: { pcid: 'WDBRF61J21F123456' },
        })
      const first = await send()
      const second = await send()
      assert.equal(first.statusCode, 201)
      assert.equal(second.statusCode, 201)
      assert.deepEqual(second.json(), first.json())
      assert.equal(second.headers['idempotent-replayed'], 'true')
      const keys = (await t.request(apiKey, { method: 'GET', url: '/v1/users/driver-1/charging-keys' })).json().keys
      assert.equal(keys.filter((k: { type: string }) => k.type === 'plug_and_charge').length, 1)
    })

    test('an Idempotency-Key reused for a different request is a 422', async () => {
      const response = await t.request(apiKey, {
        method: 'POST',
        url: '/v1/users/driver-1/charging-keys/plug-and-charge',
        headers: { 'idempotency-key': 'create-key-1' },
        payload: { pcid: 'WDBRF61J21F999999' },
      })
      assert.equal(response.statusCode, 422)
      assert.equal(response.json().error.code, 'idempotency_key_reused')
    })

    test('error responses are replayed too, and keys are per organization', async () => {
      const other = await t.createOrganization({ contractIdPrefixes: ['DE-IDM'] })
      const send = (key: string) =>
        t.request(key, { method: 'POST', url: '/v1/users', headers: { 'idempotency-key': 'same' }, payload: { id: 'driver-1' } })
      assert.equal((await send(apiKey)).statusCode, 409)
      assert.equal((await send(apiKey)).statusCode, 409)
      assert.equal((await send(other.apiKey)).statusCode, 201, 'the other organization has its own key space')
    })

    test('the OpenAPI document describes every route of the route tables with its security', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/openapi.json' })
      assert.equal(response.statusCode, 200)
      const doc = response.json()
      assert.equal(doc.openapi, '3.0.3')
      for (const spec of [
        ...Object.values(DRIVE_API),
        ...Object.values(ADMIN_API),
        ...Object.values(OCPI_ADMIN_API),
        ...Object.values(OICP_ADMIN_API),
        ...Object.values(OPCP_ADMIN_API),
      ]) {
        const path = spec.url.replace(/:(\w+)/g, '{$1}')
        const operation = doc.paths[path]?.[spec.method.toLowerCase()]
        assert.ok(operation, `${spec.method} ${path} is documented`)
        assert.equal(operation.operationId, spec.doc.operationId)
        assert.deepEqual(operation.security, spec.doc.security)
      }
      const pnc = doc.paths['/v1/users/{userId}/charging-keys/plug-and-charge'].post
      assert.ok(pnc.requestBody.content['application/json'].schema.properties.pcid.pattern)
      assert.ok(pnc.responses['201'])
      const docs = await t.app.inject({ method: 'GET', url: '/docs/' })
      assert.equal(docs.statusCode, 200)
      assert.match(docs.body, /swagger/i)
    })

    test('the server serves exactly the routes of the Drive API and admin tables, each behind its scope', async () => {
      const tables = [
        ...Object.values(DRIVE_API),
        ...Object.values(ADMIN_API),
        ...Object.values(OCPI_ADMIN_API),
        ...Object.values(OICP_ADMIN_API),
        ...Object.values(OPCP_ADMIN_API),
      ]
      for (const spec of tables) {
        assert.ok(t.app.hasRoute({ method: spec.method, url: spec.url }), `${spec.method} ${spec.url} is served`)
        const anonymous = await t.app.inject({ method: spec.method, url: spec.url.replace(/:(\w+)/g, 'x') })
        assert.equal(anonymous.statusCode, 401, `${spec.method} ${spec.url} needs a key`)
      }
      const served = t.app
        .printRoutes({ commonPrefix: false })
        .split('\n')
        .filter((line) => /\/(v1|admin)/.test(line))
      assert.ok(served.length > 0)
      const documented = new Set(tables.map((s) => s.url))
      for (const line of served) {
        const url = line.replace(/^[\s│├└─]+/, '').replace(/ \(.*\)$/, '')
        assert.ok(documented.has(url), `${url} is in a route table`)
      }
    })
  })
}
