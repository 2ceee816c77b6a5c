/**
 * The one table of openpnc's OICP 2.3 (Hubject, EMP side, online EMP): the operations Hubject
 * calls on us (SERVED) and those we call on Hubject (CALLED), each with its path as the official
 * OpenAPI (spec/oicp openapi.yaml `paths`) writes it and the spec's request and answer schema names.
 * Pure: no I/O. The server registers routes from SERVED and the client builds URLs from CALLED, so
 * neither can drift from the other or from the spec.
 */

export type OicpMethod = 'POST'

export interface OicpOperation {
  method: OicpMethod
  /** the path exactly as the spec's `paths` key writes it; `{name}` is a parameter */
  path: string
  /** the spec's operationId */
  specOperationId: string
  /** the spec's schema name of the request body (schemas/<name>.yaml); several: oneOf */
  request: readonly string[]
  /** the spec's schema name of the answer; several: oneOf */
  answer: readonly string[]
}

/** What Hubject calls on us (we RECEIVE these), by operation ID. */
export const SERVED = {
  authorizeStart: {
    method: 'POST',
    path: '/charging/v21/operators/{operatorID}/authorize/start',
    specOperationId: 'eRoamingAuthorizeStart_v2.1',
    request: ['eRoamingAuthorizeStart'],
    answer: ['eRoamingAuthorizationStart'],
  },
  authorizeStop: {
    method: 'POST',
    path: '/charging/v21/operators/{operatorID}/authorize/stop',
    specOperationId: 'eRoamingAuthorizeStop_V2.1',
    request: ['eRoamingAuthorizeStop'],
    answer: ['eRoamingAuthorizationStop'],
  },
  chargeDetailRecord: {
    method: 'POST',
    path: '/cdrmgmt/v22/operators/{operatorID}/charge-detail-record',
    specOperationId: 'eRoamingChargeDetailRecord_V2.2',
    request: ['eRoamingChargeDetailRecord'],
    answer: ['eRoamingAcknowledgment'],
  },
  chargingNotification: {
    method: 'POST',
    path: '/notificationmgmt/v11/charging-notifications',
    specOperationId: 'eRoamingChargingNotifications_V1.1',
    request: [
      'eRoamingChargingNotificationStart',
      'eRoamingChargingNotificationProgress',
      'eRoamingChargingNotificationEnd',
      'eRoamingChargingNotificationError',
    ],
    answer: ['eRoamingAcknowledgment'],
  },
} as const satisfies Record<string, OicpOperation>

/** What we call on Hubject (we SEND these), by operation ID. */
export const CALLED = {
  pushAuthenticationData: {
    method: 'POST',
    path: '/authdata/v21/providers/{providerID}/push-request',
    specOperationId: 'eRoamingPushAuthenticationData_V2.1',
    request: ['eRoamingPushAuthenticationData'],
    answer: ['eRoamingAcknowledgment'],
    query: [],
  },
  pullEvseData: {
    method: 'POST',
    path: '/evsepull/v23/providers/{providerID}/data-records',
    specOperationId: 'eRoamingPullEvseData_V2.3',
    request: ['eRoamingPullEVSEData'],
    answer: ['eRoamingEVSEData'],
    // From 2.3 the pull is paged: `?page=0&size=20` (the spec's default size is 20).
    query: ['page', 'size'],
  },
  pullEvseStatus: {
    method: 'POST',
    path: '/evsepull/v21/providers/{providerID}/status-records',
    specOperationId: 'eRoamingPullEvseStatus_V2.1',
    request: ['eRoamingPullEVSEStatus', 'eRoamingPullEVSEStatusByID', 'eRoamingPullEVSEStatusByOperatorID'],
    answer: ['eRoamingEVSEStatus', 'eRoamingEVSEStatusByID'],
    query: [],
  },
} as const satisfies Record<string, OicpOperation & { query: readonly string[] }>

export type ServedOperationId = keyof typeof SERVED
export type CalledOperationId = keyof typeof CALLED

type ParamsOf<P extends string> = P extends `${string}{${infer N}}${infer Rest}` ? N | ParamsOf<Rest> : never
/** The path parameters of a called operation, by name. */
export type CalledParams<Op extends CalledOperationId> = { [N in ParamsOf<(typeof CALLED)[Op]['path']>]: string }
/** The query parameters a called operation may carry. */
export type CalledQuery<Op extends CalledOperationId> = Partial<Record<(typeof CALLED)[Op]['query'][number], string | number>>
/** The path parameters of a served operation, by name. */
export type ServedParams<Op extends ServedOperationId> = { [N in ParamsOf<(typeof SERVED)[Op]['path']>]: string }

const PARAM = /\{(\w+)\}/g

/**
 * The URL of a called operation below Hubject's base URL (e.g. `https://service-qa.hubject.com/api/oicp`):
 * parameters percent-encoded, the base's own path kept, query in the table's order.
 */
export function calledUrl<Op extends CalledOperationId>(
  base: string,
  op: Op,
  params: CalledParams<Op>,
  query: CalledQuery<Op> = {},
): string {
  const values = params as Record<string, string>
  const path = CALLED[op].path.replace(PARAM, (_, name: string) => {
    const value = values[name]
    if (value === undefined || value === '') throw new RangeError(`${op}: path parameter ${name} is required`)
    return encodeURIComponent(value)
  })
  const url = new URL(base)
  url.pathname = url.pathname.replace(/\/+$/, '') + path
  const q = query as Record<string, string | number | undefined>
  for (const name of CALLED[op].query as readonly string[]) {
    const value = q[name]
    if (value !== undefined) url.searchParams.set(name, String(value))
  }
  return url.toString()
}

const SERVED_ENTRIES = Object.entries(SERVED) as Array<[ServedOperationId, (typeof SERVED)[ServedOperationId]]>

/** A served path as a matcher: its literal segments escaped, each `{name}` one non-empty segment. */
const SERVED_MATCHERS = SERVED_ENTRIES.map(([operationId, op]) => {
  const names: string[] = []
  const source = op.path
    .split('/')
    .map((segment) => {
      const param = /^\{(\w+)\}$/.exec(segment)
      if (param) {
        names.push(param[1]!)
        return '([^/]+)'
      }
      return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
    })
    .join('/')
  return { operationId, method: op.method, names, regex: new RegExp(`^${source}/?$`) }
})

export type ServedMatch = { [Op in ServedOperationId]: { operationId: Op; params: ServedParams<Op> } }[ServedOperationId]

/**
 * Which served operation a request names, with its path parameters (decoded), or null.
 * `prefix` is where our OICP listener mounts the spec's paths ('' or e.g. '/oicp'); the query
 * string is ignored and one trailing slash tolerated.
 */
export function matchServed(method: string, pathAndQuery: string, prefix = ''): ServedMatch | null {
  const queryAt = pathAndQuery.indexOf('?')
  let path = queryAt < 0 ? pathAndQuery : pathAndQuery.slice(0, queryAt)
  const base = prefix.replace(/\/+$/, '')
  if (base !== '') {
    if (!path.startsWith(base + '/')) return null
    path = path.slice(base.length)
  }
  for (const m of SERVED_MATCHERS) {
    if (m.method !== method.toUpperCase()) continue
    const found = m.regex.exec(path)
    if (!found) continue
    const params: Record<string, string> = {}
    try {
      m.names.forEach((name, i) => (params[name] = decodeURIComponent(found[i + 1]!)))
    } catch {
      return null // a malformed percent-encoding names no operation
    }
    return { operationId: m.operationId, params } as ServedMatch
  }
  return null
}

/** The served routes as a list, each with its ID and the path below `prefix` (for registering routes). */
export function servedRoutes(prefix = ''): Array<{ operationId: ServedOperationId; method: OicpMethod; path: string }> {
  const base = prefix.replace(/\/+$/, '')
  return SERVED_ENTRIES.map(([operationId, op]) => ({ operationId, method: op.method, path: base + op.path }))
}

/**
 * The spec's StatusCode.Code values we answer with (schemas/StatusCode.yaml), with its
 * descriptions; a code outside the spec's list is never sent.
 */
export const OICP_STATUS = {
  success: { code: '000', description: 'Success.' },
  systemError: { code: '021', description: 'System error.' },
  dataError: { code: '022', description: 'Data error.' },
  qrCodeFailed: { code: '101', description: 'QR Code Authentication failed – Invalid Credentials.' },
  rfidInvalidUid: { code: '102', description: 'RFID Authentication failed – invalid UID.' },
  plcInvalidEvcoId: { code: '105', description: 'PLC Authentication failed - invalid EvcoID.' },
  noPositiveResponse: { code: '106', description: 'No positive authentication response.' },
  evcoIdLocked: { code: '200', description: 'EvcoID locked.' },
  noValidContract: { code: '210', description: 'No valid contract.' },
  sessionInvalid: { code: '400', description: 'Session is invalid.' },
} as const

export type OicpStatusCode = (typeof OICP_STATUS)[keyof typeof OICP_STATUS]['code']
