/**
 * npm run bench:oicp-authorize: Hubject's real-time authorization of a Plug&Charge session, the
 * OICP twin of bench:authorize (same seeding, same load and measurement: bench/seed-keys.ts,
 * bench/authorize-load.ts).
 *
 * 1. A fresh PostgreSQL database gets BENCH_AUTH_KEYS Plug&Charge keys.
 * 2. Hubject's side loads POST {prefix}/charging/v21/operators/{operatorID}/authorize/start on the
 *    platform's OICP listener (plain HTTP on loopback, as without OPENPNC_OICP_TLS_*) for
 *    BENCH_AUTH_SECONDS with BENCH_CONNECTIONS connections: an eRoamingAuthorizeStart as Hubject
 *    sends it (explicit nulls included) for a random known EvcoID, or (UNKNOWN_SHARE of requests)
 *    a well-formed one we do not know, each with a new SessionID. Every authorized start is a
 *    session the platform remembers. A bare node:http server takes the same load in the same run.
 *
 * It prints figures and whether the aims were met, and asserts no timing; it fails (exit 1) only
 * when an answer is wrong (a known EvcoID not Authorized with 000, an unknown one not NotAuthorized
 * with 105) or a transport error happens.
 *
 *   BENCH_AUTH_KEYS=1000000  BENCH_AUTH_SECONDS=10  BENCH_CONNECTIONS=32
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres   (where the bench database is made)
 *   BENCH_AUTH_PROFILE=<directory>: also sample the server's CPU over the measured run, write
 *     oicp-authorize.cpuprofile there and print where the time went (the sampling costs a little).
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { mkdir, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { formatEvcoId } from '../src/protocols/oicp/evco-id.ts'
import { SERVED } from '../src/protocols/oicp/protocol.ts'
import {
  BUSY_MACHINE,
  cleanUpOnInterrupt,
  cleanups,
  idleCheck,
  intEnv,
  postgresDatabase,
  profileLines,
  progressOf,
  runCleanups,
  startServer,
  waitForHealth,
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
import { seedKeys, type Seeded } from './seed-keys.ts'

const KEYS = intEnv('BENCH_AUTH_KEYS', 1_000_000)
const SECONDS = intEnv('BENCH_AUTH_SECONDS', 10)
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 32)
const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
const PROFILE_DIR = process.env.BENCH_AUTH_PROFILE ? resolve(process.env.BENCH_AUTH_PROFILE) : undefined
const PROFILER = fileURLToPath(new URL('./profiler.ts', import.meta.url))
const USERS = Math.min(3000, KEYS)
const WARMUP_SECONDS = 2
const UNKNOWN_SHARE = 0.1
const PREFIX = '/oicp'
const OPERATOR = 'DE*ABC'
const AIM_RATIO = 0.4
const AIM_P99_MS = 10

const LABEL = { bare: 'bare node:http', platform: 'openpnc OICP (PostgreSQL)' }
const progress = progressOf('bench:oicp-authorize')
cleanUpOnInterrupt(progress)

const START_PATH = PREFIX + SERVED.authorizeStart.path.replace('{operatorID}', OPERATOR)

/** An eRoamingAuthorizeStart as Hubject sends it: explicit nulls for what it does not know. */
function authorizeStart(uid: string, sequence: number): string {
  return JSON.stringify({
    SessionID: randomUUID(),
    CPOPartnerSessionID: `cpo-${sequence}`,
    EMPPartnerSessionID: null,
    OperatorID: OPERATOR,
    EvseID: `DE*ABC*E${String(sequence % 100_000).padStart(6, '0')}`,
    Identification: { PlugAndChargeIdentification: { EvcoID: formatEvcoId(uid) } },
    PartnerProductID: null,
  })
}

const platformCheck: Check = (status, body, known) =>
  status === 200 &&
  (known
    ? body.includes('"AuthorizationStatus":"Authorized"') && body.includes('"Code":"000"')
    : body.includes('"AuthorizationStatus":"NotAuthorized"') && body.includes('"Code":"105"'))
const bareCheck: Check = (status) => status >= 200 && status < 300

const SETTINGS: LoadSettings = {
  method: 'POST',
  connections: CONNECTIONS,
  unknownShare: UNKNOWN_SHARE,
  requestFor: (uid, _known, sequence) => ({ path: START_PATH, body: authorizeStart(uid, sequence) }),
  warmupSeconds: WARMUP_SECONDS,
  seconds: SECONDS,
  progress,
}
const HEADERS = { 'content-type': 'application/json', accept: 'application/json' }

interface Outcome {
  seeded?: Seeded
  bare?: Measured
  platform?: Measured
  sessions?: number
  note?: string
  errors: string[]
}

async function run(outcome: Outcome) {
  const database = await postgresDatabase(ADMIN_DATABASE_URL, 'openpnc_bench_oicp')
  const databaseName = new URL(database.url).pathname.slice(1)
  outcome.note = database.note
  const dataDir = await mkdtemp(join(tmpdir(), 'openpnc-bench-oicp-'))
  cleanups.push(() => rm(dataDir, { recursive: true, force: true }))
  const adminKey = randomBytes(24).toString('base64url')
  const env: Record<string, string> = {
    DATABASE_URL: database.url,
    OPENPNC_ADMIN_API_KEY: adminKey,
    OPENPNC_DATA_DIR: dataDir,
    OPENPNC_SECRET_KEY: randomBytes(32).toString('hex'),
    OPENPNC_OICP_PORT: '0',
    OPENPNC_OICP_PREFIX: PREFIX,
  }

  progress('starting the platform to migrate the database and create the organization')
  const setup = await startServer('platform', env)
  try {
    await waitForHealth(setup.url)
    outcome.seeded = await seedKeys(setup.url, adminKey, database.url, { keys: KEYS, users: USERS, progress })
  } finally {
    await setup.stop()
  }
  const seeded = outcome.seeded

  progress('bare node:http baseline')
  const bare = await startServer('bare', {})
  try {
    outcome.bare = await measure(bare, bare.url, HEADERS, seeded, bareCheck, LABEL.bare, databaseName, SETTINGS)
  } finally {
    await bare.stop()
  }

  progress('starting the platform for the load')
  if (PROFILE_DIR) await mkdir(PROFILE_DIR, { recursive: true })
  const server = await startServer('platform', env, PROFILE_DIR ? ['--import', PROFILER] : [])
  await waitForHealth(server.url)
  if (!server.oicpUrl) throw new Error('the platform reported no OICP listener')
  const cpuProfilePath = PROFILE_DIR && join(PROFILE_DIR, 'oicp-authorize.cpuprofile')
  outcome.platform = await measure(
    server,
    server.oicpUrl,
    HEADERS,
    seeded,
    platformCheck,
    LABEL.platform,
    databaseName,
    SETTINGS,
    cpuProfilePath,
  )
}

function report(outcome: Outcome) {
  const { seeded, bare, platform } = outcome
  const lines = ['', `bench:oicp-authorize  ${KEYS} Plug&Charge keys on PostgreSQL, ${USERS} users`]
  if (seeded) lines.push(`seeding: ${seeded.totalKeys} keys in the database (${KEYS} seeded in ${seeded.keysSeconds.toFixed(1)} s)`)
  const rows = [
    [LABEL.bare, bare],
    [LABEL.platform, platform],
  ] as const
  lines.push(
    '',
    `POST ${PREFIX}${SERVED.authorizeStart.path} (eRoamingAuthorizeStart, PnC EvcoID): ${CONNECTIONS} connections, ${SECONDS} s ` +
      `(after ${WARMUP_SECONDS} s of warm-up, not counted); ${(100 * (1 - UNKNOWN_SHARE)).toFixed(0)}% random known EvcoIDs, ${(100 * UNKNOWN_SHARE).toFixed(0)}% unknown`,
    ...comparisonLines(rows, bare),
    '',
    'req/s counts expected answers (known: 200 Authorized with 000, unknown: 200 NotAuthorized with 105; bare: 2xx)',
    'from the first request to the last response; failed: wrong answers and transport errors.',
  )
  if (platform) {
    const r = platform.result
    lines.push(`answers: ${r.knownOk} known EvcoIDs authorized (each a remembered session), ${r.unknownOk} unknown ones refused (105)`)
  }
  const runs = [
    bare && { label: LABEL.bare, profile: bare.profile, queries: false },
    platform && { label: LABEL.platform, profile: platform.profile, queries: true },
  ].filter((r): r is NonNullable<typeof r> => Boolean(r))
  if (runs.length > 0) lines.push('', ...profileLines(runs))
  lines.push(...cpuPerRequestLines(rows))
  if (outcome.note) lines.push('', outcome.note)
  if (platform?.cpuProfile) lines.push('', ...platform.cpuProfile)
  lines.push('', 'aims (not tests):', ...aimLines(bare, platform, { ratio: AIM_RATIO, p99Ms: AIM_P99_MS }))
  process.stdout.write(`${lines.join('\n')}\n`)

  const problems = [...outcome.errors]
  for (const [label, m] of rows) {
    if (!m) continue
    if (failures(m.warmup) > 0) problems.push(`${label} warm-up: ${describeFailures(m.warmup)}`)
    if (failures(m.result) > 0) problems.push(`${label}: ${describeFailures(m.result)}`)
  }
  if (problems.length > 0) {
    process.stderr.write(`\n!!! bench:oicp-authorize FAILED: these figures are not valid !!!\n  ${problems.join('\n  ')}\n`)
    process.exitCode = 1
  }
}

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
