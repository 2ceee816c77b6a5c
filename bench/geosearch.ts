/**
 * npm run bench:geosearch: a driver's app looking for Plug&Charge chargers near a point.
 *
 * 1. A fresh PostgreSQL database, migrated with the project's migrations, gets the simulated
 *    European network (src/sim/locations.ts, OCPI 2.3.0) through saveLocations until it holds
 *    BENCH_GEO_EVSES EVSEs; then VACUUM ANALYZE and CHECKPOINT.
 * 2. Raw SQL baseline: the search as one statement (the index walk of src/services/locations/geosearch.ts,
 *    captured at run time, returning the search documents: no cache), as a prepared statement through `pg` (a pool as large as the platform's), CONNECTIONS queries
 *    in flight for BENCH_GEO_SECONDS.
 * 3. The platform (bench/server.ts in a child process) takes POST /v1/geosearch/radius with
 *    BENCH_CONNECTIONS autocannon connections for BENCH_GEO_SECONDS: distance 5 km, the
 *    Plug&Charge filter, limit 50, around random points within 5 km of a SIM_CITIES centre. Both
 *    runs search the same sequence of points, after a warm-up that is not counted.
 *
 * It prints figures and whether the aims were met, and asserts no timing; it fails (exit 1) only
 * when an answer is wrong: a non-2xx, a transport error, a sampled answer that breaks the search's
 * rules, an API answer that is not the SQL's search, or a seeding that lost locations.
 *
 *   BENCH_GEO_EVSES=1000000  BENCH_GEO_SECONDS=10  BENCH_CONNECTIONS=32
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres   (where the bench database is made)
 *   BENCH_GEO_PROFILE=<directory>: also sample the server's CPU over the measured API run, write
 *     geosearch.cpuprofile there and print where the time went (the sampling costs a little).
 *   BENCH_GEO_EXPLAIN=1: also print EXPLAIN (ANALYZE, BUFFERS) of the prepared search at a city centre.
 *   OPENPNC_DB_POOL_SIZE is passed on to the server (and sizes the SQL baseline's pool alike);
 *   other OPENPNC_* settings and DATABASE_URL are not.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { Kysely, PostgresDialect, sql, type CompiledQuery } from 'kysely'
import pg from 'pg'
import { openDatabase } from '../src/infra/db/database.ts'
import { migrate } from '../src/infra/db/migrate.ts'
import type { Database } from '../src/infra/db/schema.ts'
import { SearchDocumentCache } from '../src/services/locations/document-cache.ts'
import { earthBox, earthPoint, geosearch, searchRadius } from '../src/services/locations/geosearch.ts'
import { PLUG_AND_CHARGE_CAPABLE, validateFilters, type SearchDocument } from '../src/core/locations/index.ts'
import { isPlugAndChargeCapable, type OcpiLocation } from '../src/protocols/ocpi/locations-mapping.ts'
import { saveOcpiLocations as saveLocations } from '../src/protocols/ocpi/locations.ts'
import { generateLocations, mulberry32, SIM_CITIES } from '../src/sim/locations.ts'
import { summarizeCpuProfile } from './cpu-profile.ts'
import {
  BUSY_MACHINE,
  call,
  cleanUpOnInterrupt,
  cleanups,
  idleCheck,
  intEnv,
  percentile,
  postgresDatabase,
  profile,
  profileLines,
  progressOf,
  runCleanups,
  snapshot,
  startServer,
  waitForHealth,
  type Profile,
  type Server,
} from './harness.ts'
import type { ProfilerReply } from './profiler.ts'

const EVSES = intEnv('BENCH_GEO_EVSES', 1_000_000)
const SECONDS = intEnv('BENCH_GEO_SECONDS', 10)
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 32)
// The baseline's pool is the platform's: its default (src/config.ts), or what the server is given.
const POOL_SIZE = intEnv('OPENPNC_DB_POOL_SIZE', 16)
const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
const PROFILE_DIR = process.env.BENCH_GEO_PROFILE ? resolve(process.env.BENCH_GEO_PROFILE) : undefined
const EXPLAIN = process.env.BENCH_GEO_EXPLAIN === '1'
const PROFILER = fileURLToPath(new URL('./profiler.ts', import.meta.url))

// Long enough for the platform's document cache to hold most of what the searches around the cities find.
const WARMUP_SECONDS = 10
/** Locations per generateLocations call: tens of MB of objects, so memory stays flat at any size. */
const CHUNK_LOCATIONS = 20_000
/** Chunk c is generated with seed FIRST_SEED + c; the generator puts the seed in every ID, so chunks never collide. */
const FIRST_SEED = 1
/** Two inserting connections: PostgreSQL works on one statement while this process serializes the next. */
const SEED_CONNECTIONS = 2
const OCPI_VERSION = '2.3.0'

const RADIUS_M = 5000
const JITTER_M = 5000
const LIMIT = 50
const FILTERS = { capabilities: [PLUG_AND_CHARGE_CAPABLE] }
const BODY = JSON.stringify({ filters: FILTERS, limit: LIMIT })
/** Search points, drawn once from a fixed seed: both runs walk the same sequence. */
const POINTS = 200_000
const POINT_SEED = 20_250_101
/** Warm-ups walk the second half of the sequence, so the measured runs do not replay their pages. */
const WARMUP_OFFSET = POINTS / 2
/** Every n-th API answer is parsed and checked in full; the rest only counted (parsing all would load the generator). */
const VALIDATE_EVERY = 25
/** Points whose API answer is compared with the SQL's rows before the load. */
const CONSISTENCY_POINTS = 30

const AIM_P99_MS = 25
const AIM_QPS = 1000

const LABEL = { sql: 'raw SQL (pg, prepared)', api: 'openpnc API' }

const progress = progressOf('bench:geosearch')
cleanUpOnInterrupt(progress)

// ----- search points

/** [latitude, longitude] pairs: a random city centre, then a point uniform on the 5 km disc around it. */
const points = (() => {
  const random = mulberry32(POINT_SEED)
  const result = new Float64Array(POINTS * 2)
  for (let i = 0; i < POINTS; i++) {
    const city = SIM_CITIES[Math.floor(random() * SIM_CITIES.length)]!
    // sqrt: uniform over the area, not bunched at the centre.
    const r = JITTER_M * Math.sqrt(random())
    const bearing = 2 * Math.PI * random()
    const latitude = city.latitude + (r * Math.cos(bearing)) / 111_320
    const longitude = city.longitude + (r * Math.sin(bearing)) / (111_320 * Math.cos((city.latitude * Math.PI) / 180))
    // Six decimals (~0.1 m), as a phone reports a position; the query string carries exactly these.
    result[2 * i] = Math.round(latitude * 1e6) / 1e6
    result[2 * i + 1] = Math.round(longitude * 1e6) / 1e6
  }
  return result
})()
const pointAt = (i: number) => ({ latitude: points[2 * (i % POINTS)]!, longitude: points[2 * (i % POINTS) + 1]! })
const apiPath = (p: { latitude: number; longitude: number }) =>
  `/v1/geosearch/radius?latitude=${p.latitude}&longitude=${p.longitude}&distance=${RADIUS_M}`

// ----- seeding

interface Seeded {
  locations: number
  evses: number
  pncEvses: number
  /** From the database after seeding. */
  searchable: number
  pncLocations: number
  generateSeconds: number
  saveSeconds: number
  maintenanceSeconds: number
  tableMb: number
  pncIndexMb: number
  settings: string
}

async function seed(databaseUrl: string): Promise<Seeded> {
  const handle = await openDatabase({ databaseUrl, poolSize: SEED_CONNECTIONS })
  try {
    progress('migrating the database')
    await migrate(handle.db)

    progress(`seeding until ${EVSES} EVSEs, ${CHUNK_LOCATIONS} generated locations per chunk`)
    let locations = 0
    let evses = 0
    let pncEvses = 0
    let generateMs = 0
    let saveMs = 0
    // Every location has at least one EVSE, so a chunk adds at least CHUNK_LOCATIONS EVSEs.
    const maxChunks = Math.ceil(EVSES / CHUNK_LOCATIONS)
    for (let chunk = 0; evses < EVSES; chunk++) {
      if (chunk >= maxChunks) throw new Error(`seeding did not reach ${EVSES} EVSEs in ${maxChunks} chunks`)
      let started = performance.now()
      const generated = generateLocations({ count: CHUNK_LOCATIONS, seed: FIRST_SEED + chunk, version: OCPI_VERSION })
      // The last chunk stops at the location that reaches the target.
      let keep = 0
      while (keep < generated.length && evses < EVSES) {
        const list = generated[keep++]!.evses ?? []
        evses += list.length
        for (const evse of list) if (isPlugAndChargeCapable(evse)) pncEvses++
      }
      const batch: OcpiLocation[] = generated.slice(0, keep)
      generateMs += performance.now() - started

      started = performance.now()
      const share = Math.ceil(batch.length / SEED_CONNECTIONS)
      await Promise.all(
        Array.from({ length: SEED_CONNECTIONS }, (_, i) => saveLocations(handle.db, null, batch.slice(i * share, (i + 1) * share))),
      )
      saveMs += performance.now() - started
      locations += batch.length
      const seconds = (generateMs + saveMs) / 1000
      progress(`  ${locations} locations, ${evses} EVSEs in ${seconds.toFixed(1)} s (${(evses / seconds).toFixed(0)} EVSEs/s)`)
    }

    const counts = (
      await sql<{ total: string; searchable: string; pnc: string }>`
        SELECT count(*) AS total, count(*) FILTER (WHERE searchable) AS searchable,
               count(*) FILTER (WHERE searchable AND plug_and_charge) AS pnc
          FROM locations`.execute(handle.db)
    ).rows[0]!
    // saveLocations replaces a location with the same party and ID: fewer rows means IDs collided.
    if (Number(counts.total) !== locations)
      throw new Error(`seeded ${locations} locations but the table holds ${counts.total}: IDs collided`)

    // A database in service has been vacuumed and checkpointed; without this, autovacuum (hundreds
    // of thousands of fresh rows) and the seeding's checkpoint would fall into the measured runs.
    // ANALYZE gives the planner its statistics.
    progress('VACUUM ANALYZE and CHECKPOINT')
    const started = performance.now()
    await sql`VACUUM (ANALYZE) locations`.execute(handle.db)
    await sql`CHECKPOINT`.execute(handle.db)
    const maintenanceSeconds = (performance.now() - started) / 1000

    const sizes = (
      await sql<{ table_bytes: string; index_bytes: string }>`
        SELECT pg_total_relation_size('locations') AS table_bytes, pg_relation_size('locations_earth_pnc_idx') AS index_bytes`.execute(
        handle.db,
      )
    ).rows[0]!
    const settings = (
      await sql<{ name: string; setting: string; unit: string | null }>`
        SELECT name, setting, unit FROM pg_settings WHERE name IN ('shared_buffers', 'jit', 'max_parallel_workers_per_gather', 'plan_cache_mode')
         ORDER BY name`.execute(handle.db)
    ).rows
    return {
      locations,
      evses,
      pncEvses,
      searchable: Number(counts.searchable),
      pncLocations: Number(counts.pnc),
      generateSeconds: generateMs / 1000,
      saveSeconds: saveMs / 1000,
      maintenanceSeconds,
      tableMb: Number(sizes.table_bytes) / 2 ** 20,
      pncIndexMb: Number(sizes.index_bytes) / 2 ** 20,
      settings: settings.map((s) => `${s.name}=${s.setting}${s.unit === '8kB' ? ` x 8 kB` : (s.unit ?? '')}`).join(', '),
    }
  } finally {
    await handle.close()
  }
}

// ----- the search as SQL

interface SearchSql {
  text: string
  /** The captured parameters, with the centre's slots named: the rest (radius, batch) do not depend on the centre. */
  slots: Array<'origin' | 'box' | { value: unknown }>
  values(p: { latitude: number; longitude: number }): unknown[]
  /** The rows it asks for (its LIMIT); NaN if the SQL has no LIMIT parameter. */
  limit: number
}

// A centre no other parameter can equal by chance, so its slots (the centre as an earth point) are found by value.
const PROBE = { latitude: 48.8566012345, longitude: 2.3522012345 }
const PROBE_2 = { latitude: 52.5200012345, longitude: 13.4050012345 }

/**
 * The search as one SQL statement, from the queries geosearch() sends for our search, captured
 * through Kysely's log, so the baseline follows src/services/locations/geosearch.ts when it changes. The
 * platform walks the index for IDs and document versions and takes the documents from its cache
 * (reading only those it does not hold); the baseline is that walk returning the documents
 * themselves: everything a search needs from the database, in one round trip, with no cache.
 */
async function captureSearchSql(databaseUrl: string): Promise<SearchSql> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 })
  const walks: CompiledQuery[] = []
  const db = new Kysely<Database>({
    dialect: new PostgresDialect({ pool }),
    log: (event) => {
      if (event.level === 'query') walks.push(event.query)
    },
  })
  const walkAt = async (center: { latitude: number; longitude: number }) => {
    walks.length = 0
    // No cache: the walk is the first query.
    const source = { db, searchDocuments: new SearchDocumentCache(0) }
    await geosearch(source, { kind: 'radius', center, distance: RADIUS_M }, validateFilters(FILTERS), { limit: LIMIT })
    if (!walks[0]) throw new Error('geosearch() sent no query')
    return walks[0]
  }
  let walk: CompiledQuery
  let check: CompiledQuery
  try {
    walk = await walkAt(PROBE)
    check = await walkAt(PROBE_2)
  } finally {
    await db.destroy()
  }
  const versionColumn = /\bdocument_version AS version\b/
  if (!versionColumn.test(walk.sql)) throw new Error(`the captured walk does not select document versions: ${walk.sql}`)
  const text = walk.sql.replace(versionColumn, 'search_document_pnc AS document')
  // The centre's slots, found by value: the point itself and the index box around it.
  const centred = {
    origin: (p: { latitude: number; longitude: number }) => earthPoint(p),
    box: (p: { latitude: number; longitude: number }) => earthBox(p, searchRadius(RADIUS_M)),
  }
  const slots = walk.parameters.map((value) =>
    value === centred.origin(PROBE) ? ('origin' as const) : value === centred.box(PROBE) ? ('box' as const) : { value },
  )
  if (!slots.includes('origin') || !slots.includes('box') || !/plug_and_charge/.test(text)) {
    throw new Error(`the captured search does not look like the Plug&Charge radius search: ${walk.sql}`)
  }
  const values = (p: { latitude: number; longitude: number }) =>
    slots.map((slot) => (slot === 'origin' ? centred.origin(p) : slot === 'box' ? centred.box(p) : slot.value))
  // Every other slot must be the same at any centre: a second search says so, or the baseline is not this search.
  if (check.sql !== walk.sql || JSON.stringify(values(PROBE_2)) !== JSON.stringify(check.parameters)) {
    throw new Error(
      `the search's parameters depend on its centre in a way the baseline does not follow: ${JSON.stringify(check.parameters)}`,
    )
  }
  const limitSlot = /\bLIMIT\s+\$(\d+)/i.exec(text)?.[1]
  const limit = limitSlot ? Number(walk.parameters[Number(limitSlot) - 1]) : NaN
  return { text, slots, limit, values }
}

/** The name the baseline prepares the search under, on each of its connections. */
const STATEMENT = 'bench_geosearch'

type SqlRow = { id: string; document: string; chord: number }

/**
 * Before the load: for a few points, the API's answer must be the SQL's search: its locations
 * appear in the SQL's rows, in the same order (the API drops rows beyond 5 km by haversine and rows
 * the exact filter empties; when the SQL's batch is full, the API may go on past it).
 */
async function checkConsistency(pool: pg.Pool, search: SearchSql, batch: number, url: string, apiKey: string): Promise<string[]> {
  const problems: string[] = []
  for (let i = 0; i < CONSISTENCY_POINTS; i++) {
    const point = pointAt(i)
    const rows = (await pool.query<SqlRow>({ name: STATEMENT, text: search.text, values: search.values(point) })).rows
    const answer = (await call(url, apiKey, 'POST', apiPath(point), JSON.parse(BODY))) as { locations: Array<{ id: string }> }
    const sqlIds = rows.map((r) => (JSON.parse(r.document) as SearchDocument).id)
    const batchFull = rows.length === batch
    let at = 0
    for (const location of answer.locations) {
      while (at < sqlIds.length && sqlIds[at] !== location.id) at++
      if (at === sqlIds.length) {
        if (!batchFull)
          problems.push(`point ${point.latitude},${point.longitude}: the API returned ${location.id}, not among the SQL's rows`)
        break
      }
      at++
    }
  }
  return problems
}

// ----- the load

interface LoadResult {
  /** Answers as they should be (API: 200 with a valid page; SQL: rows). */
  ok: number
  failed: number
  errors: number
  timeouts: number
  statusCodes: Record<string, number>
  /** A few of the wrong answers, to show. */
  samples: string[]
  /** Locations (API) or rows (SQL) over all answers; how many answers were full or empty. */
  rows: number
  full: number
  empty: number
  bytes: number
  validated: number
  /** From the first request to the last response. */
  elapsedMs: number
  perSecond: number
  p50: number
  p99: number
}

const newResult = (): LoadResult => ({
  ok: 0,
  failed: 0,
  errors: 0,
  timeouts: 0,
  statusCodes: {},
  samples: [],
  rows: 0,
  full: 0,
  empty: 0,
  bytes: 0,
  validated: 0,
  elapsedMs: 0,
  perSecond: 0,
  p50: NaN,
  p99: NaN,
})

function finish(result: LoadResult, latencies: number[], elapsedMs: number): LoadResult {
  const sorted = Float64Array.from(latencies).sort()
  result.elapsedMs = elapsedMs
  result.perSecond = (result.ok / elapsedMs) * 1000
  result.p50 = percentile(sorted, 0.5)
  result.p99 = percentile(sorted, 0.99)
  return result
}

/** Occurrences of `"distance":` (one per location in an answer): counting without parsing. */
function countLocations(body: string): number {
  let count = 0
  // Bounded by the body's length: each match moves past itself.
  for (let at = body.indexOf('"distance":'); at >= 0; at = body.indexOf('"distance":', at + 11)) count++
  return count
}

type ApiAnswer = {
  locations: Array<{ id: string; distance: number; evses: Array<{ connectors: Array<{ capabilities: string[] }> }> }>
}

/** The rules of the search, on a full answer; null when it keeps them. */
function answerProblem(body: string): string | null {
  const answer = JSON.parse(body) as ApiAnswer
  if (!Array.isArray(answer.locations)) return 'no locations list'
  if (answer.locations.length > LIMIT) return `${answer.locations.length} locations, limit ${LIMIT}`
  let previous = 0
  for (const location of answer.locations) {
    if (!(location.distance <= RADIUS_M)) return `${location.id} at ${location.distance} m, radius ${RADIUS_M} m`
    if (location.distance < previous) return `${location.id} at ${location.distance} m after one at ${previous} m: not nearest first`
    previous = location.distance
    if (location.evses.length === 0) return `${location.id} without EVSEs`
    for (const evse of location.evses) {
      if (evse.connectors.length === 0 || evse.connectors.some((c) => !c.capabilities.includes(PLUG_AND_CHARGE_CAPABLE))) {
        return `${location.id} has a connector that is not Plug&Charge capable`
      }
    }
  }
  return null
}

async function loadApi(url: string, apiKey: string, seconds: number, offset: number): Promise<LoadResult> {
  const result = newResult()
  // Our own latencies: autocannon's histogram has 1 ms resolution.
  const latencies: number[] = []
  let next = offset
  let last = 0
  const start = performance.now()
  const run = autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
    body: BODY,
    connections: CONNECTIONS,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        // A new point for every request: autocannon calls this before each one, with a fresh context.
        setupRequest(request, context) {
          const point = pointAt(next++)
          context.point = `${point.latitude},${point.longitude}`
          request.path = apiPath(point)
          return request
        },
        // Without pipelining, one request per connection is in flight: the context is its own.
        onResponse(status, body, context) {
          result.statusCodes[status] = (result.statusCodes[status] ?? 0) + 1
          let problem: string | null = status === 200 ? null : `${status} ${body.slice(0, 200)}`
          if (!problem && (result.ok + result.failed) % VALIDATE_EVERY === 0) {
            try {
              problem = answerProblem(body)
            } catch (error) {
              problem = `unparseable answer: ${(error as Error).message}`
            }
            result.validated++
          }
          if (problem) {
            result.failed++
            if (result.samples.length < 5) result.samples.push(`${context.point}: ${problem}`)
            return
          }
          result.ok++
          const rows = countLocations(body)
          result.rows += rows
          if (rows === LIMIT) result.full++
          if (rows === 0) result.empty++
          result.bytes += body.length
        },
      },
    ],
  })
  run.on('response', (_client, _status, _bytes, latencyMs) => {
    latencies.push(latencyMs)
    last = performance.now()
  })
  const done = await run
  result.errors = done.errors
  result.timeouts = done.timeouts
  return finish(result, latencies, (last || performance.now()) - start)
}

async function loadSql(pool: pg.Pool, search: SearchSql, seconds: number, offset: number, batch: number): Promise<LoadResult> {
  const result = newResult()
  const latencies: number[] = []
  let next = offset
  let last = 0
  const start = performance.now()
  const deadline = start + seconds * 1000
  // CONNECTIONS clients, each with one query in flight, as autocannon's connections; the pool holds
  // the rest in its queue, as the platform's does, so the latencies include that wait.
  const client = async () => {
    // Bounded by the deadline, and by the error count should the database refuse every query.
    while (performance.now() < deadline && result.errors < 100) {
      const point = pointAt(next++)
      const sent = performance.now()
      try {
        const { rows } = await pool.query<SqlRow>({ name: STATEMENT, text: search.text, values: search.values(point) })
        last = performance.now()
        latencies.push(last - sent)
        result.ok++
        result.rows += rows.length
        if (rows.length === batch) result.full++
        if (rows.length === 0) result.empty++
      } catch (error) {
        result.errors++
        if (result.samples.length < 5) result.samples.push(`${point.latitude},${point.longitude}: ${(error as Error).message}`)
      }
    }
  }
  await Promise.all(Array.from({ length: CONNECTIONS }, client))
  return finish(result, latencies, (last || performance.now()) - start)
}

const failures = (r: LoadResult) => r.failed + r.errors

function describeFailures(r: LoadResult) {
  const codes = Object.entries(r.statusCodes).map(([code, n]) => `${n} x ${code}`)
  return [
    `${r.failed} wrong answers (status codes: ${codes.join(', ') || 'none'})`,
    r.errors > 0 && `${r.errors} errors (${r.timeouts} timeouts)`,
    ...r.samples.map((s) => `    e.g. ${s}`),
  ]
    .filter(Boolean)
    .join('\n  ')
}

interface Measured {
  warmup: LoadResult
  result: LoadResult
  profile: Profile
  /** CPU of PostgreSQL backends serving other databases, % of one core: inside the harness's "postgres" figure. */
  otherDatabases: { share: number; names: string[] } | null
  cpuProfile?: string[]
  /** The platform's document cache over the measured run, and its size at the end. */
  documents?: { hits: number; misses: number; entries: number; bytes: number }
}

/**
 * CPU ms of each PostgreSQL backend by pid, with the database it serves (Linux; null elsewhere).
 * The harness counts every postgres process as the benchmark's database; on a shared machine, other
 * engineers' tests and benchmarks run on the same server, and their backends name their database
 * in the process title ("postgres: 15/main: user database host(port) STATE").
 */
async function postgresBackends(): Promise<Map<number, { database: string; ms: number }> | null> {
  let entries: string[]
  try {
    entries = await readdir('/proc')
  } catch {
    return null
  }
  const backends = new Map<number, { database: string; ms: number }>()
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
    const close = stat.lastIndexOf(')')
    if (close < 0 || stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue
    const title = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).replace(/\0/g, ' ').trim()
    const database = /^postgres: (?:\S+: )?\S+ (\S+) (?:\S+\(\d+\)|\[local\])/.exec(title)?.[1]
    if (!database) continue
    // utime and stime, fields 14 and 15, in USER_HZ (100 per second on Linux).
    const fields = stat.slice(close + 2).split(' ')
    backends.set(Number(pid), { database, ms: (Number(fields[11]) + Number(fields[12])) * 10 })
  }
  return backends
}

function otherDatabasesShare(
  before: Map<number, { database: string; ms: number }> | null,
  after: Map<number, { database: string; ms: number }> | null,
  ours: string,
  elapsedMs: number,
): Measured['otherDatabases'] {
  if (!before || !after) return null
  let ms = 0
  const names = new Set<string>()
  for (const [pid, backend] of after) {
    if (backend.database === ours) continue
    // A backend that started during the run counts from zero; one that ended is not seen.
    const used = backend.ms - (before.get(pid)?.ms ?? 0)
    if (used <= 0) continue
    ms += used
    names.add(backend.database)
  }
  return { share: (100 * ms) / elapsedMs, names: [...names] }
}

async function measure(
  label: string,
  server: Server,
  database: string,
  run: (seconds: number, offset: number) => Promise<LoadResult>,
  cpuProfilePath?: string,
) {
  progress(`${label}: warm-up, ${WARMUP_SECONDS} s`)
  const warmup = await run(WARMUP_SECONDS, WARMUP_OFFSET)
  progress(`${label}: ${SECONDS} s, ${CONNECTIONS} in flight`)
  if (cpuProfilePath) await server.ask<ProfilerReply>({ type: 'profile-start' }, 'profile-started')
  const backendsBefore = await postgresBackends()
  const before = await snapshot(server, true)
  const result = await run(SECONDS, 0)
  const after = await snapshot(server, true)
  const otherDatabases = otherDatabasesShare(backendsBefore, await postgresBackends(), database, result.elapsedMs)
  let cpuProfile: string[] | undefined
  if (cpuProfilePath) {
    await server.ask<ProfilerReply>({ type: 'profile-stop', path: cpuProfilePath }, 'profile-written')
    cpuProfile = await summarizeCpuProfile(cpuProfilePath)
  }
  return {
    warmup,
    result,
    profile: profile(before, after, result.elapsedMs),
    otherDatabases,
    ...(cpuProfile && { cpuProfile }),
    ...(before.child.searchDocuments &&
      after.child.searchDocuments && {
        documents: {
          hits: after.child.searchDocuments.hits - before.child.searchDocuments.hits,
          misses: after.child.searchDocuments.misses - before.child.searchDocuments.misses,
          entries: after.child.searchDocuments.entries,
          bytes: after.child.searchDocuments.bytes,
        },
      }),
  } satisfies Measured
}

/** The plan PostgreSQL runs for the prepared search once its plan cache has settled (after 5 runs it may go generic). */
async function explain(pool: pg.Pool, search: SearchSql): Promise<string[]> {
  const client = await pool.connect()
  try {
    const centre = SIM_CITIES[0]!
    const point = { latitude: centre.latitude, longitude: centre.longitude }
    await client.query(`PREPARE bench_explain AS ${search.text}`)
    try {
      const args = search.values(point).map((v) => (typeof v === 'number' ? String(v) : `'${String(v).replace(/'/g, "''")}'`))
      for (let i = 0; i < 6; i++) await client.query(`EXECUTE bench_explain(${args.join(', ')})`)
      const plan = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) EXECUTE bench_explain(${args.join(', ')})`)
      return [
        `EXPLAIN (ANALYZE, BUFFERS) of the prepared search at ${centre.name} (7th execution):`,
        ...plan.rows.map((r) => `  ${r['QUERY PLAN']}`),
      ]
    } finally {
      await client.query('DEALLOCATE bench_explain')
    }
  } finally {
    client.release()
  }
}

// ----- the run

interface Outcome {
  /** CPU busy before the start, in % of one core. */
  busyBefore?: number
  seeded?: Seeded
  search?: SearchSql
  sql?: Measured
  api?: Measured
  sqlBatch?: number
  plan?: string[]
  /** Points whose API answer was compared with the SQL's rows, and how many differed. */
  consistency?: { points: number; problems: number }
  note?: string
  errors: string[]
}

async function run(outcome: Outcome) {
  const database = await postgresDatabase(ADMIN_DATABASE_URL, 'openpnc_bench_geo')
  outcome.note = database.note
  outcome.seeded = await seed(database.url)

  const search = await captureSearchSql(database.url)
  outcome.search = search
  const batch = search.limit
  outcome.sqlBatch = batch

  const dataDir = await mkdtemp(join(tmpdir(), 'openpnc-bench-geo-'))
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
  const adminKey = randomBytes(24).toString('base64url')
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    OPENPNC_ADMIN_API_KEY: adminKey,
    // Nothing of the platform lands in the repository's ./data.
    OPENPNC_DATA_DIR: dataDir,
    OPENPNC_SECRET_KEY: randomBytes(32).toString('hex'),
  }
  progress('starting the platform')
  if (PROFILE_DIR) await mkdir(PROFILE_DIR, { recursive: true })
  const server = await startServer('platform', env, PROFILE_DIR ? ['--import', PROFILER] : [])
  await waitForHealth(server.url)
  const created = (await call(
    server.url,
    adminKey,
    'POST',
    '/admin/v1/organizations',
    { name: 'Bench Geo', scopes: ['geosearch'] },
    201,
  )) as {
    apiKey: string
  }

  const pool = new pg.Pool({ connectionString: database.url, max: POOL_SIZE })
  cleanups.push(() => pool.end())
  const inconsistent = await checkConsistency(pool, search, batch, server.url, created.apiKey)
  outcome.consistency = { points: CONSISTENCY_POINTS, problems: inconsistent.length }
  if (inconsistent.length > 0)
    outcome.errors.push(`the API's answers are not the SQL's search:\n  ${inconsistent.slice(0, 5).join('\n  ')}`)

  // The baseline first: the platform is up but idle, so the CPU split of both runs is comparable.
  const databaseName = new URL(database.url).pathname.slice(1)
  outcome.sql = await measure(LABEL.sql, server, databaseName, (seconds, offset) => loadSql(pool, search, seconds, offset, batch))
  const cpuProfilePath = PROFILE_DIR && join(PROFILE_DIR, 'geosearch.cpuprofile')
  outcome.api = await measure(
    LABEL.api,
    server,
    databaseName,
    (seconds, offset) => loadApi(server.url, created.apiKey, seconds, offset),
    cpuProfilePath,
  )
  if (EXPLAIN) outcome.plan = await explain(pool, search)
}

// ----- report

const pad = (text: string, width: number) => text.padStart(width)
const yes = (met: boolean) => (met ? 'met' : 'NOT met')

function report(outcome: Outcome) {
  const { seeded, sql: base, api } = outcome
  const lines = ['', `bench:geosearch  ${EVSES} EVSEs on PostgreSQL`]
  if (outcome.busyBefore !== undefined && outcome.busyBefore > BUSY_MACHINE) {
    lines.push(
      `!! the machine was already ${outcome.busyBefore.toFixed(0)}% busy (of one core) before the start: other work competed; see below`,
    )
  }
  if (seeded) {
    lines.push(
      `seeding: ${seeded.locations} locations, ${seeded.evses} EVSEs (${((100 * seeded.pncEvses) / seeded.evses).toFixed(1)}% Plug&Charge capable) ` +
        `in ${(seeded.generateSeconds + seeded.saveSeconds).toFixed(1)} s (generate ${seeded.generateSeconds.toFixed(1)} s, ` +
        `saveLocations ${seeded.saveSeconds.toFixed(1)} s on ${SEED_CONNECTIONS} connections, ${(seeded.evses / (seeded.generateSeconds + seeded.saveSeconds)).toFixed(0)} EVSEs/s); ` +
        `VACUUM ANALYZE + CHECKPOINT ${seeded.maintenanceSeconds.toFixed(1)} s`,
      `  searchable locations ${seeded.searchable}, of which with a Plug&Charge EVSE ${seeded.pncLocations} (${((100 * seeded.pncLocations) / seeded.searchable).toFixed(1)}%); ` +
        `table ${seeded.tableMb.toFixed(0)} MB with indexes and TOAST, Plug&Charge GiST index ${seeded.pncIndexMb.toFixed(1)} MB`,
    )
  }
  lines.push(
    '',
    `POST /v1/geosearch/radius?distance=${RADIUS_M} ${BODY}`,
    `  around random points within ${JITTER_M / 1000} km of the ${SIM_CITIES.length} SIM_CITIES centres; both runs walk the same points; ` +
      `${CONNECTIONS} in flight, ${SECONDS} s after ${WARMUP_SECONDS} s of warm-up (not counted); SQL pool ${POOL_SIZE} connections, as the platform's`,
    `${'target'.padEnd(26)}${pad('q/s', 8)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('rows/answer', 13)}${pad('full', 7)}${pad('empty', 7)}${pad('failed', 8)}`,
  )
  for (const [label, m] of [
    [LABEL.sql, base],
    [LABEL.api, api],
  ] as const) {
    if (!m) {
      lines.push(`${label.padEnd(26)}  did not run`)
      continue
    }
    const r = m.result
    const share = (n: number) => (r.ok > 0 ? `${((100 * n) / r.ok).toFixed(0)}%` : '-')
    lines.push(
      label.padEnd(26) +
        pad(r.perSecond.toFixed(0), 8) +
        pad(r.p50.toFixed(2), 9) +
        pad(r.p99.toFixed(2), 9) +
        pad(r.ok > 0 ? (r.rows / r.ok).toFixed(1) : '-', 13) +
        pad(share(r.full), 7) +
        pad(share(r.empty), 7) +
        pad(String(failures(r)), 8),
    )
  }
  if (base && api && base.result.perSecond > 0) {
    const a = api.result
    const b = base.result
    lines.push(
      `API vs raw SQL: ${(a.perSecond / b.perSecond).toFixed(2)}x the queries/s, ${(a.p50 / b.p50).toFixed(2)}x the p50, ${(a.p99 / b.p99).toFixed(2)}x the p99`,
    )
  }
  lines.push(
    '',
    `q/s counts good answers from the first request to the last response; latencies are per request (the SQL's include the wait for a pool connection).`,
    `rows/answer: API locations per answer (limit ${LIMIT}; full = ${LIMIT}), SQL rows per query (LIMIT ${outcome.sqlBatch ?? '?'}: the search's walk, one row past the page to see whether the last distance goes on);`,
    `empty: answers with none. The raw SQL is the platform's index walk returning the search documents as text (one round trip, no cache);`,
    `the platform walks for IDs and document versions and takes the documents from its cache, reading only those it does not hold.`,
  )
  if (api) {
    const a = api.result
    lines.push(
      `API answers: ${a.ok > 0 ? (a.bytes / a.ok / 1024).toFixed(1) : '-'} kB on average; ${a.validated} of them (1 in ${VALIDATE_EVERY}) parsed and checked: ` +
        `within ${RADIUS_M} m, nearest first, at most ${LIMIT}, every connector Plug&Charge capable`,
    )
  }
  if (api?.documents) {
    const d = api.documents
    const lookups = d.hits + d.misses
    lines.push(
      `documents in the measured API run: ${lookups > 0 ? ((100 * d.hits) / lookups).toFixed(1) : '-'}% from the server's cache ` +
        `(${d.misses} read from the database); the cache then held ${d.entries} documents, ${(d.bytes / 1024 / 1024).toFixed(0)} MB`,
    )
  }
  if (outcome.consistency) {
    const c = outcome.consistency
    lines.push(
      `same search: the API's answers at the first ${c.points} points are the SQL's rows in order: ${c.problems === 0 ? 'ok' : `${c.problems} MISMATCHES`}`,
    )
  }
  if (outcome.search)
    lines.push(
      '',
      `the raw SQL (the walk captured from src/services/locations/geosearch.ts, returning the documents): ${outcome.search.text.replace(/\s+/g, ' ').trim()}`,
    )

  const runs = [
    base && { label: LABEL.sql, profile: base.profile, queries: false },
    api && { label: LABEL.api, profile: api.profile, queries: true },
  ].filter((r): r is { label: string; profile: Profile; queries: boolean } => Boolean(r))
  if (runs.length > 0) lines.push('', ...profileLines(runs))
  // CPU per search: what one costs each side, whatever the concurrency.
  for (const [label, m] of [
    [LABEL.sql, base],
    [LABEL.api, api],
  ] as const) {
    if (!m || m.result.ok === 0) continue
    const perSearch = (share: number | null) =>
      share === null ? '-' : `${(((share / 100) * m.result.elapsedMs * 1000) / m.result.ok).toFixed(0)} µs`
    const p = m.profile
    lines.push(
      `  ${label.padEnd(24)}CPU per search: server ${perSearch(p.server)}, postgres ${perSearch(p.postgres)}, load generator ${perSearch(p.generator)}`,
    )
  }
  for (const [label, m] of [
    [LABEL.sql, base],
    [LABEL.api, api],
  ] as const) {
    const o = m?.otherDatabases
    if (!o || o.share < 1) continue
    const flag = o.share > BUSY_MACHINE ? '!! ' : ''
    lines.push(
      `  ${flag}${label}: PostgreSQL backends of other databases used ${o.share.toFixed(0)}% of a core (${o.names.slice(0, 3).join(', ')}${o.names.length > 3 ? ', ...' : ''}); ` +
        `that is inside the postgres figure above`,
    )
  }
  if (seeded) lines.push('', `${outcome.note ?? ''}; ${seeded.settings}`)
  if (api?.cpuProfile) lines.push('', ...api.cpuProfile)
  if (outcome.plan) lines.push('', ...outcome.plan)

  lines.push('', 'aims (not tests):')
  if (api) {
    const a = api.result
    lines.push(`  p99 < ${AIM_P99_MS} ms: ${a.p99.toFixed(2)} ms, ${yes(a.p99 < AIM_P99_MS)}`)
    lines.push(`  >= ${AIM_QPS} queries/s: ${a.perSecond.toFixed(0)} queries/s, ${yes(a.perSecond >= AIM_QPS)}`)
  } else lines.push('  the API run did not happen')
  process.stdout.write(`${lines.join('\n')}\n`)

  const problems = [...outcome.errors]
  for (const [label, m] of [
    [LABEL.sql, base],
    [LABEL.api, api],
  ] as const) {
    if (!m) continue
    if (failures(m.warmup) > 0) problems.push(`${label} warm-up: ${describeFailures(m.warmup)}`)
    if (failures(m.result) > 0) problems.push(`${label}: ${describeFailures(m.result)}`)
    if (m.result.ok === 0) problems.push(`${label}: no answers at all`)
  }
  if (problems.length > 0) {
    process.stderr.write(`\n!!! bench:geosearch FAILED: these figures are not valid !!!\n  ${problems.join('\n  ')}\n`)
    process.exitCode = 1
  }
}

// ----- main

const outcome: Outcome = { errors: [] }
const busy = await idleCheck()
outcome.busyBefore = busy
if (busy > BUSY_MACHINE) progress(`warning: the machine is already ${busy.toFixed(0)}% busy (of one core) before the benchmark`)
try {
  await run(outcome)
} catch (error) {
  outcome.errors.push((error as Error).stack ?? String(error))
} finally {
  await runCleanups(progress)
}
report(outcome)
