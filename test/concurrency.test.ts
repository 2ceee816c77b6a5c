import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { emaidCheckCharacter } from '../src/core/identifiers/index.ts'
import { backends, startTestPlatform, type TestPlatform } from './support.ts'

for (const backend of backends()) {
  describe(`concurrent key creation (${backend})`, () => {
    let t: TestPlatform
    let apiKey: string

    before(async () => {
      t = await startTestPlatform(backend)
      apiKey = (await t.createOrganization()).apiKey
      for (let i = 0; i < 10; i++) await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: `driver-${i}` } })
    })
    after(() => t.close())

    test('50 parallel creates of one contractId give exactly one 201 and 49 409s', async () => {
      const responses = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          t.request(apiKey, {
            method: 'POST',
            url: `/v1/users/driver-${i % 10}/charging-keys/plug-and-charge`,
            // every spelling of the same contract
            payload: { pcid: 'WDBRF61J21F123456', contractId: i % 2 ? 'DE-8PS-C0AD21B13-Q' : 'de8psc0ad21b13' },
          }),
        ),
      )
      const statuses = responses.map((r) => r.statusCode)
      assert.equal(statuses.filter((s) => s === 201).length, 1)
      assert.equal(statuses.filter((s) => s === 409).length, 49)
      const stored = await t.platform.db.selectFrom('charging_keys').select('id').where('emaid_identity', '=', 'DE8PSC0AD21B13').execute()
      assert.equal(stored.length, 1)
    })

    test('2,000 parallel generated EMAIDs are all distinct and valid', async () => {
      const responses = await Promise.all(
        Array.from({ length: 2000 }, (_, i) =>
          t.request(apiKey, {
            method: 'POST',
            url: `/v1/users/driver-${i % 10}/charging-keys/plug-and-charge`,
            payload: { pcid: 'WDBRF61J21F123456' },
          }),
        ),
      )
      assert.deepEqual([...new Set(responses.map((r) => r.statusCode))], [201])
      const contractIds = responses.map((r) => r.json().contractId as string)
      assert.equal(new Set(contractIds).size, 2000)
      for (const contractId of contractIds) {
        assert.match(contractId, /^DE-8PS-C[0-9A-Z]{8}-[0-9A-Z]$/)
        assert.equal(contractId.at(-1), emaidCheckCharacter(contractId.replaceAll('-', '').slice(0, 14)))
      }
    })

    test('a user deleted while keys are being created keeps no enabled key', async () => {
      await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'racing' } })
      const creates = Array.from({ length: 30 }, () =>
        t.request(apiKey, {
          method: 'POST',
          url: '/v1/users/racing/charging-keys/plug-and-charge',
          payload: { pcid: 'WDBRF61J21F123456' },
        }),
      )
      const deletion = t.request(apiKey, { method: 'DELETE', url: '/v1/users/racing' })
      const results = await Promise.all([...creates, deletion])
      for (const r of results) assert.ok([201, 204, 404].includes(r.statusCode), `${r.statusCode} ${r.body}`)
      const live = await t.platform.db
        .selectFrom('charging_keys as k')
        .innerJoin('users as u', 'u.id', 'k.user_id')
        .select('k.id')
        .where('u.external_id', '=', 'racing')
        .where((eb) => eb.or([eb('k.enabled', '=', true), eb('k.deleted_at', 'is', null)]))
        .execute()
      assert.equal(live.length, 0)
    })
  })
}
