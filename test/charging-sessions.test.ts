import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { OpenpncError } from '../src/core/errors.ts'
import { acknowledged, parseChargeDetailRecord, parseChargingNotification, refused } from '../src/protocols/oicp/records.ts'
import {
  advancedStatus,
  canonicalJson,
  contentSha256,
  decodeSessionCursor,
  encodeSessionCursor,
  SESSION_STATUSES,
} from '../src/services/sessions/model.ts'
import { assertValidOicp, exampleOf, validatorFor } from './oicp-spec.ts'

describe('the charging session store, its pure rules', () => {
  test('a status only moves forward: a late notification does not reopen a completed session', () => {
    assert.equal(advancedStatus('AUTHORIZED', 'ACTIVE'), 'ACTIVE')
    assert.equal(advancedStatus('ACTIVE', 'COMPLETED'), 'COMPLETED')
    assert.equal(advancedStatus('COMPLETED', 'ACTIVE'), 'COMPLETED')
    assert.equal(advancedStatus('STOPPED', 'ACTIVE'), 'STOPPED')
    for (const status of SESSION_STATUSES) assert.equal(advancedStatus(status, status), status)
  })

  test('the same content in another key order, or with nulls for absent fields, has the same fingerprint', () => {
    const a = {
      SessionID: 'x',
      ConsumedEnergy: 12.5,
      Identification: { RFIDMifareFamilyIdentification: { UID: '04A1' }, QRCodeIdentification: null },
    }
    const b = {
      Identification: { RFIDMifareFamilyIdentification: { UID: '04A1' } },
      ConsumedEnergy: 12.5,
      SessionID: 'x',
      MeterValueStart: null,
    }
    assert.equal(canonicalJson(a), canonicalJson(b))
    assert.equal(contentSha256(a), contentSha256(b))
    assert.match(contentSha256(a), /^[0-9a-f]{64}$/)
  })

  test('any changed value changes the fingerprint, inside arrays too', () => {
    const base = { SessionID: 'x', ConsumedEnergy: 12.5, MeterValueInBetween: { meterValues: [1, 2] } }
    assert.notEqual(contentSha256(base), contentSha256({ ...base, ConsumedEnergy: 12.6 }))
    assert.notEqual(contentSha256(base), contentSha256({ ...base, MeterValueInBetween: { meterValues: [2, 1] } }))
    assert.notEqual(contentSha256(base), contentSha256({ ...base, ConsumedEnergy: '12.5' }))
  })

  test('a listing cursor reads back as the session it ended on', () => {
    const cursor = { startedAt: new Date('2026-01-16T17:59:58.123Z'), id: '8f0d3b2e-1c5a-4b7c-9d2e-3a4b5c6d7e8f' }
    assert.deepEqual(decodeSessionCursor(encodeSessionCursor(cursor)), cursor)
  })

  for (const [name, text] of [
    ['random text', 'bm9wZQ'],
    ['a cursor without an ID', Buffer.from('2026-01-16T17:59:58.123Z').toString('base64url')],
    [
      'a cursor with a date that is no instant',
      Buffer.from('2026-02-30T00:00:00.000Z|8f0d3b2e-1c5a-4b7c-9d2e-3a4b5c6d7e8f').toString('base64url'),
    ],
    ['a cursor with more parts', Buffer.from('2026-01-16T17:59:58.123Z|8f0d3b2e-1c5a-4b7c-9d2e-3a4b5c6d7e8f|x').toString('base64url')],
  ]) {
    test(`${name} is refused as invalid_cursor`, () => {
      assert.throws(
        () => decodeSessionCursor(text!),
        (e: unknown) => e instanceof OpenpncError && e.code === 'invalid_cursor',
      )
    })
  }
})

describe('OICP charge detail records and charging notifications, read', () => {
  const cdr = exampleOf('eRoamingChargeDetailRecord') as Record<string, unknown>

  test("the spec's example CDR is read: its session, EVSE, times, energy and strongest identification", () => {
    const parsed = parseChargeDetailRecord(cdr)
    assert.ok(parsed.ok)
    assert.equal(parsed.sessionId, 'f98efba4-02d8-4fa0-b810-9a9d50d2c527')
    assert.equal(parsed.evseId, 'DE*XYZ*ETEST1')
    assert.equal(parsed.consumedEnergy, 10)
    assert.equal(parsed.identification?.method, 'PlugAndChargeIdentification')
    assert.equal(parsed.sessionStart.toISOString(), '2020-09-23T14:17:53.039Z')
    assert.equal(parsed.hubOperatorId, 'DE*ABC')
  })

  test('the content of a CDR is its spec fields: an extra field or an Id spelling does not change it', () => {
    const a = parseChargeDetailRecord(cdr)
    const { HubProviderID, ...rest } = cdr
    const b = parseChargeDetailRecord({ ...rest, HubProviderId: HubProviderID, CdrTransferTimestamp: '2020-09-24T00:00:00Z', Extra: null })
    assert.ok(a.ok && b.ok)
    assert.equal(contentSha256(a.content), contentSha256(b.content))
  })

  test('a CDR identified by a QR code only is read, with no identification to look up', () => {
    const parsed = parseChargeDetailRecord({
      ...cdr,
      Identification: { QRCodeIdentification: { EvcoID: 'DE-DCB-C12345678-X', PIN: '1234' } },
    })
    assert.ok(parsed.ok)
    assert.equal(parsed.identification, null)
  })

  test('a CDR whose end is before its start is refused with 022 naming the field', () => {
    const parsed = parseChargeDetailRecord({ ...cdr, SessionEnd: '2020-09-23T14:00:00Z' })
    assert.ok(!parsed.ok)
    assert.equal(parsed.refusal.code, '022')
    assert.match(parsed.refusal.description, /^SessionEnd: /)
  })

  test('a timestamp without an offset is read as UTC', () => {
    const parsed = parseChargeDetailRecord({ ...cdr, ChargingStart: '2020-09-23T14:17:53', ChargingEnd: '2020-09-23T15:00:00' })
    assert.ok(parsed.ok)
    assert.equal(parsed.chargingStart.toISOString(), '2020-09-23T14:17:53.000Z')
  })

  for (const type of ['Start', 'Progress', 'End', 'Error'] as const) {
    test(`the spec's example ${type} notification is read as a ${type}`, () => {
      const parsed = parseChargingNotification(exampleOf(`eRoamingChargingNotification${type}`))
      assert.ok(parsed.ok, JSON.stringify(parsed))
      assert.equal(parsed.type, type)
      assert.equal(parsed.sessionId, 'f98efba4-02d8-4fa0-b810-9a9d50d2c527')
    })
  }

  test('acknowledgments are spec payloads; a long reason is cut to the spec’s 200 characters', () => {
    const validate = validatorFor('eRoamingAcknowledgment')
    assertValidOicp(validate, acknowledged({ SessionID: 'f98efba4-02d8-4fa0-b810-9a9d50d2c527' }, 'stored once'))
    const long = refused({}, { code: '022', description: `SessionID: ${'x'.repeat(400)}` })
    assertValidOicp(validate, long)
    assert.equal(long.StatusCode.Description!.length, 200)
    assert.ok(!validate({ Result: 'yes', StatusCode: { Code: '000' } }), 'the validator refuses a wrong payload')
  })
})
