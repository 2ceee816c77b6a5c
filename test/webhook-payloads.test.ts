// Partner webhooks without a platform: the event names a subscription may use, the rule of a
// webhook URL, the payload built from each family's snapshot, and one signed call to a receiver.
import assert from 'node:assert/strict'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { Webhook } from 'standardwebhooks'
import { loadConfig } from '../src/config.ts'
import { OpenpncError } from '../src/core/errors.ts'
import { eventUuidOf, webhookEventId, webhookEventSelection, WEBHOOK_EVENT_TYPES } from '../src/core/webhooks/events.ts'
import { generateWebhookSecret } from '../src/core/webhooks/standard-webhooks.ts'
import { OutgoingHttp, partnerUrlProblem } from '../src/infra/http/outgoing.ts'
import { webhookData } from '../src/protocols/webhooks/payloads.ts'
import { answerExcerpt, sendWebhook, WebhookCallFailure } from '../src/protocols/webhooks/partner-webhooks.ts'
import { PartnerSimulator } from '../src/sim/partner.ts'

// The one rule of partner-given URLs, as webhooks and authorization endpoints apply it.
const strict = { allowHttp: false, allowPrivateAddresses: false }
const lenient = { allowHttp: true, allowPrivateAddresses: true }

function refusal(run: () => unknown): OpenpncError {
  try {
    run()
  } catch (error) {
    assert.ok(error instanceof OpenpncError)
    return error
  }
  assert.fail('not refused')
}

describe('event names of a subscription', () => {
  test('an unknown event name is refused naming events[i] and listing the valid names', () => {
    const error = refusal(() => webhookEventSelection(['session.started', 'session.finished']))
    assert.equal(error.code, 'unknown_event_type')
    assert.equal(error.details?.field, 'events[1]')
    assert.match(error.message, /^events\[1\]: "session.finished" is not an event type/)
    for (const name of WEBHOOK_EVENT_TYPES) assert.ok(error.message.includes(name), name)
  })

  test('the wildcard and every listed name are accepted, a repeat kept once', () => {
    assert.deepEqual(webhookEventSelection(['*', 'cdr.created', 'cdr.created']), ['*', 'cdr.created'])
    assert.deepEqual(webhookEventSelection([...WEBHOOK_EVENT_TYPES]), [...WEBHOOK_EVENT_TYPES])
  })

  test('an event ID is evt_ and the UUID, and reads back', () => {
    const uuid = '2b6f0cc9-04d2-4c9a-8a7e-3d1f5b4c6a98'
    assert.equal(webhookEventId(uuid), 'evt_2b6f0cc904d24c9a8a7e3d1f5b4c6a98')
    assert.equal(eventUuidOf(webhookEventId(uuid)), uuid)
  })
})

describe('the rule of a webhook URL', () => {
  test('a public https URL is accepted', () => {
    assert.equal(partnerUrlProblem('https://partner.example.com/hooks', strict), null)
    assert.equal(partnerUrlProblem('https://93.184.216.34/hooks', strict), null)
  })

  test('http is refused with the rule, unless in the sandbox or private partner URLs are allowed', () => {
    assert.match(partnerUrlProblem('http://partner.example.com/hooks', strict)!, /^must be an https URL/)
    assert.equal(partnerUrlProblem('http://partner.example.com/hooks', { allowHttp: true, allowPrivateAddresses: false }), null)
  })

  test('literal loopback, private and link-local addresses and localhost are refused unless allowed', () => {
    for (const url of [
      'https://127.0.0.1/hooks',
      'https://localhost:8443/hooks',
      'https://10.1.2.3/hooks',
      'https://192.168.0.10/hooks',
      'https://169.254.169.254/latest/meta-data',
      'https://[::1]/hooks',
      'https://[::ffff:127.0.0.1]/hooks',
      'https://[fe80::1]/hooks',
      'https://2130706433/hooks',
    ]) {
      assert.match(partnerUrlProblem(url, strict) ?? '', /^must not name a .* address/, url)
      assert.equal(partnerUrlProblem(url, lenient), null, url)
    }
  })

  test('credentials in the URL and things that are not URLs are refused', () => {
    assert.match(partnerUrlProblem('https://user:pw@partner.example.com/', strict)!, /credentials/)
    assert.match(partnerUrlProblem('partner.example.com/hooks', strict)!, /absolute URL/)
    assert.match(partnerUrlProblem('ftp://partner.example.com/', lenient)!, /http or https/)
  })
})

const keyRow = {
  id: '0d6b0a0e-4f1c-4a57-9a0b-6d1c2e3f4a5b',
  organization_id: '6f1c2e3f-4a5b-4d6c-8e7f-0a1b2c3d4e5f',
  user_id: '7a1c2e3f-4a5b-4d6c-8e7f-0a1b2c3d4e5f',
  type: 'plug_and_charge',
  contract_id: 'DE-8PS-C0AD21B13-P',
  emaid_identity: 'DE8PSC0AD21B13',
  pcid: 'WDBRF61J21F123456',
  rfid_uid: null,
  visual_number: null,
  name: null,
  enabled: false,
  valid_from: '2026-01-15T09:31:00+00:00',
  valid_to: '2028-01-15T00:00:00+00:00',
  valid_to_from_certificate: true,
  created_at: '2026-01-15T09:31:00+00:00',
  updated_at: '2026-01-16T08:00:00.123+00:00',
  deleted_at: null,
}
const sessionRow = {
  id: '8f0d3b2e-1c5a-4b7c-9d2e-3a4b5c6d7e8f',
  organization_id: keyRow.organization_id,
  user_id: keyRow.user_id,
  key_id: keyRow.id,
  protocol: 'oicp',
  issuer: '',
  external_id: 'b2c7e4a0-4d2f-4c55-9a47-7f0e2c1d9b31',
  authorization_reference: null,
  evse_id: 'DE*ION*E0042*1',
  operator_id: 'DE*ION',
  identification_method: 'PlugAndChargeIdentification',
  identification: 'DE-8PS-C0AD21B13-P',
  status: 'COMPLETED',
  started_at: '2026-01-16T17:59:58+00:00',
  ended_at: '2026-01-16T18:46:40+00:00',
  charging_started_at: '2026-01-16T18:00:20+00:00',
  charging_ended_at: '2026-01-16T18:45:02+00:00',
  energy_kwh: 41.27,
  authorized_at: '2026-01-16T17:59:58+00:00',
  stopped_at: null,
  created_at: '2026-01-16T17:59:58+00:00',
  updated_at: '2026-01-16T18:47:10+00:00',
  key_type: 'rfid',
  key_contract_id: 'DE-8PS-C0AD21B13-P',
  key_rfid_uid: '04A2B3C4D5E6F7',
  user_external_id: 'driver-42',
}

describe('payloads from snapshots', () => {
  test('a charging key event carries the key as the Drive API lists it, with its user', () => {
    const data = webhookData('charging_key.disabled', {
      ...keyRow,
      user_external_id: 'driver-42',
      contract_certificate: { status: 'active', not_after: '2028-01-15T00:00:00+00:00' },
      contract_publication: 'published',
    })
    assert.deepEqual(data, {
      userId: 'driver-42',
      keyId: 'DE-8PS-C0AD21B13-P',
      type: 'plug_and_charge',
      contractId: 'DE-8PS-C0AD21B13-P',
      pcid: 'WDBRF61J21F123456',
      enabled: false,
      name: null,
      validFrom: '2026-01-15T09:31:00.000Z',
      validTo: '2028-01-15T00:00:00.000Z',
      contractCertificate: { status: 'active', validTo: '2028-01-15T00:00:00.000Z' },
      contractPublication: 'published',
      created: '2026-01-15T09:31:00.000Z',
      updated: '2026-01-16T08:00:00.123Z',
    })
  })

  test('a session event carries the session as the Drive API presents it, numerics as text or numbers alike', () => {
    const data = webhookData('session.completed', sessionRow)
    assert.equal(data.userId, 'driver-42')
    assert.equal(data.status, 'completed')
    assert.deepEqual(data.key, { keyId: '04A2B3C4D5E6F7', type: 'rfid' })
    assert.equal(data.energyKwh, 41.27)
    assert.equal(data.protocolSessionId, sessionRow.external_id)
    assert.equal(data.started, '2026-01-16T17:59:58.000Z')
    assert.equal(data.stopped, null)
    assert.equal(webhookData('session.updated', { ...sessionRow, energy_kwh: '12.5' }).energyKwh, 12.5)
  })

  test('a cdr event carries its session and the record fields', () => {
    const data = webhookData('cdr.created', {
      session: sessionRow,
      cdr: {
        session_id: sessionRow.id,
        record: { SessionID: sessionRow.external_id, ConsumedEnergy: 41.27 },
        session_start: '2026-01-16T17:59:58+00:00',
        session_end: '2026-01-16T18:46:40+00:00',
        charging_start: null,
        charging_end: null,
        energy_kwh: '41.27',
        evse_id: 'DE*ION*E0042*1',
        operator_id: 'DE*ION',
        received_at: '2026-01-16T18:47:10+00:00',
      },
    })
    assert.equal(data.sessionId, sessionRow.id)
    assert.equal((data.session as { id: string }).id, sessionRow.id)
    assert.deepEqual(data.cdr, {
      received: '2026-01-16T18:47:10.000Z',
      sessionStart: '2026-01-16T17:59:58.000Z',
      sessionEnd: '2026-01-16T18:46:40.000Z',
      chargingStart: null,
      chargingEnd: null,
      energyKwh: 41.27,
      evseId: 'DE*ION*E0042*1',
      operatorId: 'DE*ION',
      record: { SessionID: sessionRow.external_id, ConsumedEnergy: 41.27 },
    })
  })

  test('a contract certificate event carries the certificate, its key and its publication', () => {
    const data = webhookData('contract_certificate.revoked', {
      user_external_id: 'driver-42',
      key_type: 'plug_and_charge',
      key_contract_id: 'DE-8PS-C0AD21B13-P',
      key_rfid_uid: null,
      emaid: 'DE8PSC0AD21B13P',
      pcid: 'WDBRF61J21F123456',
      serial_number: '5c1d0e27',
      not_before: '2026-01-15T09:26:00+00:00',
      not_after: '2028-01-15T00:00:00+00:00',
      status: 'revoked',
      revocation_reason: 'keyCompromise',
      revoked_at: '2026-03-01T10:00:00+00:00',
      issued_by: 'partner',
      renewed: false,
      publication: { state: 'failed', reason: 'refused', trace_id: 't-1', published_at: null },
    })
    assert.deepEqual(data, {
      userId: 'driver-42',
      keyId: 'DE-8PS-C0AD21B13-P',
      emaid: 'DE8PSC0AD21B13P',
      pcid: 'WDBRF61J21F123456',
      serialNumber: '5c1d0e27',
      notBefore: '2026-01-15T09:26:00.000Z',
      notAfter: '2028-01-15T00:00:00.000Z',
      status: 'revoked',
      revoked: '2026-03-01T10:00:00.000Z',
      revocationReason: 'keyCompromise',
      issuedBy: 'partner',
      renewed: false,
      publication: { state: 'failed', reason: 'refused', traceId: 't-1', publishedAt: null },
    })
  })

  test("an answer's excerpt keeps printable characters only, and little of them", () => {
    assert.equal(answerExcerpt(Buffer.from('bad\u0000\u001b[31m gateway\n')), 'bad [31m gateway')
    assert.equal(answerExcerpt(Buffer.from('x'.repeat(5000))).length, 103)
  })
})

describe('one webhook call', () => {
  const received: Array<{ headers: IncomingHttpHeaders; body: string }> = []
  let answerWith = 204
  const server = createServer((request, response) => {
    let body = ''
    request.on('data', (chunk) => (body += chunk))
    request.on('end', () => {
      received.push({ headers: request.headers, body })
      response.writeHead(answerWith, { 'content-type': 'text/plain' }).end(answerWith >= 300 ? 'down for maintenance\u0000' : '')
    })
  })
  let port = 0
  const open = new OutgoingHttp({ allowPrivateAddresses: true, maxAnswerBytes: 65536, timeoutMs: 5000 })
  const closed = new OutgoingHttp({ allowPrivateAddresses: false, maxAnswerBytes: 65536, timeoutMs: 5000 })
  before(async () => {
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })
  after(async () => {
    await Promise.all([open.close(), closed.close()])
    await new Promise((resolve) => server.close(resolve))
  })
  const call = (secrets: string[], url = `http://127.0.0.1:${port}/hooks`) => ({
    url,
    secrets,
    eventUuid: '2b6f0cc9-04d2-4c9a-8a7e-3d1f5b4c6a98',
    type: 'session.completed',
    occurredAt: new Date('2026-01-16T18:47:10Z'),
    snapshot: sessionRow,
  })

  test('the call verifies with the standardwebhooks library as its documentation shows, under either secret of a rotation', async () => {
    const [previous, current] = [generateWebhookSecret(), generateWebhookSecret()]
    received.length = 0
    answerWith = 204
    assert.deepEqual(await sendWebhook(open, call([current, previous])), { statusCode: 204 })
    const [{ headers, body }] = received as [{ headers: IncomingHttpHeaders; body: string }]
    assert.equal(headers['content-type'], 'application/json')
    assert.match(String(headers['user-agent']), /^openpnc\/\d+\.\d+\.\d+/)
    assert.equal(headers['webhook-id'], 'evt_2b6f0cc904d24c9a8a7e3d1f5b4c6a98')
    for (const secret of [current, previous]) {
      // the library's documented use: new Webhook(secret).verify(payload, headers)
      const payload = new Webhook(secret).verify(body, headers as Record<string, string>) as {
        type: string
        timestamp: string
        data: object
      }
      assert.equal(payload.type, 'session.completed')
      assert.equal(payload.timestamp, '2026-01-16T18:47:10.000Z')
      assert.equal((payload.data as { id: string }).id, sessionRow.id)
    }
    assert.throws(() => new Webhook(generateWebhookSecret()).verify(body, headers as Record<string, string>))
  })

  test('a non-2xx answer fails retryable with the status and a sanitized excerpt, never in the reason', async () => {
    answerWith = 503
    const error = await sendWebhook(open, call([generateWebhookSecret()])).then(
      () => assert.fail('no failure'),
      (e: unknown) => e,
    )
    assert.ok(error instanceof WebhookCallFailure)
    assert.equal(error.permanent, false)
    assert.equal(error.reason, 'HTTP 503 from the endpoint')
    assert.equal(error.statusCode, 503)
    assert.equal(error.excerpt, 'down for maintenance')
  })

  test('a host name that resolves to loopback is not reached when private addresses are not allowed', async () => {
    received.length = 0
    answerWith = 204
    const error = await sendWebhook(closed, call([generateWebhookSecret()], `http://localhost:${port}/hooks`)).then(
      () => assert.fail('reached'),
      (e: unknown) => e,
    )
    assert.ok(error instanceof WebhookCallFailure)
    assert.match(error.reason, /target address (127\.0\.0\.1|::1) is not allowed \(loopback\)/)
    assert.equal(received.length, 0)
  })
})

describe('the simulated partner', () => {
  const secret = generateWebhookSecret()
  const printed: string[] = []
  const partner = new PartnerSimulator({ secret, onEvent: (e) => printed.push(JSON.stringify(e)) })
  const http = new OutgoingHttp({ allowPrivateAddresses: true, maxAnswerBytes: 65536, timeoutMs: 5000 })
  let url = ''
  before(async () => {
    url = `${await partner.start()}/webhooks`
  })
  after(async () => {
    await http.close()
    await partner.stop()
  })
  const event = (secrets: string[]) => ({
    url,
    secrets,
    eventUuid: '3c6f0cc9-04d2-4c9a-8a7e-3d1f5b4c6a98',
    type: 'session.completed',
    occurredAt: new Date('2026-01-16T18:47:10Z'),
    snapshot: sessionRow,
  })

  test('verifies a signed call and prints the event as a JSON line', async () => {
    assert.deepEqual(await sendWebhook(http, event([secret])), { statusCode: 204 })
    assert.equal(printed.length, 1)
    const line = JSON.parse(printed[0]!)
    assert.equal(line.id, 'evt_3c6f0cc904d24c9a8a7e3d1f5b4c6a98')
    assert.equal(line.type, 'session.completed')
    assert.equal(line.data.id, sessionRow.id)
  })

  test('refuses a call signed with another secret, and fails on demand to show retries', async () => {
    const refused = await sendWebhook(http, event([generateWebhookSecret()])).catch((e: WebhookCallFailure) => e)
    assert.equal((refused as WebhookCallFailure).statusCode, 401)
    partner.failWith = 503
    const failed = await sendWebhook(http, event([secret])).catch((e: WebhookCallFailure) => e)
    assert.equal((failed as WebhookCallFailure).statusCode, 503)
    partner.failWith = undefined
    assert.equal(printed.length, 1)
  })
})

test('the retry window of webhook deliveries is read from OPENPNC_WEBHOOK_RETRY_HOURS, 72 by default', () => {
  assert.equal(loadConfig({}).webhookRetryHours, 72)
  assert.equal(loadConfig({ OPENPNC_WEBHOOK_RETRY_HOURS: '0.25' }).webhookRetryHours, 0.25)
  assert.throws(() => loadConfig({ OPENPNC_WEBHOOK_RETRY_HOURS: '-1' }), /OPENPNC_WEBHOOK_RETRY_HOURS/)
})
