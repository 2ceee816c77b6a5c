import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import type { LightMyRequestResponse } from 'fastify'
import { backends, startTestPlatform, type TestPlatform } from './support.ts'

/**
 * Many callers racing for one identifier (a contract ID, a user ID, an RFID UID): exactly one
 * wins, every other one gets its 409 at once. On PostgreSQL, concurrent inserts into an exclusion
 * constraint wait for each other and deadlock unless they are put in one order first.
 */
const CALLERS = 50
const ROUNDS = 5

function tally(responses: LightMyRequestResponse[]) {
  const counts = new Map<number, number>()
  for (const r of responses) counts.set(r.statusCode, (counts.get(r.statusCode) ?? 0) + 1)
  return Object.fromEntries(counts)
}

function assertOneWinner(responses: LightMyRequestResponse[], conflictCode: string) {
  assert.deepEqual(tally(responses), { 201: 1, 409: responses.length - 1 }, responses.find((r) => r.statusCode >= 500)?.body)
  for (const r of responses.filter((r) => r.statusCode === 409)) assert.equal(r.json().error.code, conflictCode)
}

/** A contract ID of the sandbox prefix, distinct per round. */
const contractId = (round: number) => `DE-8PS-C${String(round).padStart(8, '0')}`

for (const backend of backends()) {
  describe(`concurrent creates of one identifier (${backend})`, () => {
    let t: TestPlatform
    let first: { id: string; apiKey: string }
    let second: { id: string; apiKey: string }

    before(async () => {
      t = await startTestPlatform(backend)
      first = await t.createOrganization()
      second = await t.createOrganization({ name: 'Other Mobility' })
      for (const org of [first, second]) {
        for (let i = 0; i < CALLERS; i++) {
          const created = await t.request(org.apiKey, { method: 'POST', url: '/v1/users', payload: { id: `driver-${i}` } })
          assert.equal(created.statusCode, 201, created.body)
        }
      }
    })
    after(() => t.close())

    const createPlugAndCharge = (apiKey: string, user: number, contract: string) =>
      t.request(apiKey, {
        method: 'POST',
        url: `/v1/users/driver-${user}/charging-keys/plug-and-charge`,
        payload: { pcid: `WDBRF61J21F${String(100000 + user)}`, contractId: contract },
      })

    test('50 users of one organization registering one contract at once get one 201 and 49 contract_id_exists', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const responses = await Promise.all(
          Array.from({ length: CALLERS }, (_, i) => createPlugAndCharge(first.apiKey, i, contractId(round))),
        )
        assertOneWinner(responses, 'contract_id_exists')
      }
    })

    test('users of two organizations registering one contract at once get one 201 and contract_id_exists for the rest', async () => {
      for (let round = 10; round < 10 + ROUNDS; round++) {
        const responses = await Promise.all(
          Array.from({ length: CALLERS }, (_, i) => createPlugAndCharge(i % 2 ? second.apiKey : first.apiKey, i, contractId(round))),
        )
        assertOneWinner(responses, 'contract_id_exists')
        const stored = await t.platform.db
          .selectFrom('charging_keys')
          .select('id')
          .where('emaid_identity', '=', contractId(round).replaceAll('-', ''))
          .execute()
        assert.equal(stored.length, 1)
      }
    })

    test('50 creates of one user ID at once give one 201 and 49 user_exists', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const responses = await Promise.all(
          Array.from({ length: CALLERS }, () =>
            t.request(first.apiKey, { method: 'POST', url: '/v1/users', payload: { id: `racer-${round}` } }),
          ),
        )
        assertOneWinner(responses, 'user_exists')
      }
    })

    test('50 RFID keys with one UID at once give one 201 and 49 key_identifier_exists', async () => {
      for (let round = 0; round < ROUNDS; round++) {
        const uid = `04A1B2C3D4E5${String(round).padStart(2, '0')}`
        const responses = await Promise.all(
          Array.from({ length: CALLERS }, (_, i) =>
            t.request(first.apiKey, {
              method: 'POST',
              url: `/v1/users/driver-${i}/charging-keys`,
              // each card its own contract, so only the UID is contended
              payload: { keyIdentifier: uid, contractId: `DE-8PS-R${String(round * 100 + i).padStart(8, '0')}`, visualNumber: `${i}` },
            }),
          ),
        )
        assertOneWinner(responses, 'key_identifier_exists')
      }
    })

    test('50 RFID keys with one UID and one contract at once give one 201 and 409s', async () => {
      const responses = await Promise.all(
        Array.from({ length: CALLERS }, (_, i) =>
          t.request(first.apiKey, {
            method: 'POST',
            url: `/v1/users/driver-${i}/charging-keys`,
            payload: { keyIdentifier: '04A1B2C3D4E5FF', contractId: 'DE-8PS-R99999999', visualNumber: `${i}` },
          }),
        ),
      )
      assert.deepEqual(tally(responses), { 201: 1, 409: CALLERS - 1 })
      for (const r of responses.filter((r) => r.statusCode === 409)) {
        assert.ok(['contract_id_exists', 'key_identifier_exists'].includes(r.json().error.code), r.body)
      }
    })
  })
}
