import { org, routeTable } from '../http/route-table.ts'

/** The Drive API: every operation, its path and the API-key scope it needs. */
export const DRIVE_API = routeTable({
  createUser: {
    method: 'POST',
    url: '/v1/users',
    auth: org('users'),
    tag: 'Users',
    summary: 'Create a user (and its virtual charging key)',
  },
  getUser: { method: 'GET', url: '/v1/users/:userId', auth: org('users'), tag: 'Users', summary: 'Get a user' },
  updateUser: { method: 'PATCH', url: '/v1/users/:userId', auth: org('users'), tag: 'Users', summary: "Change a user's email" },
  deleteUser: {
    method: 'DELETE',
    url: '/v1/users/:userId',
    auth: org('users'),
    tag: 'Users',
    summary: 'Delete a user after disabling its keys',
  },
  listChargingKeys: {
    method: 'GET',
    url: '/v1/users/:userId/charging-keys',
    auth: org('charging-keys'),
    tag: 'Charging keys',
    summary: "List a user's charging keys (Plug&Charge, RFID, virtual)",
  },
  createRfidKey: {
    method: 'POST',
    url: '/v1/users/:userId/charging-keys',
    auth: org('charging-keys'),
    tag: 'Charging keys',
    summary: 'Create an RFID charging key',
  },
  createPlugAndChargeKey: {
    method: 'POST',
    url: '/v1/users/:userId/charging-keys/plug-and-charge',
    auth: org('charging-keys'),
    tag: 'Charging keys',
    summary: 'Create a Plug&Charge key (register a vehicle PCID and contract)',
  },
  getChargingKey: {
    method: 'GET',
    url: '/v1/users/:userId/charging-keys/:keyIdOrContractId',
    auth: org('charging-keys'),
    tag: 'Charging keys',
    summary: 'Get a charging key by key ID or contract ID',
  },
  updateChargingKey: {
    method: 'PATCH',
    url: '/v1/users/:userId/charging-keys/:keyIdOrContractId',
    auth: org('charging-keys'),
    tag: 'Charging keys',
    summary: 'Enable, disable, rename or change the validity of a charging key',
  },
  deleteChargingKey: {
    method: 'DELETE',
    url: '/v1/users/:userId/charging-keys/:keyIdOrContractId',
    auth: org('charging-keys'),
    tag: 'Charging keys',
    summary: 'Delete a charging key',
  },
  listApiKeys: { method: 'GET', url: '/v1/api-keys', auth: org('admin'), tag: 'API keys', summary: "List the organization's API keys" },
  createApiKey: { method: 'POST', url: '/v1/api-keys', auth: org('admin'), tag: 'API keys', summary: 'Create an API key (shown once)' },
  revokeApiKey: {
    method: 'DELETE',
    url: '/v1/api-keys/:keyId',
    auth: org('admin'),
    tag: 'API keys',
    summary: 'Revoke an API key',
  },
})
