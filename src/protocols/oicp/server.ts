import { readFileSync } from 'node:fs'
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyRequest } from 'fastify'
import { isDatabaseUnavailable, OpenpncError } from '../../core/errors.ts'
import {
  keysNamedBy,
  parsePresentedIdentifier,
  presentedIdentity,
  presentedUid,
  type PresentedIdentifier,
} from '../../core/authorization/presented.ts'
import { parseJsonBody } from '../../infra/http/json-body.ts'
import { requestLogger } from '../../infra/http/per-request.ts'
import { contentSha256, type SessionIdentification, type SessionNotificationType } from '../../services/sessions/sessions.ts'
import type { Platform } from '../../platform.ts'
import {
  authorizationStartAnswer,
  authorizationStopAnswer,
  parseAuthorizeStart,
  parseAuthorizeStop,
  parseEvcoIdPresented,
  type AuthorizedSession,
} from './authorization.ts'
import { matchServed, OICP_STATUS, servedRoutes, type ServedOperationId } from './protocol.ts'
import {
  acknowledged,
  parseChargeDetailRecord,
  parseChargingNotification,
  refused,
  type NotificationType,
  type RecordIdentification,
} from './records.ts'

/**
 * Where Hubject calls us (we are an online EMP): AuthorizeStart/Stop, charge detail records and
 * charging notifications, at the spec's paths below our prefix (protocol.ts SERVED, the one
 * table). A Fastify instance of its own, on a listener of its own (mutual TLS with Hubject's CA).
 *
 * Input is read tolerantly (nulls, extra fields, `Id` spellings); every answer is a spec payload:
 * an operation's own answer (HTTP 200, refusals carry their status code) once the body is JSON,
 * an eRoamingAcknowledgment with Result false and 022 for what is not (HTTP 400), an unknown path (404).
 */

const SESSION_PROTOCOL = 'oicp' as const

const NOTIFICATION_TYPES: Record<NotificationType, SessionNotificationType> = {
  Start: 'start',
  Progress: 'progress',
  End: 'end',
  Error: 'error',
}

/** Operator IDs compared as Hubject writes them either way: `DE*ABC` and `DEABC` are one operator. */
const sameOperator = (a: string, b: string) => a.replaceAll('*', '').toUpperCase() === b.replaceAll('*', '').toUpperCase()

const fits = (value: string | null) => (value !== null && value.length <= 100 ? value : null)

/** What a stored identification presents, read the way AuthorizeStart read it. */
export function presentedOf(identification: SessionIdentification): PresentedIdentifier {
  return identification.method === 'RFIDMifareFamilyIdentification' || identification.method === 'RFIDIdentification'
    ? parsePresentedIdentifier(identification.value.trim(), 'rfid')
    : parseEvcoIdPresented(identification.value)
}

/** The error of a request no operation read, as an acknowledgment (the shape every Hubject client reads). */
function errorAnswer(status: number, description: string) {
  return { status, body: refused({}, { code: OICP_STATUS.dataError.code, description }) }
}

export async function buildOicpServer(platform: Platform, tls?: { cert: Buffer; key: Buffer; ca: Buffer }): Promise<FastifyInstance> {
  const { config, sessions, authorization } = platform
  const prefix = config.oicpPrefix
  const providerId = config.oicpProviderIdResolved
  const app = Fastify({
    loggerInstance: platform.log.child({ listener: 'oicp' }) as FastifyBaseLogger,
    // Each of Hubject's calls is logged as every request of the main server is.
    childLoggerFactory: requestLogger,
    bodyLimit: Math.max(config.bodyLimit, 1024 * 1024),
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true },
    requestTimeout: config.requestTimeoutMs,
    return503OnClosing: false,
    ...(tls && { https: { cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: true } }),
  } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance

  app.removeContentTypeParser('text/plain')
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    // An empty body reaches the operation, which answers it as a missing object (022).
    if (body === '') return done(null, undefined)
    try {
      done(null, parseJsonBody(body as string))
    } catch (error) {
      done(error as Error, undefined)
    }
  })

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof OpenpncError && error.kind === 'invalid') {
      request.log.info({ code: error.code }, 'OICP request refused')
      const { status, body } = errorAnswer(400, `body: ${error.message}`)
      return reply.code(status).send(body)
    }
    const status = (error as { statusCode?: number }).statusCode
    if (typeof status === 'number' && status >= 400 && status < 500) {
      const { body } = errorAnswer(status, `request: ${error instanceof Error ? error.message : String(error)}`)
      return reply.code(status).send(body)
    }
    if (isDatabaseUnavailable(error)) {
      request.log.warn({ err: error }, 'OICP request failed: database unavailable')
      return reply
        .code(503)
        .send(refused({}, { code: OICP_STATUS.systemError.code, description: 'System error: the database is unavailable, retry shortly' }))
    }
    request.log.error({ err: error }, 'OICP request failed')
    return reply.code(500).send(refused({}, { code: OICP_STATUS.systemError.code, description: 'System error' }))
  })

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!
    if (request.method !== 'POST' && matchServed('POST', path, prefix)) {
      const { body } = errorAnswer(405, `${request.method} is not allowed on ${path}; allowed: POST`)
      return reply.code(405).header('allow', 'POST').send(body)
    }
    const { body } = errorAnswer(404, `no OICP operation ${request.method} ${path}`)
    return reply.code(404).send(body)
  })

  /** The key an identification names (the live one first), or null: to open a session no AuthorizeStart told us of. */
  const keyNamed = async (presented: PresentedIdentifier): Promise<string | null> => {
    const found = await platform.keyDirectory.lookup({ emaidIdentity: presentedIdentity(presented), rfidUid: presentedUid(presented) })
    return keysNamedBy(presented, found)[0]?.key.id ?? null
  }

  /** The path's operator and the body's: the body's is kept (it is the record's data); a difference is logged. */
  const checkOperator = (request: FastifyRequest, inBody: string | null) => {
    const inPath = (request.params as { operatorID?: string }).operatorID
    if (inPath !== undefined && inBody !== null && !sameOperator(inPath, inBody)) {
      request.log.warn(
        { pathOperatorId: inPath, bodyOperatorId: inBody },
        'OICP request names another operator in its path than in its body',
      )
    }
  }

  const identificationOf = (identification: RecordIdentification | null): SessionIdentification | null =>
    identification && { method: identification.method, value: identification.value }

  const handlers: Record<ServedOperationId, (request: FastifyRequest) => Promise<unknown>> = {
    async authorizeStart(request) {
      const parsed = parseAuthorizeStart(request.body)
      if (!parsed.ok) {
        request.log.info({ code: parsed.refusal.code, reason: parsed.refusal.description }, 'OICP AuthorizeStart refused')
        return authorizationStartAnswer(parsed, null, providerId)
      }
      checkOperator(request, parsed.operatorId)
      const outcome = await authorization.authorize({
        protocol: SESSION_PROTOCOL,
        partnerId: null,
        presented: parsed.presented,
        tokenUid: parsed.tokenUid,
        tokenType: parsed.method,
        location: { EvseID: parsed.evseId, OperatorID: parsed.operatorId },
        partnerContext: () => ({
          location: { locationId: null, evseIds: parsed.evseId === null ? [] : [parsed.evseId] },
          operator: { id: parsed.operatorId, name: null },
        }),
      })
      const sessionId = parsed.session.SessionID
      if (outcome.allowed === 'ALLOWED' && sessionId !== undefined) {
        const now = new Date()
        // Remembered without making the station wait (written within moments, before any stop or record is read).
        sessions.authorized({
          protocol: SESSION_PROTOCOL,
          externalId: sessionId,
          keyId: outcome.key.key.id,
          status: 'AUTHORIZED',
          startedAt: now,
          authorizedAt: now,
          authorizationReference: outcome.authorizationReference,
          // The store's columns hold what the spec allows (EvseID and OperatorID are far shorter); more is not kept.
          evseId: fits(parsed.evseId),
          operatorId: fits(parsed.operatorId),
          identification: { method: parsed.method, value: parsed.tokenUid },
        })
      } else if (outcome.allowed === 'ALLOWED') {
        // Hubject assigns a SessionID to every start it forwards; without one there is nothing to remember it by.
        request.log.info(
          { authorizationReference: outcome.authorizationReference },
          'OICP AuthorizeStart without SessionID: authorized, not remembered',
        )
      }
      return authorizationStartAnswer(parsed, outcome.allowed, providerId, outcome.partner)
    },

    async authorizeStop(request) {
      const parsed = parseAuthorizeStop(request.body)
      if (!parsed.ok) {
        request.log.info({ code: parsed.refusal.code, reason: parsed.refusal.description }, 'OICP AuthorizeStop refused')
        return authorizationStopAnswer(parsed, null, providerId)
      }
      checkOperator(request, parsed.operatorId)
      const ref = { protocol: SESSION_PROTOCOL, externalId: parsed.session.SessionID! }
      const found = await sessions.find(ref)
      const session: AuthorizedSession | null = found?.identification
        ? { sessionId: found.externalId, presented: presentedOf(found.identification) }
        : null
      const answer = authorizationStopAnswer(parsed, session, providerId)
      if (answer.AuthorizationStatus === 'Authorized') await sessions.stopped(ref, new Date())
      return answer
    },

    async chargeDetailRecord(request) {
      const parsed = parseChargeDetailRecord(request.body)
      if (!parsed.ok) {
        request.log.info({ code: parsed.refusal.code, reason: parsed.refusal.description }, 'OICP charge detail record refused')
        return refused(parsed.session, parsed.refusal)
      }
      const operatorId = parsed.hubOperatorId ?? (request.params as { operatorID: string }).operatorID
      checkOperator(request, parsed.hubOperatorId)
      const stored = await sessions.chargeDetailRecord({
        session: { protocol: SESSION_PROTOCOL, externalId: parsed.sessionId },
        keyId: parsed.identification ? await keyNamed(parsed.identification.presented) : null,
        identification: identificationOf(parsed.identification),
        record: request.body as Record<string, unknown>,
        contentSha256: contentSha256(parsed.content),
        sessionStart: parsed.sessionStart,
        sessionEnd: parsed.sessionEnd,
        chargingStart: parsed.chargingStart,
        chargingEnd: parsed.chargingEnd,
        energyKwh: parsed.consumedEnergy,
        evseId: parsed.evseId,
        operatorId,
      })
      switch (stored.outcome) {
        case 'stored':
          return acknowledged(parsed.session)
        case 'repeated':
          return acknowledged(parsed.session, 'this charge detail record was received before; stored once')
        case 'conflict':
          request.log.warn(
            { sessionId: parsed.sessionId },
            'OICP charge detail record differs from the one stored for its session; refused',
          )
          return refused(parsed.session, {
            code: OICP_STATUS.dataError.code,
            description: `SessionID ${parsed.sessionId} has another charge detail record (received ${stored.receivedAt.toISOString()}); the first is kept`,
          })
        case 'unknown_session':
          return refused(parsed.session, {
            code: OICP_STATUS.sessionInvalid.code,
            description:
              'Session is invalid: no session of ours has this SessionID, and its Identification names no contract or card of ours',
          })
      }
    },

    async chargingNotification(request) {
      const parsed = parseChargingNotification(request.body)
      if (!parsed.ok) {
        request.log.info({ code: parsed.refusal.code, reason: parsed.refusal.description }, 'OICP charging notification refused')
        return refused(parsed.session, parsed.refusal)
      }
      const stored = await sessions.notification({
        session: { protocol: SESSION_PROTOCOL, externalId: parsed.sessionId },
        keyId: parsed.identification ? await keyNamed(parsed.identification.presented) : null,
        identification: identificationOf(parsed.identification),
        type: NOTIFICATION_TYPES[parsed.type],
        body: request.body as Record<string, unknown>,
        contentSha256: contentSha256(request.body),
        occurredAt: parsed.occurredAt,
        evseId: parsed.evseId,
        operatorId: parsed.operatorId,
        chargingStartedAt: parsed.chargingStart,
        chargingEndedAt: parsed.chargingEnd,
        energyKwh: parsed.energyKwh,
      })
      if (stored.outcome === 'unknown_session') {
        return refused(parsed.session, {
          code: OICP_STATUS.sessionInvalid.code,
          description: 'Session is invalid: no session of ours has this SessionID, and the notification names no contract or card of ours',
        })
      }
      return acknowledged(parsed.session, stored.outcome === 'repeated' ? 'this notification was received before; stored once' : undefined)
    },
  }

  for (const route of servedRoutes(prefix)) {
    app.route({
      method: route.method,
      url: route.path.replace(/\{(\w+)\}/g, ':$1'),
      handler: handlers[route.operationId],
    })
  }
  await app.ready()
  return app
}

export interface OicpListener {
  server: FastifyInstance
  /** where Hubject reaches our operations: scheme, host, port and prefix (e.g. https://0.0.0.0:9443/oicp) */
  url: string
  /** true: HTTPS with a client certificate required */
  mutualTls: boolean
  close(): Promise<void>
}

/**
 * The OICP listener on OPENPNC_OICP_PORT. With OPENPNC_OICP_TLS_CERT, _KEY and _CLIENT_CA it
 * speaks HTTPS on HOST and refuses any client without a certificate from that CA (Hubject's);
 * without them it binds to loopback only over HTTP (behind a TLS-terminating proxy, or for
 * tests and demos), and says so in the log.
 */
export async function startOicpListener(platform: Platform): Promise<OicpListener> {
  const { config, log } = platform
  const port = config.oicpPort ?? 0
  const mutualTls = config.oicpTlsCert !== undefined && config.oicpTlsKey !== undefined && config.oicpTlsClientCa !== undefined
  const tls = mutualTls
    ? { cert: readFileSync(config.oicpTlsCert!), key: readFileSync(config.oicpTlsKey!), ca: readFileSync(config.oicpTlsClientCa!) }
    : undefined
  const server = await buildOicpServer(platform, tls)
  const host = mutualTls ? config.host : '127.0.0.1'
  const address = await server.listen({ port, host })
  const url = `${address}${config.oicpPrefix.replace(/\/+$/, '')}`
  if (mutualTls) log.info({ url }, 'OICP served to Hubject over mutual TLS (client certificates from OPENPNC_OICP_TLS_CLIENT_CA only)')
  else {
    log.warn(
      { url },
      'OICP served over plain HTTP on loopback (127.0.0.1) only: without OPENPNC_OICP_TLS_CERT, _KEY and _CLIENT_CA no client certificate is checked',
    )
  }
  return { server, url, mutualTls, close: () => server.close() }
}
