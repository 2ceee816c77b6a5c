import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { CpoSimulator } from '../src/sim/cpo.ts'
import { ADMIN_KEY, backends, startTestPlatform, waitFor, type TestPlatform } from './support.ts'

const KEYS = 10_000

for (const backend of backends()) {
  describe(`a newly registered CPO gets every existing token (${backend})`, () => {
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
      t = await startTestPlatform(backend, { OPENPNC_OCPI_PUSH_POLL_MS: '100', OPENPNC_DELIVERY_CONCURRENCY: '32', OPENPNC_DELIVERY_BATCH_SIZE: '1000' }, { listen: true })
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

    test('a CPO registering after 10,000 keys exist receives all of them through the delivery engine', async () => {
      const { cpo, partnerId } = await registered('Push-only CPO', 'ALL')
      await waitFor(() => cpo.tokens.size >= KEYS, 60_000, 'every token at the CPO').catch((error: Error) => {
        throw new Error(`${error.message} (${cpo.tokens.size} arrived)`)
      })
      assert.equal(cpo.tokens.size, KEYS)
      const seeded = await sql<{ contract_id: string }>`SELECT contract_id FROM charging_keys`.execute(t.platform.db)
      const contracts = new Set([...cpo.tokens.values()].map((token) => token.contract_id))
      assert.ok(
        seeded.rows.every((k) => contracts.has(k.contract_id)),
        'each key arrived as a token',
      )
      const status = await admin('GET', `/admin/v1/ocpi/partners/${partnerId}`)
      await waitFor(async () => (await admin('GET', `/admin/v1/ocpi/partners/${partnerId}`)).json().delivery.backlog === 0, 10_000, 'no backlog')
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
  })
}
