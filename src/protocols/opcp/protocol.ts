/**
 * The one table of openpnc's OPCP 1.0.0 (Hubject's Plug&Charge ecosystem, we as Mobility
 * Operator): the operations we call (CALLED), each with its method and path as the reference
 * (spec/opcp/1.0.0/<file>) writes them, and the schemas of what we send and receive; and the event
 * types Hubject's webhooks deliver to us. Pure: no I/O. The client builds every call from CALLED and
 * the simulator serves the same paths, so neither drifts from the other or from the reference.
 */

export type OpcpMethod = 'GET' | 'PUT' | 'POST' | 'DELETE'

export interface OpcpOperation {
  method: OpcpMethod
  /** the path as the reference's `paths` key writes it; `{name}` is a parameter */
  path: string
  /** the reference file (spec/opcp/1.0.0/) */
  file: string
  /** the reference's operationId */
  specOperationId: string
  /** the component schema of the request body (in `file`), if any */
  request?: string
  /** the component schema of the 2xx answer (in `file`), if any */
  answer?: string
  /** the answer's success status */
  status: number
}

/** What we call on Hubject, by our own name. */
export const CALLED = {
  /** OAuth2 client credentials at OPENPNC_OPCP_TOKEN_URL (not below the base URL) */
  issueToken: {
    method: 'POST',
    path: '/oauth/token',
    file: 'accessToken.v1.json',
    specOperationId: 'issue-token',
    status: 200,
  },
  rootCertificates: {
    method: 'GET',
    path: '/v1/root/rootCerts',
    file: 'rcp.v1.json',
    specOperationId: 'getAllRootCerts',
    answer: 'GetAllRootCertsResponseV1',
    status: 200,
  },
  provisioningCertificate: {
    method: 'GET',
    path: '/v1/oem/provCerts/{pcid}',
    file: 'pcp.v1.json',
    specOperationId: 'getOEMProvCert',
    answer: 'GetProvisioningCertificateResponse',
    status: 200,
  },
  signContractData: {
    method: 'PUT',
    path: '/v1/cps/contractData/signed',
    file: 'cps.v1.json',
    specOperationId: 'put-v1-cps-signContractData',
    request: 'SignedContractDataRequest',
    answer: 'SignedContractDataResponse',
    status: 201,
  },
  deleteContract: {
    method: 'DELETE',
    path: '/v1/ccp/signedContractData/{emaid}',
    file: 'ccp.v1.json',
    specOperationId: 'deleteSignedContractData',
    status: 200,
  },
  lookupContract: {
    method: 'GET',
    path: '/v1/ccp/lookupContract/{emaid}',
    file: 'ccp.v1.json',
    specOperationId: 'lookupContract',
    answer: 'LookupContractResponse',
    status: 200,
  },
  createWebhookEndpoint: {
    method: 'POST',
    path: '/v1/webhook/endpoints',
    file: 'webhooks.v1.json',
    specOperationId: 'create-webhook-endpoint',
    request: 'EndpointRequest',
    answer: 'EndpointResponse',
    status: 201,
  },
  listWebhookEndpoints: {
    method: 'GET',
    path: '/v1/webhook/endpoints',
    file: 'webhooks.v1.json',
    specOperationId: 'get-webhook-endpoints',
    status: 200,
  },
  deleteWebhookEndpoint: {
    method: 'DELETE',
    path: '/v1/webhook/endpoints/{id}',
    file: 'webhooks.v1.json',
    specOperationId: 'delete-webhook-endpoint',
    status: 200,
  },
} as const satisfies Record<string, OpcpOperation>

export type CalledOperation = keyof typeof CALLED

/** `path` with its `{name}` parameters filled (URL-encoded). */
export function opcpPath(op: CalledOperation, params: Record<string, string> = {}): string {
  return CALLED[op].path.replace(/\{(\w+)\}/g, (_, name: string) => {
    const value = params[name]
    if (value === undefined) throw new Error(`OPCP ${op}: missing path parameter ${name}`)
    return encodeURIComponent(value)
  })
}

/** The ISO 15118 message namespace every OPCP call of ours names (ISO 15118-2). */
export const ISO_15118_2_NAMESPACE = 'urn:iso:15118:2:2013:MsgDef'

/** The root types of the Root Certificate Pool, as the `rootType` query parameter writes them. */
export const ROOT_TYPES = ['v2g', 'oem', 'mo'] as const
export type RootType = (typeof ROOT_TYPES)[number]

/**
 * Webhook event types (webhook.payload.v1.json, webhooks.v1.json) and what each means for us.
 * Erratum factory-reset-event-name: the factory reset has two names.
 */
export const WEBHOOK_EVENTS = {
  'root.cert.added': 'roots',
  'root.cert.expired': 'roots',
  'root.cert.revoked': 'roots',
  'mo.prov.cert.updated': 'reissue',
  'mo.prov.cert.deleted': 'revoke',
  'mo.prov.cert.factory.reset': 'revoke',
  'mo.prov.cert.updated.factory.reset': 'revoke',
  'mo.contract.delivered.to.oem': 'oem_status',
  'mo.contract.rejected.by.oem': 'oem_status',
  'mo.contract.queued.to.oem': 'oem_status',
  'mo.contract.created.sent.to.oem': 'oem_status',
  'mo.contract.updated.sent.to.oem': 'oem_status',
  'mo.contract.deleted.sent.to.oem': 'oem_status',
  'oem.contract.created': 'record',
  'oem.contract.updated': 'record',
  'oem.contract.deleted': 'record',
} as const

export type WebhookEventType = keyof typeof WEBHOOK_EVENTS
export type WebhookAction = (typeof WEBHOOK_EVENTS)[WebhookEventType] | 'unknown'

/** What an event type asks of us; an unknown type is kept and logged, nothing more. */
export function webhookAction(eventType: string): WebhookAction {
  return Object.hasOwn(WEBHOOK_EVENTS, eventType) ? WEBHOOK_EVENTS[eventType as WebhookEventType] : 'unknown'
}

/** The event types we subscribe to when registering our endpoint (the Event enum of webhooks.v1.json that concern an MO). */
export const SUBSCRIBED_EVENTS = [
  'root.cert.added',
  'root.cert.expired',
  'mo.prov.cert.updated',
  'mo.prov.cert.deleted',
  'mo.prov.cert.updated.factory.reset',
  'mo.contract.delivered.to.oem',
  'mo.contract.created.sent.to.oem',
  'mo.contract.updated.sent.to.oem',
  'mo.contract.deleted.sent.to.oem',
  'mo.contract.rejected.by.oem',
  'mo.contract.queued.to.oem',
] as const
