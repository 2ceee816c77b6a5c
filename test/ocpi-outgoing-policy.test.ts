import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { after, before, describe, test } from 'node:test'
import { ADMIN_KEY, backends, startTestPlatform, type TestPlatform } from './support.ts'

const SECRET = 'admin-console-of-an-internal-service'

// Private partner URLs are refused here (the production default); the partner "inside" our
// network is a listener of the test's own on 127.0.0.1.
for (const backend of backends()) {
  describe(`calls to partner URLs on private addresses are refused (${backend})`, () => {
    let t: TestPlatform
    let internal: Server
    let internalUrl: string
    let hits = 0

    before(async () => {
      t = await startTestPlatform(backend, { OPENPNC_ALLOW_PRIVATE_PARTNER_URLS: 'false' })
      internal = createServer((_request, response) => {
        hits++
        response.end(JSON.stringify({ data: [{ version: '2.3.0', url: SECRET }], status_code: 1000, status_message: SECRET }))
      })
      await new Promise<void>((resolve) => internal.listen(0, '127.0.0.1', resolve))
      internalUrl = `http://127.0.0.1:${(internal.address() as { port: number }).port}`
    })
    after(async () => {
      await t.close()
      await new Promise((resolve) => internal.close(resolve))
    })

    const postCredentials = (tokenA: string, url: string) =>
      t.app.inject({
        method: 'POST',
        url: '/ocpi/emsp/2.3.0/credentials',
        headers: { authorization: `Token ${Buffer.from(tokenA).toString('base64')}` },
        payload: { token: 'cpo-token-b', url, roles: [{ role: 'CPO', party_id: 'EVL', country_code: 'NL' }] },
      })

    test('a CPO whose versions URL points at loopback is told its address is not allowed, and nothing is fetched', async () => {
      const partner = await t.createOcpiPartner('Evil CPO')
      for (const url of [`${internalUrl}/versions`, `http://localhost:${new URL(internalUrl).port}/versions`]) {
        const answer = await postCredentials(partner.tokenA, url)
        assert.equal(answer.statusCode, 400)
        const body = answer.json()
        assert.equal(body.status_code, 3001)
        assert.equal(body.status_message, `could not read versions at ${url}: its address is not allowed`)
        assert.doesNotMatch(answer.body, new RegExp(SECRET))
      }
      assert.equal(hits, 0, 'the internal service was never called')
      const stored = (
        await t.app.inject({ method: 'GET', url: `/admin/v1/ocpi/partners/${partner.id}`, headers: { 'x-api-key': ADMIN_KEY } })
      ).json()
      assert.equal(stored.status, 'created', 'not registered; its Token A still works for a proper URL')
    })

    test('IPv6 loopback is refused as well, before a TLS handshake is tried', async () => {
      const partner = await t.createOcpiPartner('IPv6 CPO')
      const answer = await postCredentials(partner.tokenA, 'https://[::1]/versions')
      assert.equal(answer.json().status_message, 'could not read versions at https://[::1]/versions: its address is not allowed')
    })

    test('registering with a CPO at a private address fails naming the address, not quoting it', async () => {
      const partner = await t.createOcpiPartner('Internal CPO')
      const answer = await t.app.inject({
        method: 'POST',
        url: `/admin/v1/ocpi/partners/${partner.id}/register`,
        headers: { 'x-api-key': ADMIN_KEY },
        payload: { versionsUrl: `${internalUrl}/versions`, tokenA: 'their-token-a' },
      })
      assert.equal(answer.statusCode, 502)
      assert.equal(answer.json().error.code, 'ocpi_registration_failed')
      assert.match(answer.json().error.message, /target address 127\.0\.0\.1 is not allowed \(loopback\)/)
      assert.equal(hits, 0)
    })
  })
}
