import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { InjectOptions } from 'fastify'
import { sql } from 'kysely'
import { openDatabase } from '../src/infra/db/database.ts'
import { migrate } from '../src/infra/db/migrate.ts'
import { IdempotencyStore } from '../src/services/idempotency/idempotency.ts'
import { SecretBox } from '../src/infra/secrets/secret-box.ts'
import { ADMIN_KEY, backends, startTestPlatform, type TestPlatform } from './support.ts'

const box = SecretBox.fromHex('11'.repeat(32))

test('a sealed secret opens only in the context it was sealed for', () => {
  const sealed = box.seal('opk_secret', 'caller-a')
  assert.ok(!sealed.includes('opk_secret'))
  assert.equal(box.open(sealed, 'caller-a'), 'opk_secret')
  assert.throws(() => box.open(sealed, 'caller-b'))
  assert.throws(() => box.open(sealed))
  assert.throws(() => SecretBox.fromHex('22'.repeat(32)).open(sealed, 'caller-a'))
})

test('replays of secrets stored in clear before sealing are dropped on upgrade, and a repeat is told why', async () => {
  const old = await openDatabase({ dataDir: 'memory://' })
  try {
    await migrate(old.db, '0006_search_document_versions')
    // Rows as the store wrote them then: the first answer verbatim.
    for (const [key, body] of [
      ['org', '{"organization":{"id":"o"},"apiKey":"opk_plain_secret"}'],
      ['cpo', '{"id":"p","tokenA":"plain-token-a"}'],
      ['user', '{"id":"driver-1"}'],
    ]) {
      await sql`INSERT INTO idempotency_records (scope, key, request_fingerprint, status_code, response_body)
                VALUES ('platform:admin', ${key}, ${`fp-${key}`}, 201, ${body})`.execute(old.db)
    }
    await migrate(old.db)
    const store = new IdempotencyStore(old.db, box)
    const text = await sql<{ row: string }>`SELECT t::text AS row FROM idempotency_records t`.execute(old.db)
    assert.ok(!text.rows.some((r) => r.row.includes('plain_secret') || r.row.includes('plain-token-a')))
    assert.deepEqual(await store.claim('platform:admin', 'org', 'fp-org'), { outcome: 'unavailable' })
    assert.deepEqual(await store.claim('platform:admin', 'cpo', 'fp-cpo'), { outcome: 'unavailable' })
    assert.deepEqual(await store.claim('platform:admin', 'user', 'fp-user'), {
      outcome: 'replay',
      statusCode: 201,
      body: '{"id":"driver-1"}',
    })
  } finally {
    await old.close()
  }
})

/**
 * API keys and OCPI tokens are shown once and never stored in clear, also not in the replay of
 * an Idempotency-Key: answers that carry a secret are stored encrypted, bound to their caller
 * and key, so a repeat still gets its secret and nothing at rest reveals it.
 */
for (const backend of backends()) {
  describe(`secrets at rest (${backend})`, () => {
    let t: TestPlatform

    before(async () => {
      t = await startTestPlatform(backend)
    })
    after(() => t.close())

    const admin = (options: InjectOptions) => t.request(ADMIN_KEY, options)

    /** Every row of every table, as text. */
    async function everyRowAsText(): Promise<Array<{ table: string; row: string }>> {
      const tables = await sql<{ name: string }>`
        SELECT table_name AS name FROM information_schema.tables
         WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`.execute(t.platform.db)
      assert.ok(tables.rows.some((r) => r.name === 'idempotency_records'))
      const rows: Array<{ table: string; row: string }> = []
      for (const { name } of tables.rows) {
        const result = await sql<{ row: string }>`SELECT t::text AS row FROM ${sql.table(name)} t`.execute(t.platform.db)
        for (const { row } of result.rows) rows.push({ table: name, row })
      }
      return rows
    }

    /** The secret as sent and as an OCPI Authorization header carries it. */
    const spellings = (secret: string) => [secret, Buffer.from(secret).toString('base64')]

    test('no API key, OCPI token or webhook secret created with an Idempotency-Key appears in any table, and repeats still get them', async () => {
      const calls: Array<{ send: () => Promise<{ statusCode: number; body: string }>; secret: (body: any) => string }> = []

      const organization = () =>
        admin({
          method: 'POST',
          url: '/admin/v1/organizations',
          headers: { 'idempotency-key': 'org-1' },
          payload: { name: 'Secret Mobility', plugAndCharge: { enabled: true }, contractIdPrefixes: ['DE-8PS'] },
        })
      const created = await organization()
      assert.equal(created.statusCode, 201, created.body)
      const { organization: org, apiKey } = created.json()
      calls.push({ send: organization, secret: (b) => b.apiKey })

      calls.push({
        send: () =>
          admin({
            method: 'POST',
            url: `/admin/v1/organizations/${org.id}/api-keys`,
            headers: { 'idempotency-key': 'admin-key-1' },
            payload: { scopes: ['users'] },
          }),
        secret: (b) => b.apiKey,
      })
      calls.push({
        send: () =>
          t.request(apiKey, {
            method: 'POST',
            url: '/v1/api-keys',
            headers: { 'idempotency-key': 'own-key-1' },
            payload: { scopes: ['geosearch'] },
          }),
        secret: (b) => b.apiKey,
      })
      calls.push({
        send: () =>
          admin({
            method: 'POST',
            url: '/admin/v1/ocpi/partners',
            headers: { 'idempotency-key': 'cpo-1' },
            payload: { name: 'Secret CPO' },
          }),
        secret: (b) => b.tokenA,
      })
      calls.push({
        send: () =>
          t.request(apiKey, {
            method: 'POST',
            url: '/v1/webhooks',
            headers: { 'idempotency-key': 'webhook-1' },
            payload: { url: 'https://partner.example.com/hooks', events: ['*'] },
          }),
        secret: (b) => b.secret,
      })

      const secrets: string[] = []
      for (const [i, call] of calls.entries()) {
        const first = i === 0 ? created : await call.send()
        assert.equal(first.statusCode, 201, first.body)
        const secret = call.secret(JSON.parse(first.body))
        assert.ok(secret.length >= 20)
        secrets.push(secret)

        const repeat = await call.send()
        assert.equal(repeat.statusCode, 201, repeat.body)
        assert.deepEqual(JSON.parse(repeat.body), JSON.parse(first.body), 'a repeat gets the same answer, secret included')
      }

      const rows = await everyRowAsText()
      for (const secret of secrets) {
        for (const spelling of spellings(secret)) {
          const found = rows.find((r) => r.row.includes(spelling))
          assert.equal(found, undefined, `a secret is stored in clear in table ${found?.table}`)
        }
      }
    })

    test('a stored secret-bearing answer moved to another Idempotency-Key is not replayed', async () => {
      const send = (key: string) =>
        admin({ method: 'POST', url: '/admin/v1/ocpi/partners', headers: { 'idempotency-key': key }, payload: { name: 'Moved CPO' } })
      assert.equal((await send('moved-from')).statusCode, 201)
      assert.equal((await send('moved-to')).statusCode, 201)
      // Someone with write access to the database copies one caller's stored answer to another key.
      await sql`
        UPDATE idempotency_records SET response_body = (SELECT response_body FROM idempotency_records WHERE key = 'moved-from')
         WHERE key = 'moved-to'`.execute(t.platform.db)
      const repeat = await send('moved-to')
      assert.equal(repeat.statusCode, 409, repeat.body)
      assert.equal(repeat.json().error.code, 'idempotent_replay_unavailable')
      assert.match(repeat.json().error.message, /secret/)
      // The original is still replayed.
      assert.equal((await send('moved-from')).headers['idempotent-replayed'], 'true')
    })

    test('answers without a secret are replayed as before', async () => {
      const { apiKey } = await t.createOrganization()
      const send = () =>
        t.request(apiKey, { method: 'POST', url: '/v1/users', headers: { 'idempotency-key': 'user-1' }, payload: { id: 'driver-1' } })
      const first = await send()
      const repeat = await send()
      assert.equal(first.statusCode, 201)
      assert.equal(repeat.headers['idempotent-replayed'], 'true')
      assert.equal(repeat.body, first.body)
    })
  })
}
