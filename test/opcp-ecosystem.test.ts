// Hubject's Plug&Charge ecosystem over OPCP, end to end against its simulator (a real HTTP peer):
// a key from a PCID alone, the contract signed by the CPS into the CCP, outages, refusals,
// renewal, revocation and deletion, and every kind of webhook Hubject sends. Every request we
// send is checked against the OPCP reference (spec/opcp/1.0.0, errata applied and named).
import assert from 'node:assert/strict'
import { createHash, createHmac, randomUUID, X509Certificate } from 'node:crypto'
import { request } from 'undici'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { erratum } from '../src/core/opcp/errata.ts'
import { expectedCheckCharacter, parseEmaid } from '../src/core/identifiers/index.ts'
import { CALLED, type CalledOperation } from '../src/protocols/opcp/protocol.ts'
import { describeErrors, opcpRequestValidator } from '../src/protocols/opcp/schemas.ts'
import { OpcpSimulator, type SimCall } from '../src/sim/opcp/sim.ts'
import { ADMIN_KEY, backends, startTestPlatform, waitFor, type TestPlatform } from './support.ts'

/** The operation of the table a recorded call is, by method and path. */
function operationOf(call: SimCall): CalledOperation | undefined {
  for (const [name, op] of Object.entries(CALLED)) {
    const pattern = new RegExp(`^${op.path.replace(/\{\w+\}/g, '[^/]+')}$`)
    if (op.method === call.method && pattern.test(call.path)) return name as CalledOperation
  }
  return undefined
}

let pcidCounter = 0
const newPcid = () => `WMIOPCPCAR${String(++pcidCounter).padStart(7, '0')}`

for (const backend of backends()) {
  describe(`Hubject's Plug&Charge ecosystem over OPCP (${backend})`, () => {
    let t: TestPlatform
    let sim: OpcpSimulator
    let orgKey: string
    const drive = (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) =>
      t.request(orgKey, { method, url, ...(payload && { payload }) })
    const admin = (method: 'GET' | 'POST', url: string, payload?: object) =>
      t.app.inject({ method, url, headers: { 'x-api-key': ADMIN_KEY }, ...(payload && { payload }) })
    const keyUrl = (contractId: string) => `/v1/users/driver/charging-keys/${contractId}`
    const publication = async (contractId: string) => (await drive('GET', `${keyUrl(contractId)}/contract-certificate/publication`)).json()
    const untilState = async (contractId: string, state: string, timeoutMs = 20_000) => {
      try {
        await waitFor(async () => (await publication(contractId)).state === state, timeoutMs, `${contractId} is ${state}`)
      } catch (error) {
        const key = await t.platform.db.selectFrom('charging_keys').select('id').where('contract_id', '=', contractId).executeTakeFirst()
        const rows =
          await sql`SELECT c.state, c.wanted, c.step, c.version::text, d.version::text AS dv, d.delivered_version::text AS ddv, d.dead_at, d.last_error, d.lease_until, d.next_attempt_at, d.attempts
          FROM opcp_contracts c LEFT JOIN deliveries d ON d.subject = 'contract:' || c.key_id::text WHERE c.key_id = ${key?.id ?? null}`.execute(
            t.platform.db,
          )
        const events =
          await sql`SELECT seq::text, tx_id::text, type FROM contract_certificate_events WHERE key_id = ${key?.id ?? null} ORDER BY seq`.execute(
            t.platform.db,
          )
        const cursor =
          await sql`SELECT name, next_tx_id::text, pg_snapshot_xmin(pg_current_snapshot())::text AS xmin FROM outbox_cursors`.execute(
            t.platform.db,
          )
        throw new Error(`${(error as Error).message}: ${JSON.stringify({ rows: rows.rows, events: events.rows, cursor: cursor.rows })}`)
      }
    }
    const fromPcp = async (pcid: string, extra: object = {}) => {
      const response = await drive('POST', '/v1/users/driver/charging-keys/plug-and-charge', {
        pcid,
        certificate: { source: 'pcp' },
        ...extra,
      })
      assert.equal(response.statusCode, 201, response.body)
      return response.json()
    }
    const cpsCalls = (emaid?: string) =>
      sim.calls.filter(
        (c) =>
          operationOf(c) === 'signContractData' &&
          c.status === 201 &&
          (emaid === undefined || ((c.body as { contractData: { contractCertificate: string } }) && emaidOfCall(c) === emaid)),
      )
    const emaidOfCall = (c: SimCall) => {
      const der = Buffer.from((c.body as { contractData: { contractCertificate: string } }).contractData.contractCertificate, 'base64')
      return /CN=([A-Z0-9]+)/.exec(new X509Certificate(der).subject)?.[1]
    }
    const certificatesOf = async (contractId: string) => {
      const rows = await sql<{ n: string }>`
        SELECT count(*)::text AS n FROM contract_certificates c JOIN charging_keys k ON k.id = c.key_id
         WHERE k.contract_id = ${contractId}`.execute(t.platform.db)
      return Number(rows.rows[0]!.n)
    }

    before(async () => {
      sim = new OpcpSimulator({ webhookRetryMs: 20, webhookAttempts: 3 })
      await sim.start()
      t = await startTestPlatform(
        backend,
        {
          OPENPNC_OPCP_URL: sim.url,
          OPENPNC_OPCP_TOKEN_URL: sim.tokenUrl,
          OPENPNC_OPCP_CLIENT_ID: sim.clientId,
          OPENPNC_OPCP_CLIENT_SECRET: sim.clientSecret,
          OPENPNC_OPCP_AUDIENCE: sim.audience,
          OPENPNC_OCPI_PUSH_POLL_MS: '100',
          OPENPNC_OCPI_RETRY_BASE_MS: '50',
          OPENPNC_OCPI_RETRY_MAX_MS: '300',
          OPENPNC_PKI_JOB_INTERVAL_MS: '3600000',
        },
        { listen: true },
      )
      orgKey = (await t.createOrganization({ name: 'Ecosystem Mobility' })).apiKey
      assert.equal((await drive('POST', '/v1/users', { id: 'driver' })).statusCode, 201)
      // The vehicles' OEM root is trusted through the Root Certificate Pool alone (no OPENPNC_PKI_TRUSTED_ROOTS).
      await waitFor(() => t.platform.ca.trusted.poolSize > 0, 10_000, 'the roots of the RCP are trusted')
    })
    after(async () => {
      await t?.close()
      await sim?.stop()
    })

    test("the Root Certificate Pool's V2G and OEM roots become trust anchors, and every root is kept", async () => {
      const refreshed = await admin('POST', '/admin/v1/opcp/roots/refresh')
      assert.equal(refreshed.statusCode, 200, refreshed.body)
      const stored = await t.platform.db.selectFrom('opcp_roots').select(['root_type']).where('removed_at', 'is', null).execute()
      assert.deepEqual(stored.map((r: { root_type: string }) => r.root_type).sort(), ['OEM', 'V2G'])
      assert.equal(t.platform.ca.trusted.poolSize, 2)
    })

    test('a key from a PCID alone gets its contract: the provisioning certificate from the PCP, our certificate, signed by the CPS into the CCP', async () => {
      const vehicle = await sim.addVehicle(newPcid())
      const created = await fromPcp(vehicle.pcid)
      assert.equal(created.contractCertificate.status, 'active')
      assert.equal(created.contractCertificate.pcid, vehicle.pcid)
      assert.ok(created.contractData.contractSignatureEncryptedPrivateKey)
      assert.equal(created.publication.state, 'pending')
      assert.equal(created.publication.step, 'signing')
      await untilState(created.contractId, 'published')
      const published = await publication(created.contractId)
      const stored = sim.contracts.get(created.contractCertificate.emaid)
      assert.ok(stored, 'the CCP holds the contract')
      assert.equal(stored.pcid, vehicle.pcid)
      assert.equal(
        published.cpsRootFingerprint,
        createHash('sha256')
          .update(sim.v2gRootPem().replace(/-----[^-]+-----|\s/g, ''), 'base64')
          .digest('hex'),
      )
      // The signed data is kept with the certificate, as the CPS answered it (opaque to us).
      const row = await t.platform.db
        .selectFrom('opcp_contracts')
        .select(['signed_data'])
        .where('emaid', '=', created.contractCertificate.emaid)
        .executeTakeFirstOrThrow()
      assert.equal(row.signed_data, stored.signedData)
      assert.equal(published.signedData, stored.signedData)
      const certificate = (await drive('GET', `${keyUrl(created.contractId)}/contract-certificate`)).json()
      assert.equal(certificate.publication.state, 'published')
      assert.equal((await drive('GET', keyUrl(created.contractId))).json().contractPublication, 'published')
      const lookup = sim.calls.filter((c) => operationOf(c) === 'provisioningCertificate' && c.path.endsWith(vehicle.pcid))
      assert.equal(lookup.length, 1, 'the PCP was asked once')
      // Hubject's CCP, asked now (lookupContract), holds our current contract.
      const pool = await drive('GET', `${keyUrl(created.contractId)}/contract-certificate/publication/pool`)
      assert.equal(pool.statusCode, 200, pool.body)
      assert.deepEqual(
        { inPool: pool.json().inPool, current: pool.json().current, pcids: pool.json().contracts.map((c: { pcid: string }) => c.pcid) },
        { inPool: true, current: true, pcids: [vehicle.pcid] },
      )
    })

    test('an unknown PCID is refused at once with pcid_not_in_pcp (422), naming it, and no key is made', async () => {
      const pcid = newPcid()
      const response = await drive('POST', '/v1/users/driver/charging-keys/plug-and-charge', { pcid, certificate: { source: 'pcp' } })
      assert.equal(response.statusCode, 422, response.body)
      assert.equal(response.json().error.code, 'pcid_not_in_pcp')
      assert.match(response.json().error.message, new RegExp(`PCID ${pcid}`))
      assert.match(response.json().error.message, /traceId/)
      const keys = await t.platform.db.selectFrom('charging_keys').select('id').where('pcid', '=', pcid).execute()
      assert.equal(keys.length, 0)
    })

    test('a provisioning certificate in the PCP that fails our check is invalid_pcp_certificate (502), naming the rule', async () => {
      const vehicle = await sim.addVehicle(newPcid())
      const pcid = newPcid()
      // The PCP hands out another vehicle's certificate for this PCID: its CN is not the PCID.
      sim.vehicles.set(pcid, { ...vehicle, pcid })
      const response = await drive('POST', '/v1/users/driver/charging-keys/plug-and-charge', { pcid, certificate: { source: 'pcp' } })
      assert.equal(response.statusCode, 502, response.body)
      assert.equal(response.json().error.code, 'invalid_pcp_certificate')
      assert.match(response.json().error.message, new RegExp(vehicle.pcid))
    })

    test("Hubject refusing our call for good is opcp_error (502) with Hubject's traceId", async () => {
      const vehicle = await sim.addVehicle(newPcid())
      sim.failNext('/v1/oem/provCerts', 403)
      const response = await drive('POST', '/v1/users/driver/charging-keys/plug-and-charge', {
        pcid: vehicle.pcid,
        certificate: { source: 'pcp' },
      })
      assert.equal(response.statusCode, 502, response.body)
      assert.equal(response.json().error.code, 'opcp_error')
      assert.match(response.json().error.message, /HTTP 403.*traceId/)
    })

    test("the CPS refusing an EMAID bound to another PCID fails the publication with Hubject's reason and traceId; the partner's retry publishes it once the cause is gone", async () => {
      const vehicle = await sim.addVehicle(newPcid())
      const contractId = 'DE-8PS-C00BOUND1'
      const fullEmaid = `DE8PSC00BOUND1${expectedCheckCharacter(parseEmaid('DE8PSC00BOUND1')!)}`
      // Another MO's vehicle holds this EMAID in the pool.
      sim.contracts.set(fullEmaid, {
        emaid: fullEmaid,
        pcid: 'OTHERVEHICLE00001',
        contractData: {},
        signedData: 'other',
        storedAt: new Date(),
      })
      const created = await fromPcp(vehicle.pcid, { contractId })
      assert.equal(created.contractCertificate.emaid, fullEmaid)
      await untilState(created.contractId, 'failed')
      // The certificate's issue event, when the outbox reader meets it after that first failure,
      // arms the publication once more (pending, then failed again): read a failed state.
      let failed = await publication(created.contractId)
      await waitFor(
        async () => (failed = await publication(created.contractId)).state === 'failed',
        20_000,
        `${created.contractId} is failed when read`,
      )
      assert.match(failed.reason, /EMAID already used by other PCID/)
      assert.match(failed.traceId, /^[0-9a-f-]{36}$/)
      sim.contracts.delete(fullEmaid)
      const retried = await drive('POST', `${keyUrl(created.contractId)}/contract-certificate/publication/retry`)
      assert.equal(retried.statusCode, 202, retried.body)
      assert.equal(retried.json().state, 'pending')
      await untilState(created.contractId, 'published')
      assert.equal(sim.contracts.get(fullEmaid)?.pcid, vehicle.pcid)
      const again = await drive('POST', `${keyUrl(created.contractId)}/contract-certificate/publication/retry`)
      assert.equal(again.statusCode, 409)
      assert.equal(again.json().error.code, 'publication_not_retryable')
    })

    test('while Hubject is down 100 vehicles are registered; after recovery every contract is published, none twice', async () => {
      const vehicles: Awaited<ReturnType<OpcpSimulator['addVehicle']>>[] = []
      for (let i = 0; i < 100; i++) vehicles.push(await sim.addVehicle(newPcid()))
      sim.available = false
      const created: Array<{ contractId: string }> = []
      for (const vehicle of vehicles) {
        const key = await fromPcp(vehicle.pcid)
        assert.equal(key.publication.state, 'pending')
        assert.equal(key.publication.step, 'provisioning')
        assert.equal(key.contractCertificate, undefined, 'no contract before the PCP answers')
        created.push(key)
      }
      await waitFor(async () => (await publication(created[0]!.contractId)).lastError !== null, 10_000, 'the outage is seen')
      assert.match((await publication(created[0]!.contractId)).lastError, /HTTP 503/)
      sim.available = true
      await waitFor(
        async () => {
          const states = await t.platform.db
            .selectFrom('opcp_contracts')
            .select(['state'])
            .where(
              'pcid',
              'in',
              vehicles.map((v) => v.pcid),
            )
            .execute()
          return states.length === 100 && states.every((s) => s.state === 'published')
        },
        120_000,
        'all 100 contracts are published',
      )
      for (const key of created) {
        const emaid = (await publication(key.contractId)).emaid
        assert.equal(cpsCalls(emaid).length, 1, `${emaid} was signed once`)
        assert.equal(await certificatesOf(key.contractId), 1, `${key.contractId} has one certificate`)
        assert.equal(sim.contracts.get(emaid)?.pcid, (await publication(key.contractId)).pcid)
      }
    })

    test('a renewal publishes the new contract data in place of the old', async () => {
      const vehicle = await sim.addVehicle(newPcid())
      const created = await fromPcp(vehicle.pcid)
      await untilState(created.contractId, 'published')
      const renewed = await drive('POST', `${keyUrl(created.contractId)}/contract-certificate/renew`, { peer: 'contract' })
      assert.equal(renewed.statusCode, 201, renewed.body)
      const emaid = created.contractCertificate.emaid
      await waitFor(
        () => sim.contracts.get(emaid)?.contractData.contractCertificate === renewed.json().certificate,
        20_000,
        'the renewal is in the CCP',
      )
      await untilState(created.contractId, 'published')
      assert.equal(cpsCalls(emaid).length, 2)
    })

    test('a revocation removes the contract from the CCP after revoking it in our CA; so does deleting the key', async () => {
      const first = await fromPcp((await sim.addVehicle(newPcid())).pcid)
      const second = await fromPcp((await sim.addVehicle(newPcid())).pcid)
      await untilState(first.contractId, 'published')
      await untilState(second.contractId, 'published')
      const revoked = await drive('POST', `${keyUrl(first.contractId)}/contract-certificate/revoke`, { reason: 'keyCompromise' })
      assert.equal(revoked.json().status, 'revoked')
      await untilState(first.contractId, 'withdrawn')
      assert.equal(sim.contracts.has(first.contractCertificate.emaid), false)
      const pool = (await drive('GET', `${keyUrl(first.contractId)}/contract-certificate/publication/pool`)).json()
      assert.deepEqual({ inPool: pool.inPool, current: pool.current }, { inPool: false, current: false })
      assert.equal((await drive('DELETE', keyUrl(second.contractId))).statusCode, 204)
      await waitFor(async () => !sim.contracts.has(second.contractCertificate.emaid), 20_000, 'the deleted key is out of the CCP')
      const deletes = sim.calls.filter((c) => operationOf(c) === 'deleteContract')
      assert.ok(deletes.some((c) => c.path.endsWith(first.contractCertificate.emaid)))
    })

    test('a key deleted before its contract could be issued is withdrawn, and no certificate is ever made for it', async () => {
      const vehicle = await sim.addVehicle(newPcid())
      sim.available = false
      let created: { contractId: string }
      try {
        created = await fromPcp(vehicle.pcid)
        assert.equal((await drive('DELETE', keyUrl(created.contractId))).statusCode, 204)
      } finally {
        sim.available = true
      }
      await waitFor(
        async () =>
          (await t.platform.db.selectFrom('opcp_contracts').select('state').where('pcid', '=', vehicle.pcid).executeTakeFirst())?.state ===
          'withdrawn',
        20_000,
        'the deleted key is withdrawn',
      )
      assert.equal(await certificatesOf(created.contractId), 0)
    })

    test('a revocation racing a publishing round is never answered with a new certificate', async () => {
      const created = await fromPcp((await sim.addVehicle(newPcid())).pcid)
      await untilState(created.contractId, 'published')
      const opcp = t.platform.opcp!
      const key = await t.platform.db
        .selectFrom('charging_keys')
        .select('id')
        .where('contract_id', '=', created.contractId)
        .executeTakeFirstOrThrow()
      // The round still reads the publication as wanted: the revocation's event has not been consumed.
      await opcp.stop()
      try {
        await drive('POST', `${keyUrl(created.contractId)}/contract-certificate/revoke`, { reason: 'keyCompromise' })
        await opcp.publication.reconcile(key.id)
        assert.equal(await certificatesOf(created.contractId), 1, 'no certificate replaces the revoked one')
      } finally {
        await opcp.start()
      }
      await untilState(created.contractId, 'withdrawn')
      assert.equal(await certificatesOf(created.contractId), 1)
    })

    describe('webhooks from Hubject', () => {
      let vehicle: Awaited<ReturnType<OpcpSimulator['addVehicle']>>
      let key: { contractId: string; contractCertificate: { emaid: string; serialNumber: string } }
      const send = (eventType: string, payload: object = { emaid: key.contractCertificate.emaid, pcid: vehicle.pcid }, options = {}) =>
        sim.sendEvent(eventType, payload as Record<string, unknown>, options)

      before(async () => {
        const registered = await admin('POST', '/admin/v1/opcp/webhook-endpoints', {})
        assert.equal(registered.statusCode, 201, registered.body)
        assert.equal(sim.webhookEndpoints.length, 1)
        assert.equal(sim.webhookEndpoints[0]!.url, `${t.platform.publicUrl()}/opcp/webhooks`)
        vehicle = await sim.addVehicle(newPcid())
        key = await fromPcp(vehicle.pcid)
        await untilState(key.contractId, 'published')
      })

      test("mo.prov.cert.updated: the contract is issued again for the vehicle's new key and published", async () => {
        const replaced = await sim.replaceVehicleKey(vehicle.pcid)
        const [result] = await send('mo.prov.cert.updated')
        assert.equal(result!.status, 200)
        await waitFor(async () => (await certificatesOf(key.contractId)) === 2, 20_000, 'a new certificate is issued')
        await untilState(key.contractId, 'published')
        const current = (await drive('GET', `${keyUrl(key.contractId)}/contract-certificate`)).json()
        assert.equal(current.issuedBy, 'ecosystem')
        assert.equal(current.ecdhPeer, 'oem')
        assert.equal(current.renewed, true)
        assert.equal(sim.contracts.get(key.contractCertificate.emaid)?.contractData.contractCertificate, current.certificate)
        const stored = await t.platform.db
          .selectFrom('contract_certificates')
          .select(['provisioning_certificate'])
          .where('serial_number', '=', current.serialNumber)
          .executeTakeFirstOrThrow()
        assert.ok(stored.provisioning_certificate!.includes(replaced.provisioningCertificate.toString('base64').slice(0, 60)))
      })

      test('a replayed event (same eventId) is acknowledged and changes nothing', async () => {
        const eventId = randomUUID()
        await send('mo.prov.cert.updated', undefined, { eventId })
        await waitFor(async () => (await certificatesOf(key.contractId)) === 3, 20_000, 'the first delivery acts')
        await untilState(key.contractId, 'published')
        const [replay] = await send('mo.prov.cert.updated', undefined, { eventId })
        assert.equal(replay!.status, 200)
        await new Promise((r) => setTimeout(r, 500))
        assert.equal(await certificatesOf(key.contractId), 3)
        assert.equal((await publication(key.contractId)).state, 'published')
      })

      test('mo.contract.*.oem events show in the publication as the OEM delivery status', async () => {
        for (const [eventType, status] of [
          ['mo.contract.queued.to.oem', 'queued'],
          ['mo.contract.rejected.by.oem', 'rejected'],
          ['mo.contract.delivered.to.oem', 'delivered'],
        ] as const) {
          const [result] = await send(eventType)
          assert.equal(result!.status, 200)
          assert.equal((await publication(key.contractId)).oemStatus, status)
        }
      })

      test(`the signature is accepted under each of its three header names (erratum ${erratum('webhook-signature-headers').id}); a bad or missing one is refused and not kept`, async () => {
        for (const header of ['X-Hubject-Signature', 'X-Operator-Signature', 'payload-signature'] as const) {
          const [result] = await send('mo.contract.queued.to.oem', undefined, { header })
          assert.equal(result!.status, 200, header)
        }
        const badId = randomUUID()
        const [bad] = await send('mo.prov.cert.deleted', undefined, { signature: 'invalid', eventId: badId })
        assert.equal(bad!.status, 401)
        const [none] = await send('mo.prov.cert.deleted', undefined, { signature: 'none', eventId: badId })
        assert.equal(none!.status, 401)
        const kept = await t.platform.db.selectFrom('opcp_webhook_events').select('event_id').where('event_id', '=', badId).execute()
        assert.equal(kept.length, 0)
        assert.equal((await publication(key.contractId)).state, 'published', 'the unsigned deletion did nothing')
      })

      test('an unknown event type is accepted, kept and shown to operators, and does nothing', async () => {
        // Hubject sends only subscribed types; a type added later arrives the same way, signed.
        const body = JSON.stringify({
          timestamp: new Date().toISOString(),
          eventId: randomUUID(),
          eventType: 'mo.something.new',
          payload: { emaid: key.contractCertificate.emaid },
        })
        const signature = createHmac('sha256', sim.webhookEndpoints[0]!.secret).update(body).digest('hex')
        const answer = await request(`${t.platform.publicUrl()}/opcp/webhooks`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-hubject-signature': `sha256=${signature}` },
          body,
        })
        assert.equal(answer.statusCode, 200, await answer.body.text())
        const events = (await admin('GET', '/admin/v1/opcp/events?eventType=mo.something.new')).json().events
        assert.equal(events.length, 1)
        assert.equal(events[0].outcome, 'unknown_type')
        const all = (await admin('GET', '/admin/v1/opcp/events?limit=100')).json().events
        assert.ok(all.some((e: { eventType: string }) => e.eventType === 'mo.contract.delivered.to.oem'))
      })

      test('mo.prov.cert.deleted revokes the contract and disables the key, removes it from the CCP, and nothing is re-created', async () => {
        const [result] = await send('mo.prov.cert.deleted')
        assert.equal(result!.status, 200)
        const current = (await drive('GET', `${keyUrl(key.contractId)}/contract-certificate`)).json()
        assert.equal(current.status, 'revoked')
        assert.equal(current.revocationReason, 'cessationOfOperation')
        assert.equal((await drive('GET', keyUrl(key.contractId))).json().enabled, false)
        await untilState(key.contractId, 'withdrawn')
        assert.equal(sim.contracts.has(key.contractCertificate.emaid), false)
        const count = await certificatesOf(key.contractId)
        await new Promise((r) => setTimeout(r, 500))
        assert.equal(await certificatesOf(key.contractId), count, 'no new certificate')
      })

      test(`a factory reset, under either name (erratum ${erratum('factory-reset-event-name').id}), revokes as a deletion does`, async () => {
        for (const eventType of ['mo.prov.cert.factory.reset', 'mo.prov.cert.updated.factory.reset']) {
          const other = await fromPcp((await sim.addVehicle(newPcid())).pcid)
          await untilState(other.contractId, 'published')
          const [result] = await sim.sendEvent(eventType, { emaid: other.contractCertificate.emaid, pcid: other.pcid })
          assert.equal(result!.status, 200, eventType)
          await untilState(other.contractId, 'withdrawn')
          assert.equal((await drive('GET', `${keyUrl(other.contractId)}/contract-certificate`)).json().status, 'revoked')
        }
      })
    })

    test('one OAuth token serves every call until it nears its end; every call carries it', async () => {
      const v1 = sim.calls.filter((c) => c.path.startsWith('/v1/'))
      assert.ok(v1.length > 200)
      assert.ok(sim.tokensIssued <= 2, `tokens issued: ${sim.tokensIssued}`)
      assert.ok(v1.every((c) => typeof c.headers.authorization === 'string' && c.headers.authorization.startsWith('Bearer ')))
    })

    test(`every request we sent validates against the OPCP reference (errata ${erratum('certificate-max-length').id}, ${erratum('contract-data-sub-ca-required').id}, ${erratum('unicode-pattern-escapes').id} applied)`, () => {
      const checked = new Map<string, number>()
      for (const call of sim.calls) {
        const op = operationOf(call)
        assert.ok(op, `${call.method} ${call.path} is an operation of the table`)
        if (!('request' in CALLED[op]) && op !== 'issueToken') continue
        const validate = opcpRequestValidator(op)
        assert.ok(validate(call.body), `${op}: ${describeErrors(validate.errors)}`)
        checked.set(op, (checked.get(op) ?? 0) + 1)
      }
      assert.ok((checked.get('signContractData') ?? 0) >= 100)
      assert.ok((checked.get('issueToken') ?? 0) >= 1)
      assert.ok((checked.get('createWebhookEndpoint') ?? 0) >= 1)
    })
  })
}
