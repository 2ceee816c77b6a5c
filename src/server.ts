import { randomUUID } from 'node:crypto'
import type { Socket } from 'node:net'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify'
import { adminApi } from './protocols/admin-api/admin-api.ts'
import { driveApi } from './protocols/drive-api/drive-api.ts'
import { geosearchApi } from './protocols/drive-api/geosearch.ts'
import { invalid, OpenpncError } from './core/errors.ts'
import { OCPI_BASE_PATH, ocpiServer, routeOcpiUrl } from './protocols/ocpi/server.ts'
import { ocpiAdminApi } from './protocols/ocpi/admin-api.ts'
import { oicpAdminApi } from './protocols/oicp/admin-api.ts'
import { OCPI_STATUS } from './protocols/ocpi/protocol.ts'
import { ocpiTimestamp } from './protocols/ocpi/transport.ts'
import type { Platform } from './platform.ts'
import { VERSION } from './version.ts'
import { RouteMethods } from './infra/http/allowed-methods.ts'
import { requireApiKeys } from './infra/http/auth.ts'
import { ErrorResponse, toHttpError, type ErrorBody } from './infra/http/errors.ts'
import { healthApi } from './infra/http/health.ts'
import { pkiServices } from './protocols/pki/pki.ts'
import { opcpWebhookServer } from './protocols/opcp/server.ts'
import { opcpAdminApi } from './protocols/opcp/admin-api.ts'
import { replayIdempotentPosts } from './infra/http/idempotency.ts'
import { parseJsonBody } from './infra/http/json-body.ts'
import { metricsApi } from './infra/http/metrics.ts'
import { perRequestHooks, requestLogger } from './infra/http/per-request.ts'
import { closedObjects, schemaController } from './infra/http/validation.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The methods served at a path (for 405 answers in every API's own envelope). */
    allowedMethods(path: string): string[]
  }
}

/**
 * The longest path parameter the router takes: the longest our schemas allow (a partner's user
 * ID, 128 characters). Longer is a 414 in our envelope; a test holds the schemas to it.
 */
export const MAX_PARAM_LENGTH = 128

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/

const API_DESCRIPTION = `openpnc: the Plug&Charge platform of an e-mobility operator (eMSP / Mobility Operator).

Authenticate with \`X-API-Key\`. Errors are always \`{"error": {"code", "message"}}\`.
A POST with an \`Idempotency-Key\` header replays its first response for 24 hours.
Each operation lists the error codes it answers with under its responses. Before any operation is reached:
an unknown path is a 404 \`route_not_found\`, a known path with another method a 405 \`method_not_allowed\`
(the \`Allow\` header lists the methods), a bad percent-encoding a 400 \`malformed_url\`, a path parameter over
128 characters a 414 \`path_parameter_too_long\`, unreadable HTTP a 400 \`malformed_request\`, headers over the
limit a 431 \`headers_too_large\`, and a request that does not arrive whole in time a 408 \`request_timeout\`.`

/** The HTTP server: the Drive API, the admin API, health and documentation. */
export async function buildServer(platform: Platform): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: platform.log as FastifyBaseLogger,
    bodyLimit: platform.config.bodyLimit,
    // Our own request IDs: the caller's X-Request-ID when it is sane, a UUID otherwise.
    requestIdHeader: false,
    // A request's logger becomes a pino child only when the request logs something.
    childLoggerFactory: requestLogger,
    // OCPI partners join our endpoint URLs with and without slashes: routed in canonical form.
    rewriteUrl: (req) => routeOcpiUrl(req.url ?? '/'),
    genReqId: (req) => {
      const given = req.headers['x-request-id']
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID()
    },
    schemaController,
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, maxParamLength: MAX_PARAM_LENGTH },
    // A request must arrive whole within these (a stalled body is answered 408 and closed). Node
    // checks its connections every `connectionsCheckingInterval`, so that is a fraction of them.
    requestTimeout: platform.config.requestTimeoutMs,
    http: {
      requestTimeout: platform.config.requestTimeoutMs,
      headersTimeout: platform.config.headersTimeoutMs,
      connectionsCheckingInterval: Math.max(5, Math.min(1000, Math.floor(platform.config.headersTimeoutMs / 4))),
    },
    // Errors the router meets before any route (bad percent-encoding, over-long parameter).
    frameworkErrors: (error, request, reply) => {
      reply.header('x-request-id', request.id)
      sendError(error, request.url, request.id, reply)
    },
    clientErrorHandler: (error, socket) => answerClientError(error, socket, answeredEarly),
    // While shutting down, a request on an open keep-alive connection is still answered (with
    // Connection: close) rather than refused with a bare 503: readiness says why we are leaving.
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>()

  // Request ID, URL NUL check, HTTP metrics and early answers (see answerClientError): one seam.
  const { answeredEarly } = perRequestHooks(app, platform.metrics)

  const routeMethods = new RouteMethods()
  app.addHook('onRoute', (route) => routeMethods.add(route.method, route.url))
  app.decorate('allowedMethods', (path: string) => routeMethods.allowed(path))

  // JSON only: a text body would otherwise reach validation as a string and be misreported.
  app.removeContentTypeParser('text/plain')
  // Depth, NUL characters and prototype keys are checked while parsing, for every API.
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    if (body === '') return done(invalid('malformed_json', 'the request body is empty but declared as JSON'), undefined)
    try {
      done(null, parseJsonBody(body as string))
    } catch (error) {
      done(error as OpenpncError, undefined)
    }
  })

  app.setErrorHandler((error, request, reply) => {
    const { status, body } = toHttpError(error, request.id)
    if (status >= 500) request.log.error({ err: error }, 'request failed')
    else request.log.info({ code: body.error.code, status }, 'request refused')
    return reply.code(status).send(body)
  })

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!
    const allow = routeMethods.allowed(path)
    if (allow.length > 0) {
      return reply
        .code(405)
        .header('allow', allow.join(', '))
        .send({
          error: { code: 'method_not_allowed', message: `${request.method} is not allowed on ${path}; allowed: ${allow.join(', ')}` },
        })
    }
    return reply.code(404).send({ error: { code: 'route_not_found', message: `no route ${request.method} ${path}; see /docs` } })
  })

  await app.register(metricsApi, { platform })
  await app.register(healthApi, { platform })

  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: { title: 'openpnc API', version: VERSION, description: API_DESCRIPTION },
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

  // Liveness only: a database outage makes the instance unready (/health/ready), not dead, so
  // an orchestrator does not restart every instance while the database is away.
  app.get(
    '/health',
    {
      schema: {
        operationId: 'getHealth',
        summary: 'Liveness: the process answers (the database is checked by /health/ready)',
        tags: ['Platform'],
        response: { 200: Type.Object({ status: Type.Literal('ok'), database: Type.String() }), 500: ErrorResponse },
      },
    },
    async () => {
      return { status: 'ok' as const, database: platform.config.databaseUrl ? 'postgres' : 'pglite' }
    },
  )

  // Everything below needs an API key.
  await app.register(async (authenticated) => {
    // Unknown fields are refused: every object schema of these APIs is closed unless it says otherwise.
    authenticated.addHook('onRoute', (route) => {
      if (route.schema?.body) route.schema.body = closedObjects(route.schema.body)
      if (route.schema?.querystring) route.schema.querystring = closedObjects(route.schema.querystring)
    })
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
    await authenticated.register(oicpAdminApi, { platform })
    await authenticated.register(opcpAdminApi, { platform })
  })

  // Our CA's OCSP responder, CRLs and root: public, as relying parties call them.
  await app.register(pkiServices, { platform })

  // Hubject's ecosystem webhooks: public, each event authenticated by its signature.
  await app.register(opcpWebhookServer, { platform })

  // OCPI has its own authentication (credentials tokens) and answers in OCPI envelopes.
  await app.register(ocpiServer, { platform, prefix: OCPI_BASE_PATH })

  await app.ready()
  return app as unknown as FastifyInstance
}

const isOcpi = (url: string) => {
  const path = url.replace(/\/{2,}/g, '/')
  return path === OCPI_BASE_PATH || path.startsWith(`${OCPI_BASE_PATH}/`) || path.startsWith(`${OCPI_BASE_PATH}?`)
}

/** Our envelope for an error met outside any route: OCPI's under /ocpi, the REST one elsewhere. */
function errorEnvelope(error: unknown, url: string, requestId: string): { status: number; body: ErrorBody | Record<string, unknown> } {
  const { status, body } = toHttpError(error, requestId)
  if (!isOcpi(url)) return { status, body }
  const statusCode = status === 400 ? OCPI_STATUS.invalidParameters : status >= 500 ? OCPI_STATUS.serverError : OCPI_STATUS.clientError
  return { status, body: { status_code: statusCode, status_message: body.error.message, timestamp: ocpiTimestamp() } }
}

function sendError(error: unknown, url: string, requestId: string, reply: FastifyReply) {
  const { status, body } = errorEnvelope(error, url, requestId)
  reply.code(status).send(body)
}

const CLIENT_ERRORS: Record<string, { status: number; code: string; message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, code: 'request_timeout', message: 'the request did not arrive in time' },
  HPE_HEADER_OVERFLOW: { status: 431, code: 'headers_too_large', message: 'the request headers are too large' },
}
const STATUS_TEXT: Record<number, string> = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }

/**
 * A request Node could not read (malformed, too large headers, too slow) never reaches Fastify:
 * it is answered here, in our envelope, and the connection closed.
 */
function answerClientError(clientError: Error, socket: Socket, answered: WeakSet<Socket>) {
  const error = clientError as Error & { code?: string; rawPacket?: unknown }
  if (error.code === 'ECONNRESET' || socket.destroyed) return
  const known = CLIENT_ERRORS[error.code ?? ''] ?? { status: 400, code: 'malformed_request', message: 'the request is not valid HTTP' }
  const line = Buffer.isBuffer(error.rawPacket) ? error.rawPacket.subarray(0, 200).toString('latin1') : ''
  const url = /^[A-Z]+ (\S+)/.exec(line)?.[1] ?? ''
  const { body } = errorEnvelope(new OpenpncError('invalid', known.code, known.message), url, '')
  const json = JSON.stringify(body)
  // A request already answered (an early 401 while its body was still coming) gets no second answer.
  const started = answered.has(socket) || (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage?.headersSent
  if (socket.writable && !started) {
    socket.write(
      `HTTP/1.1 ${known.status} ${STATUS_TEXT[known.status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(json)}\r\nConnection: close\r\n\r\n${json}`,
    )
  }
  socket.destroy()
}
