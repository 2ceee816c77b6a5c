import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { apiKeyRoutes } from '../../infra/http/api-key-routes.ts'
import { ErrorResponse } from '../../infra/http/errors.ts'
import { DEFAULT_SCOPES, validateScopes } from '../../services/organizations/api-keys.ts'
import type { Platform } from '../../platform.ts'
import { ADMIN_API as R } from './routes.ts'
import {
  CreateOrganizationBody,
  OrganizationCreatedResponse,
  OrganizationParams,
  OrganizationResponse,
  presentOrganization,
  UpdateOrganizationBody,
} from './schemas.ts'

const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse }

export const adminApi: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const { organizations, apiKeys } = platform

  app.route({
    ...R.createOrganization.route,
    schema: {
      ...R.createOrganization.doc,
      body: CreateOrganizationBody,
      response: { 201: OrganizationCreatedResponse, ...errors },
    },
    handler: async (request, reply) => {
      const scopes = validateScopes(request.body.scopes ?? DEFAULT_SCOPES)
      // The organization and its first key exist together or not at all.
      const created = await platform.db.transaction().execute(async (trx) => {
        const organization = await organizations.create(request.body, trx)
        const key = await apiKeys.issue(organization.id, scopes, trx)
        return { organization, key }
      })
      return reply.code(201).send({
        organization: presentOrganization(created.organization),
        apiKey: created.key.apiKey,
        apiKeyId: created.key.id,
      })
    },
  })

  app.route({
    ...R.listOrganizations.route,
    schema: {
      ...R.listOrganizations.doc,
      response: { 200: Type.Object({ organizations: Type.Array(OrganizationResponse) }), ...errors },
    },
    handler: async () => ({ organizations: (await organizations.list()).map(presentOrganization) }),
  })

  app.route({
    ...R.getOrganization.route,
    schema: { ...R.getOrganization.doc, params: OrganizationParams, response: { 200: OrganizationResponse, ...errors } },
    handler: async (request) => presentOrganization(await organizations.get(request.params.organizationId)),
  })

  app.route({
    ...R.updateOrganization.route,
    schema: {
      ...R.updateOrganization.doc,
      params: OrganizationParams,
      body: UpdateOrganizationBody,
      response: { 200: OrganizationResponse, ...errors },
    },
    handler: async (request) => {
      const organization = await organizations.update(request.params.organizationId, request.body)
      // Verified keys carry their organization's settings: the next request must see the new ones.
      apiKeys.forgetVerified()
      return presentOrganization(organization)
    },
  })

  apiKeyRoutes(
    app,
    apiKeys,
    { list: R.listOrganizationApiKeys, create: R.createOrganizationApiKey, revoke: R.revokeOrganizationApiKey },
    {
      params: OrganizationParams,
      organizationId: async (request) => (await organizations.get((request.params as { organizationId: string }).organizationId)).id,
    },
  )

  // The delivery engine's state, whatever the protocol: backlog per destination, dead letters.
  const Destination = Type.String({ minLength: 1, maxLength: 200, description: 'a destination, e.g. ocpi:<partnerId>' })
  app.route({
    ...R.listDeliveryBacklogs.route,
    schema: {
      ...R.listDeliveryBacklogs.doc,
      response: {
        200: Type.Object({
          destinations: Type.Array(
            Type.Object({
              destination: Type.String(),
              kind: Type.String(),
              backlog: Type.Integer({ description: 'deliveries with a change not yet delivered' }),
              failing: Type.Integer({ description: 'of those, deliveries whose last attempt failed' }),
              deadLetters: Type.Integer(),
            }),
          ),
        }),
        ...errors,
      },
    },
    handler: async () => ({ destinations: await platform.deliveries.backlogs() }),
  })

  app.route({
    ...R.listDeadLetters.route,
    schema: {
      ...R.listDeadLetters.doc,
      querystring: Type.Object({
        destination: Type.Optional(Destination),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
      }),
      response: {
        200: Type.Object({
          deadLetters: Type.Array(
            Type.Object({
              kind: Type.String(),
              destination: Type.String(),
              subject: Type.String(),
              version: Type.String(),
              attempts: Type.Integer(),
              reason: Type.Union([Type.String(), Type.Null()]),
              deadAt: Type.String({ format: 'date-time' }),
            }),
          ),
        }),
        ...errors,
      },
    },
    handler: async (request) => ({
      deadLetters: (await platform.deliveries.deadLetters(request.query)).map((d) => ({ ...d, deadAt: d.deadAt.toISOString() })),
    }),
  })

  app.route({
    ...R.replayDeadLetters.route,
    schema: {
      ...R.replayDeadLetters.doc,
      body: Type.Object({
        destination: Destination,
        subject: Type.Optional(
          Type.String({ minLength: 1, maxLength: 200, description: 'one subject; without it, every dead letter of the destination' }),
        ),
      }),
      response: { 200: Type.Object({ replayed: Type.Integer() }), ...errors },
    },
    handler: async (request) => ({ replayed: await platform.deliveries.replay(request.body.destination, request.body.subject) }),
  })
}
