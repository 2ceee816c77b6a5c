import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { decide, refusal } from '../src/core/authorization/decision.ts'
import { CpoSimulator } from '../src/sim/cpo.ts'
import { startTestPlatform, type TestPlatform } from './support.ts'

const standing = (overrides: Partial<Parameters<typeof refusal>[0]> = {}) => ({
  enabled: true,
  deletedAt: null,
  userDeletedAt: null,
  organizationEnabled: true,
  validFrom: new Date('2026-01-01T00:00:00Z'),
  validTo: null,
  ...overrides,
})
const now = new Date('2026-06-01T00:00:00Z')

describe('the authorization decision', () => {
  test('an enabled key within its validity of an enabled organization may charge', () => {
    assert.equal(decide([standing()], now)?.allowed, 'ALLOWED')
  })
  test('a disabled key, a deleted key, a deleted user or a disabled organization is BLOCKED', () => {
    for (const s of [{ enabled: false }, { deletedAt: now }, { userDeletedAt: now }, { organizationEnabled: false }]) {
      assert.equal(decide([standing(s)], now)?.allowed, 'BLOCKED', JSON.stringify(s))
    }
  })
  test('a key past validTo is EXPIRED, one before validFrom NOT_ALLOWED', () => {
    assert.equal(decide([standing({ validTo: now })], now)?.allowed, 'EXPIRED')
    assert.equal(decide([standing({ validFrom: new Date('2027-01-01T00:00:00Z') })], now)?.allowed, 'NOT_ALLOWED')
  })
  test('with several keys for one contract, any key that may charge wins, else the most telling refusal', () => {
    assert.equal(decide([standing({ enabled: false }), standing()], now)?.allowed, 'ALLOWED')
    assert.equal(decide([standing({ enabled: false }), standing({ validTo: now })], now)?.allowed, 'EXPIRED')
  })
  test('no key means the token is unknown', () => {
    assert.equal(decide([], now), null)
  })
})

// Two instances share one database only on PostgreSQL (an embedded database has one owner).
describe('freshness across instances (postgres)', { skip: !process.env.TEST_DATABASE_URL && 'needs TEST_DATABASE_URL' }, () => {
  let a: TestPlatform
  let b: TestPlatform
  let cpoA: CpoSimulator
  let cpoB: CpoSimulator
  let orgKey: string

  before(async () => {
    a = await startTestPlatform('postgres', {}, { listen: true })
    b = await startTestPlatform('postgres', {}, { listen: true, postgresUrl: a.postgresUrl, dataDir: a.dataDir })
    orgKey = (await a.createOrganization()).apiKey
    await a.request(orgKey, { method: 'POST', url: '/v1/users', payload: { id: 'driver' } })
    await a.request(orgKey, {
      method: 'POST',
      url: '/v1/users/driver/charging-keys/plug-and-charge',
      payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-FRESH0001' },
    })
    cpoA = new CpoSimulator({ partyId: 'CPA' })
    cpoB = new CpoSimulator({ partyId: 'CPB' })
    for (const [cpo, instance] of [
      [cpoA, a],
      [cpoB, b],
    ] as const) {
      await cpo.start()
      const partner = await instance.createOcpiPartner('CPO')
      await cpo.registerWith(partner.versionsUrl, partner.tokenA)
    }
  })
  after(async () => {
    await cpoA.stop()
    await cpoB.stop()
    await b.close()
    await a.close()
  })

  test('a key created on one instance is known on the other within one second', async () => {
    await a.request(orgKey, {
      method: 'POST',
      url: '/v1/users/driver/charging-keys/plug-and-charge',
      payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-FRESH0002' },
    })
    const created = Date.now()
    assert.equal((await cpoA.authorize('DE8PSFRESH0002')).data?.allowed, 'ALLOWED', 'the instance that took the change: at once')
    let known = false
    while (!(known = (await cpoB.authorize('DE8PSFRESH0002')).httpStatus === 200) && Date.now() - created < 1000) {
      await new Promise((r) => setTimeout(r, 20))
    }
    assert.ok(known, 'the other instance within one second')
  })

  test('a key disabled on one instance is refused on the other within one second, though both had it cached', async () => {
    for (let round = 0; round < 3; round++) {
      // warm both caches
      assert.equal((await cpoA.authorize('DE8PSFRESH0001')).data!.allowed, 'ALLOWED')
      assert.equal((await cpoB.authorize('DE8PSFRESH0001')).data!.allowed, 'ALLOWED')
      await a.request(orgKey, { method: 'PATCH', url: '/v1/users/driver/charging-keys/DE8PSFRESH0001', payload: { enabled: false } })
      const changed = Date.now()
      assert.equal((await cpoA.authorize('DE8PSFRESH0001')).data!.allowed, 'BLOCKED', 'the instance that took the change: at once')
      let answer = ''
      while ((answer = (await cpoB.authorize('DE8PSFRESH0001')).data!.allowed) !== 'BLOCKED' && Date.now() - changed < 1000) {
        await new Promise((r) => setTimeout(r, 20))
      }
      assert.equal(answer, 'BLOCKED', 'the other instance within one second')
      await a.request(orgKey, { method: 'PATCH', url: '/v1/users/driver/charging-keys/DE8PSFRESH0001', payload: { enabled: true } })
      const enabled = Date.now()
      while ((answer = (await cpoB.authorize('DE8PSFRESH0001')).data!.allowed) !== 'ALLOWED' && Date.now() - enabled < 1000) {
        await new Promise((r) => setTimeout(r, 20))
      }
      assert.equal(answer, 'ALLOWED')
    }
  })
})
