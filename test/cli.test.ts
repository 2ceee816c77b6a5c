import assert from 'node:assert/strict'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { seedMigratedPglite } from './pglite-template.ts'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = ['--import', 'tsx', join(ROOT, 'src/cli.ts')]
const ADMIN_KEY = 'cli-test-admin-key-0123456789abcdef'

// The tests share one server and are independent of each other; each spawns the CLI a few times
// (about a second of start-up each), so they run side by side.
describe('openpnc CLI against a running server', { concurrency: 4 }, () => {
  let dataDir: string
  let server: ChildProcess
  let url: string
  const env = () => ({ ...process.env, OPENPNC_ADMIN_API_KEY: ADMIN_KEY, OPENPNC_URL: url, OPENPNC_DATA_DIR: dataDir })

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'openpnc-cli-'))
    await seedMigratedPglite(dataDir)
    server = spawn(process.execPath, [...CLI, 'serve'], {
      cwd: ROOT,
      env: {
        ...process.env,
        PORT: '0',
        OPENPNC_DATA_DIR: dataDir,
        OPENPNC_ADMIN_API_KEY: ADMIN_KEY,
        OPENPNC_SANDBOX: 'false',
        // the simulated CPOs listen on loopback
        OPENPNC_ALLOW_PRIVATE_PARTNER_URLS: 'true',
        DATABASE_URL: '',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    url = await new Promise<string>((resolve, reject) => {
      let output = ''
      server.stdout!.on('data', (chunk: Buffer) => {
        output += chunk
        const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
        if (match) resolve(match[1]!)
      })
      server.once('exit', (code) => reject(new Error(`server exited with ${code}: ${output}`)))
    })
  })

  after(async () => {
    server.kill('SIGTERM')
    await new Promise((resolve) => server.once('exit', resolve))
    await rm(dataDir, { recursive: true, force: true })
  })

  test('org create --json creates a Plug&Charge organization and prints its API key', async () => {
    const { stdout } = await run(process.execPath, [...CLI, 'org', 'create', '--name', 'ACME', '--prefix', 'DE-ABC', '--pnc', '--json'], {
      cwd: ROOT,
      env: env(),
    })
    const created = JSON.parse(stdout)
    assert.equal(created.organization.name, 'ACME')
    assert.deepEqual(created.organization.contractIdPrefixes, ['DE-ABC'])
    assert.equal(created.organization.plugAndCharge.enabled, true)
    assert.match(created.apiKey, /^opk_/)

    const response = await fetch(`${url}/v1/users`, {
      method: 'POST',
      headers: { 'x-api-key': created.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ id: 'cli-user' }),
    })
    assert.equal(response.status, 201)

    const { stdout: listed } = await run(process.execPath, [...CLI, 'org', 'list', '--json'], { cwd: ROOT, env: env() })
    assert.ok(JSON.parse(listed).organizations.some((o: { id: string }) => o.id === created.organization.id))

    const { stdout: key } = await run(
      process.execPath,
      [...CLI, 'org', 'api-key', 'create', created.organization.id, '--scope', 'geosearch', '--json'],
      { cwd: ROOT, env: env() },
    )
    assert.deepEqual(JSON.parse(key).scopes, ['geosearch'])
  })

  test('ocpi partner create and sim cpo: a simulated CPO registers and authorizes a Plug&Charge key', async () => {
    const { stdout } = await run(process.execPath, [...CLI, 'org', 'create', '--name', 'PnC', '--prefix', 'DE-8PS', '--pnc', '--json'], {
      cwd: ROOT,
      env: env(),
    })
    const apiKey = JSON.parse(stdout).apiKey
    const headers = { 'x-api-key': apiKey, 'content-type': 'application/json' }
    await fetch(`${url}/v1/users`, { method: 'POST', headers, body: JSON.stringify({ id: 'd' }) })
    const key = await fetch(`${url}/v1/users/d/charging-keys/plug-and-charge`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ pcid: 'WDBRF61J21F123456' }),
    })
    const { contractId } = (await key.json()) as { contractId: string }
    const partner = JSON.parse(
      (await run(process.execPath, [...CLI, 'ocpi', 'partner', 'create', '--name', 'Sim', '--json'], { cwd: ROOT, env: env() })).stdout,
    )
    const simulator = spawn(
      process.execPath,
      [...CLI, 'sim', 'cpo', '--port', '0', '--versions-url', partner.versionsUrl, '--token-a', partner.tokenA, '--authorize', contractId],
      { cwd: ROOT, env: env(), stdio: ['ignore', 'pipe', 'inherit'] },
    )
    try {
      const output = await new Promise<string>((resolve, reject) => {
        let text = ''
        simulator.stdout!.on('data', (chunk: Buffer) => {
          text += chunk
          if (/"allowed"/.test(text) && /\n}\n/.test(text)) resolve(text)
        })
        simulator.once('exit', (code) => reject(new Error(`simulator exited with ${code}: ${text}`)))
      })
      assert.match(output, /registered with openpnc on OCPI 2\.3\.0/)
      assert.match(output, /"allowed": "ALLOWED"/)
      const listed = JSON.parse(
        (await run(process.execPath, [...CLI, 'ocpi', 'partner', 'list', '--json'], { cwd: ROOT, env: env() })).stdout,
      )
      assert.equal(listed.partners.find((p: { id: string }) => p.id === partner.id).status, 'registered')

      const suspended = await run(process.execPath, [...CLI, 'ocpi', 'partner', 'suspend', partner.id], { cwd: ROOT, env: env() })
      assert.match(suspended.stdout, new RegExp(`partner ${partner.id} suspended since `))
      const whileSuspended = (await run(process.execPath, [...CLI, 'ocpi', 'partner', 'list'], { cwd: ROOT, env: env() })).stdout
      assert.match(whileSuspended, new RegExp(`${partner.id}  Sim  registered \\(suspended\\)`))
      const resumed = await run(process.execPath, [...CLI, 'ocpi', 'partner', 'resume', partner.id], { cwd: ROOT, env: env() })
      assert.match(resumed.stdout, new RegExp(`partner ${partner.id} active`))
      const deleted = await run(process.execPath, [...CLI, 'ocpi', 'partner', 'delete', partner.id], { cwd: ROOT, env: env() })
      assert.match(deleted.stdout, new RegExp(`partner ${partner.id} deleted`))
      const gone = (await run(process.execPath, [...CLI, 'ocpi', 'partner', 'list', '--json'], { cwd: ROOT, env: env() })).stdout
      assert.equal(
        JSON.parse(gone).partners.some((p: { id: string }) => p.id === partner.id),
        false,
      )
    } finally {
      simulator.kill('SIGTERM')
    }
  })

  test('ocpi partner create --no-push-all-tokens, dead-letters and replay: a partner without the first full sync, and its parked deliveries', async () => {
    const cli = async (...args: string[]) =>
      (await run(process.execPath, [...CLI, 'ocpi', 'partner', ...args], { cwd: ROOT, env: env() })).stdout
    const partner = JSON.parse(await cli('create', '--name', 'Later only', '--no-push-all-tokens', '--json'))
    const listed = JSON.parse(await cli('list', '--json')).partners.find((p: { id: string }) => p.id === partner.id)
    assert.equal(listed.pushAllTokens, false)
    assert.equal((await cli('dead-letters', partner.id)).trim(), 'no dead letters')
    assert.deepEqual(JSON.parse(await cli('dead-letters', partner.id, '--json')), { deadLetters: [] })
    assert.equal((await cli('replay', partner.id)).trim(), '0 deliveries queued again')
    await assert.rejects(cli('dead-letters', '00000000-0000-4000-8000-000000000000'), (error: { stderr: string }) => {
      assert.match(error.stderr, /ocpi_partner_not_found|not found/i)
      return true
    })
  })

  test('sim locations loads a generated network through the OCPI Receiver, and geosearch finds it', async () => {
    const partner = JSON.parse(
      (await run(process.execPath, [...CLI, 'ocpi', 'partner', 'create', '--name', 'Net', '--json'], { cwd: ROOT, env: env() })).stdout,
    )
    const loaded = await run(
      process.execPath,
      [...CLI, 'sim', 'locations', '--count', '25', '--seed', '3', '--versions-url', partner.versionsUrl, '--token-a', partner.tokenA],
      { cwd: ROOT, env: env() },
    )
    assert.match(loaded.stdout, /25 locations sent to openpnc/)
    const org = JSON.parse(
      (await run(process.execPath, [...CLI, 'org', 'create', '--name', 'Geo', '--json'], { cwd: ROOT, env: env() })).stdout,
    )
    const response = await fetch(`${url}/v1/geosearch/bbox`, {
      method: 'POST',
      headers: { 'x-api-key': org.apiKey, 'content-type': 'application/json' },
      body: JSON.stringify({ north: 71, south: 34, east: 40, west: -25, limit: 300 }),
    })
    const { locations } = (await response.json()) as { locations: unknown[] }
    assert.ok(locations.length >= 20 && locations.length <= 25, `${locations.length} searchable of 25 (a few are unpublished or removed)`)

    // The simulated CPO is gone with the command: it left no partner that key changes would try to reach.
    const listed = JSON.parse(
      (await run(process.execPath, [...CLI, 'ocpi', 'partner', 'list', '--json'], { cwd: ROOT, env: env() })).stdout,
    )
    assert.equal(listed.partners.find((p: { id: string }) => p.id === partner.id).status, 'unregistered')
    const headers = { 'x-api-key': org.apiKey, 'content-type': 'application/json' }
    await fetch(`${url}/v1/users`, { method: 'POST', headers, body: JSON.stringify({ id: 'after-the-load' }) })
    const after = JSON.parse(
      (await run(process.execPath, [...CLI, 'ocpi', 'partner', 'list', '--json'], { cwd: ROOT, env: env() })).stdout,
    ).partners.find((p: { id: string }) => p.id === partner.id)
    assert.equal(after.delivery.backlog, 0, 'no key change is waiting for the departed CPO')
  })

  test('--version prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'))
    const { stdout } = await run(process.execPath, [...CLI, '--version'], { cwd: ROOT, env: env() })
    assert.equal(stdout.trim(), version)
  })

  test('org api-key list shows the keys of an organization, revoked ones marked, never a secret', async () => {
    const created = JSON.parse(
      (await run(process.execPath, [...CLI, 'org', 'create', '--name', 'Keys', '--json'], { cwd: ROOT, env: env() })).stdout,
    )
    const id = created.organization.id
    const second = JSON.parse(
      (await run(process.execPath, [...CLI, 'org', 'api-key', 'create', id, '--scope', 'users', '--json'], { cwd: ROOT, env: env() }))
        .stdout,
    )
    await run(process.execPath, [...CLI, 'org', 'api-key', 'revoke', id, second.id], { cwd: ROOT, env: env() })
    const listed = JSON.parse(
      (await run(process.execPath, [...CLI, 'org', 'api-key', 'list', id, '--json'], { cwd: ROOT, env: env() })).stdout,
    )
    assert.equal(listed.apiKeys.length, 2)
    assert.equal(listed.apiKeys.find((k: { id: string }) => k.id === second.id).revoked === null, false)
    const { stdout } = await run(process.execPath, [...CLI, 'org', 'api-key', 'list', id], { cwd: ROOT, env: env() })
    assert.match(stdout, new RegExp(`^${second.id}  users  created \\S+  revoked `, 'm'))
    assert.match(stdout, / active$/m)
    assert.ok(!stdout.includes(created.apiKey) && !stdout.includes(second.apiKey))
  })

  test('revoking an unknown API key says so and exits non-zero', async () => {
    const org = JSON.parse(
      (await run(process.execPath, [...CLI, 'org', 'create', '--name', 'Revoke', '--json'], { cwd: ROOT, env: env() })).stdout,
    )
    await assert.rejects(
      run(process.execPath, [...CLI, 'org', 'api-key', 'revoke', org.organization.id, 'no-such-key'], { cwd: ROOT, env: env() }),
      (error: { code: number; stdout: string; stderr: string }) =>
        error.code === 1 &&
        error.stdout === '' &&
        error.stderr.includes(`no API key no-such-key in organization ${org.organization.id}, nothing revoked`),
    )
  })

  test('without OPENPNC_URL the admin commands reach the server on PORT', async () => {
    const { OPENPNC_URL: _, ...withoutUrl } = env()
    const { stdout } = await run(process.execPath, [...CLI, 'org', 'list', '--json'], {
      cwd: ROOT,
      env: { ...withoutUrl, PORT: new URL(url).port },
    })
    assert.ok(Array.isArray(JSON.parse(stdout).organizations))
  })

  test('a refused admin call exits non-zero with the error code', async () => {
    await assert.rejects(
      run(process.execPath, [...CLI, 'org', 'create', '--name', 'Bad', '--prefix', '88-ABC'], { cwd: ROOT, env: env() }),
      (error: { code: number; stderr: string }) => error.code === 1 && /invalid_contract_id_prefix/.test(error.stderr),
    )
  })

  test('opcp status on a server without a Hubject connection says opcp_not_configured and exits non-zero', async () => {
    await assert.rejects(
      run(process.execPath, [...CLI, 'opcp', 'status'], { cwd: ROOT, env: env() }),
      (error: { code: number; stderr: string }) => error.code === 1 && /409 opcp_not_configured/.test(error.stderr),
    )
  })

  test("sim opcp add-vehicle puts a vehicle's provisioning certificate in a running simulator's PCP and prints its PCID", async () => {
    const { OpcpSimulator } = await import('../src/sim/opcp/sim.ts')
    const sim = new OpcpSimulator()
    await sim.start()
    try {
      const { stdout } = await run(process.execPath, [...CLI, 'sim', 'opcp', 'add-vehicle', 'WMICLITESTCAR0001', '--url', sim.url], {
        cwd: ROOT,
        env: env(),
      })
      assert.equal(stdout.trim(), 'WMICLITESTCAR0001')
      assert.ok(sim.vehicles.has('WMICLITESTCAR0001'))
    } finally {
      await sim.stop()
    }
  })

  test('migrate brings an embedded database up to date', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'openpnc-migrate-'))
    const first = await run(process.execPath, [...CLI, 'migrate'], {
      cwd: ROOT,
      env: { ...process.env, OPENPNC_DATA_DIR: dir, DATABASE_URL: '' },
    })
    assert.match(first.stdout, /applied: 0001_foundation/)
    const second = await run(process.execPath, [...CLI, 'migrate'], {
      cwd: ROOT,
      env: { ...process.env, OPENPNC_DATA_DIR: dir, DATABASE_URL: '' },
    })
    assert.match(second.stdout, /up to date/)
    await rm(dir, { recursive: true, force: true })
  })
})
