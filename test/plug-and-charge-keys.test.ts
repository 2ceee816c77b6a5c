import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { emaidCheckCharacter } from '../src/core/identifiers/index.ts'
import { backends, startTestPlatform, type TestPlatform } from './support.ts'

for (const backend of backends()) {
  describe(`Plug&Charge keys (${backend})`, () => {
    let t: TestPlatform
    let apiKey: string

    before(async () => {
      t = await startTestPlatform(backend)
      apiKey = (await t.createOrganization()).apiKey
      for (const id of ['driver-1', 'driver-2']) {
        const created = await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id } })
        assert.equal(created.statusCode, 201)
      }
    })
    after(() => t.close())

    const create = (userId: string, payload: Record<string, unknown>, key = apiKey) =>
      t.request(key, { method: 'POST', url: `/v1/users/${userId}/charging-keys/plug-and-charge`, payload })

    test("the documentation's example (check character Q, algorithm says P) succeeds by default, stored as given", async () => {
      const response = await create('driver-1', { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-C0AD21B13-Q' })
      assert.equal(response.statusCode, 201)
      assert.deepEqual(response.json(), {
        contractId: 'DE-8PS-C0AD21B13-Q',
        pcid: 'WDBRF61J21F123456',
        keyId: 'DE-8PS-C0AD21B13-Q',
      })
    })

    test('the same contract in any other spelling is a 409 conflict', async () => {
      for (const contractId of ['DE-8PS-C0AD21B13-P', 'DE8PSC0AD21B13P', 'de8psc0ad21b13']) {
        const response = await create('driver-2', { pcid: 'WDBRF61J21F123456', contractId })
        assert.equal(response.statusCode, 409, contractId)
        assert.equal(response.json().error.code, 'contract_id_exists')
      }
    })

    test('a PCID is stored upper-case', async () => {
      const response = await create('driver-1', { pcid: 'wdbrf61j21f1234567', contractId: 'de8psc00000000' })
      assert.equal(response.statusCode, 201)
      assert.equal(response.json().pcid, 'WDBRF61J21F1234567')
      assert.equal(response.json().contractId, 'DE8PSC00000000')
    })

    test('without contractId a new EMAID is generated under the prefix, printed with separators and a valid check character', async () => {
      const response = await create('driver-1', { pcid: 'WDBRF61J21F123456' })
      assert.equal(response.statusCode, 201)
      const { contractId, keyId } = response.json()
      assert.match(contractId, /^DE-8PS-C[0-9A-Z]{8}-[0-9A-Z]$/)
      assert.equal(keyId, contractId)
      const identity = contractId.replaceAll('-', '').slice(0, 14)
      assert.equal(contractId.at(-1), emaidCheckCharacter(identity))
    })

    test("generated EMAIDs use the organization's emaidPrefix, else the platform's", async () => {
      const own = await t.createOrganization({ contractIdPrefixes: ['NL-ABC'], emaidPrefix: 'NL-ABC' })
      await t.request(own.apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'u' } })
      const ownKey = await create('u', { pcid: 'WDBRF61J21F123456' }, own.apiKey)
      assert.match(ownKey.json().contractId, /^NL-ABC-C/)

      const platformDefault = await t.createOrganization({ contractIdPrefixes: ['FR-XYZ'] })
      await t.request(platformDefault.apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'u' } })
      const defaultKey = await create('u', { pcid: 'WDBRF61J21F123456' }, platformDefault.apiKey)
      assert.match(defaultKey.json().contractId, /^DE-8PS-C/)
    })

    test('an invalid PCID is a 400 invalid_pcid naming the field', async () => {
      for (const pcid of ['SHORT', 'WDBRF61J21F12345678', 'WDBRF61J21F12345-']) {
        const response = await create('driver-1', { pcid })
        assert.equal(response.statusCode, 400, pcid)
        assert.equal(response.json().error.code, 'invalid_pcid')
        assert.match(response.json().error.message, /pcid/)
      }
    })

    test('a missing PCID is a 400 naming the field', async () => {
      const response = await create('driver-1', { contractId: 'DE-8PS-C0AD21B14' })
      assert.equal(response.statusCode, 400)
      assert.match(response.json().error.message, /pcid is required/)
    })

    test('a malformed contractId is a 400 invalid_contract_id', async () => {
      for (const contractId of ['DE-8PS', 'DE-8PS-C0AD21B13-PP', '12-8PS-C0AD21B13', 'DE_8PS_C0AD21B13']) {
        const response = await create('driver-1', { pcid: 'WDBRF61J21F123456', contractId })
        assert.equal(response.statusCode, 400, contractId)
        assert.equal(response.json().error.code, 'invalid_contract_id')
        assert.match(response.json().error.message, /contractId/)
      }
    })

    test("a contractId outside the organization's prefixes is a 400 contract_id_prefix_not_allowed", async () => {
      const response = await create('driver-1', { pcid: 'WDBRF61J21F123456', contractId: 'DE-ABC-C0AD21B13' })
      assert.equal(response.statusCode, 400)
      assert.equal(response.json().error.code, 'contract_id_prefix_not_allowed')
      assert.match(response.json().error.message, /DE-8PS/)
    })

    test('with checkDigit strict a wrong check character is a 400 naming the expected one', async () => {
      const strict = await t.createOrganization({ contractIdPrefixes: ['IT-A1B'], checkDigit: 'strict' })
      await t.request(strict.apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'u' } })
      const wrong = await create('u', { pcid: 'WDBRF61J21F123456', contractId: 'IT-A1B-2C3E4F5G6-X' }, strict.apiKey)
      assert.equal(wrong.statusCode, 400)
      assert.equal(wrong.json().error.code, 'check_digit_mismatch')
      assert.equal(wrong.json().error.expected, '4')
      assert.match(wrong.json().error.message, /expected "4"/)
      const right = await create('u', { pcid: 'WDBRF61J21F123456', contractId: 'IT-A1B-2C3E4F5G6-4' }, strict.apiKey)
      assert.equal(right.statusCode, 201)
      const none = await create('u', { pcid: 'WDBRF61J21F123456', contractId: 'IT-A1B-2C3E4F5G7' }, strict.apiKey)
      assert.equal(none.statusCode, 201, 'an EMAID without a check character has nothing to be wrong')
    })

    test('an organization without Plug&Charge gets a 400 plug_and_charge_not_enabled', async () => {
      const off = await t.createOrganization({ contractIdPrefixes: ['ES-ZU8'], plugAndCharge: { enabled: false } })
      await t.request(off.apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'u' } })
      const response = await create('u', { pcid: 'WDBRF61J21F123456' }, off.apiKey)
      assert.equal(response.statusCode, 400)
      assert.equal(response.json().error.code, 'plug_and_charge_not_enabled')
    })

    test('an unknown user is a 404 user_not_found', async () => {
      const response = await create('nobody', { pcid: 'WDBRF61J21F123456' })
      assert.equal(response.statusCode, 404)
      assert.equal(response.json().error.code, 'user_not_found')
    })

    test('with duplicateContractIds allow, two users of one organization may share an EMAID, one user may not hold it twice', async () => {
      const allow = await t.createOrganization({ contractIdPrefixes: ['AT-DUP'], duplicateContractIds: 'allow' })
      for (const id of ['a', 'b']) await t.request(allow.apiKey, { method: 'POST', url: '/v1/users', payload: { id } })
      const first = await create('a', { pcid: 'WDBRF61J21F123456', contractId: 'AT-DUP-000000001' }, allow.apiKey)
      const second = await create('b', { pcid: 'WDBRF61J21F123457', contractId: 'AT-DUP-000000001' }, allow.apiKey)
      assert.equal(first.statusCode, 201)
      assert.equal(second.statusCode, 201)
      const again = await create('a', { pcid: 'WDBRF61J21F123458', contractId: 'ATDUP000000001' }, allow.apiKey)
      assert.equal(again.statusCode, 409)
    })

    test('switching to reject after duplicates were allowed refuses any further key of a shared EMAID', async () => {
      const org = await t.createOrganization({ contractIdPrefixes: ['BE-SWI'], duplicateContractIds: 'allow' })
      for (const id of ['a', 'b', 'c']) await t.request(org.apiKey, { method: 'POST', url: '/v1/users', payload: { id } })
      assert.equal((await create('a', { pcid: 'WDBRF61J21F123456', contractId: 'BE-SWI-000000001' }, org.apiKey)).statusCode, 201)
      await t.app.inject({
        method: 'PATCH',
        url: `/admin/v1/organizations/${org.id}`,
        headers: { 'x-api-key': 'test-admin-key-0123456789abcdef' },
        payload: { duplicateContractIds: 'reject' },
      })
      const refused = await create('b', { pcid: 'WDBRF61J21F123456', contractId: 'BE-SWI-000000001' }, org.apiKey)
      assert.equal(refused.statusCode, 409)
    })

    test('across organizations an EMAID is unique even when both allow duplicates', async () => {
      const one = await t.createOrganization({ contractIdPrefixes: ['CH-SHA'], duplicateContractIds: 'allow' })
      const two = await t.createOrganization({ contractIdPrefixes: ['CH-SHA'], duplicateContractIds: 'allow' })
      for (const org of [one, two]) await t.request(org.apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'u' } })
      assert.equal((await create('u', { pcid: 'WDBRF61J21F123456', contractId: 'CH-SHA-000000001' }, one.apiKey)).statusCode, 201)
      const other = await create('u', { pcid: 'WDBRF61J21F123456', contractId: 'CH-SHA-000000001' }, two.apiKey)
      assert.equal(other.statusCode, 409)
      assert.equal(other.json().error.code, 'contract_id_exists')
    })

    test('a deleted key frees its EMAID for its own organization', async () => {
      await create('driver-2', { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-REUSE0001' })
      const deleted = await t.request(apiKey, { method: 'DELETE', url: '/v1/users/driver-2/charging-keys/DE8PSREUSE0001' })
      assert.equal(deleted.statusCode, 204)
      const again = await create('driver-1', { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-REUSE0001' })
      assert.equal(again.statusCode, 201)
    })

    test('validTo is stored and listed', async () => {
      const response = await create('driver-2', {
        pcid: 'WDBRF61J21F123456',
        contractId: 'DE-8PS-VALID0001',
        validTo: '2030-01-01T00:00:00Z',
      })
      assert.equal(response.statusCode, 201)
      const key = await t.request(apiKey, { method: 'GET', url: '/v1/users/driver-2/charging-keys/DE-8PS-VALID0001' })
      assert.equal(key.json().validTo, '2030-01-01T00:00:00.000Z')
    })
  })
}
