import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { hasPlugAndCharge, isPlugAndChargeCapable } from '../src/core/locations/location.ts'
import {
  EvseDataError,
  evseKey,
  evseStatusOf,
  locationFromOicp,
  readEvseData,
  readEvseStatuses,
  type OicpLocationRecord,
} from '../src/protocols/oicp/evse-mapping.ts'
import { evseDataRecordsOf, geoCoordinates, HubjectEvseData } from '../src/sim/hubject/evse.ts'
import { generateLocations } from '../src/sim/locations.ts'
import { assertValidOicp, validatorForFile, withoutNulls } from './oicp-spec.ts'

/** A PnC EVSE as Hubject sends it, with the explicit nulls and extra fields real traffic carries. */
function record(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    EvseID: 'DE*ABC*E1234567*1',
    ChargingPoolID: 'DE*ABC*P1234567',
    ChargingStationId: null,
    ChargingStationNames: [
      { lang: 'de', value: 'Parkhaus Mitte' },
      { lang: 'en', value: 'Car park centre' },
    ],
    Address: { Country: 'DEU', City: 'Berlin', Street: 'Goethestraße', PostalCode: '10655', HouseNum: '130', Floor: null },
    GeoCoordinates: { DecimalDegree: { Latitude: '52.503034', Longitude: '13.545853' } },
    Plugs: ['CCS Combo 2 Plug (Cable Attached)', 'Type 2 Outlet'],
    ChargingFacilities: [
      { PowerType: 'DC', Power: 150, Voltage: 920 },
      { PowerType: 'AC_3_PHASE', Power: 22, Voltage: 400, Amperage: 32 },
    ],
    RenewableEnergy: true,
    CalibrationLawDataAvailability: 'Local',
    AuthenticationModes: ['NFC RFID Classic', 'PnC', 'REMOTE'],
    PaymentOptions: ['Contract'],
    ValueAddedServices: ['Reservation'],
    Accessibility: 'Free publicly accessible',
    HotlinePhoneNumber: '+4930123456',
    IsOpen24Hours: false,
    OpeningTimes: [{ Period: [{ begin: '06:00', end: '22:00' }], on: 'Workdays' }],
    IsHubjectCompatible: true,
    DynamicInfoAvailable: 'true',
    OperatorID: 'DE*ABC',
    OperatorName: 'ABC Charging',
    lastUpdate: '2026-11-30T10:00:00Z',
    SomethingHubjectAddedLater: { nested: null },
    ...overrides,
  }
}

const stored = (records: Array<Record<string, unknown>>, statuses: Array<string | null> = []): OicpLocationRecord => {
  const first = readEvseData(records[0])
  return {
    operatorId: first.operatorId,
    operatorName: first.operatorName,
    locationId: first.locationId,
    evses: records.map((r, i) => ({ record: readEvseData(r).record, status: statuses[i] ?? null })),
  }
}

const fieldOf = (fn: () => unknown) => {
  try {
    fn()
  } catch (error) {
    assert.ok(error instanceof EvseDataError, String(error))
    return { field: error.field, rule: error.rule }
  }
  assert.fail('expected an EvseDataError')
}

describe("Hubject's EVSE data read into locations (pure)", () => {
  test('a PnC EVSE becomes a Plug&Charge capable EVSE of a location named by its charging pool, nulls and unknown fields ignored', () => {
    const evse = readEvseData(record())
    assert.equal(evse.locationId, 'DE*ABC*P1234567')
    assert.equal(evse.operatorId, 'DE*ABC')
    assert.equal('Floor' in (evse.record.Address as object), false)
    const location = locationFromOicp(stored([record()], ['Occupied']))
    assert.deepEqual(location.source, { protocol: 'oicp', operatorId: 'DE*ABC' })
    assert.equal(location.id, 'DE*ABC*P1234567')
    assert.equal(location.name, 'Car park centre')
    assert.deepEqual(location.address, { street: 'Goethestraße 130', city: 'Berlin', postalCode: '10655', country: 'DEU' })
    assert.deepEqual(location.operator, { id: 'DE*ABC', name: 'ABC Charging' })
    assert.equal(location.lastUpdated, '2026-11-30T10:00:00.000Z')
    const [only] = location.evses
    assert.equal(only!.evseId, 'DE*ABC*E1234567*1')
    assert.equal(only!.status, 'CHARGING')
    assert.ok(only!.capabilities.includes('PLUG_AND_CHARGE_CAPABLE'))
    assert.ok(only!.capabilities.includes('RFID_READER') && only!.capabilities.includes('RESERVABLE'))
    assert.ok(isPlugAndChargeCapable(only!) && hasPlugAndCharge(location))
    assert.deepEqual(
      only!.connectors.map((c) => [c.standard, c.format, c.powerType, c.maxPower]),
      [
        ['IEC_62196_T2_COMBO', 'CABLE', 'DC', 150000],
        ['IEC_62196_T2', 'SOCKET', 'AC_3_PHASE', 22000],
      ],
    )
    assert.deepEqual(
      location.openingHours.regularHours.map((h) => h.weekday),
      [1, 2, 3, 4, 5],
    )
  })

  test('an EVSE without PnC among its authentication modes is not Plug&Charge capable', () => {
    const location = locationFromOicp(stored([record({ AuthenticationModes: ['NFC RFID Classic', 'REMOTE'] })]))
    assert.equal(hasPlugAndCharge(location), false)
    assert.equal(location.evses[0]!.capabilities.includes('PLUG_AND_CHARGE_CAPABLE'), false)
  })

  test('without a pool EVSEs group by charging station (either spelling), and without either stand alone', () => {
    assert.equal(readEvseData(record({ ChargingPoolID: null, ChargingStationId: 'STATION-7' })).locationId, 'STATION-7')
    assert.equal(readEvseData(record({ ChargingPoolID: undefined, ChargingStationID: 'STATION-8' })).locationId, 'STATION-8')
    assert.equal(readEvseData(record({ ChargingPoolID: null })).locationId, 'DE*ABC*E1234567*1')
  })

  test('the three coordinate formats give the same place', () => {
    const places = (['Google', 'DecimalDegree', 'DegreeMinuteSeconds'] as const).map(
      (format) => readEvseData(record({ GeoCoordinates: geoCoordinates(52.503034, 13.545853, format) })).coordinates,
    )
    for (const place of places) {
      assert.ok(Math.abs(place.latitude - 52.503034) < 0.0001 && Math.abs(place.longitude - 13.545853) < 0.0001, JSON.stringify(place))
    }
    assert.deepEqual(readEvseData(record({ GeoCoordinates: { Google: { Coordinates: '47.662249 9.360922' } } })).coordinates, {
      latitude: 47.662249,
      longitude: 9.360922,
    })
  })

  test('a malformed record is refused naming the field and the rule', () => {
    assert.deepEqual(
      fieldOf(() => readEvseData(record({ Address: { ...(record().Address as object), Country: 'DE' } }))).field,
      'Address.Country',
    )
    assert.match(fieldOf(() => readEvseData(record({ Address: { ...(record().Address as object), Country: 'DE' } }))).rule, /alpha-3/)
    assert.equal(fieldOf(() => readEvseData(record({ EvseID: 'not an evse' }))).field, 'EvseID')
    assert.equal(
      fieldOf(() => readEvseData(record({ GeoCoordinates: { Google: { Coordinates: '199 9' } } }))).field,
      'GeoCoordinates.Google.Coordinates',
    )
    assert.equal(fieldOf(() => readEvseData(record({ GeoCoordinates: null }))).field, 'GeoCoordinates')
    assert.equal(fieldOf(() => readEvseData(record({ Plugs: null }))).field, 'Plugs')
    assert.equal(fieldOf(() => readEvseData(record({ deltaType: 'upsert' }))).field, 'deltaType')
    assert.match(fieldOf(() => readEvseData(record({ OperatorID: '+49*810' }))).rule, /ISO form/)
  })

  test('a delete needs no more than the EvseID', () => {
    const deletion = readEvseData({ EvseID: 'DE*ABC*E1234567*1', deltaType: 'delete' })
    assert.equal(deletion.deltaType, 'delete')
    assert.equal(deletion.operatorId, 'DE*ABC')
  })

  test("EVSE IDs compare without case and the ISO separators; Hubject's statuses map onto the model's", () => {
    assert.equal(evseKey('de*abc*e1234567*1'), evseKey('DEABCE12345671'))
    assert.deepEqual(['Available', 'Reserved', 'Occupied', 'OutOfService', 'EvseNotFound', 'Unknown', null].map(evseStatusOf), [
      'AVAILABLE',
      'RESERVED',
      'CHARGING',
      'OUTOFORDER',
      'UNKNOWN',
      'UNKNOWN',
      'UNKNOWN',
    ])
  })

  test('a status answer is read per EVSE; records without a valid EvseID or status are counted, not kept', () => {
    const { statuses, invalid } = readEvseStatuses({
      EvseStatuses: {
        OperatorEvseStatus: [
          {
            OperatorID: 'DE*ABC',
            OperatorName: null,
            EvseStatusRecord: [
              { EvseID: 'DE*ABC*E1', EvseStatus: 'Available' },
              { EvseID: 'DE*ABC*E2', EvseStatus: 'Broken' },
              { EvseID: null, EvseStatus: 'Occupied' },
            ],
          },
        ],
      },
      StatusCode: { Code: '000' },
    })
    assert.deepEqual(statuses, [{ evseId: 'DE*ABC*E1', status: 'Available' }])
    assert.equal(invalid, 2)
    assert.throws(() => readEvseStatuses({ StatusCode: { Code: '000' } }), /OperatorEvseStatus/)
  })

  test("the simulated Hubject's records and answers are valid OICP 2.3, and the spec's validator refuses a broken one", async () => {
    const validate = validatorForFile('PullEvseDataRecord.yaml')
    const records = generateLocations({ count: 30, seed: 7, version: '2.3.0' }).flatMap((l, i) => evseDataRecordsOf(l, i))
    assert.ok(records.length > 30)
    assert.ok(records.some((r) => (r.record.AuthenticationModes as string[]).includes('PnC')))
    for (const { record: r } of records) {
      const geo = (r.GeoCoordinates as { DecimalDegree: { Latitude: string; Longitude: string } }).DecimalDegree
      for (const format of ['Google', 'DecimalDegree', 'DegreeMinuteSeconds'] as const) {
        const sent = { ...r, GeoCoordinates: geoCoordinates(Number(geo.Latitude), Number(geo.Longitude), format) }
        // Hubject's explicit nulls are dropped first, as for every input we validate
        assertValidOicp(validate, withoutNulls(sent), `a ${format} EVSE record of the simulator`)
        readEvseData(sent)
      }
    }
    assert.equal(
      validate({
        ...records[0]!.record,
        Address: { Country: 'DE', City: 'Berlin', Street: 'Goethestraße', PostalCode: '1', HouseNum: '1' },
      }),
      false,
    )
    assert.equal(validate({ ...records[0]!.record, Plugs: ['Type 9'] }), false)

    // The whole paged answer and the status answer, through the part's own routes.
    const sim = new HubjectEvseData({ count: 5, seed: 3 })
    const { default: Fastify } = await import('fastify')
    const app = Fastify()
    sim.register(app)
    const page = await app.inject({
      method: 'POST',
      url: '/evsepull/v23/providers/DE*8PS/data-records?page=0&size=4',
      payload: { ProviderID: 'DE*8PS', GeoCoordinatesResponseFormat: 'Google' },
    })
    assert.equal(page.statusCode, 200)
    assertValidOicp(validatorForFile('eRoamingEVSEData.yaml'), withoutNulls(page.json()), 'an EVSE data page')
    assert.equal(page.json().content.length, 4)
    const statuses = await app.inject({
      method: 'POST',
      url: '/evsepull/v21/providers/DE*8PS/status-records',
      payload: { ProviderID: 'DE*8PS' },
    })
    assertValidOicp(validatorForFile('eRoamingEVSEStatus.yaml'), withoutNulls(statuses.json()), 'an EVSE status answer')
    const refused = await app.inject({
      method: 'POST',
      url: '/evsepull/v23/providers/DE*8PS/data-records',
      payload: { ProviderID: 'DE*8PS' },
    })
    assert.equal(refused.statusCode, 400)
    assert.equal(refused.json().StatusCode.Code, '022')
    await app.close()
  })
})
