import assert from 'node:assert/strict'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { openDatabase } from '../src/infra/db/database.ts'
import { migrate } from '../src/infra/db/migrate.ts'
import { geosearch, type SearchArea, type SearchHit } from '../src/services/locations/geosearch.ts'
import {
  distanceMeters,
  matchLocation,
  searchDocumentJson,
  plugAndChargeDocumentOf,
  type LocationFilters,
} from '../src/core/locations/index.ts'
import { locationFromOcpi, parseCoordinates, searchDocumentOf, type OcpiLocation } from '../src/protocols/ocpi/locations-mapping.ts'
import { saveOcpiLocations as saveLocations } from '../src/protocols/ocpi/locations.ts'
import { derivedColumns } from '../src/services/locations/store.ts'
import { generateLocations, mulberry32, SIM_CITIES } from '../src/sim/locations.ts'
import { backends, freshPostgresDatabase, startTestPlatform, type TestPlatform } from './support.ts'

// Random queries per run: enough to cover the filters and the edges on every run; a deeper check
// sets GEOSEARCH_QUERIES (e.g. 100000) and takes minutes.
const QUERIES = Number(process.env.GEOSEARCH_QUERIES ?? 2_000)

type Box = Extract<SearchArea, { kind: 'bbox' }>

/** A box spans eastwards from west to east; west > east crosses the antimeridian. */
function withinLongitudes(box: Box, longitude: number): boolean {
  return box.west <= box.east ? longitude >= box.west && longitude <= box.east : longitude >= box.west || longitude <= box.east
}

/** The middle of the box's latitudes, and of its longitudes going east from west. */
function boxCentre(box: Box) {
  const span = box.west <= box.east ? box.east - box.west : box.east + 360 - box.west
  const longitude = box.west + span / 2
  return { latitude: (box.north + box.south) / 2, longitude: longitude > 180 ? longitude - 360 : longitude }
}

/**
 * Locations far from the generated cities: a cluster on both sides of the antimeridian around
 * Fiji (some sharing one point), and a ring along the equator.
 */
function aroundTheWorld(): OcpiLocation[] {
  const rnd = mulberry32(99)
  const generated = generateLocations({ count: 420, seed: 12, version: '2.3.0', partyId: 'WLD' })
  const at = (location: OcpiLocation, latitude: number, longitude: number): OcpiLocation => ({
    ...location,
    coordinates: { latitude: latitude.toFixed(6), longitude: longitude.toFixed(6) },
  })
  const placed: OcpiLocation[] = []
  for (const [i, location] of generated.entries()) {
    if (i >= 240) placed.push(at(location, -12 + rnd() * 24, -180 + rnd() * 360))
    else if (i % 10 < 3 && i > 0) {
      // Three in ten share a point with the one before.
      const point = parseCoordinates(placed[i - 1]!.coordinates)
      placed.push(at(location, point.latitude, point.longitude))
    } else {
      const longitude = 177.5 + rnd() * 5
      placed.push(at(location, -19 + rnd() * 3.5, longitude > 180 ? longitude - 360 : longitude))
    }
  }
  return placed
}

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
        ...aroundTheWorld(),
      ]
      await saveLocations(t.platform.db, null, locations)
    })
    after(() => t.close())

    /** What a full scan says: every location in the area that matches, nearest first. */
    function bruteForce(area: SearchArea, filters: LocationFilters) {
      const center = area.kind === 'radius' ? area.center : boxCentre(area)
      const found: Array<{ key: string; distance: number; at: string }> = []
      for (const location of locations) {
        const c = parseCoordinates(location.coordinates)
        const distance = distanceMeters(center, c)
        if (area.kind === 'radius' && distance > area.distance) continue
        if (area.kind === 'bbox' && (c.latitude < area.south || c.latitude > area.north || !withinLongitudes(area, c.longitude))) continue
        if (!matchLocation(searchDocumentOf(location), filters)) continue
        found.push({ key: key(location), distance, at: `${c.latitude},${c.longitude}` })
      }
      return found.sort((a, b) => a.distance - b.distance)
    }

    /** Every page of a search, through its cursors. */
    async function allPages(area: SearchArea, filters: LocationFilters, limit: number) {
      const hits: SearchHit[] = []
      let cursor: string | undefined
      for (let page = 0; page < 1000; page++) {
        const result = await geosearch(t.platform, area, filters, { limit, cursor })
        assert.ok(result.hits.length <= limit)
        hits.push(...result.hits)
        cursor = result.cursor
        if (!cursor) return hits
      }
      throw new Error('more than 1000 pages')
    }

    /**
     * The search pages through exactly what a full scan finds, nearest to the centre first. Several
     * locations at one point may come in any order among themselves, so the order is compared by
     * place, and the set by location.
     */
    async function assertPagesLikeAFullScan(area: SearchArea, filters: LocationFilters, limit: number) {
      const expected = bruteForce(area, filters)
      const hits = await allPages(area, filters, limit)
      const label = JSON.stringify({ area, filters, limit })
      const ids = hits.map((h) => h.location.id)
      assert.equal(new Set(ids).size, ids.length, `no location twice: ${label}`)
      assert.deepEqual([...ids].sort(), expected.map((e) => e.key).sort(), label)
      assert.deepEqual(
        hits.map((h) => `${h.location.coordinates.latitude},${h.location.coordinates.longitude}`),
        expected.map((e) => e.at),
        label,
      )
      return expected
    }

    test('a bounding box across the antimeridian finds the locations on both sides, nearest its centre first, page by page', async () => {
      const area: SearchArea = { kind: 'bbox', north: -16, south: -18.5, east: -179, west: 179 }
      for (const limit of [1, 7, 300]) {
        const expected = await assertPagesLikeAFullScan(area, {}, limit)
        const longitudes = expected.map((e) => Number(e.at.split(',')[1]))
        assert.ok(longitudes.some((l) => l > 179) && longitudes.some((l) => l < -179), 'both sides of the antimeridian')
        assert.ok(
          expected.some((e, i) => i > 0 && e.at === expected[i - 1]!.at),
          'the data has locations at one point',
        )
      }
      await assertPagesLikeAFullScan(area, { capabilities: ['PLUG_AND_CHARGE_CAPABLE'] }, 5)
      await assertPagesLikeAFullScan(area, { powerType: 'AC' }, 4)
    })

    test('boxes wider than half the world, across the antimeridian or not, find what a full scan finds', async () => {
      const boxes: SearchArea[] = [
        // Its farthest points are on its east and west edges at the equator, not at its corners.
        { kind: 'bbox', north: 10, south: -10, east: 80, west: 100 },
        { kind: 'bbox', north: 5, south: -20, east: 60, west: -170 },
        { kind: 'bbox', north: 60, south: -60, east: 170, west: -170 },
        { kind: 'bbox', north: 90, south: -90, east: 180, west: -180 },
      ]
      for (const area of boxes) await assertPagesLikeAFullScan(area, {}, 50)
    })

    test('a cursor continues only the search it came from', async () => {
      const area: SearchArea = { kind: 'radius', center: SIM_CITIES[0]!, distance: 25_000 }
      const { cursor } = await geosearch(t.platform, area, {}, { limit: 3 })
      assert.ok(cursor)
      // The same search, with its filters in another order and another page size, continues.
      const same = await geosearch(t.platform, area, {}, { limit: 5, cursor })
      assert.equal(same.hits.length, 5)
      const others: Array<[SearchArea, LocationFilters]> = [
        [area, { powerType: 'DC' }],
        [{ ...area, distance: 20_000 }, {}],
        [{ ...area, center: { ...area.center, latitude: area.center.latitude + 0.001 } }, {}],
        [{ kind: 'bbox', north: 53, south: 52, east: 14, west: 13 }, {}],
      ]
      for (const [otherArea, filters] of others) {
        await assert.rejects(
          geosearch(t.platform, otherArea, filters, { limit: 3, cursor }),
          (error: Error & { code?: string }) => error.code === 'cursor_mismatch' && /cursor/.test(error.message),
          JSON.stringify({ otherArea, filters }),
        )
      }
      const filtered = await geosearch(t.platform, area, { connectorTypes: ['CHADEMO', 'IEC_62196_T2'] }, { limit: 2 })
      assert.ok(filtered.cursor)
      const reordered = await geosearch(
        t.platform,
        area,
        { connectorTypes: ['IEC_62196_T2', 'CHADEMO'] },
        { limit: 2, cursor: filtered.cursor },
      )
      assert.ok(reordered.hits.length > 0, 'a list filter in another order is the same search')
    })

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
              const { latitude, longitude, searchable, plug_and_charge, last_updated } = derivedColumns(locationFromOcpi(location))
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
