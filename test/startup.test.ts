import assert from 'node:assert/strict'
import { existsSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { ConfigError, loadConfig } from '../src/config.ts'
import { chooseLogFormat, createLogger } from '../src/infra/logger.ts'
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
    assert.throws(() => loadConfig({ LOG_FORMAT: 'xml' }), /LOG_FORMAT/)
  })
})

describe('log format', () => {
  test('auto is pretty in a terminal and JSON otherwise; json and pretty are taken as asked', () => {
    assert.equal(loadConfig({}).logFormat, 'auto')
    assert.equal(chooseLogFormat('auto', true), 'pretty')
    assert.equal(chooseLogFormat('auto', false), 'json')
    assert.equal(chooseLogFormat('json', true), 'json')
    assert.equal(chooseLogFormat('pretty', false), 'pretty')
  })

  test('a JSON logger writes one JSON object per line, a pretty one readable text; both redact API keys', () => {
    const written = { json: [] as string[], pretty: [] as string[] }
    for (const format of ['json', 'pretty'] as const) {
      const sink = new Writable({
        write(chunk: Buffer, _encoding, done) {
          written[format].push(String(chunk))
          done()
        },
      })
      const log = createLogger('info', format, sink)
      log.info({ apiKey: 'opk_secret-value', organization: { apiKey: 'opk_other-secret' } }, 'key issued')
    }
    const json = JSON.parse(written.json.join(''))
    assert.equal(json.msg, 'key issued')
    assert.equal(json.apiKey, '[redacted]')
    const pretty = written.pretty.join('')
    assert.throws(() => JSON.parse(pretty))
    assert.match(pretty, /INFO.*key issued/)
    for (const text of [written.json.join(''), pretty]) assert.ok(!text.includes('secret'), text)
  })
})

describe('first start on a new embedded database', () => {
  let dataDir: string
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'openpnc-start-'))
  })
  after(() => rm(dataDir, { recursive: true, force: true }))

  /** Starts on the data dir with every log line (all levels, JSON) kept in `logged`. */
  const start = (logged: string[]) =>
    startPlatform(loadConfig({ OPENPNC_DATA_DIR: dataDir, LOG_LEVEL: 'trace', LOG_FORMAT: 'json' }), {
      listen: false,
      logDestination: { write: (line: string) => void logged.push(line) },
    })
  const messages = (logged: string[]) => logged.map((line) => JSON.parse(line) as { msg: string; [field: string]: unknown })

  test('creates a Plug&Charge sandbox organization, writes its API key and an admin key to the data dir and logs where, never the keys', async () => {
    const logged: string[] = []
    const running = await start(logged)
    try {
      const demoKey = readFileSync(join(dataDir, 'demo-api-key'), 'utf8').trim()
      const adminKey = readFileSync(join(dataDir, 'admin-api-key'), 'utf8').trim()
      const banner = messages(logged).find((m) => /sandbox organization created/.test(m.msg))
      assert.ok(banner, 'the sandbox is announced in the log')
      assert.equal(banner.demoApiKeyFile, join(dataDir, 'demo-api-key'))
      const started = messages(logged).find((m) => /^openpnc .* started/.test(m.msg))
      assert.equal(started?.database, 'pglite')
      assert.match(String(started?.version), /^\d+\.\d+\.\d+/)
      for (const key of [demoKey, adminKey]) assert.ok(!logged.join('').includes(key), 'no key reaches the log')
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
    assert.equal(messages(logged).at(-1)?.msg, 'shut down')
  })

  test('a second start keeps the data and creates neither a second sandbox nor a new admin key', async () => {
    const adminKey = readFileSync(join(dataDir, 'admin-api-key'), 'utf8').trim()
    const logged: string[] = []
    const running = await start(logged)
    try {
      assert.ok(!messages(logged).some((m) => /sandbox/.test(m.msg)))
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
    })
    await running.stop()
    assert.equal(existsSync(join(empty, 'demo-api-key')), false)
    await rm(empty, { recursive: true, force: true })
  })
})
