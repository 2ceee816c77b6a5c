import type { Socket } from 'node:net'
import type { FastifyBaseLogger, FastifyInstance, FastifyReply, FastifyRequest, onResponseHookHandler } from 'fastify'
import type { Bindings, ChildLoggerOptions } from 'pino'
import { invalid } from '../../core/errors.ts'
import type { PlatformMetrics } from '../metrics.ts'
import { urlHasNul } from './json-body.ts'

/** Requests no route matched share one label, so a scan of random URLs cannot grow the series. */
export const UNMATCHED_ROUTE = '(unmatched)'

const nulInUrl = () => invalid('nul_character', 'the URL must not contain a NUL character (%00)')

/**
 * The work the HTTP layer does around every request, kept in one place and in as few steps as
 * Fastify allows (each hook is a call per request; the authorization hot path runs through here):
 *
 * - one onRequest hook: the request ID goes back in X-Request-ID, and a NUL in the URL (path or
 *   query) is refused, for every route (PostgreSQL cannot store one);
 * - one onResponse hook: a request answered before its body had arrived marks its connection (see
 *   `answeredEarly`), and a request no route matched is observed under `(unmatched)`;
 * - per route, the HTTP metrics child is observed by a hook that knows the route's pattern
 *   already: no lookup of the pattern, nothing allocated per request.
 *
 * Install before any route, so every route registered after it is observed.
 */
export function perRequestHooks(app: FastifyInstance, metrics: PlatformMetrics): { answeredEarly: WeakSet<Socket> } {
  // Connections whose request was answered before its body had arrived: the client error that
  // follows on them gets no second answer.
  const answeredEarly = new WeakSet<Socket>()

  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done(urlHasNul(request.url) ? nulInUrl() : undefined)
  })

  app.addHook('onResponse', (request, reply, done) => {
    if (!request.raw.complete) answeredEarly.add(request.raw.socket)
    if (request.is404) observe(metrics, UNMATCHED_ROUTE, request, reply)
    done()
  })

  app.addHook('onRoute', (route) => {
    const pattern = route.url
    const observeRoute: onResponseHookHandler = (request, reply, done) => {
      observe(metrics, pattern, request, reply)
      done()
    }
    route.onResponse = [...(route.onResponse ? [route.onResponse].flat() : []), observeRoute]
  })

  return { answeredEarly }
}

function observe(metrics: PlatformMetrics, pattern: string, request: FastifyRequest, reply: FastifyReply) {
  metrics.httpChild(pattern, request.method, reply.statusCode).observe(reply.elapsedTime / 1000)
}

type Level = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace'
type LevelledLogger = FastifyBaseLogger & { isLevelEnabled(level: string): boolean }

/**
 * Fastify's `childLoggerFactory`: a request's logger. A route with a log level of its own gets a
 * pino child at once (its level decides what is enabled); every other one a `RequestLogger`.
 */
export function requestLogger(parent: FastifyBaseLogger, bindings: Bindings, options: ChildLoggerOptions): FastifyBaseLogger {
  if (options.level !== undefined || typeof (parent as Partial<LevelledLogger>).isLevelEnabled !== 'function') {
    return parent.child(bindings, options)
  }
  return new RequestLogger(parent as LevelledLogger, bindings, options) as unknown as FastifyBaseLogger
}

/**
 * A request's logger (`request.log`), made into a pino child only when something is logged at an
 * enabled level: a child costs a serialization of its bindings, and most requests log nothing.
 * The lines it writes are those of `parent.child(bindings, options)`.
 */
class RequestLogger {
  private made: LevelledLogger | undefined

  constructor(
    private readonly parent: LevelledLogger,
    private readonly childBindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get real(): LevelledLogger {
    return (this.made ??= this.parent.child(this.childBindings, this.options) as LevelledLogger)
  }

  private write(level: Level, args: unknown[]) {
    if (!this.made && !this.parent.isLevelEnabled(level)) return
    const real = this.real as unknown as Record<Level, (...a: unknown[]) => void>
    real[level](...args)
  }

  get level(): string {
    return this.made?.level ?? this.parent.level
  }
  set level(level: string) {
    this.real.level = level
  }
  fatal(...args: unknown[]) {
    this.write('fatal', args)
  }
  error(...args: unknown[]) {
    this.write('error', args)
  }
  warn(...args: unknown[]) {
    this.write('warn', args)
  }
  info(...args: unknown[]) {
    this.write('info', args)
  }
  debug(...args: unknown[]) {
    this.write('debug', args)
  }
  trace(...args: unknown[]) {
    this.write('trace', args)
  }
  silent() {}
  isLevelEnabled(level: string): boolean {
    return (this.made ?? this.parent).isLevelEnabled(level)
  }
  bindings(): Bindings {
    return (this.real as unknown as { bindings(): Bindings }).bindings()
  }
  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.real.child(bindings, options)
  }
}
