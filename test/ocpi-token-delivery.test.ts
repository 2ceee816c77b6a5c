import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { CpoSimulator } from '../src/sim/cpo.ts'
import { ADMIN_KEY, backends, startTestPlatform, waitFor, type TestPlatform } from './support.ts'

const KEYS = 4_000

for (const backend of backends()) {
  describe(`OCPI token delivery: first sync, dead letters (${backend})`, () => {
    let t: TestPlatform
    const cpos: CpoSimulator[] = []
    const admin = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
      t.app.inject({ method, url, headers: { 'x-api-key': ADMIN_KEY }, ...(payload && { payload }) })
    const registered = async (name: string, partyId: string, settings: { pushAllTokens?: boolean } = {}) => {
      const created = await admin('POST', '/admin/v1/ocpi/partners', { name, ...settings })
      assert.equal(created.statusCode, 201, created.body)
      const cpo = new CpoSimulator({ countryCode: 'NL', partyId })
      cpos.push(cpo)
      await cpo.start()
      await cpo.registerWith(created.json().versionsUrl, created.json().tokenA)
      return { cpo, partnerId: created.json().id as string }
    }

    before(async () => {
      t = await startTestPlatform(
        backend,
        { OPENPNC_OCPI_PUSH_POLL_MS: '100', OPENPNC_DELIVERY_CONCURRENCY: '32', OPENPNC_DELIVERY_BATCH_SIZE: '1000' },
        { listen: true },
      )
      const org = await t.createOrganization({ name: 'Many Keys Mobility' })
      assert.equal((await t.request(org.apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'fleet' } })).statusCode, 201)
      // Seeded through the schema, fast: the trigger writes each key's event as an API call would.
      await sql`
        INSERT INTO charging_keys (organization_id, user_id, type, contract_id, emaid_identity)
        SELECT u.organization_id, u.id, 'virtual', 'DE-8PS-S' || lpad(i::text, 8, '0'), 'DE8PSS' || lpad(i::text, 8, '0')
          FROM users u CROSS JOIN generate_series(1, ${KEYS}) AS i
         WHERE u.organization_id = ${org.id}`.execute(t.platform.db)
      // The keys' changes are published before any CPO registers: only the first sync can bring them.
      await waitFor(
        async () => {
          await t.platform.ocpi.push.publisher.publish()
          return (await t.platform.ocpi.push.publisher.pending()) === 0
        },
        15_000,
        'the seeded keys published',
      )
    })
    after(async () => {
      for (const cpo of cpos) await cpo.stop()
      await t.close()
    })

    test('a CPO registering after 4,000 keys exist receives all of them through the delivery engine', async () => {
      // The seeded keys and the app key each user gets.
      const seeded = await sql<{ contract_id: string }>`SELECT contract_id FROM charging_keys`.execute(t.platform.db)
      assert.ok(seeded.rows.length > KEYS)
      const { cpo, partnerId } = await registered('Push-only CPO', 'ALL')
      await waitFor(() => cpo.tokens.size >= seeded.rows.length, 120_000, 'every token at the CPO').catch((error: Error) => {
        throw new Error(`${error.message} (${cpo.tokens.size} arrived)`)
      })
      assert.equal(cpo.tokens.size, seeded.rows.length)
      const contracts = new Set([...cpo.tokens.values()].map((token) => token.contract_id))
      const missing = seeded.rows.filter((k) => !contracts.has(k.contract_id))
      assert.deepEqual(missing, [], 'each key arrived as a token')
      const status = await admin('GET', `/admin/v1/ocpi/partners/${partnerId}`)
      await waitFor(
        async () => (await admin('GET', `/admin/v1/ocpi/partners/${partnerId}`)).json().delivery.backlog === 0,
        10_000,
        'no backlog',
      )
      assert.equal(status.json().pushAllTokens, true, 'on by default')
    })

    test('with pushAllTokens off a registering CPO gets no existing token, only later changes; the flag can be changed', async () => {
      const { cpo, partnerId } = await registered('Pull-only CPO', 'PUL', { pushAllTokens: false })
      const partner = (await admin('GET', `/admin/v1/ocpi/partners/${partnerId}`)).json()
      assert.equal(partner.pushAllTokens, false)
      await t.platform.ocpi.push.runOnce()
      assert.equal((await admin('GET', `/admin/v1/ocpi/partners/${partnerId}`)).json().delivery.backlog, 0)
      assert.equal(cpo.tokens.size, 0)
      // A change after the registration reaches it.
      await sql`UPDATE charging_keys SET name = 'renamed' WHERE contract_id = 'DE-8PS-S00000001'`.execute(t.platform.db)
      await waitFor(() => cpo.tokens.size === 1, 15_000, 'the changed token at the CPO')
      const updated = await admin('PATCH', `/admin/v1/ocpi/partners/${partnerId}`, { pushAllTokens: true })
      assert.equal(updated.statusCode, 200, updated.body)
      assert.equal(updated.json().pushAllTokens, true)
    })

    test('a token that cannot be delivered for good is a dead letter: listed for the admin, counted, and replayed on request', async () => {
      const { cpo, partnerId } = await registered('Changing CPO', 'CHG', { pushAllTokens: false })
      const endpoints = (await admin('GET', `/admin/v1/ocpi/partners/${partnerId}`)).json().endpoints
      // Held while the change is armed, then the partner stops offering a tokens Receiver.
      assert.equal((await admin('POST', `/admin/v1/ocpi/partners/${partnerId}/suspend`)).statusCode, 200)
      await sql`UPDATE charging_keys SET name = 'parked' WHERE contract_id = 'DE-8PS-S00000002'`.execute(t.platform.db)
      await waitFor(
        async () => {
          await t.platform.ocpi.push.runOnce()
          return (await admin('GET', `/admin/v1/ocpi/partners/${partnerId}`)).json().delivery.backlog === 1
        },
        15_000,
        'the change armed for the partner',
      )
      await sql`UPDATE ocpi_partners SET endpoints = ${JSON.stringify(endpoints.filter((e: { identifier: string }) => e.identifier !== 'tokens'))}::jsonb
                 WHERE id = ${partnerId}`.execute(t.platform.db)
      assert.equal((await admin('POST', `/admin/v1/ocpi/partners/${partnerId}/resume`)).statusCode, 200)
      await waitFor(
        async () => (await admin('GET', `/admin/v1/ocpi/partners/${partnerId}`)).json().delivery.deadLetters === 1,
        15_000,
        'the delivery parked',
      )
      const view = (await admin('GET', `/admin/v1/ocpi/partners/${partnerId}`)).json().delivery
      assert.equal(view.backlog, 0, 'a dead letter is not backlog')
      const listed = await admin('GET', `/admin/v1/ocpi/partners/${partnerId}/dead-letters`)
      assert.equal(listed.statusCode, 200, listed.body)
      const keyId = (
        await t.platform.db.selectFrom('charging_keys').select('id').where('contract_id', '=', 'DE-8PS-S00000002').executeTakeFirstOrThrow()
      ).id
      assert.deepEqual(
        listed.json().deadLetters.map((d: { keyId: string; reason: string }) => [d.keyId, d.reason]),
        [[keyId, 'the partner offers no tokens Receiver']],
      )
      // The same, in the engine's view of every destination.
      const destination = `ocpi:${partnerId}`
      const everywhere = (await admin('GET', `/admin/v1/deliveries/dead-letters?destination=${destination}`)).json().deadLetters
      assert.deepEqual(
        everywhere.map((d: { kind: string; subject: string }) => [d.kind, d.subject]),
        [['ocpi-token', `token:${keyId}`]],
      )
      const backlogs = (await admin('GET', '/admin/v1/deliveries')).json().destinations
      assert.equal(backlogs.find((d: { destination: string }) => d.destination === destination).deadLetters, 1)
      const metrics = await t.platform.metrics.registry.metrics()
      assert.match(metrics, new RegExp(`openpnc_delivery_dead_letters\\{destination="ocpi:${partnerId}",kind="ocpi-token"\\} 1`))

      // Fixed: the replay sends the token's current state.
      await sql`UPDATE ocpi_partners SET endpoints = ${JSON.stringify(endpoints)}::jsonb WHERE id = ${partnerId}`.execute(t.platform.db)
      const replayed = await admin('POST', `/admin/v1/ocpi/partners/${partnerId}/dead-letters/replay`, {})
      assert.deepEqual(replayed.json(), { replayed: 1 })
      await waitFor(() => [...cpo.tokens.values()].some((token) => token.contract_id === 'DE-8PS-S00000002'), 15_000, 'the replayed token')
      assert.deepEqual((await admin('GET', `/admin/v1/ocpi/partners/${partnerId}/dead-letters`)).json().deadLetters, [])
      const unknown = await admin('GET', '/admin/v1/ocpi/partners/7c1e9b2a-3d4f-4a5b-8c6d-0e1f2a3b4c5d/dead-letters')
      assert.equal(unknown.statusCode, 404)
    })
  })
}
