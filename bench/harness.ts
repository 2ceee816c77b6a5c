/**
 * What the benchmarks share (bench/keys.ts, bench/authorize.ts): settings from the environment,
 * cleanup that runs whatever happens, the server under test in a child process (bench/server.ts),
 * a fresh PostgreSQL database per run, and the CPU accounting that tells where the time went and
 * whether other processes competed for the machine.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readdir, readFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import type { ChildMessage, ParentMessage } from './server.ts'

export type StatsMessage = Extract<ChildMessage, { type: 'stats' }>

const REPO = fileURLToPath(new URL('..', import.meta.url))
const SERVER_SCRIPT = fileURLToPath(new URL('./server.ts', import.meta.url))

export function intEnv(name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 1) throw new Error(`${name} must be a positive integer, got ${JSON.stringify(raw)}`)
  return value
}

/** Progress lines go to stderr, so stdout carries only the report. */
export const progressOf = (name: string) => (text: string) => process.stderr.write(`${name}: ${text}\n`)

// ----- cleanup: whatever happens, children die and temporary databases and directories go.

export const cleanups: Array<() => Promise<void>> = []
const children = new Set<ChildProcess>()

export async function runCleanups(progress: (text: string) => void) {
  while (cleanups.length > 0) {
    const cleanup = cleanups.pop()!
    await cleanup().catch((error: Error) => progress(`cleanup failed: ${error.message}`))
  }
}
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL')
})

/** Ctrl-C still drops the databases and stops the servers. */
export function cleanUpOnInterrupt(progress: (text: string) => void) {
  process.once('SIGINT', () => {
    progress('interrupted, cleaning up')
    void runCleanups(progress).finally(() => process.exit(130))
  })
}

// ----- the server under test, in a child process

export interface Server {
  url: string
  /** the platform's OICP listener, when it runs one (OPENPNC_OICP_PORT) */
  oicpUrl?: string
  pid: number
  stats(): Promise<StatsMessage>
  /** Sends a message and waits (bounded) for the first reply of the given type. */
  ask<T extends { type: string }>(message: { type: string; [field: string]: unknown }, replyType: T['type'], timeoutMs?: number): Promise<T>
  stop(): Promise<void>
}

/** `execArgv`: extra node options for the child, e.g. a preloaded bench/profiler.ts. */
export async function startServer(
  mode: 'bare' | 'partner' | 'platform',
  env: Record<string, string>,
  execArgv: string[] = [],
): Promise<Server> {
  // The server's settings are ours, except the pool size, a knob worth turning between runs.
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(
      ([name]) => (!name.startsWith('OPENPNC_') || name === 'OPENPNC_DB_POOL_SIZE') && name !== 'DATABASE_URL',
    ),
  )
  const child = fork(SERVER_SCRIPT, [mode], {
    cwd: REPO,
    // The node options of `npm start`, for both servers: a larger young generation means fewer,
    // cheaper garbage collections for a server that allocates per request.
    execArgv: ['--max-semi-space-size=64', '--import', 'tsx', ...execArgv],
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

  const ready = await new Promise<{ url: string; oicpUrl?: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${mode} server did not start within 60 s`)), 60_000)
    child.on('message', (message: ChildMessage) => {
      if (message.type === 'ready') {
        clearTimeout(timer)
        resolve(message)
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
  const ask = <T extends { type: string }>(message: { type: string; [field: string]: unknown }, replyType: T['type'], timeoutMs = 60_000) =>
    new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.off('message', onMessage)
        reject(new Error(`${mode} server did not answer ${message.type} within ${timeoutMs} ms`))
      }, timeoutMs)
      const onMessage = (reply: { type: string }) => {
        if (reply.type !== replyType) return
        clearTimeout(timer)
        child.off('message', onMessage)
        resolve(reply as T)
      }
      child.on('message', onMessage)
      child.send(message)
    })
  return { url: ready.url, oicpUrl: ready.oicpUrl, pid: child.pid!, stats, ask, stop }
}

export async function waitForHealth(url: string) {
  const deadline = Date.now() + 30_000
  for (;;) {
    const status = await fetch(`${url}/health`, { signal: AbortSignal.timeout(5_000) }).then(
      (r) => r.status,
      () => 0,
    )
    if (status === 200) return
    if (Date.now() > deadline) throw new Error(`GET /health answered ${status || 'nothing'} for 30 s`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

/** One API call with an X-API-Key; anything but the expected status throws with the answer. */
export async function call(
  url: string,
  apiKey: string,
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  path: string,
  body?: unknown,
  expected = 200,
) {
  const response = await fetch(`${url}${path}`, {
    method,
    headers: { 'x-api-key': apiKey, ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    // Bounded: a server that stops answering fails the run instead of hanging it.
    signal: AbortSignal.timeout(60_000),
  })
  const text = await response.text()
  if (response.status !== expected) throw new Error(`${method} ${path}: expected ${expected}, got ${response.status} ${text}`)
  return (text === '' ? null : JSON.parse(text)) as unknown
}

/**
 * The organization most benchmarks load: Plug&Charge under DE-8PS, with one user `bench-user`.
 * Returns the organization's API key.
 */
export async function benchOrganization(url: string, adminKey: string): Promise<string> {
  const { apiKey } = (await call(
    url,
    adminKey,
    'POST',
    '/admin/v1/organizations',
    { name: 'Bench', plugAndCharge: { enabled: true }, contractIdPrefixes: ['DE-8PS'], emaidPrefix: 'DE-8PS' },
    201,
  )) as { apiKey: string }
  await call(url, apiKey, 'POST', '/v1/users', { id: 'bench-user' }, 201)
  return apiKey
}

/** Nearest-rank percentile of sorted values. */
export const percentile = (sorted: Float64Array, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!

// ----- a fresh PostgreSQL database, dropped at cleanup

/**
 * Creates `<prefix>_<random>` next to `adminUrl`'s database and returns its URL, with a note on
 * the server's durability settings (they decide what a write costs).
 */
export async function postgresDatabase(adminUrl: string, prefix: string): Promise<{ url: string; note: string }> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`
  const admin = new pg.Client({ connectionString: adminUrl })
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
    const client = new pg.Client({ connectionString: adminUrl })
    await client.connect()
    try {
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    } finally {
      await client.end()
    }
  })
  const url = new URL(adminUrl)
  url.pathname = `/${name}`
  return { url: url.toString(), note }
}

// ----- CPU accounting over a measured run

export interface Snapshot {
  child: StatsMessage
  generatorMicros: number
  machineBusyMs: number
  postgresMs: number | null
  /** CPU ms of every other process by pid (Linux), to name what competed with the benchmark. */
  processes: Map<number, { name: string; ms: number }>
  /** Machine-wide interrupt and steal time in ms (Linux /proc/stat), which no process is charged. */
  kernel: { irq: number; softirq: number; steal: number } | null
}

async function kernelTimes(): Promise<Snapshot['kernel']> {
  const line = (await readFile('/proc/stat', 'utf8').catch(() => '')).split('\n')[0] ?? ''
  // cpu  user nice system idle iowait irq softirq steal ..., in USER_HZ (100 per second)
  const f = line.trim().split(/\s+/).slice(1).map(Number)
  if (!line.startsWith('cpu ') || f.length < 8) return null
  return { irq: f[5]! * 10, softirq: f[6]! * 10, steal: f[7]! * 10 }
}

function machineBusyMs() {
  return cpus().reduce((sum, cpu) => sum + cpu.times.user + cpu.times.nice + cpu.times.sys + cpu.times.irq, 0)
}

/**
 * CPU time of the local PostgreSQL processes and of every other process, from /proc (Linux; null
 * and empty elsewhere). It tells the database's share from other processes on the machine, which
 * would distort the figures. A backend that exits (a pool closing an idle connection) hands its
 * time to the postmaster's reaped-children time, so PostgreSQL's sum counts utime + stime plus
 * cutime + cstime and does not drop when a connection closes. With `database`, backends serving
 * other databases (someone else's workload on the same server) count as other processes.
 */
async function processCpu(
  exclude: number[],
  database?: string,
): Promise<{ postgresMs: number | null; processes: Map<number, { name: string; ms: number }> }> {
  const processes = new Map<number, { name: string; ms: number }>()
  let entries: string[]
  try {
    entries = await readdir('/proc')
  } catch {
    return { postgresMs: null, processes }
  }
  let postgresTicks = 0
  for (const pid of entries) {
    if (!/^\d+$/.test(pid)) continue
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '')
    const close = stat.lastIndexOf(')')
    if (close < 0) continue
    const name = stat.slice(stat.indexOf('(') + 1, close)
    // After "pid (comm)": field 3 is the state, fields 14 to 17 are utime, stime, cutime and cstime.
    const fields = stat.slice(close + 2).split(' ')
    const own = Number(fields[11]) + Number(fields[12])
    // Reaped children count for their parent: a test runner's short-lived workers show up under it.
    const withChildren = own + Number(fields[13]) + Number(fields[14])
    // Without node's loader options, so that the script shows: "/usr/bin/node bench/geo.ts".
    const commandLine = async () =>
      (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => ''))
        .split('\0')
        .filter(Boolean)
        .filter((arg, i, all) => !/^(--require|--import|-r)$/.test(arg) && !/^(--require|--import|-r)$/.test(all[i - 1] ?? ''))
        .join(' ')
    if (name === 'postgres') {
      // A backend's title: "postgres: 15/main: <user> <database> <client> <state>".
      const backendOf = database ? /^postgres: \S+: \S+ (\S+) \S+\(\d+\)/.exec(await commandLine())?.[1] : undefined
      if (backendOf === undefined || backendOf === database) {
        postgresTicks += withChildren
        continue
      }
    }
    if (exclude.includes(Number(pid))) continue
    // For a busy process, its command line says more than its name ("node").
    const args = withChildren > 100 || name === 'postgres' ? (await commandLine()).slice(0, 100) : ''
    // /proc counts in USER_HZ, which Linux fixes at 100 for userspace.
    processes.set(Number(pid), { name: args.includes(' ') ? args : name, ms: withChildren * 10 })
  }
  return { postgresMs: postgresTicks * 10, processes }
}

/** `database`: the benchmark's own PostgreSQL database, to tell its backends from others'. */
export async function snapshot(server: Server, withPostgres: boolean, database?: string): Promise<Snapshot> {
  const child = await server.stats()
  const { postgresMs, processes } = await processCpu([process.pid, server.pid], database)
  const kernel = await kernelTimes()
  const own = process.cpuUsage()
  return {
    child,
    generatorMicros: own.user + own.system,
    machineBusyMs: machineBusyMs(),
    postgresMs: withPostgres ? postgresMs : null,
    processes,
    kernel,
  }
}

export interface Profile {
  /** Percent of one core, over the measured run. */
  server: number
  /** Of `server`, the part spent in the kernel on its behalf (system time). */
  serverSystem: number
  generator: number
  postgres: number | null
  /** Everything else on the machine: for a clean figure, close to 0. */
  others: number
  /** The busiest of those, e.g. "node 1234 80%", then all other processes and the kernel's own time. */
  busiest: string[]
  eventLoop: number
  queriesPerRequest: number
}

/** Above this share of a core, other processes competed with the benchmark. */
export const BUSY_MACHINE = 25

export function profile(before: Snapshot, after: Snapshot, elapsedMs: number): Profile {
  const pct = (ms: number) => (100 * ms) / elapsedMs
  const server = pct((after.child.cpuMicros - before.child.cpuMicros) / 1000)
  const serverSystem = pct((after.child.cpuSystemMicros - before.child.cpuSystemMicros) / 1000)
  const generator = pct((after.generatorMicros - before.generatorMicros) / 1000)
  const machine = pct(after.machineBusyMs - before.machineBusyMs)
  const postgres = before.postgresMs !== null && after.postgresMs !== null ? pct(after.postgresMs - before.postgresMs) : null
  // Active time over the load, not over the snapshot window (which adds an idle tail).
  const active = after.child.eventLoop.active - before.child.eventLoop.active
  const requests = after.child.requests - before.child.requests
  // Processes that started during the run count from zero; those that ended are not seen.
  const others = [...after.processes].map(([pid, p]) => ({ pid, name: p.name, share: pct(p.ms - (before.processes.get(pid)?.ms ?? 0)) }))
  const busiest = others
    .filter((p) => p.share >= 5)
    .sort((a, b) => b.share - a.share)
    .slice(0, 3)
    .map((p) => `${p.name} ${p.pid} ${p.share.toFixed(0)}%`)
  if (after.processes.size > 0) busiest.push(`all other processes ${others.reduce((sum, p) => sum + p.share, 0).toFixed(0)}%`)
  if (before.kernel && after.kernel) {
    const k = (name: 'irq' | 'softirq' | 'steal') => pct(after.kernel![name] - before.kernel![name]).toFixed(0)
    busiest.push(`interrupts ${k('irq')}%, softirq ${k('softirq')}%, stolen by the hypervisor ${k('steal')}%`)
  }
  return {
    server,
    serverSystem,
    generator,
    postgres,
    others: Math.max(0, machine - server - generator - (postgres ?? 0)),
    busiest,
    eventLoop: Math.min(100, pct(active)),
    queriesPerRequest: requests > 0 ? (after.child.queries - before.child.queries) / requests : 0,
  }
}

/** How busy the machine is before we start, in % of a core. */
export async function idleCheck(): Promise<number> {
  const before = machineBusyMs()
  await new Promise((resolve) => setTimeout(resolve, 1000))
  return (100 * (machineBusyMs() - before)) / 1000
}

/**
 * The "where the time went" lines of a report: one per profiled run, and a warning when other
 * processes took more than BUSY_MACHINE of a core during one (its figures are then low).
 */
export function profileLines(runs: Array<{ label: string; profile: Profile; queries: boolean }>): string[] {
  const lines = [`where the time went in the measured run (CPU in % of one core; this machine has ${cpus().length})`]
  for (const { label, profile: p, queries } of runs) {
    const parts = [
      `server ${p.server.toFixed(0)}% (event loop ${p.eventLoop.toFixed(0)}% busy)`,
      ...(p.postgres !== null ? [`postgres ${p.postgres.toFixed(0)}%`] : []),
      `load generator ${p.generator.toFixed(0)}%`,
      `other processes ${p.others.toFixed(0)}%`,
      ...(queries ? [`${p.queriesPerRequest.toFixed(2)} queries/request`] : []),
    ]
    lines.push(`  ${label.padEnd(24)}${parts.join(', ')}`)
  }
  const contended = runs.filter((r) => r.profile.others > BUSY_MACHINE)
  if (contended.length > 0) {
    lines.push(`  !! other processes competed for the CPU during: ${contended.map((r) => r.label).join(', ')}; those figures are low`)
    for (const r of contended) if (r.profile.busiest.length > 0) lines.push(`     during ${r.label}: ${r.profile.busiest.join(', ')}`)
  }
  return lines
}
