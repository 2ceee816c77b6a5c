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
  listDeliveryBacklogs: {
    method: 'GET',
    url: '/admin/v1/deliveries',
    auth: platform,
    tag: 'Admin',
    summary: 'The delivery backlog per destination (every partner and kind of push), with its dead letters',
    example: {
      response: {
        destinations: [
          { destination: 'ocpi:7c1e9b2a-3d4f-4a5b-8c6d-0e1f2a3b4c5d', kind: 'ocpi-token', backlog: 12, failing: 3, deadLetters: 1 },
        ],
      },
    },
  },
  listDeadLetters: {
    method: 'GET',
    url: '/admin/v1/deliveries/dead-letters',
    auth: platform,
    tag: 'Admin',
    summary: 'Deliveries that failed for good (parked until replayed or changed again), newest first; of one destination if given',
    example: {
      response: {
        deadLetters: [
          {
            kind: 'ocpi-token',
            destination: 'ocpi:7c1e9b2a-3d4f-4a5b-8c6d-0e1f2a3b4c5d',
            subject: 'token:3d9a4c1e-7b2f-4e8a-9c0d-1f2e3a4b5c6d',
            version: '18234',
            attempts: 1,
            reason: 'HTTP 400 from partner (OCPI status 2001)',
            deadAt: '2026-01-15T09:20:00.000Z',
          },
        ],
      },
    },
  },
  replayDeadLetters: {
    method: 'POST',
    url: '/admin/v1/deliveries/dead-letters/replay',
    auth: platform,
    tag: 'Admin',
    summary: "Send a destination's dead letters again, one (subject) or all, in their current state",
    example: { request: { destination: 'ocpi:7c1e9b2a-3d4f-4a5b-8c6d-0e1f2a3b4c5d' }, response: { replayed: 1 } },
  },
})
