/**
 * npm run bench:opcp: Plug&Charge contracts through Hubject's ecosystem (OPCP), against the
 * simulator (a real HTTP peer in this process), over HTTP end to end.
 *
 * 1. Online: BENCH_OPCP_VEHICLES / 2 keys made from a PCID alone (`certificate.source: "pcp"`:
 *    PCP fetch, provisioning check, contract issuance, storage) with BENCH_CONNECTIONS clients; then
 *    the time until every contract is signed by the CPS and stored in the CCP (the delivery engine).
 * 2. Outage: the other half made while Hubject is down (keys at once, contracts pending), then the
 *    time from Hubject's return until every contract is published; each must be signed exactly once.
 * Baseline, same run: the same Hubject calls (PCP fetch, CPS sign) made directly by this process,
 * without openpnc: the floor that the simulator and the loopback set.
 *
 * It prints figures and asserts no timing; it fails (exit 1) when requests fail or a contract is
 * signed twice.
 *
 *   BENCH_OPCP_VEHICLES=400  BENCH_CONNECTIONS=8  BENCH_TARGET=postgres|pglite (default postgres)
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { performance } from 'node:perf_hooks'
import { request } from 'undici'
import { OpcpSimulator } from '../src/sim/opcp/sim.ts'
import {
  benchOrganization,
  call,
  cleanUpOnInterrupt,
  cleanups,
  idleCheck,
  intEnv,
  percentile,
  postgresDatabase,
  progressOf,
  runCleanups,
  startServer,
  waitForHealth,
  BUSY_MACHINE,
} from './harness.ts'

const VEHICLES = intEnv('BENCH_OPCP_VEHICLES', 400)
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 8)
const TARGET = process.env.BENCH_TARGET ?? 'postgres'
if (TARGET !== 'postgres' && TARGET !== 'pglite') throw new Error(`BENCH_TARGET: postgres or pglite, got ${JSON.stringify(TARGET)}`)
const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'

const progress = progressOf('bench:opcp')
cleanUpOnInterrupt(progress)

interface Rate {
  ok: number
  failed: number
  perSecond: number
  p50: number
  p99: number
}

/** Runs `task` for each item with `concurrency` in flight; rates and latencies of the tasks. */
async function pool<T>(items: readonly T[], concurrency: number, task: (item: T) => Promise<boolean>): Promise<Rate> {
  const latencies = new Float64Array(items.length)
  let next = 0
  let ok = 0
  let failed = 0
  const start = performance.now()
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) {
      const at = performance.now()
      const passed = await task(items[i]!).catch(() => false)
      latencies[i] = performance.now() - at
      if (passed) ok++
      else failed++
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker))
  const elapsed = performance.now() - start
  latencies.sort()
  return { ok, failed, perSecond: (ok / elapsed) * 1000, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) }
}

const row = (label: string, r: Rate, extra = '') =>
  `${label.padEnd(50)}${r.perSecond.toFixed(0).padStart(9)}${r.p50.toFixed(1).padStart(9)}${r.p99.toFixed(1).padStart(9)}${String(r.failed).padStart(8)}  ${extra}`

const busy = await idleCheck()
if (busy > BUSY_MACHINE) progress(`warning: the machine is already ${busy.toFixed(0)}% busy (of one core) before the benchmark`)

const dir = await mkdtemp(join(tmpdir(), 'openpnc-bench-opcp-'))
cleanups.push(() => rm(dir, { recursive: true, force: true }))
const lines: string[] = []
let failed = false
try {
  const sim = new OpcpSimulator({ tokenTtlSeconds: 86_400 })
  await sim.start()
  cleanups.push(() => sim.stop())
  progress(`adding ${VEHICLES} vehicles to the simulated PCP`)
  const vehicles = []
  for (let i = 0; i < VEHICLES; i++) vehicles.push((await sim.addVehicle(`WMIBENCHOPCP${String(i).padStart(5, '0')}`)).pcid)
  const adminKey = randomBytes(24).toString('base64url')
  const env: Record<string, string> = {
    OPENPNC_ADMIN_API_KEY: adminKey,
    OPENPNC_DATA_DIR: join(dir, 'data'),
    OPENPNC_OPCP_URL: sim.url,
    OPENPNC_OPCP_TOKEN_URL: sim.tokenUrl,
    OPENPNC_OPCP_CLIENT_ID: sim.clientId,
    OPENPNC_OPCP_CLIENT_SECRET: sim.clientSecret,
    OPENPNC_OPCP_AUDIENCE: sim.audience,
    // Publishing and retries on a short clock, as an operator tuning for quick contracts would.
    OPENPNC_OCPI_PUSH_POLL_MS: '100',
    OPENPNC_OCPI_RETRY_BASE_MS: '100',
    OPENPNC_OCPI_RETRY_MAX_MS: '1000',
  }
  if (TARGET === 'postgres') env.DATABASE_URL = (await postgresDatabase(ADMIN_DATABASE_URL, 'openpnc_bench_opcp')).url
  progress(`starting openpnc on ${TARGET}`)
  const server = await startServer('platform', env)
  await waitForHealth(server.url)
  const status = async () =>
    (await call(server.url, adminKey, 'GET', '/admin/v1/opcp')) as {
      roots: { trusted: number }
      publication: { states: Record<string, number> }
    }
  for (const deadline = Date.now() + 30_000; (await status()).roots.trusted === 0;) {
    if (Date.now() > deadline) throw new Error('the RCP roots were not trusted within 30 s')
    await new Promise((r) => setTimeout(r, 100))
  }
  const orgKey = await benchOrganization(server.url, adminKey)
  const create = async (pcid: string) => {
    const answer = await request(`${server.url}/v1/users/bench-user/charging-keys/plug-and-charge`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': orgKey },
      body: JSON.stringify({ pcid, certificate: { source: 'pcp' } }),
    })
    await answer.body.dump()
    return answer.statusCode === 201
  }
  const untilPublished = async (count: number) => {
    const start = performance.now()
    for (const deadline = Date.now() + 600_000; ((await status()).publication.states.published ?? 0) < count;) {
      if (Date.now() > deadline) throw new Error(`not all ${count} contracts were published within 10 minutes`)
      await new Promise((r) => setTimeout(r, 50))
    }
    return performance.now() - start
  }
  const online = vehicles.slice(0, VEHICLES / 2)
  const outage = vehicles.slice(VEHICLES / 2)

  progress(`online: ${online.length} keys from a PCID alone, ${CONNECTIONS} connections`)
  const started = performance.now()
  const created = await pool(online, CONNECTIONS, create)
  const onlineMs = performance.now() - started + (await untilPublished(online.length))
  failed ||= created.failed > 0

  progress(`outage: ${outage.length} keys while Hubject is down, then its return`)
  sim.available = false
  const pending = await pool(outage, CONNECTIONS, create)
  failed ||= pending.failed > 0
  await new Promise((r) => setTimeout(r, 1500))
  sim.available = true
  const recoveryMs = await untilPublished(VEHICLES)

  const signed = new Map<string, number>()
  for (const c of sim.calls) {
    if (c.method !== 'PUT' || c.status !== 201) continue
    const key = (c.body as { pcid?: string }).pcid ?? ''
    signed.set(key, (signed.get(key) ?? 0) + 1)
  }
  const twice = [...signed.values()].filter((n) => n > 1).length
  failed ||= twice > 0 || signed.size !== VEHICLES

  // Baseline: the same Hubject calls made directly, for contract data the CPS accepts without a PCID.
  progress('baseline: the PCP and CPS calls alone, from this process')
  const sample = sim.contracts.values().next().value!
  const token = (
    (await (
      await request(sim.tokenUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          client_id: sim.clientId,
          client_secret: sim.clientSecret,
          audience: sim.audience,
          grant_type: 'client_credentials',
        }),
      })
    ).body.json()) as { access_token: string }
  ).access_token
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' }
  const baseline = await pool(online, CONNECTIONS, async (pcid) => {
    const pcp = await request(`${sim.url}/v1/oem/provCerts/${pcid}`, { headers })
    await pcp.body.dump()
    const cps = await request(`${sim.url}/v1/cps/contractData/signed`, {
      method: 'PUT',
      headers,
      body: JSON.stringify({ contractData: sample.contractData, xsdMsgDefNamespace: 'urn:iso:15118:2:2013:MsgDef' }),
    })
    await cps.body.dump()
    return pcp.statusCode === 200 && cps.statusCode === 201
  })
  failed ||= baseline.failed > 0
  await server.stop()

  lines.push(
    '',
    `bench:opcp  on ${TARGET}, ${CONNECTIONS} connections, ${VEHICLES} vehicles`,
    `${'case'.padEnd(50)}${'per s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'failed'.padStart(8)}`,
    row(`keys from a PCID alone, Hubject up (${online.length})`, created, 'PCP fetch + contract issued, answered'),
    `${`  ... until all published in the CCP`.padEnd(50)}${((online.length / onlineMs) * 1000).toFixed(0).padStart(9)}  contracts/s end to end (${(onlineMs / 1000).toFixed(1)} s)`,
    row(`keys from a PCID alone, Hubject down (${outage.length})`, pending, 'answered pending'),
    `${`  ... published after Hubject's return`.padEnd(50)}${((outage.length / recoveryMs) * 1000).toFixed(0).padStart(9)}  contracts/s (${(recoveryMs / 1000).toFixed(1)} s after the return)`,
    row(`baseline: PCP + CPS calls alone (${online.length})`, baseline, 'no openpnc: the simulator and loopback'),
    '',
    `signed by the CPS: ${signed.size} contracts, ${twice} of them more than once`,
    'The simulator and the load share this 2-core machine with the server: figures are noisy; compare with the baseline of the same run.',
  )
} finally {
  await runCleanups(progress)
}
process.stdout.write(`${lines.join('\n')}\n`)
if (failed) {
  process.stderr.write('\n!!! bench:opcp FAILED: requests failed or a contract was signed twice; these figures are not valid !!!\n')
  process.exitCode = 1
}
