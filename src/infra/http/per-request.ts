import type { Socket } from 'node:net'
import type { FastifyInstance, FastifyReply, FastifyRequest, onResponseHookHandler } from 'fastify'
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
