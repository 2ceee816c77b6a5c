/**
 * npm run bench:authorize: the real-time authorization a charging station waits for.
 *
 * 1. A fresh PostgreSQL database gets BENCH_AUTH_KEYS Plug&Charge keys: the organization and a few
 *    thousand users through the APIs (real API key, settings and virtual keys), the keys themselves
 *    bulk-inserted in SQL with the schema's trigger and constraints on.
 * 2. A registered OCPI CPO (CpoSimulator) loads POST /ocpi/emsp/2.3.0/tokens/{uid}/authorize for
 *    BENCH_AUTH_SECONDS with BENCH_CONNECTIONS connections: a random known EMAID as a car sends it,
 *    or (UNKNOWN_SHARE of requests) a random well-formed EMAID we do not know. A bare node:http
 *    server answering a fixed JSON takes the same load in the same run, as the baseline.
 * 3. The CPO pulls every token through the paginated list, following the Link headers.
 *
 * It prints figures and whether the aims were met, and asserts no timing; it fails (exit 1) only
 * when an answer is wrong (a known EMAID not 200, an unknown one not 404 / OCPI 2004, a transport
 * error) or the pull does not return every token exactly once.
 *
 *   BENCH_AUTH_KEYS=1000000  BENCH_AUTH_SECONDS=10  BENCH_CONNECTIONS=32
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres   (where the bench database is made)
 *   BENCH_AUTH_PROFILE=<directory>: also sample the server's CPU over the measured authorize run,
 *     write authorize.cpuprofile there and print where the time went (the sampling costs a little).
 *   OPENPNC_DB_POOL_SIZE is passed on to the server; other OPENPNC_* settings and DATABASE_URL are not.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import pg from 'pg'
import { formatEmaid, generateEmaid, type Emaid } from '../src/core/identifiers/index.ts'
import { ocpiCall, type OcpiResponse } from '../src/protocols/ocpi/client.ts'
import { CpoSimulator } from '../src/sim/cpo.ts'
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
import { summarizeCpuProfile } from './cpu-profile.ts'
import type { ProfilerReply } from './profiler.ts'

const KEYS = intEnv('BENCH_AUTH_KEYS', 1_000_000)
const SECONDS = intEnv('BENCH_AUTH_SECONDS', 10)
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 32)
const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
const PROFILE_DIR = process.env.BENCH_AUTH_PROFILE ? resolve(process.env.BENCH_AUTH_PROFILE) : undefined
const PROFILER = fileURLToPath(new URL('./profiler.ts', import.meta.url))

const WARMUP_SECONDS = 2
const UNKNOWN_SHARE = 0.1
/** A few thousand drivers own the keys; each also gets the virtual key the Drive API gives a user. */
const USERS = Math.min(3000, KEYS)
/** Rows per INSERT: large enough that per-statement costs vanish, small enough to keep each statement a few MB. */
const SEED_BATCH = 10_000
/** Two inserting connections keep PostgreSQL busy while this process generates the next batch. */
const SEED_CONNECTIONS = 2
/** Unknown EMAIDs are drawn from a pool this large, so few repeat (the platform caches misses too). */
const UNKNOWN_POOL = 200_000
const OCPI_VERSION = '2.3.0'
const PREFIX = { country: 'DE', provider: '8PS' }

const AIM_RATIO = 0.4
const AIM_P99_MS = 10
const AIM_PULL_SECONDS = 30

const LABEL = { bare: 'bare node:http', platform: 'openpnc on PostgreSQL', pull: 'token pull (CPO)' }

const progress = progressOf('bench:authorize')
cleanUpOnInterrupt(progress)

// ----- seeding

interface Seeded {
  organizationId: string
  /** Compact EMAIDs (identity + check character), as a car sends them. */
  known: string[]
  /** Well-formed EMAIDs under the same prefix that no key carries. */
  unknown: string[]
  usersSeconds: number
  keysSeconds: number
  maintenanceSeconds: number
  /** Every key in the database: the seeded ones and the users' virtual keys. */
  totalKeys: number
}

/** POST /v1/users USERS times, a few at a time, as a partner's backend would. */
async function createUsers(url: string, apiKey: string) {
  let next = 0
  const worker = async () => {
    // Bounded: each worker takes indexes until all USERS are taken.
    while (next < USERS) {
      const i = next++
      await call(url, apiKey, 'POST', '/v1/users', { id: `driver-${i}`, email: `driver-${i}@example.com` }, 201)
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
}

// VIN-like: no I, O or Q.
const PCID_ALPHABET = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789'

function pcids(count: number): string[] {
  const bytes = randomBytes(count * 17)
  const result = new Array<string>(count)
  for (let i = 0; i < count; i++) {
    let pcid = ''
    for (let j = 0; j < 17; j++) pcid += PCID_ALPHABET[bytes[i * 17 + j]! % PCID_ALPHABET.length]
    result[i] = pcid
  }
  return result
}

/** A generated EMAID whose identity is not in `taken` (which it joins). */
function freshEmaid(taken: Set<string>): Emaid {
  // 36^8 instances per prefix: a repeat is a one-in-millions event, so a few draws always suffice.
  for (let attempt = 0; attempt < 100; attempt++) {
    const emaid = generateEmaid(PREFIX)
    if (!taken.has(emaid.identity)) {
      taken.add(emaid.identity)
      return emaid
    }
  }
  throw new Error('could not draw an unused EMAID in 100 attempts')
}

async function seed(platformUrl: string, adminKey: string, databaseUrl: string): Promise<Seeded> {
  const created = (await call(
    platformUrl,
    adminKey,
    'POST',
    '/admin/v1/organizations',
    { name: 'Bench Mobility', plugAndCharge: { enabled: true }, contractIdPrefixes: ['DE-8PS'], emaidPrefix: 'DE-8PS' },
    201,
  )) as { organization: { id: string }; apiKey: string }
  const organizationId = created.organization.id

  progress(`creating ${USERS} users through the Drive API`)
  let started = performance.now()
  await createUsers(platformUrl, created.apiKey)
  const usersSeconds = (performance.now() - started) / 1000

  // Bounded: no statement of the seeding (VACUUM of a million rows included) takes ten minutes.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: SEED_CONNECTIONS, statement_timeout: 600_000 })
  try {
    const users = (
      await pool.query<{ id: string }>('SELECT id FROM users WHERE organization_id = $1 ORDER BY external_id', [organizationId])
    ).rows.map((r) => r.id)
    if (users.length !== USERS) throw new Error(`expected ${USERS} users, found ${users.length}`)
    // The users' virtual keys hold EMAIDs of this prefix too: never draw one of theirs.
    const taken = new Set(
      (await pool.query<{ emaid_identity: string }>('SELECT emaid_identity FROM charging_keys')).rows.map((r) => r.emaid_identity),
    )

    progress(`inserting ${KEYS} Plug&Charge keys, ${SEED_BATCH} per statement`)
    const known = new Array<string>(KEYS)
    const batches = Math.ceil(KEYS / SEED_BATCH)
    let nextBatch = 0
    let inserted = 0
    let reported = 0
    started = performance.now()
    const worker = async () => {
      while (nextBatch < batches) {
        const batch = nextBatch++
        const from = batch * SEED_BATCH
        const count = Math.min(SEED_BATCH, KEYS - from)
        const owners = new Array<string>(count)
        const contractIds = new Array<string>(count)
        const identities = new Array<string>(count)
        for (let i = 0; i < count; i++) {
          const emaid = freshEmaid(taken)
          owners[i] = users[(from + i) % users.length]!
          // As the API stores a generated EMAID: printed form with its check character.
          contractIds[i] = formatEmaid(emaid)
          identities[i] = emaid.identity
          known[from + i] = emaid.identity + emaid.checkCharacter!
        }
        // One statement per batch; the key_events trigger and the exclusion constraints run per row.
        await pool.query(
          `INSERT INTO charging_keys (organization_id, user_id, type, contract_id, emaid_identity, pcid, duplicates_allowed)
           SELECT $1::uuid, owner, 'plug_and_charge', contract_id, emaid_identity, pcid, false
             FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) AS t(owner, contract_id, emaid_identity, pcid)`,
          [organizationId, owners, contractIds, identities, pcids(count)],
        )
        inserted += count
        if (inserted - reported >= KEYS / 10 || inserted === KEYS) {
          reported = inserted
          const seconds = (performance.now() - started) / 1000
          progress(`  ${inserted} keys in ${seconds.toFixed(1)} s (${(inserted / seconds).toFixed(0)} keys/s)`)
        }
      }
    }
    await Promise.all(Array.from({ length: SEED_CONNECTIONS }, worker))
    const keysSeconds = (performance.now() - started) / 1000

    const unknown = Array.from({ length: Math.min(UNKNOWN_POOL, Math.max(1000, KEYS)) }, () => {
      const emaid = freshEmaid(taken)
      return emaid.identity + emaid.checkCharacter!
    })

    // A database that has been in service for a while has been vacuumed and checkpointed; without
    // this, autovacuum (a million fresh rows) and the checkpoint of the seeding's writes would fall
    // into the measured run. VACUUM ANALYZE also gives the planner its statistics.
    progress('VACUUM ANALYZE and CHECKPOINT')
    started = performance.now()
    await pool.query('VACUUM (ANALYZE)')
    await pool.query('CHECKPOINT')
    const maintenanceSeconds = (performance.now() - started) / 1000
    const totalKeys = Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM charging_keys')).rows[0]!.n)
    return { organizationId, known, unknown, usersSeconds, keysSeconds, maintenanceSeconds, totalKeys }
  } finally {
    await pool.end()
  }
}

// ----- the load

interface LoadResult {
  /** Answers as expected: 200 with the key for a known EMAID, 404 / 2004 for an unknown one (bare: any 2xx). */
  ok: number
  failed: number
  errors: number
  timeouts: number
  non2xx: number
  statusCodes: Record<string, number>
  knownOk: number
  unknownOk: number
  /** A few of the wrong answers, to show. */
  samples: string[]
  /** From the first request to the last response. */
  elapsedMs: number
  perSecond: number
  p50: number
  p99: number
}

type Check = (status: number, body: string, known: boolean, uid: string) => boolean

/** The platform's answers: known EMAIDs are found (and named in the token), unknown ones are 2004. */
const platformCheck: Check = (status, body, known, uid) =>
  known ? status === 200 && body.includes(`"uid":"${uid}"`) : status === 404 && body.includes('"status_code":2004')
const bareCheck: Check = (status) => status >= 200 && status < 300

async function load(url: string, headers: Record<string, string>, seeded: Seeded, check: Check, seconds: number): Promise<LoadResult> {
  const { known, unknown } = seeded
  // Our own latencies and clock: autocannon's histogram has 1 ms resolution.
  const latencies: number[] = []
  let requestId = 0
  let ok = 0
  let failed = 0
  let knownOk = 0
  let unknownOk = 0
  const samples: string[] = []
  let last = 0
  const start = performance.now()
  const run = autocannon({
    url,
    method: 'POST',
    headers,
    connections: CONNECTIONS,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        // A new EMAID for every request: autocannon calls this before each one, with a fresh context.
        setupRequest(request, context) {
          const isKnown = Math.random() >= UNKNOWN_SHARE
          const uid = isKnown ? known[Math.floor(Math.random() * known.length)]! : unknown[Math.floor(Math.random() * unknown.length)]!
          context.known = isKnown
          context.uid = uid
          request.path = `/ocpi/emsp/${OCPI_VERSION}/tokens/${uid}/authorize?type=EMAID`
          request.headers['x-request-id'] = `bench-${++requestId}`
          return request
        },
        // Without pipelining, one request per connection is in flight: the context is its own.
        onResponse(status, body, context) {
          const isKnown = context.known as boolean
          if (check(status, body, isKnown, context.uid as string)) {
            ok++
            if (isKnown) knownOk++
            else unknownOk++
          } else {
            failed++
            if (samples.length < 5) samples.push(`${isKnown ? 'known' : 'unknown'} ${context.uid}: ${status} ${body.slice(0, 200)}`)
          }
        },
      },
    ],
  })
  run.on('response', (_client, _status, _bytes, latencyMs) => {
    latencies.push(latencyMs)
    last = performance.now()
  })
  const result = await run
  const sorted = Float64Array.from(latencies).sort()
  const elapsedMs = (last || performance.now()) - start
  return {
    ok,
    failed,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    statusCodes: Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count])),
    knownOk,
    unknownOk,
    samples,
    elapsedMs,
    perSecond: (ok / elapsedMs) * 1000,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
  }
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
  /** The server's CPU profile of the measured run, summarized (BENCH_AUTH_PROFILE). */
  cpuProfile?: string[]
}

async function measure(
  server: Server,
  headers: Record<string, string>,
  seeded: Seeded,
  check: Check,
  label: string,
  /** Our database: PostgreSQL's CPU is its backends' (and the shared processes'), not others'. */
  database: string,
  cpuProfilePath?: string,
): Promise<Measured> {
  progress(`${label}: warm-up, ${WARMUP_SECONDS} s`)
  const warmup = await load(server.url, headers, seeded, check, WARMUP_SECONDS)
  progress(`${label}: ${SECONDS} s, ${CONNECTIONS} connections`)
  if (cpuProfilePath) await server.ask<ProfilerReply>({ type: 'profile-start' }, 'profile-started')
  const before = await snapshot(server, true, database)
  const result = await load(server.url, headers, seeded, check, SECONDS)
  const after = await snapshot(server, true, database)
  let cpuProfile: string[] | undefined
  if (cpuProfilePath) {
    await server.ask<ProfilerReply>({ type: 'profile-stop', path: cpuProfilePath }, 'profile-written')
    cpuProfile = await summarizeCpuProfile(cpuProfilePath)
  }
  return { warmup, result, profile: profile(before, after, result.elapsedMs), ...(cpuProfile && { cpuProfile }) }
}

// ----- the pull

interface PullResult {
  seconds: number
  pages: number
  tokens: number
  distinct: number
  totalHeader: number | null
  pageLimit: number | null
  /** Seeded EMAIDs that the pull did not return. */
  missing: number
  profile: Profile
}

/**
 * The whole token list as a CPO fetches it: from the endpoint the eMSP's version details name, page
 * after page through the Link headers, with the OCPI client a real peer (the CpoSimulator) uses.
 * Tokens are counted and their uids kept in a Set, not the tokens themselves.
 */
async function pullAll(server: Server, cpo: CpoSimulator, seeded: Seeded, database: string): Promise<PullResult> {
  const auth = { http: cpo.http, token: cpo.emspToken!, style: 'base64' as const, from: cpo.party }
  const versions = await ocpiCall<Array<{ version: string; url: string }>>('GET', `${server.url}/ocpi/emsp/versions`, auth)
  const versionUrl = versions.data.find((v) => v.version === cpo.registeredVersion)?.url
  if (!versionUrl) throw new Error(`the eMSP does not list version ${cpo.registeredVersion}`)
  const details = await ocpiCall<{ endpoints: Array<{ identifier: string; role: string; url: string }> }>('GET', versionUrl, auth)
  const tokensUrl = details.data.endpoints.find((e) => e.identifier === 'tokens' && e.role === 'SENDER')?.url
  if (!tokensUrl) throw new Error('the eMSP lists no tokens SENDER endpoint')

  const uids = new Set<string>()
  let tokens = 0
  let pages = 0
  let totalHeader: number | null = null
  let pageLimit: number | null = null
  // Bounded: even pages of 10 would need no more than this many.
  const maxPages = Math.ceil(seeded.totalKeys / 10) + 10
  const before = await snapshot(server, true, database)
  const started = performance.now()
  let next: string | undefined = tokensUrl
  while (next) {
    if (pages >= maxPages) throw new Error(`the pull did not end after ${maxPages} pages`)
    const page: OcpiResponse<Array<{ uid: string }>> = await ocpiCall('GET', next, { ...auth, timeoutMs: 60_000 })
    pages++
    for (const token of page.data) uids.add(token.uid)
    tokens += page.data.length
    if (pages === 1) {
      totalHeader = Number(page.headers['x-total-count'])
      pageLimit = Number(page.headers['x-limit'])
    }
    const link = page.headers.link
    const header = Array.isArray(link) ? link.join(',') : link
    next = header ? /<([^>]+)>\s*;\s*rel="?next"?/.exec(header)?.[1] : undefined
  }
  const elapsedMs = performance.now() - started
  const after = await snapshot(server, true, database)
  let missing = 0
  for (const uid of seeded.known) if (!uids.has(uid)) missing++
  return {
    seconds: elapsedMs / 1000,
    pages,
    tokens,
    distinct: uids.size,
    totalHeader,
    pageLimit,
    missing,
    profile: profile(before, after, elapsedMs),
  }
}

const pullProblems = (p: PullResult, expected: number) =>
  [
    p.tokens !== expected && `${p.tokens} tokens pulled, ${expected} expected`,
    p.distinct !== p.tokens && `${p.tokens - p.distinct} tokens came more than once`,
    p.totalHeader !== expected && `X-Total-Count said ${p.totalHeader}, ${expected} expected`,
    p.missing > 0 && `${p.missing} seeded EMAIDs were not in the pull`,
  ].filter((x): x is string => typeof x === 'string')

// ----- the run

interface Outcome {
  seeded?: Seeded
  bare?: Measured
  platform?: Measured
  pull?: PullResult
  /** The platform's start with every key in the database: the key directory loads them before it listens. */
  startup?: { seconds: number; heapUsedBytes: number; rssBytes: number }
  note?: string
  errors: string[]
}

/** Waits until the token push has passed the seeded keys' events (see below). */
async function waitForPushCursor(databaseUrl: string) {
  const client = new pg.Client({ connectionString: databaseUrl, statement_timeout: 10_000 })
  await client.connect()
  try {
    const deadline = Date.now() + 60_000
    for (;;) {
      const { rows } = await client.query<{ passed: boolean | null }>(
        `SELECT (SELECT next_tx_id FROM outbox_cursors WHERE name = 'ocpi-token-push') > (SELECT max(tx_id) FROM key_events) AS passed`,
      )
      if (rows[0]?.passed) return
      if (Date.now() > deadline) throw new Error('the OCPI token push did not pass the seeded key events within 60 s')
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  } finally {
    await client.end()
  }
}

async function run(outcome: Outcome) {
  const database = await postgresDatabase(ADMIN_DATABASE_URL, 'openpnc_bench_auth')
  const databaseName = new URL(database.url).pathname.slice(1)
  outcome.note = database.note
  const dataDir = await mkdtemp(join(tmpdir(), 'openpnc-bench-auth-'))
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
  const adminKey = randomBytes(24).toString('base64url')
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    OPENPNC_ADMIN_API_KEY: adminKey,
    // Nothing of the platform lands in the repository's ./data.
    OPENPNC_DATA_DIR: dataDir,
    OPENPNC_SECRET_KEY: randomBytes(32).toString('hex'),
    // Nothing changes keys during the load; the push has nothing to do but look.
    OPENPNC_OCPI_PUSH_POLL_MS: '5000',
    // The simulated CPO that pulls the tokens listens on loopback.
    OPENPNC_ALLOW_PRIVATE_PARTNER_URLS: 'true',
  }

  // The first start migrates the database; the organization and users come through the APIs.
  progress('starting the platform to migrate the database and create the organization')
  const setup = await startServer('platform', env)
  let seeded: Seeded
  try {
    await waitForHealth(setup.url)
    seeded = await seed(setup.url, adminKey, database.url)
  } finally {
    await setup.stop()
  }
  outcome.seeded = seeded

  progress('bare node:http baseline')
  const bareServer = await startServer('bare', {})
  try {
    // The same headers as the CPO's, with a token the bare server ignores.
    outcome.bare = await measure(bareServer, cpoHeaders('bare-server-ignores-it'), seeded, bareCheck, LABEL.bare, databaseName)
  } finally {
    await bareServer.stop()
  }

  progress('starting the platform for the load')
  if (PROFILE_DIR) await mkdir(PROFILE_DIR, { recursive: true })
  const starting = performance.now()
  const server = await startServer('platform', env, PROFILE_DIR ? ['--import', PROFILER] : [])
  const cpo = new CpoSimulator({ countryCode: 'NL', partyId: 'CPO', name: 'Bench CPO' })
  await cpo.start()
  cleanups.push(() => cpo.stop())
  await waitForHealth(server.url)
  const started = await server.stats()
  outcome.startup = {
    seconds: (performance.now() - starting) / 1000,
    heapUsedBytes: started.heapUsedBytes,
    rssBytes: started.rssBytes,
  }
  // The push turns key events into deliveries for registered CPOs. Registering only after it has
  // passed the seeded events, and without the first full sync a new CPO gets by default, keeps a
  // million PUTs to the simulator out of the measurement; this CPO pulls the list instead, which is
  // what step 3 measures.
  await waitForPushCursor(database.url)
  const partner = (await call(
    server.url,
    adminKey,
    'POST',
    '/admin/v1/ocpi/partners',
    { name: 'Bench CPO', pushAllTokens: false },
    201,
  )) as {
    tokenA: string
    versionsUrl: string
  }
  const version = await cpo.registerWith(partner.versionsUrl, partner.tokenA)
  if (version !== OCPI_VERSION) throw new Error(`the CPO registered with OCPI ${version}, not ${OCPI_VERSION}`)

  const cpuProfilePath = PROFILE_DIR && join(PROFILE_DIR, 'authorize.cpuprofile')
  outcome.platform = await measure(server, cpoHeaders(cpo.emspToken!), seeded, platformCheck, LABEL.platform, databaseName, cpuProfilePath)

  progress(`pulling all ${seeded.totalKeys} tokens as the CPO`)
  outcome.pull = await pullAll(server, cpo, seeded, databaseName)
}

/** What the CpoSimulator sends with an authorize call (X-Request-ID is added per request). */
function cpoHeaders(token: string): Record<string, string> {
  return {
    authorization: `Token ${Buffer.from(token, 'utf8').toString('base64')}`,
    accept: 'application/json',
    'ocpi-from-country-code': 'NL',
    'ocpi-from-party-id': 'CPO',
  }
}

// ----- report

const pad = (text: string, width: number) => text.padStart(width)
const yes = (met: boolean) => (met ? 'met' : 'NOT met')

function report(outcome: Outcome) {
  const { seeded, bare, platform, pull } = outcome
  const lines = ['', `bench:authorize  ${KEYS} Plug&Charge keys on PostgreSQL, ${USERS} users`]
  if (seeded) {
    lines.push(
      `seeding: ${USERS} users through the Drive API in ${seeded.usersSeconds.toFixed(1)} s; ` +
        `${KEYS} keys in ${seeded.keysSeconds.toFixed(1)} s (${(KEYS / seeded.keysSeconds).toFixed(0)} keys/s, ${SEED_BATCH} per INSERT, trigger and constraints on); ` +
        `VACUUM ANALYZE + CHECKPOINT ${seeded.maintenanceSeconds.toFixed(1)} s`,
    )
  }
  lines.push(
    '',
    `POST /ocpi/emsp/${OCPI_VERSION}/tokens/{uid}/authorize?type=EMAID: ${CONNECTIONS} connections, ${SECONDS} s ` +
      `(after ${WARMUP_SECONDS} s of warm-up, not counted); ${(100 * (1 - UNKNOWN_SHARE)).toFixed(0)}% random known EMAIDs, ${(100 * UNKNOWN_SHARE).toFixed(0)}% unknown`,
    `${'target'.padEnd(24)}${pad('req/s', 9)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('non-2xx', 9)}${pad('failed', 8)}${pad('vs bare', 9)}`,
  )
  for (const [label, m] of [
    [LABEL.bare, bare],
    [LABEL.platform, platform],
  ] as const) {
    if (!m) {
      lines.push(`${label.padEnd(24)}  did not run`)
      continue
    }
    const r = m.result
    const ratio = bare && bare.result.perSecond > 0 ? `${(r.perSecond / bare.result.perSecond).toFixed(3)}x` : '-'
    lines.push(
      label.padEnd(24) +
        pad(r.perSecond.toFixed(0), 9) +
        pad(r.p50.toFixed(2), 9) +
        pad(r.p99.toFixed(2), 9) +
        pad(String(r.non2xx), 9) +
        pad(String(failures(r)), 8) +
        pad(ratio, 9),
    )
  }
  lines.push(
    '',
    'req/s counts expected answers (known: 200 naming the token, unknown: 404 with OCPI 2004; bare: 2xx) from the first',
    "request to the last response; non-2xx are the unknown EMAIDs' 404s; failed: wrong answers and transport errors.",
  )
  if (platform) {
    const r = platform.result
    lines.push(`answers: ${r.knownOk} known EMAIDs authorized (200), ${r.unknownOk} unknown ones refused (404 / 2004)`)
  }

  if (pull && seeded) {
    const problems = pullProblems(pull, seeded.totalKeys)
    lines.push(
      '',
      `token pull: ${pull.tokens} tokens in ${pull.pages} pages (X-Limit ${pull.pageLimit}) in ${pull.seconds.toFixed(1)} s, ` +
        `${(pull.tokens / pull.seconds).toFixed(0)} tokens/s`,
      `  expected ${seeded.totalKeys} (every key in the database: ${KEYS} seeded + ${seeded.totalKeys - KEYS} users' virtual keys); ` +
        `X-Total-Count ${pull.totalHeader}; ${pull.distinct} distinct uids; every seeded EMAID present: ${pull.missing === 0 ? 'yes' : `no, ${pull.missing} missing`}` +
        `: ${problems.length === 0 ? 'ok' : 'MISMATCH'}`,
    )
  }

  const runs = [
    bare && { label: LABEL.bare, profile: bare.profile, queries: false },
    platform && { label: LABEL.platform, profile: platform.profile, queries: true },
    pull && { label: LABEL.pull, profile: pull.profile, queries: true },
  ].filter((r): r is { label: string; profile: Profile; queries: boolean } => Boolean(r))
  if (runs.length > 0) lines.push('', ...profileLines(runs))
  // The same CPU per answer: what one authorization costs each side, whatever the concurrency.
  for (const [label, m] of [
    [LABEL.bare, bare],
    [LABEL.platform, platform],
  ] as const) {
    if (!m || m.result.ok === 0) continue
    const perRequest = (share: number | null) =>
      share === null ? '-' : `${(((share / 100) * m.result.elapsedMs * 1000) / m.result.ok).toFixed(0)} µs`
    const p = m.profile
    lines.push(
      `  ${label.padEnd(24)}CPU per request: server ${perRequest(p.server)} (${perRequest(p.serverSystem)} of it system time), postgres ${perRequest(p.postgres)}, load generator ${perRequest(p.generator)}`,
    )
  }
  if (outcome.startup && seeded) {
    const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`
    lines.push(
      '',
      `platform start with ${seeded.totalKeys} keys: ${outcome.startup.seconds.toFixed(1)} s (the key directory loads every key before the server listens); ` +
        `server heap ${mb(outcome.startup.heapUsedBytes)}, RSS ${mb(outcome.startup.rssBytes)}`,
    )
  }
  if (outcome.note) lines.push('', outcome.note)
  if (platform?.cpuProfile) lines.push('', ...platform.cpuProfile)

  lines.push('', 'aims (not tests):')
  if (bare && platform) {
    const ratio = platform.result.perSecond / bare.result.perSecond
    lines.push(`  >= ${AIM_RATIO * 100}% of the bare server's req/s: ${(100 * ratio).toFixed(0)}%, ${yes(ratio >= AIM_RATIO)}`)
    lines.push(`  p99 < ${AIM_P99_MS} ms: ${platform.result.p99.toFixed(2)} ms, ${yes(platform.result.p99 < AIM_P99_MS)}`)
  } else lines.push('  authorize: did not run')
  if (pull)
    lines.push(`  pull of all tokens < ${AIM_PULL_SECONDS} s: ${pull.seconds.toFixed(1)} s, ${yes(pull.seconds < AIM_PULL_SECONDS)}`)
  else lines.push('  pull: did not run')
  process.stdout.write(`${lines.join('\n')}\n`)

  const problems = [...outcome.errors]
  for (const [label, m] of [
    [LABEL.bare, bare],
    [LABEL.platform, platform],
  ] as const) {
    if (!m) continue
    if (failures(m.warmup) > 0) problems.push(`${label} warm-up: ${describeFailures(m.warmup)}`)
    if (failures(m.result) > 0) problems.push(`${label}: ${describeFailures(m.result)}`)
  }
  if (pull && seeded) problems.push(...pullProblems(pull, seeded.totalKeys).map((p) => `${LABEL.pull}: ${p}`))
  if (problems.length > 0) {
    process.stderr.write(`\n!!! bench:authorize FAILED: these figures are not valid !!!\n  ${problems.join('\n  ')}\n`)
    process.exitCode = 1
  }
}

// ----- main

const outcome: Outcome = { errors: [] }
const busy = await idleCheck()
if (busy > BUSY_MACHINE) progress(`warning: the machine is already ${busy.toFixed(0)}% busy (of one core) before the benchmark`)
try {
  await run(outcome)
} catch (error) {
  outcome.errors.push((error as Error).stack ?? String(error))
} finally {
  await runCleanups(progress)
}
report(outcome)
