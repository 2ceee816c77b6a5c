import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { authRecordOf, authSubjectOf, pushRequest, recordAction, runsOf } from '../src/protocols/oicp/auth-data.ts'
import { HubjectAuthData } from '../src/sim/hubject/auth-data.ts'
import { HubjectSimulator } from '../src/sim/hubject/sim.ts'
import { assertValidOicp, validatorFor } from './oicp-spec.ts'
import { ThrowawayPki, type Authority, type Issued } from './throwaway-pki.ts'
import { ADMIN_KEY, backends, startTestPlatform, waitFor, type TestPlatform } from './support.ts'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = ['--import', 'tsx', join(ROOT, 'src/cli.ts')]

describe('authentication data records (pure)', () => {
  test('a Plug&Charge key becomes a PlugAndChargeIdentification with the EvcoID in ISO form and its check character', () => {
    const subject = authSubjectOf({ type: 'plug_and_charge', emaidIdentity: 'DE8PSC0AD21B13', keyIdentifier: null })
    assert.equal(subject, 'evco:DE8PSC0AD21B13')
    const record = authRecordOf(subject!)
    assert.deepEqual(record, { Identification: { PlugAndChargeIdentification: { EvcoID: 'DE-8PS-C0AD21B13-P' } } })
    assert.equal(
      (record.Identification as { PlugAndChargeIdentification: { EvcoID: string } }).PlugAndChargeIdentification.EvcoID.length,
      18,
    )
    assertValidOicp(validatorFor('eRoamingPushAuthenticationData'), pushRequest('insert', 'DE*8PS', [record]))
  })

  test('an RFID key becomes an RFIDMifareFamilyIdentification; virtual keys and EMAIDs without an ISO EvcoID have no record', () => {
    assert.deepEqual(authRecordOf(authSubjectOf({ type: 'rfid', emaidIdentity: 'DE8PSC0AD21B13', keyIdentifier: '04A2B3C4D5E6F7' })!), {
      Identification: { RFIDMifareFamilyIdentification: { UID: '04A2B3C4D5E6F7' } },
    })
    assert.equal(authSubjectOf({ type: 'virtual', emaidIdentity: 'DE8PSC0AD21B13', keyIdentifier: null }), null)
    assert.equal(authSubjectOf({ type: 'plug_and_charge', emaidIdentity: 'DE8PSX0AD21B13', keyIdentifier: null }), null)
    assert.throws(() => authRecordOf('token:123'), /not an authentication data subject/)
  })

  test('a record is inserted when wanted and missing, deleted when held and unwanted, and otherwise left alone', () => {
    assert.equal(recordAction(true, false), 'insert')
    assert.equal(recordAction(false, true), 'delete')
    assert.equal(recordAction(true, true), null)
    assert.equal(recordAction(false, false), null)
  })

  test('changes are cut into runs of one action in their order, each at most the given length', () => {
    const items = ['insert', 'insert', 'delete', 'insert', 'insert', 'insert'].map((action, i) => ({ action, i }))
    assert.deepEqual(
      runsOf(items, 2).map((run) => run.map((x) => x.i)),
      [[0, 1], [2], [3, 4], [5]],
    )
  })

  test('the spec validator rejects a push with a foreign ActionType or a malformed EvcoID', () => {
    const validate = validatorFor('eRoamingPushAuthenticationData')
    assert.equal(
      validate({ ActionType: 'upsert', ProviderAuthenticationData: { ProviderID: 'DE*8PS', AuthenticationDataRecord: [] } }),
      false,
    )
    assert.equal(
      validate(pushRequest('insert', 'DE*8PS', [{ Identification: { PlugAndChargeIdentification: { EvcoID: 'DE-8PS-12' } } }])),
      false,
    )
  })
})

for (const backend of backends()) {
  describe(`PushAuthenticationData to Hubject over mutual TLS (${backend})`, () => {
    // Hubject's CA signs its server certificate and our client certificate; a foreign CA signs an impostor's.
    let pki: ThrowawayPki
    let certs: { hubject: Issued; hubjectCa: Authority; impostor: Issued; emp: Issued }
    let sim: HubjectSimulator
    let port: number
    const hubject = new HubjectAuthData()
    let t: TestPlatform
    let orgKey: string
    let pcid = 0
    const validate = validatorFor('eRoamingPushAuthenticationData')
    const drive = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
      t.request(orgKey, { method, url, ...(payload && { payload }) })
    const newKey = async (user = 'driver', contractId?: string) => {
      const response = await drive('POST', `/v1/users/${user}/charging-keys/plug-and-charge`, {
        pcid: `WVWZZZ1KZAW${String(++pcid).padStart(6, '0')}`,
        ...(contractId && { contractId }),
      })
      assert.equal(response.statusCode, 201, response.body)
      return response.json().contractId as string
    }
    const evco = (contractId: string) => contractId.toUpperCase()
    const admin = (method: 'GET' | 'POST', url: string, payload?: object) =>
      t.app.inject({ method, url, headers: { 'x-api-key': ADMIN_KEY }, ...(payload && { payload }) })
    const push = () => t.platform.oicp.authData
    /** Steps the push until nothing waits; every request it sends is checked against the spec. */
    const settle = async () => {
      await waitFor(
        async () => {
          await push().runOnce()
          const status = await push().status()
          return status.delivery.backlog === 0
        },
        60_000,
        'the authentication data backlog empties',
      )
      for (const received of hubject.received) assertValidOicp(validate, received.body, 'a push we sent')
    }
    const startSim = async (tls: 'ours' | 'foreign') => {
      sim = new HubjectSimulator({
        port,
        tls:
          tls === 'ours'
            ? { cert: certs.hubject.cert, key: certs.hubject.key, clientCa: certs.hubjectCa.cert }
            : { cert: certs.impostor.cert, key: certs.impostor.key },
      })
      sim.add(hubject)
      await sim.start()
      port = Number(new URL(sim.url).port)
    }

    before(async () => {
      pki = new ThrowawayPki()
      const hubjectCa = pki.authority('hubject-ca')
      certs = {
        hubjectCa,
        hubject: pki.issue(hubjectCa, 'hubject', 'server'),
        impostor: pki.issue(pki.authority('foreign-ca'), 'impostor', 'server'),
        emp: pki.issue(hubjectCa, 'openpnc-emp', 'client'),
      }
      port = 0
      await startSim('ours')
      t = await startTestPlatform(
        backend,
        {
          OPENPNC_OICP_URL: sim.url,
          OPENPNC_OICP_OFFLINE: 'true',
          OPENPNC_OICP_CLIENT_CERT: certs.emp.certPath,
          OPENPNC_OICP_CLIENT_KEY: certs.emp.keyPath,
          OPENPNC_OICP_SERVER_CA: certs.hubjectCa.certPath,
          OPENPNC_OCPI_RETRY_BASE_MS: '20',
          OPENPNC_OCPI_RETRY_MAX_MS: '100',
          // the test steps the pipeline itself
          OPENPNC_OCPI_PUSH_POLL_MS: '60000',
        },
        { listen: true },
      )
      orgKey = (await t.createOrganization({ name: 'Offline EMP' })).apiKey
      assert.equal((await drive('POST', '/v1/users', { id: 'driver' })).statusCode, 201)
    })
    after(async () => {
      await sim?.stop()
      await t?.close()
      pki?.remove()
    })

    test('a fullLoad replaces Hubject’s set with every key that may charge, presenting our client certificate', async () => {
      const a = await newKey()
      const b = await newKey()
      await settle()
      const before = hubject.received.length
      assert.equal((await admin('POST', '/admin/v1/oicp/push-auth-data', { full: true })).statusCode, 202)
      await settle()
      const full = hubject.received.slice(before).find((r) => (r.body as { ActionType: string }).ActionType === 'fullLoad')
      assert.ok(full, 'a fullLoad was pushed')
      assert.equal(full.clientCertificate, 'openpnc-emp')
      assert.equal(full.providerId, 'DE*8PS')
      assert.deepEqual(new Set(hubject.identifiers('DE*8PS')), new Set([evco(a), evco(b)]))
      const status = (await admin('GET', '/admin/v1/oicp')).json()
      assert.equal(status.authData.lastFullLoad.records, 2)
      assert.equal(status.authData.recordsAtHubject, 2)
      assert.equal(status.connection.clientCertificate, true)
      assert.equal(status.connection.offline, true)
    })

    test('creating, disabling, enabling and deleting a key reach Hubject in that order as insert, delete, insert, delete', async () => {
      const before = hubject.received.length
      const id = await newKey()
      await settle()
      assert.equal((await drive('PATCH', `/v1/users/driver/charging-keys/${id}`, { enabled: false })).statusCode, 200)
      await settle()
      assert.equal((await drive('PATCH', `/v1/users/driver/charging-keys/${id}`, { enabled: true })).statusCode, 200)
      await settle()
      assert.equal((await drive('DELETE', `/v1/users/driver/charging-keys/${id}`)).statusCode, 204)
      await settle()
      const mine = hubject.received
        .slice(before)
        .map((r) => r.body as { ActionType: string; ProviderAuthenticationData: { AuthenticationDataRecord: unknown[] } })
        .filter((b) => JSON.stringify(b).includes(evco(id)))
      assert.deepEqual(
        mine.map((b) => b.ActionType),
        ['insert', 'delete', 'insert', 'delete'],
      )
      assert.ok(!hubject.identifiers('DE*8PS').includes(evco(id)), 'deleted: no longer at Hubject')
    })

    test('a burst of 1,000 changes while Hubject is down arrives, once it is back, as each key’s final state', async () => {
      await settle()
      const held = new Set(hubject.identifiers('DE*8PS'))
      sim.available = false
      const keys: string[] = []
      for (let i = 0; i < 300; i++) keys.push(await newKey())
      for (const id of keys) await drive('PATCH', `/v1/users/driver/charging-keys/${id}`, { enabled: false })
      for (const id of keys.slice(0, 200)) await drive('PATCH', `/v1/users/driver/charging-keys/${id}`, { enabled: true })
      for (const id of keys.slice(100, 300)) assert.equal((await drive('DELETE', `/v1/users/driver/charging-keys/${id}`)).statusCode, 204)
      // The platform's own round may be the one that tries first (a key change wakes it), so the
      // test waits for the outcome, not for its own step to be the one that failed.
      let down: { authData: { backlog: number; failing: number; lastError: string | null } } | undefined
      await waitFor(
        async () => {
          await push().runOnce()
          down = (await admin('GET', '/admin/v1/oicp')).json()
          return down!.authData.failing > 0 && /503/.test(down!.authData.lastError ?? '')
        },
        30_000,
        'a push fails with 503 while Hubject is down',
      )
      assert.ok(down!.authData.backlog > 0, 'the changes wait while Hubject is down')
      const before = hubject.received.length
      sim.available = true
      await settle()
      const after = hubject.received.slice(before).map(
        (r) =>
          r.body as {
            ActionType: string
            ProviderAuthenticationData: {
              AuthenticationDataRecord: Array<{ Identification: { PlugAndChargeIdentification: { EvcoID: string } } }>
            }
          },
      )
      const pushed = after.flatMap((b) =>
        b.ProviderAuthenticationData.AuthenticationDataRecord.map(
          (r) => `${b.ActionType} ${r.Identification.PlugAndChargeIdentification.EvcoID}`,
        ),
      )
      // Only the 100 keys that ended enabled travel, each once: the deleted ones never reached Hubject.
      assert.deepEqual(
        pushed.sort(),
        keys
          .slice(0, 100)
          .map((id) => `insert ${evco(id)}`)
          .sort(),
      )
      assert.ok(after.length <= 5, `a burst travels in few requests, not ${after.length}`)
      assert.deepEqual(new Set(hubject.identifiers('DE*8PS')), new Set([...held, ...keys.slice(0, 100).map(evco)]))
    })

    test('a key whose validTo passes is withdrawn from Hubject without any change to it', async () => {
      const id = await newKey()
      await settle()
      assert.ok(hubject.identifiers('DE*8PS').includes(evco(id)), 'at Hubject')
      const validTo = new Date(Date.now() + 1500).toISOString()
      assert.equal((await drive('PATCH', `/v1/users/driver/charging-keys/${id}`, { validTo })).statusCode, 200)
      await settle()
      assert.ok(hubject.identifiers('DE*8PS').includes(evco(id)), 'still valid: still at Hubject')
      await waitFor(
        async () => {
          await t.platform.keyValidity.runOnce()
          await push().runOnce()
          return !hubject.identifiers('DE*8PS').includes(evco(id))
        },
        30_000,
        'the expired key is deleted at Hubject',
      )
      const last = hubject.received.at(-1)!.body as { ActionType: string }
      assert.equal(last.ActionType, 'delete')
    })

    test('an EvcoID of another provider is refused with 019 and parked as a dead letter, without holding back the others', async () => {
      const other = await t.createOrganization({ name: 'Foreign contracts', contractIdPrefixes: ['DE-ABC'] })
      const otherKey = other.apiKey
      assert.equal((await t.request(otherKey, { method: 'POST', url: '/v1/users', payload: { id: 'foreigner' } })).statusCode, 201)
      const foreign = await t.request(otherKey, {
        method: 'POST',
        url: '/v1/users/foreigner/charging-keys/plug-and-charge',
        payload: { pcid: 'WVWZZZ1KZAW999999', contractId: 'DE-ABC-C12345678' },
      })
      assert.equal(foreign.statusCode, 201, foreign.body)
      const ours = [await newKey(), await newKey()]
      const before = hubject.received.length
      await settle()
      assert.ok(
        hubject.received.slice(before).some((r) => r.code === '019'),
        'Hubject answered 019',
      )
      const held = hubject.identifiers('DE*8PS')
      for (const id of ours) assert.ok(held.includes(evco(id)), `${id} reached Hubject`)
      const status = (await admin('GET', '/admin/v1/oicp')).json()
      assert.equal(status.authData.deadLetters, 1)
      assert.match(status.authData.recentDeadLetters[0].record, /^DE-ABC-C12345678-[0-9A-Z]$/)
      assert.match(status.authData.recentDeadLetters[0].reason, /019/)
    })

    test('a Hubject whose server certificate is not from the configured CA is refused: the change waits, recorded as failing', async () => {
      await sim.stop()
      await startSim('foreign')
      const before = hubject.received.length
      const id = await newKey()
      await push().runOnce()
      assert.equal(hubject.received.length, before, 'nothing was delivered to the impostor')
      const status = (await admin('GET', '/admin/v1/oicp')).json()
      assert.ok(status.authData.failing >= 1, 'the push to the impostor is recorded as failing')
      assert.match(status.authData.lastError, /certificate|unreachable|self.signed|verify/i)
      await sim.stop()
      await startSim('ours')
      await settle()
      assert.ok(hubject.identifiers('DE*8PS').includes(evco(id)), 'at the real Hubject once it is back')
    })

    test('openpnc oicp status and push-auth-data --full talk to the running server', async () => {
      const env = { ...process.env, OPENPNC_ADMIN_API_KEY: ADMIN_KEY, OPENPNC_URL: t.url }
      const status = await run(process.execPath, [...CLI, 'oicp', 'status'], { cwd: ROOT, env })
      assert.match(status.stdout, /ProviderID: DE\*8PS {3}offline EMP: yes {3}client certificate: yes/)
      assert.match(status.stdout, /dead letter: DE-ABC-C12345678/)
      const full = JSON.parse(
        (await run(process.execPath, [...CLI, 'oicp', 'push-auth-data', '--full', '--json'], { cwd: ROOT, env })).stdout,
      )
      assert.equal(full.fullLoad, true)
      assert.equal((await push().status()).fullLoadPending, true)
      await settle()
      assert.equal((await push().status()).fullLoadPending, false)
    })
  })
}
