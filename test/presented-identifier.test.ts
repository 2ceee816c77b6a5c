import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { keysNamedBy, parsePresentedIdentifier, type ClaimedKind } from '../src/core/authorization/presented.ts'
import { isRfidUid, normalizeRfidUid, RFID_UID_PATTERN } from '../src/core/identifiers/index.ts'
import { presentedOcpiToken } from '../src/protocols/ocpi/tokens.ts'

describe('the RFID UID rule', () => {
  test('a UID is 4, 7 or 10 bytes in hexadecimal, in any case', () => {
    for (const uid of ['04a1b2c3', '04A1B2C3', '04A1B2C3D4E5F6', '04a1b2c3d4e5f6a7b8c9']) assert.equal(isRfidUid(uid), true, uid)
  })
  test('other lengths, non-hex characters, separators and padding are not UIDs', () => {
    for (const text of [
      '',
      '04A1B2',
      '04A1B2C3D',
      '04A1B2C3D4E5F6A',
      '04A1B2G3',
      '04:A1:B2:C3',
      ' 04A1B2C3',
      '04A1B2C3\n',
      'DE8PSC0AD21B13',
    ]) {
      assert.equal(isRfidUid(text), false, JSON.stringify(text))
      assert.equal(normalizeRfidUid(text), null, JSON.stringify(text))
    }
  })
  test('a UID is stored upper-case', () => {
    assert.equal(normalizeRfidUid('04a1b2c3d4e5f6'), '04A1B2C3D4E5F6')
  })
  test("the request schema's pattern is the same rule", () => {
    assert.equal(new RegExp(RFID_UID_PATTERN.source).test('04a1b2c3'), true)
    assert.equal(new RegExp(RFID_UID_PATTERN.source).test('04a1b2c3d'), false)
  })
})

describe('parsing what a station presented', () => {
  const cases: Array<[string, ClaimedKind, unknown]> = [
    // a contract, in every spelling, names its 14-character identity
    ['DE8PSC0AD21B13P', 'emaid', { kind: 'emaid', identity: 'DE8PSC0AD21B13' }],
    ['de-8ps-c0ad21b13-p', 'emaid', { kind: 'emaid', identity: 'DE8PSC0AD21B13' }],
    ['DE8PSC0AD21B13', 'rfid-or-emaid', { kind: 'emaid', identity: 'DE8PSC0AD21B13' }],
    // an EMAID labelled as a card is still found as the contract
    ['DE8PSC0AD21B13P', 'rfid', { kind: 'emaid', identity: 'DE8PSC0AD21B13' }],
    // a card
    ['04a1b2c3', 'rfid', { kind: 'rfid', uid: '04A1B2C3' }],
    ['04a1b2c3', 'rfid-or-emaid', { kind: 'rfid', uid: '04A1B2C3' }],
    // 14 hex characters that also read as an EMAID: a card when said so, both when not said
    ['DEADBEEF123456', 'rfid', { kind: 'rfid', uid: 'DEADBEEF123456' }],
    ['deadbeef123456', 'rfid-or-emaid', { kind: 'rfid-or-emaid', uid: 'DEADBEEF123456', identity: 'DEADBEEF123456' }],
    ['DEADBEEF123456', 'emaid', { kind: 'emaid', identity: 'DEADBEEF123456' }],
    // a UID that is no EMAID, claimed as a contract
    ['04A1B2C3', 'emaid', { kind: 'unrecognised' }],
    // neither
    ['', 'rfid-or-emaid', { kind: 'unrecognised' }],
    ['not a token', 'rfid', { kind: 'unrecognised' }],
    ['DE8PS\u0000C0AD21B13', 'emaid', { kind: 'unrecognised' }],
  ]
  for (const [text, claimed, expected] of cases) {
    test(`${JSON.stringify(text)} claimed as ${claimed} is ${JSON.stringify(expected)}`, () => {
      assert.deepEqual(parsePresentedIdentifier(text, claimed), expected)
    })
  }

  test('OCPI: a token without type presumes a card but still finds a contract; RFID is a card; every other type a contract', () => {
    assert.deepEqual(presentedOcpiToken('DEADBEEF123456', undefined), {
      kind: 'rfid-or-emaid',
      uid: 'DEADBEEF123456',
      identity: 'DEADBEEF123456',
    })
    assert.deepEqual(presentedOcpiToken('DEADBEEF123456', 'RFID'), { kind: 'rfid', uid: 'DEADBEEF123456' })
    for (const type of ['EMAID', 'OTHER', 'APP_USER', 'AD_HOC_USER']) {
      assert.deepEqual(presentedOcpiToken('DEADBEEF123456', type), { kind: 'emaid', identity: 'DEADBEEF123456' }, type)
    }
  })
})

describe('the keys an identifier names', () => {
  const card = { key: { emaidIdentity: 'DE8PSC0AD21B13', keyIdentifier: 'DEADBEEF123456' } }
  const contract = { key: { emaidIdentity: 'DEADBEEF123456', keyIdentifier: null } }
  const otherCard = { key: { emaidIdentity: 'DEADBEEF123456', keyIdentifier: '04A1B2C3' } }

  test("a card's own key wins over a contract that reads the same", () => {
    const presented = parsePresentedIdentifier('DEADBEEF123456', 'rfid-or-emaid')
    assert.deepEqual(keysNamedBy(presented, [contract, card, otherCard]), [card])
  })
  test('without such a card every key of the contract is named', () => {
    const presented = parsePresentedIdentifier('DEADBEEF123456', 'rfid-or-emaid')
    assert.deepEqual(keysNamedBy(presented, [contract, otherCard]), [contract, otherCard])
  })
  test('a card claimed as such names no contract', () => {
    assert.deepEqual(keysNamedBy(parsePresentedIdentifier('DEADBEEF123456', 'rfid'), [contract, otherCard]), [])
  })
  test('an unrecognised identifier names no key', () => {
    assert.deepEqual(keysNamedBy(parsePresentedIdentifier('?', 'rfid-or-emaid'), [contract, card]), [])
  })
})
