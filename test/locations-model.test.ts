import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { OpenpncError } from '../src/core/errors.ts'
import {
  matchLocation,
  normalizeOperatorId,
  plugAndChargeDocumentOf,
  searchDocumentJson,
  validateFilters,
  type LocationFilters,
  type SearchDocument,
} from '../src/core/locations/index.ts'
// The rules on OCPI objects: the neutral ones of core/locations, read through the OCPI mapping.
import {
  connectorCapabilities,
  evseCapabilities,
  is247,
  isConnectorPlugAndChargeCapable,
  isEvseVisible,
  isLocationSearchable,
  isPlugAndChargeCapable,
  maxPowerW,
  operatorIdOf,
  parseCoordinates,
  powerKind,
  searchDocumentOf,
  type OcpiConnector,
  type OcpiEvse,
  type OcpiLocation,
} from '../src/protocols/ocpi/locations-mapping.ts'

// Hand-made OCPI objects: only what each test is about differs from these defaults.

const T = '2025-03-01T12:00:00Z'

function connector(overrides: Partial<OcpiConnector> = {}): OcpiConnector {
  return {
    id: '1',
    standard: 'IEC_62196_T2',
    format: 'SOCKET',
    power_type: 'AC_3_PHASE',
    max_voltage: 230,
    max_amperage: 16,
    last_updated: T,
    ...overrides,
  }
}

const ccs = (kw: number, overrides: Partial<OcpiConnector> = {}) =>
  connector({
    standard: 'IEC_62196_T2_COMBO',
    format: 'CABLE',
    power_type: 'DC',
    max_voltage: 920,
    max_amperage: 500,
    max_electric_power: kw * 1000,
    ...overrides,
  })

const chademo = (overrides: Partial<OcpiConnector> = {}) =>
  connector({
    standard: 'CHADEMO',
    format: 'CABLE',
    power_type: 'DC',
    max_voltage: 500,
    max_amperage: 125,
    max_electric_power: 50000,
    ...overrides,
  })

function evse(uid: string, overrides: Partial<OcpiEvse> = {}): OcpiEvse {
  return { uid, status: 'AVAILABLE', capabilities: ['RFID_READER'], connectors: [connector()], last_updated: T, ...overrides }
}

function location(id: string, evses: OcpiEvse[], overrides: Partial<OcpiLocation> = {}): OcpiLocation {
  return {
    country_code: 'NL',
    party_id: 'SIM',
    id,
    publish: true,
    address: 'Stationsweg 1',
    city: 'Utrecht',
    country: 'NLD',
    coordinates: { latitude: '52.090700', longitude: '5.121400' },
    evses,
    time_zone: 'Europe/Amsterdam',
    opening_times: { twentyfourseven: true },
    last_updated: T,
    ...overrides,
  }
}

/** The error's `details.field`, asserting it is our one invalid-input error. */
function fieldOf(fn: () => unknown): string {
  try {
    fn()
  } catch (error) {
    assert.ok(error instanceof OpenpncError, `expected an OpenpncError, got ${String(error)}`)
    assert.equal(error.kind, 'invalid')
    return String(error.details?.field)
  }
  assert.fail('expected an error')
}

describe('OCPI coordinates', () => {
  test('the spec example strings become numbers', () => {
    assert.deepEqual(parseCoordinates({ latitude: '52.520008', longitude: '13.404954' }), { latitude: 52.520008, longitude: 13.404954 })
    assert.deepEqual(parseCoordinates({ latitude: '50.770774', longitude: '-126.104965' }), { latitude: 50.770774, longitude: -126.104965 })
  })

  test('five to seven decimals and the full ranges are accepted', () => {
    assert.deepEqual(parseCoordinates({ latitude: '-90.00000', longitude: '180.0000000' }), { latitude: -90, longitude: 180 })
    assert.deepEqual(parseCoordinates({ latitude: '0.12345', longitude: '-0.1234567' }), { latitude: 0.12345, longitude: -0.1234567 })
  })

  const rejected: Array<[string, unknown, string]> = [
    ['a number instead of a string', { latitude: 52.520008, longitude: '13.404954' }, 'coordinates.latitude'],
    ['fewer than five decimals', { latitude: '52.52', longitude: '13.404954' }, 'coordinates.latitude'],
    ['more than seven decimals', { latitude: '52.52000812', longitude: '13.404954' }, 'coordinates.latitude'],
    ['a decimal comma', { latitude: '52,520008', longitude: '13.404954' }, 'coordinates.latitude'],
    [
      'a three-digit latitude the unanchored spec pattern would let through',
      { latitude: '152.123456', longitude: '13.404954' },
      'coordinates.latitude',
    ],
    ['surrounding spaces', { latitude: ' 52.520008', longitude: '13.404954' }, 'coordinates.latitude'],
    ['a latitude beyond 90', { latitude: '90.000001', longitude: '13.404954' }, 'coordinates.latitude'],
    ['a longitude beyond -180', { latitude: '52.520008', longitude: '-180.000001' }, 'coordinates.longitude'],
    ['a missing longitude', { latitude: '52.520008' }, 'coordinates.longitude'],
    ['no object at all', '52.520008,13.404954', 'coordinates'],
  ]
  for (const [what, geo, field] of rejected) {
    test(`${what} is refused, naming ${field}`, () => {
      assert.equal(
        fieldOf(() => parseCoordinates(geo)),
        field,
      )
    })
  }

  test('the caller can say which object the coordinates belong to', () => {
    assert.equal(
      fieldOf(() => parseCoordinates({ latitude: '52.520008', longitude: 'east' }, 'evses[2].coordinates')),
      'evses[2].coordinates.longitude',
    )
  })
})

describe('Plug&Charge capability', () => {
  test('an OCPI 2.3.0 connector with ISO_15118_2_PLUG_AND_CHARGE makes its EVSE capable', () => {
    assert.equal(isPlugAndChargeCapable(evse('1', { connectors: [ccs(150, { capabilities: ['ISO_15118_2_PLUG_AND_CHARGE'] })] })), true)
  })

  test('an OCPI 2.3.0 connector with ISO_15118_20_PLUG_AND_CHARGE makes its EVSE capable', () => {
    const e = evse('1', { connectors: [chademo(), ccs(300, { capabilities: ['ISO_15118_20_PLUG_AND_CHARGE'] })] })
    assert.equal(isPlugAndChargeCapable(e), true)
  })

  test('a 2.2.1 partner marking the EVSE with PLUG_AND_CHARGE_CAPABLE is believed', () => {
    assert.equal(isPlugAndChargeCapable(evse('1', { capabilities: ['RFID_READER', 'PLUG_AND_CHARGE_CAPABLE'] })), true)
  })

  test('a 2.2.1 partner putting the 2.3.0 connector values on the EVSE is believed', () => {
    assert.equal(isPlugAndChargeCapable(evse('1', { capabilities: ['ISO_15118_2_PLUG_AND_CHARGE'] })), true)
    assert.equal(isPlugAndChargeCapable(evse('2', { capabilities: ['ISO_15118_20_PLUG_AND_CHARGE'] })), true)
  })

  test('an EVSE with neither signal is not capable, whatever else it can do', () => {
    const plain = evse('1', {
      capabilities: ['RFID_READER', 'REMOTE_START_STOP_CAPABLE', 'CHARGING_PROFILE_CAPABLE'],
      connectors: [ccs(150, { capabilities: ['SOME_FUTURE_VALUE'] }), chademo()],
    })
    assert.equal(isPlugAndChargeCapable(plain), false)
    assert.equal(isPlugAndChargeCapable(evse('2', { capabilities: undefined })), false)
  })

  test('the derived PLUG_AND_CHARGE_CAPABLE is added once to the capabilities as sent, and the EVSE is left as received', () => {
    const e = evse('1', { capabilities: ['RFID_READER'], connectors: [ccs(150, { capabilities: ['ISO_15118_2_PLUG_AND_CHARGE'] })] })
    const before = structuredClone(e)
    assert.deepEqual(evseCapabilities(e), ['RFID_READER', 'PLUG_AND_CHARGE_CAPABLE'])
    assert.deepEqual(e, before)
    assert.deepEqual(evseCapabilities(evse('2', { capabilities: ['PLUG_AND_CHARGE_CAPABLE'] })), ['PLUG_AND_CHARGE_CAPABLE'])
    assert.deepEqual(evseCapabilities(evse('3')), ['RFID_READER'])
  })

  test('in 2.3.0 the CHAdeMO connector beside a Plug&Charge CCS connector is not Plug&Charge', () => {
    const pncCcs = ccs(150, { capabilities: ['ISO_15118_2_PLUG_AND_CHARGE'] })
    const e = evse('1', { connectors: [pncCcs, chademo({ id: '2' })] })
    assert.equal(isConnectorPlugAndChargeCapable(e, pncCcs), true)
    assert.equal(isConnectorPlugAndChargeCapable(e, e.connectors[1]!), false)
    assert.deepEqual(connectorCapabilities(e, e.connectors[1]!), ['RFID_READER'])
    assert.deepEqual(connectorCapabilities(e, pncCcs), ['RFID_READER', 'ISO_15118_2_PLUG_AND_CHARGE', 'PLUG_AND_CHARGE_CAPABLE'])
  })

  test('a 2.2.1 EVSE-level signal covers every connector of the EVSE', () => {
    const e = evse('1', { capabilities: ['PLUG_AND_CHARGE_CAPABLE'], connectors: [ccs(50), chademo({ id: '2' })] })
    assert.ok(e.connectors.every((c) => isConnectorPlugAndChargeCapable(e, c)))
  })
})

describe('visibility', () => {
  test('a REMOVED EVSE is hidden and every other status is visible', () => {
    assert.equal(isEvseVisible(evse('1', { status: 'REMOVED' })), false)
    for (const status of ['AVAILABLE', 'BLOCKED', 'CHARGING', 'INOPERATIVE', 'OUTOFORDER', 'PLANNED', 'RESERVED', 'UNKNOWN'] as const) {
      assert.equal(isEvseVisible(evse('1', { status })), true, status)
    }
  })

  test('a location is searchable when published and at least one EVSE is visible', () => {
    assert.equal(isLocationSearchable(location('L', [evse('1', { status: 'REMOVED' }), evse('2', { status: 'OUTOFORDER' })])), true)
  })

  test('a location whose EVSEs are all REMOVED, or that has none, is hidden', () => {
    assert.equal(isLocationSearchable(location('L', [evse('1', { status: 'REMOVED' })])), false)
    assert.equal(isLocationSearchable(location('L', [])), false)
    assert.equal(isLocationSearchable(location('L', [], { evses: undefined })), false)
  })

  test('a location with publish false is not searchable', () => {
    assert.equal(isLocationSearchable(location('L', [evse('1')], { publish: false })), false)
  })

  test('24/7 comes from opening_times.twentyfourseven, and no opening times promise nothing', () => {
    assert.equal(is247(location('L', [])), true)
    assert.equal(
      is247(
        location('L', [], {
          opening_times: { twentyfourseven: false, regular_hours: [{ weekday: 1, period_begin: '08:00', period_end: '20:00' }] },
        }),
      ),
      false,
    )
    assert.equal(is247(location('L', [], { opening_times: undefined })), false)
  })
})

describe('power', () => {
  test('AC_3_PHASE multiplies the line-to-neutral voltage by three phases', () => {
    assert.equal(maxPowerW(connector({ power_type: 'AC_3_PHASE', max_voltage: 230, max_amperage: 16 })), 11040)
    assert.equal(maxPowerW(connector({ power_type: 'AC_3_PHASE', max_voltage: 230, max_amperage: 32 })), 22080)
  })

  test('single phase, two phase, split phase and DC are voltage times amperage', () => {
    assert.equal(maxPowerW(connector({ power_type: 'AC_1_PHASE', max_voltage: 230, max_amperage: 32 })), 7360)
    assert.equal(maxPowerW(connector({ power_type: 'AC_2_PHASE', max_voltage: 400, max_amperage: 16 })), 6400)
    assert.equal(maxPowerW(connector({ power_type: 'AC_2_PHASE_SPLIT', max_voltage: 240, max_amperage: 40 })), 9600)
    assert.equal(maxPowerW(connector({ power_type: 'DC', max_voltage: 500, max_amperage: 125 })), 62500)
  })

  test('max_electric_power, when given, is the answer', () => {
    assert.equal(maxPowerW(ccs(150, { max_voltage: 920, max_amperage: 400 })), 150000)
    assert.equal(maxPowerW(connector({ max_electric_power: 11000 })), 11000)
  })

  test('every OCPI power type is AC or DC', () => {
    assert.deepEqual(
      (['AC_1_PHASE', 'AC_2_PHASE', 'AC_2_PHASE_SPLIT', 'AC_3_PHASE', 'DC'] as const).map((power_type) => powerKind({ power_type })),
      ['AC', 'AC', 'AC', 'AC', 'DC'],
    )
  })
})

describe('operator IDs', () => {
  test('a location is operated by its CPO party, written as in EVSE IDs', () => {
    assert.equal(operatorIdOf({ country_code: 'nl', party_id: 'sim' }), 'NL*SIM')
  })

  test('any spelling of an operator ID normalizes, and names do not', () => {
    assert.equal(normalizeOperatorId('NL*SIM'), 'NL*SIM')
    assert.equal(normalizeOperatorId('nlsim'), 'NL*SIM')
    assert.equal(normalizeOperatorId('DE*8PS'), 'DE*8PS')
    assert.equal(normalizeOperatorId('Ionity'), null)
    assert.equal(normalizeOperatorId('NL*SIM*E1'), null)
  })
})

describe('geosearch filter validation', () => {
  test('nothing given means no filter', () => {
    assert.deepEqual(validateFilters(undefined), {})
    assert.deepEqual(validateFilters({}), {})
  })

  test('valid filters come back normalized: operator IDs in the NL*SIM form, lists without duplicates, empty lists dropped', () => {
    assert.deepEqual(
      validateFilters({
        capabilities: ['PLUG_AND_CHARGE_CAPABLE', 'RESERVABLE', 'PLUG_AND_CHARGE_CAPABLE'],
        powerType: 'DC',
        power: 150000,
        connectorTypes: ['IEC_62196_T2_COMBO'],
        locationStatuses: ['AVAILABLE', 'CHARGING'],
        open247: true,
        operatorIds: ['nlsim', 'DE*ABC'],
      }),
      {
        capabilities: ['PLUG_AND_CHARGE_CAPABLE', 'RESERVABLE'],
        powerType: 'DC',
        power: 150000,
        connectorTypes: ['IEC_62196_T2_COMBO'],
        locationStatuses: ['AVAILABLE', 'CHARGING'],
        open247: true,
        operatorIds: ['NL*SIM', 'DE*ABC'],
      },
    )
    assert.deepEqual(validateFilters({ connectorTypes: [], capabilities: [] }), {})
  })

  test('an unknown capability or connector type is refused, listing the values there are', () => {
    assert.throws(
      () => validateFilters({ capabilities: ['BIDIRECTIONAL_CAPABLE'] }),
      (error: Error & { code?: string }) =>
        error.code === 'invalid_filter' &&
        /capabilities\[0\] must be one of PLUG_AND_CHARGE_CAPABLE, .*RESERVABLE.*ISO_15118_20_PLUG_AND_CHARGE/.test(error.message),
    )
    assert.throws(
      () => validateFilters({ connectorTypes: ['MCS', 'NEW_PLUG'] }),
      (error: Error) => /connectorTypes\[1\] must be one of CHADEMO, .*IEC_62196_T2_COMBO.*SAE_J3400/.test(error.message),
    )
    assert.deepEqual(validateFilters({ connectorTypes: ['MCS', 'IEC_60309_2_single_16'] }), {
      connectorTypes: ['MCS', 'IEC_60309_2_single_16'],
    })
  })

  const errors: Array<[string, unknown, string]> = [
    ['an unknown filter', { powertype: 'DC' }, 'powertype'],
    ['filters that are not an object', ['DC'], 'filters'],
    ['a power type other than AC or DC', { powerType: 'AC_3_PHASE' }, 'powerType'],
    ['a negative power', { power: -1 }, 'power'],
    ['a power given as a string', { power: '50000' }, 'power'],
    ['capabilities that are not a list', { capabilities: 'PLUG_AND_CHARGE_CAPABLE' }, 'capabilities'],
    ['an empty capability', { capabilities: ['RESERVABLE', ''] }, 'capabilities[1]'],
    ['a known capability in the wrong case', { capabilities: ['plug_and_charge_capable'] }, 'capabilities[0]'],
    ['a capability that is no OCPI value', { capabilities: ['Plug & Charge'] }, 'capabilities[0]'],
    ['a known connector type in the wrong case', { connectorTypes: ['iec_62196_t2_combo'] }, 'connectorTypes[0]'],
    ['a connector type that is no OCPI value', { connectorTypes: ['CCS 2'] }, 'connectorTypes[0]'],
    ['a status outside the closed OCPI Status enum', { locationStatuses: ['AVAILABLE', 'FREE'] }, 'locationStatuses[1]'],
    ['the REMOVED status, which is never shown', { locationStatuses: ['REMOVED'] }, 'locationStatuses[0]'],
    ['open247 that is not a boolean', { open247: 'yes' }, 'open247'],
    ['an operator name instead of an operator ID', { operatorIds: ['Voltaro'] }, 'operatorIds[0]'],
    ['an empty operator ID', { operatorIds: [''] }, 'operatorIds[0]'],
  ]
  for (const [what, input, field] of errors) {
    test(`${what} is refused, naming ${field}`, () => {
      assert.equal(
        fieldOf(() => validateFilters(input)),
        field,
      )
    })
  }

  test('the message says the rule, and suggests the right spelling', () => {
    assert.throws(
      () => validateFilters({ connectorTypes: ['iec_62196_t2_combo'] }),
      /connectorTypes\[0\].*did you mean "IEC_62196_T2_COMBO"/,
    )
    assert.throws(() => validateFilters({ locationStatuses: ['FREE'] }), /locationStatuses\[0\] must be one of AVAILABLE, /)
    assert.throws(() => validateFilters({ power: -1 }), /power must be a number of watts >= 0, got -1/)
  })
})

describe('matching a location against geosearch filters', () => {
  // A: Utrecht, NL*SIM, 24/7, OCPI 2.3.0 style.
  const a1 = evse('A1', { connectors: [connector({ max_amperage: 16 })], capabilities: ['RFID_READER', 'UNLOCK_CAPABLE'] })
  const a2 = evse('A2', {
    status: 'CHARGING',
    capabilities: ['RFID_READER', 'CREDIT_CARD_PAYABLE'],
    connectors: [ccs(150, { capabilities: ['ISO_15118_2_PLUG_AND_CHARGE'] }), chademo({ id: '2' })],
    x_vendor_note: 'kept as received',
  })
  const a3 = evse('A3', { status: 'REMOVED', connectors: [ccs(350, { capabilities: ['ISO_15118_2_PLUG_AND_CHARGE'] })] })
  const A = location('A', [a1, a2, a3], { x_partner_field: 42 })

  // B: Berlin, DE*ABC, shop hours, OCPI 2.2.1 style Plug&Charge on the EVSE.
  const b1 = evse('B1', {
    capabilities: ['RFID_READER', 'RESERVABLE', 'PLUG_AND_CHARGE_CAPABLE'],
    connectors: [connector({ max_amperage: 32 })],
  })
  const b2 = evse('B2', { status: 'OUTOFORDER', connectors: [ccs(50, { max_voltage: 500, max_amperage: 125 })] })
  const B = location('B', [b1, b2], {
    country_code: 'DE',
    party_id: 'ABC',
    city: 'Berlin',
    country: 'DEU',
    opening_times: { twentyfourseven: false, regular_hours: [{ weekday: 1, period_begin: '07:00', period_end: '22:00' }] },
  })

  const unpublished = location('C', [evse('C1')], { publish: false })
  const allRemoved = location('D', [evse('D1', { status: 'REMOVED' })])

  /** `{evseUid: [connector ids]}` of a result, or null: what the tests compare. */
  function shape(result: SearchDocument | null): Record<string, string[]> | null {
    if (!result) return null
    return Object.fromEntries(result.evses.map((e) => [e.uid, e.connectors.map((c) => `${c.id}:${c.standard}`)]))
  }
  const search = (loc: OcpiLocation, input: unknown) => shape(matchLocation(searchDocumentOf(loc), validateFilters(input)))

  test('without filters a location keeps its visible EVSEs, and unpublished or emptied locations are dropped', () => {
    assert.deepEqual(search(A, {}), { A1: ['1:IEC_62196_T2'], A2: ['1:IEC_62196_T2_COMBO', '2:CHADEMO'] })
    assert.equal(search(unpublished, {}), null)
    assert.equal(search(allRemoved, {}), null)
  })

  test('the result keeps the fields of the kept EVSEs and connectors, and the document is not changed', () => {
    const document = searchDocumentOf(A)
    const before = structuredClone(document)
    const result = matchLocation(document, validateFilters({ powerType: 'DC' }))!
    assert.deepEqual(result.evses, [{ ...document.evses[1]!, connectors: document.evses[1]!.connectors }])
    assert.deepEqual({ ...result, evses: [] }, { ...document, evses: [] })
    assert.deepEqual(document, before)
  })

  test('powerType keeps only connectors of that kind', () => {
    assert.deepEqual(search(A, { powerType: 'DC' }), { A2: ['1:IEC_62196_T2_COMBO', '2:CHADEMO'] })
    assert.deepEqual(search(A, { powerType: 'AC' }), { A1: ['1:IEC_62196_T2'] })
    assert.deepEqual(search(B, { powerType: 'DC' }), { B2: ['1:IEC_62196_T2_COMBO'] })
  })

  test('power is a minimum in watts on each connector', () => {
    assert.deepEqual(search(A, { power: 100000 }), { A2: ['1:IEC_62196_T2_COMBO'] })
    assert.deepEqual(search(A, { power: 11040 }), { A1: ['1:IEC_62196_T2'], A2: ['1:IEC_62196_T2_COMBO', '2:CHADEMO'] })
    assert.deepEqual(search(B, { power: 22000 }), { B1: ['1:IEC_62196_T2'], B2: ['1:IEC_62196_T2_COMBO'] })
    assert.equal(search(B, { power: 100000 }), null)
  })

  test('connectorTypes keeps only those standards', () => {
    assert.deepEqual(search(A, { connectorTypes: ['CHADEMO'] }), { A2: ['2:CHADEMO'] })
    assert.equal(search(B, { connectorTypes: ['CHADEMO'] }), null)
  })

  test('PLUG_AND_CHARGE_CAPABLE finds 2.3.0 connectors and 2.2.1 EVSEs, and leaves out the CHAdeMO connector', () => {
    assert.deepEqual(search(A, { capabilities: ['PLUG_AND_CHARGE_CAPABLE'] }), { A2: ['1:IEC_62196_T2_COMBO'] })
    assert.deepEqual(search(B, { capabilities: ['PLUG_AND_CHARGE_CAPABLE'] }), { B1: ['1:IEC_62196_T2'] })
  })

  test('a specific ISO 15118 version and EVSE capabilities are matched as sent', () => {
    assert.deepEqual(search(A, { capabilities: ['ISO_15118_2_PLUG_AND_CHARGE'] }), { A2: ['1:IEC_62196_T2_COMBO'] })
    assert.equal(search(A, { capabilities: ['ISO_15118_20_PLUG_AND_CHARGE'] }), null)
    assert.equal(search(B, { capabilities: ['ISO_15118_2_PLUG_AND_CHARGE'] }), null)
    assert.deepEqual(search(A, { capabilities: ['CREDIT_CARD_PAYABLE'] }), { A2: ['1:IEC_62196_T2_COMBO', '2:CHADEMO'] })
  })

  test('all requested capabilities must be present', () => {
    assert.deepEqual(search(B, { capabilities: ['RESERVABLE', 'PLUG_AND_CHARGE_CAPABLE'] }), { B1: ['1:IEC_62196_T2'] })
    assert.equal(search(A, { capabilities: ['RESERVABLE', 'PLUG_AND_CHARGE_CAPABLE'] }), null)
  })

  test('locationStatuses keeps EVSEs in those statuses', () => {
    assert.deepEqual(search(A, { locationStatuses: ['AVAILABLE'] }), { A1: ['1:IEC_62196_T2'] })
    assert.deepEqual(search(B, { locationStatuses: ['OUTOFORDER'] }), { B2: ['1:IEC_62196_T2_COMBO'] })
    assert.equal(search(A, { locationStatuses: ['RESERVED'] }), null)
  })

  test('open247 true keeps 24/7 locations, false keeps the others', () => {
    assert.notEqual(search(A, { open247: true }), null)
    assert.equal(search(B, { open247: true }), null)
    assert.equal(search(A, { open247: false }), null)
    assert.notEqual(search(B, { open247: false }), null)
  })

  test('operatorIds matches the CPO party in any spelling', () => {
    assert.notEqual(search(A, { operatorIds: ['nl*sim'] }), null)
    assert.equal(search(B, { operatorIds: ['NLSIM'] }), null)
    assert.notEqual(search(B, { operatorIds: ['NL*SIM', 'DE*ABC'] }), null)
  })

  test('combined filters must all hold on the same connector', () => {
    const fastPnc = {
      powerType: 'DC',
      power: 150000,
      capabilities: ['PLUG_AND_CHARGE_CAPABLE'],
      connectorTypes: ['IEC_62196_T2_COMBO', 'CHADEMO'],
      locationStatuses: ['AVAILABLE', 'CHARGING'],
      open247: true,
      operatorIds: ['NL*SIM'],
    }
    assert.deepEqual(search(A, fastPnc), { A2: ['1:IEC_62196_T2_COMBO'] })
    assert.equal(search(B, fastPnc), null)
    // Each holds somewhere at A (A1 is AC, A2 is Plug&Charge), never together.
    assert.equal(search(A, { powerType: 'AC', capabilities: ['PLUG_AND_CHARGE_CAPABLE'] }), null)
    // B1 is AC and Plug&Charge but shop hours rule it out.
    assert.equal(search(B, { powerType: 'AC', capabilities: ['PLUG_AND_CHARGE_CAPABLE'], open247: true }), null)
    assert.deepEqual(search(B, { powerType: 'AC', capabilities: ['PLUG_AND_CHARGE_CAPABLE'], locationStatuses: ['AVAILABLE'] }), {
      B1: ['1:IEC_62196_T2'],
    })
  })

  test('filters never bring back what visibility hides', () => {
    assert.equal(search(allRemoved, { capabilities: ['PLUG_AND_CHARGE_CAPABLE'] }), null)
    assert.equal(search(unpublished, { powerType: 'AC' }), null)
    // A3 (REMOVED, 350 kW Plug&Charge) is the only one above 200 kW.
    assert.equal(search(A, { power: 200000 }), null)
  })

  test('unvalidated filters typed by hand work the same', () => {
    const filters: LocationFilters = { powerType: 'DC', capabilities: ['PLUG_AND_CHARGE_CAPABLE'] }
    assert.deepEqual(shape(matchLocation(searchDocumentOf(A), filters)), { A2: ['1:IEC_62196_T2_COMBO'] })
  })
})

describe('search documents', () => {
  const pncEvse = evse('P1', {
    evse_id: 'NL*SIM*EP1',
    status: 'CHARGING',
    capabilities: ['RFID_READER', 'CREDIT_CARD_PAYABLE'],
    connectors: [ccs(150, { capabilities: ['ISO_15118_2_PLUG_AND_CHARGE'] }), chademo({ id: '2' })],
  })
  const acEvse = evse('P2', { connectors: [connector({ max_amperage: 32 })] })
  const removedEvse = evse('P3', { status: 'REMOVED', connectors: [ccs(350, { capabilities: ['ISO_15118_2_PLUG_AND_CHARGE'] })] })
  const site = location('P', [pncEvse, acEvse, removedEvse], {
    name: 'Parkhaus Schillerstraße',
    postal_code: '3511 CE',
    operator: { name: 'Sim Charging', website: 'https://sim.example.com' },
    opening_times: {
      twentyfourseven: false,
      regular_hours: [{ weekday: 1, period_begin: '07:00', period_end: '22:00' }],
    },
    last_updated: '2025-03-01T13:00:00+01:00',
    x_partner_field: 42,
  })

  test('a search document carries what the API answers with: ID, address, coordinates, operator, hours, time zone, last_updated in UTC', () => {
    const { evses, ...fields } = searchDocumentOf(site)
    assert.deepEqual(fields, {
      id: 'NL*SIM*P',
      name: 'Parkhaus Schillerstraße',
      address: 'Stationsweg 1',
      city: 'Utrecht',
      postalCode: '3511 CE',
      country: 'NLD',
      coordinates: { latitude: 52.0907, longitude: 5.1214 },
      operator: { id: 'NL*SIM', name: 'Sim Charging' },
      openingTimes: { twentyfourseven: false, regularHours: [{ weekday: 1, period_begin: '07:00', period_end: '22:00' }] },
      timeZone: 'Europe/Amsterdam',
      lastUpdated: '2025-03-01T12:00:00.000Z',
    })
    assert.equal(evses.length, 2)
  })

  test("each connector carries its power kind, maximum power in watts and what it can do: its EVSE's, its own and the derived Plug&Charge", () => {
    const [p1, p2] = searchDocumentOf(site).evses
    assert.deepEqual(p1, {
      uid: 'P1',
      evseId: 'NL*SIM*EP1',
      status: 'CHARGING',
      capabilities: ['RFID_READER', 'CREDIT_CARD_PAYABLE', 'PLUG_AND_CHARGE_CAPABLE'],
      connectors: [
        {
          id: '1',
          standard: 'IEC_62196_T2_COMBO',
          format: 'CABLE',
          powerType: 'DC',
          ocpiPowerType: 'DC',
          maxPower: 150000,
          capabilities: ['RFID_READER', 'CREDIT_CARD_PAYABLE', 'ISO_15118_2_PLUG_AND_CHARGE', 'PLUG_AND_CHARGE_CAPABLE'],
        },
        {
          id: '2',
          standard: 'CHADEMO',
          format: 'CABLE',
          powerType: 'DC',
          ocpiPowerType: 'DC',
          maxPower: 50000,
          capabilities: ['RFID_READER', 'CREDIT_CARD_PAYABLE'],
        },
      ],
    })
    assert.deepEqual(p2!.connectors[0], {
      id: '1',
      standard: 'IEC_62196_T2',
      format: 'SOCKET',
      powerType: 'AC',
      ocpiPowerType: 'AC_3_PHASE',
      maxPower: 22080,
      capabilities: ['RFID_READER'],
    })
  })

  test('removed EVSEs are left out, and a location that is not searchable has no EVSEs to find', () => {
    assert.deepEqual(
      searchDocumentOf(site).evses.map((e) => e.uid),
      ['P1', 'P2'],
    )
    assert.deepEqual(searchDocumentOf({ ...site, publish: false }).evses, [])
    assert.deepEqual(searchDocumentOf(location('D', [removedEvse])).evses, [])
    assert.deepEqual(searchDocumentOf(location('E', [])).evses, [])
  })

  test('what a CPO left out is null or empty, and fields we do not answer with are not carried', () => {
    const bare = location('B', [evse('B1')], { opening_times: undefined })
    const document = searchDocumentOf(bare)
    assert.equal(document.name, null)
    assert.equal(document.postalCode, null)
    assert.deepEqual(document.operator, { id: 'NL*SIM', name: null })
    assert.deepEqual(document.openingTimes, { twentyfourseven: false, regularHours: [] })
    assert.equal(document.evses[0]!.evseId, null)
    assert.ok(!JSON.stringify(searchDocumentOf(site)).includes('x_partner_field'))
    assert.ok(!JSON.stringify(searchDocumentOf(site)).includes('website'))
  })

  test('the Plug&Charge document keeps only the Plug&Charge connectors, and a location without any has none', () => {
    const pnc = plugAndChargeDocumentOf(searchDocumentOf(site))!
    assert.deepEqual(
      pnc.evses.map((e) => [e.uid, e.connectors.map((c) => c.id)]),
      [['P1', ['1']]],
    )
    assert.equal(plugAndChargeDocumentOf(searchDocumentOf(location('AC', [acEvse]))), null)
  })

  test('the stored JSON is plain ASCII and parses back to the same document', () => {
    const document = searchDocumentOf({ ...site, city: 'Łódź', address: 'Plac Wolności 1 ⚡' })
    const json = searchDocumentJson(document)
    assert.match(json, /^[\x20-\x7e]+$/)
    assert.ok(json.includes('Schillerstra\\u00dfe'))
    assert.deepEqual(JSON.parse(json), document)
  })
})
