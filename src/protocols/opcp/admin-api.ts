import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { OpenpncError } from '../../core/errors.ts'
import { ErrorResponse } from '../../infra/http/errors.ts'
import { platform as platformAuth, routeTable } from '../../infra/http/route-table.ts'
import type { Platform } from '../../platform.ts'
import { OpcpError } from './client.ts'
import { OPCP_WEBHOOK_PATH } from './server.ts'
import { SUBSCRIBED_EVENTS } from './protocol.ts'

const endpointExample = {
  id: 'we_4f1c2d3e',
  url: 'https://openpnc.example.com/opcp/webhooks',
  events: ['mo.prov.cert.updated', 'mo.prov.cert.deleted'],
  active: true,
  created: '2026-01-15T09:00:00.000Z',
}
const eventExample = {
  eventId: '3b241101-e2bb-4255-8caf-4136c566a962',
  eventType: 'mo.contract.delivered.to.oem',
  emaid: 'DE8PSC0AD21B13P',
  pcid: 'WDBRF61J21F123456',
  keyId: '0f8c2a4e-5b1d-4c3a-9e7f-2d6b8a1c3e5f',
  outcome: 'applied',
  detail: 'OEM delivery: delivered',
  signatureHeader: 'x-hubject-signature',
  received: '2026-01-15T09:05:00.000Z',
  body: {},
}

/** Admin operations on the connection to Hubject's Plug&Charge ecosystem (platform admin key). */
export const OPCP_ADMIN_API = routeTable({
  getOpcpStatus: {
    method: 'GET',
    url: '/admin/v1/opcp',
    auth: platformAuth,
    tag: 'Admin: OPCP',
    summary:
      "The connection to Hubject's Plug&Charge ecosystem: its settings, the contracts' publication backlog, the trusted roots and the webhook endpoints",
    errors: ['opcp_not_configured'],
  },
  registerOpcpWebhook: {
    method: 'POST',
    url: '/admin/v1/opcp/webhook-endpoints',
    auth: platformAuth,
    tag: 'Admin: OPCP',
    summary:
      'Register our webhook endpoint with Hubject (default: <public URL>/opcp/webhooks, the events that concern an MO); its secret is kept encrypted',
    errors: ['opcp_not_configured', 'opcp_error'],
    example: { request: { url: endpointExample.url }, response: endpointExample },
  },
  listOpcpWebhooks: {
    method: 'GET',
    url: '/admin/v1/opcp/webhook-endpoints',
    auth: platformAuth,
    tag: 'Admin: OPCP',
    summary: 'Our webhook endpoints registered with Hubject',
    errors: ['opcp_not_configured'],
    example: { response: { endpoints: [endpointExample] } },
  },
  listOpcpEvents: {
    method: 'GET',
    url: '/admin/v1/opcp/events',
    auth: platformAuth,
    tag: 'Admin: OPCP',
    summary: 'The webhook events Hubject sent, newest first, with what openpnc did about each',
    errors: ['opcp_not_configured'],
    example: { response: { events: [eventExample] } },
  },
  refreshOpcpRoots: {
    method: 'POST',
    url: '/admin/v1/opcp/roots/refresh',
    auth: platformAuth,
    tag: 'Admin: OPCP',
    summary: 'Read the trusted roots from the Root Certificate Pool now',
    errors: ['opcp_not_configured', 'opcp_error'],
    example: { response: { roots: 4, added: 1, removed: 0 } },
  },
})

const R = OPCP_ADMIN_API
const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse }
const Time = Type.String({ format: 'date-time' })
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()])

const Endpoint = Type.Object(
  { id: Type.String(), url: Type.String(), events: Type.Array(Type.String()), active: Type.Boolean(), created: Time },
  { title: 'OpcpWebhookEndpoint' },
)
const Event = Type.Object(
  {
    eventId: Type.String(),
    eventType: Type.String(),
    emaid: Nullable(Type.String()),
    pcid: Nullable(Type.String()),
    keyId: Nullable(Type.String()),
    outcome: Type.String({ description: 'applied, no_contract (no key of ours), recorded (nothing to do), unknown_type' }),
    detail: Nullable(Type.String()),
    signatureHeader: Type.String({ description: 'the header whose signature verified' }),
    received: Time,
    body: Type.Unknown({ description: 'the event as Hubject sent it' }),
  },
  { title: 'OpcpWebhookEvent' },
)

/** Hubject's refusal as our 502, naming its errorMessages and traceId. */
const asAdminError = (error: unknown) => (error instanceof OpcpError ? new OpenpncError('bad_gateway', 'opcp_error', error.message) : error)

export const opcpAdminApi: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const opcp = () => {
    if (!platform.opcp)
      throw new OpenpncError(
        'conflict',
        'opcp_not_configured',
        "there is no connection to Hubject's Plug&Charge ecosystem (OPENPNC_OPCP_URL)",
      )
    return platform.opcp
  }

  app.route({
    ...R.getOpcpStatus.route,
    schema: {
      ...R.getOpcpStatus.doc,
      response: {
        200: Type.Object({
          connection: Type.Object({ url: Type.String(), tokenUrl: Type.String(), clientId: Type.String(), audience: Type.String() }),
          publication: Type.Object({
            backlog: Type.Integer(),
            failing: Type.Integer(),
            delivered: Type.Integer(),
            deadLetters: Type.Integer({ description: 'publications that failed for good (the partner or an admin retries them)' }),
            lastError: Nullable(Type.String()),
            states: Type.Record(Type.String(), Type.Integer(), { description: 'contracts per publication state' }),
          }),
          roots: Type.Object({
            trusted: Type.Integer({ description: 'V2G and OEM roots from the pool among the trust anchors' }),
            stored: Type.Integer(),
          }),
          webhookEndpoints: Type.Array(Endpoint),
        }),
        ...errors,
      },
    },
    handler: async () => {
      const o = opcp()
      const delivery = await o.publication.status()
      const states = await platform.db
        .selectFrom('opcp_contracts')
        .select(['state'])
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .groupBy('state')
        .execute()
      const stored = await platform.db
        .selectFrom('opcp_roots')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('removed_at', 'is', null)
        .executeTakeFirstOrThrow()
      return {
        connection: {
          url: o.client.options.baseUrl,
          tokenUrl: o.client.options.tokenUrl,
          clientId: o.client.options.clientId,
          audience: o.client.options.audience,
        },
        publication: {
          backlog: delivery.backlog,
          failing: delivery.failing,
          delivered: delivery.delivered,
          deadLetters: delivery.deadLetters,
          lastError: delivery.lastError,
          states: Object.fromEntries(states.map((s) => [s.state, Number(s.n)])),
        },
        roots: { trusted: platform.ca.trusted.poolSize, stored: Number(stored.n) },
        webhookEndpoints: (await o.webhooks.endpoints()).map((e) => ({ ...e, created: e.created.toISOString() })),
      }
    },
  })

  app.route({
    ...R.registerOpcpWebhook.route,
    schema: {
      ...R.registerOpcpWebhook.doc,
      body: Type.Object({
        url: Type.Optional(
          Type.String({
            pattern: '^https?://',
            maxLength: 2000,
            description: 'where Hubject sends events; default <public URL>/opcp/webhooks',
          }),
        ),
        events: Type.Optional(
          Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
            minItems: 1,
            maxItems: 50,
            description: `default: ${SUBSCRIBED_EVENTS.join(', ')}`,
          }),
        ),
      }),
      response: { 201: Endpoint, ...errors },
    },
    handler: async (request, reply) => {
      const url = request.body.url ?? `${platform.publicUrl()}${OPCP_WEBHOOK_PATH}`
      const endpoint = await opcp()
        .webhooks.register(url, request.body.events)
        .catch((error: unknown) => {
          throw asAdminError(error)
        })
      return reply.code(201).send({ ...endpoint, active: true, created: new Date().toISOString() })
    },
  })

  app.route({
    ...R.listOpcpWebhooks.route,
    schema: { ...R.listOpcpWebhooks.doc, response: { 200: Type.Object({ endpoints: Type.Array(Endpoint) }), ...errors } },
    handler: async () => ({ endpoints: (await opcp().webhooks.endpoints()).map((e) => ({ ...e, created: e.created.toISOString() })) }),
  })

  app.route({
    ...R.listOpcpEvents.route,
    schema: {
      ...R.listOpcpEvents.doc,
      querystring: Type.Object({
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
        eventType: Type.Optional(Type.String({ maxLength: 100 })),
        emaid: Type.Optional(Type.String({ maxLength: 20 })),
        before: Type.Optional(Type.String({ format: 'date-time', description: 'events received before this time (paging)' })),
      }),
      response: { 200: Type.Object({ events: Type.Array(Event) }), ...errors },
    },
    handler: async (request) => {
      const { limit, eventType, emaid, before } = request.query
      const events = await opcp().webhooks.events({ limit, eventType, emaid, before: before ? new Date(before) : undefined })
      return { events: events.map((e) => ({ ...e, received: e.received.toISOString() })) }
    },
  })

  app.route({
    ...R.refreshOpcpRoots.route,
    schema: {
      ...R.refreshOpcpRoots.doc,
      response: { 200: Type.Object({ roots: Type.Integer(), added: Type.Integer(), removed: Type.Integer() }), ...errors },
    },
    handler: async () =>
      opcp()
        .roots.refresh()
        .catch((error: unknown) => {
          throw asAdminError(error)
        }),
  })
}
