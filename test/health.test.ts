import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import Fastify from 'fastify'
import { sql } from 'kysely'
import { request } from 'undici'
import { KeyDirectory } from '../src/services/authorization/key-directory.ts'
import { healthApi } from '../src/infra/http/health.ts'
import { bodyOf, openConnection as open, refusesConnections, statusOf } from './process.ts'
import { ADMIN_KEY, backends, startTestPlatform, waitFor, type TestPlatform } from './support.ts'

for (const backend of backends()) {
  describe(`health and readiness (${backend})`, () => {
    let t: TestPlatform

    // One connection: a test can take the database away from the server by holding it.
    before(async () => {
      t = await startTestPlatform(backend, { OPENPNC_DB_POOL_SIZE: '1' }, { listen: true })
    })
    after(() => t.close())

    test('readiness is 200 with every check ok once the platform is up', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/health/ready' })
      assert.equal(response.statusCode, 200)
      assert.deepEqual(response.json(), {
        status: 'ready',
        checks: { database: 'ok', migrations: 'ok', keyDirectory: 'ok', shutdown: 'ok' },
      })
    })

    test('liveness answers while the database is out of reach, readiness names the database', async () => {
      await t.platform.db.connection().execute(async () => {
        const live = await t.app.inject({ method: 'GET', url: '/health' })
        assert.equal(live.statusCode, 200)
        assert.deepEqual(live.json(), { status: 'ok', database: backend })
        const ready = await t.app.inject({ method: 'GET', url: '/health/ready' })
        assert.equal(ready.statusCode, 503)
        const body = ready.json()
        assert.equal(body.status, 'not_ready')
        assert.match(body.checks.database, /^unreachable: /)
        assert.equal(body.checks.keyDirectory, 'ok')
        assert.equal(body.error.code, 'not_ready')
        assert.match(body.error.message, /database/)
      })
      assert.equal((await t.app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200)
    })

    test('readiness is 503 naming a migration the database lacks', async () => {
      const latest = await sql<{ name: string; timestamp: string }>`
        DELETE FROM kysely_migration WHERE name = (SELECT max(name) FROM kysely_migration) RETURNING name, timestamp`.execute(t.platform.db)
      const { name, timestamp } = latest.rows[0]!
      try {
        const response = await t.app.inject({ method: 'GET', url: '/health/ready' })
        assert.equal(response.statusCode, 503)
        assert.equal(response.json().checks.migrations, `not applied: ${name}`)
        assert.equal(response.json().checks.database, 'ok')
      } finally {
        await sql`INSERT INTO kysely_migration (name, timestamp) VALUES (${name}, ${timestamp})`.execute(t.platform.db)
      }
    })

    test('readiness is 503 naming the key directory until every key is loaded', async () => {
      // The platform's own directory loads before the server is built; a new one shows the state in between.
      const keyDirectory = new KeyDirectory(t.platform.db, t.platform.log)
      const app = Fastify()
      await app.register(healthApi, { platform: { ...t.platform, keyDirectory } })
      try {
        const loading = await app.inject({ method: 'GET', url: '/health/ready' })
        assert.equal(loading.statusCode, 503)
        assert.equal(loading.json().checks.keyDirectory, 'not loaded yet')
        assert.match(loading.json().error.message, /keyDirectory \(not loaded yet\)/)
        await keyDirectory.start()
        const loaded = await app.inject({ method: 'GET', url: '/health/ready' })
        assert.equal(loaded.statusCode, 200)
      } finally {
        keyDirectory.stop()
        await app.close()
      }
    })

    test('during shutdown readiness is 503 naming it, new connections are refused, a request in flight is answered', async () => {
      const body = JSON.stringify({ name: 'Late Mobility' })
      // A request whose body is still arriving when the stop begins...
      const slow = await open(t.url)
      slow.socket.write(
        `POST /admin/v1/organizations HTTP/1.1\r\nHost: test\r\nx-api-key: ${ADMIN_KEY}\r\n` +
          `content-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body.slice(0, 5)}`,
      )
      // ...and a probe that has begun to arrive on a connection of its own.
      const probe = await open(t.url)
      probe.socket.write('GET /health/ready HTTP/1.1\r\nHost: test\r\n')
      // Answered after those bytes were sent (loopback): the server has read them, the probe's connection is busy.
      await (await request(`${t.url}/health`)).body.dump()
      const stopping = t.stop()
      await waitFor(() => refusesConnections(t.url), 10_000, 'new connections are refused')
      probe.socket.write('\r\n')
      // While closing, every answer says Connection: close and the server ends the connection.
      const ready = await probe.received
      assert.equal(statusOf(ready), 503)
      assert.equal(bodyOf(ready).checks.shutdown, 'shutting down')
      assert.match(bodyOf(ready).error.message, /shutdown/)
      slow.socket.write(body.slice(5))
      const answered = await slow.received
      assert.equal(statusOf(answered), 201)
      assert.equal(bodyOf(answered).organization.name, 'Late Mobility')
      await stopping
    })
  })
}
