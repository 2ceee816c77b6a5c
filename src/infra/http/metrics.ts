import { Type } from '@sinclair/typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyPluginAsync, type FastifyRequest } from 'fastify'
import { OpenpncError } from '../../core/errors.ts'
import type { Platform } from '../../platform.ts'
import { ErrorResponse } from './errors.ts'

const BEARER = /^Bearer\s+(\S+)$/i

/** The platform admin key from `X-API-Key`, or from `Authorization: Bearer` (what Prometheus sends). */
function presentedKey(request: FastifyRequest): string | undefined {
  const header = request.headers['x-api-key']
  if (typeof header === 'string' && header !== '') return header
  return BEARER.exec(request.headers.authorization ?? '')?.[1]
}

const metricsRouteSchema = (secured: boolean) => ({
  summary: 'Prometheus metrics (text exposition format)',
  description: secured
    ? 'Needs the platform admin key, in `X-API-Key` or as `Authorization: Bearer <key>`. With `OPENPNC_METRICS_PORT` set, also served without a key on that port.'
    : 'Served without a key: this port is for the scraper only.',
  tags: ['Platform'],
  ...(secured && { security: [{ adminApiKey: [] }] }),
  response: { 200: Type.String({ description: 'text/plain; version=0.0.4' }), '4xx': ErrorResponse, '5xx': ErrorResponse },
})

async function answerMetrics(platform: Platform, reply: import('fastify').FastifyReply) {
  const { registry } = platform.metrics
  return reply.type(registry.contentType).send(await registry.metrics())
}

/**
 * `GET /metrics` behind the platform admin key. The HTTP metrics of every route are observed by
 * the per-request hooks (per-request.ts).
 */
const metricsPlugin: FastifyPluginAsync<{ platform: Platform }> = async (app, { platform }) => {
  app.get('/metrics', {
    schema: metricsRouteSchema(true),
    onRequest: async (request) => {
      const key = presentedKey(request)
      if (!key)
        throw new OpenpncError('unauthenticated', 'missing_api_key', 'send the platform admin key in X-API-Key or as a Bearer token')
      const caller = await platform.apiKeys.authenticate(key)
      if (!caller) throw new OpenpncError('unauthenticated', 'invalid_api_key', 'the API key is unknown or revoked')
      if (caller.kind !== 'platform') throw new OpenpncError('forbidden', 'platform_key_required', 'metrics need the platform admin key')
    },
    handler: (_request, reply) => answerMetrics(platform, reply),
  })
}
// Not encapsulated: its route is registered beside the others.
;(metricsPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true
export { metricsPlugin as metricsApi }

/** The unauthenticated metrics server of `OPENPNC_METRICS_PORT`: `GET /metrics` and nothing else. */
export async function buildMetricsServer(platform: Platform): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: platform.log.child({ server: 'metrics' }) as FastifyBaseLogger, disableRequestLogging: true })
  app.get('/metrics', (_request, reply) => answerMetrics(platform, reply))
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: {
        code: 'route_not_found',
        message: `this port serves GET /metrics only, not ${request.method} ${request.url.split('?')[0]}`,
      },
    }),
  )
  await app.ready()
  return app
}
