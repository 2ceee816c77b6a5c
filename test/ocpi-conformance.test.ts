import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { request } from 'undici'
import { OCPI_OPERATIONS, OCPI_VERSIONS } from '../src/protocols/ocpi/protocol.ts'
import { expectedOcpiRoutes } from '../src/protocols/ocpi/server.ts'
import { CpoSimulator } from '../src/sim/cpo.ts'
import { backends, startTestPlatform, type TestPlatform } from './support.ts'
import { assertValidOcpi, isOcpiDateTime, ocpiResponseValidator } from './ocpi-spec.ts'

type Method = 'GET' | 'POST' | 'PUT' | 'DELETE'

for (const backend of backends()) {
  describe(`OCPI conformance of every answer (${backend})`, () => {
    let t: TestPlatform
    let cpo: CpoSimulator
    let token: string
    const base = () => `${t.platform.publicUrl()}/ocpi/emsp`

    async function call(method: Method, url: string, options: { token?: string | null; body?: string } = {}) {
      const auth = options.token === null ? {} : { authorization: `Token ${Buffer.from(options.token ?? token).toString('base64')}` }
      const response = await request(url, {
        method,
        headers: { ...auth, ...(options.body !== undefined && { 'content-type': 'application/json' }) },
        body: options.body,
      })
      const body = (await response.body.json()) as { status_code: number; timestamp: string; data?: unknown }
      // What 2.2.1's YAML leaves optional, we always send.
      assert.equal(typeof body.status_code, 'number', url)
      assert.ok(isOcpiDateTime(body.timestamp) && body.timestamp.endsWith('Z'), `${url}: timestamp ${body.timestamp}`)
      return { status: response.statusCode, body }
    }

    before(async () => {
      t = await startTestPlatform(backend, {}, { listen: true })
      const org = await t.createOrganization()
      await t.request(org.apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'd' } })
      await t.request(org.apiKey, {
        method: 'POST',
        url: '/v1/users/d/charging-keys/plug-and-charge',
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-CONFORM01' },
      })
      await t.request(org.apiKey, {
        method: 'POST',
        url: '/v1/users/d/charging-keys',
        payload: { keyIdentifier: '04A1B2C3', contractId: 'DE-8PS-CONFORM02', visualNumber: '1' },
      })
      const partner = await t.createOcpiPartner('C')
      cpo = new CpoSimulator()
      await cpo.start()
      await cpo.registerWith(partner.versionsUrl, partner.tokenA)
      token = cpo.emspToken!
    })
    after(async () => {
      await cpo.stop()
      await t.close()
    })

    test('the server serves exactly the routes of the OCPI protocol table', () => {
      for (const route of expectedOcpiRoutes()) {
        assert.ok(t.app.hasRoute({ method: route.method, url: route.url }), `${route.method} ${route.url}`)
      }
      const served = t.app
        .printRoutes({ commonPrefix: false })
        .split('\n')
        .map((line) => line.replace(/^[\s│├└─]+/, '').replace(/ \(.*\)$/, ''))
        .filter((url) => url.startsWith('/ocpi/'))
      const expected = new Set(expectedOcpiRoutes().map((r) => r.url))
      for (const url of served) assert.ok(expected.has(url), `${url} is in the protocol table`)
      assert.ok(OCPI_OPERATIONS.length > 0)
    })

    for (const version of OCPI_VERSIONS) {
      test(`${version}: versions, details and credentials answers match the official schemas`, async () => {
        const versions = await call('GET', `${base()}/versions`)
        assertValidOcpi(ocpiResponseValidator(version, 'versions', 'interface', '/versions', 'get', 200), versions.body)
        const details = await call('GET', `${base()}/${version}`)
        assertValidOcpi(ocpiResponseValidator(version, 'versions', 'interface', `/versions/${version}`, 'get', 200), details.body)
        const credentials = await call('GET', `${base()}/${version}/credentials`)
        assertValidOcpi(ocpiResponseValidator(version, 'credentials', 'interface', '/credentials', 'get', 200), credentials.body)
        const again = await call('POST', `${base()}/${version}/credentials`, {
          body: JSON.stringify({ token: 'abcdefgh', url: cpo.versionsUrl, roles: [{ role: 'CPO', party_id: 'SIM', country_code: 'NL' }] }),
        })
        assert.equal(again.status, 405)
        assertValidOcpi(ocpiResponseValidator(version, 'credentials', 'interface', '/credentials', 'post', 405), again.body)
        const unauthorized = await call('GET', `${base()}/${version}/credentials`, { token: 'wrong-token' })
        assert.equal(unauthorized.status, 401)
        assertValidOcpi(ocpiResponseValidator(version, 'credentials', 'interface', '/credentials', 'get', 401), unauthorized.body)
      })

      test(`${version}: token list and authorization answers match the official schemas, errors included`, async () => {
        const list = await call('GET', `${base()}/${version}/tokens?limit=1`)
        assertValidOcpi(ocpiResponseValidator(version, 'tokens', 'sender-interface', '/tokens', 'get', 200), list.body)
        const full = await call('GET', `${base()}/${version}/tokens`)
        assertValidOcpi(ocpiResponseValidator(version, 'tokens', 'sender-interface', '/tokens', 'get', 200), full.body)
        assert.ok((full.body.data as Array<{ type: string }>).every((tk) => version === '2.3.0' || tk.type !== 'EMAID'))
        const authorize = (uid: string, query = '', body?: string) =>
          call('POST', `${base()}/${version}/tokens/${uid}/authorize${query}`, { body })
        const path = '/tokens/{token_uid}/authorize'
        for (const [uid, query] of [
          ['DE8PSCONFORM01', ''],
          ['DE-8PS-CONFORM01', `?type=${version === '2.3.0' ? 'EMAID' : 'OTHER'}`],
          ['04A1B2C3', '?type=RFID'],
        ]) {
          const answer = await authorize(uid!, query, JSON.stringify({ location_id: 'L1', evse_uids: ['E1'] }))
          assert.equal(answer.status, 200)
          assertValidOcpi(ocpiResponseValidator(version, 'tokens', 'sender-interface', path, 'post', 200), answer.body)
        }
        const unknown = await authorize('DE8PSNOTKNOWN1')
        assert.equal(unknown.status, 404)
        assertValidOcpi(ocpiResponseValidator(version, 'tokens', 'sender-interface', path, 'post', 404), unknown.body)
        for (const [uid, query, body] of [
          ['X'.repeat(37), '', undefined],
          ['DE8PSCONFORM01', '?type=NOPE', undefined],
          ['DE8PSCONFORM01', '', '{"location_id": 7}'],
          ['DE8PSCONFORM01', '', '[1, 2'],
        ] as const) {
          const bad = await authorize(uid, query, body)
          assert.equal(bad.status, 400, `${uid}${query} ${body}`)
          assert.equal(bad.body.status_code, 2001)
          assertValidOcpi(ocpiResponseValidator(version, 'tokens', 'sender-interface', path, 'post', 400), bad.body)
        }
        const unauthorized = await call('GET', `${base()}/${version}/tokens`, { token: null })
        assert.equal(unauthorized.status, 401)
        assertValidOcpi(ocpiResponseValidator(version, 'tokens', 'sender-interface', '/tokens', 'get', 401), unauthorized.body)
      })
    }

    test("registration that cannot use the CPO's API is refused with 3001, an unknown version with 3002, and a bad body with 2001", async () => {
      const make = async () => (await t.createOcpiPartner('X')).tokenA
      const post = (tokenA: string, body: unknown, version = '2.2.1') =>
        call('POST', `${base()}/${version}/credentials`, { token: tokenA, body: JSON.stringify(body) })
      const unreachable = await post(await make(), {
        token: 'their-token-1',
        url: 'http://127.0.0.1:9/versions',
        roles: [{ role: 'CPO', party_id: 'ABC', country_code: 'NL' }],
      })
      assert.equal(unreachable.status, 400)
      assert.equal(unreachable.body.status_code, 3001)
      const onlyOld = new CpoSimulator({ versions: ['2.2.1'] })
      await onlyOld.start()
      try {
        const tokenB = onlyOld.issueTokenA()
        const wrongVersion = await post(
          await make(),
          { token: tokenB, url: onlyOld.versionsUrl, roles: [{ role: 'CPO', party_id: 'ABC', country_code: 'NL' }] },
          '2.3.0',
        )
        assert.equal(wrongVersion.body.status_code, 3002)
      } finally {
        await onlyOld.stop()
      }
      for (const body of [
        {},
        { token: 'x', url: 'not a url', roles: [] },
        { token: 'has space', url: 'http://x', roles: [{ role: 'CPO', party_id: 'A', country_code: 'N' }] },
      ]) {
        const bad = await post(await make(), body)
        assert.equal(bad.status, 400)
        assert.equal(bad.body.status_code, 2001, JSON.stringify(body))
      }
    })
  })
}
