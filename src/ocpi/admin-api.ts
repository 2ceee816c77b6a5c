import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import { OpenpncError } from '../errors.ts'
import { ErrorResponse } from '../http/errors.ts'
import { platform as platformAuth, routeTable } from '../http/route-table.ts'
import type { Platform } from '../platform.ts'
import { parseParty, partyName, type OcpiPartner } from './partners.ts'

/** Admin operations on OCPI partners (platform admin key). */
export const OCPI_ADMIN_API = routeTable({
  createOcpiPartner: {
    method: 'POST',
    url: '/admin/v1/ocpi/partners',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: 'Create an OCPI partner and the Token A it registers with',
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
  },
  updateOcpiPartner: {
    method: 'PATCH',
    url: '/admin/v1/ocpi/partners/:partnerId',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: "Change a partner's name, authorization header style, token type or the parties it may act for",
  },
  reconcileOcpiPartner: {
    method: 'POST',
    url: '/admin/v1/ocpi/partners/:partnerId/reconcile',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: "Compare the CPO's copies of our tokens with ours and re-push the differences",
  },
  pullOcpiPartnerLocations: {
    method: 'POST',
    url: '/admin/v1/ocpi/partners/:partnerId/pull-locations',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: "Pull a CPO's locations now: a delta since the last pull, or a full pull that replaces its set",
  },
  registerWithOcpiPartner: {
    method: 'POST',
    url: '/admin/v1/ocpi/partners/:partnerId/register',
    auth: platformAuth,
    tag: 'Admin: OCPI',
    summary: 'Register with a CPO using its versions URL and Token A',
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
    version: Type.Union([Type.String(), Type.Null()]),
    versionsUrl: Type.Union([Type.String(), Type.Null()]),
    roles: Type.Array(
      Type.Object({ role: Type.String(), country_code: Type.String(), party_id: Type.String() }, { additionalProperties: true }),
    ),
    endpoints: Type.Array(Type.Object({ identifier: Type.String(), role: Type.String(), url: Type.String() })),
    parties: Type.Array(Type.String(), { description: 'the parties it may act for, as NL*CPO' }),
    authorizationStyle: Type.String(),
    emaidTokenType: Type.Union([Type.String(), Type.Null()]),
    delivery: Type.Object({
      backlog: Type.Integer({ description: 'tokens with a change not yet delivered' }),
      failing: Type.Integer({ description: 'of those, tokens whose last attempt failed' }),
      delivered: Type.Integer(),
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
    version: p.version,
    versionsUrl: p.versionsUrl,
    roles: p.roles,
    endpoints: p.endpoints,
    parties: p.parties.map(partyName),
    authorizationStyle: p.authorizationStyle,
    emaidTokenType: p.emaidTokenType,
    delivery: { ...delivery, nextAttemptAt: delivery.nextAttemptAt?.toISOString() ?? null },
    registered: p.registeredAt?.toISOString() ?? null,
    created: p.createdAt.toISOString(),
    updated: p.updatedAt.toISOString(),
  }
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
      try {
        return await push.reconcile(partner.id)
      } catch (error) {
        throw new OpenpncError('bad_gateway', 'ocpi_reconcile_failed', (error as Error).message)
      }
    },
  })
}
