import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { request } from 'undici'
import { openDatabase } from '../src/infra/db/database.ts'
import { CpoSimulator } from '../src/sim/cpo.ts'
import { bodyOf, openConnection, refusesConnections, startServeProcess, statusOf, type ServeProcess } from './process.ts'
import { ADMIN_KEY, backends, freshPostgresDatabase, waitFor } from './support.ts'

async function call(url: string, apiKey: string, method: 'GET' | 'POST', path: string, body?: unknown) {
  const response = await request(`${url}${path}`, {
    method,
    headers: { 'x-api-key': apiKey, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.body.text()
  return { status: response.statusCode, body: text ? JSON.parse(text) : null }
}

for (const backend of backends()) {
  describe(`graceful shutdown of openpnc serve (${backend})`, () => {
    let serve: ServeProcess
    let postgres: Awaited<ReturnType<typeof freshPostgresDatabase>> | undefined
    let orgKey: string
    let partnerId: string
    const cpo = new CpoSimulator({ countryCode: 'NL', partyId: 'SIG' })

    before(async () => {
      postgres = backend === 'postgres' ? await freshPostgresDatabase() : undefined
      serve = await startServeProcess(postgres ? { DATABASE_URL: postgres.url } : {})
      const org = await call(serve.url, ADMIN_KEY, 'POST', '/admin/v1/organizations', {
        name: 'Signal Mobility',
        plugAndCharge: { enabled: true },
        contractIdPrefixes: ['DE-8PS'],
      })
      assert.equal(org.status, 201)
      orgKey = org.body.apiKey
      assert.equal((await call(serve.url, orgKey, 'POST', '/v1/users', { id: 'driver-1' })).status, 201)
      const key = await call(serve.url, orgKey, 'POST', '/v1/users/driver-1/charging-keys/plug-and-charge', {
        pcid: 'WDBRF61J21F123456',
        contractId: 'DE-8PS-C0AD21B13-P',
      })
      assert.equal(key.status, 201)
      const partner = await call(serve.url, ADMIN_KEY, 'POST', '/admin/v1/ocpi/partners', { name: 'Signal CPO' })
      partnerId = partner.body.id
      await cpo.start()
      await cpo.registerWith(partner.body.versionsUrl, partner.body.tokenA)
    })
    after(async () => {
      serve.child.kill('SIGKILL')
      await cpo.stop()
      await postgres?.drop()
      await rm(serve.dataDir, { recursive: true, force: true })
    })

    test('on SIGTERM the request in flight is answered, new connections are refused, decisions are kept, the exit code is 0', async () => {
      // Decisions just before the signal: the log writes them in batches after the answers.
      const decisions = 5
      for (let i = 0; i < decisions; i++) {
        assert.equal((await cpo.authorize('DE8PSC0AD21B13P', { type: 'EMAID' })).data?.allowed, 'ALLOWED')
      }
      // A geosearch whose body is still on its way when the signal comes...
      const slow = await openConnection(serve.url)
      slow.socket.write(
        'POST /v1/geosearch/radius?latitude=52.37&longitude=4.89 HTTP/1.1\r\nHost: test\r\n' +
          `x-api-key: ${orgKey}\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{`,
      )
      // ...and a readiness probe that has begun to arrive.
      const probe = await openConnection(serve.url)
      probe.socket.write('GET /health/ready HTTP/1.1\r\nHost: test\r\n')
      // A request answered after those bytes were sent means the server has read them too (loopback):
      // the probe's connection is busy, not idle, when the shutdown closes idle ones.
      await (await request(`${serve.url}/health`)).body.dump()

      serve.child.kill('SIGTERM')
      await waitFor(() => refusesConnections(serve.url), 30_000, 'new connections are refused')
      assert.equal(serve.child.exitCode, null, 'still running: a request is in flight')

      probe.socket.write('\r\n')
      const ready = await probe.received
      assert.equal(statusOf(ready), 503)
      assert.equal(bodyOf(ready).checks.shutdown, 'shutting down')

      slow.socket.write('}')
      const answered = await slow.received
      assert.equal(statusOf(answered), 200, answered)
      assert.ok(Array.isArray(bodyOf(answered).locations))

      const exit = await serve.exited
      assert.deepEqual(exit, { code: 0, signal: null }, serve.stderr())

      const messages = serve.logs().map((line) => String(line.msg ?? ''))
      const steps = serve.logs().filter((line) => String(line.msg ?? '').startsWith('shutdown: '))
      assert.ok(messages.includes('shutting down'), 'the start of the shutdown is logged')
      // Every step is logged once, draining HTTP first and "shut down" last (the log writes
      // synchronously, so no write still in flight can land after the exit's last line).
      assert.equal(steps[0]?.step, 'stopped accepting connections and answered the requests in flight')
      assert.deepEqual(
        steps.map((line) => String(line.step)).sort(),
        [
          'stopped accepting connections and answered the requests in flight',
          'stopped the token push after its round in flight',
          'stopped the location pull',
          'stopped the certificate authority round after its run in flight',
          'closed the connections to partners',
          'stopped the key directory',
          'wrote the buffered authorization decisions',
          'wrote the buffered authorized sessions',
          'closed the database',
        ].sort(),
      )
      for (const step of steps) assert.equal(typeof step.ms, 'number', `${step.step} says how long it took`)
      assert.equal(messages.at(-1), 'shut down', JSON.stringify(serve.logs().slice(-14), null, 0))

      const database = await openDatabase(postgres ? { databaseUrl: postgres.url } : { dataDir: serve.dataDir })
      try {
        const stored = await sql<{ allowed: string; count: string }>`
          SELECT allowed, count(*)::text AS count FROM authorization_decisions
           WHERE protocol = 'ocpi' AND partner_id = ${partnerId} GROUP BY allowed`.execute(database.db)
        assert.deepEqual(stored.rows, [{ allowed: 'ALLOWED', count: String(decisions) }])
      } finally {
        await database.close()
      }
    })
  })
}
