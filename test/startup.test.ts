import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { ConfigError, loadConfig } from '../src/config.ts'
import { startPlatform } from '../src/main.ts'

describe('configuration', () => {
  test('defaults apply when the environment says nothing', () => {
    const config = loadConfig({})
    assert.equal(config.port, 8080)
    assert.equal(config.dataDir, './data')
    assert.equal(config.databaseUrl, undefined)
    assert.deepEqual(config.emaidPrefixParts, { country: 'DE', provider: '8PS' })
  })

  test('an invalid setting is refused naming its variable', () => {
    assert.throws(
      () => loadConfig({ PORT: 'eighty' }),
      (e: Error) => e instanceof ConfigError && /PORT/.test(e.message),
    )
    assert.throws(() => loadConfig({ DATABASE_URL: 'mysql://x' }), /DATABASE_URL/)
    assert.throws(() => loadConfig({ OPENPNC_EMAID_PREFIX: 'DE-8' }), /OPENPNC_EMAID_PREFIX/)
    assert.throws(() => loadConfig({ OPENPNC_ADMIN_API_KEY: 'short' }), /OPENPNC_ADMIN_API_KEY/)
  })
})

describe('first start on a new embedded database', () => {
  let dataDir: string
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'openpnc-start-'))
  })
  after(() => rm(dataDir, { recursive: true, force: true }))

  const start = (announced: string[]) =>
    startPlatform(loadConfig({ OPENPNC_DATA_DIR: dataDir, LOG_LEVEL: 'silent' }), {
      listen: false,
      announce: (text) => announced.push(text),
    })

  test('creates a Plug&Charge sandbox organization, prints its API key and writes it and an admin key to the data dir', async () => {
    const announced: string[] = []
    const running = await start(announced)
    try {
      const demoKey = readFileSync(join(dataDir, 'demo-api-key'), 'utf8').trim()
      const adminKey = readFileSync(join(dataDir, 'admin-api-key'), 'utf8').trim()
      assert.ok(announced.join('').includes(demoKey), 'the demo key is printed')
      assert.ok(!announced.join('').includes(adminKey), 'the admin key is not printed')
      const keys = await running.server.inject({
        method: 'GET',
        url: '/v1/users/demo-driver/charging-keys',
        headers: { 'x-api-key': demoKey },
      })
      assert.equal(keys.statusCode, 200)
      assert.ok(keys.json().keys.some((k: { type: string }) => k.type === 'plug_and_charge'))
      const orgs = await running.server.inject({ method: 'GET', url: '/admin/v1/organizations', headers: { 'x-api-key': adminKey } })
      assert.equal(orgs.statusCode, 200)
      const [sandbox] = orgs.json().organizations
      assert.equal(sandbox.plugAndCharge.enabled, true)
      assert.deepEqual(sandbox.contractIdPrefixes, ['DE-8PS'])
      // the documentation's example is free for the walk-through
      await running.server.inject({ method: 'POST', url: '/v1/users', headers: { 'x-api-key': demoKey }, payload: { id: 'readme' } })
      const example = await running.server.inject({
        method: 'POST',
        url: '/v1/users/readme/charging-keys/plug-and-charge',
        headers: { 'x-api-key': demoKey },
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-C0AD21B13-Q' },
      })
      assert.equal(example.statusCode, 201)
      // and a charging network to search
      const near = await running.server.inject({
        method: 'POST',
        url: '/v1/geosearch/radius?latitude=52.52&longitude=13.405&distance=10000',
        headers: { 'x-api-key': demoKey },
        payload: { filters: { capabilities: ['PLUG_AND_CHARGE_CAPABLE'] }, limit: 20 },
      })
      assert.equal(near.statusCode, 200)
      assert.equal(near.json().locations.length, 20)
    } finally {
      await running.stop()
    }
  })

  test('a second start keeps the data and creates neither a second sandbox nor a new admin key', async () => {
    const adminKey = readFileSync(join(dataDir, 'admin-api-key'), 'utf8').trim()
    const announced: string[] = []
    const running = await start(announced)
    try {
      assert.equal(announced.length, 0)
      assert.equal(readFileSync(join(dataDir, 'admin-api-key'), 'utf8').trim(), adminKey)
      const orgs = await running.server.inject({ method: 'GET', url: '/admin/v1/organizations', headers: { 'x-api-key': adminKey } })
      assert.equal(orgs.json().organizations.length, 1)
    } finally {
      await running.stop()
    }
  })

  test('OPENPNC_SANDBOX=false starts empty', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'openpnc-empty-'))
    const running = await startPlatform(loadConfig({ OPENPNC_DATA_DIR: empty, LOG_LEVEL: 'silent', OPENPNC_SANDBOX: 'false' }), {
      listen: false,
      announce: () => assert.fail('nothing to announce'),
    })
    await running.stop()
    assert.equal(existsSync(join(empty, 'demo-api-key')), false)
    await rm(empty, { recursive: true, force: true })
  })
})
