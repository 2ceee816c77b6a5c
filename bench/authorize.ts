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
 * 3. Partner-decided authorization: a bare node:http authorization endpoint on loopback answering
 *    ALLOWED takes the same load on its own (its latency as the load generator sees it), then the
 *    organization of the keys names it (PUT /v1/authorization-endpoint) and the platform takes the
 *    load again, asking it on every ALLOWED decision. Aim: p99 under the endpoint's own p99 + 5 ms.
 *    The platform alone, the endpoint alone and the two together run again on one connection, where
 *    the aim is judged: flat out, all of them queue on two cores and p99 measures the queue. The endpoint is removed before the next step.
 * 4. The CPO pulls every token through the paginated list, following the Link headers.
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
import pg from 'pg'
import { ocpiCall, type OcpiResponse } from '../src/protocols/ocpi/client.ts'
import { CpoSimulator } from '../src/sim/cpo.ts'
import {
  BUSY_MACHINE,
  call,
  cleanUpOnInterrupt,
  cleanups,
  idleCheck,
  intEnv,
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
import {
  aimLines,
  comparisonLines,
  cpuPerRequestLines,
  describeFailures,
  failures,
  measure,
  type Check,
  type LoadSettings,
  type Measured,
} from './authorize-load.ts'
import { SEED_BATCH, seedKeys, type Seeded } from './seed-keys.ts'

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
const OCPI_VERSION = '2.3.0'

const AIM_RATIO = 0.4
const AIM_P99_MS = 10
const AIM_PULL_SECONDS = 30
/** With an authorization endpoint, p99 stays within the endpoint's own p99 plus this. */
const AIM_PARTNER_EXTRA_MS = 5

const LABEL = {
  bare: 'bare node:http',
  platform: 'openpnc on PostgreSQL',
  endpoint: 'auth endpoint alone',
  withEndpoint: 'openpnc + auth endpoint',
  platformPaced: 'openpnc alone, 1 conn.',
  endpointPaced: 'auth endpoint, 1 conn.',
  withEndpointPaced: 'openpnc + endpoint, 1 conn.',
  pull: 'token pull (CPO)',
}

const progress = progressOf('bench:authorize')
cleanUpOnInterrupt(progress)

/** The platform's answers: known EMAIDs are found (and named in the token), unknown ones are 2004. */
const platformCheck: Check = (status, body, known, uid) =>
  known ? status === 200 && body.includes(`"uid":"${uid}"`) : status === 404 && body.includes('"status_code":2004')
const bareCheck: Check = (status) => status >= 200 && status < 300

const SETTINGS: LoadSettings = {
  method: 'POST',
  connections: CONNECTIONS,
  unknownShare: UNKNOWN_SHARE,
  requestFor: (uid) => ({ path: `/ocpi/emsp/${OCPI_VERSION}/tokens/${uid}/authorize?type=EMAID` }),
  warmupSeconds: WARMUP_SECONDS,
  seconds: SECONDS,
  progress,
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
  /** the authorization endpoint's own figures, and the platform's while it asks it */
  endpoint?: Measured
  withEndpoint?: Measured
  /** one connection (one request at a time): latency without queueing, where the aim is judged */
  platformPaced?: Measured
  endpointPaced?: Measured
  withEndpointPaced?: Measured
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
    seeded = await seedKeys(setup.url, adminKey, database.url, { keys: KEYS, users: USERS, progress })
  } finally {
    await setup.stop()
  }
  outcome.seeded = seeded

  progress('bare node:http baseline')
  const bareServer = await startServer('bare', {})
  try {
    // The same headers as the CPO's, with a token the bare server ignores.
    outcome.bare = await measure(
      bareServer,
      bareServer.url,
      cpoHeaders('bare-server-ignores-it'),
      seeded,
      bareCheck,
      LABEL.bare,
      databaseName,
      SETTINGS,
    )
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
  /** A measured run of the platform's authorize, as the registered CPO calls it. */
  const onPlatform = (label: string, settings: typeof SETTINGS, profilePath?: string) =>
    measure(server, server.url, cpoHeaders(cpo.emspToken!), seeded, platformCheck, label, databaseName, settings, profilePath)
  outcome.platform = await onPlatform(LABEL.platform, SETTINGS, cpuProfilePath)

  progress('an authorization endpoint on loopback (partner-decided authorization)')
  const endpointServer = await startServer('partner', {})
  /** A measured run of the endpoint alone, taking the same requests. */
  const onEndpoint = (label: string, settings: typeof SETTINGS) =>
    measure(endpointServer, endpointServer.url, cpoHeaders('the-endpoint-ignores-it'), seeded, bareCheck, label, databaseName, settings)
  try {
    outcome.endpoint = await onEndpoint(LABEL.endpoint, SETTINGS)
    // One request at a time: the latency a station sees, without the queue of a loaded 2-core machine.
    const paced = { ...SETTINGS, connections: 1 }
    outcome.platformPaced = await onPlatform(LABEL.platformPaced, paced)
    outcome.endpointPaced = await onEndpoint(LABEL.endpointPaced, paced)
    await call(server.url, seeded.apiKey, 'PUT', '/v1/authorization-endpoint', { url: `${endpointServer.url}/authorize` }, 200)
    outcome.withEndpoint = await onPlatform(LABEL.withEndpoint, SETTINGS)
    outcome.withEndpointPaced = await onPlatform(LABEL.withEndpointPaced, paced)
    await call(server.url, seeded.apiKey, 'DELETE', '/v1/authorization-endpoint', undefined, 204)
  } finally {
    await endpointServer.stop()
  }

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

const yes = (met: boolean) => (met ? 'met' : 'NOT met')

function report(outcome: Outcome) {
  const { seeded, bare, platform, endpoint, withEndpoint, platformPaced, endpointPaced, withEndpointPaced, pull } = outcome
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
    ...comparisonLines(
      [
        [LABEL.bare, bare],
        [LABEL.platform, platform],
        [LABEL.endpoint, endpoint],
        [LABEL.withEndpoint, withEndpoint],
        [LABEL.platformPaced, platformPaced],
        [LABEL.endpointPaced, endpointPaced],
        [LABEL.withEndpointPaced, withEndpointPaced],
      ],
      bare,
    ),
  )
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
    endpoint && { label: LABEL.endpoint, profile: endpoint.profile, queries: false },
    withEndpoint && { label: LABEL.withEndpoint, profile: withEndpoint.profile, queries: true },
    pull && { label: LABEL.pull, profile: pull.profile, queries: true },
  ].filter((r): r is { label: string; profile: Profile; queries: boolean } => Boolean(r))
  if (runs.length > 0) lines.push('', ...profileLines(runs))
  lines.push(
    ...cpuPerRequestLines([
      [LABEL.bare, bare],
      [LABEL.platform, platform],
      [LABEL.withEndpoint, withEndpoint],
    ]),
  )
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
  lines.push(...aimLines(bare, platform, { ratio: AIM_RATIO, p99Ms: AIM_P99_MS }))
  if (endpointPaced && withEndpointPaced) {
    // Judged one request at a time: flat out, all queue on this machine's two cores and p99 measures the queue.
    const limit = endpointPaced.result.p99 + AIM_PARTNER_EXTRA_MS
    lines.push(
      `  with an authorization endpoint, one request at a time, p99 < its own p99 + ${AIM_PARTNER_EXTRA_MS} ms (${limit.toFixed(2)} ms): ` +
        `${withEndpointPaced.result.p99.toFixed(2)} ms, ${yes(withEndpointPaced.result.p99 < limit)}`,
    )
  } else lines.push('  authorization endpoint: did not run')
  if (pull)
    lines.push(`  pull of all tokens < ${AIM_PULL_SECONDS} s: ${pull.seconds.toFixed(1)} s, ${yes(pull.seconds < AIM_PULL_SECONDS)}`)
  else lines.push('  pull: did not run')
  process.stdout.write(`${lines.join('\n')}\n`)

  const problems = [...outcome.errors]
  for (const [label, m] of [
    [LABEL.bare, bare],
    [LABEL.platform, platform],
    [LABEL.endpoint, endpoint],
    [LABEL.withEndpoint, withEndpoint],
    [LABEL.platformPaced, platformPaced],
    [LABEL.endpointPaced, endpointPaced],
    [LABEL.withEndpointPaced, withEndpointPaced],
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
