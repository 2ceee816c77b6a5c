import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { distanceMeters } from '../src/core/locations/index.ts'
import {
  isPlugAndChargeCapable,
  maxPowerW,
  parseCoordinates,
  powerKind,
  type OcpiEvse,
  type OcpiLocation,
} from '../src/protocols/ocpi/locations-mapping.ts'
import { generateLocations, SIM_CITIES } from '../src/sim/locations.ts'
import { assertValidOcpi, ocpiSchema } from './ocpi-spec.ts'

const VERSIONS = ['2.2.1', '2.3.0'] as const
const COUNT = 5000

// One large network per version, shared by the statistical tests.
const networks = Object.fromEntries(
  VERSIONS.map((version) => [version, generateLocations({ count: COUNT, seed: 2025, version })]),
) as Record<(typeof VERSIONS)[number], OcpiLocation[]>
const evsesOf = (locations: OcpiLocation[]): OcpiEvse[] => locations.flatMap((l) => l.evses ?? [])
const isDc = (evse: OcpiEvse) => evse.connectors.some((c) => powerKind(c) === 'DC')

describe('simulated charging network', () => {
  test('the same seed gives the same network, another seed another one', () => {
    const once = generateLocations({ count: 200, seed: 7, version: '2.3.0' })
    assert.deepEqual(generateLocations({ count: 200, seed: 7, version: '2.3.0' }), once)
    assert.notDeepEqual(generateLocations({ count: 200, seed: 8, version: '2.3.0' }), once)
  })

  test('timestamps lie in the 90 days before `now`', () => {
    const now = new Date('2026-02-01T00:00:00Z')
    for (const loc of generateLocations({ count: 200, seed: 3, version: '2.2.1', now })) {
      const at = Date.parse(loc.last_updated)
      assert.ok(at <= now.getTime() && at > now.getTime() - 90 * 86_400_000, loc.last_updated)
    }
  })

  for (const version of VERSIONS) {
    test(`every location of ${COUNT} is valid against the official OCPI ${version} Location schema`, () => {
      const validate = ocpiSchema(version, 'locations', 'Location')
      for (const loc of networks[version]) assertValidOcpi(validate, loc, `${version} location ${loc.id}`)
    })

    test(`about one EVSE in five is Plug&Charge capable (${version})`, () => {
      const evses = evsesOf(networks[version])
      const share = evses.filter(isPlugAndChargeCapable).length / evses.length
      assert.ok(share >= 0.15 && share <= 0.25, `Plug&Charge share ${share.toFixed(3)}`)
    })
  }

  test('OCPI 2.3.0 says Plug&Charge on CCS and Type 2 connectors, 2.2.1 on the EVSE', () => {
    for (const evse of evsesOf(networks['2.3.0'])) {
      assert.ok(!evse.capabilities?.includes('PLUG_AND_CHARGE_CAPABLE'), evse.uid)
      for (const c of evse.connectors) {
        if (c.capabilities) assert.ok(['IEC_62196_T2_COMBO', 'IEC_62196_T2'].includes(c.standard), `${evse.uid} ${c.standard}`)
      }
    }
    for (const evse of evsesOf(networks['2.2.1'])) {
      assert.ok(
        evse.connectors.every((c) => c.capabilities === undefined),
        evse.uid,
      )
      assert.equal(isPlugAndChargeCapable(evse), evse.capabilities?.includes('PLUG_AND_CHARGE_CAPABLE') === true, evse.uid)
    }
  })

  test('the AC/DC mix looks like Europe: mostly AC at 11 or 22 kW, DC from 50 to 350 kW, CHAdeMO rare', () => {
    const evses = evsesOf(networks['2.3.0'])
    const dc = evses.filter(isDc)
    assert.ok(dc.length / evses.length > 0.15 && dc.length / evses.length < 0.5, `DC share ${(dc.length / evses.length).toFixed(3)}`)
    for (const evse of evses) {
      for (const c of evse.connectors) {
        const kw = maxPowerW(c) / 1000
        if (powerKind(c) === 'DC') assert.ok(kw >= 50 && kw <= 350, `${evse.uid} DC ${kw} kW`)
        else assert.ok(kw >= 3.6 && kw <= 44, `${evse.uid} AC ${kw} kW`)
      }
    }
    const chademo = dc.filter((e) => e.connectors.some((c) => c.standard === 'CHADEMO')).length / dc.length
    assert.ok(chademo > 0 && chademo < 0.15, `CHAdeMO share of DC EVSEs ${chademo.toFixed(3)}`)
    const fast = dc.filter((e) => e.connectors.some((c) => maxPowerW(c) >= 150000)).length / dc.length
    assert.ok(fast > 0.3, `share of DC EVSEs with 150 kW or more ${fast.toFixed(3)}`)
  })

  test('locations lie in Europe and cluster around city centres', () => {
    const locations = networks['2.2.1']
    let near = 0
    for (const loc of locations) {
      const point = parseCoordinates(loc.coordinates)
      assert.ok(
        point.latitude > 35 && point.latitude < 72 && point.longitude > -25 && point.longitude < 45,
        `${loc.id} ${JSON.stringify(point)}`,
      )
      if (SIM_CITIES.some((city) => distanceMeters(point, city) < 30_000)) near++
    }
    assert.ok(near / locations.length > 0.8, `share within 30 km of a city centre ${(near / locations.length).toFixed(3)}`)
    assert.ok(SIM_CITIES.length >= 25)
    const cities = new Set(locations.map((l) => l.city))
    assert.ok(cities.size >= 25, `${cities.size} cities`)
  })

  test('IDs are unique: location IDs, EVSE uids and EVSE IDs', () => {
    const locations = networks['2.3.0']
    const evses = evsesOf(locations)
    assert.equal(new Set(locations.map((l) => l.id)).size, locations.length)
    assert.equal(new Set(evses.map((e) => e.uid)).size, evses.length)
    assert.equal(new Set(evses.map((e) => e.evse_id)).size, evses.length)
  })

  test("a parent's last_updated is never older than its children's", () => {
    for (const loc of networks['2.3.0']) {
      for (const evse of loc.evses ?? []) {
        assert.ok(loc.last_updated >= evse.last_updated, loc.id)
        for (const c of evse.connectors) assert.ok(evse.last_updated >= c.last_updated, evse.uid)
      }
    }
  })

  test('several operators, statuses mostly AVAILABLE or CHARGING, some locations not open 24/7, 1 to 8 EVSEs each', () => {
    const locations = networks['2.3.0']
    const evses = evsesOf(locations)
    assert.ok(new Set(locations.map((l) => l.operator?.name)).size >= 5)
    assert.ok(new Set(locations.map((l) => `${l.country_code}*${l.party_id}`)).size >= 5)
    const usual = evses.filter((e) => e.status === 'AVAILABLE' || e.status === 'CHARGING').length / evses.length
    assert.ok(usual > 0.75 && usual < 1, `AVAILABLE/CHARGING share ${usual.toFixed(3)}`)
    const limited = locations.filter((l) => l.opening_times?.twentyfourseven === false).length / locations.length
    assert.ok(limited > 0.05 && limited < 0.4, `not 24/7 share ${limited.toFixed(3)}`)
    for (const loc of locations) assert.ok(loc.evses!.length >= 1 && loc.evses!.length <= 8, loc.id)
  })

  test('a given CPO party is stamped on every location and EVSE ID', () => {
    for (const loc of generateLocations({ count: 100, seed: 5, version: '2.2.1', countryCode: 'NL', partyId: 'SIM' })) {
      assert.equal(`${loc.country_code}*${loc.party_id}`, 'NL*SIM')
      for (const evse of loc.evses ?? []) assert.ok(evse.evse_id?.startsWith('NL*SIM*E'), evse.evse_id)
    }
  })

  test('bad options are refused before anything is generated', () => {
    assert.throws(() => generateLocations({ count: -1, version: '2.3.0' }), /count/)
    assert.throws(() => generateLocations({ count: 1, seed: 1.5, version: '2.3.0' }), /seed/)
    assert.throws(() => generateLocations({ count: 1, version: '2.3.0', countryCode: 'nld' }), /countryCode/)
    assert.throws(() => generateLocations({ count: 1, version: '2.3.0', partyId: 'SI' }), /partyId/)
  })
})
