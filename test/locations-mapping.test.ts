import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import {
  hasPlugAndCharge,
  isLocationSearchable,
  matchLocation,
  plugAndChargeDocumentOf,
  publicIdOf,
  searchDocumentJson,
  searchDocumentOf,
  validateFilters,
  type Location,
} from '../src/core/locations/index.ts'
import { OpenpncError } from '../src/core/errors.ts'
import { validateLocation } from '../src/protocols/ocpi/location-validation.ts'
import { locationFromOcpi, ocpiLocationOf, type OcpiLocation } from '../src/protocols/ocpi/locations-mapping.ts'
import { locationKeyOfLocation } from '../src/services/locations/store.ts'

const T = '2025-03-01T12:00:00Z'

/** An OCPI 2.3.0 Location with one Plug&Charge CCS connector beside a CHAdeMO one, and a removed EVSE. */
const ocpi: OcpiLocation = {
  country_code: 'nl',
  party_id: 'sim',
  id: 'LOC1',
  publish: true,
  name: 'Stationsplein',
  address: 'Stationsplein 1',
  city: 'Utrecht',
  postal_code: '3511 CE',
  country: 'NLD',
  coordinates: { latitude: '52.090700', longitude: '5.121400' },
  time_zone: 'Europe/Amsterdam',
  operator: { name: 'Sim Charging', website: 'https://sim.example.com' },
  opening_times: { twentyfourseven: false, regular_hours: [{ weekday: 1, period_begin: '07:00', period_end: '22:00' }] },
  evses: [
    {
      uid: 'E1',
      evse_id: 'NL*SIM*E1',
      status: 'AVAILABLE',
      capabilities: ['RFID_READER'],
      connectors: [
        {
          id: '1',
          standard: 'IEC_62196_T2_COMBO',
          format: 'CABLE',
          power_type: 'DC',
          max_voltage: 920,
          max_amperage: 400,
          max_electric_power: 150000,
          capabilities: ['ISO_15118_2_PLUG_AND_CHARGE'],
          last_updated: T,
        },
        { id: '2', standard: 'CHADEMO', format: 'CABLE', power_type: 'DC', max_voltage: 500, max_amperage: 100, last_updated: T },
      ],
      last_updated: T,
      x_vendor: 'kept in the record only',
    },
    {
      uid: 'E2',
      status: 'REMOVED',
      connectors: [
        {
          id: '1',
          standard: 'IEC_62196_T2',
          format: 'SOCKET',
          power_type: 'AC_3_PHASE',
          max_voltage: 230,
          max_amperage: 32,
          last_updated: T,
        },
      ],
      last_updated: T,
    },
  ],
  last_updated: '2025-03-01T13:00:00+01:00',
  x_partner_field: 42,
}

/** A location as an OICP adapter would hand it over: Hubject EVSE data of operator DE*HUB, no OCPI anywhere. */
const hubject: Location = {
  source: { protocol: 'oicp', operatorId: 'DE*HUB' },
  id: 'POOL-7',
  name: 'Autohof Kassel',
  address: { street: 'Raiffeisenstraße 2', city: 'Kassel', postalCode: '34131', country: 'DEU' },
  coordinates: { latitude: 51.31667, longitude: 9.5 },
  timeZone: null,
  openingHours: { twentyfourseven: true, regularHours: [] },
  operator: { id: 'DE*HUB', name: 'Hub Charge' },
  published: true,
  evses: [
    {
      uid: 'DE*HUB*E7001',
      evseId: 'DE*HUB*E7001',
      status: 'AVAILABLE',
      // Hubject's PnC authentication mode, said the way the model says it for an EVSE
      capabilities: ['PLUG_AND_CHARGE_CAPABLE', 'RFID_READER'],
      connectors: [
        {
          id: '1',
          standard: 'IEC_62196_T2_COMBO',
          format: 'CABLE',
          powerType: 'DC',
          maxPower: 300000,
          maxVoltage: null,
          maxAmperage: null,
          capabilities: [],
        },
      ],
    },
    {
      uid: 'DE*HUB*E7002',
      evseId: 'DE*HUB*E7002',
      status: 'CHARGING',
      capabilities: ['RFID_READER'],
      connectors: [
        {
          id: '1',
          standard: 'IEC_62196_T2',
          format: 'SOCKET',
          powerType: 'AC_3_PHASE',
          maxPower: 22000,
          maxVoltage: 400,
          maxAmperage: 32,
          capabilities: [],
        },
      ],
    },
    {
      uid: 'DE*HUB*E7003',
      evseId: 'DE*HUB*E7003',
      status: 'REMOVED',
      capabilities: [],
      connectors: [
        {
          id: '1',
          standard: 'CHADEMO',
          format: 'CABLE',
          powerType: 'DC',
          maxPower: 50000,
          maxVoltage: null,
          maxAmperage: null,
          capabilities: [],
        },
      ],
    },
  ],
  lastUpdated: '2026-02-01T10:00:00.000Z',
}

describe('OCPI Locations and the neutral model', () => {
  test('an OCPI Location maps to the neutral model: its CPO party and partner as the source, numbers for coordinates, power in watts', () => {
    const location = locationFromOcpi(ocpi, 'partner-1')
    assert.deepEqual(location.source, { protocol: 'ocpi', countryCode: 'nl', partyId: 'sim', partnerId: 'partner-1' })
    assert.equal(location.id, 'LOC1')
    assert.deepEqual(location.address, { street: 'Stationsplein 1', city: 'Utrecht', postalCode: '3511 CE', country: 'NLD' })
    assert.deepEqual(location.coordinates, { latitude: 52.0907, longitude: 5.1214 })
    assert.deepEqual(location.operator, { id: 'NL*SIM', name: 'Sim Charging' })
    assert.deepEqual(location.openingHours, {
      twentyfourseven: false,
      regularHours: [{ weekday: 1, periodBegin: '07:00', periodEnd: '22:00' }],
    })
    assert.equal(location.timeZone, 'Europe/Amsterdam')
    assert.equal(location.published, true)
    assert.equal(location.lastUpdated, '2025-03-01T12:00:00.000Z')
    assert.deepEqual(location.evses[0]!.connectors[0], {
      id: '1',
      standard: 'IEC_62196_T2_COMBO',
      format: 'CABLE',
      powerType: 'DC',
      maxPower: 150000,
      maxVoltage: 920,
      maxAmperage: 400,
      capabilities: ['ISO_15118_2_PLUG_AND_CHARGE'],
    })
    // CHAdeMO without max_electric_power: voltage times amperage, by OCPI's definition
    assert.equal(location.evses[0]!.connectors[1]!.maxPower, 50000)
    // 22 kW from 230 V line to neutral on three phases
    assert.equal(location.evses[1]!.connectors[0]!.maxPower, 22080)
    assert.ok(!JSON.stringify(location).includes('x_partner_field'))
    assert.ok(!JSON.stringify(location).includes('x_vendor'))
  })

  test('the OCPI Location is not changed by mapping it', () => {
    const before = structuredClone(ocpi)
    locationFromOcpi(ocpi)
    assert.deepEqual(ocpi, before)
  })

  test('what a CPO left out is null, empty or not promised in the neutral model', () => {
    const { name: _n, postal_code: _p, operator: _o, opening_times: _h, evses: _e, ...bare } = ocpi
    const location = locationFromOcpi({ ...bare, publish: false })
    assert.equal(location.name, null)
    assert.equal(location.address.postalCode, null)
    assert.deepEqual(location.operator, { id: 'NL*SIM', name: null })
    assert.deepEqual(location.openingHours, { twentyfourseven: false, regularHours: [] })
    assert.deepEqual(location.evses, [])
    assert.equal(location.published, false)
    assert.equal(location.source.protocol === 'ocpi' && location.source.partnerId, null)
  })

  test('a neutral location written as OCPI maps back to the same neutral location', () => {
    const location = locationFromOcpi(ocpi, 'partner-1')
    const again = locationFromOcpi(ocpiLocationOf(location), 'partner-1')
    assert.deepEqual(again, location)
  })

  test('a location from Hubject written as OCPI takes its operator as the party, and its power as max_electric_power', () => {
    const written = ocpiLocationOf(hubject)
    assert.equal(written.country_code, 'DE')
    assert.equal(written.party_id, 'HUB')
    assert.equal(written.id, 'POOL-7')
    assert.deepEqual(written.coordinates, { latitude: '51.3166700', longitude: '9.5000000' })
    assert.equal(written.evses![0]!.connectors[0]!.max_electric_power, 300000)
    const back = locationFromOcpi(written)
    assert.deepEqual(
      back.evses,
      hubject.evses.map((evse) => ({
        ...evse,
        connectors: evse.connectors.map((c) => ({ ...c, maxVoltage: c.maxVoltage ?? 0, maxAmperage: c.maxAmperage ?? 0 })),
      })),
    )
  })
})

describe('OCPI opening times, which search answers with', () => {
  const fieldOf = (opening_times: unknown): string => {
    try {
      validateLocation({ ...ocpi, opening_times })
    } catch (error) {
      assert.ok(error instanceof OpenpncError && error.kind === 'invalid', String(error))
      return String(error.details?.field)
    }
    assert.fail('expected an error')
  }

  test('hours as the spec has them are accepted, and a Location without any too', () => {
    assert.equal(validateLocation(ocpi), ocpi)
    const { opening_times: _, ...without } = ocpi
    assert.deepEqual(validateLocation(without), without)
  })

  const refused: Array<[string, unknown, string]> = [
    ['hours that are not an object', 'always', 'opening_times'],
    ['no twentyfourseven', { regular_hours: [] }, 'opening_times.twentyfourseven'],
    ['regular hours that are not a list', { twentyfourseven: false, regular_hours: {} }, 'opening_times.regular_hours'],
    [
      'a weekday 0',
      { twentyfourseven: false, regular_hours: [{ weekday: 0, period_begin: '08:00', period_end: '18:00' }] },
      'opening_times.regular_hours[0].weekday',
    ],
    [
      'a time past 23:59',
      { twentyfourseven: false, regular_hours: [{ weekday: 1, period_begin: '08:00', period_end: '24:00' }] },
      'opening_times.regular_hours[0].period_end',
    ],
    [
      'a time without minutes',
      { twentyfourseven: false, regular_hours: [{ weekday: 1, period_begin: '8', period_end: '18:00' }] },
      'opening_times.regular_hours[0].period_begin',
    ],
  ]
  for (const [what, hours, field] of refused) {
    test(`${what} is refused, naming ${field}`, () => {
      assert.equal(fieldOf(hours), field)
    })
  }
})

describe('search documents of a location that came from another protocol', () => {
  test('the document of a Hubject location carries its operator, its own ID, and no OCPI party', () => {
    const { evses, ...fields } = searchDocumentOf(hubject)
    assert.deepEqual(fields, {
      id: 'DE*HUB*POOL-7',
      name: 'Autohof Kassel',
      address: 'Raiffeisenstraße 2',
      city: 'Kassel',
      postalCode: '34131',
      country: 'DEU',
      coordinates: { latitude: 51.31667, longitude: 9.5 },
      operator: { id: 'DE*HUB', name: 'Hub Charge' },
      openingTimes: { twentyfourseven: true, regularHours: [] },
      timeZone: null,
      lastUpdated: '2026-02-01T10:00:00.000Z',
    })
    assert.equal(publicIdOf(hubject), 'DE*HUB*POOL-7')
    assert.deepEqual(
      evses.map((e) => e.uid),
      ['DE*HUB*E7001', 'DE*HUB*E7002'],
    )
  })

  test('the Plug&Charge rule holds for it: the EVSE-level signal covers its connectors, the others are not Plug&Charge', () => {
    const document = searchDocumentOf(hubject)
    assert.deepEqual(document.evses[0]!.connectors[0], {
      id: '1',
      standard: 'IEC_62196_T2_COMBO',
      format: 'CABLE',
      powerType: 'DC',
      ocpiPowerType: 'DC',
      maxPower: 300000,
      capabilities: ['PLUG_AND_CHARGE_CAPABLE', 'RFID_READER'],
    })
    assert.equal(hasPlugAndCharge(hubject), true)
    assert.deepEqual(
      plugAndChargeDocumentOf(document)!.evses.map((e) => e.uid),
      ['DE*HUB*E7001'],
    )
  })

  test('geosearch filters work on it as on any other: operator, power, status, 24/7', () => {
    const match = (input: unknown) => matchLocation(searchDocumentOf(hubject), validateFilters(input))?.evses.map((e) => e.uid) ?? null
    assert.deepEqual(match({ operatorIds: ['dehub'] }), ['DE*HUB*E7001', 'DE*HUB*E7002'])
    assert.equal(match({ operatorIds: ['NL*SIM'] }), null)
    assert.deepEqual(match({ powerType: 'AC', power: 22000 }), ['DE*HUB*E7002'])
    assert.deepEqual(match({ locationStatuses: ['CHARGING'] }), ['DE*HUB*E7002'])
    assert.deepEqual(match({ capabilities: ['PLUG_AND_CHARGE_CAPABLE'], open247: true }), ['DE*HUB*E7001'])
    // the removed CHAdeMO EVSE is never found
    assert.equal(match({ connectorTypes: ['CHADEMO'] }), null)
  })

  test('an unpublished location, or one whose EVSEs are all removed, is not searchable and its document has no EVSEs', () => {
    assert.equal(isLocationSearchable({ ...hubject, published: false }), false)
    assert.deepEqual(searchDocumentOf({ ...hubject, published: false }).evses, [])
    const removed = { ...hubject, evses: hubject.evses.filter((e) => e.status === 'REMOVED') }
    assert.equal(isLocationSearchable(removed), false)
    assert.equal(hasPlugAndCharge(removed), false)
  })

  test('its stored document is ASCII JSON of the same document', () => {
    const document = searchDocumentOf(hubject)
    const json = searchDocumentJson(document)
    assert.match(json, /^[\x20-\x7e]+$/)
    assert.deepEqual(JSON.parse(json), document)
  })

  test('it is stored under its operator as country and party, and an operator ID that is none is refused', () => {
    assert.deepEqual(locationKeyOfLocation(hubject), { countryCode: 'DE', partyId: 'HUB', locationId: 'POOL-7' })
    assert.throws(
      () => locationKeyOfLocation({ ...hubject, source: { protocol: 'oicp', operatorId: 'Hub Charge' } }),
      /operator ID "Hub Charge" must be a country and party/,
    )
  })
})
