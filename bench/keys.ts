/**
 * npm run bench:keys: creates BENCH_KEYS Plug&Charge keys (generated EMAIDs) over HTTP with
 * BENCH_CONNECTIONS concurrent clients against openpnc on each of BENCH_TARGETS (postgres, pglite),
 * and, as the baseline, against a bare node:http server under the same load. It prints figures
 * and asserts no timing; it fails (exit 1) only when requests fail or the keys are not all there.
 *
 * Each server runs in a child process (bench/server.ts): the load generator needs its own core.
 *
 *   BENCH_KEYS=20000  BENCH_CONNECTIONS=32  BENCH_TARGETS=postgres,pglite
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres   (where the bench database is made)
 *   OPENPNC_DB_POOL_SIZE is passed on to the server; other OPENPNC_* settings and DATABASE_URL are not.
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import autocannon from 'autocannon'
import {
  benchOrganization,
  call,
  cleanUpOnInterrupt,
  cleanups,
  idleCheck,
  intEnv,
  percentile,
  postgresDatabase as createDatabase,
  profile,
  profileLines,
  progressOf,
  runCleanups,
  snapshot,
  startServer,
  waitForHealth,
  BUSY_MACHINE,
  type Profile,
  type Server,
} from './harness.ts'

type Target = 'postgres' | 'pglite'

const KEY_PATH = '/v1/users/bench-user/charging-keys/plug-and-charge'
const BODY = JSON.stringify({ pcid: 'WDBRF61J21F123456' })

const KEYS = intEnv('BENCH_KEYS', 20_000)
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 32)
// autocannon refuses fewer requests than connections.
const WARMUP = Math.max(500, CONNECTIONS)
const TARGETS = (process.env.BENCH_TARGETS ?? 'postgres,pglite')
  .split(',')
  .map((t) => t.trim())
  .filter((t) => t !== '')
for (const t of TARGETS) {
  if (t !== 'postgres' && t !== 'pglite') throw new Error(`BENCH_TARGETS: unknown target ${JSON.stringify(t)} (postgres, pglite)`)
}
const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
const LABEL: Record<Target | 'bare', string> = {
  bare: 'bare node:http',
  postgres: 'openpnc on PostgreSQL',
  pglite: 'openpnc on PGlite',
}

const progress = progressOf('bench:keys')

cleanUpOnInterrupt(progress)

// ----- the load

interface LoadResult {
  ok: number
  non2xx: number
  errors: number
  timeouts: number
  statusCodes: Record<string, number>
  /** From the first request to the last response. */
  elapsedMs: number
  perSecond: number
  p50: number
  p99: number
}

async function load(url: string, apiKey: string, amount: number): Promise<LoadResult> {
  // Our own latencies and clock: autocannon's histogram has 1 ms resolution, and its run only
  // ends at the next sample tick, which would stretch a 2-second run by up to a second.
  const latencies = new Float64Array(amount)
  let count = 0
  let last = 0
  const start = performance.now()
  const run = autocannon({
    url: `${url}${KEY_PATH}`,
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': apiKey },
    body: BODY,
    connections: CONNECTIONS,
    amount,
    timeout: 30,
    // The run ends at a sample tick after the last response; a short tick keeps that idle tail short.
    sampleInt: 100,
  })
  run.on('response', (_client, _status, _bytes, latencyMs) => {
    if (count < amount) latencies[count++] = latencyMs
    last = performance.now()
  })
  const result = await run
  const sorted = latencies.subarray(0, count).sort()
  const elapsedMs = (last || performance.now()) - start
  const statusCodes = Object.fromEntries(Object.entries(result.statusCodeStats).map(([code, s]) => [code, s.count]))
  return {
    ok: result['2xx'],
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    elapsedMs,
    perSecond: (result['2xx'] / elapsedMs) * 1000,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
  }
}

const failures = (r: LoadResult) => r.non2xx + r.errors

// ----- one target

interface Outcome {
  label: string
  result?: LoadResult
  profile?: Profile
  check?: { keys: number; distinct: number; expected: number }
  note?: string
  error?: string
}

async function measure(server: Server, apiKey: string, label: string, withPostgres = false) {
  progress(`${label}: warm-up, ${WARMUP} requests`)
  const warmup = await load(server.url, apiKey, WARMUP)
  progress(`${label}: ${KEYS} requests, ${CONNECTIONS} connections`)
  const before = await snapshot(server, withPostgres)
  const result = await load(server.url, apiKey, KEYS)
  const after = await snapshot(server, withPostgres)
  return { warmup, result, profile: profile(before, after, result.elapsedMs) }
}

async function benchBare(): Promise<Outcome> {
  const label = LABEL.bare
  const server = await startServer('bare', {})
  try {
    const { warmup, result, profile } = await measure(server, 'bench-baseline-has-no-keys', label)
    if (failures(warmup) > 0) return { label, result, profile, error: `warm-up failed: ${describeFailures(warmup)}` }
    return { label, result, profile }
  } finally {
    await server.stop()
  }
}

const postgresDatabase = () => createDatabase(ADMIN_DATABASE_URL, 'openpnc_bench_keys')

async function benchPlatform(target: Target): Promise<Outcome> {
  const label = LABEL[target]
  const adminKey = randomBytes(24).toString('base64url')
  const env: Record<string, string> = { OPENPNC_ADMIN_API_KEY: adminKey }
  let note: string | undefined
  if (target === 'postgres') {
    const database = await postgresDatabase()
    env.DATABASE_URL = database.url
    note = database.note
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'openpnc-bench-keys-'))
    cleanups.push(() => rm(dir, { recursive: true, force: true }))
    env.OPENPNC_DATA_DIR = dir
  }
  progress(`${label}: starting the server`)
  const server = await startServer('platform', env)
  try {
    await waitForHealth(server.url)
    const orgKey = await benchOrganization(server.url, adminKey)

    const { warmup, result, profile } = await measure(server, orgKey, label, target === 'postgres')

    // Every 201 must be a key of its own: count them back through the API.
    const listed = (await call(server.url, orgKey, 'GET', '/v1/users/bench-user/charging-keys')) as {
      keys: Array<{ type: string; contractId: string }>
    }
    const pnc = listed.keys.filter((k) => k.type === 'plug_and_charge')
    const check = { keys: pnc.length, distinct: new Set(pnc.map((k) => k.contractId)).size, expected: warmup.ok + result.ok }
    const problems = [
      failures(warmup) > 0 && `warm-up failed: ${describeFailures(warmup)}`,
      (check.keys !== check.expected || check.distinct !== check.expected) && 'key count check failed',
    ].filter(Boolean)
    return { label, result, profile, check, note, ...(problems.length > 0 && { error: problems.join('; ') }) }
  } finally {
    await server.stop()
  }
}

// ----- report

function describeFailures(r: LoadResult) {
  const codes = Object.entries(r.statusCodes)
    .filter(([code]) => !code.startsWith('2'))
    .map(([code, n]) => `${n} x ${code}`)
  return [...codes, r.errors > 0 && `${r.errors} errors (${r.timeouts} timeouts)`].filter(Boolean).join(', ') || 'none'
}

const pad = (text: string, width: number) => text.padStart(width)

function report(outcomes: Outcome[]) {
  const bare = outcomes.find((o) => o.label === LABEL.bare)?.result
  const lines = [
    '',
    `bench:keys  ${KEYS} Plug&Charge keys, ${CONNECTIONS} connections (after ${WARMUP} warm-up requests each, not counted)`,
    `${'target'.padEnd(24)}${pad('req/s', 9)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('non-2xx', 9)}${pad('errors', 8)}${pad('vs bare', 9)}`,
  ]
  for (const o of outcomes) {
    const r = o.result
    if (!r) {
      lines.push(`${o.label.padEnd(24)}  did not run: ${o.error}`)
      continue
    }
    const ratio = bare && bare.perSecond > 0 ? `${(r.perSecond / bare.perSecond).toFixed(3)}x` : '-'
    lines.push(
      o.label.padEnd(24) +
        pad(r.perSecond.toFixed(0), 9) +
        pad(r.p50.toFixed(2), 9) +
        pad(r.p99.toFixed(2), 9) +
        pad(String(r.non2xx), 9) +
        pad(String(r.errors), 8) +
        pad(ratio, 9),
    )
  }
  lines.push('', 'req/s counts 2xx responses from the first request to the last response; latencies are per request.')

  const checked = outcomes.filter((o) => o.check)
  if (checked.length > 0) {
    lines.push('', 'keys in the database (GET /v1/users/bench-user/charging-keys, warm-up included)')
    for (const o of checked) {
      const c = o.check!
      const ok = c.keys === c.expected && c.distinct === c.expected
      lines.push(
        `  ${o.label.padEnd(24)}${c.keys} Plug&Charge keys, ${c.distinct} distinct contract IDs, expected ${c.expected}: ${ok ? 'ok' : 'MISMATCH'}`,
      )
    }
  }

  const profiled = outcomes.filter((o) => o.profile)
  if (profiled.length > 0) {
    lines.push('', ...profileLines(profiled.map((o) => ({ label: o.label, profile: o.profile!, queries: o.label !== LABEL.bare }))))
  }
  for (const o of outcomes) if (o.note) lines.push('', `${o.label}: ${o.note}`)

  const pgResult = outcomes.find((o) => o.label === LABEL.postgres)?.result
  if (pgResult) {
    const met = pgResult.perSecond >= 1500
    lines.push(`aim (not a test): >= 1500 keys/s on PostgreSQL: ${pgResult.perSecond.toFixed(0)} keys/s, ${met ? 'met' : 'not met'}`)
  }
  process.stdout.write(`${lines.join('\n')}\n`)

  const failed = outcomes.filter((o) => o.error || (o.result && failures(o.result) > 0))
  if (failed.length > 0) {
    const why = failed.map(
      (o) => `  ${o.label}: ${[o.result && failures(o.result) > 0 && describeFailures(o.result), o.error].filter(Boolean).join('; ')}`,
    )
    process.stderr.write(`\n!!! bench:keys FAILED: these figures are not valid !!!\n${why.join('\n')}\n`)
    process.exitCode = 1
  }
}

// ----- main

const outcomes: Outcome[] = []
const busy = await idleCheck()
if (busy > BUSY_MACHINE) progress(`warning: the machine is already ${busy.toFixed(0)}% busy (of one core) before the benchmark`)
try {
  const plan: Array<{ name: Target | 'bare'; run: () => Promise<Outcome> }> = [
    { name: 'bare', run: benchBare },
    ...(TARGETS as Target[]).map((name) => ({ name, run: () => benchPlatform(name) })),
  ]
  for (const { name, run } of plan) {
    try {
      outcomes.push(await run())
    } catch (error) {
      outcomes.push({ label: LABEL[name], error: (error as Error).message })
    } finally {
      await runCleanups(progress)
    }
  }
} finally {
  await runCleanups(progress)
}
report(outcomes)
