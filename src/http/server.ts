import { randomUUID } from 'node:crypto'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify'
import { sql } from 'kysely'
import { adminApi } from '../admin/admin-api.ts'
import { driveApi } from '../drive-api/drive-api.ts'
import { geosearchApi } from '../drive-api/geosearch.ts'
import { OCPI_BASE_PATH, ocpiServer, routeOcpiUrl } from '../ocpi/server.ts'
import { ocpiAdminApi } from '../ocpi/admin-api.ts'
import type { Platform } from '../platform.ts'
import { requireApiKeys } from './auth.ts'
import { ErrorResponse, toHttpError } from './errors.ts'
import { replayIdempotentPosts } from './idempotency.ts'

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

const API_DESCRIPTION = `openpnc: the Plug&Charge platform of an e-mobility operator (eMSP / Mobility Operator).

Authenticate with \`X-API-Key\`. Errors are always \`{"error": {"code", "message"}}\`.
A POST with an \`Idempotency-Key\` header replays its first response for 24 hours.`

/** The HTTP server: the Drive API, the admin API, health and documentation. */
export async function buildServer(platform: Platform): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: platform.log as FastifyBaseLogger,
    bodyLimit: platform.config.bodyLimit,
    // Our own request IDs: the caller's X-Request-ID when it is sane, a UUID otherwise.
    requestIdHeader: false,
    // OCPI partners join our endpoint URLs with and without slashes: routed in canonical form.
    rewriteUrl: (req) => routeOcpiUrl(req.url ?? '/'),
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    ajv: {
      customOptions: { verbose: true, keywords: ['x-error-code', 'x-error-message'] },
    },
  }).withTypeProvider<TypeBoxTypeProvider>()

  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id)
    done()
  })
  // JSON only: a text body would otherwise reach validation as a string and be misreported.
  app.removeContentTypeParser('text/plain')

  app.setErrorHandler((error, request, reply) => {
    const { status, body } = toHttpError(error, request.id)
    if (status >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.info({ code: body.error.code, status }, 'request refused')
    return reply.code(status).send(body)
  })

  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({
      error: { code: 'route_not_found', message: `no route ${request.method} ${request.url.split('?')[0]}; see /docs` },
    }),
  )

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'openpnc API', version: '1.0.0', description: API_DESCRIPTION },
      components: {
        securitySchemes: {
          apiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: "an organization's API key" },
          adminApiKey: { type: 'apiKey', in: 'header', name: 'X-API-Key', description: 'the platform admin key' },
        },
      },
    },
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger())

  app.get(
    '/health',
    {
      schema: {
        summary: 'Liveness: the server answers and its database too',
        tags: ['Platform'],
        response: { 200: Type.Object({ status: Type.Literal('ok'), database: Type.String() }), 500: ErrorResponse },
      },
    },
    async () => {
      await sql`SELECT 1`.execute(platform.db)
      return { status: 'ok' as const, database: platform.config.databaseUrl ? 'postgres' : 'pglite' }
    },
  )

  // Everything below needs an API key.
  await app.register(async (authenticated) => {
    requireApiKeys(authenticated, platform.apiKeys)
    // An absent body reads as {}: optional-only bodies may be omitted, and a missing field is
    // reported by name rather than as "body must be object".
    authenticated.addHook('preValidation', async (request) => {
      if (request.body === undefined && (request.method === 'POST' || request.method === 'PATCH')) request.body = {}
    })
    replayIdempotentPosts(authenticated, platform.idempotency)
    await authenticated.register(driveApi, { platform })
    await authenticated.register(geosearchApi, { platform })
    await authenticated.register(adminApi, { platform })
    await authenticated.register(ocpiAdminApi, { platform })
  })

  // OCPI has its own authentication (credentials tokens) and answers in OCPI envelopes.
  await app.register(ocpiServer, { platform, prefix: OCPI_BASE_PATH })

  await app.ready()
  return app as unknown as FastifyInstance
}
