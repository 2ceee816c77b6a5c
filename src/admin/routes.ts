import { platform, routeTable } from '../http/route-table.ts'

/** The platform admin API (platform admin key only). */
export const ADMIN_API = routeTable({
  createOrganization: {
    method: 'POST',
    url: '/admin/v1/organizations',
    auth: platform,
    tag: 'Admin',
    summary: 'Create an organization and its first API key',
    secretBearing: true,
  },
  listOrganizations: { method: 'GET', url: '/admin/v1/organizations', auth: platform, tag: 'Admin', summary: 'List organizations' },
  getOrganization: {
    method: 'GET',
    url: '/admin/v1/organizations/:organizationId',
    auth: platform,
    tag: 'Admin',
    summary: 'Get an organization',
  },
  updateOrganization: {
    method: 'PATCH',
    url: '/admin/v1/organizations/:organizationId',
    auth: platform,
    tag: 'Admin',
    summary: "Change an organization's settings",
  },
  listOrganizationApiKeys: {
    method: 'GET',
    url: '/admin/v1/organizations/:organizationId/api-keys',
    auth: platform,
    tag: 'Admin',
    summary: "List an organization's API keys",
  },
  createOrganizationApiKey: {
    method: 'POST',
    url: '/admin/v1/organizations/:organizationId/api-keys',
    auth: platform,
    tag: 'Admin',
    summary: 'Create an API key for an organization (shown once)',
    secretBearing: true,
  },
  revokeOrganizationApiKey: {
    method: 'DELETE',
    url: '/admin/v1/organizations/:organizationId/api-keys/:keyId',
    auth: platform,
    tag: 'Admin',
    summary: "Revoke an organization's API key",
  },
})
