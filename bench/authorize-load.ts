/**
 * The load the authorization benchmarks share: autocannon against one server for a while, each
 * request naming a random known EMAID or (a share of them) a random unknown one, every answer
 * checked, latencies measured by us (autocannon's histogram has 1 ms resolution), and the server's
 * and PostgreSQL's CPU sampled around the measured run. What a request looks like (OCPI's
 * authorize, OICP's AuthorizeStart) is the benchmark's own.
 */
import { performance } from 'node:perf_hooks'
import autocannon from 'autocannon'
import { percentile, profile, snapshot, type Profile, type Server } from './harness.ts'
import { summarizeCpuProfile } from './cpu-profile.ts'
import type { ProfilerReply } from './profiler.ts'
import type { Seeded } from './seed-keys.ts'

export interface LoadResult {
  /** Answers as expected (the benchmark's check) */
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

/** Whether an answer is the right one for the EMAID asked about. */
export type Check = (status: number, body: string, known: boolean, uid: string) => boolean
/** The request that asks about an EMAID (`uid`: identity and check character, as a car sends it). */
export type RequestFor = (uid: string, known: boolean, sequence: number) => { path: string; body?: string }

export interface LoadSettings {
  method: 'GET' | 'POST'
  connections: number
  /** share of requests naming an EMAID no key carries */
  unknownShare: number
  requestFor: RequestFor
  warmupSeconds: number
  seconds: number
  progress: (text: string) => void
}

export async function load(
  url: string,
  headers: Record<string, string>,
  seeded: Seeded,
  check: Check,
  seconds: number,
  settings: LoadSettings,
): Promise<LoadResult> {
  const { known, unknown } = seeded
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
    method: settings.method,
    headers,
    connections: settings.connections,
    duration: seconds,
    timeout: 10,
    requests: [
      {
        // A new EMAID for every request: autocannon calls this before each one, with a fresh context.
        setupRequest(request, context) {
          const isKnown = Math.random() >= settings.unknownShare
          const uid = isKnown ? known[Math.floor(Math.random() * known.length)]! : unknown[Math.floor(Math.random() * unknown.length)]!
          context.known = isKnown
          context.uid = uid
          const sequence = ++requestId
          const { path, body } = settings.requestFor(uid, isKnown, sequence)
          request.path = path
          if (body !== undefined) request.body = body
          request.headers['x-request-id'] = `bench-${sequence}`
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

export const failures = (r: LoadResult) => r.failed + r.errors

export function describeFailures(r: LoadResult) {
  const codes = Object.entries(r.statusCodes).map(([code, n]) => `${n} x ${code}`)
  return [
    `${r.failed} wrong answers (status codes: ${codes.join(', ') || 'none'})`,
    r.errors > 0 && `${r.errors} errors (${r.timeouts} timeouts)`,
    ...r.samples.map((s) => `    e.g. ${s}`),
  ]
    .filter(Boolean)
    .join('\n  ')
}

export interface Measured {
  warmup: LoadResult
  result: LoadResult
  profile: Profile
  /** The server's CPU profile of the measured run, summarized (when a profile path was given). */
  cpuProfile?: string[]
}

/** A warm-up, then the measured run with CPU snapshots around it (and the server's CPU profile when asked). */
export async function measure(
  server: Server,
  url: string,
  headers: Record<string, string>,
  seeded: Seeded,
  check: Check,
  label: string,
  /** Our database: PostgreSQL's CPU is its backends' (and the shared processes'), not others'. */
  database: string,
  settings: LoadSettings,
  cpuProfilePath?: string,
): Promise<Measured> {
  settings.progress(`${label}: warm-up, ${settings.warmupSeconds} s`)
  const warmup = await load(url, headers, seeded, check, settings.warmupSeconds, settings)
  settings.progress(`${label}: ${settings.seconds} s, ${settings.connections} connections`)
  if (cpuProfilePath) await server.ask<ProfilerReply>({ type: 'profile-start' }, 'profile-started')
  const before = await snapshot(server, true, database)
  const result = await load(url, headers, seeded, check, settings.seconds, settings)
  const after = await snapshot(server, true, database)
  let cpuProfile: string[] | undefined
  if (cpuProfilePath) {
    await server.ask<ProfilerReply>({ type: 'profile-stop', path: cpuProfilePath }, 'profile-written')
    cpuProfile = await summarizeCpuProfile(cpuProfilePath)
  }
  return { warmup, result, profile: profile(before, after, result.elapsedMs), ...(cpuProfile && { cpuProfile }) }
}

const pad = (text: string, width: number) => text.padStart(width)

/** The table of the bare baseline and the platform: req/s, latencies, failures and the ratio. */
export function comparisonLines(rows: ReadonlyArray<readonly [string, Measured | undefined]>, bare: Measured | undefined): string[] {
  const lines = [
    `${'target'.padEnd(24)}${pad('req/s', 9)}${pad('p50 ms', 9)}${pad('p99 ms', 9)}${pad('non-2xx', 9)}${pad('failed', 8)}${pad('vs bare', 9)}`,
  ]
  for (const [label, m] of rows) {
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
  return lines
}

/** What one answer costs each side in CPU, whatever the concurrency. */
export function cpuPerRequestLines(rows: ReadonlyArray<readonly [string, Measured | undefined]>): string[] {
  const lines: string[] = []
  for (const [label, m] of rows) {
    if (!m || m.result.ok === 0) continue
    const perRequest = (share: number | null) =>
      share === null ? '-' : `${(((share / 100) * m.result.elapsedMs * 1000) / m.result.ok).toFixed(0)} µs`
    const p = m.profile
    lines.push(
      `  ${label.padEnd(24)}CPU per request: server ${perRequest(p.server)} (${perRequest(p.serverSystem)} of it system time), postgres ${perRequest(p.postgres)}, load generator ${perRequest(p.generator)}`,
    )
  }
  return lines
}

/** The aims both authorization benchmarks share (figures, not tests). */
export function aimLines(bare: Measured | undefined, platform: Measured | undefined, aims: { ratio: number; p99Ms: number }): string[] {
  if (!bare || !platform) return ['  authorize: did not run']
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met')
  const ratio = platform.result.perSecond / bare.result.perSecond
  return [
    `  >= ${aims.ratio * 100}% of the bare server's req/s: ${(100 * ratio).toFixed(0)}%, ${met(ratio >= aims.ratio)}`,
    `  p99 < ${aims.p99Ms} ms: ${platform.result.p99.toFixed(2)} ms, ${met(platform.result.p99 < aims.p99Ms)}`,
  ]
}
