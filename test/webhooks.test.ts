// Partner webhooks end to end on one platform: the Drive API's endpoints, events of every family
// arriving signed (verified with the standardwebhooks library), in order per endpoint, through an
// outage of 1,000 events, replays, the 3-day rule, scopes and organizations. The consumer and the
// engine are stepped by the test, backoffs skipped, so nothing waits on a clock.
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { Webhook } from 'standardwebhooks'
import { toPem } from '../src/core/pki/encoding.ts'
import { makeOemPki } from './oem-pki.ts'
import { OutboxConsumer } from '../src/infra/outbox/outbox.ts'
import { WEBHOOKS_CONSUMER } from '../src/protocols/webhooks/partner-webhooks.ts'
import { backends, startTestPlatform, waitFor, type TestPlatform } from './support.ts'

interface Received {
  headers: IncomingHttpHeaders
  body: string
  path: string
  answered: number
}

/** A partner's receiver: records every call; answers 503 while down, or for the event IDs told to fail. */
class Receiver {
  calls: Received[] = []
  down = false
  failing = new Set<string>()
  /** paths that answer 503 */
  downPaths = new Set<string>()
  private readonly server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk) => (body += chunk))
    request.on('end', () => {
      const id = String(request.headers['webhook-id'])
      const answered = this.down || this.failing.has(id) || this.downPaths.has(request.url ?? '') ? 503 : 200
      this.calls.push({ headers: request.headers, body, path: request.url ?? '', answered })
      response.writeHead(answered, { 'content-type': 'text/plain' }).end(answered === 503 ? 'maintenance' : 'ok')
    })
  })
  url = ''
  async start() {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }
  stop() {
    return new Promise((resolve) => this.server.close(resolve))
  }
  /** The events answered 2xx on `path`, verified with the secret as the library's documentation shows. */
  delivered(path: string, secret: string) {
    return this.calls
      .filter((c) => c.path === path && c.answered === 200)
      .map((c) => ({
        id: String(c.headers['webhook-id']),
        ...(new Webhook(secret).verify(c.body, c.headers as Record<string, string>) as { type: string; timestamp: string; data: any }),
      }))
  }
}

for (const backend of backends()) {
  describe(`partner webhooks (${backend})`, () => {
    let t: TestPlatform
    let dir: string
    let orgKey: string
    let orgId: string
    let otherKey: string
    const receiver = new Receiver()
    let oem: Awaited<ReturnType<typeof makeOemPki>>
    const drive = (key: string, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
      t.request(key, { method, url, ...(payload && { payload }) })

    /**
     * Fans out every committed event. The consumer may need more than one step: a transaction in
     * flight anywhere on the server (transaction IDs are cluster-wide) holds its horizon back a moment.
     */
    async function fanOutAll() {
      await waitFor(
        async () => {
          await t.platform.webhooks.delivery.fanOut()
          const ahead = await sql<{ n: number }>`
            SELECT count(*)::int AS n FROM partner_events e WHERE ${OutboxConsumer.ahead(WEBHOOKS_CONSUMER)}`.execute(t.platform.db)
          return ahead.rows[0]!.n === 0
        },
        30_000,
        'the webhooks consumer passed every partner event',
      )
    }

    /** Fans out, then delivers until each endpoint's queue is empty or waits on a failing receiver. */
    async function step(rounds = 1) {
      for (let i = 0; i < rounds; i++) {
        await fanOutAll()
        await sql`UPDATE deliveries SET next_attempt_at = now() WHERE kind = 'webhook'`.execute(t.platform.db)
        await t.platform.deliveries.runOnce()
      }
    }

    async function register(path: string, events: string[], key = orgKey) {
      const response = await drive(key, 'POST', '/v1/webhooks', { url: `${receiver.url}${path}`, events, description: path })
      assert.equal(response.statusCode, 201, response.body)
      return response.json() as { id: string; secret: string }
    }

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), 'openpnc-webhooks-'))
      oem = await makeOemPki({ pcid: 'WMIWEBHOOKCAR0001' })
      const roots = join(dir, 'oem-roots.pem')
      writeFileSync(roots, toPem(oem.root))
      await receiver.start()
      // Background rounds rarely: the test steps the consumer and the engine itself.
      t = await startTestPlatform(backend, {
        OPENPNC_PKI_TRUSTED_ROOTS: roots,
        OPENPNC_OCPI_PUSH_POLL_MS: '60000',
        OPENPNC_OCPI_RETRY_BASE_MS: '10',
        OPENPNC_OCPI_RETRY_MAX_MS: '20',
      })
      const org = await t.createOrganization({ name: 'Hook Mobility' })
      orgKey = org.apiKey
      orgId = org.id
      otherKey = (await t.createOrganization({ name: 'Other Mobility', contractIdPrefixes: ['DE-9XX'] })).apiKey
    })
    after(async () => {
      await t?.close()
      await receiver.stop()
      rmSync(dir, { recursive: true, force: true })
    })

    test('an API key without the webhooks scope is refused, and another organization sees none of ours', async () => {
      const limited = (await drive(orgKey, 'POST', '/v1/api-keys', { scopes: ['users'] })).json().apiKey
      const refused = await drive(limited, 'GET', '/v1/webhooks')
      assert.equal(refused.statusCode, 403)
      assert.equal(refused.json().error.code, 'missing_scope')
      const ours = await register('/scoped', ['*'])
      for (const [method, url] of [
        ['GET', `/v1/webhooks/${ours.id}`],
        ['PATCH', `/v1/webhooks/${ours.id}`],
        ['DELETE', `/v1/webhooks/${ours.id}`],
        ['POST', `/v1/webhooks/${ours.id}/rotate-secret`],
        ['GET', `/v1/webhooks/${ours.id}/deliveries`],
      ] as const) {
        const response = await drive(otherKey, method, url, method === 'PATCH' ? { enabled: false } : method === 'POST' ? {} : undefined)
        assert.equal(response.statusCode, 404, `${method} ${url}`)
        assert.equal(response.json().error.code, 'webhook_not_found')
      }
      assert.deepEqual((await drive(otherKey, 'GET', '/v1/webhooks')).json(), { webhooks: [] })
      assert.equal((await drive(orgKey, 'DELETE', `/v1/webhooks/${ours.id}`)).statusCode, 204)
      assert.equal((await drive(orgKey, 'GET', `/v1/webhooks/${ours.id}`)).statusCode, 404)
    })

    test('registration shows the secret once, and refuses unknown events and bad URLs naming the field', async () => {
      const created = await register('/shown-once', ['session.started'])
      assert.match(created.secret, /^whsec_/)
      const listed = (await drive(orgKey, 'GET', '/v1/webhooks')).json().webhooks
      assert.ok(listed.some((w: { id: string }) => w.id === created.id))
      assert.ok(listed.every((w: object) => !('secret' in w)))
      assert.ok(!JSON.stringify(await t.platform.db.selectFrom('webhook_endpoints').selectAll().execute()).includes(created.secret))
      const unknown = await drive(orgKey, 'POST', '/v1/webhooks', {
        url: 'https://partner.example.com/h',
        events: ['cdr.created', 'cdr.made'],
      })
      assert.equal(unknown.statusCode, 400)
      assert.equal(unknown.json().error.code, 'unknown_event_type')
      assert.match(unknown.json().error.message, /^events\[1\]: "cdr.made" is not an event type; one of \*, charging_key.created/)
      const badUrl = await drive(orgKey, 'POST', '/v1/webhooks', { url: 'ftp://partner.example.com/h', events: ['*'] })
      assert.equal(badUrl.statusCode, 400)
      assert.equal(badUrl.json().error.code, 'invalid_webhook_url')
      assert.match(badUrl.json().error.message, /^url must be an http or https URL/)
      await drive(orgKey, 'DELETE', `/v1/webhooks/${created.id}`)
    })

    test('key events arrive signed, in order, with the key as the Drive API lists it', async () => {
      const hook = await register('/keys', ['charging_key.created', 'charging_key.disabled', 'charging_key.updated'])
      assert.equal((await drive(orgKey, 'POST', '/v1/users', { id: 'driver-keys' })).statusCode, 201)
      const listed = (await drive(orgKey, 'GET', '/v1/users/driver-keys/charging-keys')).json().keys[0]
      await drive(orgKey, 'PATCH', `/v1/users/driver-keys/charging-keys/${listed.keyId}`, { name: 'renamed' })
      const disabled = await drive(orgKey, 'PATCH', `/v1/users/driver-keys/charging-keys/${listed.keyId}`, { enabled: false })
      await step()
      const events = receiver.delivered('/keys', hook.secret)
      assert.deepEqual(
        events.map((e) => e.type),
        ['charging_key.created', 'charging_key.updated', 'charging_key.disabled'],
      )
      assert.deepEqual(events[0]!.data, { userId: 'driver-keys', ...listed })
      assert.deepEqual(events[2]!.data, { userId: 'driver-keys', ...disabled.json() })
      assert.equal(new Set(events.map((e) => e.id)).size, 3)
      assert.ok(events.every((e) => /^evt_[0-9a-f]{32}$/.test(e.id)))
      await drive(orgKey, 'DELETE', `/v1/webhooks/${hook.id}`)
    })

    test("a key's validFrom arriving and validTo passing are activated and expired events", async () => {
      const hook = await register('/validity', ['charging_key.activated', 'charging_key.expired'])
      await drive(orgKey, 'POST', '/v1/users', { id: 'driver-validity' })
      const keyId = (await drive(orgKey, 'GET', '/v1/users/driver-validity/charging-keys')).json().keys[0].keyId
      // Moments the clock has not looked at yet, set in the past rather than waited for.
      await sql`UPDATE key_validity_clock SET checked_until = now() - interval '1 minute'`.execute(t.platform.db)
      await sql`UPDATE charging_keys k SET created_at = now() - interval '2 minutes', valid_from = now() - interval '40 seconds',
                       valid_to = now() - interval '20 seconds'
                  FROM users u WHERE u.id = k.user_id AND u.external_id = 'driver-validity'`.execute(t.platform.db)
      await t.platform.keyValidity.runOnce()
      await step()
      const events = receiver.delivered('/validity', hook.secret)
      assert.deepEqual(
        events.map((e) => [e.type, e.data.keyId, e.data.userId]),
        [
          ['charging_key.activated', keyId, 'driver-validity'],
          ['charging_key.expired', keyId, 'driver-validity'],
        ],
      )
      await drive(orgKey, 'DELETE', `/v1/webhooks/${hook.id}`)
    })

    test('contract certificate events arrive with the certificate, its key and user', async () => {
      const hook = await register('/contracts', ['contract_certificate.issued', 'contract_certificate.revoked'])
      await drive(orgKey, 'POST', '/v1/users', { id: 'driver-pnc' })
      const created = await drive(orgKey, 'POST', '/v1/users/driver-pnc/charging-keys/plug-and-charge', {
        pcid: 'WMIWEBHOOKCAR0001',
        contractId: 'DE-8PS-CHOOK0001',
        certificate: {
          oemProvisioningCertificate: oem.provisioning.toString('base64'),
          chain: [oem.subCa2, oem.subCa1].map((c) => c.toString('base64')),
        },
      })
      assert.equal(created.statusCode, 201, created.body)
      const state = created.json().contractCertificate
      const revoked = await drive(orgKey, 'POST', '/v1/users/driver-pnc/charging-keys/DE-8PS-CHOOK0001/contract-certificate/revoke', {
        reason: 'keyCompromise',
      })
      assert.equal(revoked.statusCode, 200, revoked.body)
      await step()
      const events = receiver.delivered('/contracts', hook.secret)
      assert.deepEqual(
        events.map((e) => e.type),
        ['contract_certificate.issued', 'contract_certificate.revoked'],
      )
      assert.deepEqual(events[0]!.data, {
        userId: 'driver-pnc',
        keyId: 'DE-8PS-CHOOK0001',
        emaid: state.emaid,
        pcid: 'WMIWEBHOOKCAR0001',
        serialNumber: state.serialNumber,
        notBefore: state.validFrom,
        notAfter: state.validTo,
        status: 'active',
        issuedBy: 'partner',
        renewed: false,
      })
      assert.equal(events[1]!.data.status, 'revoked')
      assert.equal(events[1]!.data.revocationReason, 'keyCompromise')
      assert.equal(events[1]!.data.serialNumber, state.serialNumber)
      await drive(orgKey, 'DELETE', `/v1/webhooks/${hook.id}`)
    })

    test("a contract reaching Hubject's pool, or refused by it, is an event with its publication", async () => {
      const hook = await register('/publications', ['contract_certificate.published', 'contract_certificate.failed'])
      const key = await t.platform.db
        .selectFrom('charging_keys')
        .select(['id', 'pcid'])
        .where('contract_id', '=', 'DE-8PS-CHOOK0001')
        .executeTakeFirstOrThrow()
      // The publication's states as the ecosystem's sender moves them (its own tests drive it against the simulator).
      await sql`INSERT INTO opcp_contracts (key_id, organization_id, pcid, emaid, step, version)
                VALUES (${key.id}, ${orgId}, ${key.pcid}, 'DE8PSCHOOK00011', 'signing', 1)`.execute(t.platform.db)
      await sql`UPDATE opcp_contracts SET state = 'published', step = NULL, published_at = '2026-01-15T09:00:01Z' WHERE key_id = ${key.id}`.execute(
        t.platform.db,
      )
      await sql`UPDATE opcp_contracts SET state = 'failed', failure_reason = 'CPS refused', failure_trace_id = 't-42' WHERE key_id = ${key.id}`.execute(
        t.platform.db,
      )
      await step()
      const events = receiver.delivered('/publications', hook.secret)
      assert.deepEqual(
        events.map((e) => [e.type, e.data.keyId, e.data.publication]),
        [
          [
            'contract_certificate.published',
            'DE-8PS-CHOOK0001',
            { state: 'published', reason: null, traceId: null, publishedAt: '2026-01-15T09:00:01.000Z' },
          ],
          [
            'contract_certificate.failed',
            'DE-8PS-CHOOK0001',
            { state: 'failed', reason: 'CPS refused', traceId: 't-42', publishedAt: '2026-01-15T09:00:01.000Z' },
          ],
        ],
      )
      await drive(orgKey, 'DELETE', `/v1/webhooks/${hook.id}`)
    })

    test('session and cdr events arrive with the session as the Drive API presents it', async () => {
      const hook = await register('/sessions', [
        'session.started',
        'session.updated',
        'session.stopped',
        'session.completed',
        'cdr.created',
      ])
      await drive(orgKey, 'POST', '/v1/users', { id: 'driver-sessions' })
      const key = await t.platform.db
        .selectFrom('charging_keys as k')
        .innerJoin('users as u', 'u.id', 'k.user_id')
        .select('k.id')
        .where('u.external_id', '=', 'driver-sessions')
        .where('k.organization_id', '=', orgId)
        .executeTakeFirstOrThrow()
      const ref = { protocol: 'oicp' as const, externalId: '0b9e3c1a-7d4e-4c2b-9a8f-6e5d4c3b2a10' }
      const sessions = t.platform.sessions
      sessions.authorized({
        ...ref,
        keyId: key.id,
        status: 'AUTHORIZED',
        startedAt: new Date('2026-01-16T17:59:58Z'),
        authorizedAt: new Date('2026-01-16T17:59:58Z'),
        evseId: 'DE*ION*E0042*1',
        operatorId: 'DE*ION',
      })
      await sessions.flush()
      await sessions.notification({
        session: ref,
        keyId: key.id,
        identification: null,
        type: 'progress',
        body: { Type: 'Progress' },
        contentSha256: 'a'.repeat(64),
        occurredAt: new Date('2026-01-16T18:10:00Z'),
        evseId: null,
        operatorId: null,
        energyKwh: 5.5,
      })
      await sessions.stopped(ref, new Date('2026-01-16T18:46:39Z'))
      await sessions.chargeDetailRecord({
        session: ref,
        keyId: key.id,
        identification: null,
        record: { SessionID: ref.externalId, ConsumedEnergy: 41.27 },
        contentSha256: 'b'.repeat(64),
        sessionStart: new Date('2026-01-16T17:59:58Z'),
        sessionEnd: new Date('2026-01-16T18:46:40Z'),
        chargingStart: new Date('2026-01-16T18:00:20Z'),
        chargingEnd: new Date('2026-01-16T18:45:02Z'),
        energyKwh: 41.27,
        evseId: 'DE*ION*E0042*1',
        operatorId: 'DE*ION',
      })
      await step()
      const events = receiver.delivered('/sessions', hook.secret)
      assert.deepEqual(
        events.map((e) => [e.type, e.data.status ?? e.data.session.status]),
        [
          ['session.started', 'authorized'],
          ['session.updated', 'active'],
          ['session.stopped', 'stopped'],
          ['session.completed', 'completed'],
          ['cdr.created', 'completed'],
        ],
      )
      assert.equal(events[1]!.data.energyKwh, 5.5)
      const listed = (await drive(orgKey, 'GET', '/v1/users/driver-sessions/sessions')).json().sessions[0]
      assert.deepEqual(events[3]!.data, { userId: 'driver-sessions', ...listed })
      const cdr = events[4]!.data
      assert.equal(cdr.sessionId, listed.id)
      assert.deepEqual(cdr.session, listed)
      assert.equal(cdr.cdr.energyKwh, 41.27)
      assert.deepEqual(cdr.cdr.record, { SessionID: ref.externalId, ConsumedEnergy: 41.27 })
      await drive(orgKey, 'DELETE', `/v1/webhooks/${hook.id}`)
    })

    /** `count` key events in one transaction: the key's name n1 ... n<count>. */
    async function renames(userId: string, count: number) {
      await sql`
        DO $$
        DECLARE k uuid := (SELECT k.id FROM charging_keys k JOIN users u ON u.id = k.user_id
                            WHERE u.external_id = ${sql.lit(userId)} AND k.organization_id = ${sql.lit(orgId)}::uuid);
        BEGIN
          FOR i IN 1..${sql.lit(count)} LOOP
            UPDATE charging_keys SET name = 'n' || i WHERE id = k;
          END LOOP;
        END $$`.execute(t.platform.db)
    }

    test('a receiver down for 1,000 events gets all of them, in order, once it is back', async () => {
      const hook = await register('/outage', ['charging_key.updated'])
      await drive(orgKey, 'POST', '/v1/users', { id: 'driver-outage' })
      receiver.down = true
      await renames('driver-outage', 1000)
      await step(3)
      const tried = receiver.calls.filter((c) => c.path === '/outage')
      assert.equal(tried.length, 3, 'one attempt per round: the queue waits behind its first delivery')
      assert.ok(tried.every((c) => c.answered === 503 && c.headers['webhook-id'] === tried[0]!.headers['webhook-id']))
      const waiting = (await drive(orgKey, 'GET', `/v1/webhooks/${hook.id}/deliveries?status=pending&limit=1`)).json()
      assert.ok(waiting.cursor)
      receiver.down = false
      await step(2)
      const events = receiver.delivered('/outage', hook.secret)
      assert.equal(events.length, 1000)
      assert.deepEqual(
        events.map((e) => e.data.name),
        Array.from({ length: 1000 }, (_, i) => `n${i + 1}`),
      )
      assert.equal(events[0]!.id, tried[0]!.headers['webhook-id'])
      const first = (await drive(orgKey, 'GET', `/v1/webhooks/${hook.id}/deliveries?limit=100`)).json()
      assert.equal(first.deliveries.length, 100)
      const oldest = (await drive(orgKey, 'GET', `/v1/webhooks/${hook.id}/deliveries?limit=100&cursor=${first.cursor}`)).json()
      assert.ok(oldest.deliveries.every((d: { status: string }) => d.status === 'delivered'))
      await drive(orgKey, 'DELETE', `/v1/webhooks/${hook.id}`)
    })

    test("one endpoint's failing receiver holds up neither another endpoint nor its own later recovery", async () => {
      const down = await register('/isolated-down', ['charging_key.updated'])
      const up = await register('/isolated-up', ['charging_key.updated'])
      receiver.downPaths.add('/isolated-down')
      await drive(orgKey, 'POST', '/v1/users', { id: 'driver-isolated' })
      await renames('driver-isolated', 3)
      await step(2)
      assert.deepEqual(
        receiver.delivered('/isolated-up', up.secret).map((e) => e.data.name),
        ['n1', 'n2', 'n3'],
      )
      assert.equal(receiver.delivered('/isolated-down', down.secret).length, 0)
      receiver.downPaths.delete('/isolated-down')
      await step()
      assert.deepEqual(
        receiver.delivered('/isolated-down', down.secret).map((e) => e.data.name),
        ['n1', 'n2', 'n3'],
      )
      await drive(orgKey, 'DELETE', `/v1/webhooks/${down.id}`)
      await drive(orgKey, 'DELETE', `/v1/webhooks/${up.id}`)
    })

    test('one delivery, or every delivery of a time range, is sent again with its webhook-id', async () => {
      const hook = await register('/replay', ['charging_key.updated'])
      await drive(orgKey, 'POST', '/v1/users', { id: 'driver-replay' })
      await renames('driver-replay', 5)
      await step()
      const sent = receiver.delivered('/replay', hook.secret)
      assert.equal(sent.length, 5)
      const listing = (await drive(orgKey, 'GET', `/v1/webhooks/${hook.id}/deliveries`)).json().deliveries
      const second = listing.find((d: { eventId: string }) => d.eventId === sent[1]!.id)
      const replayed = await drive(orgKey, 'POST', `/v1/webhooks/${hook.id}/deliveries/${second.id}/replay`, {})
      assert.equal(replayed.statusCode, 202, replayed.body)
      assert.equal(replayed.json().status, 'pending')
      await step()
      assert.deepEqual(
        receiver
          .delivered('/replay', hook.secret)
          .slice(5)
          .map((e) => [e.id, e.data.name]),
        [[sent[1]!.id, 'n2']],
      )
      const range = await drive(orgKey, 'POST', `/v1/webhooks/${hook.id}/replay`, {
        from: new Date(Date.now() - 3600_000).toISOString(),
        to: new Date(Date.now() + 3600_000).toISOString(),
      })
      assert.deepEqual(range.json(), { replayed: 5 })
      await step()
      assert.deepEqual(
        receiver
          .delivered('/replay', hook.secret)
          .slice(6)
          .map((e) => e.id),
        sent.map((e) => e.id),
      )
      const empty = await drive(orgKey, 'POST', `/v1/webhooks/${hook.id}/replay`, {
        from: '2020-01-01T00:00:00Z',
        to: '2020-01-02T00:00:00Z',
      })
      assert.deepEqual(empty.json(), { replayed: 0 })
      const backwards = await drive(orgKey, 'POST', `/v1/webhooks/${hook.id}/replay`, {
        from: '2020-01-02T00:00:00Z',
        to: '2020-01-01T00:00:00Z',
      })
      assert.equal(backwards.statusCode, 400)
      assert.equal(backwards.json().error.message, 'to: must be after from')
      const badCursor = await drive(orgKey, 'GET', `/v1/webhooks/${hook.id}/deliveries?cursor=bm90LWEtcG9zaXRpb24`)
      assert.equal(badCursor.statusCode, 400)
      assert.equal(badCursor.json().error.code, 'invalid_cursor')
      const foreign = await drive(otherKey, 'POST', `/v1/webhooks/${hook.id}/deliveries/${second.id}/replay`, {})
      assert.equal(foreign.statusCode, 404)
      await drive(orgKey, 'DELETE', `/v1/webhooks/${hook.id}`)
    })

    test('a delivery still failing 3 days after its first attempt is marked failed and the endpoint moves on', async () => {
      const hook = await register('/given-up', ['charging_key.updated'])
      await drive(orgKey, 'POST', '/v1/users', { id: 'driver-given-up' })
      await renames('driver-given-up', 2)
      await fanOutAll()
      const [stuck, next] = (await drive(orgKey, 'GET', `/v1/webhooks/${hook.id}/deliveries`)).json().deliveries.reverse()
      receiver.failing.add(stuck.eventId)
      await step()
      assert.equal(receiver.delivered('/given-up', hook.secret).length, 0)
      // Its first attempt three days ago (OPENPNC_WEBHOOK_RETRY_HOURS, default 72).
      await sql`UPDATE webhook_deliveries SET first_attempt_at = now() - interval '72 hours 1 minute' WHERE id = ${stuck.id}`.execute(
        t.platform.db,
      )
      await step()
      const failed = (await drive(orgKey, 'GET', `/v1/webhooks/${hook.id}/deliveries?status=failed`)).json().deliveries
      assert.equal(failed.length, 1)
      assert.equal(failed[0].id, stuck.id)
      assert.equal(failed[0].attempts, 2)
      assert.equal(failed[0].lastStatusCode, 503)
      assert.equal(failed[0].lastError, 'HTTP 503 from the endpoint: maintenance')
      assert.deepEqual(
        receiver.delivered('/given-up', hook.secret).map((e) => e.id),
        [next.eventId],
      )
      await drive(orgKey, 'DELETE', `/v1/webhooks/${hook.id}`)
    })

    test('after a rotation both secrets sign for the grace period', async () => {
      const hook = await register('/rotate', ['charging_key.updated'])
      const rotated = await drive(orgKey, 'POST', `/v1/webhooks/${hook.id}/rotate-secret`, {})
      assert.equal(rotated.statusCode, 200, rotated.body)
      const { secret, previousSecretValidUntil } = rotated.json()
      assert.notEqual(secret, hook.secret)
      assert.ok(new Date(previousSecretValidUntil).getTime() > Date.now() + 23 * 3600_000)
      await drive(orgKey, 'POST', '/v1/users', { id: 'driver-rotate' })
      await renames('driver-rotate', 1)
      await step()
      assert.equal(receiver.delivered('/rotate', secret).length, 1)
      assert.equal(receiver.delivered('/rotate', hook.secret).length, 1)
      await drive(orgKey, 'DELETE', `/v1/webhooks/${hook.id}`)
    })

    test('a switched-off endpoint is sent nothing, and what happens while it is off is not queued for it', async () => {
      const hook = await register('/paused', ['charging_key.updated'])
      await drive(orgKey, 'PATCH', `/v1/webhooks/${hook.id}`, { enabled: false })
      await drive(orgKey, 'POST', '/v1/users', { id: 'driver-paused' })
      await renames('driver-paused', 2)
      await step()
      assert.equal(receiver.delivered('/paused', hook.secret).length, 0)
      const enabled = await drive(orgKey, 'PATCH', `/v1/webhooks/${hook.id}`, { enabled: true })
      assert.equal(enabled.json().enabled, true)
      await renames('driver-paused', 1)
      await step()
      assert.deepEqual(
        receiver.delivered('/paused', hook.secret).map((e) => e.data.name),
        ['n1'],
        'events of a switched-off time are not fanned out to it; what comes after is',
      )
      await drive(orgKey, 'DELETE', `/v1/webhooks/${hook.id}`)
    })

    test('an organization without endpoints writes no partner events', async () => {
      const before = await sql<{ n: string }>`SELECT count(*)::text AS n FROM partner_events`.execute(t.platform.db)
      await drive(otherKey, 'POST', '/v1/users', { id: 'driver-quiet' })
      const after = await sql<{ n: string }>`SELECT count(*)::text AS n FROM partner_events`.execute(t.platform.db)
      assert.equal(after.rows[0]!.n, before.rows[0]!.n)
    })
  })
}
