import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { backends, startTestPlatform, type TestPlatform } from './support.ts'

for (const backend of backends()) {
  describe(`users (${backend})`, () => {
    let t: TestPlatform
    let apiKey: string

    before(async () => {
      t = await startTestPlatform(backend)
      apiKey = (await t.createOrganization()).apiKey
    })
    after(() => t.close())

    const post = (payload: unknown) => t.request(apiKey, { method: 'POST', url: '/v1/users', payload: payload as object })

    test("a user is created under the partner's own ID, with a virtual charging key", async () => {
      const created = await post({ id: 'fleet:4711', email: 'driver@example.com' })
      assert.equal(created.statusCode, 201)
      assert.equal(created.json().id, 'fleet:4711')
      assert.equal(created.json().email, 'driver@example.com')
      const keys = (await t.request(apiKey, { method: 'GET', url: '/v1/users/fleet:4711/charging-keys' })).json().keys
      assert.equal(keys.length, 1)
      assert.equal(keys[0].type, 'virtual')
    })

    test('the same user ID twice is a 409 user_exists', async () => {
      const again = await post({ id: 'fleet:4711' })
      assert.equal(again.statusCode, 409)
      assert.equal(again.json().error.code, 'user_exists')
    })

    test('an email already used in the organization is a 409 email_taken, in any case', async () => {
      const again = await post({ id: 'other', email: 'DRIVER@example.com' })
      assert.equal(again.statusCode, 409)
      assert.equal(again.json().error.code, 'email_taken')
    })

    test('an invalid user ID or email is a 400 naming the field', async () => {
      const badId = await post({ id: 'has/slash' })
      assert.equal(badId.statusCode, 400)
      assert.match(badId.json().error.message, /^id /)
      const badEmail = await post({ id: 'ok', email: 'not-an-email' })
      assert.equal(badEmail.statusCode, 400)
      assert.match(badEmail.json().error.message, /email/)
    })

    test('GET returns the user; PATCH changes the email; an unknown user is a 404', async () => {
      const got = await t.request(apiKey, { method: 'GET', url: '/v1/users/fleet:4711' })
      assert.equal(got.json().email, 'driver@example.com')
      const patched = await t.request(apiKey, { method: 'PATCH', url: '/v1/users/fleet:4711', payload: { email: 'new@example.com' } })
      assert.equal(patched.statusCode, 200)
      assert.equal(patched.json().email, 'new@example.com')
      const missing = await t.request(apiKey, { method: 'GET', url: '/v1/users/nobody' })
      assert.equal(missing.statusCode, 404)
      assert.equal(missing.json().error.code, 'user_not_found')
    })

    test("PATCH to another user's email is a 409", async () => {
      await post({ id: 'second', email: 'second@example.com' })
      const response = await t.request(apiKey, { method: 'PATCH', url: '/v1/users/fleet:4711', payload: { email: 'second@example.com' } })
      assert.equal(response.statusCode, 409)
    })

    test("DELETE disables the user's keys and removes the user; the ID can be used again", async () => {
      await t.request(apiKey, {
        method: 'POST',
        url: '/v1/users/second/charging-keys/plug-and-charge',
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-DELUSER01' },
      })
      const deleted = await t.request(apiKey, { method: 'DELETE', url: '/v1/users/second' })
      assert.equal(deleted.statusCode, 204)
      assert.equal((await t.request(apiKey, { method: 'GET', url: '/v1/users/second' })).statusCode, 404)
      assert.equal((await t.request(apiKey, { method: 'GET', url: '/v1/users/second/charging-keys' })).statusCode, 404)
      const rows = await t.platform.db
        .selectFrom('charging_keys')
        .select(['enabled', 'deleted_at'])
        .where('emaid_identity', '=', 'DE8PSDELUSER01')
        .execute()
      assert.deepEqual(
        rows.map((r) => [r.enabled, r.deleted_at !== null]),
        [[false, true]],
      )
      assert.equal((await post({ id: 'second' })).statusCode, 201)
    })
  })
}
