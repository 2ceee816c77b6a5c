import { Type, type Static } from '@sinclair/typebox'
import type { Organization } from '../../services/organizations/organizations.ts'
import { formatContractIdPrefix } from '../../core/organizations/settings.ts'

const settings = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  enabled: Type.Boolean({ description: 'a disabled organization can neither call the API nor authorize charging' }),
  plugAndCharge: Type.Object({ enabled: Type.Boolean() }),
  contractIdPrefixes: Type.Array(Type.String({ minLength: 2, maxLength: 20 }), {
    maxItems: 50,
    description: 'contract IDs must start with one of these (compared without separators, any case), e.g. DE-8PS',
  }),
  emaidPrefix: Type.Union([Type.String({ minLength: 5, maxLength: 6 }), Type.Null()], {
    description: 'country + provider ID for generated EMAIDs (e.g. DE-8PS); null: the platform default',
  }),
  duplicateContractIds: Type.Union([Type.Literal('reject'), Type.Literal('allow')], {
    description: 'allow: several users of this organization may hold keys with the same EMAID',
  }),
  checkDigit: Type.Union([Type.Literal('lenient'), Type.Literal('strict')], {
    description: 'strict: a wrong EMAID check character is rejected; lenient: accepted as given and logged',
  }),
}

export const CreateOrganizationBody = Type.Object({
  name: settings.name,
  enabled: Type.Optional(settings.enabled),
  plugAndCharge: Type.Optional(settings.plugAndCharge),
  contractIdPrefixes: Type.Optional(settings.contractIdPrefixes),
  emaidPrefix: Type.Optional(settings.emaidPrefix),
  duplicateContractIds: Type.Optional(settings.duplicateContractIds),
  checkDigit: Type.Optional(settings.checkDigit),
  scopes: Type.Optional(Type.Array(Type.String(), { description: 'scopes of the first API key; default: all' })),
})

export const UpdateOrganizationBody = Type.Partial(Type.Object(settings))

export const OrganizationResponse = Type.Object(
  {
    id: Type.String({ format: 'uuid' }),
    name: Type.String(),
    enabled: Type.Boolean(),
    plugAndCharge: Type.Object({ enabled: Type.Boolean() }),
    contractIdPrefixes: Type.Array(Type.String()),
    emaidPrefix: Type.Union([Type.String(), Type.Null()]),
    duplicateContractIds: Type.String(),
    checkDigit: Type.String(),
    created: Type.String({ format: 'date-time' }),
    updated: Type.String({ format: 'date-time' }),
  },
  { title: 'Organization' },
)

export const OrganizationCreatedResponse = Type.Object({
  organization: OrganizationResponse,
  apiKey: Type.String({ description: 'the first API key, shown only now' }),
  apiKeyId: Type.String(),
})

export const OrganizationParams = Type.Object({ organizationId: Type.String({ maxLength: 64 }) })

export function presentOrganization(o: Organization): Static<typeof OrganizationResponse> {
  return {
    id: o.id,
    name: o.name,
    enabled: o.enabled,
    plugAndCharge: { enabled: o.plugAndChargeEnabled },
    contractIdPrefixes: o.contractIdPrefixes.map(formatContractIdPrefix),
    emaidPrefix: o.emaidPrefix && formatContractIdPrefix(o.emaidPrefix),
    duplicateContractIds: o.duplicateContractIds,
    checkDigit: o.checkDigit,
    created: o.createdAt.toISOString(),
    updated: o.updatedAt.toISOString(),
  }
}
