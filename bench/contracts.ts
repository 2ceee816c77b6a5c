/**
 * npm run bench:contracts: our MO CA under load, over HTTP.
 *
 * 1. Contracts: BENCH_CONTRACTS Plug&Charge keys created with a vehicle's provisioning certificate
 *    (provisioning check, contract key generation, certificate signing, the ISO 15118-2 key
 *    envelope, storage) with BENCH_CONNECTIONS clients, beside the bare node:crypto ECDSA P-256
 *    sign rate measured in this process during the same run (one signature is the floor of one contract).
 * 2. OCSP: BENCH_OCSP answers from the responder for one contract certificate, without a nonce (as
 *    stations ask, RFC 5019: the answer may be reused) and with a fresh nonce each (signed anew),
 *    beside a bare node:http server answering the same bytes.
 *
 * It prints figures and asserts no timing; it fails (exit 1) only when requests fail.
 *
 *   BENCH_CONTRACTS=3000  BENCH_VEHICLES=200  BENCH_OCSP=20000  BENCH_CONNECTIONS=16  BENCH_TARGET=postgres|pglite (default postgres)
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres
 *   BENCH_CONTRACTS_PROFILE=<directory>: also sample the server's CPU over the measured contracts run,
 *     write contracts.cpuprofile there and print where the time went (the sampling costs a little).
 *
 * Needs the `openssl` command for making OCSP requests (not for the contracts).
 */
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { performance } from 'node:perf_hooks'
import autocannon from 'autocannon'
import { toPem } from '../src/core/pki/encoding.ts'
import { makeOemPki } from '../test/oem-pki.ts'
import {
  benchOrganization,
  call,
  cleanUpOnInterrupt,
  cleanups,
  idleCheck,
  intEnv,
  percentile,
  postgresDatabase,
  profile,
  profileLines,
  snapshot,
  progressOf,
  runCleanups,
  startServer,
  waitForHealth,
  BUSY_MACHINE,
} from './harness.ts'
import { summarizeCpuProfile } from './cpu-profile.ts'
import type { ProfilerReply } from './profiler.ts'

const CONTRACTS = intEnv('BENCH_CONTRACTS', 3000)
const OCSP = intEnv('BENCH_OCSP', 20_000)
const CONNECTIONS = intEnv('BENCH_CONNECTIONS', 16)
const TARGET = process.env.BENCH_TARGET ?? 'postgres'
if (TARGET !== 'postgres' && TARGET !== 'pglite') throw new Error(`BENCH_TARGET: postgres or pglite, got ${JSON.stringify(TARGET)}`)
const ADMIN_DATABASE_URL = process.env.BENCH_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres'
/** Distinct vehicles (each its own provisioning certificate), as a fleet registers them. */
const VEHICLES = intEnv('BENCH_VEHICLES', 200)
const PROFILE_DIR = process.env.BENCH_CONTRACTS_PROFILE ? resolve(process.env.BENCH_CONTRACTS_PROFILE) : undefined
const PROFILER = fileURLToPath(new URL('./profiler.ts', import.meta.url))

const progress = progressOf('bench:contracts')
cleanUpOnInterrupt(progress)

interface LoadResult {
  ok: number
  failed: number
  perSecond: number
  p50: number
  p99: number
}

/** `bodies` are sent in turn, one per request. */
async function load(url: string, options: { headers: Record<string, string>; bodies: Buffer[]; amount: number }): Promise<LoadResult> {
  const latencies = new Float64Array(options.amount)
  let count = 0
  let last = 0
  let next = 0
  const start = performance.now()
  const run = autocannon({
    url,
    method: 'POST',
    headers: options.headers,
    connections: CONNECTIONS,
    amount: options.amount,
    timeout: 30,
    sampleInt: 100,
    requests: [{ setupRequest: (req) => ({ ...req, body: options.bodies[next++ % options.bodies.length]! }) }],
  })
  run.on('response', (_client, _status, _bytes, latencyMs) => {
    if (count < options.amount) latencies[count++] = latencyMs
    last = performance.now()
  })
  const result = await run
  const sorted = latencies.subarray(0, count).sort()
  const elapsedMs = (last || performance.now()) - start
  return {
    ok: result['2xx'],
    failed: result.non2xx + result.errors,
    perSecond: (result['2xx'] / elapsedMs) * 1000,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
  }
}

/** ECDSA P-256 signatures per second with node:crypto, for `ms` milliseconds (what one contract certificate costs at least). */
function signRate(ms: number): number {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const tbs = randomBytes(400)
  let n = 0
  const start = performance.now()
  while (performance.now() - start < ms) {
    for (let i = 0; i < 100; i++) sign('sha256', tbs, privateKey)
    n += 100
  }
  return (n / (performance.now() - start)) * 1000
}

const row = (label: string, r: LoadResult | undefined, extra = '') =>
  r
    ? `${label.padEnd(44)}${r.perSecond.toFixed(0).padStart(9)}${r.p50.toFixed(2).padStart(9)}${r.p99.toFixed(2).padStart(9)}${String(r.failed).padStart(8)}  ${extra}`
    : `${label.padEnd(44)}  did not run`

const busy = await idleCheck()
if (busy > BUSY_MACHINE) progress(`warning: the machine is already ${busy.toFixed(0)}% busy (of one core) before the benchmark`)

const dir = await mkdtemp(join(tmpdir(), 'openpnc-bench-contracts-'))
cleanups.push(() => rm(dir, { recursive: true, force: true }))
const lines: string[] = []
let failed = false
try {
  progress(`making ${VEHICLES} vehicles' provisioning certificates`)
  const vehicles = []
  for (let i = 0; i < VEHICLES; i++) vehicles.push(await makeOemPki({ pcid: `WMIBENCHVEH${String(i).padStart(6, '0')}` }))
  const oem = vehicles[0]!
  const roots = join(dir, 'oem-root.pem')
  await writeFile(roots, toPem(oem.root))
  const adminKey = randomBytes(24).toString('base64url')
  const env: Record<string, string> = {
    OPENPNC_ADMIN_API_KEY: adminKey,
    OPENPNC_PKI_TRUSTED_ROOTS: roots,
    OPENPNC_DATA_DIR: join(dir, 'data'),
  }
  if (TARGET === 'postgres') env.DATABASE_URL = (await postgresDatabase(ADMIN_DATABASE_URL, 'openpnc_bench_contracts')).url
  progress(`starting openpnc on ${TARGET}`)
  if (PROFILE_DIR) await mkdir(PROFILE_DIR, { recursive: true })
  const server = await startServer('platform', env, PROFILE_DIR ? ['--import', PROFILER] : [])
  cleanups.push(() => server.stop())
  await waitForHealth(server.url)
  const orgKey = await benchOrganization(server.url, adminKey)
  const bodies = vehicles.map((vehicle) =>
    Buffer.from(
      JSON.stringify({
        pcid: vehicle.pcid,
        certificate: {
          oemProvisioningCertificate: vehicle.provisioning.toString('base64'),
          chain: vehicle.chain.map((c) => c.toString('base64')),
        },
      }),
    ),
  )
  const body = bodies[0]!
  const contractUrl = `${server.url}/v1/users/bench-user/charging-keys/plug-and-charge`
  const headers = { 'content-type': 'application/json', 'x-api-key': orgKey }

  progress('contracts: warm-up')
  await load(contractUrl, { headers, bodies, amount: Math.max(200, CONNECTIONS) })
  progress(`contracts: ${CONTRACTS} requests, ${CONNECTIONS} connections, with the ECDSA sign rate measured alongside`)
  const databaseName = env.DATABASE_URL && new URL(env.DATABASE_URL).pathname.slice(1)
  const before = await snapshot(server, TARGET === 'postgres', databaseName)
  if (PROFILE_DIR) await server.ask<ProfilerReply>({ type: 'profile-start' }, 'profile-started')
  const loadStart = performance.now()
  const signing = new Promise<number>((done) => setTimeout(() => done(signRate(1500)), 300))
  const contracts = await load(contractUrl, { headers, bodies, amount: CONTRACTS })
  const loadMs = performance.now() - loadStart
  const signsDuringLoad = await signing
  const after = await snapshot(server, TARGET === 'postgres', databaseName)
  let cpuProfile: string[] = []
  if (PROFILE_DIR) {
    const path = join(PROFILE_DIR, 'contracts.cpuprofile')
    await server.ask<ProfilerReply>({ type: 'profile-stop', path }, 'profile-written')
    cpuProfile = await summarizeCpuProfile(path)
  }
  const contractsProfile = profile(before, after, loadMs)
  const signsAlone = signRate(2000)
  failed ||= contracts.failed > 0

  // One contract to ask about, and its issuer.
  const created = (await call(
    server.url,
    orgKey,
    'POST',
    '/v1/users/bench-user/charging-keys/plug-and-charge',
    JSON.parse(body.toString()),
    201,
  )) as {
    contractData: { contractCertificate: string; contractSubCa2Certificate: string }
  }
  await writeFile(join(dir, 'leaf.pem'), toPem(Buffer.from(created.contractData.contractCertificate, 'base64')))
  await writeFile(join(dir, 'sub2.pem'), toPem(Buffer.from(created.contractData.contractSubCa2Certificate, 'base64')))
  const ocspRequest = (nonce: boolean, name: string) => {
    execFileSync('openssl', ['ocsp', '-issuer', 'sub2.pem', '-cert', 'leaf.pem', nonce ? '-nonce' : '-no_nonce', '-reqout', name], {
      cwd: dir,
      stdio: 'ignore',
    })
    return readFileSync(join(dir, name))
  }
  let ocspPlain: LoadResult | undefined
  let ocspNonce: LoadResult | undefined
  let ocspBare: LoadResult | undefined
  try {
    const plain = ocspRequest(false, 'plain.der')
    const nonces = Array.from({ length: 200 }, (_, i) => ocspRequest(true, `nonce-${i}.der`))
    const ocspHeaders = { 'content-type': 'application/ocsp-request' }
    progress(`OCSP: ${OCSP} nonce-less requests`)
    await load(`${server.url}/pki/ocsp`, { headers: ocspHeaders, bodies: [plain], amount: 1000 })
    ocspPlain = await load(`${server.url}/pki/ocsp`, { headers: ocspHeaders, bodies: [plain], amount: OCSP })
    progress(`OCSP: ${Math.ceil(OCSP / 4)} requests with a nonce each`)
    ocspNonce = await load(`${server.url}/pki/ocsp`, { headers: ocspHeaders, bodies: nonces, amount: Math.ceil(OCSP / 4) })
    failed ||= ocspPlain.failed > 0 || ocspNonce.failed > 0
    await server.stop()
    progress('OCSP baseline: bare node:http')
    const bare = await startServer('bare', {})
    cleanups.push(() => bare.stop())
    ocspBare = await load(`${bare.url}/pki/ocsp`, { headers: ocspHeaders, bodies: [plain], amount: OCSP })
  } catch (error) {
    progress(`OCSP part skipped: ${(error as Error).message} (it needs the openssl command to make requests)`)
  }

  lines.push(
    '',
    `bench:contracts  on ${TARGET}, ${CONNECTIONS} connections`,
    `${'case'.padEnd(44)}${'per s'.padStart(9)}${'p50 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'failed'.padStart(8)}`,
    row(`contracts issued over HTTP (${CONTRACTS})`, contracts),
    `${'node:crypto ECDSA P-256 signs, during the load'.padEnd(44)}${signsDuringLoad.toFixed(0).padStart(9)}`,
    `${'node:crypto ECDSA P-256 signs, alone'.padEnd(44)}${signsAlone.toFixed(0).padStart(9)}`,
    row(`OCSP answers, no nonce (${OCSP})`, ocspPlain, 'RFC 5019: a reused signed answer'),
    row(`OCSP answers, a nonce each (${Math.ceil(OCSP / 4)})`, ocspNonce, 'signed per request'),
    row(`bare node:http, same bytes (${OCSP})`, ocspBare, 'baseline'),
    '',
    ...profileLines([{ label: 'contracts', profile: contractsProfile, queries: true }]),
    `  server CPU per contract: ${((contractsProfile.server / 100) * (loadMs / Math.max(1, contracts.ok))).toFixed(2)} ms (the sign-rate probe runs in the load generator's process)`,
    ...cpuProfile,
    '',
    `aim (not a test): >= 500 contracts/s: ${contracts.perSecond.toFixed(0)}/s, ${contracts.perSecond >= 500 ? 'met' : 'not met'}`,
    ocspPlain
      ? `aim (not a test): >= 3000 OCSP answers/s: ${ocspPlain.perSecond.toFixed(0)}/s, ${ocspPlain.perSecond >= 3000 ? 'met' : 'not met'}`
      : 'aim (not a test): >= 3000 OCSP answers/s: not measured',
    'The load generator shares this 2-core machine with the server: figures are noisy; compare with the baselines of the same run.',
  )
} finally {
  await runCleanups(progress)
}
process.stdout.write(`${lines.join('\n')}\n`)
if (failed) {
  process.stderr.write('\n!!! bench:contracts FAILED: some requests failed, these figures are not valid !!!\n')
  process.exitCode = 1
}
