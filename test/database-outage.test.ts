import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import pg from 'pg'
import { ABANDONED_CLAIM_MINUTES } from '../src/services/idempotency/idempotency.ts'
import { CpoSimulator } from '../src/sim/cpo.ts'
import { backends, startTestPlatform, waitFor, type TestPlatform } from './support.ts'

/**
 * A database restart or failover, as the server sees it: every connection is terminated under
 * running queries, and for a while no new connection is accepted. The server must answer 503,
 * never crash, and serve again by itself once the database is back. Only PostgreSQL has
 * connections to lose; the embedded database lives in the process.
 */
for (const backend of backends().filter((b) => b === 'postgres')) {
  describe(`the server through a database outage (${backend})`, () => {
    let t: TestPlatform
    let apiKey: string
    let database: string
    // A process-level failure (an unheard 'error' event) would end a real server: watch for one.
    const uncaught: unknown[] = []
    const monitor = (error: unknown, origin: string) => uncaught.push({ origin, error })

    before(async () => {
      process.on('uncaughtExceptionMonitor', monitor)
      // Listening: a simulated CPO registers with us and receives our token pushes.
      t = await startTestPlatform(backend, {}, { listen: true })
      apiKey = (await t.createOrganization()).apiKey
      database = new URL(t.postgresUrl!).pathname.slice(1)
      const created = await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'driver-1' } })
      assert.equal(created.statusCode, 201, created.body)
    })
    after(async () => {
      process.off('uncaughtExceptionMonitor', monitor)
      await t.close()
    })

    /** A connection beside the platform's, to its own database (or to the server's default one). */
    async function adminConnection(url = t.postgresUrl) {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      return client
    }

    /**
     * Terminates every other connection to the database until none is left, while new ones are
     * barred: a connection that was starting up when they were barred shows up after the first
     * sweep (and would otherwise wait for ever on a lock the test holds, or serve a request that
     * should meet the outage).
     */
    async function terminateOthers(admin: pg.Client) {
      await waitFor(
        async () => {
          // Inside a transaction the activity view is a snapshot: look anew each time.
          await admin.query('SELECT pg_stat_clear_snapshot()')
          const { rows } = await admin.query<{ others: number }>(
            'SELECT count(pg_terminate_backend(pid))::int AS others FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
            [database],
          )
          return rows[0]!.others === 0
        },
        10_000,
        'every other connection to the database is terminated',
      )
    }

    test('requests in flight when the database terminates every connection get 503, and the server serves again afterwards', async () => {
      const admin = await adminConnection()
      // Connections to a database are refused by a command from outside it.
      const server = await adminConnection(process.env.TEST_DATABASE_URL)
      let load: Promise<number[]> | undefined
      let loadRunning = true
      try {
        // Hold the users table so that these creates are inside the database when it goes away.
        await admin.query('BEGIN')
        await admin.query('LOCK TABLE users IN ACCESS EXCLUSIVE MODE')
        // The first one with an Idempotency-Key: its claim is made before the database goes away.
        const inFlight = Array.from({ length: 10 }, (_, i) =>
          t.request(apiKey, {
            method: 'POST',
            url: '/v1/users',
            payload: { id: `in-flight-${i}` },
            ...(i === 0 && { headers: { 'idempotency-key': 'in-flight-0' } }),
          }),
        )
        await waitFor(
          async () => {
            // Activity is read once per transaction unless the snapshot is cleared.
            await admin.query('SELECT pg_stat_clear_snapshot()')
            const waiting = await admin.query(
              `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`,
              [database],
            )
            return waiting.rows[0].n >= 10
          },
          30_000,
          'ten creates waiting inside the database',
        )
        // And reads keep coming all through the outage.
        load = (async () => {
          const statuses: number[] = []
          while (loadRunning) {
            statuses.push((await t.request(apiKey, { method: 'GET', url: '/v1/users/driver-1' })).statusCode)
          }
          return statuses
        })()

        await server.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`)
        await terminateOthers(admin)

        for (const response of await Promise.all(inFlight)) {
          assert.equal(response.statusCode, 503, response.body)
          assert.equal(response.json().error.code, 'database_unavailable')
        }

        // While the database refuses connections: REST and OCPI both say "unavailable".
        const rest = await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'while-away' } })
        assert.equal(rest.statusCode, 503, rest.body)
        assert.deepEqual(Object.keys(rest.json().error).sort(), ['code', 'message'])
        assert.equal(rest.json().error.code, 'database_unavailable')
        const ocpi = await t.app.inject({
          method: 'GET',
          url: '/ocpi/emsp/versions',
          headers: { authorization: 'Token not-a-known-token' },
        })
        assert.equal(ocpi.statusCode, 503, ocpi.body)
        assert.equal(ocpi.json().status_code, 3000)
        assert.match(ocpi.json().timestamp, /Z$/)

        await admin.query('ROLLBACK')
        await server.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`)
        loadRunning = false
        const statuses = await load
        assert.deepEqual(
          [...new Set(statuses)].filter((s) => s !== 200 && s !== 503),
          [],
          'reads answer 200 or 503, nothing else',
        )
        assert.ok(statuses.includes(503), 'some reads met the outage')
      } finally {
        await server.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`)
        await server.end()
        await admin.end()
        loadRunning = false
        await load
      }

      // The pool replaces the lost connections by itself.
      await waitFor(
        async () => (await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'after-outage' } })).statusCode === 201,
        30_000,
        'a user created after the outage',
      )
      const key = await t.request(apiKey, {
        method: 'POST',
        url: '/v1/users/after-outage/charging-keys/plug-and-charge',
        payload: { pcid: 'WDBRF61J21F123456' },
      })
      assert.equal(key.statusCode, 201, key.body)
      // The creates that got a 503 left nothing behind, and may be sent again.
      const retried = await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'in-flight-1' } })
      assert.equal(retried.statusCode, 201, retried.body)
      // The Idempotency-Key claim could not be released while the database was away: a repeat
      // hears "in progress" until the claim counts as abandoned, then runs.
      const repeat = () =>
        t.request(apiKey, {
          method: 'POST',
          url: '/v1/users',
          headers: { 'idempotency-key': 'in-flight-0' },
          payload: { id: 'in-flight-0' },
        })
      assert.equal((await repeat()).json().error.code, 'idempotency_request_in_progress')
      await sql`UPDATE idempotency_records SET created_at = now() - make_interval(mins => ${ABANDONED_CLAIM_MINUTES + 1})
                 WHERE key = 'in-flight-0'`.execute(t.platform.db)
      const afterAbandoned = await repeat()
      assert.equal(afterAbandoned.statusCode, 201, afterAbandoned.body)
      assert.deepEqual(uncaught, [])
    })

    test('a terminated connection between the statements of a transaction does not end the process', async () => {
      // Idle connections in the pool and connections checked out by background work (the key
      // directory's outbox poll, the token push) are terminated at random points, several times.
      const admin = await adminConnection()
      try {
        for (let round = 0; round < 5; round++) {
          const requests = Array.from({ length: 20 }, (_, i) =>
            t.request(apiKey, {
              method: 'POST',
              url: '/v1/users',
              payload: { id: `round-${round}-${i}` },
            }),
          )
          await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [
            database,
          ])
          for (const response of await Promise.all(requests)) {
            assert.ok([201, 503].includes(response.statusCode), `${response.statusCode} ${response.body}`)
          }
        }
      } finally {
        await admin.end()
      }
      await waitFor(
        async () => (await t.request(apiKey, { method: 'GET', url: '/v1/users/driver-1' })).statusCode === 200,
        30_000,
        'a read after the terminations',
      )
      // Keys still reach the key directory through the outbox after its connection was lost.
      const created = await t.request(apiKey, {
        method: 'POST',
        url: '/v1/users/driver-1/charging-keys/plug-and-charge',
        payload: { pcid: 'WDBRF61J21F123457', contractId: 'DE-8PS-C0AD21B13' },
      })
      assert.equal(created.statusCode, 201, created.body)
      assert.deepEqual(uncaught, [])
    })

    test('background work carries on after the database comes back: a key created then reaches a CPO', async (context) => {
      const cpo = new CpoSimulator({ partyId: 'OUT' })
      await cpo.start()
      context.after(() => cpo.stop())
      const pushed = (contractId: string) => [...cpo.tokens.values()].some((token) => token.contract_id === contractId)
      const server = await adminConnection(process.env.TEST_DATABASE_URL)
      const admin = await adminConnection()
      const createKey = (contractId: string) =>
        t.request(apiKey, {
          method: 'POST',
          url: '/v1/users/driver-1/charging-keys/plug-and-charge',
          payload: { pcid: 'WDBRF61J21F123458', contractId },
        })
      try {
        const partner = await t.createOcpiPartner('Outage CPO')
        await cpo.registerWith(partner.versionsUrl, partner.tokenA)
        assert.equal((await createKey('DE-8PS-C0UTAGE01')).statusCode, 201)
        await waitFor(() => pushed('DE-8PS-C0UTAGE01'), 30_000, 'the first key pushed')

        await server.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`)
        await terminateOthers(admin)
        const away = await createKey('DE-8PS-C0UTAGE02')
        assert.equal(away.statusCode, 503, away.body)
        // A station asking meanwhile: answered from memory, or told to retry; never a crash.
        const authorize = await cpo.authorize('DE8PSC0UTAGE01')
        assert.ok([200, 503].includes(authorize.httpStatus ?? 0), JSON.stringify(authorize))
        // Give the outbox poll, the push and the decision log time to meet the outage.
        await new Promise((resolve) => setTimeout(resolve, 1500))
      } finally {
        await server.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`)
        await server.end()
        await admin.end()
      }
      await waitFor(async () => (await createKey('DE-8PS-C0UTAGE03')).statusCode === 201, 30_000, 'a key created after the outage')
      await waitFor(() => pushed('DE-8PS-C0UTAGE03'), 30_000, 'the key created after the outage pushed')
      assert.equal((await cpo.authorize('DE8PSC0UTAGE03')).data?.allowed, 'ALLOWED')
      assert.deepEqual(uncaught, [])
    })
  })
}
