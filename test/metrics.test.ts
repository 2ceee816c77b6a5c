import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { request } from 'undici'
import { loadConfig } from '../src/config.ts'
import { saveOcpiLocations as saveLocations } from '../src/protocols/ocpi/locations.ts'
import { CpoSimulator } from '../src/sim/cpo.ts'
import { ADMIN_KEY, backends, startTestPlatform, waitFor, type TestPlatform } from './support.ts'
import { ocpiConnector, ocpiLocation } from './samples.ts'

interface Sample {
  name: string
  labels: Record<string, string>
  value: number
}
interface Family {
  help?: string
  type?: string
  samples: Sample[]
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)/
// Prometheus reads values with Go's ParseFloat, which takes Inf and NaN in any case (prom-client writes "Nan").
const VALUE = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/i
const float = (text: string) => (/^[+-]?inf$/i.test(text) ? (text.startsWith('-') ? -Infinity : Infinity) : Number(text))
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

/**
 * A strict reader of the Prometheus text exposition format (0.0.4): every line is a HELP, a TYPE,
 * or a sample of a family declared before it; label values are escaped; no series twice;
 * histogram buckets are cumulative and end in +Inf = _count. Throws naming the line otherwise.
 */
function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>()
  const seen = new Set<string>()
  const familyOf = (name: string) => {
    if (families.has(name)) return name
    for (const suffix of ['_bucket', '_sum', '_count']) {
      const base = name.endsWith(suffix) ? name.slice(0, -suffix.length) : undefined
      if (base && ['histogram', 'summary'].includes(families.get(base)?.type ?? '')) return base
    }
    return undefined
  }
  assert.ok(text.endsWith('\n'), 'the exposition ends with a line feed')
  text
    .slice(0, -1)
    .split('\n')
    .forEach((line, index) => {
      const where = `line ${index + 1}: ${line}`
      if (line === '') return
      const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line)
      if (comment) {
        const [, kind, name, rest] = comment
        assert.match(name!, METRIC_NAME, where)
        const family = families.get(name!) ?? { samples: [] }
        families.set(name!, family)
        assert.equal(family.samples.length, 0, `${where}: HELP/TYPE after the family's samples`)
        if (kind === 'HELP') {
          assert.equal(family.help, undefined, `${where}: second HELP`)
          family.help = rest
        } else {
          assert.equal(family.type, undefined, `${where}: second TYPE`)
          assert.ok(TYPES.has(rest!), `${where}: unknown type`)
          family.type = rest
        }
        return
      }
      assert.ok(!line.startsWith('#') || line.startsWith('# '), where)
      if (line.startsWith('#')) return
      const head = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^]*\})? (\S+)( -?\d+)?$/.exec(line)
      assert.ok(head, `${where}: not a sample`)
      const [, name, labelText, valueText] = head
      const labels: Record<string, string> = {}
      if (labelText) {
        let rest = labelText.slice(1, -1)
        while (rest.length > 0) {
          const label = LABEL.exec(rest)
          assert.ok(label, `${where}: bad label at ${rest}`)
          assert.ok(!(label[1]! in labels), `${where}: label ${label[1]} twice`)
          labels[label[1]!] = label[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c))
          rest = rest.slice(label[0].length)
        }
      }
      assert.match(valueText!, VALUE, `${where}: bad value`)
      const family = familyOf(name!)
      assert.ok(family, `${where}: sample of an undeclared family`)
      const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`
      assert.ok(!seen.has(key), `${where}: series twice`)
      seen.add(key)
      families.get(family)!.samples.push({ name: name!, labels, value: float(valueText!) })
    })
  for (const [name, family] of families) {
    assert.ok(family.help !== undefined && family.type !== undefined, `${name} has HELP and TYPE`)
    if (family.type !== 'histogram') continue
    const series = new Map<string, Sample[]>()
    for (const sample of family.samples.filter((s) => s.name === `${name}_bucket`)) {
      const { le, ...rest } = sample.labels
      assert.ok(le !== undefined, `${name}_bucket has le`)
      const key = JSON.stringify(Object.entries(rest).sort())
      series.set(key, [...(series.get(key) ?? []), sample])
    }
    for (const [key, buckets] of series) {
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(float(buckets[i]!.labels.le!) > float(buckets[i - 1]!.labels.le!), `${name} buckets ascend`)
        assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, `${name} buckets are cumulative`)
      }
      assert.equal(buckets.at(-1)!.labels.le, '+Inf', `${name} ends with +Inf`)
      const count = family.samples.find((s) => s.name === `${name}_count` && JSON.stringify(Object.entries(s.labels).sort()) === key)
      assert.equal(count?.value, buckets.at(-1)!.value, `${name}: +Inf bucket = _count`)
    }
  }
  return families
}

/** The value of one series, 0 when it is not there yet. */
function valueOf(families: Map<string, Family>, family: string, name: string, labels: Record<string, string> = {}): number {
  const samples = families.get(family)?.samples ?? []
  const match = samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
  return match?.value ?? 0
}

describe('metrics and shutdown settings', () => {
  test('OPENPNC_METRICS_PORT and OPENPNC_SHUTDOWN_TIMEOUT_MS are validated, naming the variable', () => {
    assert.equal(loadConfig({}).metricsPort, undefined)
    assert.equal(loadConfig({}).shutdownTimeoutMs, 25_000)
    assert.equal(loadConfig({ OPENPNC_METRICS_PORT: '9464' }).metricsPort, 9464)
    for (const port of ['metrics', '70000', '-1']) {
      assert.throws(() => loadConfig({ OPENPNC_METRICS_PORT: port }), /OPENPNC_METRICS_PORT/)
    }
    assert.throws(() => loadConfig({ PORT: '9000', OPENPNC_METRICS_PORT: '9000' }), /OPENPNC_METRICS_PORT must differ from PORT/)
    assert.equal(loadConfig({ PORT: '0', OPENPNC_METRICS_PORT: '0' }).metricsPort, 0, 'two ports picked by the system')
    for (const timeout of ['soon', '0', '99']) {
      assert.throws(() => loadConfig({ OPENPNC_SHUTDOWN_TIMEOUT_MS: timeout }), /OPENPNC_SHUTDOWN_TIMEOUT_MS/)
    }
  })
})

describe('the Prometheus text reader of these tests', () => {
  test('refuses what the format does not allow', () => {
    assert.throws(() => parsePrometheus('x 1\n'), /undeclared/)
    assert.throws(() => parsePrometheus('# HELP x h\n# TYPE x gauge\nx{a="1} 1\n'), /label/)
    assert.throws(() => parsePrometheus('# HELP x h\n# TYPE x gauge\nx one\n'), /bad value/)
    assert.throws(() => parsePrometheus('# HELP x h\n# TYPE x gauge\nx 1\nx 2\n'), /twice/)
    assert.throws(
      () => parsePrometheus('# HELP h h\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'),
      /cumulative/,
    )
    const parsed = parsePrometheus('# HELP x a "help"\n# TYPE x counter\nx{a="q\\"\\\\",b="2"} 3.5e0\n')
    assert.deepEqual(parsed.get('x')!.samples, [{ name: 'x', labels: { a: 'q"\\', b: '2' }, value: 3.5 }])
  })
})

const location = (id: string, latitude: string) =>
  ocpiLocation(id, latitude, '4.895168', [
    { uid: 'E1', status: 'AVAILABLE', connectors: [ocpiConnector('1')], last_updated: '2026-01-01T00:00:00Z' },
  ])

for (const backend of backends()) {
  describe(`metrics (${backend})`, () => {
    let t: TestPlatform
    let orgKey: string
    let cpo: CpoSimulator
    let partnerId: string

    const scrape = async () => {
      const response = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${ADMIN_KEY}` } })
      assert.equal(response.statusCode, 200, response.body)
      assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/)
      return parsePrometheus(response.body)
    }

    before(async () => {
      t = await startTestPlatform(
        backend,
        { OPENPNC_METRICS_PORT: '0', OPENPNC_OCPI_RETRY_BASE_MS: '50', OPENPNC_OCPI_RETRY_MAX_MS: '200', OPENPNC_OCPI_PUSH_POLL_MS: '100' },
        { listen: true },
      )
      orgKey = (await t.createOrganization({ name: 'Metrics Mobility' })).apiKey
      await t.request(orgKey, { method: 'POST', url: '/v1/users', payload: { id: 'driver-1' } })
      await t.request(orgKey, {
        method: 'POST',
        url: '/v1/users/driver-1/charging-keys/plug-and-charge',
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-C0AD21B13-P' },
      })
      const partner = await t.createOcpiPartner('Metrics CPO')
      partnerId = partner.id
      cpo = new CpoSimulator({ countryCode: 'NL', partyId: 'MET' })
      await cpo.start()
      await cpo.registerWith(partner.versionsUrl, partner.tokenA)
    })
    after(async () => {
      await cpo.stop().catch(() => {})
      await t.close()
    })

    test('the exposition parses as the Prometheus text format, with process metrics', async () => {
      const families = await scrape()
      for (const name of [
        'openpnc_http_requests_total',
        'openpnc_http_request_duration_seconds',
        'openpnc_authorization_decisions_total',
        'openpnc_authorization_decision_duration_seconds',
        'openpnc_key_directory_keys',
        'openpnc_geosearch_document_cache_hits_total',
        'openpnc_geosearch_document_cache_misses_total',
        'openpnc_database_pool_connections',
        'openpnc_ocpi_token_delivery_backlog',
        'openpnc_ocpi_token_delivery_failures_total',
        'openpnc_process_resident_memory_bytes',
        'openpnc_nodejs_eventloop_lag_seconds',
      ]) {
        assert.ok(families.has(name), `${name} is exposed`)
      }
      assert.equal(families.get('openpnc_http_request_duration_seconds')!.type, 'histogram')
      assert.equal(families.get('openpnc_authorization_decisions_total')!.type, 'counter')
    })

    test('an HTTP request counts under its route pattern, method and status class, never its URL', async () => {
      const labels = { route: '/v1/users/:userId', method: 'GET', status: '2xx' }
      const before = valueOf(await scrape(), 'openpnc_http_requests_total', 'openpnc_http_requests_total', labels)
      assert.equal((await t.request(orgKey, { method: 'GET', url: '/v1/users/driver-1' })).statusCode, 200)
      const missing = await t.request(orgKey, { method: 'GET', url: '/v1/users/nobody-7f3a' })
      assert.equal(missing.statusCode, 404)
      await t.app.inject({ method: 'GET', url: '/scan/wp-admin/42' })
      const families = await scrape()
      assert.equal(valueOf(families, 'openpnc_http_requests_total', 'openpnc_http_requests_total', labels), before + 1)
      assert.ok(
        valueOf(families, 'openpnc_http_requests_total', 'openpnc_http_requests_total', { ...labels, status: '4xx' }) >= 1,
        'the 404 of a known route counts under its pattern',
      )
      assert.ok(
        valueOf(families, 'openpnc_http_requests_total', 'openpnc_http_requests_total', { route: '(unmatched)', status: '4xx' }) >= 1,
      )
      const exposition = families
        .get('openpnc_http_requests_total')!
        .samples.map((s) => JSON.stringify(s.labels))
        .join()
      assert.doesNotMatch(exposition, /driver-1|nobody-7f3a|wp-admin/, 'no raw URL reaches a label')
      const durations = valueOf(families, 'openpnc_http_request_duration_seconds', 'openpnc_http_request_duration_seconds_count', labels)
      assert.equal(durations, before + 1)
    })

    test('an OCPI authorization counts as a decision by protocol and answer, with its latency', async () => {
      const labels = { protocol: 'ocpi', answer: 'ALLOWED' }
      const scraped = await scrape()
      const allowed = valueOf(scraped, 'openpnc_authorization_decisions_total', 'openpnc_authorization_decisions_total', labels)
      const unknown = valueOf(scraped, 'openpnc_authorization_decisions_total', 'openpnc_authorization_decisions_total', {
        protocol: 'ocpi',
        answer: 'UNKNOWN',
      })
      assert.equal((await cpo.authorize('DE8PSC0AD21B13P', { type: 'EMAID' })).data?.allowed, 'ALLOWED')
      assert.equal((await cpo.authorize('DE8PSC0AD21B13P', { type: 'EMAID' })).data?.allowed, 'ALLOWED')
      assert.equal((await cpo.authorize('DE8PSXXXXXXXXX1', { type: 'EMAID' })).httpStatus, 404)
      const families = await scrape()
      assert.equal(valueOf(families, 'openpnc_authorization_decisions_total', 'openpnc_authorization_decisions_total', labels), allowed + 2)
      assert.equal(
        valueOf(families, 'openpnc_authorization_decisions_total', 'openpnc_authorization_decisions_total', {
          protocol: 'ocpi',
          answer: 'UNKNOWN',
        }),
        unknown + 1,
      )
      const latency = 'openpnc_authorization_decision_duration_seconds'
      assert.equal(valueOf(families, latency, `${latency}_count`, labels), allowed + 2)
      assert.ok(valueOf(families, latency, `${latency}_sum`, labels) > 0)
    })

    test('the keys-in-memory gauge is the number of keys the directory holds', async () => {
      // A change leaves the directory until it is read again; a reload holds every key, as at start.
      await t.platform.keyDirectory.reload()
      const { count } = (
        await sql<{
          count: string
        }>`SELECT count(*)::text AS count FROM charging_keys k JOIN users u ON u.id = k.user_id`.execute(t.platform.db)
      ).rows[0]!
      assert.ok(Number(count) >= 2, 'the virtual key and the Plug&Charge key')
      const families = await scrape()
      assert.equal(valueOf(families, 'openpnc_key_directory_keys', 'openpnc_key_directory_keys'), Number(count))
      assert.equal(valueOf(families, 'openpnc_key_directory_loaded', 'openpnc_key_directory_loaded'), 1)
    })

    test('a repeated geosearch moves the document cache hits', async () => {
      await saveLocations(t.platform.db, null, [location('M1', '52.370216'), location('M2', '52.371000')])
      const search = () =>
        t.request(orgKey, { method: 'POST', url: '/v1/geosearch/radius?latitude=52.370216&longitude=4.895168', payload: {} })
      const hits = (f: Map<string, Family>) =>
        valueOf(f, 'openpnc_geosearch_document_cache_hits_total', 'openpnc_geosearch_document_cache_hits_total')
      const misses = (f: Map<string, Family>) =>
        valueOf(f, 'openpnc_geosearch_document_cache_misses_total', 'openpnc_geosearch_document_cache_misses_total')
      const start = await scrape()
      const first = await search()
      assert.equal(first.statusCode, 200, first.body)
      const afterFirst = await scrape()
      assert.ok(misses(afterFirst) >= misses(start) + 2, 'the first search reads both documents')
      await search()
      const afterSecond = await scrape()
      assert.equal(hits(afterSecond), hits(afterFirst) + 2, 'the second one finds both in memory')
      assert.ok(valueOf(afterSecond, 'openpnc_geosearch_document_cache_bytes', 'openpnc_geosearch_document_cache_bytes') > 0)
    })

    test('database pool usage is reported as total, idle and waiting connections', async () => {
      const families = await scrape()
      const state = (s: string) => valueOf(families, 'openpnc_database_pool_connections', 'openpnc_database_pool_connections', { state: s })
      assert.ok(state('total') >= 1)
      assert.ok(state('idle') <= state('total'))
      assert.equal(state('waiting'), 0)
    })

    test('failed token pushes count per partner and show as its backlog', async () => {
      const failures = (f: Map<string, Family>) =>
        valueOf(f, 'openpnc_ocpi_token_delivery_failures_total', 'openpnc_ocpi_token_delivery_failures_total', { partner: partnerId })
      const backlog = (f: Map<string, Family>) =>
        valueOf(f, 'openpnc_ocpi_token_delivery_backlog', 'openpnc_ocpi_token_delivery_backlog', { partner: partnerId })
      await waitFor(async () => backlog(await scrape()) === 0, 10_000, 'the first pushes are delivered')
      const before = failures(await scrape())
      await cpo.stop()
      await t.request(orgKey, { method: 'POST', url: '/v1/users', payload: { id: 'driver-2' } })
      await waitFor(async () => failures(await scrape()) > before, 10_000, 'a failed push is counted')
      const families = await scrape()
      assert.ok(backlog(families) >= 1, 'the undelivered token is backlog')
      assert.ok(
        valueOf(families, 'openpnc_ocpi_token_delivery_failing', 'openpnc_ocpi_token_delivery_failing', { partner: partnerId }) >= 1,
      )
    })

    test('metrics need the platform admin key: 401 without one, 403 for an organization key', async () => {
      const none = await t.app.inject({ method: 'GET', url: '/metrics' })
      assert.equal(none.statusCode, 401)
      assert.equal(none.json().error.code, 'missing_api_key')
      const wrong = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: 'Bearer not-a-key' } })
      assert.equal(wrong.statusCode, 401)
      const organization = await t.app.inject({ method: 'GET', url: '/metrics', headers: { 'x-api-key': orgKey } })
      assert.equal(organization.statusCode, 403)
      assert.equal(organization.json().error.code, 'platform_key_required')
      const bearer = await t.app.inject({ method: 'GET', url: '/metrics', headers: { authorization: `Bearer ${orgKey}` } })
      assert.equal(bearer.statusCode, 403)
      const admin = await t.app.inject({ method: 'GET', url: '/metrics', headers: { 'x-api-key': ADMIN_KEY } })
      assert.equal(admin.statusCode, 200)
    })

    test('the metrics port serves the same metrics without a key, and nothing else', async () => {
      assert.ok(t.metricsUrl, 'OPENPNC_METRICS_PORT=0 listens on a port of its own')
      assert.notEqual(t.metricsUrl, t.url)
      const response = await request(`${t.metricsUrl}/metrics`)
      assert.equal(response.statusCode, 200)
      assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/)
      const families = parsePrometheus(await response.body.text())
      assert.ok(families.has('openpnc_authorization_decisions_total'))
      const other = await request(`${t.metricsUrl}/v1/users`)
      assert.equal(other.statusCode, 404)
      await other.body.dump()
    })
  })
}
