/**
 * The one table of what openpnc serves over OCPI: versions, modules, our role in each, and the
 * operations of each module. The server registers from it, version details are generated from it,
 * and a test holds the server to it.
 */
export const OCPI_VERSIONS = ['2.2.1', '2.3.0'] as const
export type OcpiVersion = (typeof OCPI_VERSIONS)[number]

export type InterfaceRole = 'SENDER' | 'RECEIVER'
export type ModuleId = 'credentials' | 'tokens' | 'locations'

export interface OcpiOperation {
  module: ModuleId
  /** our interface role for this operation */
  role: InterfaceRole
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  /** below /ocpi/emsp/{version}/ */
  path: string
  operationId: string
  /** Functional modules carry OCPI-from/to routing headers; credentials does not. */
  functional: boolean
  versions: readonly OcpiVersion[]
}

const both = OCPI_VERSIONS

export const OCPI_OPERATIONS: readonly OcpiOperation[] = [
  {
    module: 'credentials',
    role: 'RECEIVER',
    method: 'GET',
    path: 'credentials',
    operationId: 'getCredentials',
    functional: false,
    versions: both,
  },
  {
    module: 'credentials',
    role: 'RECEIVER',
    method: 'POST',
    path: 'credentials',
    operationId: 'postCredentials',
    functional: false,
    versions: both,
  },
  {
    module: 'credentials',
    role: 'RECEIVER',
    method: 'PUT',
    path: 'credentials',
    operationId: 'putCredentials',
    functional: false,
    versions: both,
  },
  {
    module: 'credentials',
    role: 'RECEIVER',
    method: 'DELETE',
    path: 'credentials',
    operationId: 'deleteCredentials',
    functional: false,
    versions: both,
  },
  { module: 'tokens', role: 'SENDER', method: 'GET', path: 'tokens', operationId: 'getTokens', functional: true, versions: both },
  {
    module: 'tokens',
    role: 'SENDER',
    method: 'POST',
    path: 'tokens/:uid/authorize',
    operationId: 'authorizeToken',
    functional: true,
    versions: both,
  },
  ...(['GET', 'PUT', 'PATCH'] as const).flatMap((method) =>
    (
      [
        ['Location', 'locations/:country_code/:party_id/:location_id'],
        ['Evse', 'locations/:country_code/:party_id/:location_id/:evse_uid'],
        ['Connector', 'locations/:country_code/:party_id/:location_id/:evse_uid/:connector_id'],
      ] as const
    ).map(([object, path]) => ({
      module: 'locations' as const,
      role: 'RECEIVER' as const,
      method,
      path,
      operationId: `${method.toLowerCase()}${object}`,
      functional: true,
      versions: both,
    })),
  ),
]

/** The endpoints a version's details list: each module once per role we play in it. */
export function endpointsOf(version: OcpiVersion): Array<{ identifier: ModuleId; role: InterfaceRole; path: string }> {
  const seen = new Map<string, { identifier: ModuleId; role: InterfaceRole; path: string }>()
  for (const op of OCPI_OPERATIONS) {
    if (!op.versions.includes(version)) continue
    const path = op.path.split('/')[0]!
    // Credentials is served to both sides of a registration, so it is listed in both roles.
    const roles: InterfaceRole[] = op.module === 'credentials' ? ['SENDER', 'RECEIVER'] : [op.role]
    for (const role of roles) seen.set(`${op.module}:${role}`, { identifier: op.module, role, path })
  }
  return [...seen.values()]
}

export const isOcpiVersion = (v: string): v is OcpiVersion => (OCPI_VERSIONS as readonly string[]).includes(v)

/** OCPI status codes we use. */
export const OCPI_STATUS = {
  success: 1000,
  clientError: 2000,
  invalidParameters: 2001,
  notEnoughInformation: 2002,
  unknownLocation: 2003,
  unknownToken: 2004,
  serverError: 3000,
  unableToUseClientApi: 3001,
  unsupportedVersion: 3002,
  noMatchingEndpoints: 3003,
} as const
