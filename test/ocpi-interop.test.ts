import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { request } from 'undici'
import { sql } from 'kysely'
import { OutgoingHttp } from '../src/infra/http/outgoing.ts'
import { ocpiPages } from '../src/protocols/ocpi/client.ts'
import { routeOcpiUrl } from '../src/protocols/ocpi/server.ts'
import { endpointUrl } from '../src/protocols/ocpi/transport.ts'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabase } from '../src/infra/db/database.ts'
import { migrate } from '../src/infra/db/migrate.ts'
import { derivedColumns } from '../src/services/locations/store.ts'
import { locationFromOcpi, type OcpiLocation } from '../src/protocols/ocpi/locations-mapping.ts'
import { ADMIN_KEY, backends, freshPostgresDatabase, startTestPlatform, waitFor, type TestPlatform } from './support.ts'

describe('OCPI URLs', () => {
  test("a partner's endpoint URL takes path segments with one slash between, whether it ends with a slash or not", () => {
    const expected = 'https://cpo.example/ocpi/2.2.1/tokens/DE/8PS/UID%201?type=RFID'
    for (const endpoint of [
      'https://cpo.example/ocpi/2.2.1/tokens',
      'https://cpo.example/ocpi/2.2.1/tokens/',
      'https://cpo.example/ocpi/2.2.1/tokens//',
      'https://cpo.example//ocpi//2.2.1/tokens',
    ]) {
      const url = endpointUrl(endpoint, 'DE', '8PS', 'UID 1')
      url.searchParams.set('type', 'RFID')
      assert.equal(url.toString(), expected, endpoint)
    }
    assert.equal(endpointUrl('https://cpo.example/tokens?tenant=a', 'DE').toString(), 'https://cpo.example/tokens/DE?tenant=a')
  })

  test('our OCPI paths are routed with duplicate slashes collapsed and a trailing slash dropped; other paths are untouched', () => {
    assert.equal(routeOcpiUrl('/ocpi/emsp/2.2.1/locations//DE/CPO/LOC1'), '/ocpi/emsp/2.2.1/locations/DE/CPO/LOC1')
    assert.equal(routeOcpiUrl('//ocpi//emsp/2.2.1/tokens/?limit=5&x=a//b'), '/ocpi/emsp/2.2.1/tokens?limit=5&x=a//b')
    assert.equal(routeOcpiUrl('/ocpi/emsp/versions'), '/ocpi/emsp/versions')
    assert.equal(routeOcpiUrl('/v1/users//'), '/v1/users//')
  })
})

/** A plain HTTP listener that records every request it receives. */
async function recordingListener(
  answer: (req: IncomingMessage, url: string) => { status?: number; headers?: Record<string, string>; body: unknown },
) {
  const received: Array<{ url: string; authorization?: string }> = []
  const server: Server = createServer((req, res) => {
    received.push({ url: req.url ?? '', authorization: req.headers.authorization })
    const { status = 200, headers = {}, body } = answer(req, req.url ?? '')
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(JSON.stringify(body))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { received, origin, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

const page = (data: unknown) => ({ data, status_code: 1000, timestamp: new Date().toISOString() })

describe('following pagination Links', () => {
  // The listeners are on loopback, which the outgoing policy allows only when told to.
  const http = new OutgoingHttp({ allowPrivateAddresses: true, maxAnswerBytes: 1024 * 1024, timeoutMs: 5000 })
  after(() => http.close())
  test("a next-page Link to another origin is not followed, so the partner's token is never sent there", async () => {
    const elsewhere = await recordingListener(() => ({ body: page([{ stolen: true }]) }))
    const endpoint = await recordingListener(() => ({
      headers: { link: `<${elsewhere.origin}/locations?offset=1>; rel="next"` },
      body: page([{ id: 'first' }]),
    }))
    try {
      const pages: unknown[][] = []
      await assert.rejects(
        (async () => {
          for await (const p of ocpiPages<unknown>(`${endpoint.origin}/locations`, { http, token: 'secret-token', style: 'raw' }))
            pages.push(p)
        })(),
        (error: Error) => {
          assert.match(error.message, /not the endpoint's origin/)
          assert.match(error.message, new RegExp(elsewhere.origin.replaceAll('.', '\\.')))
          return true
        },
      )
      assert.deepEqual(pages, [[{ id: 'first' }]], 'the page before the Link is delivered')
      assert.equal(endpoint.received.length, 1)
      assert.deepEqual(elsewhere.received, [], 'the other origin received nothing')
    } finally {
      await elsewhere.close()
      await endpoint.close()
    }
  })

  test('a next-page Link to another scheme on the same host and port is not followed', async () => {
    let origin = ''
    const endpoint = await recordingListener((_req, url) => ({
      headers: url.includes('offset') ? undefined : { link: `<${origin.replace('http:', 'https:')}/locations?offset=1>; rel="next"` },
      body: page([]),
    }))
    origin = endpoint.origin
    try {
      await assert.rejects(
        (async () => {
          for await (const _ of ocpiPages<unknown>(`${endpoint.origin}/locations`, { http, token: 'secret-token', style: 'raw' }));
        })(),
        /not the endpoint's origin/,
      )
      assert.equal(endpoint.received.length, 1)
    } finally {
      await endpoint.close()
    }
  })

  test('a relative next-page Link is followed within the origin', async () => {
    const endpoint = await recordingListener((_req, url) => ({
      headers: url.includes('offset') ? undefined : { link: '</locations?offset=1>; rel="next"' },
      body: page([url]),
    }))
    try {
      const pages: unknown[][] = []
      for await (const p of ocpiPages<unknown>(`${endpoint.origin}/locations`, { http, token: 't', style: 'raw' })) pages.push(p)
      assert.deepEqual(pages, [['/locations'], ['/locations?offset=1']])
    } finally {
      await endpoint.close()
    }
  })
})

interface CpoRole {
  role: string
  country_code: string
  party_id: string
  business_details: { name: string }
}

const role = (country_code: string, party_id: string): CpoRole => ({
  role: 'CPO',
  country_code,
  party_id,
  business_details: { name: 'CPO' },
})

const location = (ids: { cc: string; party: string; id: string; evse: string }, lastUpdated = '2030-01-01T00:00:00Z') => ({
  country_code: ids.cc,
  party_id: ids.party,
  id: ids.id,
  publish: true,
  address: 'Street 1',
  city: 'Berlin',
  country: 'DEU',
  coordinates: { latitude: '52.520008', longitude: '13.404954' },
  time_zone: 'Europe/Berlin',
  evses: [
    {
      uid: ids.evse,
      status: 'AVAILABLE',
      connectors: [
        {
          id: '1',
          standard: 'IEC_62196_T2',
          format: 'SOCKET',
          power_type: 'AC_3_PHASE',
          max_voltage: 230,
          max_amperage: 32,
          last_updated: lastUpdated,
        },
      ],
      last_updated: lastUpdated,
    },
  ],
  last_updated: lastUpdated,
})

for (const backend of backends()) {
  describe(`OCPI interoperability and party grants (${backend})`, () => {
    let t: TestPlatform
    let cpo: FastifyInstance
    let cpoBase = ''
    /** every path the CPO was called on, as it arrived */
    const cpoCalls: string[] = []
    /** per CPO label: what its locations Sender lists, and whether page 1 links elsewhere */
    const cpoLocations = new Map<string, { items: unknown[]; nextLink?: string }>()
    /** the tokens Receiver of label "tokens": what it holds, keyed by upper-case path, and how it answers a GET */
    const cpoTokens = new Map<string, Record<string, unknown>>()
    let tokenAnswer: 'object' | 'array' | 'garbage' | 'failure' = 'object'
    let elsewhere: Awaited<ReturnType<typeof recordingListener>>

    const admin = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object) =>
      t.app.inject({ method, url, headers: { 'x-api-key': ADMIN_KEY }, ...(payload && { payload }) })

    /** Creates a partner (with the parties the admin grants, if any) and registers a CPO claiming `roles`. */
    async function createPartner(name: string, parties?: string[], settings: { pushAllTokens?: boolean } = {}) {
      const created = await admin('POST', '/admin/v1/ocpi/partners', { name, ...(parties && { parties }), ...settings })
      assert.equal(created.statusCode, 201, created.body)
      return created.json() as { id: string; tokenA: string; versionsUrl: string; partner: { parties: string[] } }
    }

    async function ocpi(method: 'GET' | 'POST' | 'PUT' | 'PATCH', url: string, token: string, body?: unknown) {
      const response = await request(url.startsWith('http') ? url : `${t.platform.publicUrl()}${url}`, {
        method,
        headers: { authorization: `Token ${Buffer.from(token).toString('base64')}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      return {
        status: response.statusCode,
        body: (await response.body.json()) as { status_code: number; status_message?: string; data?: any },
      }
    }

    /** POST (or PUT) credentials as the CPO labelled `label`; the answer and the token it gives us to call it. */
    async function exchange(method: 'POST' | 'PUT', label: string, usingToken: string, roles: CpoRole[]) {
      const cpoToken = `cpo-${label}-${Math.random().toString(36).slice(2)}`
      const answer = await ocpi(method, '/ocpi/emsp/2.2.1/credentials', usingToken, {
        token: cpoToken,
        url: `${cpoBase}/cpo/${label}/versions`,
        roles,
      })
      return answer
    }

    async function register(label: string, roles: CpoRole[], parties?: string[], settings: { pushAllTokens?: boolean } = {}) {
      const partner = await createPartner(label, parties, settings)
      const answer = await exchange('POST', label, partner.tokenA, roles)
      assert.equal(answer.status, 200, JSON.stringify(answer.body))
      return { id: partner.id, token: answer.body.data.token as string }
    }

    const locationRows = async () =>
      (await sql<{ n: number }>`SELECT count(*)::int AS n FROM locations WHERE upper(location_id) = 'LOC1'`.execute(t.platform.db)).rows[0]!
        .n

    before(async () => {
      t = await startTestPlatform(backend, { OPENPNC_OCPI_PUSH_POLL_MS: '100' }, { listen: true })
      elsewhere = await recordingListener(() => ({ body: page([]) }))
      cpo = Fastify({ logger: false })
      cpo.addHook('onRequest', async (req) => {
        cpoCalls.push(req.url)
      })
      cpo.get('/cpo/:label/versions', async (req) =>
        page([{ version: '2.2.1', url: `${cpoBase}/cpo/${(req.params as { label: string }).label}/2.2.1` }]),
      )
      cpo.get('/cpo/:label/2.2.1', async (req) => {
        const { label } = req.params as { label: string }
        const at = `${cpoBase}/cpo/${label}/2.2.1`
        return page({
          version: '2.2.1',
          endpoints: [
            { identifier: 'credentials', role: 'SENDER', url: `${at}/credentials` },
            { identifier: 'locations', role: 'SENDER', url: `${at}/locations` },
            // A tokens Receiver URL ending with a slash: ours must still join cleanly.
            ...(label === 'tokens' ? [{ identifier: 'tokens', role: 'RECEIVER', url: `${at}/tokens/` }] : []),
          ],
        })
      })
      cpo.get('/cpo/:label/2.2.1/locations', async (req, reply) => {
        const listed = cpoLocations.get((req.params as { label: string }).label) ?? { items: [] }
        if (listed.nextLink) reply.header('link', `<${listed.nextLink}>; rel="next"`)
        return page(listed.items)
      })
      cpo.put('/cpo/tokens/2.2.1/tokens/:cc/:party/:uid', async (req, reply) => {
        const { cc, party, uid } = req.params as Record<string, string>
        cpoTokens.set(`${cc}/${party}/${uid}`.toUpperCase(), req.body as Record<string, unknown>)
        return reply.code(201).send(page(undefined))
      })
      cpo.get('/cpo/tokens/2.2.1/tokens/:cc/:party/:uid', async (req, reply) => {
        const { cc, party, uid } = req.params as Record<string, string>
        const held = cpoTokens.get(`${cc}/${party}/${uid}`.toUpperCase())
        if (!held) return reply.code(404).send({ status_code: 2004, status_message: 'Unknown Token', timestamp: new Date().toISOString() })
        if (tokenAnswer === 'array') return page([held])
        if (tokenAnswer === 'garbage') return page('a token, we think')
        if (tokenAnswer === 'failure') return reply.code(500).send('upstream broke')
        return page(held)
      })
      cpoBase = await cpo.listen({ host: '127.0.0.1', port: 0 })
    })
    after(async () => {
      await cpo?.close()
      await elsewhere?.close()
      await t?.close()
    })

    test('a CPO whose credentials say de/cpo writes DE/CPO/LOC1 and reads, replaces and patches it at every depth in any case', async () => {
      const { token } = await register('lower', [role('de', 'cpo')])
      const put = await ocpi(
        'PUT',
        '/ocpi/emsp/2.2.1/locations/DE/CPO/LOC1',
        token,
        location({ cc: 'DE', party: 'CPO', id: 'LOC1', evse: 'EVSE1' }),
      )
      assert.equal(put.status, 201, JSON.stringify(put.body))

      const got = await ocpi('GET', '/ocpi/emsp/2.2.1/locations/de/cpo/loc1', token)
      assert.equal(got.status, 200, JSON.stringify(got.body))
      assert.equal(got.body.data.id, 'LOC1', "the CPO's spelling is kept")
      assert.equal((await ocpi('GET', '/ocpi/emsp/2.2.1/locations/de/cpo/loc1/evse1', token)).body.data.uid, 'EVSE1')
      assert.equal((await ocpi('GET', '/ocpi/emsp/2.2.1/locations/De/Cpo/Loc1/Evse1/1', token)).body.data.id, '1')

      const patchEvse = await ocpi('PATCH', '/ocpi/emsp/2.2.1/locations/de/cpo/loc1/evse1', token, {
        uid: 'evse1',
        status: 'CHARGING',
        last_updated: '2030-02-01T00:00:00Z',
      })
      assert.equal(patchEvse.status, 200, JSON.stringify(patchEvse.body))
      const patchConnector = await ocpi('PATCH', '/ocpi/emsp/2.2.1/locations/DE/CPO/LOC1/EVSE1/1', token, {
        max_amperage: 16,
        last_updated: '2030-03-01T00:00:00Z',
      })
      assert.equal(patchConnector.status, 200, JSON.stringify(patchConnector.body))
      let stored = (await ocpi('GET', '/ocpi/emsp/2.2.1/locations/DE/CPO/LOC1', token)).body.data
      assert.equal(stored.evses.length, 1, 'still one EVSE')
      assert.equal(stored.evses[0].status, 'CHARGING')
      assert.equal(stored.evses[0].connectors[0].max_amperage, 16)

      // URL and body IDs agree regardless of case; a PUT in another case replaces, it does not add.
      const evse = { ...stored.evses[0], uid: 'EVSE1', status: 'AVAILABLE', last_updated: '2030-04-01T00:00:00Z' }
      const putEvse = await ocpi('PUT', '/ocpi/emsp/2.2.1/locations/de/cpo/loc1/evse1', token, evse)
      assert.equal(putEvse.status, 200, JSON.stringify(putEvse.body))
      const putConnector = await ocpi('PUT', '/ocpi/emsp/2.2.1/locations/de/cpo/loc1/evse1/1', token, {
        ...evse.connectors[0],
        max_amperage: 32,
        last_updated: '2030-04-02T00:00:00Z',
      })
      assert.equal(putConnector.status, 200, JSON.stringify(putConnector.body))
      const replaced = await ocpi(
        'PUT',
        '/ocpi/emsp/2.2.1/locations/de/cpo/loc1',
        token,
        location({ cc: 'DE', party: 'CPO', id: 'LOC1', evse: 'EVSE1' }, '2030-05-01T00:00:00Z'),
      )
      assert.equal(replaced.status, 200, JSON.stringify(replaced.body))
      stored = (await ocpi('GET', '/ocpi/emsp/2.2.1/locations/de/cpo/loc1', token)).body.data
      assert.equal(stored.evses.length, 1)
      assert.equal(await locationRows(), 1)

      // IDs that really differ are still refused
      const other = await ocpi(
        'PUT',
        '/ocpi/emsp/2.2.1/locations/de/cpo/loc2',
        token,
        location({ cc: 'DE', party: 'CPO', id: 'LOC1', evse: 'EVSE1' }),
      )
      assert.equal(other.status, 400)
      assert.equal(other.body.status_code, 2001)
    })

    test('a pulled copy in another case is the same location, and a full pull keeps it', async () => {
      const { id } = await admin('GET', '/admin/v1/ocpi/partners').then((r) =>
        r.json().partners.find((p: { name: string }) => p.name === 'lower'),
      )
      cpoLocations.set('lower', { items: [location({ cc: 'de', party: 'CPO', id: 'loc1', evse: 'evse1' }, '2030-06-01T00:00:00Z')] })
      const pulled = await admin('POST', `/admin/v1/ocpi/partners/${id}/pull-locations`, { full: true })
      assert.equal(pulled.statusCode, 200, pulled.body)
      assert.deepEqual(pulled.json(), { received: 1, stored: 1, invalid: 0, removed: 0, full: true })
      assert.equal(await locationRows(), 1, 'one location, not two')
      const [row] = (
        await sql<{ data: { id: string } }>`SELECT data FROM locations WHERE upper(location_id) = 'LOC1'`.execute(t.platform.db)
      ).rows
      assert.equal(row!.data.id, 'loc1', 'the spelling of the last copy received')
    })

    test('a pull whose next-page Link points to another origin stops with an error naming the rule; the token never goes there', async () => {
      await register('linked', [role('NL', 'LNK')])
      const { id } = await admin('GET', '/admin/v1/ocpi/partners').then((r) =>
        r.json().partners.find((p: { name: string }) => p.name === 'linked'),
      )
      cpoLocations.set('linked', {
        items: [location({ cc: 'NL', party: 'LNK', id: 'L1', evse: 'E1' })],
        nextLink: `${elsewhere.origin}/steal?offset=1`,
      })
      const pulled = await admin('POST', `/admin/v1/ocpi/partners/${id}/pull-locations`, { full: true })
      assert.equal(pulled.statusCode, 502, pulled.body)
      assert.match(pulled.json().error.message, /not the endpoint's origin/)
      assert.deepEqual(elsewhere.received, [])
    })

    test('the endpoint URLs we advertise work whether a CPO appends /{cc}/... or {cc}/..., with duplicate slashes collapsed', async () => {
      const { token } = await register('slashes', [role('NL', 'SLH')])
      const details = await ocpi('GET', '/ocpi/emsp/2.2.1', token)
      const url = (identifier: string) =>
        details.body.data.endpoints.find((e: { identifier: string }) => e.identifier === identifier).url as string
      const body = location({ cc: 'NL', party: 'SLH', id: 'S1', evse: 'E1' })
      assert.equal((await ocpi('PUT', `${url('locations')}NL/SLH/S1`, token, body)).status, 201)
      assert.equal((await ocpi('GET', `${url('locations')}/NL/SLH/S1`, token)).status, 200)
      assert.equal((await ocpi('GET', `${url('locations').replace('/2.2.1/', '//2.2.1//')}//NL//SLH/S1/E1`, token)).status, 200)
      assert.equal((await ocpi('GET', url('tokens'), token)).status, 200)
      assert.equal((await ocpi('GET', `${url('tokens')}?limit=1`, token)).status, 200)
      assert.equal((await ocpi('GET', url('credentials'), token)).status, 200)
    })

    test('our token pushes and reconcile reach a tokens Receiver whose URL ends with a slash without a double slash', async () => {
      const org = await t.createOrganization({ name: 'Interop Mobility' })
      await t.request(org.apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'driver' } })
      const key = await t.request(org.apiKey, {
        method: 'POST',
        url: '/v1/users/driver/charging-keys/plug-and-charge',
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-INTEROP01' },
      })
      assert.equal(key.statusCode, 201, key.body)
      // The key's change is published before the partner registers (so it is not fanned out to
      // it), and the partner gets no first full sync: the token reaches it only through reconcile.
      await waitFor(
        async () => {
          await t.platform.ocpi.push.publisher.publish()
          return (await t.platform.ocpi.push.publisher.pending()) === 0
        },
        15_000,
        "the key's change published",
      )
      const { id } = await register('tokens', [role('NL', 'TOK')], undefined, { pushAllTokens: false })
      // The token created before the registration reaches the CPO through reconcile (missing there).
      const first = (await admin('POST', `/admin/v1/ocpi/partners/${id}/reconcile`)).json()
      assert.ok(first.checked >= 1)
      assert.deepEqual(first, { checked: first.checked, differing: first.checked, unreadable: 0 })
      await waitFor(() => cpoTokens.size === first.checked, 15_000, 'tokens pushed to the CPO')
      const tokenCalls = cpoCalls.filter((c) => c.startsWith('/cpo/tokens/2.2.1/tokens'))
      assert.ok(tokenCalls.length >= 2)
      for (const call of tokenCalls) assert.doesNotMatch(call.split('?')[0]!, /\/\//, call)
    })

    test('reconcile matches a token the CPO stored lower-cased or answered as a one-element list, and reports an unreadable answer as such', async () => {
      const { id } = await admin('GET', '/admin/v1/ocpi/partners').then((r) =>
        r.json().partners.find((p: { name: string }) => p.name === 'tokens'),
      )
      const reconcile = async () => (await admin('POST', `/admin/v1/ocpi/partners/${id}/reconcile`)).json()
      const held = [...cpoTokens]
      const n = held.length
      assert.ok(n >= 1)
      for (const [path, token] of held) {
        cpoTokens.set(path, { ...token, uid: String(token.uid).toLowerCase(), contract_id: String(token.contract_id).toLowerCase() })
      }
      tokenAnswer = 'object'
      assert.deepEqual(await reconcile(), { checked: n, differing: 0, unreadable: 0 }, 'lower-cased')
      tokenAnswer = 'array'
      assert.deepEqual(await reconcile(), { checked: n, differing: 0, unreadable: 0 }, 'a one-element list')
      tokenAnswer = 'garbage'
      assert.deepEqual(await reconcile(), { checked: n, differing: 0, unreadable: n }, 'data that is not a token')
      tokenAnswer = 'failure'
      assert.deepEqual(await reconcile(), { checked: n, differing: 0, unreadable: n }, 'HTTP 500 without an envelope')
      tokenAnswer = 'object'
      cpoTokens.set(held[0]![0], { ...held[0]![1], valid: !held[0]![1].valid })
      assert.deepEqual(await reconcile(), { checked: n, differing: 1, unreadable: 0 }, 'a real difference')
    })

    test('credentials claiming a party that another partner holds are refused with 2001 naming it, and nothing is registered', async () => {
      const partner = await createPartner('thief')
      for (const roles of [[role('DE', 'CPO')], [role('nl', 'slh')], [role('NL', 'NEW'), role('de', 'cpo')]]) {
        const answer = await exchange('POST', 'thief', partner.tokenA, roles)
        assert.equal(answer.status, 400, JSON.stringify(answer.body))
        assert.equal(answer.body.status_code, 2001)
        assert.match(answer.body.status_message!, /(DE\*CPO|NL\*SLH).*another partner/)
      }
      const after = (await admin('GET', `/admin/v1/ocpi/partners/${partner.id}`)).json()
      assert.equal(after.status, 'created')
      assert.deepEqual(after.parties, [])
      // A malformed party is refused too, by name.
      const malformed = await exchange('POST', 'thief', partner.tokenA, [role('NL', 'X')])
      assert.equal(malformed.status, 400)
      assert.match(malformed.body.status_message!, /roles\.0.*"X"/)
    })

    test("the first registration fixes a partner's parties: a PUT claiming another one is refused and changes nothing", async () => {
      const { id, token } = await register('fixed', [role('NL', 'FIX')])
      assert.deepEqual((await admin('GET', `/admin/v1/ocpi/partners/${id}`)).json().parties, ['NL*FIX'])
      for (const roles of [[role('NL', 'FIX'), role('NL', 'ADD')], [role('DE', 'CPO')]]) {
        const answer = await exchange('PUT', 'fixed', token, roles)
        assert.equal(answer.status, 400, JSON.stringify(answer.body))
        assert.equal(answer.body.status_code, 2001)
        assert.match(answer.body.status_message!, /(NL\*ADD|DE\*CPO): party not granted to this partner/)
      }
      assert.equal((await ocpi('GET', '/ocpi/emsp/2.2.1/credentials', token)).status, 200, 'its token still works')
      const partner = (await admin('GET', `/admin/v1/ocpi/partners/${id}`)).json()
      assert.deepEqual(partner.parties, ['NL*FIX'])
      assert.deepEqual(
        partner.roles.map((r: CpoRole) => `${r.country_code}*${r.party_id}`),
        ['NL*FIX'],
      )
      // ... and it cannot write another party's locations.
      const foreign = await ocpi(
        'PUT',
        '/ocpi/emsp/2.2.1/locations/DE/CPO/LOC1',
        token,
        location({ cc: 'DE', party: 'CPO', id: 'LOC1', evse: 'X' }),
      )
      assert.equal(foreign.status, 400)
      assert.match(foreign.body.status_message!, /DE\*CPO is not a party of this CPO \(it may act for NL\*FIX\)/)
    })

    test('the admin grants parties at creation and changes them later; one party belongs to one partner', async () => {
      const taken = await admin('POST', '/admin/v1/ocpi/partners', { name: 'late', parties: ['de*cpo'] })
      assert.equal(taken.statusCode, 409, taken.body)
      assert.equal(taken.json().error.code, 'ocpi_party_taken')
      assert.match(taken.json().error.message, /DE\*CPO/)
      const badForm = await admin('POST', '/admin/v1/ocpi/partners', { name: 'late', parties: ['DECPO'] })
      assert.equal(badForm.statusCode, 400, badForm.body)

      // Several parties in one credentials object (roles[]), all granted.
      const granted = await createPartner('white-label', ['NL*WL1', 'nl*wl2'])
      assert.deepEqual(granted.partner.parties, ['NL*WL1', 'NL*WL2'])
      const refused = await exchange('POST', 'white-label', granted.tokenA, [role('NL', 'WL1'), role('NL', 'WL3')])
      assert.equal(refused.status, 400)
      assert.match(refused.body.status_message!, /NL\*WL3: party not granted to this partner \(it may act for NL\*WL1, NL\*WL2/)
      const accepted = await exchange('POST', 'white-label', granted.tokenA, [role('NL', 'WL1'), role('nl', 'wl2')])
      assert.equal(accepted.status, 200, JSON.stringify(accepted.body))
      const token = accepted.body.data.token as string
      for (const party of ['WL1', 'wl2']) {
        const put = await ocpi(
          'PUT',
          `/ocpi/emsp/2.2.1/locations/NL/${party}/W1`,
          token,
          location({ cc: 'NL', party, id: 'W1', evse: 'E1' }),
        )
        assert.equal(put.status, 201, JSON.stringify(put.body))
      }

      // The admin changes the grants: the partner may now claim NL*WL3, and no longer NL*WL2.
      const changed = await admin('PATCH', `/admin/v1/ocpi/partners/${granted.id}`, { parties: ['NL*WL1', 'NL*WL3'] })
      assert.equal(changed.statusCode, 200, changed.body)
      assert.deepEqual(changed.json().parties, ['NL*WL1', 'NL*WL3'])
      const rotated = await exchange('PUT', 'white-label', token, [role('NL', 'WL3')])
      assert.equal(rotated.status, 200, JSON.stringify(rotated.body))
      const wl2 = await ocpi('GET', '/ocpi/emsp/2.2.1/locations/NL/WL2/W1', rotated.body.data.token)
      assert.equal(wl2.status, 400)

      // A party another partner holds cannot be granted; the grants stay as they were.
      const clash = await admin('PATCH', `/admin/v1/ocpi/partners/${granted.id}`, { parties: ['NL*WL1', 'NL*FIX'] })
      assert.equal(clash.statusCode, 409, clash.body)
      assert.match(clash.json().error.message, /NL\*FIX/)
      assert.deepEqual((await admin('GET', `/admin/v1/ocpi/partners/${granted.id}`)).json().parties, ['NL*WL1', 'NL*WL3'])
    })
  })
}

for (const backend of backends()) {
  describe(`a database stored before party grants and case-insensitive keys (${backend})`, () => {
    test('is upgraded: copies of a location differing in case become the newest one, and registered partners keep the parties of their credentials, the first to register winning', async () => {
      const postgres = backend === 'postgres' ? await freshPostgresDatabase() : undefined
      const dataDir = await mkdtemp(join(tmpdir(), 'openpnc-upgrade-'))
      try {
        const { db, close } = await openDatabase(postgres ? { databaseUrl: postgres.url } : { dataDir })
        try {
          await migrate(db, '0006_search_document_versions')
          const partner = async (name: string, registeredAt: string, roles: Array<{ country_code: string; party_id: string }>) =>
            (
              await db
                .insertInto('ocpi_partners')
                .values({
                  name,
                  status: 'registered',
                  registered_at: registeredAt,
                  roles: JSON.stringify(roles.map((r) => ({ role: 'CPO', ...r }))),
                })
                .returning('id')
                .executeTakeFirstOrThrow()
            ).id
          const first = await partner('first', '2024-01-01T00:00:00Z', [{ country_code: 'de', party_id: 'cpo' }])
          const second = await partner('second', '2024-02-01T00:00:00Z', [
            { country_code: 'DE', party_id: 'CPO' },
            { country_code: 'NL', party_id: 'bbb' },
            { country_code: 'NL', party_id: 'X' },
          ])
          const row = (ids: { cc: string; party: string; id: string }, updatedAt: string) => {
            const data = location({ ...ids, evse: 'E1' }) as unknown as OcpiLocation
            const { latitude, longitude, searchable, plug_and_charge, last_updated } = derivedColumns(locationFromOcpi(data))
            return {
              partner_id: first,
              country_code: ids.cc,
              party_id: ids.party,
              location_id: ids.id,
              data: JSON.stringify(data),
              ...{ latitude, longitude, searchable, plug_and_charge, last_updated },
              updated_at: updatedAt,
            }
          }
          await db
            .insertInto('locations')
            .values([
              row({ cc: 'DE', party: 'CPO', id: 'LOC1' }, '2024-03-01T00:00:00Z'),
              row({ cc: 'de', party: 'cpo', id: 'loc1' }, '2024-04-01T00:00:00Z'),
              row({ cc: 'DE', party: 'CPO', id: 'LOC2' }, '2024-03-01T00:00:00Z'),
            ])
            .execute()

          await migrate(db)
          const locations = await db.selectFrom('locations').select(['location_id']).orderBy('location_id').execute()
          assert.deepEqual(
            locations.map((l) => l.location_id),
            ['LOC2', 'loc1'],
          )
          const grants = await db
            .selectFrom('ocpi_partner_parties')
            .select(['country_code', 'party_id', 'partner_id'])
            .orderBy('party_id')
            .execute()
          assert.deepEqual(grants, [
            { country_code: 'NL', party_id: 'BBB', partner_id: second },
            { country_code: 'DE', party_id: 'CPO', partner_id: first },
          ])
        } finally {
          await close()
        }
      } finally {
        await postgres?.drop()
        await rm(dataDir, { recursive: true, force: true })
      }
    })
  })
}
