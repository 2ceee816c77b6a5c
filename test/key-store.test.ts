import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { parsePresentedIdentifier, type ClaimedKind } from '../src/core/authorization/presented.ts'
import { ADMIN_KEY, backends, startTestPlatform, type TestPlatform } from './support.ts'

/**
 * Every write path of charging keys, each followed by the very next authorization on the same
 * instance. The key directory's outbox poll is an hour apart here, so only the key store's report
 * of the change can make that authorization see it.
 */
for (const backend of backends()) {
  describe(`every key change counts at the next authorization on this instance (${backend})`, () => {
    let t: TestPlatform
    let apiKey: string
    let organizationId: string

    before(async () => {
      t = await startTestPlatform(backend, { OPENPNC_KEY_DIRECTORY_POLL_MS: '3600000' })
      ;({ id: organizationId, apiKey } = await t.createOrganization())
    })
    after(() => t.close())

    const authorize = async (text: string, claimed: ClaimedKind = 'emaid') =>
      (
        await t.platform.authorization.authorize({
          protocol: 'ocpi',
          partnerId: null,
          presented: parsePresentedIdentifier(text, claimed),
          tokenUid: text,
          tokenType: null,
        })
      ).allowed
    const drive = (method: 'POST' | 'PATCH' | 'DELETE' | 'GET', url: string, payload?: object) =>
      t.request(apiKey, { method, url, ...(payload && { payload }) })
    const createUser = async (id: string) => {
      assert.equal((await drive('POST', '/v1/users', { id })).statusCode, 201)
      const keys = (await drive('GET', `/v1/users/${id}/charging-keys`)).json().keys
      return keys[0].contractId as string
    }
    const setOrganizationEnabled = async (enabled: boolean) => {
      const response = await t.app.inject({
        method: 'PATCH',
        url: `/admin/v1/organizations/${organizationId}`,
        headers: { 'x-api-key': ADMIN_KEY },
        payload: { enabled },
      })
      assert.equal(response.statusCode, 200)
    }

    test('the directory answers from memory: a key disabled behind the platform (SQL) still counts as enabled', async () => {
      const contractId = await createUser('unwatched')
      assert.equal(await authorize(contractId), 'ALLOWED')
      await t.platform.db.updateTable('charging_keys').set({ enabled: false }).where('contract_id', '=', contractId).execute()
      assert.equal(t.platform.keyDirectory.state.complete, true)
      assert.equal(await authorize(contractId), 'ALLOWED', 'nothing but the key store tells this directory of a change')
    })

    test("a created user's virtual key is ALLOWED", async () => {
      const contractId = await createUser('driver')
      assert.equal(await authorize(contractId), 'ALLOWED')
    })

    test('a created Plug&Charge key is ALLOWED where its EMAID was UNKNOWN', async () => {
      assert.equal(await authorize('DE8PSSTORE0001'), 'UNKNOWN')
      const created = await drive('POST', '/v1/users/driver/charging-keys/plug-and-charge', {
        pcid: 'WDBRF61J21F123456',
        contractId: 'DE-8PS-STORE0001',
      })
      assert.equal(created.statusCode, 201)
      assert.equal(await authorize('DE8PSSTORE0001'), 'ALLOWED')
    })

    test('a created RFID key is ALLOWED by its UID where the UID was UNKNOWN', async () => {
      assert.equal(await authorize('0a1b2c3d', 'rfid'), 'UNKNOWN')
      const created = await drive('POST', '/v1/users/driver/charging-keys', {
        keyIdentifier: '0a1b2c3d',
        contractId: 'DE-8PS-STORE0002',
        visualNumber: 'CARD 2',
      })
      assert.equal(created.statusCode, 201)
      assert.equal(await authorize('0A1B2C3D', 'rfid'), 'ALLOWED')
    })

    test('a disabled key is BLOCKED, and ALLOWED again once re-enabled', async () => {
      assert.equal((await drive('PATCH', '/v1/users/driver/charging-keys/DE-8PS-STORE0001', { enabled: false })).statusCode, 200)
      assert.equal(await authorize('DE8PSSTORE0001'), 'BLOCKED')
      assert.equal((await drive('PATCH', '/v1/users/driver/charging-keys/DE-8PS-STORE0001', { enabled: true })).statusCode, 200)
      assert.equal(await authorize('DE8PSSTORE0001'), 'ALLOWED')
    })

    test('a key whose validTo is set to now is EXPIRED, and ALLOWED again when its validity is open-ended', async () => {
      const validTo = new Date().toISOString()
      assert.equal((await drive('PATCH', '/v1/users/driver/charging-keys/0A1B2C3D', { validTo })).statusCode, 200)
      assert.equal(await authorize('0A1B2C3D', 'rfid'), 'EXPIRED')
      assert.equal((await drive('PATCH', '/v1/users/driver/charging-keys/0A1B2C3D', { validTo: null })).statusCode, 200)
      assert.equal(await authorize('0A1B2C3D', 'rfid'), 'ALLOWED')
    })

    test('a deleted key is BLOCKED', async () => {
      assert.equal((await drive('DELETE', '/v1/users/driver/charging-keys/0A1B2C3D')).statusCode, 204)
      assert.equal(await authorize('0A1B2C3D', 'rfid'), 'BLOCKED')
    })

    test('every key of a disabled organization is BLOCKED, and ALLOWED again once it is re-enabled', async () => {
      await setOrganizationEnabled(false)
      assert.equal(await authorize('DE8PSSTORE0001'), 'BLOCKED')
      await setOrganizationEnabled(true)
      assert.equal(await authorize('DE8PSSTORE0001'), 'ALLOWED')
    })

    test("a deleted user's keys, virtual and Plug&Charge, are BLOCKED", async () => {
      const virtual = (await drive('GET', '/v1/users/driver/charging-keys')).json().keys.find((k: { type: string }) => k.type === 'virtual')
      assert.equal(await authorize(virtual.contractId), 'ALLOWED')
      assert.equal((await drive('DELETE', '/v1/users/driver')).statusCode, 204)
      assert.equal(await authorize(virtual.contractId), 'BLOCKED')
      assert.equal(await authorize('DE8PSSTORE0001'), 'BLOCKED')
    })
  })
}
