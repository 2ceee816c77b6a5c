import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import { GeosearchAnswer } from '../src/protocols/drive-api/geosearch.ts'
import { saveOcpiLocations as saveLocations } from '../src/protocols/ocpi/locations.ts'
import { readLocationRecord, saveLocations as saveNeutralLocations } from '../src/services/locations/store.ts'
import type { Location } from '../src/core/locations/index.ts'
import type { OcpiLocation } from '../src/protocols/ocpi/locations-mapping.ts'
import { ocpiConnector as connector, ocpiLocation as location, neutralMcsEvse } from './samples.ts'
import { ADMIN_KEY, backends, startTestPlatform, type TestPlatform } from './support.ts'

for (const backend of backends()) {
  describe(`geosearch API (${backend})`, () => {
    let t: TestPlatform
    let apiKey: string
    const radius = (query: string, body: object = {}) =>
      t.request(apiKey, { method: 'POST', url: `/v1/geosearch/radius?${query}`, payload: body })

    before(async () => {
      t = await startTestPlatform(backend)
      apiKey = (await t.createOrganization()).apiKey
      await saveLocations(t.platform.db, null, [
        location('PNC', '52.370216', '4.895168', [
          {
            uid: 'E1',
            evse_id: 'NL*SIM*E1',
            status: 'AVAILABLE',
            connectors: [
              connector('1', { capabilities: ['ISO_15118_2_PLUG_AND_CHARGE'] }),
              connector('2', { standard: 'CHADEMO', max_electric_power: 50000 }),
            ],
            last_updated: '2026-01-01T00:00:00Z',
          },
          {
            uid: 'E2',
            status: 'CHARGING',
            connectors: [
              connector('1', {
                power_type: 'AC_3_PHASE',
                standard: 'IEC_62196_T2',
                max_voltage: 230,
                max_amperage: 16,
                max_electric_power: undefined,
              }),
            ],
            last_updated: '2026-01-01T00:00:00Z',
          },
        ]),
        location('AC', '52.372000', '4.900000', [
          {
            uid: 'E1',
            status: 'AVAILABLE',
            connectors: [
              connector('1', {
                power_type: 'AC_3_PHASE',
                standard: 'IEC_62196_T2',
                max_voltage: 230,
                max_amperage: 32,
                max_electric_power: 22000,
              }),
            ],
            last_updated: '2026-01-01T00:00:00Z',
          },
        ]),
        location(
          'HIDDEN',
          '52.370300',
          '4.895300',
          [{ uid: 'E1', status: 'AVAILABLE', connectors: [connector('1')], last_updated: '2026-01-01T00:00:00Z' }],
          { publish: false },
        ),
        location('REMOVED', '52.370400', '4.895400', [
          { uid: 'E1', status: 'REMOVED', connectors: [connector('1')], last_updated: '2026-01-01T00:00:00Z' },
        ]),
        location('FAR', '52.090737', '5.121420', [
          {
            uid: 'E1',
            status: 'AVAILABLE',
            connectors: [connector('1', { capabilities: ['ISO_15118_20_PLUG_AND_CHARGE'] })],
            last_updated: '2026-01-01T00:00:00Z',
          },
        ]),
      ])
    })
    after(() => t.close())

    test('finds locations around a point, nearest first, with distance, address, operator and opening times', async () => {
      const response = await radius('latitude=52.370216&longitude=4.895168')
      assert.equal(response.statusCode, 200)
      const { locations } = response.json()
      assert.deepEqual(
        locations.map((l: { id: string }) => l.id),
        ['NL*SIM*PNC', 'NL*SIM*AC'],
        'hidden, removed and far-away locations are not found',
      )
      const first = locations[0]
      assert.equal(first.distance, 0)
      assert.deepEqual(first.coordinates, { latitude: 52.370216, longitude: 4.895168 })
      assert.deepEqual(first.operator, { id: 'NL*SIM', name: 'Sim Charging' })
      assert.equal(first.openingTimes.twentyfourseven, true)
      assert.equal(first.city, 'Amsterdam')
      assert.ok(locations[1].distance > 300 && locations[1].distance < 600)
    })

    test('the Plug&Charge filter keeps only Plug&Charge connectors, and radius reaches the next city when asked', async () => {
      const response = await radius('latitude=52.370216&longitude=4.895168&distance=50000', {
        filters: { capabilities: ['PLUG_AND_CHARGE_CAPABLE'] },
      })
      const { locations } = response.json()
      assert.deepEqual(
        locations.map((l: { id: string }) => l.id),
        ['NL*SIM*PNC', 'NL*SIM*FAR'],
      )
      assert.deepEqual(
        locations[0].evses.map((e: { uid: string }) => e.uid),
        ['E1'],
      )
      assert.deepEqual(
        locations[0].evses[0].connectors.map((c: { id: string }) => c.id),
        ['1'],
      )
      assert.ok(locations[0].evses[0].capabilities.includes('PLUG_AND_CHARGE_CAPABLE'))
      const connector = locations[0].evses[0].connectors[0]
      assert.deepEqual([connector.powerType, connector.maxPower, connector.standard], ['DC', 150000, 'IEC_62196_T2_COMBO'])
    })

    test('filters combine: power type, minimum power, connector types, statuses', async () => {
      const ids = async (filters: object) =>
        (await radius('latitude=52.370216&longitude=4.895168', { filters }))
          .json()
          .locations.map((l: { id: string; evses: Array<{ uid: string }> }) => `${l.id}:${l.evses.map((e) => e.uid).join(',')}`)
      assert.deepEqual(await ids({ powerType: 'AC' }), ['NL*SIM*PNC:E2', 'NL*SIM*AC:E1'])
      assert.deepEqual(await ids({ powerType: 'AC', power: 20000 }), ['NL*SIM*AC:E1'])
      assert.deepEqual(await ids({ connectorTypes: ['CHADEMO'] }), ['NL*SIM*PNC:E1'])
      assert.deepEqual(await ids({ locationStatuses: ['CHARGING'] }), ['NL*SIM*PNC:E2'])
      assert.deepEqual(await ids({ operatorIds: ['DE*ZZZ'] }), [])
    })

    test('answers, written without the schema serializer, are JSON valid against the documented schema, with exactly its fields', async () => {
      const ajv = new Ajv({ strict: false })
      addFormats.default(ajv)
      const valid = ajv.compile(GeosearchAnswer)
      const fields = Object.keys(GeosearchAnswer.properties.locations.items.properties).sort()
      for (const body of [{}, { filters: { capabilities: ['PLUG_AND_CHARGE_CAPABLE'] } }, { filters: { powerType: 'AC' } }, { limit: 1 }]) {
        const response = await radius('latitude=52.370216&longitude=4.895168&distance=50000', body)
        assert.equal(response.statusCode, 200)
        assert.equal(response.headers['content-type'], 'application/json; charset=utf-8')
        const answer = response.json()
        assert.ok(valid(answer), `${JSON.stringify(body)}: ${ajv.errorsText(valid.errors)}`)
        assert.ok(answer.locations.length > 0)
        for (const location of answer.locations) assert.deepEqual(Object.keys(location).sort(), fields)
      }
    })

    test('bounding-box answers and pages that carry a cursor, as the route writes them, are valid against the documented schema', async () => {
      const ajv = new Ajv({ strict: false })
      addFormats.default(ajv)
      const valid = ajv.compile(GeosearchAnswer)
      const bbox = await t.request(apiKey, {
        method: 'POST',
        url: '/v1/geosearch/bbox',
        payload: { north: 52.4, south: 52.3, east: 5.0, west: 4.8, filters: { locationStatuses: ['AVAILABLE', 'CHARGING'] } },
      })
      const first = await radius('latitude=52.370216&longitude=4.895168&distance=50000', { limit: 1 })
      const next = await radius('latitude=52.370216&longitude=4.895168&distance=50000', { limit: 1, cursor: first.json().cursor })
      assert.equal(typeof first.json().cursor, 'string')
      for (const response of [bbox, first, next]) {
        assert.equal(response.statusCode, 200)
        assert.equal(response.headers['content-type'], 'application/json; charset=utf-8')
        assert.equal(Number(response.headers['content-length']), response.rawPayload.length)
        assert.ok(valid(response.json()), ajv.errorsText(valid.errors))
      }
    })

    test('a bounding box finds what is inside it', async () => {
      const response = await t.request(apiKey, {
        method: 'POST',
        url: '/v1/geosearch/bbox',
        payload: { north: 52.4, south: 52.3, east: 5.0, west: 4.8, limit: 10 },
      })
      assert.equal(response.statusCode, 200)
      assert.deepEqual(
        response
          .json()
          .locations.map((l: { id: string }) => l.id)
          .sort(),
        ['NL*SIM*AC', 'NL*SIM*PNC'],
      )
    })

    test('limit and cursor page through the results', async () => {
      const first = (await radius('latitude=52.370216&longitude=4.895168&distance=50000', { limit: 1 })).json()
      assert.equal(first.locations.length, 1)
      assert.ok(first.cursor)
      const second = (await radius('latitude=52.370216&longitude=4.895168&distance=50000', { limit: 1, cursor: first.cursor })).json()
      assert.equal(second.locations[0].id, 'NL*SIM*AC')
    })

    test('invalid coordinates, radius, limits or filter values are a 400 naming the field', async () => {
      const cases: Array<[string, object, RegExp]> = [
        ['latitude=91&longitude=4', {}, /latitude/],
        ['latitude=52&longitude=-181', {}, /longitude/],
        ['latitude=52&longitude=4&distance=50001', {}, /distance/],
        ['longitude=4', {}, /latitude is required/],
        ['latitude=52&longitude=4', { limit: 301 }, /limit/],
        ['latitude=52&longitude=4', { filters: { powerType: 'ACDC' } }, /filters\.powerType/],
        ['latitude=52&longitude=4', { filters: { locationStatuses: ['SLEEPING'] } }, /filters\.locationStatuses/],
        ['latitude=52&longitude=4', { filters: { power: -1 } }, /filters\.power/],
        ['latitude=52&longitude=4', { cursor: 'garbage' }, /cursor/],
      ]
      for (const [query, body, field] of cases) {
        const response = await radius(query, body)
        assert.equal(response.statusCode, 400, `${query} ${JSON.stringify(body)}: ${response.body}`)
        assert.match(response.json().error.message, field)
      }
      const bbox = await t.request(apiKey, {
        method: 'POST',
        url: '/v1/geosearch/bbox',
        payload: { north: 52, south: 53, east: 5, west: 4 },
      })
      assert.equal(bbox.statusCode, 400)
      assert.match(bbox.json().error.message, /north/)
    })

    test('an unknown capability or connector type is a 400 invalid_filter listing the values there are', async () => {
      const capability = await radius('latitude=52.37&longitude=4.89', { filters: { capabilities: ['PLUG_AND_CHARGE'] } })
      assert.equal(capability.statusCode, 400)
      assert.equal(capability.json().error.code, 'invalid_filter')
      assert.match(capability.json().error.message, /filters\.capabilities\[0\] must be one of PLUG_AND_CHARGE_CAPABLE, .*RESERVABLE/)
      const connector = await radius('latitude=52.37&longitude=4.89', { filters: { connectorTypes: ['CCS'] } })
      assert.equal(connector.statusCode, 400)
      assert.equal(connector.json().error.code, 'invalid_filter')
      assert.match(connector.json().error.message, /filters\.connectorTypes\[0\] must be one of CHADEMO, .*IEC_62196_T2_COMBO/)
    })

    test('a cursor passed with other filters, another centre or another distance is a 400 cursor_mismatch', async () => {
      const query = 'latitude=52.370216&longitude=4.895168&distance=50000'
      const first = (await radius(query, { limit: 1, filters: { powerType: 'DC' } })).json()
      assert.ok(first.cursor)
      const same = await radius(query, { limit: 1, filters: { powerType: 'DC' }, cursor: first.cursor })
      assert.equal(same.statusCode, 200)
      for (const [otherQuery, filters] of [
        [query, { powerType: 'AC' }],
        [query, {}],
        ['latitude=52.370216&longitude=4.895168&distance=40000', { powerType: 'DC' }],
        ['latitude=52.37&longitude=4.895168&distance=50000', { powerType: 'DC' }],
      ] as const) {
        const response = await radius(otherQuery, { limit: 1, filters, cursor: first.cursor })
        assert.equal(response.statusCode, 400, `${otherQuery} ${JSON.stringify(filters)}`)
        assert.equal(response.json().error.code, 'cursor_mismatch')
      }
      const bbox = await t.request(apiKey, {
        method: 'POST',
        url: '/v1/geosearch/bbox',
        payload: { north: 52.4, south: 52.3, east: 5.0, west: 4.8, cursor: first.cursor },
      })
      assert.equal(bbox.json().error.code, 'cursor_mismatch')
    })

    test('a bounding box may cross the antimeridian: west greater than east', async () => {
      await saveLocations(t.platform.db, null, [
        location('FIJI-W', '-17.000000', '179.900000', [
          { uid: 'E1', status: 'AVAILABLE', connectors: [connector('1')], last_updated: '2026-01-01T00:00:00Z' },
        ]),
        location('FIJI-E', '-17.000000', '-179.950000', [
          { uid: 'E1', status: 'AVAILABLE', connectors: [connector('1')], last_updated: '2026-01-01T00:00:00Z' },
        ]),
      ])
      const response = await t.request(apiKey, {
        method: 'POST',
        url: '/v1/geosearch/bbox',
        payload: { north: -16, south: -18, east: -179, west: 179 },
      })
      assert.equal(response.statusCode, 200)
      assert.deepEqual(
        response.json().locations.map((l: { id: string }) => l.id),
        ['NL*SIM*FIJI-E', 'NL*SIM*FIJI-W'],
        'both sides, nearest the centre (180) first',
      )
    })

    test('geosearch needs the geosearch scope', async () => {
      const orgs = (await t.app.inject({ method: 'GET', url: '/admin/v1/organizations', headers: { 'x-api-key': ADMIN_KEY } })).json()
      const issued = await t.app.inject({
        method: 'POST',
        url: `/admin/v1/organizations/${orgs.organizations[0].id}/api-keys`,
        headers: { 'x-api-key': ADMIN_KEY },
        payload: { scopes: ['users'] },
      })
      const response = await t.request(issued.json().apiKey, {
        method: 'POST',
        url: '/v1/geosearch/radius?latitude=52&longitude=4',
        payload: {},
      })
      assert.equal(response.statusCode, 403)
    })

    test('a location from Hubject is stored and found beside an OCPI one with the same operator and ID, and neither replaces the other', async () => {
      const at = { latitude: 51.31667, longitude: 9.5 }
      await saveLocations(t.platform.db, null, [
        location(
          'KS1',
          '51.316670',
          '9.500000',
          [{ uid: 'E1', status: 'AVAILABLE', connectors: [connector('1')], last_updated: '2026-01-01T00:00:00Z' }],
          {
            country_code: 'DE',
            party_id: 'HUB',
          },
        ),
      ])
      const hubject: Location = {
        source: { protocol: 'oicp', operatorId: 'DE*HUB' },
        id: 'KS1',
        name: 'Autohof Kassel',
        address: { street: 'Raiffeisenstraße 2', city: 'Kassel', postalCode: null, country: 'DEU' },
        coordinates: at,
        timeZone: null,
        openingHours: { twentyfourseven: true, regularHours: [] },
        operator: { id: 'DE*HUB', name: 'Hub Charge' },
        published: true,
        evses: [neutralMcsEvse('DE*HUB*E7001', 'DE*HUB*E7001', 'AVAILABLE')],
        lastUpdated: '2026-02-01T10:00:00.000Z',
      }
      const record = { EvseID: 'DE*HUB*E7001', ChargingPoolID: 'KS1' }
      await saveNeutralLocations(t.platform.db, [{ location: hubject, record }])

      const found = (await radius(`latitude=${at.latitude}&longitude=${at.longitude}&distance=100`)).json()
      assert.deepEqual(found.locations.map((l: { id: string; name: string | null }) => `${l.id}:${l.name}`).sort(), [
        'DE*HUB*KS1:Autohof Kassel',
        'DE*HUB*KS1:Site KS1',
      ])
      const pnc = (
        await radius(`latitude=${at.latitude}&longitude=${at.longitude}&distance=100`, {
          filters: { capabilities: ['PLUG_AND_CHARGE_CAPABLE'] },
        })
      ).json()
      assert.deepEqual(
        pnc.locations.map((l: { evses: Array<{ uid: string }> }) => l.evses.map((e) => e.uid)),
        [['DE*HUB*E7001']],
      )

      const key = { countryCode: 'de', partyId: 'hub', locationId: 'ks1' }
      assert.equal(((await readLocationRecord(t.platform.db, 'ocpi', key)) as { name: string }).name, 'Site KS1')
      assert.deepEqual(await readLocationRecord(t.platform.db, 'oicp', key), record)
    })
  })
}
