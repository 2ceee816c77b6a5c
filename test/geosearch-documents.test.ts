import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql, type KyselyPlugin } from 'kysely'
import { SearchDocumentCache } from '../src/services/locations/document-cache.ts'
import { geosearch, type SearchArea, type SearchSource } from '../src/services/locations/geosearch.ts'
import { PLUG_AND_CHARGE_CAPABLE, type LocationFilters } from '../src/core/locations/index.ts'
import type { OcpiLocation } from '../src/protocols/ocpi/locations-mapping.ts'
import { saveOcpiLocations as saveLocations } from '../src/protocols/ocpi/locations.ts'
import { generateLocations, SIM_CITIES } from '../src/sim/locations.ts'
import { backends, startTestPlatform, watchQueries, type TestPlatform } from './support.ts'

/** Counts statements, and walks: the statement that returns distances. */
function watchingPlugin(onResult: (rows: Array<Record<string, unknown>>) => Promise<void> | void = () => {}) {
  const walks = { count: 0 }
  const { counter, plugin } = watchQueries(async (rows) => {
    if (rows[0] && 'chord' in rows[0]) walks.count++
    await onResult(rows)
  })
  return { counter, walks, plugin }
}

const MB = 1024 * 1024
const PNC: LocationFilters = { capabilities: [PLUG_AND_CHARGE_CAPABLE] }

for (const backend of backends()) {
  describe(`geosearch documents held in memory (${backend})`, () => {
    let t: TestPlatform
    let locations: OcpiLocation[]
    const city = SIM_CITIES[0]!
    const area: SearchArea = { kind: 'radius', center: city, distance: 50_000 }
    const byId = (id: string) => locations.find((l) => `${l.country_code}*${l.party_id}*${l.id}` === id)!

    before(async () => {
      t = await startTestPlatform(backend)
      locations = generateLocations({ count: 3000, seed: 11, version: '2.3.0' })
      await saveLocations(t.platform.db, null, locations)
    })
    after(() => t.close())

    /** A source with its own cache and a watched database. */
    function sourceWith(plugin: KyselyPlugin, maxBytes = 64 * MB): SearchSource {
      return { db: t.platform.db.withPlugin(plugin), searchDocuments: new SearchDocumentCache(maxBytes) }
    }

    async function rename(location: OcpiLocation, name: string) {
      const renamed = { ...location, name, last_updated: new Date().toISOString() }
      await saveLocations(t.platform.db, null, [renamed])
      locations = locations.map((l) => (l === location ? renamed : l))
      return renamed
    }

    test('a repeated search reads no document from the database: one statement, and the same answer', async () => {
      const { counter, plugin } = watchingPlugin()
      const source = sourceWith(plugin)
      for (const filters of [PNC, {}] as LocationFilters[]) {
        counter.queries = 0
        const first = await geosearch(source, area, filters, { limit: 20 })
        assert.equal(first.hits.length, 20)
        assert.equal(counter.queries, 2, 'the walk, then the documents')
        counter.queries = 0
        const second = await geosearch(source, area, filters, { limit: 20 })
        assert.equal(counter.queries, 1, 'the walk only')
        assert.deepEqual(
          second.hits.map((h) => h.bytes.toString()),
          first.hits.map((h) => h.bytes.toString()),
        )
      }
      assert.equal(source.searchDocuments.stats().misses, 40)
      assert.equal(source.searchDocuments.stats().hits, 40)
    })

    test('a location changed after its document was held is found with its new document', async () => {
      const { counter, plugin } = watchingPlugin()
      const source = sourceWith(plugin)
      const before = await geosearch(source, area, PNC, { limit: 10 })
      const target = byId(before.hits[3]!.location.id)
      await rename(target, 'Renamed after it was held')
      counter.queries = 0
      const after = await geosearch(source, area, PNC, { limit: 10 })
      assert.equal(after.hits[3]!.location.name, 'Renamed after it was held')
      assert.equal(counter.queries, 2, 'the walk, then the one changed document')
      assert.deepEqual(
        after.hits.filter((_, i) => i !== 3).map((h) => h.bytes.toString()),
        before.hits.filter((_, i) => i !== 3).map((h) => h.bytes.toString()),
      )
    })

    test('a location rewritten between the walk and the document read is answered as it is after the change', async () => {
      // Read now: on PGlite nothing else can reach the database while the walk holds it.
      const stored = await t.platform.db.selectFrom('locations').select(['id', 'location_id']).execute()
      const locationIdOf = new Map(stored.map((row) => [row.id, row.location_id]))
      let target: OcpiLocation | undefined
      const { walks, plugin } = watchingPlugin(async (rows) => {
        if (target || !rows[0] || !('chord' in rows[0])) return
        target = locations.find((l) => l.id === locationIdOf.get(rows[0]!.id as string))!
        const write = rename(target, 'Rewritten during a search')
        // PostgreSQL writes on another connection, done before the search goes on. PGlite has one
        // connection, held until this statement is done: once the write waits for it (a turn of the
        // event loop), it is next, ahead of the search's next statement.
        if (backend === 'postgres') await write
        else {
          write.catch(() => {})
          await new Promise((resolve) => setImmediate(resolve))
        }
      })
      const source = sourceWith(plugin)
      const { hits } = await geosearch(source, area, PNC, { limit: 10 })
      assert.ok(target)
      assert.equal(walks.count, 2, 'the search started again')
      assert.equal(hits[0]!.location.name, 'Rewritten during a search')
    })

    test('without a cache every document is read with each search, and the answer is the same', async () => {
      const cached = sourceWith(watchingPlugin().plugin)
      const { counter, plugin } = watchingPlugin()
      const uncached = sourceWith(plugin, 0)
      for (let i = 0; i < 2; i++) {
        counter.queries = 0
        const a = await geosearch(uncached, area, PNC, { limit: 25 })
        const b = await geosearch(cached, area, PNC, { limit: 25 })
        assert.equal(counter.queries, 2)
        assert.deepEqual(
          a.hits.map((h) => h.bytes.toString()),
          b.hits.map((h) => h.bytes.toString()),
        )
      }
      assert.deepEqual(uncached.searchDocuments.stats(), { entries: 0, bytes: 0, hits: 0, misses: 50 })
    })

    test('every write gives a location a new document version, whatever the writer sets', async () => {
      const version = async () =>
        (
          await sql<{ v: string }>`SELECT document_version::text AS v FROM locations WHERE location_id = ${locations[0]!.id}`.execute(
            t.platform.db,
          )
        ).rows[0]!.v
      const first = await version()
      await sql`UPDATE locations SET document_version = 1 WHERE location_id = ${locations[0]!.id}`.execute(t.platform.db)
      const second = await version()
      await rename(locations[0]!, 'Another name')
      const third = await version()
      assert.ok(BigInt(second) > BigInt(first) && BigInt(third) > BigInt(second), `${first} < ${second} < ${third}`)
    })
  })
}

for (const backend of backends()) {
  describe(`geosearch answers over HTTP (${backend})`, () => {
    let t: TestPlatform
    let apiKey: string

    before(async () => {
      t = await startTestPlatform(backend, {}, { listen: true })
      apiKey = (await t.createOrganization()).apiKey
      await saveLocations(t.platform.db, null, generateLocations({ count: 2000, seed: 12, version: '2.3.0' }))
    })
    after(() => t.close())

    test('concurrent searches of different sizes each get exactly their own answer, again and again', async () => {
      // Answer buffers are used again once a response is out: a larger answer before a smaller one,
      // or two at once, must never leave bytes in another's.
      const searches = SIM_CITIES.slice(0, 8).flatMap((city, i) =>
        [1, 7, 50, 120].map((limit) => ({ city, limit, filters: i % 2 === 0 ? PNC : {} })),
      )
      for (let round = 0; round < 3; round++) {
        await Promise.all(
          searches.map(async ({ city, limit, filters }) => {
            const response = await fetch(
              `${t.url}/v1/geosearch/radius?latitude=${city.latitude}&longitude=${city.longitude}&distance=50000`,
              {
                method: 'POST',
                headers: { 'x-api-key': apiKey, 'content-type': 'application/json' },
                body: JSON.stringify({ filters, limit }),
              },
            )
            assert.equal(response.status, 200)
            const text = await response.text()
            assert.equal(Number(response.headers.get('content-length')), Buffer.byteLength(text))
            const answer = JSON.parse(text) as { locations: Array<{ id: string; distance: number }> }
            const expected = await geosearch(t.platform, { kind: 'radius', center: city, distance: 50_000 }, filters, { limit })
            assert.deepEqual(
              answer.locations.map((l) => l.id),
              expected.hits.map((h) => h.location.id),
              `${city.name}, limit ${limit}`,
            )
          }),
        )
      }
    })
  })
}

describe('the search document cache', () => {
  const document = (n: number, size: number) => JSON.stringify({ id: String(n), pad: 'x'.repeat(size - 20 - String(n).length) })

  test('keeps to its budget, least recently used out first', () => {
    const cache = new SearchDocumentCache(3 * (1000 + 160))
    for (const n of [1, 2, 3]) cache.set('pnc', n, document(n, 1000))
    assert.ok(cache.get('pnc', 1))
    cache.set('pnc', 4, document(4, 1000))
    assert.equal(cache.get('pnc', 2), undefined, 'the least recently used one left')
    for (const n of [1, 3, 4]) assert.ok(cache.get('pnc', n), String(n))
    assert.ok(cache.stats().bytes <= cache.maxBytes)
    assert.equal(cache.stats().entries, 3)
  })

  test("holds a location's two documents apart", () => {
    const cache = new SearchDocumentCache(MB)
    cache.set('full', 7, '{"id":"full"}')
    assert.equal(cache.get('pnc', 7), undefined)
    assert.equal(cache.get('full', 7)?.toString(), '{"id":"full"}')
  })

  test('with no budget holds nothing, and still gives the bytes of what it is given', () => {
    const cache = new SearchDocumentCache(0)
    assert.equal(cache.set('pnc', 1, '{"id":"a"}').toString(), '{"id":"a"}')
    assert.equal(cache.get('pnc', 1), undefined)
  })
})
