import { Type, type Static, type TObject } from '@sinclair/typebox'
import type { FastifyInstance, FastifyRequest, HTTPMethods } from 'fastify'
import { ErrorResponse } from './errors.ts'
import { DEFAULT_SCOPES, validateScopes, type ApiKeys } from '../../services/organizations/api-keys.ts'
import type { RouteAuth } from './auth.ts'
import { SCOPES, type ApiKeyInfo, type IssuedApiKey } from '../../services/organizations/api-keys.ts'

export const Scopes = Type.Array(Type.Union(SCOPES.map((s) => Type.Literal(s))), {
  minItems: 1,
  description: `any of ${SCOPES.join(', ')}; default: all`,
})

export const CreateApiKeyBody = Type.Object({ scopes: Type.Optional(Scopes) })

export const ApiKeyIssuedResponse = Type.Object({
  id: Type.String(),
  apiKey: Type.String({ description: 'send as X-API-Key; shown only now, store it safely' }),
  scopes: Scopes,
  created: Type.String({ format: 'date-time' }),
})

export const ApiKeyInfoResponse = Type.Object({
  id: Type.String(),
  scopes: Scopes,
  created: Type.String({ format: 'date-time' }),
  revoked: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
})

export const ApiKeyListResponse = Type.Object({ apiKeys: Type.Array(ApiKeyInfoResponse) })

/** An issued key, for the documentation of both APIs that issue them. */
export const issuedApiKey = {
  id: '3f2a9c1b7d4e5f60',
  apiKey: 'opk_3f2a9c1b7d4e5f60_q8Zr0wKcT1uV2xY3zA4bC5dE6fG7hI8j',
  scopes: ['users', 'charging-keys'],
  created: '2026-01-15T09:00:00.000Z',
}

export const presentIssuedKey = (key: IssuedApiKey): Static<typeof ApiKeyIssuedResponse> => ({
  id: key.id,
  apiKey: key.apiKey,
  scopes: key.scopes,
  created: key.createdAt.toISOString(),
})

export const presentKeyInfo = (key: ApiKeyInfo): Static<typeof ApiKeyInfoResponse> => ({
  id: key.id,
  scopes: key.scopes,
  created: key.createdAt.toISOString(),
  revoked: key.revokedAt?.toISOString() ?? null,
})

type Spec = {
  route: { method: HTTPMethods; url: string; config: { auth: RouteAuth } }
  doc: { operationId: string; summary: string; tags: string[]; security: Array<Record<string, string[]>> }
}

const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse }

/**
 * List, create and revoke API keys of one organization: the same three operations serve the
 * platform admin (organization in the path) and an organization managing its own keys.
 */
export function apiKeyRoutes(
  app: FastifyInstance,
  apiKeys: ApiKeys,
  routes: { list: Spec; create: Spec; revoke: Spec },
  scope: { params: TObject; organizationId(request: FastifyRequest): Promise<string> | string },
) {
  const revokeParams = Type.Composite([scope.params, Type.Object({ keyId: Type.String({ maxLength: 64 }) })])
  app.route({
    ...routes.list.route,
    schema: { ...routes.list.doc, params: scope.params, response: { 200: ApiKeyListResponse, ...errors } },
    handler: async (request) => ({ apiKeys: (await apiKeys.list(await scope.organizationId(request))).map(presentKeyInfo) }),
  })
  app.route({
    ...routes.create.route,
    schema: { ...routes.create.doc, params: scope.params, body: CreateApiKeyBody, response: { 201: ApiKeyIssuedResponse, ...errors } },
    handler: async (request, reply) => {
      const organizationId = await scope.organizationId(request)
      const body = request.body as Static<typeof CreateApiKeyBody>
      const issued = await apiKeys.issue(organizationId, validateScopes(body.scopes ?? DEFAULT_SCOPES))
      return reply.code(201).send(presentIssuedKey(issued))
    },
  })
  app.route({
    ...routes.revoke.route,
    schema: { ...routes.revoke.doc, params: revokeParams, response: { 204: Type.Null({ description: 'revoked' }), ...errors } },
    handler: async (request, reply) => {
      await apiKeys.revoke(await scope.organizationId(request), (request.params as { keyId: string }).keyId)
      return reply.code(204).send()
    },
  })
}
