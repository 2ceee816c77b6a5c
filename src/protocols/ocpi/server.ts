import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { Static, TSchema } from '@sinclair/typebox'
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler'
import type { AuthorizationOutcome } from '../../services/authorization/authorizer.ts'
import { parseJsonBody } from '../../infra/http/json-body.ts'
import type { Platform } from '../../platform.ts'
import type { OcpiPartner, RecognisedPartner } from './partners.ts'
import {
  endpointsOf,
  OCPI_OPERATIONS,
  OCPI_STATUS,
  OCPI_VERSIONS,
  SERVED,
  type Method,
  type OcpiVersion,
  type ServedBody,
  type ServedOperation,
  type ServedOperationId,
} from './protocol.ts'
import { locationHandlers } from './locations.ts'
import { sessionHandlers } from './sessions.ts'
import { ocpiPartnerContext, presentedOcpiToken, tokenPage, toOcpiToken } from './tokens.ts'
import {
  canonicalOcpiUrl,
  encodeCursor,
  invalidParameters,
  nextLink,
  ocpiErrorAnswer,
  OcpiError,
  ocpiTimestamp,
  pageRequest,
  requestIdFrom,
  routingHeaders,
  success,
  tokenCandidates,
} from './transport.ts'

export const OCPI_BASE_PATH = '/ocpi/emsp'
const OCPI_PREFIX = `${OCPI_BASE_PATH}/`

/** Fastify's rewriteUrl: OCPI paths are routed in their canonical form (duplicate and trailing slashes). */
export function routeOcpiUrl(url: string): string {
  const canonical = canonicalOcpiUrl(url)
  return canonical === url || !canonical.startsWith(OCPI_PREFIX) ? url : canonical
}

declare module 'fastify' {
  interface FastifyRequest {
    ocpiPartner?: RecognisedPartner
  }
}

const TOKEN_TYPES: Record<OcpiVersion, readonly string[]> = {
  '2.2.1': ['AD_HOC_USER', 'APP_USER', 'OTHER', 'RFID'],
  '2.3.0': ['AD_HOC_USER', 'APP_USER', 'EMAID', 'OTHER', 'RFID'],
}

function checked<T extends TSchema>(check: TypeCheck<T>, value: unknown, what: string): Static<T> {
  if (check.Check(value)) return value as Static<T>
  const first = check.Errors(value).First()
  throw invalidParameters(
    `${what}${first?.path ? ` field ${first.path.slice(1).replaceAll('/', '.')}` : ''}: ${first?.message ?? 'is invalid'}`,
  )
}

/**
 * openpnc's OCPI eMSP interface (2.2.1 and 2.3.0) at /ocpi/emsp: versions, credentials, tokens,
 * locations, sessions and CDRs.
 * Every answer is an OCPI envelope, errors included; every route comes from OCPI_OPERATIONS.
 */
export async function ocpiServer(app: FastifyInstance, { platform }: { platform: Platform }) {
  const { ocpi } = platform
  const us = { country_code: platform.config.ocpiCountryCode, party_id: platform.config.ocpiPartyId }
  const base = () => `${platform.publicUrl()}${OCPI_BASE_PATH}`

  // The official OCPI specification documents these routes; our OpenAPI document is the Drive API's.
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true }
  })

  // Partners may send an empty body with a JSON content type (an authorize without location).
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
    if (body === '' || body === undefined) return done(null, undefined)
    try {
      // Malformed JSON, nesting, NUL characters and prototype keys: 2001, naming the problem.
      done(null, parseJsonBody(body as string))
    } catch (error) {
      done(error as Error, undefined)
    }
  })

  app.setErrorHandler((error, request, reply) => {
    const answer = ocpiErrorAnswer(error)
    if (answer.http >= 500) request.log.error({ err: error }, 'OCPI request failed')
    return reply.code(answer.http).send({ status_code: answer.status, status_message: answer.message, timestamp: ocpiTimestamp() })
  })
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!
    const allow = app.allowedMethods(path)
    if (allow.length > 0) reply.code(405).header('allow', allow.join(', '))
    else reply.code(404)
    return reply.send({
      status_code: OCPI_STATUS.clientError,
      status_message:
        allow.length > 0
          ? `${request.method} is not allowed on ${path}; allowed: ${allow.join(', ')}`
          : `no OCPI endpoint ${request.method} ${path}`,
      timestamp: ocpiTimestamp(),
    })
  })

  // Every OCPI call is authenticated with a credentials token (Token A only reaches versions
  // and credentials); request and correlation IDs travel back.
  // Callback style: a partner recognised a moment ago is served without a promise in between
  // (and no closure per request: this hook runs on every call).
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-correlation-id', requestIdFrom(request.headers['x-correlation-id'] ?? request.headers['x-request-id']))
    const candidates = tokenCandidates(request.headers.authorization)
    if (candidates.length === 0) {
      return done(new OcpiError('unauthenticated', OCPI_STATUS.clientError, 'send your credentials token: Authorization: Token <token>'))
    }
    const known = ocpi.partners.recentlyRecognised(candidates)
    if (known) return recognised(request, known, done)
    ocpi.partners.authenticate(candidates).then((found) => recognised(request, found, done), done)
  })

  const partnerOf = (request: FastifyRequest) => request.ocpiPartner!
  /** Functional modules need a completed registration. */
  const registeredPartnerOf = (request: FastifyRequest) => {
    const found = partnerOf(request)
    if (found.partner.status !== 'registered' || found.credential !== 'token') {
      throw new OcpiError('unauthenticated', OCPI_STATUS.clientError, 'register first: POST your credentials')
    }
    return found.partner
  }

  /** Routing headers of a functional answer: from us, to whoever asked. */
  const routeBack = (request: FastifyRequest, reply: FastifyReply, partner: OcpiPartner) => {
    const { from } = routingHeaders(request.headers)
    const to = from ?? (partner.roles[0] && { country_code: partner.roles[0].country_code, party_id: partner.roles[0].party_id })
    reply.header('ocpi-from-country-code', us.country_code).header('ocpi-from-party-id', us.party_id)
    if (to) reply.header('ocpi-to-country-code', to.country_code).header('ocpi-to-party-id', to.party_id)
  }

  app.get('/versions', async () => success(OCPI_VERSIONS.map((version) => ({ version, url: `${base()}/${version}` }))))

  for (const version of OCPI_VERSIONS) {
    app.get(`/${version}`, async () =>
      success({
        version,
        // With a trailing slash: a CPO may append `/{cc}/...` or `{cc}/...` (see canonicalOcpiUrl).
        endpoints: endpointsOf(version).map((e) => ({ identifier: e.identifier, role: e.role, url: `${base()}/${version}/${e.path}/` })),
      }),
    )
  }

  // One handler per served operation of the table, by type: a missing one fails the typecheck.
  const handlers: OcpiHandlers = {
    getCredentials: async (_version, request) => {
      const { token } = partnerOf(request)
      return success(ocpi.registration.ourCredentials(token))
    },
    postCredentials: async (version, request) => {
      const { partner, credential } = partnerOf(request)
      const answer = await ocpi.registration.accept(partner, credential, version, request.body)
      return success(answer)
    },
    putCredentials: async (version, request) => {
      const { partner, credential } = partnerOf(request)
      const answer = await ocpi.registration.update(partner, credential, version, request.body)
      return success(answer)
    },
    deleteCredentials: async (_version, request) => {
      const { partner, credential } = partnerOf(request)
      await ocpi.registration.unregister(partner, credential)
      return success(null)
    },
    getTokens: async (version, request, reply) => {
      const partner = partnerOf(request).partner
      const page = pageRequest(request.query as Record<string, unknown>, platform.config.ocpiPageLimit)
      const { keys, total } = await tokenPage(platform.db, page)
      const now = new Date()
      const data = keys.map((k) => toOcpiToken(k, { version, partner, countryCode: us.country_code, partyId: us.party_id, now }))
      reply.header('x-total-count', String(total)).header('x-limit', String(page.limit))
      const last = keys.at(-1)
      if (last) {
        const link = nextLink(
          `${base()}/${version}/tokens`,
          page,
          keys.length,
          total,
          encodeCursor(last.updatedAtText, last.key.seq, total),
        )
        if (link) reply.header('link', link)
      }
      return success(data)
    },
    authorizeToken: (version, request, reply) => {
      const partner = partnerOf(request).partner
      const { uid } = request.params as { uid: string }
      if (uid.length === 0 || uid.length > 36) throw invalidParameters('token_uid must be 1-36 characters')
      const type = (request.query as { type?: unknown }).type
      if (type !== undefined && (typeof type !== 'string' || !TOKEN_TYPES[version].includes(type))) {
        throw invalidParameters(`type must be one of ${TOKEN_TYPES[version].join(', ')}`)
      }
      // Checked against the table's LocationReferences before this handler ran.
      const location = request.body ?? undefined
      const context = { version, partner, location, us }
      return platform.authorization
        .authorize({
          protocol: 'ocpi',
          partnerId: partner.id,
          presented: presentedOcpiToken(uid, type as string | undefined),
          tokenUid: uid,
          tokenType: (type as string | undefined) ?? null,
          location,
          partnerContext: () => ocpiPartnerContext(location, routingHeaders(request.headers).from, partner.name),
        })
        .then((outcome) => authorizeAnswer(outcome, context, reply))
    },
    ...locationHandlers(platform.db, (request) => partnerOf(request).partner),
    ...sessionHandlers(
      { sessions: platform.sessions, keyDirectory: platform.keyDirectory, us },
      (request) => partnerOf(request).partner,
      (version, cdrId) => `${base()}/${version}/cdrs/${cdrId}`,
    ),
  }

  const register = <Op extends ServedOperationId>(operationId: Op) => {
    const op: ServedOperation = SERVED[operationId]
    const handler: Handler<Op> = handlers[operationId]
    // The request body is checked as the table says, compiled once; the answer serialized from its schema.
    const body = op.body?.kind === 'checked' ? { ...op.body, check: TypeCompiler.Compile(op.body.schema) } : undefined
    for (const version of op.versions) {
      app.route<{ Body: ServedBody<Op> }>({
        method: op.method,
        url: `/${version}/${op.path}`,
        ...(op.answer && { schema: { response: { 200: op.answer } } }),
        handler: (request, reply) => {
          // The table says which modules are functional: those need a registration and route back.
          if (op.functional) routeBack(request, reply, registeredPartnerOf(request))
          if (body && !(body.optional && (request.body === undefined || request.body === null))) {
            checked(body.check, request.body, body.name)
          }
          return handler(version, request, reply)
        },
      })
    }
  }
  for (const { operationId } of OCPI_OPERATIONS) register(operationId)
}

/** A handler may answer synchronously (authorize, when the keys are in memory): no promise in between. */
export type Handler<Op extends ServedOperationId> = (
  version: OcpiVersion,
  request: FastifyRequest<{ Body: ServedBody<Op> }>,
  reply: FastifyReply,
) => unknown
/** One handler per served operation of the protocol table. */
export type OcpiHandlers = { [Op in ServedOperationId]: Handler<Op> }

function recognised(request: FastifyRequest, found: RecognisedPartner | null | undefined, done: (error?: Error) => void) {
  if (!found) return done(new OcpiError('unauthenticated', OCPI_STATUS.clientError, 'unknown credentials token'))
  // Suspended: as if its token were not registered (OCPI: 401 for a token of no known party).
  if (found.partner.suspendedAt) {
    return done(new OcpiError('unauthenticated', OCPI_STATUS.clientError, 'credentials token not accepted: the party is suspended'))
  }
  request.ocpiPartner = found
  done()
}

/** The AuthorizationInfo envelope, or 404 / 2004 for a token we do not know. */
function authorizeAnswer(
  answer: AuthorizationOutcome,
  context: { version: OcpiVersion; partner: OcpiPartner; location: unknown; us: { country_code: string; party_id: string } },
  reply: FastifyReply,
) {
  if (answer.allowed === 'UNKNOWN') {
    reply.code(404)
    return { status_code: OCPI_STATUS.unknownToken, status_message: 'Unknown Token', timestamp: ocpiTimestamp() }
  }
  const { version, partner, location, us } = context
  return success({
    allowed: answer.allowed,
    token: toOcpiToken(answer.key, { version, partner, countryCode: us.country_code, partyId: us.party_id, allowed: answer.allowed }),
    ...(location !== undefined && { location }),
    authorization_reference: answer.authorizationReference,
  })
}

/** For tests: every OCPI route the table says we serve, as Fastify paths. */
export function expectedOcpiRoutes(): Array<{ method: Method; url: string }> {
  return [
    { method: 'GET', url: `${OCPI_BASE_PATH}/versions` },
    ...OCPI_VERSIONS.map((v) => ({ method: 'GET' as const, url: `${OCPI_BASE_PATH}/${v}` })),
    ...OCPI_OPERATIONS.flatMap((op) => op.versions.map((v) => ({ method: op.method, url: `${OCPI_BASE_PATH}/${v}/${op.path}` }))),
  ]
}
