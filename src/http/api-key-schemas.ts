import { Type, type Static } from '@sinclair/typebox'
import { SCOPES, type ApiKeyInfo, type IssuedApiKey } from '../organizations/api-keys.ts'

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
