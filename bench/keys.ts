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
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import pg from 'pg'
import type { ChildMessage, ParentMessage } from './server.ts'

type StatsMessage = Extract<ChildMessage, { type: 'stats' }>
type Target = 'postgres' | 'pglite'

const REPO = fileURLToPath(new URL('..', import.meta.url))
const SERVER_SCRIPT = fileURLToPath(new URL('./server.ts', import.meta.url))
const KEY_PATH = '/v1/users/bench-user/charging-keys/plug-and-charge'
const BODY = JSON.stringify({ pcid: 'WDBRF61J21F123456' })

function intEnv(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`)
  return value
}

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

const progress = (text: string) => process.stderr.write(`bench:keys: ${text}\n`)

// ----- cleanup: whatever happens, children die and temporary databases and directories go.

const cleanups: Array<() => Promise<void>> = []
const children = new Set<ChildProcess>()

async function runCleanups() {
  while (cleanups.length > 0) {
    const cleanup = cleanups.pop()!
    await cleanup().catch((error: Error) => progress(`cleanup failed: ${error.message}`))
  }
}
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})
process.once('SIGINT', () => {
  progress('interrupted, cleaning up')
  void runCleanups().finally(() => process.exit(130))
})

// ----- the server under test, in a child process

interface Server {
  url: string
  stats(): Promise<StatsMessage>
  stop(): Promise<void>
}

async function startServer(mode: 'bare' | 'platform', env: Record<string, string>): Promise<Server> {
  // The server's settings are ours, except the pool size, a knob worth turning between runs.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => (!name.startsWith('OPENPNC_') || name === 'OPENPNC_DB_POOL_SIZE') && name !== 'DATABASE_URL',
    ),
  )
  const child = fork(SERVER_SCRIPT, [mode], {
    cwd: REPO,
    execArgv: ['--import', 'tsx'],
    // PORT=0: the kernel picks a free port and the child reports it, so no port can be taken in between.
    env: { ...inherited, PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'warn', OPENPNC_SANDBOX: 'false', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  children.add(child)
  const exited = once(child, 'exit')
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
      await exited
      clearTimeout(timer)
    }
    children.delete(child)
  }
  cleanups.push(stop)

  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} server did not start within 60 s`)), 60_000)
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'ready') {
        clearTimeout(timer)
        resolve(message.url)
      }
    })
    child.once('exit', (code, signal) => {
      clearTimeout(timer)
      reject(new Error(`${mode} server exited (${signal ?? code}) before it was ready`))
    })
  })

  const stats = () =>
    new Promise<StatsMessage>((resolve) => {
      const onMessage = (message: ChildMessage) => {
        if (message.type !== 'stats') return
        child.off('message', onMessage)
        resolve(message)
      }
      child.on('message', onMessage)
      child.send({ type: 'stats' } satisfies ParentMessage)
    })
  return { url, stats, stop }
}

async function waitForHealth(url: string) {
  const deadline = Date.now() + 30_000
  for (;;) {
    const status = await fetch(`${url}/health`).then(
      (r) => r.status,
      () => 0,
    )
    if (status === 200) return
    if (Date.now() > deadline) throw new Error(`GET /health answered ${status || 'nothing'} for 30 s`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

async function call(url: string, apiKey: string, method: 'GET' | 'POST', path: string, body?: unknown, expected = 200) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'x-api-key': apiKey, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.text()
  if (response.status !== expected) throw new Error(`${method} ${path}: expected ${expected}, got ${response.status} ${text}`)
  return JSON.parse(text) as unknown
}

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

/** Nearest-rank percentile of sorted values. */
const percentile = (sorted: Float64Array, p: number) => (sorted.length === 0 ? NaN : sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!)

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

// ----- CPU accounting over the measured run

interface Snapshot {
  child: StatsMessage
  generatorMicros: number
  machineBusyMs: number
  postgresMs: number | null
}

function machineBusyMs() {
  return cpus().reduce((sum, cpu) => sum + cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq, 0)
}

/**
 * CPU time of the local PostgreSQL processes, from /proc (Linux; null elsewhere). It tells the
 * database's share from other processes on the machine, which would distort the figures.
 */
async function postgresCpuMs(): Promise<number | null> {
  let entries: string[]
  try {
    entries = await readdir('/proc')
  } catch {
    return null
  }
  let ticks = 0
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
    const close = stat.lastIndexOf(')')
    if (stat.slice(stat.indexOf('(') + 1, close) !== 'postgres') continue
    // After "pid (comm)": field 3 is the state, fields 14 and 15 are utime and stime.
    const fields = stat.slice(close + 2).split(' ')
    ticks += Number(fields[11]) + Number(fields[12])
  }
  // /proc counts in USER_HZ, which Linux fixes at 100 for userspace.
  return ticks * 10
}

async function snapshot(server: Server, withPostgres: boolean): Promise<Snapshot> {
  const child = await server.stats()
  const postgresMs = withPostgres ? await postgresCpuMs() : null
  const own = process.cpuUsage()
  return { child, generatorMicros: own.user + own.system, machineBusyMs: machineBusyMs(), postgresMs }
}

interface Profile {
  /** Percent of one core, over the measured run. */
  server: number
  generator: number
  postgres: number | null
  /** Everything else on the machine: for a clean figure, close to 0. */
  others: number
  eventLoop: number
  queriesPerRequest: number
}

/** Above this share of a core, other processes competed with the benchmark. */
const BUSY_MACHINE = 25

function profile(before: Snapshot, after: Snapshot, elapsedMs: number): Profile {
  const pct = (ms: number) => (100 * ms) / elapsedMs
  const server = pct((after.child.cpuMicros - before.child.cpuMicros) / 1000)
  const generator = pct((after.generatorMicros - before.generatorMicros) / 1000)
  const machine = pct(after.machineBusyMs - before.machineBusyMs)
  const postgres = before.postgresMs !== null && after.postgresMs !== null ? pct(after.postgresMs - before.postgresMs) : null
  // Active time over the load, not over the snapshot window (which adds an idle tail).
  const active = after.child.eventLoop.active - before.child.eventLoop.active
  const requests = after.child.requests - before.child.requests
  return {
    server,
    generator,
    postgres,
    others: Math.max(0, machine - server - generator - (postgres ?? 0)),
    eventLoop: Math.min(100, pct(active)),
    queriesPerRequest: requests > 0 ? (after.child.queries - before.child.queries) / requests : 0,
  }
}

/** How busy the machine is before we start, in % of a core. */
async function idleCheck(): Promise<number> {
  const before = machineBusyMs()
  await new Promise((resolve) => setTimeout(resolve, 1000))
  return (100 * (machineBusyMs() - before)) / 1000
}

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

async function postgresDatabase(): Promise<{ url: string; note: string }> {
  const name = `openpnc_bench_keys_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
  await admin.connect()
  let note: string
  try {
    const settings = await admin.query<{ name: string; setting: string }>(
      `SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'fsync', 'synchronous_commit')`,
    )
    const s = Object.fromEntries(settings.rows.map((r) => [r.name, r.setting]))
    note = `PostgreSQL ${s.server_version}: fsync=${s.fsync}, synchronous_commit=${s.synchronous_commit}`
    await admin.query(`CREATE DATABASE ${name}`)
  } finally {
    await admin.end()
  }
  cleanups.push(async () => {
    const client = new pg.Client({ connectionString: ADMIN_DATABASE_URL })
    await client.connect()
    try {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    } finally {
      await client.end()
    }
  })
  const url = new URL(ADMIN_DATABASE_URL)
  url.pathname = `/${name}`
  return { url: url.toString(), note }
}

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
    const created = (await call(
      server.url,
      adminKey,
      'POST',
      '/admin/v1/organizations',
      { name: 'Bench', plugAndCharge: { enabled: true }, contractIdPrefixes: ['DE-8PS'], emaidPrefix: 'DE-8PS' },
      201,
    )) as { apiKey: string }
    await call(server.url, created.apiKey, 'POST', '/v1/users', { id: 'bench-user' }, 201)

    const { warmup, result, profile } = await measure(server, created.apiKey, label, target === 'postgres')

    // Every 201 must be a key of its own: count them back through the API.
    const listed = (await call(server.url, created.apiKey, 'GET', '/v1/users/bench-user/charging-keys')) as {
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
      lines.push(`  ${o.label.padEnd(24)}${c.keys} Plug&Charge keys, ${c.distinct} distinct contract IDs, expected ${c.expected}: ${ok ? 'ok' : 'MISMATCH'}`)
    }
  }

  const profiled = outcomes.filter((o) => o.profile)
  if (profiled.length > 0) {
    lines.push('', `where the time went in the measured run (CPU in % of one core; this machine has ${cpus().length})`)
    for (const o of profiled) {
      const p = o.profile!
      const parts = [
        `server ${p.server.toFixed(0)}% (event loop ${p.eventLoop.toFixed(0)}% busy)`,
        ...(p.postgres !== null ? [`postgres ${p.postgres.toFixed(0)}%`] : []),
        `load generator ${p.generator.toFixed(0)}%`,
        `other processes ${p.others.toFixed(0)}%`,
        ...(o.label !== LABEL.bare ? [`${p.queriesPerRequest.toFixed(2)} queries/request`] : []),
      ]
      lines.push(`  ${o.label.padEnd(24)}${parts.join(', ')}`)
    }
    const contended = profiled.filter((o) => o.profile!.others > BUSY_MACHINE)
    if (contended.length > 0) {
      lines.push(
        `  !! other processes competed for the CPU during: ${contended.map((o) => o.label).join(', ')}; those figures are low`,
      )
    }
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
    const why = failed.map((o) => `  ${o.label}: ${[o.result && failures(o.result) > 0 && describeFailures(o.result), o.error].filter(Boolean).join('; ')}`)
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
      await runCleanups()
    }
  }
} finally {
  await runCleanups()
}
report(outcomes)
