import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { after, before, describe, test } from 'node:test'
import { ADMIN_KEY, backends, startTestPlatform, type TestPlatform } from './support.ts'

for (const backend of backends()) {
  describe(`API keys and organization scoping (${backend})`, () => {
    let t: TestPlatform
    let acme: { id: string; apiKey: string }
    let other: { id: string; apiKey: string }

    before(async () => {
      t = await startTestPlatform(backend)
      acme = await t.createOrganization({ name: 'ACME', contractIdPrefixes: ['DE-ACM'] })
      other = await t.createOrganization({ name: 'Other', contractIdPrefixes: ['DE-OTH'] })
      await t.request(acme.apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'shared-id' } })
    })
    after(() => t.close())

    test('a request without X-API-Key is a 401 missing_api_key', async () => {
      const response = await t.app.inject({ method: 'GET', url: '/v1/users/shared-id' })
      assert.equal(response.statusCode, 401)
      assert.equal(response.json().error.code, 'missing_api_key')
    })

    test('an unknown or malformed key is a 401 invalid_api_key', async () => {
      for (const key of ['nonsense', `${acme.apiKey.slice(0, -1)}x`, 'opk_0000000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA']) {
        const response = await t.request(key, { method: 'GET', url: '/v1/users/shared-id' })
        assert.equal(response.statusCode, 401, key)
        assert.equal(response.json().error.code, 'invalid_api_key')
      }
    })

    test("another organization's user is a 404, exactly like a user that does not exist", async () => {
      const foreign = await t.request(other.apiKey, { method: 'GET', url: '/v1/users/shared-id' })
      assert.equal(foreign.statusCode, 404)
      assert.equal(foreign.json().error.code, 'user_not_found')
      const foreignKeys = await t.request(other.apiKey, { method: 'GET', url: '/v1/users/shared-id/charging-keys' })
      assert.equal(foreignKeys.statusCode, 404)
      // and the same user ID can exist in both organizations
      const own = await t.request(other.apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'shared-id' } })
      assert.equal(own.statusCode, 201)
    })

    test('a key without the needed scope is a 403 missing_scope', async () => {
      const issued = await t.app.inject({
        method: 'POST',
        url: `/admin/v1/organizations/${acme.id}/api-keys`,
        headers: { 'x-api-key': ADMIN_KEY },
        payload: { scopes: ['users'] },
      })
      assert.equal(issued.statusCode, 201)
      const usersOnly = issued.json().apiKey
      assert.equal((await t.request(usersOnly, { method: 'GET', url: '/v1/users/shared-id' })).statusCode, 200)
      const keys = await t.request(usersOnly, { method: 'GET', url: '/v1/users/shared-id/charging-keys' })
      assert.equal(keys.statusCode, 403)
      assert.equal(keys.json().error.code, 'missing_scope')
      assert.match(keys.json().error.message, /charging-keys/)
    })

    test('an unknown scope is a 400 naming it', async () => {
      const response = await t.app.inject({
        method: 'POST',
        url: `/admin/v1/organizations/${acme.id}/api-keys`,
        headers: { 'x-api-key': ADMIN_KEY },
        payload: { scopes: ['users', 'everything'] },
      })
      assert.equal(response.statusCode, 400)
      assert.match(response.json().error.message, /scopes\[1\]/)
    })

    test('a revoked key stops working at once', async () => {
      const issued = (
        await t.app.inject({
          method: 'POST',
          url: `/admin/v1/organizations/${acme.id}/api-keys`,
          headers: { 'x-api-key': ADMIN_KEY },
          payload: {},
        })
      ).json()
      assert.equal((await t.request(issued.apiKey, { method: 'GET', url: '/v1/users/shared-id' })).statusCode, 200)
      const revoked = await t.app.inject({
        method: 'DELETE',
        url: `/admin/v1/organizations/${acme.id}/api-keys/${issued.id}`,
        headers: { 'x-api-key': ADMIN_KEY },
      })
      assert.equal(revoked.statusCode, 204)
      assert.equal((await t.request(issued.apiKey, { method: 'GET', url: '/v1/users/shared-id' })).statusCode, 401)
    })

    test("an organization cannot revoke another organization's key: 404", async () => {
      const listed = await t.app.inject({
        method: 'GET',
        url: `/admin/v1/organizations/${other.id}/api-keys`,
        headers: { 'x-api-key': ADMIN_KEY },
      })
      const otherKeyId = listed.json().apiKeys[0].id
      const response = await t.request(acme.apiKey, { method: 'DELETE', url: `/v1/api-keys/${otherKeyId}` })
      assert.equal(response.statusCode, 404)
      assert.equal((await t.request(other.apiKey, { method: 'GET', url: '/v1/users/shared-id' })).statusCode, 200)
    })

    test('an organization with the admin scope manages its own keys; the secret is shown once and stored hashed', async () => {
      const created = await t.request(acme.apiKey, { method: 'POST', url: '/v1/api-keys', payload: { scopes: ['geosearch'] } })
      assert.equal(created.statusCode, 201)
      const { id, apiKey } = created.json()
      const listed = (await t.request(acme.apiKey, { method: 'GET', url: '/v1/api-keys' })).json().apiKeys
      const entry = listed.find((k: { id: string }) => k.id === id)
      assert.deepEqual(entry.scopes, ['geosearch'])
      assert.equal(JSON.stringify(listed).includes(apiKey), false)
      const stored = await t.platform.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirstOrThrow()
      // opk_<16 hex id>_<secret>: only the secret's SHA-256 is stored
      const secret = apiKey.slice('opk_'.length + 16 + 1)
      assert.equal(secret.length, 32)
      assert.deepEqual(Buffer.from(stored.secret_sha256), createHash('sha256').update(secret).digest())
      assert.equal(JSON.stringify(stored).includes(secret), false)
    })

    test('organization keys cannot use the admin API, and the admin key cannot act as an organization', async () => {
      const asOrg = await t.request(acme.apiKey, { method: 'GET', url: '/admin/v1/organizations' })
      assert.equal(asOrg.statusCode, 403)
      assert.equal(asOrg.json().error.code, 'platform_key_required')
      const asAdmin = await t.request(ADMIN_KEY, { method: 'GET', url: '/v1/users/shared-id' })
      assert.equal(asAdmin.statusCode, 403)
      assert.equal(asAdmin.json().error.code, 'organization_key_required')
    })

    test('a disabled organization is refused with 403 organization_disabled', async () => {
      const org = await t.createOrganization({ name: 'Soon off', contractIdPrefixes: ['DE-OFF'] })
      await t.app.inject({
        method: 'PATCH',
        url: `/admin/v1/organizations/${org.id}`,
        headers: { 'x-api-key': ADMIN_KEY },
        payload: { enabled: false },
      })
      const response = await t.request(org.apiKey, { method: 'GET', url: '/v1/users/x' })
      assert.equal(response.statusCode, 403)
      assert.equal(response.json().error.code, 'organization_disabled')
    })

    test('the admin API creates, lists, reads and updates organizations', async () => {
      const headers = { 'x-api-key': ADMIN_KEY }
      const created = await t.app.inject({
        method: 'POST',
        url: '/admin/v1/organizations',
        headers,
        payload: { name: 'Fleet', plugAndCharge: { enabled: true }, contractIdPrefixes: ['nl-flt'], emaidPrefix: 'NL-FLT' },
      })
      assert.equal(created.statusCode, 201)
      const org = created.json().organization
      assert.deepEqual(org.contractIdPrefixes, ['NL-FLT'])
      assert.equal(org.emaidPrefix, 'NL-FLT')
      assert.equal(org.duplicateContractIds, 'reject')
      assert.equal(org.checkDigit, 'lenient')
      assert.match(created.json().apiKey, /^opk_/)
      const patched = await t.app.inject({
        method: 'PATCH',
        url: `/admin/v1/organizations/${org.id}`,
        headers,
        payload: { checkDigit: 'strict', contractIdPrefixes: ['NL-FLT', 'NL-FL2'] },
      })
      assert.equal(patched.json().checkDigit, 'strict')
      assert.equal(patched.json().name, 'Fleet')
      assert.deepEqual(patched.json().contractIdPrefixes, ['NL-FLT', 'NL-FL2'])
      const list = await t.app.inject({ method: 'GET', url: '/admin/v1/organizations', headers })
      assert.ok(list.json().organizations.some((o: { id: string }) => o.id === org.id))
      const missing = await t.app.inject({ method: 'GET', url: '/admin/v1/organizations/00000000-0000-0000-0000-000000000000', headers })
      assert.equal(missing.statusCode, 404)
      const notUuid = await t.app.inject({ method: 'GET', url: '/admin/v1/organizations/nope', headers })
      assert.equal(notUuid.statusCode, 404)
    })

    test('invalid organization settings are a 400 naming the field', async () => {
      const headers = { 'x-api-key': ADMIN_KEY }
      const badPrefix = await t.app.inject({
        method: 'POST',
        url: '/admin/v1/organizations',
        headers,
        payload: { name: 'X', contractIdPrefixes: ['DE-8PS', '8'] },
      })
      assert.equal(badPrefix.statusCode, 400)
      assert.match(badPrefix.json().error.message, /contractIdPrefixes\[1\]/)
      const badPolicy = await t.app.inject({
        method: 'POST',
        url: '/admin/v1/organizations',
        headers,
        payload: { name: 'X', checkDigit: 'sometimes' },
      })
      assert.equal(badPolicy.statusCode, 400)
      assert.match(badPolicy.json().error.message, /checkDigit/)
      const badEmaidPrefix = await t.app.inject({
        method: 'POST',
        url: '/admin/v1/organizations',
        headers,
        payload: { name: 'X', emaidPrefix: 'DE-8P' },
      })
      assert.equal(badEmaidPrefix.statusCode, 400)
      assert.equal(badEmaidPrefix.json().error.code, 'invalid_emaid_prefix')
    })
  })
}
