import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  authorizationStartAnswer,
  authorizationStopAnswer,
  oicpField,
  parseAuthorizeStart,
  parseAuthorizeStop,
  type OutcomeAllowed,
} from '../src/protocols/oicp/authorization.ts'
import { evcoIdOf, formatEvcoId, isEvcoId } from '../src/protocols/oicp/evco-id.ts'
import { GeoCoordinatesError, parseGeoCoordinates } from '../src/protocols/oicp/geo.ts'
import { CALLED, calledUrl, matchServed, OICP_STATUS, SERVED, servedRoutes } from '../src/protocols/oicp/protocol.ts'

const PROVIDER = 'DE-8PS'
const SESSION = 'b2688855-7f00-0002-6d8e-48d883f6abb6'
const SPEC_CODES = new Set([
  '000',
  '001',
  '002',
  '009',
  '017',
  '018',
  '019',
  '021',
  '022',
  '101',
  '102',
  '103',
  '105',
  '106',
  '110',
  '120',
  '121',
  '122',
  '200',
  '210',
  '300',
  '310',
  '320',
  '400',
  '501',
  '510',
  '601',
  '602',
  '603',
  '604',
  '700',
])

const start = (identification: unknown, extra: Record<string, unknown> = {}) => ({
  OperatorID: 'DE*ABC',
  EvseID: 'DE*ABC*E123',
  SessionID: SESSION,
  CPOPartnerSessionID: 'cpo-1',
  EMPPartnerSessionID: null,
  Identification: identification,
  ...extra,
})

describe('OICP operations table', () => {
  const served: Array<[keyof typeof SERVED, string, string, string]> = [
    ['authorizeStart', '/charging/v21/operators/{operatorID}/authorize/start', 'eRoamingAuthorizeStart', 'eRoamingAuthorizationStart'],
    ['authorizeStop', '/charging/v21/operators/{operatorID}/authorize/stop', 'eRoamingAuthorizeStop', 'eRoamingAuthorizationStop'],
    [
      'chargeDetailRecord',
      '/cdrmgmt/v22/operators/{operatorID}/charge-detail-record',
      'eRoamingChargeDetailRecord',
      'eRoamingAcknowledgment',
    ],
    ['chargingNotification', '/notificationmgmt/v11/charging-notifications', 'eRoamingChargingNotificationStart', 'eRoamingAcknowledgment'],
  ]
  for (const [id, path, request, answer] of served) {
    test(`Hubject calls ${id} at the spec's path ${path} with ${request}, answered with ${answer}`, () => {
      assert.equal(SERVED[id].method, 'POST')
      assert.equal(SERVED[id].path, path)
      assert.ok((SERVED[id].request as readonly string[]).includes(request))
      assert.deepEqual(SERVED[id].answer, [answer])
    })
  }

  const called: Array<[keyof typeof CALLED, string, string]> = [
    ['pushAuthenticationData', '/authdata/v21/providers/{providerID}/push-request', 'eRoamingPushAuthenticationData'],
    ['pullEvseData', '/evsepull/v23/providers/{providerID}/data-records', 'eRoamingPullEVSEData'],
    ['pullEvseStatus', '/evsepull/v21/providers/{providerID}/status-records', 'eRoamingPullEVSEStatus'],
  ]
  for (const [id, path, request] of called) {
    test(`we call ${id} at the spec's path ${path} with ${request}`, () => {
      assert.equal(CALLED[id].path, path)
      assert.ok((CALLED[id].request as readonly string[]).includes(request))
    })
  }

  test('a called URL keeps the base path, percent-encodes the provider ID and adds the paging query', () => {
    assert.equal(
      calledUrl('https://service-qa.hubject.com/api/oicp/', 'pullEvseData', { providerID: 'DE*8PS' }, { page: 0, size: 2000 }),
      'https://service-qa.hubject.com/api/oicp/evsepull/v23/providers/DE*8PS/data-records?page=0&size=2000',
    )
    assert.equal(
      calledUrl('https://hub.example/api/oicp', 'pushAuthenticationData', { providerID: 'DE 8PS' }),
      'https://hub.example/api/oicp/authdata/v21/providers/DE%208PS/push-request',
    )
  })

  test('a called URL without its path parameter is refused with the parameter named', () => {
    assert.throws(() => calledUrl('https://hub.example', 'pullEvseStatus', { providerID: '' }), /providerID is required/)
  })

  const matches: Array<[string, string, string, string | null, Record<string, string>?]> = [
    ['POST', '/oicp/charging/v21/operators/DE*ABC/authorize/start', '/oicp', 'authorizeStart', { operatorID: 'DE*ABC' }],
    ['POST', '/oicp/charging/v21/operators/DE%2AABC/authorize/stop/', '/oicp/', 'authorizeStop', { operatorID: 'DE*ABC' }],
    ['post', '/cdrmgmt/v22/operators/%2B49*536/charge-detail-record?x=1', '', 'chargeDetailRecord', { operatorID: '+49*536' }],
    ['POST', '/oicp/notificationmgmt/v11/charging-notifications/', '/oicp', 'chargingNotification', {}],
    ['GET', '/oicp/charging/v21/operators/DE*ABC/authorize/start', '/oicp', null],
    ['POST', '/charging/v21/operators/DE*ABC/authorize/start', '/oicp', null],
    ['POST', '/oicp/charging/v21/operators//authorize/start', '/oicp', null],
    ['POST', '/oicp/charging/v21/operators/DE*ABC/authorize/start//', '/oicp', null],
    ['POST', '/oicp/charging/v20/operators/DE*ABC/authorize/start', '/oicp', null],
    ['POST', '/oicp/charging/v21/operators/%E0%A4%A/authorize/start', '/oicp', null],
  ]
  for (const [method, path, prefix, operationId, params] of matches) {
    test(`${method} ${path} below ${JSON.stringify(prefix)} is ${operationId ?? 'no served operation'}`, () => {
      const found = matchServed(method, path, prefix)
      assert.deepEqual(found, operationId === null ? null : { operationId, params })
    })
  }

  test('the served routes are listed below the prefix, one per operation', () => {
    assert.deepEqual(
      servedRoutes('/oicp').map((r) => `${r.method} ${r.path}`),
      Object.values(SERVED).map((op) => `POST /oicp${op.path}`),
    )
  })

  test("every status code we answer with is in the spec's StatusCode list", () => {
    for (const { code } of Object.values(OICP_STATUS)) assert.ok(SPEC_CODES.has(code), code)
  })
})

describe('OICP AuthorizeStart: the identification read into the core identifier', () => {
  const cases: Array<[string, unknown, unknown]> = [
    [
      'a Plug&Charge EvcoID with dashes',
      { PlugAndChargeIdentification: { EvcoID: 'DE-8PS-C0AD21B13-P' } },
      { kind: 'emaid', identity: 'DE8PSC0AD21B13' },
    ],
    [
      'a Plug&Charge EvcoID with stars',
      { PlugAndChargeIdentification: { EvcoID: 'DE*8PS*C0AD21B13*P' } },
      { kind: 'emaid', identity: 'DE8PSC0AD21B13' },
    ],
    [
      'a compact lower-case remote EvcoID',
      { RemoteIdentification: { EvcoID: 'de8psc0ad21b13' } },
      { kind: 'emaid', identity: 'DE8PSC0AD21B13' },
    ],
    ['a DIN EvcoID, which no EMAID of ours is', { PlugAndChargeIdentification: { EvcoID: 'DE*8EO*Aet5e4*3' } }, { kind: 'unrecognised' }],
    [
      'a Mifare card UID in lower case',
      { RFIDMifareFamilyIdentification: { UID: '7568290fff765f' } },
      { kind: 'rfid', uid: '7568290FFF765F' },
    ],
    [
      'a card labelled with a contract ID',
      { RFIDMifareFamilyIdentification: { UID: 'DE8PSC0AD21B13P' } },
      { kind: 'emaid', identity: 'DE8PSC0AD21B13' },
    ],
    ['a UID of the wrong length', { RFIDMifareFamilyIdentification: { UID: '1234ABC' } }, { kind: 'unrecognised' }],
    [
      'Plug&Charge before a card when both are given, nulls ignored',
      {
        QRCodeIdentification: null,
        RFIDMifareFamilyIdentification: { UID: '1234ABCD' },
        PlugAndChargeIdentification: { EvcoID: 'DE8PSC0AD21B13', Extra: 1 },
      },
      { kind: 'emaid', identity: 'DE8PSC0AD21B13' },
    ],
  ]
  for (const [name, identification, presented] of cases) {
    test(`${name} is read as ${JSON.stringify(presented)}`, () => {
      const parsed = parseAuthorizeStart(start(identification, { Unexpected: { paging: true }, PartnerProductID: null }))
      assert.equal(parsed.ok, true)
      assert.ok(parsed.ok)
      assert.deepEqual(parsed.presented, presented)
      assert.deepEqual(parsed.session, { SessionID: SESSION, CPOPartnerSessionID: 'cpo-1' })
      assert.equal(parsed.operatorId, 'DE*ABC')
      assert.equal(parsed.evseId, 'DE*ABC*E123')
    })
  }

  const refused: Array<[string, unknown, string, RegExp]> = [
    ['a QR code alone', start({ QRCodeIdentification: { EvcoID: 'DE-8PS-C0AD21B13-P', PIN: '1234' } }), '101', /QR code/],
    ['no identification', start(undefined), '022', /^Identification: is required/],
    ['an empty identification', start({ RFIDIdentification: null }), '022', /^Identification: must carry/],
    [
      'a Plug&Charge option without EvcoID',
      start({ PlugAndChargeIdentification: { EvcoID: null } }),
      '022',
      /PlugAndChargeIdentification\.EvcoID/,
    ],
    ['a card UID that is a number', start({ RFIDMifareFamilyIdentification: { UID: 1234 } }), '022', /RFIDMifareFamilyIdentification\.UID/],
    ['a missing OperatorID', start({ RemoteIdentification: { EvcoID: 'DE8PSC0AD21B13' } }, { OperatorID: null }), '022', /^OperatorID/],
    [
      'a SessionID that is no GUID',
      start({ RemoteIdentification: { EvcoID: 'DE8PSC0AD21B13' } }, { SessionID: 'abc' }),
      '022',
      /^SessionID: must be a GUID/,
    ],
    [
      'a CPOPartnerSessionID over 250 characters',
      start({ RemoteIdentification: { EvcoID: 'DE8PSC0AD21B13' } }, { CPOPartnerSessionID: 'x'.repeat(251) }),
      '022',
      /^CPOPartnerSessionID/,
    ],
    ['a body that is an array', [], '022', /^body/],
  ]
  for (const [name, body, code, description] of refused) {
    test(`${name} is answered NotAuthorized ${code} naming why`, () => {
      const answer = authorizationStartAnswer(parseAuthorizeStart(body), null, PROVIDER)
      assert.equal(answer.AuthorizationStatus, 'NotAuthorized')
      assert.equal(answer.StatusCode.Code, code)
      assert.match(answer.StatusCode.Description ?? '', description)
      assert.equal(answer.ProviderID, PROVIDER)
      assert.equal(answer.AuthorizationStopIdentifications, undefined)
    })
  }

  test('a field is read under its ID and its Id spelling, and an explicit null is absent', () => {
    const rows: Array<[Record<string, unknown>, string, unknown]> = [
      [{ HubProviderID: 'DE-DCB' }, 'HubProviderID', 'DE-DCB'],
      [{ HubProviderId: 'DE-DCB' }, 'HubProviderID', 'DE-DCB'],
      [{ ChargingStationId: 'S1' }, 'ChargingStationID', 'S1'],
      [{ ChargingStationID: 'S1' }, 'ChargingStationId', 'S1'],
      [{ ChargingStationID: null, ChargingStationId: 'S2' }, 'ChargingStationID', 'S2'],
      [{ HubProviderID: null }, 'HubProviderID', undefined],
    ]
    for (const [record, name, value] of rows) assert.equal(oicpField(record, name), value, JSON.stringify(record))
  })

  test('an EvseID and CPO session sent as ...Id are read too', () => {
    const parsed = parseAuthorizeStart({
      OperatorID: 'DE*ABC',
      EvseId: 'DE*ABC*E1',
      SessionId: SESSION,
      Identification: { RemoteIdentification: { EvcoID: 'DE8PSC0AD21B13' } },
    })
    assert.ok(parsed.ok)
    assert.equal(parsed.evseId, 'DE*ABC*E1')
    assert.equal(parsed.session.SessionID, SESSION)
  })
})

describe('OICP AuthorizeStart: the decision answered', () => {
  const pnc = parseAuthorizeStart(start({ PlugAndChargeIdentification: { EvcoID: 'DE-8PS-C0AD21B13-P' } }))
  const remote = parseAuthorizeStart(start({ RemoteIdentification: { EvcoID: 'DE8PSC0AD21B13P' } }))
  const card = parseAuthorizeStart(start({ RFIDMifareFamilyIdentification: { UID: '1234abcd' } }))

  test('an allowed Plug&Charge start is Authorized 000 with our ProviderID, the session IDs echoed and the EvcoID allowed to stop', () => {
    assert.deepEqual(authorizationStartAnswer(pnc, 'ALLOWED', PROVIDER), {
      SessionID: SESSION,
      CPOPartnerSessionID: 'cpo-1',
      ProviderID: PROVIDER,
      AuthorizationStatus: 'Authorized',
      StatusCode: { Code: '000', Description: 'Success' },
      AuthorizationStopIdentifications: [{ PlugAndChargeIdentification: { EvcoID: 'DE-8PS-C0AD21B13-P' } }],
    })
  })

  test('an allowed card start may be stopped by the same card, its UID in upper case', () => {
    const answer = authorizationStartAnswer(card, 'ALLOWED', PROVIDER)
    assert.equal(answer.StatusCode.Code, '000')
    assert.deepEqual(answer.AuthorizationStopIdentifications, [{ RFIDMifareFamilyIdentification: { UID: '1234ABCD' } }])
  })

  test('every session ID the CPO sent is echoed, the EMP one included', () => {
    const parsed = parseAuthorizeStart(start({ RemoteIdentification: { EvcoID: 'DE8PSC0AD21B13' } }, { EMPPartnerSessionID: 'emp-9' }))
    const answer = authorizationStartAnswer(parsed, 'ALLOWED', PROVIDER)
    assert.deepEqual([answer.SessionID, answer.CPOPartnerSessionID, answer.EMPPartnerSessionID], [SESSION, 'cpo-1', 'emp-9'])
  })

  const refusals: Array<[string, typeof pnc, OutcomeAllowed | null, string, RegExp]> = [
    ['an unknown Plug&Charge EvcoID', pnc, 'UNKNOWN', '105', /EvcoID unknown/],
    ['an unknown remote EvcoID', remote, 'UNKNOWN', '105', /EvcoID unknown/],
    ['an unreadable EvcoID (no decision)', pnc, null, '105', /EvcoID unknown/],
    ['an unknown card', card, 'UNKNOWN', '102', /RFID UID unknown/],
    ['a disabled key', pnc, 'BLOCKED', '200', /^EvcoID locked$/],
    ['a disabled card', card, 'BLOCKED', '200', /^EvcoID locked$/],
    ['an expired contract', pnc, 'EXPIRED', '210', /No valid contract/],
    ['a contract not valid yet', remote, 'NOT_ALLOWED', '210', /No valid contract/],
    ['a contract without credit', pnc, 'NO_CREDIT', '210', /No valid contract/],
  ]
  for (const [name, request, allowed, code, description] of refusals) {
    test(`${name} is NotAuthorized ${code}, never 000, with our ProviderID and the session echoed`, () => {
      const answer = authorizationStartAnswer(request, allowed, PROVIDER)
      assert.equal(answer.AuthorizationStatus, 'NotAuthorized')
      assert.equal(answer.StatusCode.Code, code)
      assert.notEqual(answer.StatusCode.Code, '000')
      assert.ok(SPEC_CODES.has(answer.StatusCode.Code))
      assert.match(answer.StatusCode.Description ?? '', description)
      assert.equal(answer.ProviderID, PROVIDER)
      assert.equal(answer.SessionID, SESSION)
      assert.equal(answer.AuthorizationStopIdentifications, undefined)
    })
  }
})

describe('OICP AuthorizeStop', () => {
  const stop = (identification: unknown, sessionId: unknown = SESSION) =>
    parseAuthorizeStop({ OperatorID: 'DE*ABC', SessionID: sessionId, Identification: identification })
  const contract = parseAuthorizeStart(start({ PlugAndChargeIdentification: { EvcoID: 'DE-8PS-C0AD21B13-P' } }))
  const card = parseAuthorizeStart(start({ RFIDMifareFamilyIdentification: { UID: '1234ABCD' } }))
  assert.ok(contract.ok && card.ok)
  const ours = { sessionId: SESSION, presented: contract.presented }
  const ourCard = { sessionId: SESSION, presented: card.presented }

  const cases: Array<[string, ReturnType<typeof stop>, typeof ours | null, 'Authorized' | 'NotAuthorized', string]> = [
    [
      'a stop of our session with the same EvcoID, spelled differently',
      stop({ PlugAndChargeIdentification: { EvcoID: 'de8psc0ad21b13p' } }),
      ours,
      'Authorized',
      '000',
    ],
    [
      'a stop of our session with the same contract, remotely',
      stop({ RemoteIdentification: { EvcoID: 'DE-8PS-C0AD21B13' } }),
      ours,
      'Authorized',
      '000',
    ],
    [
      'a stop of our card session with the same card',
      stop({ RFIDMifareFamilyIdentification: { UID: '1234abcd' } }),
      ourCard,
      'Authorized',
      '000',
    ],
    ['a stop with another contract', stop({ PlugAndChargeIdentification: { EvcoID: 'DE-8PS-C0AD21B14' } }), ours, 'NotAuthorized', '400'],
    ['a stop with another card', stop({ RFIDMifareFamilyIdentification: { UID: '1234ABCE' } }), ourCard, 'NotAuthorized', '400'],
    [
      'a stop of a session we did not authorize',
      stop({ PlugAndChargeIdentification: { EvcoID: 'DE8PSC0AD21B13' } }),
      null,
      'NotAuthorized',
      '400',
    ],
    [
      'a stop naming another session than the stored one',
      stop({ PlugAndChargeIdentification: { EvcoID: 'DE8PSC0AD21B13' } }, 'a2688855-7f00-0002-6d8e-48d883f6abb6'),
      ours,
      'NotAuthorized',
      '400',
    ],
    ['a stop without SessionID', stop({ PlugAndChargeIdentification: { EvcoID: 'DE8PSC0AD21B13' } }, null), ours, 'NotAuthorized', '022'],
  ]
  for (const [name, request, session, status, code] of cases) {
    test(`${name} is ${status} ${code}`, () => {
      const answer = authorizationStopAnswer(request, session, PROVIDER)
      assert.equal(answer.AuthorizationStatus, status)
      assert.equal(answer.StatusCode.Code, code)
      assert.equal(answer.ProviderID, PROVIDER)
      if (code === '400') assert.equal(answer.StatusCode.Description, 'Session is invalid')
    })
  }
})

describe('OICP EvcoID', () => {
  const formats: Array<[string, string]> = [
    ['DE8PSC0AD21B13', 'DE-8PS-C0AD21B13-P'],
    ['de-8ps-c0ad21b13-q', 'DE-8PS-C0AD21B13-P'],
    ['DE8PSC0AD21B13P', 'DE-8PS-C0AD21B13-P'],
  ]
  for (const [emaid, evcoId] of formats) {
    test(`our EMAID ${emaid} is sent as ${evcoId}: 15 characters with the computed check character, matching Hubject's pattern`, () => {
      assert.equal(formatEvcoId(emaid), evcoId)
      assert.equal(evcoId.replaceAll('-', '').length, 15)
      assert.ok(isEvcoId(evcoId))
    })
  }

  test('an EMAID whose instance does not start with C has no EvcoID, and the error says why', () => {
    assert.throws(() => formatEvcoId('DE8PSA0AD21B13'), /instance starts with "C"/)
    assert.equal(evcoIdOf('DE8PSA0AD21B13'), null)
    assert.throws(() => formatEvcoId('not an emaid'), /not an EMAID/)
  })

  const patterns: Array<[string, boolean]> = [
    ['DE-8EO-CAet5e4XY-3', true],
    ['DE8EOCAet5e43X1', true],
    ['DE*8EO*Aet5e4*3', true],
    ['DE-8EO-Aet5e4-3', true],
    ['DE*8PS*C0AD21B13*P', false],
    ['DE-8PS-C0AD21B13', false],
  ]
  for (const [text, valid] of patterns) {
    test(`${text} ${valid ? 'matches' : 'does not match'} Hubject's EvcoID pattern`, () => assert.equal(isEvcoId(text), valid))
  }
})

describe('OICP geo coordinates', () => {
  const valid: Array<[string, unknown, number, number]> = [
    ['Google with a space', { Google: { Coordinates: '47.662249 9.360922' } }, 47.662249, 9.360922],
    ['Google with a comma', { Google: { Coordinates: '-21.568201, -157.1' } }, -21.568201, -157.1],
    ['DecimalDegree', { DecimalDegree: { Latitude: '47.662249', Longitude: '9.360922' }, Google: null }, 47.662249, 9.360922],
    ['DecimalDegree as numbers', { DecimalDegree: { Latitude: 52.5, Longitude: 13.4 } }, 52.5, 13.4],
    [
      'DegreeMinuteSeconds',
      { DegreeMinuteSeconds: { Latitude: "47°39'44.10''", Longitude: "9°21'39.32''" } },
      47 + 39 / 60 + 44.1 / 3600,
      9 + 21 / 60 + 39.32 / 3600,
    ],
    [
      'DegreeMinuteSeconds south and west, with spaces and "',
      { DegreeMinuteSeconds: { Latitude: '-21° 34\' 23.16"', Longitude: "-157°6'0.0''" } },
      -(21 + 34 / 60 + 23.16 / 3600),
      -(157 + 6 / 60),
    ],
  ]
  for (const [name, geo, latitude, longitude] of valid) {
    test(`${name} is read as ${latitude.toFixed(6)}, ${longitude.toFixed(6)}`, () => {
      const got = parseGeoCoordinates(geo)
      assert.ok(Math.abs(got.latitude - latitude) < 1e-9, `latitude ${got.latitude}`)
      assert.ok(Math.abs(got.longitude - longitude) < 1e-9, `longitude ${got.longitude}`)
    })
  }

  const invalid: Array<[string, unknown, RegExp]> = [
    ['no format', {}, /^GeoCoordinates: must carry one of/],
    [
      'two formats',
      { Google: { Coordinates: '1.0 2.0' }, DecimalDegree: { Latitude: '1.0', Longitude: '2.0' } },
      /exactly one format, got Google and DecimalDegree/,
    ],
    ['not an object', 'x', /^GeoCoordinates: is required/],
    ['Google with one number', { Google: { Coordinates: '47.66' } }, /^GeoCoordinates\.Google\.Coordinates: "latitude longitude"/],
    [
      'Google with the latitude out of range',
      { Google: { Coordinates: '147.6 9.3' } },
      /^GeoCoordinates\.Google\.Coordinates: a latitude between -90 and 90/,
    ],
    [
      'DecimalDegree without longitude',
      { DecimalDegree: { Latitude: '1.5', Longitude: null } },
      /^GeoCoordinates\.DecimalDegree\.Longitude: is required/,
    ],
    [
      'DecimalDegree with a longitude of 199',
      { DecimalDegree: { Latitude: '1.5', Longitude: '199.0' } },
      /Longitude: a longitude between -180 and 180/,
    ],
    ['DecimalDegree with text', { DecimalDegree: { Latitude: 'north', Longitude: '1.0' } }, /Latitude: decimal degrees/],
    [
      'DegreeMinuteSeconds with 61 minutes',
      { DegreeMinuteSeconds: { Latitude: "47°61'1.0''", Longitude: "9°1'1.0''" } },
      /Latitude: minutes below 60/,
    ],
    [
      'DegreeMinuteSeconds with 60 seconds',
      { DegreeMinuteSeconds: { Latitude: "47°1'1.0''", Longitude: "9°1'60.0''" } },
      /Longitude: seconds below 60/,
    ],
    [
      'DegreeMinuteSeconds in decimal',
      { DegreeMinuteSeconds: { Latitude: '47.5', Longitude: "9°1'1.0''" } },
      /Latitude: degrees, minutes and seconds/,
    ],
  ]
  for (const [name, geo, message] of invalid) {
    test(`${name} is refused with an error naming the field and rule`, () => {
      assert.throws(
        () => parseGeoCoordinates(geo),
        (e: unknown) => e instanceof GeoCoordinatesError && message.test(e.message),
      )
    })
  }

  test('the field name given is the start of every error', () => {
    assert.throws(
      () => parseGeoCoordinates(null, 'EvseDataRecord.GeoCoordinates'),
      (e: unknown) =>
        e instanceof GeoCoordinatesError &&
        e.field === 'EvseDataRecord.GeoCoordinates' &&
        /^EvseDataRecord\.GeoCoordinates: /.test(e.message),
    )
  })
})
