import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import { ALL_EVENTS, WEBHOOK_EVENT_TYPES } from '../../core/webhooks/events.ts'
import { ErrorResponse } from '../../infra/http/errors.ts'
import { organizationOf } from '../../infra/http/auth.ts'
import type { Platform } from '../../platform.ts'
import type { WebhookDelivery, WebhookEndpoint } from '../../services/webhooks/webhook-endpoints.ts'
import { DRIVE_API as R } from './routes.ts'

const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse }
const NoContent = Type.Null({ description: 'done' })
const DateTime = (description: string) => Type.String({ format: 'date-time', description })
const NullableDateTime = (description: string) => Type.Union([DateTime(description), Type.Null()])

const Events = Type.Array(Type.String({ minLength: 1, maxLength: 100 }), {
  minItems: 1,
  maxItems: 100,
  description: `the events to receive: ${ALL_EVENTS} (all), or any of ${WEBHOOK_EVENT_TYPES.join(', ')}`,
})
const Url = Type.String({
  minLength: 1,
  maxLength: 2000,
  description:
    'where events are POSTed: https, on a public address (http and private addresses only with OPENPNC_ALLOW_PRIVATE_PARTNER_URLS, for local tests)',
})
const Description = Type.Union([Type.String({ maxLength: 500 }), Type.Null()])

export const WebhookParams = Type.Object({
  webhookId: Type.String({ minLength: 1, maxLength: 64, description: 'the endpoint ID (a UUID)' }),
})
const DeliveryParams = Type.Object({
  webhookId: WebhookParams.properties.webhookId,
  deliveryId: Type.String({ minLength: 1, maxLength: 64, description: 'the delivery ID (a UUID) from the listing' }),
})

const CreateWebhookBody = Type.Object({ url: Url, events: Events, description: Type.Optional(Description) })
const UpdateWebhookBody = Type.Object(
  {
    url: Type.Optional(Url),
    events: Type.Optional(Events),
    description: Type.Optional(Description),
    enabled: Type.Optional(
      Type.Boolean({
        description:
          'false: nothing is sent and events that happen meanwhile are not queued for it; deliveries queued before wait for true',
      }),
    ),
  },
  { description: 'only the given fields change' },
)

const WebhookFields = {
  id: Type.String(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  description: Description,
  enabled: Type.Boolean(),
  previousSecretValidUntil: NullableDateTime('after a rotation: until when the previous secret still signs beside the new one'),
  created: DateTime('when it was registered'),
  updated: DateTime('when it last changed'),
}
const WebhookResponse = Type.Object(WebhookFields, { title: 'Webhook' })
const WebhookWithSecret = Type.Object(
  {
    ...WebhookFields,
    secret: Type.String({
      description: 'the signing secret (whsec_...), shown only now: verify each call with a Standard Webhooks library and this secret',
    }),
  },
  { title: 'WebhookWithSecret' },
)
const WebhookList = Type.Object({ webhooks: Type.Array(WebhookResponse) })

const DeliveryStatus = Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')], {
  description:
    'pending: queued or being retried; delivered: answered 2xx; failed: still failing 3 days after its first attempt (replay it)',
})
const DeliveryResponse = Type.Object(
  {
    id: Type.String(),
    eventId: Type.String({ description: 'the webhook-id header: the same on every attempt and replay' }),
    type: Type.String(),
    status: DeliveryStatus,
    attempts: Type.Integer(),
    occurred: DateTime('when the event happened'),
    firstAttempt: NullableDateTime('first attempt'),
    lastAttempt: NullableDateTime('latest attempt'),
    lastStatusCode: Type.Union([Type.Integer(), Type.Null()], { description: "the endpoint's HTTP status at the latest attempt" }),
    lastError: Type.Union([Type.String(), Type.Null()], { description: 'why the latest attempt failed' }),
    delivered: NullableDateTime('when it was delivered'),
  },
  { title: 'WebhookDelivery' },
)
const DeliveryQuery = Type.Object({
  status: Type.Optional(DeliveryStatus),
  from: Type.Optional(DateTime('only events that happened at or after this time')),
  to: Type.Optional(DateTime('only events that happened before this time')),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 100, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 200, description: 'from the previous answer, for the next page; with the same filters' })),
})
const DeliveryList = Type.Object({
  deliveries: Type.Array(DeliveryResponse),
  cursor: Type.Optional(Type.String({ description: 'present when there are more: pass it for the next page' })),
})
const ReplayBody = Type.Object({ from: DateTime('events that happened at or after this time'), to: DateTime('and before this time') })
const ReplayAnswer = Type.Object({ replayed: Type.Integer({ description: 'how many deliveries were queued again' }) })
const EmptyBody = Type.Optional(Type.Object({}))

const iso = (d: Date | null) => (d === null ? null : d.toISOString())

function presentWebhook(endpoint: WebhookEndpoint): Static<typeof WebhookResponse> {
  return {
    id: endpoint.id,
    url: endpoint.url,
    events: endpoint.events,
    description: endpoint.description,
    enabled: endpoint.enabled,
    previousSecretValidUntil: iso(endpoint.previousSecretUntil),
    created: endpoint.createdAt.toISOString(),
    updated: endpoint.updatedAt.toISOString(),
  }
}

function presentDelivery(d: WebhookDelivery): Static<typeof DeliveryResponse> {
  return {
    id: d.id,
    eventId: d.eventId,
    type: d.type,
    status: d.status,
    attempts: d.attempts,
    occurred: d.occurredAt.toISOString(),
    firstAttempt: iso(d.firstAttemptAt),
    lastAttempt: iso(d.lastAttemptAt),
    lastStatusCode: d.lastStatusCode,
    lastError: d.lastError,
    delivered: iso(d.deliveredAt),
  }
}

/** The Drive API's webhook endpoints (`/v1/webhooks`, scope `webhooks`). */
export const webhookRoutes: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const endpoints = platform.webhooks.endpoints

  app.route({
    ...R.createWebhook.route,
    schema: { ...R.createWebhook.doc, body: CreateWebhookBody, response: { 201: WebhookWithSecret, ...errors } },
    handler: async (request, reply) => {
      const { endpoint, secret } = await endpoints.create(organizationOf(request), request.body)
      return reply.code(201).send({ ...presentWebhook(endpoint), secret })
    },
  })

  app.route({
    ...R.listWebhooks.route,
    schema: { ...R.listWebhooks.doc, response: { 200: WebhookList, ...errors } },
    handler: async (request) => ({ webhooks: (await endpoints.list(organizationOf(request))).map(presentWebhook) }),
  })

  app.route({
    ...R.getWebhook.route,
    schema: { ...R.getWebhook.doc, params: WebhookParams, response: { 200: WebhookResponse, ...errors } },
    handler: async (request) => presentWebhook(await endpoints.get(organizationOf(request), request.params.webhookId)),
  })

  app.route({
    ...R.updateWebhook.route,
    schema: { ...R.updateWebhook.doc, params: WebhookParams, body: UpdateWebhookBody, response: { 200: WebhookResponse, ...errors } },
    handler: async (request) => presentWebhook(await endpoints.update(organizationOf(request), request.params.webhookId, request.body)),
  })

  app.route({
    ...R.deleteWebhook.route,
    schema: { ...R.deleteWebhook.doc, params: WebhookParams, response: { 204: NoContent, ...errors } },
    handler: async (request, reply) => {
      await endpoints.delete(organizationOf(request), request.params.webhookId)
      return reply.code(204).send(null)
    },
  })

  app.route({
    ...R.rotateWebhookSecret.route,
    schema: { ...R.rotateWebhookSecret.doc, params: WebhookParams, body: EmptyBody, response: { 200: WebhookWithSecret, ...errors } },
    handler: async (request) => {
      const { endpoint, secret } = await endpoints.rotateSecret(organizationOf(request), request.params.webhookId)
      return { ...presentWebhook(endpoint), secret }
    },
  })

  app.route({
    ...R.listWebhookDeliveries.route,
    schema: {
      ...R.listWebhookDeliveries.doc,
      params: WebhookParams,
      querystring: DeliveryQuery,
      response: { 200: DeliveryList, ...errors },
    },
    handler: async (request) => {
      const { status, from, to, limit, cursor } = request.query
      const page = await endpoints.deliveries(organizationOf(request), request.params.webhookId, {
        status,
        from: from === undefined ? undefined : new Date(from),
        to: to === undefined ? undefined : new Date(to),
        limit: limit ?? 50,
        cursor,
      })
      return { deliveries: page.deliveries.map(presentDelivery), ...(page.cursor !== undefined && { cursor: page.cursor }) }
    },
  })

  app.route({
    ...R.replayWebhookDelivery.route,
    schema: { ...R.replayWebhookDelivery.doc, params: DeliveryParams, body: EmptyBody, response: { 202: DeliveryResponse, ...errors } },
    handler: async (request, reply) => {
      const { webhookId, deliveryId } = request.params
      return reply.code(202).send(presentDelivery(await endpoints.replay(organizationOf(request), webhookId, deliveryId)))
    },
  })

  app.route({
    ...R.replayWebhookEvents.route,
    schema: { ...R.replayWebhookEvents.doc, params: WebhookParams, body: ReplayBody, response: { 202: ReplayAnswer, ...errors } },
    handler: async (request, reply) => {
      const replayed = await endpoints.replayRange(organizationOf(request), request.params.webhookId, {
        from: new Date(request.body.from),
        to: new Date(request.body.to),
      })
      return reply.code(202).send({ replayed })
    },
  })
}
