import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { backends, startTestPlatform, type TestPlatform } from './support.ts'

for (const backend of backends()) {
  describe(`charging keys of a user (${backend})`, () => {
    let t: TestPlatform
    let apiKey: string
    const keys = (path = '') => `/v1/users/driver-1/charging-keys${path}`

    before(async () => {
      t = await startTestPlatform(backend)
      apiKey = (await t.createOrganization()).apiKey
      await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'driver-1' } })
      const pnc = await t.request(apiKey, {
        method: 'POST',
        url: keys('/plug-and-charge'),
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-C0AD21B13-P' },
      })
      assert.equal(pnc.statusCode, 201)
    })
    after(() => t.close())

    test('an RFID key is created with its UID, contract ID and visual number', async () => {
      const response = await t.request(apiKey, {
        method: 'POST',
        url: keys(),
        payload: { keyIdentifier: '04a1b2c3d4e5f6', contractId: 'DE-8PS-RFID00001', visualNumber: 'DE-8PS-0001', name: 'Blue card' },
      })
      assert.equal(response.statusCode, 201)
      const key = response.json()
      assert.equal(key.type, 'rfid')
      assert.equal(key.keyId, '04A1B2C3D4E5F6')
      assert.equal(key.keyIdentifier, '04A1B2C3D4E5F6')
      assert.equal(key.contractId, 'DE-8PS-RFID00001')
      assert.equal(key.visualNumber, 'DE-8PS-0001')
      assert.equal(key.name, 'Blue card')
      assert.equal(key.enabled, true)
    })

    test('an RFID UID of another length than 8, 14 or 20 hex characters is a 400', async () => {
      const response = await t.request(apiKey, {
        method: 'POST',
        url: keys(),
        payload: { keyIdentifier: '04A1B2C3D4', contractId: 'DE-8PS-RFID00002', visualNumber: '2' },
      })
      assert.equal(response.statusCode, 400)
      assert.equal(response.json().error.code, 'invalid_key_identifier')
    })

    test('the same RFID UID twice in one organization is a 409', async () => {
      const response = await t.request(apiKey, {
        method: 'POST',
        url: keys(),
        payload: { keyIdentifier: '04A1B2C3D4E5F6', contractId: 'DE-8PS-RFID00003', visualNumber: '3' },
      })
      assert.equal(response.statusCode, 409)
      assert.equal(response.json().error.code, 'key_identifier_exists')
    })

    test('the listing carries all three key types with every field', async () => {
      const response = await t.request(apiKey, { method: 'GET', url: keys() })
      assert.equal(response.statusCode, 200)
      const list = response.json().keys as Array<Record<string, unknown>>
      assert.deepEqual(list.map((k) => k.type).sort(), ['plug_and_charge', 'rfid', 'virtual'])
      for (const key of list) {
        for (const field of ['keyId', 'type', 'contractId', 'enabled', 'name', 'validFrom', 'validTo', 'created', 'updated']) {
          assert.ok(field in key, `${key.type} key lacks ${field}`)
        }
      }
      const pnc = list.find((k) => k.type === 'plug_and_charge')!
      assert.equal(pnc.pcid, 'WDBRF61J21F123456')
      assert.equal(pnc.keyId, 'DE-8PS-C0AD21B13-P')
      const virtual = list.find((k) => k.type === 'virtual')!
      assert.match(String(virtual.contractId), /^DE-8PS-C[0-9A-Z]{8}-[0-9A-Z]$/)
    })

    test('one key is found by key ID or contract ID in any separator and case form', async () => {
      for (const ref of ['DE-8PS-C0AD21B13-P', 'DE8PSC0AD21B13P', 'de8psc0ad21b13', 'DE-8PS-C0AD21B13-Q']) {
        const response = await t.request(apiKey, { method: 'GET', url: keys(`/${ref}`) })
        assert.equal(response.statusCode, 200, ref)
        assert.equal(response.json().keyId, 'DE-8PS-C0AD21B13-P')
      }
      const rfid = await t.request(apiKey, { method: 'GET', url: keys('/04a1b2c3d4e5f6') })
      assert.equal(rfid.json().type, 'rfid')
      const byContract = await t.request(apiKey, { method: 'GET', url: keys('/DE8PSRFID00001') })
      assert.equal(byContract.json().type, 'rfid')
    })

    test('an unknown key is a 404 charging_key_not_found', async () => {
      for (const ref of ['DE-8PS-NOTHERE01', 'not-a-key']) {
        const response = await t.request(apiKey, { method: 'GET', url: keys(`/${ref}`) })
        assert.equal(response.statusCode, 404)
        assert.equal(response.json().error.code, 'charging_key_not_found')
      }
    })

    test('PATCH disables and enables by contract ID in any form; only given fields change', async () => {
      const disabled = await t.request(apiKey, { method: 'PATCH', url: keys('/de8psc0ad21b13p'), payload: { enabled: false } })
      assert.equal(disabled.statusCode, 200)
      assert.equal(disabled.json().enabled, false)
      assert.equal(disabled.json().name, null)
      const renamed = await t.request(apiKey, { method: 'PATCH', url: keys('/DE-8PS-C0AD21B13'), payload: { name: 'ID.4' } })
      assert.equal(renamed.json().enabled, false, 'enabled stays as it was')
      assert.equal(renamed.json().name, 'ID.4')
      const enabled = await t.request(apiKey, { method: 'PATCH', url: keys('/DE-8PS-C0AD21B13-P'), payload: { enabled: true } })
      assert.equal(enabled.json().enabled, true)
    })

    test('setting the current value is a 200 that changes nothing', async () => {
      const before = (await t.request(apiKey, { method: 'GET', url: keys('/DE8PSC0AD21B13') })).json()
      const same = await t.request(apiKey, { method: 'PATCH', url: keys('/DE8PSC0AD21B13'), payload: { enabled: true } })
      assert.equal(same.statusCode, 200)
      assert.deepEqual(same.json(), before)
    })

    test('validTo can be set, cleared, and must follow validFrom', async () => {
      const set = await t.request(apiKey, { method: 'PATCH', url: keys('/DE8PSC0AD21B13'), payload: { validTo: '2031-06-30T12:00:00Z' } })
      assert.equal(set.json().validTo, '2031-06-30T12:00:00.000Z')
      const cleared = await t.request(apiKey, { method: 'PATCH', url: keys('/DE8PSC0AD21B13'), payload: { validTo: null } })
      assert.equal(cleared.json().validTo, null)
      const before = await t.request(apiKey, {
        method: 'PATCH',
        url: keys('/DE8PSC0AD21B13'),
        payload: { validTo: '2001-01-01T00:00:00Z' },
      })
      assert.equal(before.statusCode, 400)
      assert.equal(before.json().error.code, 'invalid_valid_to')
    })

    test('a PATCH with a wrongly typed field is a 400 naming it', async () => {
      const response = await t.request(apiKey, { method: 'PATCH', url: keys('/DE8PSC0AD21B13'), payload: { enabled: 'maybe' } })
      assert.equal(response.statusCode, 400)
      assert.equal(response.json().error.code, 'validation_error')
      assert.match(response.json().error.message, /enabled/)
    })

    test('DELETE removes the key from the listing and answers 204; a second DELETE is a 404', async () => {
      const deleted = await t.request(apiKey, { method: 'DELETE', url: keys('/04A1B2C3D4E5F6') })
      assert.equal(deleted.statusCode, 204)
      assert.equal(deleted.body, '')
      const list = (await t.request(apiKey, { method: 'GET', url: keys() })).json().keys as Array<{ type: string }>
      assert.equal(
        list.some((k) => k.type === 'rfid'),
        false,
      )
      const again = await t.request(apiKey, { method: 'DELETE', url: keys('/04A1B2C3D4E5F6') })
      assert.equal(again.statusCode, 404)
    })

    test("another user's keys are not reachable through this user's path", async () => {
      await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'driver-2' } })
      const response = await t.request(apiKey, { method: 'GET', url: '/v1/users/driver-2/charging-keys/DE8PSC0AD21B13' })
      assert.equal(response.statusCode, 404)
    })
  })
}
