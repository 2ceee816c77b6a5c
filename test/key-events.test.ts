import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { backends, startTestPlatform, type TestPlatform } from './support.ts'

for (const backend of backends()) {
  describe(`key events outbox (${backend})`, () => {
    let t: TestPlatform
    let apiKey: string
    const url = (path = '') => `/v1/users/driver-1/charging-keys${path}`

    before(async () => {
      t = await startTestPlatform(backend)
      apiKey = (await t.createOrganization()).apiKey
      await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'driver-1' } })
    })
    after(() => t.close())

    const eventsOf = async (identity: string) => {
      const rows = await t.platform.db
        .selectFrom('key_events as e')
        .innerJoin('charging_keys as k', 'k.id', 'e.key_id')
        .select(['e.seq', 'e.type', 'e.key'])
        .where('k.emaid_identity', '=', identity)
        .orderBy('e.seq')
        .execute()
      return rows.map((r) => ({ seq: BigInt(r.seq), type: r.type, key: r.key }))
    }

    test('every change of a key is an event, in order, carrying the key as it became', async () => {
      await t.request(apiKey, {
        method: 'POST',
        url: url('/plug-and-charge'),
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-EVENTS001' },
      })
      await t.request(apiKey, { method: 'PATCH', url: url('/DE8PSEVENTS001'), payload: { enabled: false } })
      await t.request(apiKey, { method: 'PATCH', url: url('/DE8PSEVENTS001'), payload: { enabled: true } })
      await t.request(apiKey, { method: 'PATCH', url: url('/DE8PSEVENTS001'), payload: { validTo: '2030-01-01T00:00:00Z' } })
      await t.request(apiKey, { method: 'PATCH', url: url('/DE8PSEVENTS001'), payload: { name: 'Car' } })
      await t.request(apiKey, { method: 'DELETE', url: url('/DE8PSEVENTS001') })
      const events = await eventsOf('DE8PSEVENTS001')
      assert.deepEqual(
        events.map((e) => e.type),
        ['created', 'disabled', 'enabled', 'validity_changed', 'updated', 'deleted'],
      )
      for (let i = 1; i < events.length; i++) assert.ok(events[i]!.seq > events[i - 1]!.seq, 'sequence is monotonic')
      assert.equal(events[1]!.key.enabled, false)
      assert.equal(events[5]!.key.enabled, false)
      assert.ok(events[5]!.key.deleted_at)
      assert.equal(events[0]!.key.contract_id, 'DE-8PS-EVENTS001')
      assert.equal(events[0]!.key.pcid, 'WDBRF61J21F123456')
    })

    test('the validity clock writes an expired event when validTo passes and an activated one when validFrom arrives, once each', async () => {
      const soon = (ms: number) => new Date(Date.now() + ms).toISOString()
      await t.request(apiKey, {
        method: 'POST',
        url: url('/plug-and-charge'),
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-CLOCK0001', validTo: soon(300) },
      })
      await t.request(apiKey, {
        method: 'POST',
        url: url('/plug-and-charge'),
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-CLOCK0002' },
      })
      // The Drive API sets no validFrom (the partner documentation has none); other writers may.
      await sql`UPDATE charging_keys SET valid_from = ${soon(300)}::timestamptz WHERE emaid_identity = 'DE8PSCLOCK0002'`.execute(
        t.platform.db,
      )
      await t.platform.keyValidity.runOnce()
      assert.deepEqual(
        (await eventsOf('DE8PSCLOCK0001')).map((e) => e.type),
        ['created'],
        'nothing before the moment',
      )
      await new Promise((resolve) => setTimeout(resolve, 400))
      // Several instances run the clock at once: each moment is written by one of them.
      await Promise.all([t.platform.keyValidity.runOnce(), t.platform.keyValidity.runOnce(), t.platform.keyValidity.runOnce()])
      await t.platform.keyValidity.runOnce()
      const expired = await eventsOf('DE8PSCLOCK0001')
      assert.deepEqual(
        expired.map((e) => e.type),
        ['created', 'expired'],
      )
      assert.equal(expired[1]!.key.contract_id, 'DE-8PS-CLOCK0001', 'the event carries the key')
      assert.deepEqual(
        (await eventsOf('DE8PSCLOCK0002')).map((e) => e.type),
        ['created', 'validity_changed', 'activated'],
      )
    })

    test('a deleted key gets no validity event', async () => {
      await t.request(apiKey, {
        method: 'POST',
        url: url('/plug-and-charge'),
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-CLOCK0003', validTo: new Date(Date.now() + 200).toISOString() },
      })
      await t.request(apiKey, { method: 'DELETE', url: url('/DE8PSCLOCK0003') })
      await new Promise((resolve) => setTimeout(resolve, 300))
      await t.platform.keyValidity.runOnce()
      assert.deepEqual(
        (await eventsOf('DE8PSCLOCK0003')).map((e) => e.type),
        ['created', 'deleted'],
      )
    })

    test('a PATCH that changes nothing writes no event', async () => {
      await t.request(apiKey, {
        method: 'POST',
        url: url('/plug-and-charge'),
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-EVENTS002' },
      })
      await t.request(apiKey, { method: 'PATCH', url: url('/DE8PSEVENTS002'), payload: { enabled: true } })
      assert.deepEqual(
        (await eventsOf('DE8PSEVENTS002')).map((e) => e.type),
        ['created'],
      )
    })

    test('deleting a user writes a deleted event for each of its keys', async () => {
      await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'leaving' } })
      await t.request(apiKey, {
        method: 'POST',
        url: '/v1/users/leaving/charging-keys/plug-and-charge',
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-EVENTS003' },
      })
      await t.request(apiKey, { method: 'DELETE', url: '/v1/users/leaving' })
      assert.deepEqual(
        (await eventsOf('DE8PSEVENTS003')).map((e) => e.type),
        ['created', 'deleted'],
      )
    })

    test('a key changed outside the API still gets its event, because the database writes it', async () => {
      await sql`UPDATE charging_keys SET enabled = false WHERE emaid_identity = 'DE8PSEVENTS002'`.execute(t.platform.db)
      assert.deepEqual(
        (await eventsOf('DE8PSEVENTS002')).map((e) => e.type),
        ['created', 'disabled'],
      )
    })

    test('a key cannot be removed from the database, only tombstoned', async () => {
      await assert.rejects(sql`DELETE FROM charging_keys WHERE emaid_identity = 'DE8PSEVENTS002'`.execute(t.platform.db), /tombstoned/)
    })

    test('a failed change writes no event (same transaction)', async () => {
      const before = await t.platform.db
        .selectFrom('key_events')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
      const conflict = await t.request(apiKey, {
        method: 'POST',
        url: url('/plug-and-charge'),
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-EVENTS001' },
      })
      assert.equal(conflict.statusCode, 201, 'the deleted key freed the EMAID')
      const duplicate = await t.request(apiKey, {
        method: 'POST',
        url: url('/plug-and-charge'),
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-EVENTS001' },
      })
      assert.equal(duplicate.statusCode, 409)
      const afterwards = await t.platform.db
        .selectFrom('key_events')
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
      assert.equal(Number(afterwards.n) - Number(before.n), 1)
    })
  })
}
