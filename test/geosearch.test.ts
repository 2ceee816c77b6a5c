import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { openDatabase } from '../src/db/database.ts'
import { migrate } from '../src/db/migrate.ts'
import { geosearch, type SearchArea } from '../src/locations/geosearch.ts'
import {
  distanceMeters,
  matchLocation,
  parseCoordinates,
  searchDocumentJson,
  searchDocumentOf,
  plugAndChargeDocumentOf,
  type LocationFilters,
  type OcpiLocation,
} from '../src/locations/index.ts'
import { derivedColumns, saveLocations } from '../src/locations/store.ts'
import { generateLocations, mulberry32, SIM_CITIES } from '../src/sim/locations.ts'
import { backends, freshPostgresDatabase, startTestPlatform, type TestPlatform } from './support.ts'

const QUERIES = Number(process.env.GEOSEARCH_QUERIES ?? 10_000)

for (const backend of backends()) {
  describe(`geosearch (${backend})`, () => {
    let t: TestPlatform
    let locations: OcpiLocation[]
    const key = (l: OcpiLocation) => `${l.country_code}*${l.party_id}*${l.id}`

    before(async () => {
      t = await startTestPlatform(backend)
      locations = [
        ...generateLocations({ count: 1500, seed: 7, version: '2.3.0' }),
        ...generateLocations({ count: 500, seed: 8, version: '2.2.1', partyId: 'OLD' }),
      ]
      await saveLocations(t.platform.db, null, locations)
    })
    after(() => t.close())

    /** What a full scan says: every location in the area that matches, nearest first. */
    function bruteForce(area: SearchArea, filters: LocationFilters) {
      const center =
        area.kind === 'radius' ? area.center : { latitude: (area.north + area.south) / 2, longitude: (area.east + area.west) / 2 }
      const found: Array<{ key: string; distance: number }> = []
      for (const location of locations) {
        const c = parseCoordinates(location.coordinates)
        const distance = distanceMeters(center, c)
        if (area.kind === 'radius' && distance > area.distance) continue
        if (
          area.kind === 'bbox' &&
          (c.latitude < area.south || c.latitude > area.north || c.longitude < area.west || c.longitude > area.east)
        )
          continue
        if (!matchLocation(searchDocumentOf(location), filters)) continue
        found.push({ key: key(location), distance })
      }
      return found.sort((a, b) => a.distance - b.distance)
    }

    test(`${QUERIES} random radius queries find what a full scan finds, in the same order, distances within 0.5%`, async () => {
      const rnd = mulberry32(42)
      const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!
      for (let q = 0; q < QUERIES; q++) {
        const city = pick(SIM_CITIES)
        const center = { latitude: city.latitude + (rnd() - 0.5) * 0.4, longitude: city.longitude + (rnd() - 0.5) * 0.6 }
        const area: SearchArea = { kind: 'radius', center, distance: 500 + rnd() * 30_000 }
        const filters: LocationFilters = {}
        if (rnd() < 0.5) filters.capabilities = ['PLUG_AND_CHARGE_CAPABLE']
        if (rnd() < 0.3) filters.powerType = pick(['AC', 'DC'] as const)
        if (rnd() < 0.3) filters.power = pick([11_000, 22_000, 50_000, 150_000])
        if (rnd() < 0.2) filters.connectorTypes = [pick(['IEC_62196_T2', 'IEC_62196_T2_COMBO', 'CHADEMO'])]
        if (rnd() < 0.2) filters.locationStatuses = ['AVAILABLE']
        if (rnd() < 0.1) filters.open247 = rnd() < 0.5
        const limit = 1 + Math.floor(rnd() * 60)
        const expected = bruteForce(area, filters).slice(0, limit)
        const { hits } = await geosearch(t.platform, area, filters, { limit })
        const label = `query ${q}: ${JSON.stringify({ area, filters, limit })}`
        assert.deepEqual(
          hits.map((h) => h.location.id),
          expected.map((e) => e.key),
          label,
        )
        hits.forEach((h, i) => assert.ok(Math.abs(h.distance - expected[i]!.distance) <= expected[i]!.distance * 0.005 + 0.01, label))
      }
    })

    test('paging with the cursor walks through all results exactly once', async () => {
      const area: SearchArea = { kind: 'radius', center: SIM_CITIES[0]!, distance: 25_000 }
      const filters: LocationFilters = { capabilities: ['PLUG_AND_CHARGE_CAPABLE'] }
      const expected = bruteForce(area, filters).map((e) => e.key)
      assert.ok(expected.length > 20)
      const seen: string[] = []
      let cursor: string | undefined
      for (let page = 0; page < 100; page++) {
        const result = await geosearch(t.platform, area, filters, { limit: 7, cursor })
        seen.push(...result.hits.map((h) => h.location.id))
        cursor = result.cursor
        if (!cursor) break
      }
      assert.deepEqual(seen, expected)
    })

    test('a bounding box finds exactly the matching locations inside it', async () => {
      const city = SIM_CITIES[3]!
      const area: SearchArea = {
        kind: 'bbox',
        north: city.latitude + 0.1,
        south: city.latitude - 0.1,
        east: city.longitude + 0.15,
        west: city.longitude - 0.15,
      }
      const expected = new Set(bruteForce(area, {}).map((e) => e.key))
      const { hits } = await geosearch(t.platform, area, {}, { limit: 300 })
      assert.deepEqual(new Set(hits.map((h) => h.location.id)), expected)
    })
  })

  describe(`a database stored before search documents (${backend})`, () => {
    test('is upgraded at start-up: every location gets its documents, and the search finds what a full scan finds', async () => {
      const locations = generateLocations({ count: 400, seed: 9, version: '2.3.0' })
      const postgres = backend === 'postgres' ? await freshPostgresDatabase() : undefined
      const dataDir = await mkdtemp(join(tmpdir(), 'openpnc-upgrade-'))
      try {
        const old = await openDatabase(postgres ? { databaseUrl: postgres.url } : { dataDir })
        await migrate(old.db, '0004_authorization_lookup')
        // Rows as the store wrote them then: the Location and the columns derived from it.
        await old.db
          .insertInto('locations')
          .values(
            locations.map((location) => {
              const { latitude, longitude, searchable, plug_and_charge, last_updated } = derivedColumns(location)
              return {
                partner_id: null,
                country_code: location.country_code,
                party_id: location.party_id,
                location_id: location.id,
                data: JSON.stringify(location),
                ...{ latitude, longitude, searchable, plug_and_charge, last_updated },
              }
            }),
          )
          .execute()
        await old.close()

        const t = await startTestPlatform(backend, {}, { dataDir, postgresUrl: postgres?.url })
        try {
          const rows = await t.platform.db
            .selectFrom('locations')
            .select(['location_id', 'search_document', 'search_document_pnc'])
            .execute()
          const stored = new Map(rows.map((r) => [r.location_id, r]))
          for (const location of locations) {
            const document = searchDocumentOf(location)
            const pnc = plugAndChargeDocumentOf(document)
            assert.equal(stored.get(location.id)?.search_document, searchDocumentJson(document))
            assert.equal(stored.get(location.id)?.search_document_pnc, pnc && searchDocumentJson(pnc))
          }
          for (const city of SIM_CITIES.slice(0, 6)) {
            const area: SearchArea = { kind: 'radius', center: city, distance: 30_000 }
            for (const filters of [{}, { capabilities: ['PLUG_AND_CHARGE_CAPABLE'] }] as LocationFilters[]) {
              const expected: string[] = locations
                .filter((l) => distanceMeters(city, parseCoordinates(l.coordinates)) <= area.distance)
                .filter((l) => matchLocation(searchDocumentOf(l), filters))
                .map((l) => `${l.country_code}*${l.party_id}*${l.id}`)
                .sort()
              const { hits } = await geosearch(t.platform, area, filters, { limit: 300 })
              assert.deepEqual(hits.map((h) => h.location.id).sort(), expected, `${city.name} ${JSON.stringify(filters)}`)
            }
          }
        } finally {
          await t.close()
        }
      } finally {
        await postgres?.drop()
        await rm(dataDir, { recursive: true, force: true })
      }
    })
  })
}
