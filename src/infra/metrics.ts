import { collectDefaultMetrics, Counter, Gauge, Registry, type Metric } from 'prom-client'
import type { Allowed } from '../core/authorization/decision.ts'
import type { Logger } from './logger.ts'

/** Seconds; an authorization is answered in well under a millisecond from memory, a database read takes a few. */
const DECISION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25]
const HTTP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]

const ANSWERS: ReadonlyArray<Allowed | 'UNKNOWN'> = ['ALLOWED', 'BLOCKED', 'EXPIRED', 'NO_CREDIT', 'NOT_ALLOWED', 'UNKNOWN']
const PROTOCOLS = ['ocpi', 'oicp'] as const

/**
 * One label set of a histogram. `observe` adds to a few numbers and allocates nothing, which
 * prom-client's own children do not promise (they build a label object and a hash per call):
 * this one sits on the authorization hot path.
 */
export class HistogramChild {
  /** observations per bucket (not cumulative; summed up at scrape time) */
  readonly buckets: Float64Array
  count = 0
  sum = 0

  constructor(
    readonly labels: Readonly<Record<string, string>>,
    private readonly bounds: readonly number[],
  ) {
    this.buckets = new Float64Array(bounds.length)
  }

  observe(value: number) {
    this.count++
    this.sum += value
    const bounds = this.bounds
    for (let i = 0; i < bounds.length; i++) {
      if (value <= bounds[i]!) {
        this.buckets[i]!++
        return
      }
    }
  }
}

/**
 * A histogram whose label sets are bound once and kept by the caller; it also answers for a
 * counter of the same observations (`name_total`), so a rate needs no `_count` arithmetic.
 */
class BoundHistogram {
  private readonly children: HistogramChild[] = []

  constructor(
    registry: Registry,
    private readonly name: string,
    private readonly help: string,
    private readonly bounds: readonly number[],
    counter?: { name: string; help: string },
  ) {
    registry.registerMetric({ name, get: () => this.histogram() } as unknown as Metric)
    if (counter) registry.registerMetric({ name: counter.name, get: () => this.counter(counter) } as unknown as Metric)
  }

  child(labels: Record<string, string>): HistogramChild {
    const child = new HistogramChild(labels, this.bounds)
    this.children.push(child)
    return child
  }

  private histogram() {
    const values: Array<{ metricName: string; labels: Record<string, string | number>; value: number }> = []
    for (const child of this.children) {
      let cumulative = 0
      for (let i = 0; i < this.bounds.length; i++) {
        cumulative += child.buckets[i]!
        values.push({ metricName: `${this.name}_bucket`, labels: { ...child.labels, le: this.bounds[i]! }, value: cumulative })
      }
      values.push({ metricName: `${this.name}_bucket`, labels: { ...child.labels, le: '+Inf' }, value: child.count })
      values.push({ metricName: `${this.name}_sum`, labels: child.labels, value: child.sum })
      values.push({ metricName: `${this.name}_count`, labels: child.labels, value: child.count })
    }
    return { name: this.name, help: this.help, type: 'histogram', values, aggregator: 'sum' }
  }

  private counter(counter: { name: string; help: string }) {
    const values = this.children.map((child) => ({ labels: child.labels, value: child.count }))
    return { name: counter.name, help: counter.help, type: 'counter', values, aggregator: 'sum' }
  }
}

/** What the scrape reads from the running platform; each source is asked at scrape time only. */
export interface MetricSources {
  keyDirectory: { state: { keys: number; complete: boolean } }
  searchDocuments: { stats(): { entries: number; bytes: number; hits: number; misses: number } }
  /** per OCPI partner, what `GET /admin/v1/ocpi/partners` shows as `delivery` */
  deliveries(): Promise<Array<{ partnerId: string; backlog: number; failing: number }>>
  /** the delivery engine's rows per destination (every kind: OCPI tokens, later others) */
  destinations?(): Promise<Array<{ destination: string; kind: string; backlog: number; deadLetters: number }>>
  databasePool(): { total: number; idle: number; waiting: number }
}

/**
 * The platform's Prometheus metrics, in a registry of its own (several platforms may share a
 * process, e.g. in tests). README, "Metrics and health", lists each one.
 */
export class PlatformMetrics {
  readonly registry = new Registry()
  /** protocol -> answer -> child, bound up front: the hot path only looks them up */
  private readonly decisionChildren: Record<string, Record<string, HistogramChild>> = {}
  private readonly decisions = new BoundHistogram(
    this.registry,
    'openpnc_authorization_decision_duration_seconds',
    'Time to decide an authorization (lookup and decision, without HTTP), by protocol and answer',
    DECISION_BUCKETS,
    { name: 'openpnc_authorization_decisions_total', help: 'Authorization decisions, by protocol and answer' },
  )
  /** route -> method -> status class (1..5) -> child */
  private readonly httpChildren = new Map<string, Map<string, Array<HistogramChild | undefined>>>()
  private readonly http = new BoundHistogram(
    this.registry,
    'openpnc_http_request_duration_seconds',
    'HTTP request time until the response is sent, by route pattern, method and status class',
    HTTP_BUCKETS,
    { name: 'openpnc_http_requests_total', help: 'HTTP requests, by route pattern, method and status class' },
  )
  private readonly deliveryFailureChildren = new Map<string, { inc(): void }>()
  private readonly deliveryFailures = new Counter({
    name: 'openpnc_ocpi_token_delivery_failures_total',
    help: 'Failed token delivery attempts (each retry counts), by OCPI partner',
    labelNames: ['partner'],
    registers: [this.registry],
  })

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'openpnc_' })
    for (const protocol of PROTOCOLS) {
      const byAnswer: Record<string, HistogramChild> = {}
      for (const answer of ANSWERS) byAnswer[answer] = this.decisions.child({ protocol, answer })
      this.decisionChildren[protocol] = byAnswer
    }
  }

  /** One authorization decision. A lookup in two small objects, a few additions. */
  decided(protocol: string, answer: string, seconds: number) {
    this.decisionChildren[protocol]?.[answer]?.observe(seconds)
  }

  /** The child for one route pattern, method and status: created on first use, then reused. */
  httpChild(route: string, method: string, status: number): HistogramChild {
    let byMethod = this.httpChildren.get(route)
    if (!byMethod) this.httpChildren.set(route, (byMethod = new Map()))
    let byClass = byMethod.get(method)
    if (!byClass) byMethod.set(method, (byClass = []))
    const statusClass = Math.min(5, Math.max(1, Math.floor(status / 100)))
    return (byClass[statusClass] ??= this.http.child({ route, method, status: `${statusClass}xx` }))
  }

  deliveryFailed(partnerId: string) {
    let child = this.deliveryFailureChildren.get(partnerId)
    if (!child) this.deliveryFailureChildren.set(partnerId, (child = this.deliveryFailures.labels(partnerId)))
    child.inc()
  }

  /** Registers the gauges read from the running platform at scrape time. Call once. */
  watch(sources: MetricSources, log: Logger) {
    const registers = [this.registry]
    new Gauge({
      name: 'openpnc_key_directory_keys',
      help: 'Charging keys held in memory by the key directory',
      registers,
      collect() {
        this.set(sources.keyDirectory.state.keys)
      },
    })
    new Gauge({
      name: 'openpnc_key_directory_loaded',
      help: '1 once every key is in memory (unknown identifiers are answered without the database), else 0',
      registers,
      collect() {
        this.set(sources.keyDirectory.state.complete ? 1 : 0)
      },
    })
    // Counters that the cache keeps itself: reset and set to its numbers at each scrape.
    const cacheCounter = (name: string, help: string, read: (s: ReturnType<MetricSources['searchDocuments']['stats']>) => number) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.reset()
          this.inc(read(sources.searchDocuments.stats()))
        },
      })
    cacheCounter('openpnc_geosearch_document_cache_hits_total', 'Geosearch documents answered from memory', (s) => s.hits)
    cacheCounter('openpnc_geosearch_document_cache_misses_total', 'Geosearch documents read from the database', (s) => s.misses)
    new Gauge({
      name: 'openpnc_geosearch_document_cache_bytes',
      help: 'Memory held by cached geosearch documents (outside the JavaScript heap)',
      registers,
      collect() {
        this.set(sources.searchDocuments.stats().bytes)
      },
    })
    new Gauge({
      name: 'openpnc_geosearch_document_cache_entries',
      help: 'Geosearch documents held in memory',
      registers,
      collect() {
        this.set(sources.searchDocuments.stats().entries)
      },
    })
    new Gauge({
      name: 'openpnc_database_pool_connections',
      help: 'Database connections by state: total, idle, and waiting (requests queued for a connection)',
      labelNames: ['state'],
      registers,
      collect() {
        const pool = sources.databasePool()
        this.set({ state: 'total' }, pool.total)
        this.set({ state: 'idle' }, pool.idle)
        this.set({ state: 'waiting' }, pool.waiting)
      },
    })
    // Both delivery gauges come from one read per scrape.
    let deliveries: ReturnType<MetricSources['deliveries']> | undefined
    const readDeliveries = () => (deliveries ??= sources.deliveries().finally(() => setImmediate(() => (deliveries = undefined))))
    const deliveryGauge = (name: string, help: string, field: 'backlog' | 'failing') =>
      new Gauge({
        name,
        help,
        labelNames: ['partner'],
        registers,
        async collect() {
          this.reset()
          try {
            for (const partner of await readDeliveries()) this.set({ partner: partner.partnerId }, partner[field])
          } catch (err) {
            // A scrape still answers while the database is away; the series are missing, not wrong.
            log.warn({ err }, 'metrics: could not read the OCPI delivery backlog')
          }
        },
      })
    deliveryGauge('openpnc_ocpi_token_delivery_backlog', 'Tokens with a change not yet delivered, by OCPI partner', 'backlog')
    deliveryGauge('openpnc_ocpi_token_delivery_failing', 'Of the backlog, tokens whose last attempt failed, by OCPI partner', 'failing')
    const destinations = sources.destinations
    if (destinations) {
      // Both engine gauges come from one read per scrape too.
      let read: ReturnType<typeof destinations> | undefined
      const readDestinations = () => (read ??= destinations().finally(() => setImmediate(() => (read = undefined))))
      const destinationGauge = (name: string, help: string, field: 'backlog' | 'deadLetters') =>
        new Gauge({
          name,
          help,
          labelNames: ['destination', 'kind'],
          registers,
          async collect() {
            this.reset()
            try {
              for (const d of await readDestinations()) this.set({ destination: d.destination, kind: d.kind }, d[field])
            } catch (err) {
              log.warn({ err }, 'metrics: could not read the delivery backlog')
            }
          },
        })
      destinationGauge('openpnc_delivery_backlog', 'Deliveries with a change not yet delivered, by destination and kind', 'backlog')
      destinationGauge(
        'openpnc_delivery_dead_letters',
        'Deliveries parked after a permanent failure, waiting for a replay, by destination and kind',
        'deadLetters',
      )
    }
  }
}
