import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import { OpenpncError } from '../../core/errors.ts'
import { ErrorResponse } from '../../infra/http/errors.ts'
import { platform as platformAuth, routeTable } from '../../infra/http/route-table.ts'
import type { Platform } from '../../platform.ts'
import { ocpiDestination, parseParty, partyName, type OcpiPartner } from './partners.ts'
import { tokenSubject } from './token-sender.ts'

// Examples for the documentation (a test validates them against the schemas).
const partnerExample = {
  id: '7c1e9b2a-3d4f-4a5b-8c6d-0e1f2a3b4c5d',
  name: 'Demo CPO',
  status: 'registered',
  version: '2.3.0',
  versionsUrl: 'https://cpo.example.com/ocpi/versions',
  roles: [{ role: 'CPO', country_code: 'NL', party_id: 'SIM' }],
  endpoints: [{ identifier: 'tokens', role: 'RECEIVER', url: 'https://cpo.example.com/ocpi/2.3.0/tokens' }],
  authorizationStyle: 'base64',
  emaidTokenType: null,
  pushAllTokens: true,
  delivery: { backlog: 0, failing: 0, delivered: 1250, deadLetters: 0, nextAttemptAt: null, lastError: null },
  suspended: null,
  parties: ['NL*SIM'],
  registered: '2026-01-15T09:10:00.000Z',
  created: '2026-01-15T09:00:00.000Z',
  updated: '2026-01-15T09:10:00.000Z',
}
const newPartner = { ...partnerExample, status: 'created', version: null, versionsUrl: null, roles: [], endpoints: [], registered: null }

/** Admin operations on OCPI partners (platform admin key). */
export const OCPI_ADMIN_API = routeTable({
  createOcpiPartner: {
    method: 'POST',
    url: '/admin/v1/ocpi/partners',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: 'Create an OCPI partner and the Token A it registers with',
    example: {
      request: { name: 'Demo CPO' },
      response: {
        id: newPartner.id,
        tokenA: 'b3c1f0e2-6a7d-4e8f-9a0b-1c2d3e4f5a6b',
        versionsUrl: 'https://emsp.example.com/ocpi/emsp/versions',
        partner: { ...newPartner, delivery: { ...newPartner.delivery, delivered: 0 } },
      },
    },
    secretBearing: true,
    errors: ['ocpi_party_taken'],
  },
  listOcpiPartners: {
    method: 'GET',
    url: '/admin/v1/ocpi/partners',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: 'List OCPI partners',
  },
  getOcpiPartner: {
    method: 'GET',
    url: '/admin/v1/ocpi/partners/:partnerId',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: 'Get an OCPI partner',
    errors: ['ocpi_partner_not_found'],
  },
  updateOcpiPartner: {
    method: 'PATCH',
    url: '/admin/v1/ocpi/partners/:partnerId',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: "Change a partner's name, authorization header style, token type or the parties it may act for",
    errors: ['ocpi_partner_not_found', 'ocpi_party_taken'],
    example: { request: { authorizationStyle: 'raw' }, response: { ...partnerExample, authorizationStyle: 'raw' } },
  },
  deleteOcpiPartner: {
    method: 'DELETE',
    url: '/admin/v1/ocpi/partners/:partnerId',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: 'Delete a partner for good: its credentials, pending token deliveries and locations go with it',
    errors: ['ocpi_partner_not_found'],
  },
  suspendOcpiPartner: {
    method: 'POST',
    url: '/admin/v1/ocpi/partners/:partnerId/suspend',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: 'Suspend a partner: its tokens are refused, nothing is pushed to or pulled from it until it is resumed',
    errors: ['ocpi_partner_not_found'],
  },
  resumeOcpiPartner: {
    method: 'POST',
    url: '/admin/v1/ocpi/partners/:partnerId/resume',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: 'Resume a suspended partner: its tokens work again and the deliveries that waited go out',
    errors: ['ocpi_partner_not_found'],
  },
  reconcileOcpiPartner: {
    method: 'POST',
    url: '/admin/v1/ocpi/partners/:partnerId/reconcile',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: "Compare the CPO's copies of our tokens with ours and re-push the differences",
    errors: ['ocpi_partner_not_found', 'ocpi_partner_not_registered', 'ocpi_reconcile_failed', 'ocpi_partner_suspended'],
    example: { response: { checked: 1250, differing: 3 } },
  },
  pullOcpiPartnerLocations: {
    method: 'POST',
    url: '/admin/v1/ocpi/partners/:partnerId/pull-locations',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: "Pull a CPO's locations now: a delta since the last pull, or a full pull that replaces its set",
    errors: ['ocpi_partner_not_found', 'ocpi_pull_failed', 'ocpi_partner_suspended'],
    example: { request: { full: true }, response: { received: 5120, stored: 5118, invalid: 2, removed: 14, full: true } },
  },
  listOcpiPartnerDeadLetters: {
    method: 'GET',
    url: '/admin/v1/ocpi/partners/:partnerId/dead-letters',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: "A partner's token deliveries that failed for good (e.g. refused as invalid): parked until replayed or changed again",
    errors: ['ocpi_partner_not_found'],
    example: {
      response: {
        deadLetters: [
          {
            keyId: '3d9a4c1e-7b2f-4e8a-9c0d-1f2e3a4b5c6d',
            version: '18234',
            attempts: 1,
            reason: 'HTTP 400 from partner (OCPI status 2001)',
            deadAt: '2026-01-15T09:20:00.000Z',
          },
        ],
      },
    },
  },
  replayOcpiPartnerDeadLetters: {
    method: 'POST',
    url: '/admin/v1/ocpi/partners/:partnerId/dead-letters/replay',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: "Send a partner's dead letters again, one (keyId) or all, in the token's current state",
    errors: ['ocpi_partner_not_found'],
    example: { request: { keyId: '3d9a4c1e-7b2f-4e8a-9c0d-1f2e3a4b5c6d' }, response: { replayed: 1 } },
  },
  registerWithOcpiPartner: {
    method: 'POST',
    url: '/admin/v1/ocpi/partners/:partnerId/register',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: 'Register with a CPO using its versions URL and Token A',
    errors: ['ocpi_partner_not_found', 'ocpi_partner_registered', 'ocpi_registration_failed', 'ocpi_partner_suspended'],
    example: {
      request: { versionsUrl: 'https://cpo.example.com/ocpi/versions', tokenA: 'cpo-token-a-7f3e9d21' },
      response: partnerExample,
    },
  },
})

const R = OCPI_ADMIN_API
const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse }

const Style = Type.Union([Type.Literal('base64'), Type.Literal('raw')], {
  description: 'how we send our token in Authorization: base64 (OCPI 2.2+) or raw (older partners)',
})
const EmaidTokenType = Type.Union([Type.Literal('OTHER'), Type.Literal('EMAID'), Type.Null()], {
  description: 'Token.type of Plug&Charge keys for this partner; null: OTHER on 2.2.1, EMAID on 2.3.0',
})

const PushAllTokens = Type.Boolean({
  description: 'queue every existing token for the partner when it registers (default true: many CPOs only accept pushes)',
})

const Parties = Type.Array(
  Type.String({
    pattern: '^[A-Za-z]{2}\\*[A-Za-z0-9]{3}$',
    description: 'a party as country_code*party_id, e.g. NL*CPO (any case; stored upper-case)',
  }),
  {
    maxItems: 100,
    description:
      'the parties the partner may act for (its credentials may claim only these); one party belongs to one partner. ' +
      'Without any, its first registration fixes them.',
  },
)

const PartnerResponse = Type.Object(
  {
    id: Type.String(),
    name: Type.String(),
    status: Type.String({ description: 'created | registered | unregistered' }),
    suspended: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
      description: 'when a platform admin suspended the partner; null: not suspended',
    }),
    version: Type.Union([Type.String(), Type.Null()]),
    versionsUrl: Type.Union([Type.String(), Type.Null()]),
    roles: Type.Array(
      Type.Object({ role: Type.String(), country_code: Type.String(), party_id: Type.String() }, { additionalProperties: true }),
    ),
    endpoints: Type.Array(Type.Object({ identifier: Type.String(), role: Type.String(), url: Type.String() })),
    parties: Type.Array(Type.String(), { description: 'the parties it may act for, as NL*CPO' }),
    authorizationStyle: Type.String(),
    emaidTokenType: Type.Union([Type.String(), Type.Null()]),
    pushAllTokens: Type.Boolean({ description: 'whether registering queues every existing token for the partner' }),
    delivery: Type.Object({
      backlog: Type.Integer({ description: 'tokens with a change not yet delivered' }),
      failing: Type.Integer({ description: 'of those, tokens whose last attempt failed' }),
      delivered: Type.Integer(),
      deadLetters: Type.Integer({ description: 'tokens whose delivery failed for good, waiting for a replay (not in the backlog)' }),
      nextAttemptAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
      lastError: Type.Union([Type.String(), Type.Null()]),
    }),
    registered: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    created: Type.String({ format: 'date-time' }),
    updated: Type.String({ format: 'date-time' }),
  },
  { title: 'OcpiPartner' },
)

const PartnerParams = Type.Object({ partnerId: Type.String({ maxLength: 64 }) })

type Delivery = Awaited<ReturnType<Platform['ocpi']['push']['status']>>

function presentPartner(p: OcpiPartner, delivery: Delivery): Static<typeof PartnerResponse> {
  return {
    id: p.id,
    name: p.name,
    status: p.status,
    suspended: p.suspendedAt?.toISOString() ?? null,
    version: p.version,
    versionsUrl: p.versionsUrl,
    roles: p.roles,
    endpoints: p.endpoints,
    parties: p.parties.map(partyName),
    authorizationStyle: p.authorizationStyle,
    emaidTokenType: p.emaidTokenType,
    pushAllTokens: p.pushAllTokens,
    delivery: {
      backlog: delivery.backlog,
      failing: delivery.failing,
      delivered: delivery.delivered,
      deadLetters: delivery.deadLetters,
      nextAttemptAt: delivery.nextAttemptAt?.toISOString() ?? null,
      lastError: delivery.lastError,
    },
    registered: p.registeredAt?.toISOString() ?? null,
    created: p.createdAt.toISOString(),
    updated: p.updatedAt.toISOString(),
  }
}

/** Nothing is sent to or pulled from a suspended partner, on a schedule or on request. */
function refuseSuspended(partner: OcpiPartner) {
  if (partner.suspendedAt) throw new OpenpncError('conflict', 'ocpi_partner_suspended', 'the partner is suspended; resume it first')
}

export const ocpiAdminApi: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const { partners, registration, push } = platform.ocpi
  const versionsUrl = () => `${platform.publicUrl()}/ocpi/emsp/versions`
  const present = async (p: OcpiPartner) => presentPartner(p, await push.status(p.id))

  app.route({
    ...R.createOcpiPartner.route,
    schema: {
      ...R.createOcpiPartner.doc,
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 200 }),
        authorizationStyle: Type.Optional(Style),
        emaidTokenType: Type.Optional(EmaidTokenType),
        parties: Type.Optional(Parties),
        pushAllTokens: Type.Optional(PushAllTokens),
      }),
      response: {
        201: Type.Object({
          id: Type.String(),
          tokenA: Type.String({ description: 'give this to the CPO, once; it stops working when the CPO registers' }),
          versionsUrl: Type.String(),
          partner: PartnerResponse,
        }),
        ...errors,
      },
    },
    handler: async (request, reply) => {
      const { parties, ...rest } = request.body
      const { partner, tokenA } = await partners.create({ ...rest, parties: parties?.map(parseParty) })
      return reply.code(201).send({ id: partner.id, tokenA, versionsUrl: versionsUrl(), partner: await present(partner) })
    },
  })

  app.route({
    ...R.listOcpiPartners.route,
    schema: { ...R.listOcpiPartners.doc, response: { 200: Type.Object({ partners: Type.Array(PartnerResponse) }), ...errors } },
    handler: async () => ({ partners: await Promise.all((await partners.list()).map(present)) }),
  })

  app.route({
    ...R.getOcpiPartner.route,
    schema: { ...R.getOcpiPartner.doc, params: PartnerParams, response: { 200: PartnerResponse, ...errors } },
    handler: async (request) => present(await partners.get(request.params.partnerId)),
  })

  app.route({
    ...R.updateOcpiPartner.route,
    schema: {
      ...R.updateOcpiPartner.doc,
      params: PartnerParams,
      body: Type.Object({
        name: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
        authorizationStyle: Type.Optional(Style),
        emaidTokenType: Type.Optional(EmaidTokenType),
        parties: Type.Optional(Parties),
        pushAllTokens: Type.Optional(PushAllTokens),
      }),
      response: { 200: PartnerResponse, ...errors },
    },
    handler: async (request) => {
      await partners.get(request.params.partnerId)
      const { parties, ...rest } = request.body
      return present(await partners.update(request.params.partnerId, { ...rest, parties: parties?.map(parseParty) }))
    },
  })

  app.route({
    ...R.suspendOcpiPartner.route,
    schema: { ...R.suspendOcpiPartner.doc, params: PartnerParams, response: { 200: PartnerResponse, ...errors } },
    handler: async (request) => present(await partners.setSuspended(request.params.partnerId, true)),
  })

  app.route({
    ...R.resumeOcpiPartner.route,
    schema: { ...R.resumeOcpiPartner.doc, params: PartnerParams, response: { 200: PartnerResponse, ...errors } },
    handler: async (request) => present(await partners.setSuspended(request.params.partnerId, false)),
  })

  app.route({
    ...R.deleteOcpiPartner.route,
    schema: {
      ...R.deleteOcpiPartner.doc,
      params: PartnerParams,
      response: { 204: Type.Null({ description: 'deleted' }), ...errors },
    },
    handler: async (request, reply) => {
      await partners.remove(request.params.partnerId)
      return reply.code(204).send(null)
    },
  })

  app.route({
    ...R.listOcpiPartnerDeadLetters.route,
    schema: {
      ...R.listOcpiPartnerDeadLetters.doc,
      params: PartnerParams,
      querystring: Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })) }),
      response: {
        200: Type.Object({
          deadLetters: Type.Array(
            Type.Object({
              keyId: Type.String(),
              version: Type.String({ description: 'the key event the delivery was for' }),
              attempts: Type.Integer(),
              reason: Type.Union([Type.String(), Type.Null()]),
              deadAt: Type.String({ format: 'date-time' }),
            }),
          ),
        }),
        ...errors,
      },
    },
    handler: async (request) => {
      const partner = await partners.get(request.params.partnerId)
      const dead = await platform.deliveries.deadLetters({ destination: ocpiDestination(partner.id), limit: request.query.limit })
      return {
        deadLetters: dead.map((d) => ({
          keyId: d.subject.replace(/^token:/, ''),
          version: d.version,
          attempts: d.attempts,
          reason: d.reason,
          deadAt: d.deadAt.toISOString(),
        })),
      }
    },
  })

  app.route({
    ...R.replayOcpiPartnerDeadLetters.route,
    schema: {
      ...R.replayOcpiPartnerDeadLetters.doc,
      params: PartnerParams,
      body: Type.Object({ keyId: Type.Optional(Type.String({ format: 'uuid', description: 'one key; without it, every dead letter' })) }),
      response: { 200: Type.Object({ replayed: Type.Integer() }), ...errors },
    },
    handler: async (request) => {
      const partner = await partners.get(request.params.partnerId)
      const { keyId } = request.body
      return { replayed: await platform.deliveries.replay(ocpiDestination(partner.id), keyId && tokenSubject(keyId.toLowerCase())) }
    },
  })

  app.route({
    ...R.registerWithOcpiPartner.route,
    schema: {
      ...R.registerWithOcpiPartner.doc,
      params: PartnerParams,
      body: Type.Object({
        versionsUrl: Type.String({ pattern: '^https?://', maxLength: 255 }),
        tokenA: Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\x21-\\x7e]+$' }),
      }),
      response: { 200: PartnerResponse, ...errors },
    },
    handler: async (request) =>
      present(await registration.registerWith(request.params.partnerId, request.body.versionsUrl, request.body.tokenA)),
  })

  app.route({
    ...R.pullOcpiPartnerLocations.route,
    schema: {
      ...R.pullOcpiPartnerLocations.doc,
      params: PartnerParams,
      body: Type.Object({
        full: Type.Optional(Type.Boolean({ description: "replace the CPO's set (default: only the first pull is full)" })),
      }),
      response: {
        200: Type.Object({
          received: Type.Integer(),
          stored: Type.Integer(),
          invalid: Type.Integer(),
          removed: Type.Integer(),
          full: Type.Boolean(),
        }),
        ...errors,
      },
    },
    handler: async (request) => {
      const partner = await partners.get(request.params.partnerId)
      refuseSuspended(partner)
      try {
        return await platform.ocpi.locationPull.pull(partner.id, { full: request.body.full })
      } catch (error) {
        throw new OpenpncError('bad_gateway', 'ocpi_pull_failed', (error as Error).message)
      }
    },
  })

  app.route({
    ...R.reconcileOcpiPartner.route,
    schema: {
      ...R.reconcileOcpiPartner.doc,
      params: PartnerParams,
      response: {
        200: Type.Object({
          checked: Type.Integer(),
          differing: Type.Integer({ description: 'missing or different at the CPO: queued for a full re-push' }),
          unreadable: Type.Integer({ description: 'answers that could not be read (not one Token, or a failed request): not re-pushed' }),
        }),
        ...errors,
      },
    },
    handler: async (request) => {
      const partner = await partners.get(request.params.partnerId)
      if (partner.status !== 'registered') {
        throw new OpenpncError('conflict', 'ocpi_partner_not_registered', 'the partner is not registered')
      }
      refuseSuspended(partner)
      try {
        return await push.reconcile(partner.id)
      } catch (error) {
        throw new OpenpncError('bad_gateway', 'ocpi_reconcile_failed', (error as Error).message)
      }
    },
  })
}
