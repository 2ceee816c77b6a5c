import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { request } from 'undici'
import { CpoSimulator } from '../src/sim/cpo.ts'
import { ADMIN_KEY, backends, startTestPlatform, waitFor, type TestPlatform } from './support.ts'
import { assertValidOcpi, isOcpiDateTime, ocpiResponseValidator, ocpiSchema } from './ocpi-spec.ts'

const authorizeResponse = (v: '2.2.1' | '2.3.0', status = 200) =>
  ocpiResponseValidator(v, 'tokens', 'sender-interface', '/tokens/{token_uid}/authorize', 'post', status)

/** The OCPI envelope rules we hold ourselves to (2.2.1's YAML leaves them optional). */
function assertEnvelope(body: { status_code?: unknown; timestamp?: unknown }) {
  assert.equal(typeof body.status_code, 'number')
  assert.ok(
    typeof body.timestamp === 'string' && body.timestamp.endsWith('Z') && isOcpiDateTime(body.timestamp),
    `timestamp ${body.timestamp}`,
  )
}

for (const backend of backends()) {
  describe(`OCPI roaming with a simulated CPO (${backend})`, () => {
    let t: TestPlatform
    let orgKey: string
    let cpo: CpoSimulator
    let versionsUrl: string
    let tokenA: string

    const admin = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
      t.app.inject({ method, url, headers: { 'x-api-key': ADMIN_KEY }, ...(payload && { payload }) })
    const drive = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
      t.request(orgKey, { method, url, ...(payload && { payload }) })

    before(async () => {
      t = await startTestPlatform(backend, {}, { listen: true })
      const org = await t.createOrganization({ name: 'Fleet Mobility' })
      orgKey = org.apiKey
      await drive('POST', '/v1/users', { id: 'driver-1' })
      const partner = await admin('POST', '/admin/v1/ocpi/partners', { name: 'Sim CPO' })
      assert.equal(partner.statusCode, 201)
      ;({ tokenA, versionsUrl } = partner.json())
      cpo = new CpoSimulator({ countryCode: 'NL', partyId: 'SIM' })
      await cpo.start()
    })
    after(async () => {
      await cpo.stop()
      await t.close()
    })

    test('a CPO registers with Token A: we read its endpoints, answer with our credentials, and Token A stops working', async () => {
      const version = await cpo.registerWith(versionsUrl, tokenA)
      assert.equal(version, '2.3.0', 'the highest common version')
      const partners = (await admin('GET', '/admin/v1/ocpi/partners')).json().partners
      const registered = partners.find((p: { name: string }) => p.name === 'Sim CPO')
      assert.equal(registered.status, 'registered')
      assert.equal(registered.version, '2.3.0')
      assert.ok(registered.endpoints.some((e: { identifier: string; role: string }) => e.identifier === 'tokens' && e.role === 'RECEIVER'))
      assert.deepEqual(
        registered.roles.map((r: { role: string; party_id: string }) => [r.role, r.party_id]),
        [['CPO', 'SIM']],
      )
      const withTokenA = await request(versionsUrl, { headers: { authorization: `Token ${Buffer.from(tokenA).toString('base64')}` } })
      assert.equal(withTokenA.statusCode, 401)
      const body = (await withTokenA.body.json()) as { status_code: number; timestamp: string }
      assertEnvelope(body)
    })

    test('versions and version details follow the OCPI schemas and list what the protocol table says', async () => {
      const token = await cpoToken()
      const versions = await ocpiGet(versionsUrl, token)
      assertEnvelope(versions)
      assertValidOcpi(ocpiResponseValidator('2.3.0', 'versions', 'interface', '/versions', 'get', 200), versions)
      assert.deepEqual(
        versions.data.map((v: { version: string }) => v.version),
        ['2.2.1', '2.3.0'],
      )
      for (const v of ['2.2.1', '2.3.0'] as const) {
        const details = await ocpiGet(versions.data.find((x: { version: string }) => x.version === v).url, token)
        assertValidOcpi(ocpiSchema(v, 'versions', 'VersionDetails'), details.data)
        const endpoints = details.data.endpoints.map((e: { identifier: string; role: string }) => `${e.identifier}:${e.role}`).sort()
        assert.deepEqual(endpoints, [
          'cdrs:RECEIVER',
          'credentials:RECEIVER',
          'credentials:SENDER',
          'locations:RECEIVER',
          'sessions:RECEIVER',
          'tokens:SENDER',
        ])
      }
    })

    test('a second POST of credentials is a 405; GET returns our credentials', async () => {
      const token = await cpoToken()
      const url = `${t.platform.publicUrl()}/ocpi/emsp/2.3.0/credentials`
      const again = await request(url, {
        method: 'POST',
        headers: { authorization: `Token ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          token: 'x'.repeat(20),
          url: cpo.versionsUrl,
          roles: [{ role: 'CPO', party_id: 'SIM', country_code: 'NL' }],
        }),
      })
      assert.equal(again.statusCode, 405)
      assertEnvelope((await again.body.json()) as object)
      const ours = await ocpiGet(url, token)
      assertValidOcpi(ocpiSchema('2.3.0', 'credentials', 'Credentials'), ours.data)
      assert.equal(ours.data.token, token)
      assert.deepEqual(
        ours.data.roles.map((r: { role: string; country_code: string; party_id: string }) => [r.role, r.country_code, r.party_id]),
        [['EMSP', 'DE', '8PS']],
      )
    })

    test('a Plug&Charge key is authorized as ALLOWED with the full token, whatever spelling the station sends', async () => {
      await drive('POST', '/v1/users/driver-1/charging-keys/plug-and-charge', {
        pcid: 'WDBRF61J21F123456',
        contractId: 'DE-8PS-C0AD21B13-Q',
      })
      const location = { location_id: 'LOC-1', evse_uids: ['NL*SIM*E1'] }
      for (const [uid, type] of [
        ['DE8PSC0AD21B13Q', 'EMAID'],
        ['DE-8PS-C0AD21B13', 'OTHER'],
        ['de8psc0ad21b13', undefined],
        ['DE8PSC0AD21B13P', 'EMAID'],
      ] as const) {
        const answer = await cpo.authorize(uid, { type, location })
        assert.equal(answer.httpStatus, 200, uid)
        assertValidOcpi(authorizeResponse('2.3.0'), { data: answer.data, status_code: 1000, timestamp: new Date().toISOString() })
        assert.equal(answer.data!.allowed, 'ALLOWED', uid)
        assert.deepEqual(answer.data!.location, location)
        assert.match(answer.data!.authorization_reference, /^[0-9a-f-]{36}$/)
        const token = answer.data!.token
        assert.equal(token.uid, 'DE8PSC0AD21B13Q', 'uid is the compact EMAID with its check character as registered')
        assert.equal(token.contract_id, 'DE-8PS-C0AD21B13-Q')
        assert.equal(token.type, 'EMAID')
        assert.equal(token.whitelist, 'NEVER')
        assert.equal(token.valid, true)
        assert.equal(token.issuer, 'Fleet Mobility')
        assert.deepEqual([token.country_code, token.party_id], ['DE', '8PS'])
      }
    })

    test('responses carry request and correlation IDs and swapped routing headers', async () => {
      const token = await cpoToken()
      const response = await request(`${t.platform.publicUrl()}/ocpi/emsp/2.3.0/tokens/DE8PSC0AD21B13/authorize`, {
        method: 'POST',
        headers: {
          authorization: `Token ${token}`,
          'x-request-id': 'req-1',
          'x-correlation-id': 'corr-1',
          'ocpi-from-country-code': 'NL',
          'ocpi-from-party-id': 'SIM',
          'ocpi-to-country-code': 'DE',
          'ocpi-to-party-id': '8PS',
        },
      })
      assert.equal(response.statusCode, 200)
      assert.equal(response.headers['x-request-id'], 'req-1')
      assert.equal(response.headers['x-correlation-id'], 'corr-1')
      assert.deepEqual(
        [
          response.headers['ocpi-from-country-code'],
          response.headers['ocpi-from-party-id'],
          response.headers['ocpi-to-country-code'],
          response.headers['ocpi-to-party-id'],
        ],
        ['DE', '8PS', 'NL', 'SIM'],
      )
      await response.body.dump()
    })

    test('a disabled key is BLOCKED on the very next authorization', async () => {
      await drive('PATCH', '/v1/users/driver-1/charging-keys/DE8PSC0AD21B13', { enabled: false })
      const blocked = await cpo.authorize('DE8PSC0AD21B13Q', { type: 'EMAID' })
      assert.equal(blocked.data!.allowed, 'BLOCKED')
      assert.equal(blocked.data!.token.valid, false)
      await drive('PATCH', '/v1/users/driver-1/charging-keys/DE8PSC0AD21B13', { enabled: true })
      assert.equal((await cpo.authorize('DE8PSC0AD21B13Q', { type: 'EMAID' })).data!.allowed, 'ALLOWED')
    })

    test('a key past its validTo is EXPIRED', async () => {
      await drive('POST', '/v1/users/driver-1/charging-keys/plug-and-charge', { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-EXPIRED01' })
      await sql`UPDATE charging_keys SET valid_to = now() - interval '1 minute', valid_from = now() - interval '1 day'
                WHERE emaid_identity = 'DE8PSEXPIRED01'`.execute(t.platform.db)
      await waitFor(async () => (await cpo.authorize('DE8PSEXPIRED01')).data?.allowed === 'EXPIRED', 10_000, 'EXPIRED')
    })

    test("a deleted user's keys are BLOCKED", async () => {
      await drive('POST', '/v1/users', { id: 'leaving' })
      await drive('POST', '/v1/users/leaving/charging-keys/plug-and-charge', { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-LEAVING01' })
      assert.equal((await cpo.authorize('DE8PSLEAVING01')).data!.allowed, 'ALLOWED')
      await drive('DELETE', '/v1/users/leaving')
      assert.equal((await cpo.authorize('DE8PSLEAVING01')).data!.allowed, 'BLOCKED')
    })

    test('an RFID key is found by its UID, type RFID or none', async () => {
      await drive('POST', '/v1/users/driver-1/charging-keys', {
        keyIdentifier: '04A1B2C3',
        contractId: 'DE-8PS-RFIDCARD1',
        visualNumber: 'CARD-1',
      })
      for (const type of ['RFID', undefined]) {
        const answer = await cpo.authorize('04a1b2c3', { type })
        assert.equal(answer.data!.allowed, 'ALLOWED')
        assert.equal(answer.data!.token.type, 'RFID')
        assert.equal(answer.data!.token.uid, '04A1B2C3')
        assert.equal(answer.data!.token.visual_number, 'CARD-1')
      }
    })

    test('an unknown token is HTTP 404 with status 2004, and bad parameters are 2001', async () => {
      const token = await cpoToken()
      const unknown = await request(`${t.platform.publicUrl()}/ocpi/emsp/2.3.0/tokens/DE8PSUNKNOWN99/authorize?type=EMAID`, {
        method: 'POST',
        headers: { authorization: `Token ${token}` },
      })
      assert.equal(unknown.statusCode, 404)
      const body = (await unknown.body.json()) as { status_code: number; timestamp: string }
      assert.equal(body.status_code, 2004)
      assertEnvelope(body)
      assertValidOcpi(authorizeResponse('2.3.0', 404), body)
      for (const [path, init] of [
        ['tokens/DE8PSC0AD21B13/authorize?type=BANANA', {}],
        ['tokens/DE8PSC0AD21B13/authorize', { body: '{"location_id": ', headers: { 'content-type': 'application/json' } }],
        ['tokens/DE8PSC0AD21B13/authorize', { body: '{"evse_uids": ["x"]}', headers: { 'content-type': 'application/json' } }],
        ['tokens?limit=many', { method: 'GET' }],
        ['tokens?date_from=yesterday', { method: 'GET' }],
      ] as const) {
        const init2 = init as { method?: string; body?: string; headers?: Record<string, string> }
        const response = await request(`${t.platform.publicUrl()}/ocpi/emsp/2.3.0/${path}`, {
          method: (init2.method ?? 'POST') as 'GET' | 'POST',
          body: init2.body,
          headers: { authorization: `Token ${token}`, ...init2.headers },
        })
        assert.equal(response.statusCode, 400, path)
        const error = (await response.body.json()) as { status_code: number; status_message: string; timestamp: string }
        assert.equal(error.status_code, 2001, path)
        assertEnvelope(error)
      }
    })

    test('a missing or unknown credentials token is HTTP 401, raw and base64 tokens both work', async () => {
      const token = await cpoToken()
      const url = `${t.platform.publicUrl()}/ocpi/emsp/versions`
      assert.equal((await request(url)).statusCode, 401)
      assert.equal((await request(url, { headers: { authorization: 'Token nope' } })).statusCode, 401)
      assert.equal((await request(url, { headers: { authorization: `Token ${token}` } })).statusCode, 200)
      assert.equal((await request(url, { headers: { authorization: `Token ${Buffer.from(token).toString('base64')}` } })).statusCode, 200)
    })

    test('the paginated token list returns every token exactly once across pages', async () => {
      for (let i = 0; i < 23; i++) await drive('POST', '/v1/users/driver-1/charging-keys/plug-and-charge', { pcid: 'WDBRF61J21F123456' })
      const total = Number(
        (
          await t.platform.db
            .selectFrom('charging_keys')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      )
      const token = await cpoToken()
      let url: string | undefined = `${t.platform.publicUrl()}/ocpi/emsp/2.3.0/tokens?limit=7`
      const seen: string[] = []
      const validate = ocpiResponseValidator('2.3.0', 'tokens', 'sender-interface', '/tokens', 'get', 200)
      while (url) {
        const response: Awaited<ReturnType<typeof request>> = await request(url, { headers: { authorization: `Token ${token}` } })
        const body = (await response.body.json()) as {
          data: Array<{ uid: string; last_updated: string }>
          status_code: number
          timestamp: string
        }
        assertValidOcpi(validate, body)
        assertEnvelope(body)
        assert.equal(response.headers['x-total-count'], String(total))
        assert.equal(response.headers['x-limit'], '7')
        assert.ok(body.data.length <= 7)
        seen.push(...body.data.map((d) => d.uid))
        const link = response.headers.link as string | undefined
        url = link ? /<([^>]+)>; rel="next"/.exec(link)?.[1] : undefined
        if (url) assert.match(url, /limit=7/)
      }
      assert.equal(seen.length, total)
      assert.equal(new Set(seen).size, total)
      const pulled = await cpo.pullTokens({ limit: 5 })
      assert.equal(pulled.length, total)
    })

    test('date_from is inclusive and date_to exclusive', async () => {
      const token = await cpoToken()
      const rows = await t.platform.db.selectFrom('charging_keys').select(['updated_at']).orderBy('updated_at').execute()
      const middle = rows[Math.floor(rows.length / 2)]!.updated_at
      const get = async (query: string) => {
        const response = await request(`${t.platform.publicUrl()}/ocpi/emsp/2.3.0/tokens?${query}`, {
          headers: { authorization: `Token ${token}` },
        })
        return ((await response.body.json()) as { data: unknown[] }).data.length
      }
      const from = await get(`date_from=${middle.toISOString()}`)
      const to = await get(`date_to=${middle.toISOString()}`)
      assert.equal(from + to, rows.length)
      assert.equal(from, rows.filter((r) => r.updated_at >= middle).length)
    })

    test('a 2.2.1 CPO gets Plug&Charge tokens of type OTHER, valid against the 2.2.1 schema', async () => {
      const old = new CpoSimulator({ countryCode: 'BE', partyId: 'OLD', versions: ['2.2.1'] })
      await old.start()
      try {
        const partner = (await admin('POST', '/admin/v1/ocpi/partners', { name: 'Old CPO' })).json()
        assert.equal(await old.registerWith(partner.versionsUrl, partner.tokenA), '2.2.1')
        const answer = await old.authorize('DE8PSC0AD21B13Q')
        assert.equal(answer.data!.token.type, 'OTHER')
        assertValidOcpi(authorizeResponse('2.2.1'), { data: answer.data, status_code: 1000, timestamp: new Date().toISOString() })
        const tokens = await old.pullTokens()
        for (const token of tokens) assertValidOcpi(ocpiSchema('2.2.1', 'tokens', 'Token'), token)
        assert.ok(tokens.every((tk) => tk.type !== 'EMAID'))
        // per-partner override
        await admin('PATCH', `/admin/v1/ocpi/partners/${partner.id}`, { emaidTokenType: 'EMAID' })
        assert.equal((await old.authorize('DE8PSC0AD21B13Q')).data!.token.type, 'EMAID')
      } finally {
        await old.stop()
      }
    })

    test('we register with a CPO: highest common version, its token stored, ours handed over', async () => {
      const other = new CpoSimulator({ countryCode: 'FR', partyId: 'CPX', versions: ['2.2.1'] })
      await other.start()
      try {
        const partner = (await admin('POST', '/admin/v1/ocpi/partners', { name: 'CPO we call' })).json()
        const registered = await admin('POST', `/admin/v1/ocpi/partners/${partner.id}/register`, {
          versionsUrl: other.versionsUrl,
          tokenA: other.issueTokenA(),
        })
        assert.equal(registered.statusCode, 200, registered.body)
        assert.equal(registered.json().status, 'registered')
        assert.equal(registered.json().version, '2.2.1')
        assert.equal(other.registeredVersion, '2.2.1')
        assert.equal((await other.authorize('DE8PSC0AD21B13Q')).data!.allowed, 'ALLOWED')
        const stored = await t.platform.db.selectFrom('ocpi_partners').selectAll().where('id', '=', partner.id).executeTakeFirstOrThrow()
        assert.ok(stored.outgoing_token_encrypted?.startsWith('v1.'), 'their token is stored encrypted')
        const unreachable = (await admin('POST', '/admin/v1/ocpi/partners', { name: 'Nobody' })).json()
        const failed = await admin('POST', `/admin/v1/ocpi/partners/${unreachable.id}/register`, {
          versionsUrl: 'http://127.0.0.1:9/versions',
          tokenA: 'abc',
        })
        assert.equal(failed.statusCode, 502)
        assert.equal(failed.json().error.code, 'ocpi_registration_failed')
      } finally {
        await other.stop()
      }
    })

    test('PUT credentials rotates the token; DELETE unregisters', async () => {
      const before = await cpoToken()
      await cpo.updateCredentials()
      const after = await cpoToken()
      assert.notEqual(after, before)
      const versions = `${t.platform.publicUrl()}/ocpi/emsp/versions`
      assert.equal((await request(versions, { headers: { authorization: `Token ${before}` } })).statusCode, 401)
      assert.equal((await request(versions, { headers: { authorization: `Token ${after}` } })).statusCode, 200)
    })

    test('every decision is recorded with the EMAID, the key, the answer and the latency', async () => {
      await t.platform.decisions.flush()
      const rows = await t.platform.db
        .selectFrom('authorization_decisions')
        .selectAll()
        .where('emaid_identity', '=', 'DE8PSC0AD21B13')
        .execute()
      assert.ok(rows.length >= 5)
      assert.ok(rows.every((r) => r.protocol === 'ocpi' && r.partner_id && r.key_id && r.latency_us >= 0))
      assert.ok(rows.some((r) => r.allowed === 'BLOCKED') && rows.some((r) => r.allowed === 'ALLOWED'))
      const unknown = await t.platform.db.selectFrom('authorization_decisions').selectAll().where('allowed', '=', 'UNKNOWN').execute()
      assert.ok(unknown.length >= 1)
    })

    test('DELETE credentials unregisters the CPO: its token stops working', async () => {
      const token = await cpoToken()
      const url = `${t.platform.publicUrl()}/ocpi/emsp/2.3.0/credentials`
      const deleted = await request(url, { method: 'DELETE', headers: { authorization: `Token ${token}` } })
      assert.equal(deleted.statusCode, 200)
      await deleted.body.dump()
      assert.equal((await request(url, { headers: { authorization: `Token ${token}` } })).statusCode, 401)
    })

    async function cpoToken(): Promise<string> {
      return cpo.emspToken!
    }
  })
}

async function ocpiGet(url: string, token: string) {
  const response = await request(url, { headers: { authorization: `Token ${token}` } })
  assert.equal(response.statusCode, 200, url)
  return (await response.body.json()) as { data: any; status_code: number; timestamp: string }
}
