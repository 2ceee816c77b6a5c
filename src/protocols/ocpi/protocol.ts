import { Type, type Static, type TSchema } from '@sinclair/typebox'
import { sql, type RawBuilder } from 'kysely'

/**
 * The one table of openpnc's OCPI: the versions we speak, the operations we SERVE (module, our
 * role, method, path, request and answer schemas, where the official specification documents
 * each) and the operations we CALL on a CPO (the partner's endpoint, method, path shape).
 * The server registers routes, body checks and answer serialization from it, version details are
 * generated from it, every URL we call is built from it (transport.ts: calledUrl), and tests
 * hold the server, the client and the official OpenAPI (spec/ocpi) to it.
 */
export const OCPI_VERSIONS = ['2.2.1', '2.3.0'] as const
export type OcpiVersion = (typeof OCPI_VERSIONS)[number]

export type InterfaceRole = 'SENDER' | 'RECEIVER'
export type ModuleId = 'credentials' | 'tokens' | 'locations' | 'sessions' | 'cdrs'
export type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/** Where the official OpenAPI documents an operation: spec/ocpi/<version>/modules/<module>/<file>.yaml, `paths[path]`. */
export interface SpecReference {
  module: ModuleId | 'versions'
  file: 'interface' | 'sender-interface' | 'receiver-interface'
  path: string
}

// ---------- schemas of what we serve

/** Credentials (POST/PUT body): what we need of it, and the spec's limits on token and url. */
export const CredentialsSchema = Type.Object({
  token: Type.String({ minLength: 1, maxLength: 64, pattern: '^[\\x21-\\x7e]+$' }),
  url: Type.String({ minLength: 1, maxLength: 255, pattern: '^https?://' }),
  roles: Type.Array(
    Type.Object({
      role: Type.String(),
      party_id: Type.String({ minLength: 1, maxLength: 3 }),
      country_code: Type.String({ minLength: 1, maxLength: 2 }),
      business_details: Type.Optional(Type.Object({ name: Type.String() })),
    }),
    { minItems: 1 },
  ),
})

/** LocationReferences: the optional body of a real-time authorization. */
export const LocationReferencesSchema = Type.Object({
  location_id: Type.String({ minLength: 1, maxLength: 36 }),
  evse_uids: Type.Optional(Type.Array(Type.String({ maxLength: 36 }))),
})

/** The AuthorizationInfo envelope: the hot path's answer is serialized from it (Fastify compiles it) rather than by JSON.stringify. */
export const AuthorizationInfoEnvelope = Type.Object({
  data: Type.Object({
    allowed: Type.String(),
    token: Type.Object({
      country_code: Type.String(),
      party_id: Type.String(),
      uid: Type.String(),
      type: Type.String(),
      contract_id: Type.String(),
      visual_number: Type.Optional(Type.String()),
      issuer: Type.String(),
      valid: Type.Boolean(),
      whitelist: Type.String(),
      last_updated: Type.String(),
    }),
    location: Type.Optional(LocationReferencesSchema),
    authorization_reference: Type.String(),
  }),
  status_code: Type.Integer(),
  status_message: Type.Optional(Type.String()),
  timestamp: Type.String(),
})

// Sessions and CDRs: what the spec requires of them in both versions (spec/ocpi/<version>/modules/
// {sessions,cdrs}/schema.yaml), so a CPO is told which field breaks which rule. Fields we do not
// read are let through as sent; the tests hold these to the official schemas.

/** OCPI DateTime: RFC 3339 in UTC, the zone optional (then UTC), up to 25 characters. */
const OcpiDateTime = Type.String({ maxLength: 25, pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d+)?(Z|\\+00:00)?$' })
const CiString = (max: number) => Type.String({ minLength: 1, maxLength: max })
const CountryCode = Type.String({ minLength: 2, maxLength: 2 })
const PartyId = Type.String({ minLength: 3, maxLength: 3 })
const Currency = Type.String({ pattern: '^[A-Z]{3}$' })

/** Price: 2.2.1 states it excl. and incl. VAT, 2.3.0 before taxes with the taxes listed (sessions.ts holds each version to its own). */
export const Price221Schema = Type.Object({ excl_vat: Type.Number({ minimum: 0 }), incl_vat: Type.Optional(Type.Number({ minimum: 0 })) })
export const Price230Schema = Type.Object({
  before_taxes: Type.Number({ minimum: 0 }),
  taxes: Type.Optional(
    Type.Array(
      Type.Object({
        name: Type.String(),
        account_number: Type.Optional(Type.String()),
        percentage: Type.Optional(Type.Number()),
        amount: Type.Number(),
      }),
    ),
  ),
})
export const PriceSchema = Type.Union([Price221Schema, Price230Schema])

export const CdrTokenSchema = Type.Object({
  country_code: CountryCode,
  party_id: PartyId,
  uid: CiString(36),
  type: Type.String({ minLength: 1, maxLength: 20 }),
  contract_id: CiString(36),
})

const AuthMethod = Type.Union([Type.Literal('AUTH_REQUEST'), Type.Literal('COMMAND'), Type.Literal('WHITELIST')])

export const ChargingPeriodSchema = Type.Object({
  start_date_time: OcpiDateTime,
  dimensions: Type.Array(Type.Object({ type: Type.String({ minLength: 1 }), volume: Type.Number() }), { minItems: 1 }),
  tariff_id: Type.Optional(CiString(36)),
})

export const OCPI_SESSION_STATUSES = ['ACTIVE', 'COMPLETED', 'INVALID', 'PENDING', 'RESERVATION'] as const

const sessionFields = {
  start_date_time: OcpiDateTime,
  end_date_time: Type.Optional(OcpiDateTime),
  kwh: Type.Number({ minimum: 0 }),
  cdr_token: CdrTokenSchema,
  auth_method: AuthMethod,
  authorization_reference: Type.Optional(CiString(36)),
  location_id: CiString(36),
  evse_uid: CiString(36),
  connector_id: CiString(36),
  meter_id: Type.Optional(Type.String({ maxLength: 255 })),
  currency: Currency,
  charging_periods: Type.Optional(Type.Array(ChargingPeriodSchema)),
  total_cost: Type.Optional(PriceSchema),
  status: Type.Union(OCPI_SESSION_STATUSES.map((s) => Type.Literal(s))),
  last_updated: OcpiDateTime,
}

/** Session (PUT body): every field the spec requires. */
export const SessionSchema = Type.Object({ country_code: CountryCode, party_id: PartyId, id: CiString(36), ...sessionFields })

/** SessionPatch: any of the Session's fields but its IDs, last_updated required. */
export const SessionPatchSchema = Type.Object({
  ...Type.Partial(Type.Object(sessionFields)).properties,
  last_updated: OcpiDateTime,
})

const CdrLocationSchema = Type.Object({
  id: CiString(36),
  name: Type.Optional(Type.String({ maxLength: 255 })),
  address: Type.String({ maxLength: 45 }),
  city: Type.String({ maxLength: 45 }),
  postal_code: Type.Optional(Type.String({ maxLength: 10 })),
  state: Type.Optional(Type.String({ maxLength: 20 })),
  country: Type.String({ minLength: 3, maxLength: 3 }),
  coordinates: Type.Object({
    latitude: Type.String({ pattern: '^-?[0-9]{1,2}\\.[0-9]{5,7}$' }),
    longitude: Type.String({ pattern: '^-?[0-9]{1,3}\\.[0-9]{5,7}$' }),
  }),
  evse_uid: CiString(36),
  evse_id: CiString(48),
  connector_id: CiString(36),
  connector_standard: Type.String({ minLength: 1 }),
  connector_format: Type.Union([Type.Literal('SOCKET'), Type.Literal('CABLE')]),
  connector_power_type: Type.String({ minLength: 1 }),
})

/** CDR (POST body): every field the spec requires. */
export const CdrSchema = Type.Object({
  country_code: CountryCode,
  party_id: PartyId,
  id: CiString(39),
  start_date_time: OcpiDateTime,
  end_date_time: OcpiDateTime,
  session_id: Type.Optional(CiString(36)),
  cdr_token: CdrTokenSchema,
  auth_method: AuthMethod,
  authorization_reference: Type.Optional(CiString(36)),
  cdr_location: CdrLocationSchema,
  meter_id: Type.Optional(Type.String({ maxLength: 255 })),
  currency: Currency,
  charging_periods: Type.Array(ChargingPeriodSchema, { minItems: 1 }),
  total_cost: PriceSchema,
  total_energy: Type.Number({ minimum: 0 }),
  total_time: Type.Number({ minimum: 0 }),
  last_updated: OcpiDateTime,
})

/**
 * A request body of a served operation. `checked`: the server checks it against `schema` before
 * the handler runs (a 2001 naming the field otherwise); `optional` lets an empty body through.
 * `object`: a whole Location, EVSE or Connector (or a patch of one), which the Locations module
 * validates itself (core/locations/validate), since a PATCH is valid only merged with what is stored.
 * `name` is the spec's name of the body's schema.
 */
export type RequestBody = { kind: 'checked'; name: string; schema: TSchema; optional: boolean } | { kind: 'object'; name: string }

export interface ServedOperation {
  module: ModuleId
  /** our interface role for this operation */
  role: InterfaceRole
  method: Method
  /** below /ocpi/emsp/{version}/ */
  path: string
  /** Functional modules carry OCPI-from/to routing headers; credentials does not. */
  functional: boolean
  versions: readonly OcpiVersion[]
  spec: SpecReference
  body?: RequestBody
  /** the success answer, serialized from this schema (else JSON.stringify) */
  answer?: TSchema
  /** the spec's name of the success answer's `data` (null: no data) */
  answerData: string | null
}

const both = OCPI_VERSIONS

const credentials = <M extends Method, B extends RequestBody | undefined>(
  method: M,
  body: B,
  answerData: 'Credentials' | null = 'Credentials',
) =>
  ({
    module: 'credentials',
    role: 'RECEIVER',
    method,
    path: 'credentials',
    functional: false,
    versions: both,
    spec: { module: 'credentials', file: 'interface', path: '/credentials' },
    body,
    answerData,
  }) as const

const credentialsBody = { kind: 'checked', name: 'Credentials', schema: CredentialsSchema, optional: false } as const

const LOCATION_PATHS = {
  Location: 'locations/:country_code/:party_id/:location_id',
  EVSE: 'locations/:country_code/:party_id/:location_id/:evse_uid',
  Connector: 'locations/:country_code/:party_id/:location_id/:evse_uid/:connector_id',
} as const
const locationSpecPath = (path: string) => `/${path.replace(/:(\w+)/g, '{$1}')}`

const objectBody = (method: Method, object: string): RequestBody | undefined =>
  method === 'PUT' ? { kind: 'object', name: object } : method === 'PATCH' ? { kind: 'object', name: `${object}Patch` } : undefined

const locations = <O extends keyof typeof LOCATION_PATHS, M extends 'GET' | 'PUT' | 'PATCH'>(object: O, method: M) =>
  ({
    module: 'locations',
    role: 'RECEIVER',
    method,
    path: LOCATION_PATHS[object],
    functional: true,
    versions: both,
    spec: { module: 'locations', file: 'receiver-interface', path: locationSpecPath(LOCATION_PATHS[object]) },
    body: objectBody(method, object),
    answerData: method === 'GET' ? object : null,
  }) as const

const session = <M extends 'GET' | 'PUT' | 'PATCH', B extends RequestBody | undefined>(method: M, body: B) =>
  ({
    module: 'sessions',
    role: 'RECEIVER',
    method,
    path: 'sessions/:country_code/:party_id/:session_id',
    functional: true,
    versions: both,
    spec: { module: 'sessions', file: 'receiver-interface', path: '/sessions/{country_code}/{party_id}/{session_id}' },
    body,
    answerData: method === 'GET' ? 'Session' : null,
  }) as const

/** What we serve, by operation ID (objects named as the spec's schemas: Location, EVSE, Connector, Credentials, ...). A handler per entry is required by type (server.ts). */
export const SERVED = {
  getCredentials: credentials('GET', undefined),
  postCredentials: credentials('POST', credentialsBody),
  putCredentials: credentials('PUT', credentialsBody),
  deleteCredentials: credentials('DELETE', undefined, null),
  getTokens: {
    module: 'tokens',
    role: 'SENDER',
    method: 'GET',
    path: 'tokens',
    functional: true,
    versions: both,
    spec: { module: 'tokens', file: 'sender-interface', path: '/tokens' },
    answerData: 'Token',
  },
  authorizeToken: {
    module: 'tokens',
    role: 'SENDER',
    method: 'POST',
    path: 'tokens/:uid/authorize',
    functional: true,
    versions: both,
    spec: { module: 'tokens', file: 'sender-interface', path: '/tokens/{token_uid}/authorize' },
    body: { kind: 'checked', name: 'LocationReferences', schema: LocationReferencesSchema, optional: true },
    answer: AuthorizationInfoEnvelope,
    answerData: 'AuthorizationInfo',
  },
  getLocation: locations('Location', 'GET'),
  getEvse: locations('EVSE', 'GET'),
  getConnector: locations('Connector', 'GET'),
  putLocation: locations('Location', 'PUT'),
  putEvse: locations('EVSE', 'PUT'),
  putConnector: locations('Connector', 'PUT'),
  patchLocation: locations('Location', 'PATCH'),
  patchEvse: locations('EVSE', 'PATCH'),
  patchConnector: locations('Connector', 'PATCH'),
  getSession: session('GET', undefined),
  putSession: session('PUT', { kind: 'checked', name: 'Session', schema: SessionSchema, optional: false }),
  patchSession: session('PATCH', { kind: 'checked', name: 'SessionPatch', schema: SessionPatchSchema, optional: false }),
  postCdr: {
    module: 'cdrs',
    role: 'RECEIVER',
    method: 'POST',
    path: 'cdrs',
    functional: true,
    versions: both,
    spec: { module: 'cdrs', file: 'receiver-interface', path: '/cdrs' },
    body: { kind: 'checked', name: 'CDR', schema: CdrSchema, optional: false },
    answerData: null,
  },
  getCdr: {
    module: 'cdrs',
    role: 'RECEIVER',
    method: 'GET',
    path: 'cdrs/:cdr_id',
    functional: true,
    versions: both,
    spec: { module: 'cdrs', file: 'receiver-interface', path: '/cdrs/{cdr_id}' },
    answerData: 'CDR',
  },
} as const satisfies Record<string, ServedOperation>

export type ServedOperationId = keyof typeof SERVED

/** The body a handler of `Op` receives: checked against the table's schema, or as sent. */
export type ServedBody<Op extends ServedOperationId> = (typeof SERVED)[Op] extends {
  body: { kind: 'checked'; schema: infer S extends TSchema; optional: infer O }
}
  ? O extends true
    ? Static<S> | undefined | null
    : Static<S>
  : unknown

/** The served operations as a list, each with its ID. */
export const OCPI_OPERATIONS: ReadonlyArray<ServedOperation & { operationId: ServedOperationId }> = Object.entries(SERVED).map(
  ([operationId, op]) => ({ operationId: operationId as ServedOperationId, ...op }),
)

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

// ---------- what we call on a CPO

/**
 * Which URL of the partner an operation is called on: its versions URL, the URL of one version
 * (from its versions list), or the endpoint its version details list for a module; `role` is the
 * role of the PARTNER's endpoint (absent: whichever it lists, as for credentials, one interface
 * for both sides).
 */
export type CalledTarget = { kind: 'versions' } | { kind: 'version' } | { kind: 'endpoint'; module: ModuleId; role?: InterfaceRole }

export interface CalledOperation {
  target: CalledTarget
  method: Method
  /** segments appended to the target URL; `{name}` is a parameter, filled and percent-encoded */
  path: readonly string[]
  /** query parameters we may set (the target's own query is kept) */
  query: readonly string[]
  /** a list read page by page through its Link headers */
  paged: boolean
  versions: readonly OcpiVersion[]
  spec: SpecReference
}

const TOKEN_PATH = ['{country_code}', '{party_id}', '{token_uid}'] as const
const tokensReceiver = (method: 'GET' | 'PUT' | 'PATCH') =>
  ({
    target: { kind: 'endpoint', module: 'tokens', role: 'RECEIVER' },
    method,
    path: TOKEN_PATH,
    query: ['type'],
    paged: false,
    versions: both,
    spec: { module: 'tokens', file: 'receiver-interface', path: '/tokens/{country_code}/{party_id}/{token_uid}' },
  }) as const

/** What we call on CPOs, by operation ID. */
export const CALLED = {
  getVersions: {
    target: { kind: 'versions' },
    method: 'GET',
    path: [],
    query: [],
    paged: false,
    versions: both,
    spec: { module: 'versions', file: 'interface', path: '/versions' },
  },
  getVersionDetails: {
    target: { kind: 'version' },
    method: 'GET',
    path: [],
    query: [],
    paged: false,
    versions: both,
    // The spec documents the details of each version under its own number: `{version}` stands for it.
    spec: { module: 'versions', file: 'interface', path: '/versions/{version}' },
  },
  postCredentials: {
    target: { kind: 'endpoint', module: 'credentials' },
    method: 'POST',
    path: [],
    query: [],
    paged: false,
    versions: both,
    spec: { module: 'credentials', file: 'interface', path: '/credentials' },
  },
  getToken: tokensReceiver('GET'),
  putToken: tokensReceiver('PUT'),
  patchToken: tokensReceiver('PATCH'),
  getLocations: {
    target: { kind: 'endpoint', module: 'locations', role: 'SENDER' },
    method: 'GET',
    path: [],
    query: ['date_from', 'date_to', 'offset', 'limit'],
    paged: true,
    versions: both,
    spec: { module: 'locations', file: 'sender-interface', path: '/locations' },
  },
} as const satisfies Record<string, CalledOperation>

export type CalledOperationId = keyof typeof CALLED

type ParamName<S> = S extends `{${infer N}}` ? N : never
/** The path parameters of a called operation, by name. */
export type CalledParams<Op extends CalledOperationId> = { [N in ParamName<(typeof CALLED)[Op]['path'][number]>]: string }
/** The query parameters a called operation may carry. */
export type CalledQuery<Op extends CalledOperationId> = Partial<Record<(typeof CALLED)[Op]['query'][number], string>>

type EndpointOperation = {
  [Op in CalledOperationId]: (typeof CALLED)[Op]['target'] extends { kind: 'endpoint' } ? Op : never
}[CalledOperationId]

/** The partner's endpoint a called operation goes to, from the endpoints its version details list. */
export function partnerEndpoint(
  endpoints: ReadonlyArray<{ identifier: string; role: string; url: string }>,
  op: EndpointOperation,
): string | undefined {
  const target: { module: ModuleId; role?: InterfaceRole } = CALLED[op].target
  return endpoints.find((e) => e.identifier === target.module && (target.role === undefined || e.role === target.role))?.url
}

/**
 * SQL: the partner row (its `endpoints` column, `column`) lists the endpoint a called operation goes
 * to. The JSON containment is built from the table, so the query and the table cannot disagree.
 */
export function partnerHasEndpoint(op: EndpointOperation, column = 'endpoints'): RawBuilder<boolean> {
  const target: { module: ModuleId; role?: InterfaceRole } = CALLED[op].target
  const entry = { identifier: target.module, ...(target.role && { role: target.role }) }
  return sql<boolean>`${sql.ref(column)} @> ${JSON.stringify([entry])}::jsonb`
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
