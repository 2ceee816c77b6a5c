import { issuedApiKey } from '../../infra/http/api-key-routes.ts'
import { platform, routeTable } from '../../infra/http/route-table.ts'

// Examples for the documentation (a test validates them against the schemas).
const organization = {
  id: '0f8c2a4e-5b1d-4c3a-9e7f-2d6b8a1c3e5f',
  name: 'ACME Mobility',
  enabled: true,
  plugAndCharge: { enabled: true },
  contractIdPrefixes: ['DE-ABC'],
  emaidPrefix: 'DE-ABC',
  duplicateContractIds: 'reject',
  checkDigit: 'strict',
  created: '2026-01-15T09:00:00.000Z',
  updated: '2026-01-15T09:00:00.000Z',
}

/** The platform admin API (platform admin key only). */
export const ADMIN_API = routeTable({
  createOrganization: {
    method: 'POST',
    url: '/admin/v1/organizations',
    auth: platform,
    tag: 'Admin',
    summary: 'Create an organization and its first API key',
    errors: ['invalid_scope', 'invalid_contract_id_prefix', 'invalid_emaid_prefix'],
    example: {
      request: {
        name: 'ACME Mobility',
        plugAndCharge: { enabled: true },
        contractIdPrefixes: ['DE-ABC'],
        emaidPrefix: 'DE-ABC',
        checkDigit: 'strict',
      },
      response: { organization, apiKey: issuedApiKey.apiKey, apiKeyId: issuedApiKey.id },
    },
    secretBearing: true,
  },
  listOrganizations: { method: 'GET', url: '/admin/v1/organizations', auth: platform, tag: 'Admin', summary: 'List organizations' },
  getOrganization: {
    method: 'GET',
    url: '/admin/v1/organizations/:organizationId',
    auth: platform,
    tag: 'Admin',
    summary: 'Get an organization',
    errors: ['organization_not_found'],
  },
  updateOrganization: {
    method: 'PATCH',
    url: '/admin/v1/organizations/:organizationId',
    auth: platform,
    tag: 'Admin',
    summary: "Change an organization's settings",
    errors: ['organization_not_found', 'invalid_contract_id_prefix', 'invalid_emaid_prefix'],
    example: {
      request: { duplicateContractIds: 'allow' },
      response: { ...organization, duplicateContractIds: 'allow', updated: '2026-01-16T10:00:00.000Z' },
    },
  },
  listOrganizationApiKeys: {
    method: 'GET',
    url: '/admin/v1/organizations/:organizationId/api-keys',
    auth: platform,
    tag: 'Admin',
    summary: "List an organization's API keys",
    errors: ['organization_not_found'],
  },
  createOrganizationApiKey: {
    method: 'POST',
    url: '/admin/v1/organizations/:organizationId/api-keys',
    auth: platform,
    tag: 'Admin',
    summary: 'Create an API key for an organization (shown once)',
    errors: ['organization_not_found'],
    example: { request: { scopes: issuedApiKey.scopes }, response: issuedApiKey },
    secretBearing: true,
  },
  revokeOrganizationApiKey: {
    method: 'DELETE',
    url: '/admin/v1/organizations/:organizationId/api-keys/:keyId',
    auth: platform,
    tag: 'Admin',
    summary: "Revoke an organization's API key",
    errors: ['organization_not_found', 'api_key_not_found'],
  },
})
