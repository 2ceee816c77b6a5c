import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  assertValidOicp,
  exampleOf,
  normalizeHubjectPattern,
  oicpErrors,
  oicpSchemaFiles,
  oicpSchemaNames,
  schemasFailingWithoutNormalisation,
  unresolvedOicpRefs,
  validatorFor,
  validatorForFile,
  withoutNulls,
} from './oicp-spec.ts'

// Valid payloads come from the spec's own `example:` where it has one; the EVSE data record is
// written by hand from the YAML. Every valid case is paired with a broken one whose error must name
// the field, so a validator that accepts everything fails these tests.

type Payload = Record<string, unknown>

function example(name: string): Payload {
  const value = exampleOf(name)
  assert.ok(value !== undefined && typeof value === 'object', `${name} has an example in the spec`)
  return value as Payload
}

/** Asserts the payload is rejected and some error line names this field (instancePath or missing property). */
function assertRejectedNaming(name: string, payload: unknown, field: string): void {
  const errors = oicpErrors(validatorFor(name), payload)
  assert.ok(errors.length > 0, `${name}: broken payload was accepted`)
  assert.ok(
    errors.some((line) => line.includes(field)),
    `${name}: no error names '${field}':\n${errors.join('\n')}`,
  )
}

/** A charging station of CPO DE*ABC as Hubject's eRoamingPullEvseData 2.3 returns it. */
function evseDataRecord(overrides: Payload = {}): Payload {
  return {
    deltaType: 'insert',
    lastUpdate: '2026-01-01T10:00:00+01:00',
    EvseID: 'DE*ABC*E0001*01',
    ChargingPoolID: 'DE*ABC*P0001',
    ChargingStationNames: [{ lang: 'de', value: 'Ladepark Musterstadt' }],
    Address: { Country: 'DEU', City: 'Musterstadt', Street: 'Hauptstraße', PostalCode: '12345', HouseNum: '1', TimeZone: 'UTC+01:00' },
    GeoCoordinates: { DecimalDegree: { Latitude: '52.520008', Longitude: '13.404954' } },
    Plugs: ['CCS Combo 2 Plug (Cable Attached)'],
    ChargingFacilities: [{ PowerType: 'DC', Power: 150, ChargingModes: ['Mode_4'] }],
    RenewableEnergy: true,
    CalibrationLawDataAvailability: 'External',
    AuthenticationModes: ['NFC RFID Classic', 'PnC', 'REMOTE'],
    PaymentOptions: ['Contract'],
    ValueAddedServices: ['None'],
    Accessibility: 'Free publicly accessible',
    HotlinePhoneNumber: '+4930123456',
    IsOpen24Hours: true,
    IsHubjectCompatible: true,
    DynamicInfoAvailable: 'auto',
    OperatorID: 'DE*ABC',
    OperatorName: 'ABC Charging',
    ...overrides,
  }
}

function evseDataPage(records: Payload[]): Payload {
  return {
    content: records,
    number: 0,
    size: 2000,
    totalElements: records.length,
    last: true,
    totalPages: 1,
    first: true,
    numberOfElements: records.length,
    StatusCode: { Code: '000' },
  }
}

describe('OICP 2.3 EMP specification', () => {
  test('every $ref in the copied specification resolves to a file in the repository', () => {
    assert.deepEqual(unresolvedOicpRefs(), [])
  })

  test('all 65 named schemas compile, and so do the 68 schema files including the three the index does not name', () => {
    const names = oicpSchemaNames()
    assert.equal(names.length, 65)
    for (const name of names) assert.equal(typeof validatorFor(name), 'function', name)
    const files = oicpSchemaFiles()
    assert.equal(files.length, 68)
    for (const file of files) assert.equal(typeof validatorForFile(file.slice(file.lastIndexOf('/') + 1)), 'function', file)
  })

  test('taken as published, 36 of the 65 schemas do not compile under a Unicode-mode regex engine', () => {
    const failing = schemasFailingWithoutNormalisation()
    assert.equal(failing.length, 36)
    for (const name of ['ProviderID', 'EvcoID', 'GeoCoordinates', 'eRoamingAuthorizeStart', 'eRoamingChargeDetailRecord']) {
      assert.ok(failing.includes(name), name)
    }
    assert.ok(!failing.includes('EvseID') && !failing.includes('SessionID'))
  })

  test('every example the spec carries is valid against its own schema', () => {
    let checked = 0
    for (const name of oicpSchemaNames()) {
      const value = exampleOf(name)
      if (value === undefined) continue
      assertValidOicp(validatorFor(name), value, `example of ${name}`)
      checked++
    }
    assert.equal(checked, 47)
  })
})

describe('normalizeHubjectPattern', () => {
  test('an escaped hyphen outside a class becomes a plain hyphen and matches what Hubject means', () => {
    const published = String.raw`^[A-Za-z]{2}\-?[A-Za-z0-9]{3}$`
    assert.throws(() => new RegExp(published, 'u'), SyntaxError)
    const normalized = normalizeHubjectPattern(published)
    assert.equal(normalized, '^[A-Za-z]{2}-?[A-Za-z0-9]{3}$')
    const re = new RegExp(normalized, 'u')
    assert.ok(re.test('DE-OPN'))
    assert.ok(re.test('DEOPN'))
    assert.ok(!re.test('DE_OPN'))
    assert.ok(!re.test('DE--OPN'))
  })

  test('an escaped comma becomes a plain comma', () => {
    const published = String.raw`^\d\s*\,?\s*\d$`
    assert.throws(() => new RegExp(published, 'u'), SyntaxError)
    const re = new RegExp(normalizeHubjectPattern(published), 'u')
    assert.ok(re.test('1, 2'))
    assert.ok(re.test('1 2'))
    assert.ok(!re.test('1; 2'))
  })

  test('an escaped hyphen inside a class is kept, so it stays a literal and never becomes a range', () => {
    const published = String.raw`^[A-Z][\*|\-]?[0-9]$`
    assert.equal(normalizeHubjectPattern(published), published)
    const re = new RegExp(published, 'u')
    assert.ok(re.test('A-1') && re.test('A*1') && re.test('A1'))
    assert.equal(normalizeHubjectPattern(String.raw`[a\-z]`), String.raw`[a\-z]`)
    assert.ok(!new RegExp(normalizeHubjectPattern(String.raw`^[a\-z]$`), 'u').test('b'))
  })

  test('other escapes (\\*, \\., \\+, \\d, \\\\) are left as they are', () => {
    const published = String.raw`^\+?[0-9]{1,3}\*\d\.\\$`
    assert.equal(normalizeHubjectPattern(published), published)
  })

  test('schemas with normalised patterns still check them: a ProviderID and an EvcoID with the wrong separator are rejected', () => {
    assert.deepEqual(oicpErrors(validatorFor('ProviderID'), 'DE-OPN'), [])
    assert.deepEqual(oicpErrors(validatorFor('ProviderID'), 'DEOPN'), [])
    assert.match(oicpErrors(validatorFor('ProviderID'), 'DE_OPN').join('\n'), /must match pattern/)
    assert.deepEqual(oicpErrors(validatorFor('EvcoID'), 'DE-OPN-C12345678-X'), [])
    assert.deepEqual(oicpErrors(validatorFor('EvcoID'), 'DE*OPN*123456*X'), [])
    assert.match(oicpErrors(validatorFor('EvcoID'), 'DE_OPN_C12345678_X').join('\n'), /must match pattern/)
    const google = validatorFor('GeoCoordinates')
    assert.deepEqual(oicpErrors(google, { Google: { Coordinates: '47.662249, 9.360922' } }), [])
    assertRejectedNaming('GeoCoordinates', { Google: { Coordinates: '47.662249; 9.360922' } }, '/Google/Coordinates')
  })

  test('string lengths Hubject wrote as maximum are enforced as maxLength', () => {
    const payload = example('eRoamingAuthorizeStart')
    assertValidOicp(validatorFor('eRoamingAuthorizeStart'), { ...payload, CPOPartnerSessionID: 'x'.repeat(250) })
    assertRejectedNaming('eRoamingAuthorizeStart', { ...payload, CPOPartnerSessionID: 'x'.repeat(251) }, '/CPOPartnerSessionID')
  })
})

describe('OICP 2.3 key messages: the spec example passes, a broken one is rejected naming the field', () => {
  test('eRoamingAuthorizeStart request: an OperatorID that is not one rejects', () => {
    assertValidOicp(validatorFor('eRoamingAuthorizeStart'), example('eRoamingAuthorizeStart'))
    assertRejectedNaming('eRoamingAuthorizeStart', { ...example('eRoamingAuthorizeStart'), OperatorID: 'DE/ABC' }, '/OperatorID')
  })

  test('eRoamingAuthorizationStart response: an unknown AuthorizationStatus rejects', () => {
    assertValidOicp(validatorFor('eRoamingAuthorizationStart'), example('eRoamingAuthorizationStart'))
    assertRejectedNaming(
      'eRoamingAuthorizationStart',
      { ...example('eRoamingAuthorizationStart'), AuthorizationStatus: 'Maybe' },
      '/AuthorizationStatus',
    )
  })

  test('eRoamingAuthorizeStop request: a missing SessionID rejects', () => {
    assertValidOicp(validatorFor('eRoamingAuthorizeStop'), example('eRoamingAuthorizeStop'))
    const { SessionID: _dropped, ...withoutSession } = example('eRoamingAuthorizeStop')
    assertRejectedNaming('eRoamingAuthorizeStop', withoutSession, "'SessionID'")
  })

  test('eRoamingAuthorizationStop response: a StatusCode without Code rejects', () => {
    assertValidOicp(validatorFor('eRoamingAuthorizationStop'), example('eRoamingAuthorizationStop'))
    assertRejectedNaming(
      'eRoamingAuthorizationStop',
      { ...example('eRoamingAuthorizationStop'), StatusCode: { Description: 'x' } },
      "/StatusCode must have required property 'Code'",
    )
  })

  test('eRoamingChargeDetailRecord: a ChargingStart without a time zone rejects', () => {
    assertValidOicp(validatorFor('eRoamingChargeDetailRecord'), example('eRoamingChargeDetailRecord'))
    assertRejectedNaming(
      'eRoamingChargeDetailRecord',
      { ...example('eRoamingChargeDetailRecord'), ChargingStart: '2026-01-01 10:00' },
      '/ChargingStart',
    )
  })

  test('eRoamingChargingNotificationStart: an unknown Type rejects', () => {
    assertValidOicp(validatorFor('eRoamingChargingNotificationStart'), example('eRoamingChargingNotificationStart'))
    assertRejectedNaming('eRoamingChargingNotificationStart', { ...example('eRoamingChargingNotificationStart'), Type: 'Begin' }, '/Type')
  })

  test('eRoamingPushAuthenticationData: a lower-case RFID UID rejects', () => {
    const valid = example('eRoamingPushAuthenticationData')
    assertValidOicp(validatorFor('eRoamingPushAuthenticationData'), valid)
    const broken = structuredClone(valid) as {
      ProviderAuthenticationData: { AuthenticationDataRecord: Array<{ Identification: Payload }> }
    }
    broken.ProviderAuthenticationData.AuthenticationDataRecord[0]!.Identification = { RFIDMifareFamilyIdentification: { UID: '1234abcd' } }
    assertRejectedNaming(
      'eRoamingPushAuthenticationData',
      broken,
      '/ProviderAuthenticationData/AuthenticationDataRecord/0/Identification/RFIDMifareFamilyIdentification/UID',
    )
  })

  test('eRoamingPullEvseData response (eRoamingEVSEData page of records): an unknown plug type rejects', () => {
    assertValidOicp(validatorFor('eRoamingEVSEData'), evseDataPage([evseDataRecord()]))
    assertRejectedNaming('eRoamingEVSEData', evseDataPage([evseDataRecord({ Plugs: ['Type 2 Socket'] })]), '/content/0/Plugs/0')
  })

  test('PullEvseDataRecord and EvseDataRecord: a record without EvseID, or with a bad one, rejects', () => {
    assertValidOicp(validatorFor('PullEvseDataRecord'), evseDataRecord())
    const { deltaType: _d, lastUpdate: _l, ...pushed } = evseDataRecord()
    assertValidOicp(validatorFor('EvseDataRecord'), pushed)
    const { EvseID: _e, ...withoutEvse } = evseDataRecord()
    assertRejectedNaming('PullEvseDataRecord', withoutEvse, "'EvseID'")
    assertRejectedNaming('EvseDataRecord', { ...pushed, EvseID: 'not an evse' }, '/EvseID')
  })
})

describe('withoutNulls', () => {
  test('an AuthorizeStart with explicit nulls is rejected as received and validates once the nulls are removed', () => {
    const received = {
      ...example('eRoamingAuthorizeStart'),
      EvseID: null,
      PartnerProductID: null,
      Identification: { RFIDMifareFamilyIdentification: { UID: '1234ABCD' }, QRCodeIdentification: null },
    }
    assertRejectedNaming('eRoamingAuthorizeStart', received, '/EvseID')
    const cleaned: Payload = withoutNulls<Payload>(received)
    assertValidOicp(validatorFor('eRoamingAuthorizeStart'), cleaned)
    assert.ok(!('EvseID' in cleaned) && !('QRCodeIdentification' in (cleaned.Identification as Payload)))
    assert.equal(received.EvseID, null, 'the received payload is not modified')
  })

  test('fields the spec does not declare (extra paging fields) are accepted: input is tolerant', () => {
    const page = {
      ...evseDataPage([evseDataRecord({ Plugs: ['Type 2 Outlet'] })]),
      pageable: { pageNumber: 0, pageSize: 2000 },
      sort: null,
    }
    assertValidOicp(validatorFor('eRoamingEVSEData'), withoutNulls(page))
  })

  test('keeps every non-null value, including false, 0, empty strings and nulls inside arrays', () => {
    assert.deepEqual(withoutNulls({ a: false, b: 0, c: '', d: [null, 1], e: { f: null, g: 'x' }, h: null }), {
      a: false,
      b: 0,
      c: '',
      d: [null, 1],
      e: { g: 'x' },
    })
  })
})
