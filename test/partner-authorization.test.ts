import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { Webhook } from 'standardwebhooks'
import { formatEvcoId } from '../src/protocols/oicp/evco-id.ts'
import { CpoSimulator } from '../src/sim/cpo.ts'
import { HubjectDriver, newSessionId } from '../src/sim/hubject/driver.ts'
import { ADMIN_KEY, backends, startTestPlatform, type TestPlatform } from './support.ts'

/** How the local partner answers on one path. */
type Behaviour = { allowed: string } | { status: number } | { sleepMs: number }

interface Received {
  path: string
  headers: IncomingHttpHeaders
  body: string
}

/** An organization's authorization service on loopback: answers as told per path, keeps every request. */
async function startPartner() {
  const behaviours = new Map<string, Behaviour>()
  const received: Received[] = []
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const path = request.url ?? ''
      received.push({ path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') })
      const behaviour = behaviours.get(path) ?? { status: 404 }
      const answer = (status: number, body: string) => response.writeHead(status, { 'content-type': 'application/json' }).end(body)
      if ('allowed' in behaviour) answer(200, JSON.stringify({ allowed: behaviour.allowed }))
      else if ('status' in behaviour) answer(behaviour.status, '{"error":"down"}')
      else setTimeout(() => answer(200, '{"allowed":"ALLOWED"}'), behaviour.sleepMs).unref()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    behaviours,
    received,
    url: (path: string) => `${base}${path}`,
    requestsTo: (path: string) => received.filter((r) => r.path === path).length,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}

const PCID = 'WDBRF61J21F123456'

for (const backend of backends()) {
  describe(`partner-decided authorization (${backend})`, () => {
    let t: TestPlatform
    let partner: Awaited<ReturnType<typeof startPartner>>
    let cpo: CpoSimulator
    let hubject: HubjectDriver

    /** An organization with one user and one Plug&Charge key per given EMAID. */
    const organization = async (name: string, prefix: string, emaids: string[]) => {
      const { id, apiKey } = await t.createOrganization({ name, contractIdPrefixes: [prefix] })
      const drive = (method: 'GET' | 'PUT' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
        t.request(apiKey, { method, url, ...(payload && { payload }) })
      assert.equal((await drive('POST', '/v1/users', { id: 'driver-7' })).statusCode, 201)
      for (const emaid of emaids) {
        const created = await drive('POST', '/v1/users/driver-7/charging-keys/plug-and-charge', {
          pcid: PCID,
          contractId: formatEvcoId(emaid),
        })
        assert.equal(created.statusCode, 201, created.body)
      }
      return { id, apiKey, drive }
    }
    type Org = Awaited<ReturnType<typeof organization>>

    const endpointFor = async (org: Org, path: string, settings: { timeoutMs?: number; onTimeout?: 'allow' | 'deny' } = {}) => {
      const set = await org.drive('PUT', '/v1/authorization-endpoint', { url: partner.url(path), ...settings })
      assert.equal(set.statusCode, 200, set.body)
      return set.json() as { secret: string }
    }

    const ocpi = (emaid: string) =>
      cpo.authorize(emaid, { type: 'EMAID', location: { location_id: 'LOC-1', evse_uids: ['EVSE-1'] } }).then((a) => a.data!)
    const oicp = async (emaid: string) =>
      (await hubject.authorizeStart({ sessionId: newSessionId(), identification: { plugAndCharge: formatEvcoId(emaid) } })).body as {
        AuthorizationStatus: string
        StatusCode: { Code: string; Description: string }
      }
    const decision = async (reference: string) => {
      await t.platform.decisions.flush()
      return t.platform.db
        .selectFrom('authorization_decisions')
        .selectAll()
        .where('authorization_reference', '=', reference)
        .executeTakeFirstOrThrow()
    }

    before(async () => {
      t = await startTestPlatform(
        backend,
        { OPENPNC_OICP_PORT: '0', OPENPNC_AUTHORIZATION_BREAKER_FAILURES: '2', OPENPNC_AUTHORIZATION_BREAKER_COOLDOWN_MS: '300' },
        { listen: true },
      )
      partner = await startPartner()
      const registration = await t.app.inject({
        method: 'POST',
        url: '/admin/v1/ocpi/partners',
        headers: { 'x-api-key': ADMIN_KEY },
        payload: { name: 'Sim CPO' },
      })
      const { tokenA, versionsUrl } = registration.json()
      cpo = new CpoSimulator({ countryCode: 'NL', partyId: 'SIM' })
      await cpo.start()
      await cpo.registerWith(versionsUrl, tokenA)
      hubject = new HubjectDriver({ baseUrl: t.oicpUrl!, operatorId: 'DE*ION' })
    })
    after(async () => {
      await hubject?.close()
      await cpo?.stop()
      await partner?.close()
      await t?.close()
    })

    test('the endpoint is set, read without its secret, changed without a new secret, and removed', async () => {
      const org = await organization('Config Mobility', 'DE-8PC', [])
      assert.equal((await org.drive('GET', '/v1/authorization-endpoint')).statusCode, 404)
      const created = await org.drive('PUT', '/v1/authorization-endpoint', { url: partner.url('/config') })
      assert.equal(created.statusCode, 200)
      assert.match(created.json().secret, /^whsec_/)
      assert.equal(created.json().timeoutMs, 3000)
      assert.equal(created.json().onTimeout, 'deny', 'fails closed unless told otherwise')
      const changed = await org.drive('PUT', '/v1/authorization-endpoint', {
        url: partner.url('/config2'),
        timeoutMs: 800,
        onTimeout: 'allow',
      })
      assert.equal(changed.statusCode, 200)
      assert.equal(changed.json().secret, undefined, 'a change keeps the secret')
      const read = (await org.drive('GET', '/v1/authorization-endpoint')).json()
      assert.deepEqual([read.url, read.timeoutMs, read.onTimeout, read.secret], [partner.url('/config2'), 800, 'allow', undefined])
      assert.deepEqual(read.status, {
        breaker: 'closed',
        consecutiveFailures: 0,
        counts: { answered: 0, timeout: 0, error: 0, breaker_open: 0 },
        lastLatencyMs: null,
      })
      assert.equal((await org.drive('DELETE', '/v1/authorization-endpoint')).statusCode, 204)
      assert.equal((await org.drive('DELETE', '/v1/authorization-endpoint')).statusCode, 404)
      assert.equal(
        (await org.drive('POST', '/v1/authorization-endpoint/rotate-secret')).json().error.code,
        'authorization_endpoint_not_found',
      )
    })

    test('a URL or timeout that breaks its rule is a 400 naming the field and the rule', async () => {
      const org = await organization('Rules Mobility', 'DE-8PR', [])
      for (const url of ['ftp://auth.example.com/x', 'auth.example.com/x', 'https://user:pw@auth.example.com/x']) {
        const refused = await org.drive('PUT', '/v1/authorization-endpoint', { url })
        assert.equal(refused.statusCode, 400, url)
        assert.equal(refused.json().error.code, 'invalid_endpoint_url')
        assert.match(refused.json().error.message, /^url /)
      }
      const tooLong = await org.drive('PUT', '/v1/authorization-endpoint', { url: partner.url('/x'), timeoutMs: 5001 })
      assert.equal(tooLong.statusCode, 400)
      assert.equal(tooLong.json().error.code, 'validation_error')
      assert.match(tooLong.json().error.message, /timeoutMs/)
      const onTimeout = await org.drive('PUT', '/v1/authorization-endpoint', { url: partner.url('/x'), onTimeout: 'maybe' })
      assert.match(onTimeout.json().error.message, /onTimeout/)
    })

    test('an API key without the webhooks scope may not touch the endpoint', async () => {
      const org = await organization('Scoped Mobility', 'DE-8PK', [])
      const issued = await org.drive('POST', '/v1/api-keys', { scopes: ['users', 'charging-keys'] })
      assert.equal(issued.statusCode, 201, issued.body)
      const narrow = issued.json().apiKey as string
      for (const [method, url] of [
        ['PUT', '/v1/authorization-endpoint'],
        ['GET', '/v1/authorization-endpoint'],
        ['DELETE', '/v1/authorization-endpoint'],
        ['POST', '/v1/authorization-endpoint/rotate-secret'],
      ] as const) {
        const refused = await t.request(narrow, { method, url, ...(method === 'PUT' && { payload: { url: partner.url('/x') } }) })
        assert.equal(refused.statusCode, 403, `${method} ${url}`)
        assert.equal(refused.json().error.code, 'missing_scope')
      }
    })

    test("each partner answer reaches the CPO: OCPI's allowed as is, OICP's status and code of the mapping table", async () => {
      const org = await organization('Answer Mobility', 'DE-8PA', ['DE8PACANSWER01'])
      await endpointFor(org, '/answers')
      const expected: Array<[string, string, string]> = [
        ['ALLOWED', 'Authorized', '000'],
        ['BLOCKED', 'NotAuthorized', '200'],
        ['EXPIRED', 'NotAuthorized', '210'],
        ['NO_CREDIT', 'NotAuthorized', '210'],
        ['NOT_ALLOWED', 'NotAuthorized', '210'],
      ]
      for (const [allowed, status, code] of expected) {
        partner.behaviours.set('/answers', { allowed })
        const info = await ocpi('DE8PACANSWER01')
        assert.equal(info.allowed, allowed)
        assert.equal(info.token.valid, allowed === 'ALLOWED')
        const answer = await oicp('DE8PACANSWER01')
        assert.deepEqual([answer.AuthorizationStatus, answer.StatusCode.Code], [status, code], allowed)
      }
    })

    test('the request is signed as a Standard Webhook and carries the documented fields; the record shows the answer and its latency', async () => {
      const org = await organization('Signed Mobility', 'DE-8PS', ['DE8PSCSIGNED01'])
      const { secret } = await endpointFor(org, '/signed')
      partner.behaviours.set('/signed', { allowed: 'NO_CREDIT' })
      const info = await ocpi('DE8PSCSIGNED01')
      assert.equal(info.allowed, 'NO_CREDIT')
      const request = partner.received.filter((r) => r.path === '/signed').at(-1)!
      const headers = request.headers as Record<string, string>
      const body = new Webhook(secret).verify(request.body, headers) as Record<string, any>
      assert.equal(headers['webhook-id'], info.authorization_reference)
      assert.equal(body.authorizationReference, info.authorization_reference)
      assert.equal(body.type, 'authorization.requested')
      assert.equal(body.protocol, 'ocpi')
      const key = (await org.drive('GET', `/v1/users/driver-7/charging-keys/${formatEvcoId('DE8PSCSIGNED01')}`)).json()
      assert.deepEqual(body.key, { keyId: key.keyId, type: 'plug_and_charge', contractId: key.contractId })
      assert.match(body.emaid, /^DE8PSCSIGNED01.$/)
      assert.deepEqual(body.identifier, { value: 'DE8PSCSIGNED01', type: 'EMAID' })
      assert.deepEqual(body.location, { locationId: 'LOC-1', evseIds: ['EVSE-1'] })
      assert.deepEqual(body.operator, { id: 'NL*SIM', name: 'Sim CPO' })
      assert.ok(!Number.isNaN(Date.parse(body.requestedAt)))

      const record = await decision(info.authorization_reference)
      assert.equal(record.allowed, 'ALLOWED', 'our own decision')
      assert.equal(record.partner_outcome, 'answered')
      assert.equal(record.partner_allowed, 'NO_CREDIT')
      assert.equal(record.final_allowed, 'NO_CREDIT')
      assert.ok(Number.isInteger(record.partner_latency_us) && record.partner_latency_us! >= 0)

      // A rotated secret signs from now on; the old one no longer verifies.
      const rotated = (await org.drive('POST', '/v1/authorization-endpoint/rotate-secret')).json()
      assert.notEqual(rotated.secret, secret)
      await oicp('DE8PSCSIGNED01')
      const next = partner.received.filter((r) => r.path === '/signed').at(-1)!
      const oicpBody = new Webhook(rotated.secret).verify(next.body, next.headers as Record<string, string>) as Record<string, any>
      assert.equal(oicpBody.protocol, 'oicp')
      assert.deepEqual(oicpBody.operator, { id: 'DE*ION', name: null })
      assert.deepEqual(oicpBody.location, { locationId: null, evseIds: ['DE*ION*E0001*1'] })
      assert.throws(() => new Webhook(secret).verify(next.body, next.headers as Record<string, string>))
    })

    test('a partner slower than timeoutMs: deny answers NOT_ALLOWED (OICP 106), allow lets the driver charge; both are recorded as timeouts', async () => {
      const deny = await organization('Slow Deny Mobility', 'DE-8PD', ['DE8PDCSLOWDNY1'])
      const allow = await organization('Slow Allow Mobility', 'DE-8PL', ['DE8PLCSLOWALW1'])
      partner.behaviours.set('/slow', { sleepMs: 2000 })
      await endpointFor(deny, '/slow', { timeoutMs: 50, onTimeout: 'deny' })
      await endpointFor(allow, '/slow', { timeoutMs: 50, onTimeout: 'allow' })

      const denied = await ocpi('DE8PDCSLOWDNY1')
      assert.equal(denied.allowed, 'NOT_ALLOWED')
      const deniedRecord = await decision(denied.authorization_reference)
      assert.deepEqual(
        [deniedRecord.partner_outcome, deniedRecord.partner_allowed, deniedRecord.final_allowed],
        ['timeout', null, 'NOT_ALLOWED'],
      )
      const deniedOicp = await oicp('DE8PDCSLOWDNY1')
      assert.deepEqual([deniedOicp.AuthorizationStatus, deniedOicp.StatusCode.Code], ['NotAuthorized', '106'])

      const allowed = await ocpi('DE8PLCSLOWALW1')
      assert.equal(allowed.allowed, 'ALLOWED')
      const allowedRecord = await decision(allowed.authorization_reference)
      assert.deepEqual([allowedRecord.partner_outcome, allowedRecord.final_allowed], ['timeout', null])
      assert.equal((await oicp('DE8PLCSLOWALW1')).AuthorizationStatus, 'Authorized')
    })

    test('a failing partner opens its breaker: the fallback answers without a call, and after the cool-down one good answer closes it', async () => {
      const org = await organization('Flaky Mobility', 'DE-8PF', ['DE8PFCFLAKY001'])
      partner.behaviours.set('/flaky', { status: 503 })
      await endpointFor(org, '/flaky')
      assert.equal((await ocpi('DE8PFCFLAKY001')).allowed, 'NOT_ALLOWED')
      assert.equal((await ocpi('DE8PFCFLAKY001')).allowed, 'NOT_ALLOWED')
      const calls = partner.requestsTo('/flaky')
      assert.equal(calls, 2)
      const cut = await ocpi('DE8PFCFLAKY001')
      assert.equal(cut.allowed, 'NOT_ALLOWED')
      assert.equal(partner.requestsTo('/flaky'), calls, 'not called while open')
      const record = await decision(cut.authorization_reference)
      assert.deepEqual([record.partner_outcome, record.partner_latency_us], ['breaker_open', null])
      assert.equal((await org.drive('GET', '/v1/authorization-endpoint')).json().status.breaker, 'open')

      partner.behaviours.set('/flaky', { allowed: 'ALLOWED' })
      await new Promise((resolve) => setTimeout(resolve, 350))
      assert.equal((await org.drive('GET', '/v1/authorization-endpoint')).json().status.breaker, 'half_open')
      assert.equal((await ocpi('DE8PFCFLAKY001')).allowed, 'ALLOWED')
      const status = (await org.drive('GET', '/v1/authorization-endpoint')).json().status
      assert.equal(status.breaker, 'closed')
      assert.deepEqual(status.counts, { answered: 1, timeout: 0, error: 2, breaker_open: 1 })
    })

    test("another instance's change is followed at the next reload: an endpoint removed in the table is no longer asked", async () => {
      const org = await organization('Elsewhere Mobility', 'DE-8PE', ['DE8PECELSEWH01'])
      partner.behaviours.set('/elsewhere', { allowed: 'BLOCKED' })
      await endpointFor(org, '/elsewhere')
      assert.equal((await ocpi('DE8PECELSEWH01')).allowed, 'BLOCKED')
      // As another instance would: straight in the table, not through this instance.
      await t.platform.db.deleteFrom('authorization_endpoints').where('organization_id', '=', org.id).execute()
      await t.platform.authorizationEndpoints.reload()
      const calls = partner.requestsTo('/elsewhere')
      assert.equal((await ocpi('DE8PECELSEWH01')).allowed, 'ALLOWED', 'our own decision again')
      assert.equal(partner.requestsTo('/elsewhere'), calls)
    })

    test('no call goes out for an organization without an endpoint, nor when our own decision refuses', async () => {
      const plain = await organization('Plain Mobility', 'DE-8PP', ['DE8PPCPLAIN001'])
      const guarded = await organization('Guarded Mobility', 'DE-8PG', ['DE8PGCLOCKED01'])
      partner.behaviours.set('/guarded', { allowed: 'ALLOWED' })
      await endpointFor(guarded, '/guarded')
      await guarded.drive('PATCH', `/v1/users/driver-7/charging-keys/${formatEvcoId('DE8PGCLOCKED01')}`, { enabled: false })
      const before = partner.received.length
      const info = await ocpi('DE8PPCPLAIN001')
      assert.equal(info.allowed, 'ALLOWED')
      assert.equal((await oicp('DE8PPCPLAIN001')).AuthorizationStatus, 'Authorized')
      assert.equal((await ocpi('DE8PGCLOCKED01')).allowed, 'BLOCKED')
      assert.equal(partner.received.length, before, 'no request reached any partner')
      const record = await decision(info.authorization_reference)
      assert.deepEqual([record.partner_outcome, record.final_allowed], [null, null])
    })
  })
}
