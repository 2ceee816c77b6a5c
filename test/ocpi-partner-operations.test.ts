import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { CpoSimulator } from '../src/sim/cpo.ts'
import { generateLocations } from '../src/sim/locations.ts'
import { ADMIN_KEY, backends, startTestPlatform, waitFor, type TestPlatform } from './support.ts'

const SECRET = 'what-the-partner-said-4711'

interface LogLine {
  level: number
  msg: string
  partnerId?: string
  reason?: string
  failedAttempts?: number
}
const WARN = 40
const INFO = 30

for (const backend of backends()) {
  describe(`operating OCPI partners (${backend})`, () => {
    let t: TestPlatform
    let orgKey: string
    const logs: LogLine[] = []
    const admin = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
      t.app.inject({ method, url, headers: { 'x-api-key': ADMIN_KEY }, ...(payload && { payload }) })
    const drive = (method: 'POST' | 'PATCH', url: string, payload?: object) =>
      t.request(orgKey, { method, url, ...(payload && { payload }) })
    const createKey = async () =>
      (await drive('POST', '/v1/users/driver/charging-keys/plug-and-charge', { pcid: 'WDBRF61J21F123456' })).json().contractId as string
    const registeredCpo = async (name: string, partyId: string) => {
      const partner = await t.createOcpiPartner(name)
      const cpo = new CpoSimulator({ countryCode: 'NL', partyId })
      await cpo.start()
      await cpo.registerWith(partner.versionsUrl, partner.tokenA)
      return { cpo, partnerId: partner.id }
    }
    const deliveries = (partnerId: string) =>
      t.platform.db.selectFrom('ocpi_token_deliveries').selectAll().where('partner_id', '=', partnerId).execute()
    const cpos: CpoSimulator[] = []

    before(async () => {
      t = await startTestPlatform(
        backend,
        {
          LOG_LEVEL: 'info',
          OPENPNC_OCPI_RETRY_BASE_MS: '50',
          OPENPNC_OCPI_RETRY_MAX_MS: '200',
          OPENPNC_OCPI_PUSH_POLL_MS: '100',
          OPENPNC_PARTNER_TIMEOUT_MS: '1000',
        },
        { listen: true, logDestination: { write: (line: string) => void logs.push(JSON.parse(line)) } },
      )
      orgKey = (await t.createOrganization({ name: 'Operated Mobility' })).apiKey
      await drive('POST', '/v1/users', { id: 'driver' })
    })
    after(async () => {
      for (const cpo of cpos) await cpo.stop()
      await t.close()
    })

    describe('a credentials exchange with URLs that do not work', () => {
      let failing: Server
      let failingUrl: string
      let silent: TcpServer
      const silentSockets = new Set<Socket>()
      let closedUrl: string

      before(async () => {
        failing = createServer((_request, response) => {
          response.writeHead(502, { 'content-type': 'application/json' })
          response.end(JSON.stringify({ status_code: 3000, status_message: SECRET, data: SECRET, timestamp: new Date().toISOString() }))
        })
        await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve))
        failingUrl = `http://127.0.0.1:${(failing.address() as { port: number }).port}/versions`
        silent = createTcpServer((socket) => {
          silentSockets.add(socket.on('error', () => {}))
        })
        await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
        const probe = createTcpServer()
        await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
        closedUrl = `http://127.0.0.1:${(probe.address() as { port: number }).port}/versions`
        await new Promise((resolve) => probe.close(resolve))
      })
      after(async () => {
        for (const socket of silentSockets) socket.destroy()
        await new Promise((resolve) => silent.close(resolve))
        failing.closeAllConnections()
        await new Promise((resolve) => failing.close(resolve))
      })

      test("is answered with the failure's class only: an HTTP error, a closed port and a port that speaks no HTTP read the same", async () => {
        const partner = await t.createOcpiPartner('Probing CPO')
        const silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}/versions`
        const answers = []
        for (const url of [failingUrl, closedUrl, silentUrl]) {
          const answer = await t.app.inject({
            method: 'POST',
            url: '/ocpi/emsp/2.3.0/credentials',
            headers: { authorization: `Token ${Buffer.from(partner.tokenA).toString('base64')}` },
            payload: { token: 'probe', url, roles: [{ role: 'CPO', party_id: 'PRB', country_code: 'NL' }] },
          })
          assert.equal(answer.statusCode, 400)
          assert.doesNotMatch(answer.body, new RegExp(SECRET))
          const body = answer.json()
          assert.equal(body.status_code, 3001)
          answers.push(body.status_message.replace(url, '<url>'))
        }
        assert.deepEqual(answers, Array(3).fill('could not read versions at <url>: no usable OCPI answer'))
        // The operator learns what happened, still without the partner's words.
        const logged = logs.filter((l) => l.msg === 'could not use the OCPI URLs a partner gave us' && l.partnerId === partner.id)
        assert.equal(logged.length, 3)
        assert.equal(logged[0]!.reason, 'HTTP 502 from partner (OCPI status 3000)')
        assert.match(logged[1]!.reason!, /^no answer \(ECONNREFUSED\)$/)
        assert.equal(logged[2]!.reason, 'no complete answer within 1000 ms')
        assert.ok(logs.every((l) => !JSON.stringify(l).includes(SECRET)))
      })
    })

    test('a suspended partner is refused as if unregistered and gets nothing; on resume its deliveries go out', async () => {
      const { cpo, partnerId } = await registeredCpo('Paused CPO', 'PAU')
      cpos.push(cpo)
      const before = await createKey()
      const uid = (contractId: string) => contractId.replaceAll('-', '')
      await waitFor(() => cpo.tokens.has(`DE/8PS/${uid(before)}`), 15_000, 'a token before the suspension')

      const suspended = await admin('POST', `/admin/v1/ocpi/partners/${partnerId}/suspend`)
      assert.equal(suspended.statusCode, 200)
      assert.ok(suspended.json().suspended, 'suspended, with the time')
      assert.equal(suspended.json().status, 'registered', 'the registration stays')

      const refused = await cpo.authorize(uid(before))
      assert.equal(refused.httpStatus, 401)
      assert.equal(refused.statusCode, 2000)

      const during = await createKey()
      const keyId = (
        await t.platform.db.selectFrom('charging_keys').select('id').where('contract_id', '=', during).executeTakeFirstOrThrow()
      ).id
      // Rounds of the pipeline run; the change is queued for the partner but not sent.
      await waitFor(
        async () => {
          await t.platform.ocpi.push.runOnce()
          return (await deliveries(partnerId)).some((d) => d.key_id === keyId)
        },
        15_000,
        'the change queued for the suspended partner',
      )
      await t.platform.ocpi.push.runOnce()
      const waiting = (await deliveries(partnerId)).find((d) => d.key_id === keyId)!
      assert.ok(BigInt(waiting.pending_seq) > BigInt(waiting.delivered_seq), 'still to deliver')
      assert.equal(waiting.attempts, 0, 'never attempted')
      assert.equal(cpo.tokens.has(`DE/8PS/${uid(during)}`), false)
      assert.equal((await admin('GET', `/admin/v1/ocpi/partners/${partnerId}`)).json().delivery.backlog, 1)
      for (const action of ['pull-locations', 'reconcile']) {
        const answer = await admin('POST', `/admin/v1/ocpi/partners/${partnerId}/${action}`, {})
        assert.equal(answer.statusCode, 409, action)
        assert.equal(answer.json().error.code, 'ocpi_partner_suspended')
      }

      const resumed = await admin('POST', `/admin/v1/ocpi/partners/${partnerId}/resume`)
      assert.equal(resumed.statusCode, 200)
      assert.equal(resumed.json().suspended, null)
      await waitFor(() => cpo.tokens.has(`DE/8PS/${uid(during)}`), 15_000, 'the waiting delivery after the resume')
      assert.equal((await cpo.authorize(uid(before))).data?.allowed, 'ALLOWED')
    })

    test('a deleted partner loses its credentials, its deliveries and its locations; recorded decisions stay', async () => {
      const { cpo, partnerId } = await registeredCpo('Leaving CPO', 'LVE')
      cpos.push(cpo)
      const contractId = await createKey()
      await waitFor(() => cpo.tokens.size > 0, 15_000, 'a token at the CPO')
      assert.equal((await cpo.authorize(contractId.replaceAll('-', ''))).data?.allowed, 'ALLOWED')
      await cpo.putLocations(generateLocations({ count: 3, seed: 7, version: '2.3.0', countryCode: 'NL', partyId: 'LVE' }))
      const count = async (table: 'locations' | 'ocpi_token_deliveries' | 'authorization_decisions') =>
        Number(
          (
            await sql<{ n: string }>`SELECT count(*)::text AS n FROM ${sql.table(table)} WHERE partner_id = ${partnerId}`.execute(
              t.platform.db,
            )
          ).rows[0]!.n,
        )
      await t.platform.decisions.flush()
      assert.equal(await count('locations'), 3)
      assert.ok((await count('ocpi_token_deliveries')) > 0)
      assert.ok((await count('authorization_decisions')) > 0)

      const deleted = await admin('DELETE', `/admin/v1/ocpi/partners/${partnerId}`)
      assert.equal(deleted.statusCode, 204)
      assert.equal((await admin('GET', `/admin/v1/ocpi/partners/${partnerId}`)).statusCode, 404)
      assert.equal(await count('locations'), 0)
      assert.equal(await count('ocpi_token_deliveries'), 0)
      assert.ok((await count('authorization_decisions')) > 0, 'the record of past decisions is kept')
      const refused = await cpo.authorize(contractId.replaceAll('-', ''))
      assert.equal(refused.httpStatus, 401)
      assert.equal((await admin('DELETE', `/admin/v1/ocpi/partners/${partnerId}`)).statusCode, 404)
      assert.equal((await admin('POST', '/admin/v1/ocpi/partners/not-a-partner/suspend')).statusCode, 404)
    })

    test('a partner whose deliveries fail is logged once when the failures start and once when they stop', async () => {
      const { cpo, partnerId } = await registeredCpo('Flaky CPO', 'FLK')
      cpos.push(cpo)
      cpo.available = false
      for (let i = 0; i < 3; i++) await createKey()
      await waitFor(
        async () => (await deliveries(partnerId)).reduce((sum, d) => sum + d.attempts, 0) >= 8,
        30_000,
        'several failed attempts',
      )
      const mine = () => logs.filter((l) => l.partnerId === partnerId && l.msg.startsWith('OCPI token deliveries'))
      const failing = mine().filter((l) => l.level === WARN)
      assert.equal(failing.length, 1, 'one warning for the whole streak')
      assert.match(failing[0]!.reason!, /HTTP 503 from partner/)
      assert.doesNotMatch(failing[0]!.reason!, /CPO is down/, "the partner's status_message is not quoted")

      cpo.available = true
      await waitFor(() => mine().some((l) => l.level === INFO), 30_000, 'the recovery logged')
      const recovered = mine().filter((l) => l.level === INFO)
      assert.equal(recovered.length, 1)
      assert.ok(recovered[0]!.failedAttempts! >= 8, `failed attempts ${recovered[0]!.failedAttempts}`)
      assert.equal(mine().filter((l) => l.level === WARN).length, 1)
    })
  })
}
