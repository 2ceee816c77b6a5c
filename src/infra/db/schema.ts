import type { ColumnType, Generated } from 'kysely'
import type { PartnerOutcome } from '../../core/authorization/partner-decision.ts'

/** Table types, kept beside the migrations they mirror (src/infra/db/migrations). */
export interface Database {
  organizations: OrganizationsTable
  api_keys: ApiKeysTable
  users: UsersTable
  charging_keys: ChargingKeysTable
  key_events: KeyEventsTable
  idempotency_records: IdempotencyRecordsTable
  ocpi_partners: OcpiPartnersTable
  outbox_cursors: OutboxCursorsTable
  /** a read-only view over `deliveries` (migration 0010) */
  ocpi_token_deliveries: OcpiTokenDeliveriesTable
  deliveries: DeliveriesTable
  ocpi_partner_parties: OcpiPartnerPartiesTable
  authorization_decisions: AuthorizationDecisionsTable
  authorization_endpoints: AuthorizationEndpointsTable
  locations: LocationsTable
  oicp_auth_records: OicpAuthRecordsTable
  oicp_auth_push: OicpAuthPushTable
  oicp_evse_records: OicpEvseRecordsTable
  oicp_evse_pull: OicpEvsePullTable
  charging_sessions: ChargingSessionsTable
  charge_detail_records: ChargeDetailRecordsTable
  session_notifications: SessionNotificationsTable
  pki_authorities: PkiAuthoritiesTable
  contract_certificates: ContractCertificatesTable
  contract_certificate_events: ContractCertificateEventsTable
  pki_crls: PkiCrlsTable
  opcp_contracts: OpcpContractsTable
  opcp_roots: OpcpRootsTable
  opcp_webhook_endpoints: OpcpWebhookEndpointsTable
  opcp_webhook_events: OpcpWebhookEventsTable
  webhook_endpoints: WebhookEndpointsTable
  partner_events: PartnerEventsTable
  webhook_deliveries: WebhookDeliveriesTable
}

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>
type NullableTimestamp = ColumnType<Date | null, Date | string | null | undefined, Date | string | null>

export interface OrganizationsTable {
  id: Generated<string>
  name: string
  enabled: Generated<boolean>
  plug_and_charge_enabled: Generated<boolean>
  contract_id_prefixes: Generated<string[]>
  emaid_prefix: string | null
  duplicate_contract_ids: Generated<'reject' | 'allow'>
  check_digit: Generated<'lenient' | 'strict'>
  created_at: Timestamp
  updated_at: Timestamp
}

export interface ApiKeysTable {
  id: string
  organization_id: string | null
  secret_sha256: Buffer | Uint8Array
  scopes: string[]
  created_at: Timestamp
  revoked_at: NullableTimestamp
}

export interface UsersTable {
  id: Generated<string>
  organization_id: string
  external_id: string
  email: string | null
  created_at: Timestamp
  updated_at: Timestamp
  deleted_at: NullableTimestamp
}

export type ChargingKeyType = 'plug_and_charge' | 'rfid' | 'virtual'

export interface ChargingKeysTable {
  id: Generated<string>
  seq: ColumnType<string, never, never>
  organization_id: string
  user_id: string
  type: ChargingKeyType
  contract_id: string
  emaid_identity: string
  pcid: string | null
  rfid_uid: string | null
  visual_number: string | null
  name: string | null
  enabled: Generated<boolean>
  valid_from: Timestamp
  valid_to: NullableTimestamp
  duplicates_allowed: Generated<boolean>
  /** validTo follows the contract certificate's notAfter (migration 0016) */
  valid_to_from_certificate: Generated<boolean>
  emaid_claim: ColumnType<string, never, never>
  created_at: Timestamp
  updated_at: Timestamp
  deleted_at: NullableTimestamp
}

/** `activated` and `expired`: the key's validFrom arrived or its validTo passed (the validity clock, migration 0019). */
export type KeyEventType = 'created' | 'enabled' | 'disabled' | 'deleted' | 'validity_changed' | 'updated' | 'activated' | 'expired'

export interface KeyEventsTable {
  seq: ColumnType<string, never, never>
  tx_id: ColumnType<string, never, never>
  key_id: string
  organization_id: string
  type: KeyEventType
  key: ColumnType<Record<string, unknown>, never, never>
  occurred_at: Timestamp
}

export interface IdempotencyRecordsTable {
  scope: string
  key: string
  request_fingerprint: string
  status_code: number | null
  response_body: string | null
  /** the body is sealed with the platform's SecretBox (it carries a secret) */
  response_sealed: ColumnType<boolean, boolean | undefined, boolean>
  created_at: Timestamp
}

export interface OcpiEndpoint {
  identifier: string
  role: 'SENDER' | 'RECEIVER'
  url: string
}

export interface OcpiCredentialsRole {
  role: string
  party_id: string
  country_code: string
  business_details?: { name: string; website?: string; logo?: unknown }
}

export interface OcpiPartnersTable {
  id: Generated<string>
  name: string
  status: Generated<'created' | 'registered' | 'unregistered'>
  token_a_sha256: Buffer | Uint8Array | null
  incoming_token_sha256: Buffer | Uint8Array | null
  outgoing_token_encrypted: string | null
  versions_url: string | null
  version: '2.2.1' | '2.3.0' | null
  endpoints: ColumnType<OcpiEndpoint[], string | undefined, string>
  roles: ColumnType<OcpiCredentialsRole[], string | undefined, string>
  authorization_style: Generated<'base64' | 'raw'>
  emaid_token_type: 'OTHER' | 'EMAID' | null
  registered_at: NullableTimestamp
  locations_pulled_at: NullableTimestamp
  suspended_at: NullableTimestamp
  /** migration 0011: a newly registered partner gets every existing token */
  push_all_tokens: Generated<boolean>
  token_sync_requested_at: NullableTimestamp
  created_at: Timestamp
  updated_at: Timestamp
}

/** A party a partner may act for (migration 0007): upper-case, one partner per party. */
export interface OcpiPartnerPartiesTable {
  country_code: string
  party_id: string
  partner_id: string
  granted_at: Generated<Date>
}

export interface OutboxCursorsTable {
  name: string
  next_tx_id: string
}

/** The delivery engine's rows (migration 0010): one per destination and subject. */
export interface DeliveriesTable {
  destination: string
  subject: string
  kind: string
  version: ColumnType<string, string | number | bigint, string | number | bigint>
  delivered_version: ColumnType<string, string | number | bigint | undefined, string | number | bigint>
  generation: ColumnType<string, string | number | bigint | undefined, string | number | bigint>
  attempts: Generated<number>
  next_attempt_at: Timestamp
  lease_until: NullableTimestamp
  lease_id: string | null
  dead_at: NullableTimestamp
  last_error: string | null
  created_at: Timestamp
  updated_at: Timestamp
}

export interface OcpiTokenDeliveriesTable {
  partner_id: string
  key_id: string
  pending_seq: ColumnType<string, string | number | bigint, string | number | bigint>
  delivered_seq: ColumnType<string, string | number | bigint | undefined, string | number | bigint>
  attempts: Generated<number>
  next_attempt_at: Timestamp
  leased_until: NullableTimestamp
  last_error: string | null
  dead_at: NullableTimestamp
  updated_at: Timestamp
}

export interface AuthorizationDecisionsTable {
  authorization_reference: string
  protocol: string
  partner_id: string | null
  token_uid: string
  token_type: string | null
  emaid_identity: string | null
  key_id: string | null
  organization_id: string | null
  allowed: string
  location: ColumnType<unknown, string | null, string | null>
  latency_us: number
  decided_at: Timestamp
  /** migration 0021: the partner's part, when the organization has an authorization endpoint */
  partner_outcome: Generated<PartnerOutcome | null>
  partner_allowed: Generated<string | null>
  partner_latency_us: Generated<number | null>
  partner_error: Generated<string | null>
  /** the answer the station got, when it differs from `allowed` (our own decision) */
  final_allowed: Generated<string | null>
}

export interface AuthorizationEndpointsTable {
  organization_id: string
  url: string
  timeout_ms: Generated<number>
  on_timeout: Generated<'allow' | 'deny'>
  secret_sealed: string
  created_at: Generated<Date>
  updated_at: Generated<Date>
}

export interface LocationsTable {
  id: Generated<string>
  /** the protocol that sent it, and so what `data` is (migration 0012) */
  protocol: ColumnType<'ocpi' | 'oicp', 'ocpi' | 'oicp' | undefined, 'ocpi' | 'oicp'>
  partner_id: string | null
  country_code: string
  party_id: string
  location_id: string
  /** upper(country_code, party_id, location_id), generated (migration 0007): CiStrings, unique per protocol regardless of case (0012) */
  location_key: ColumnType<string[], never, never>
  /** the protocol's own record, as it came (for OCPI the Location as the CPO sent it) */
  data: ColumnType<Record<string, unknown>, string, string>
  /** JSON of a SearchDocument (src/core/locations/search-document.ts); null until filled after migration 0005 */
  search_document: string | null
  /** the same trimmed to Plug&Charge connectors; null when it has none */
  search_document_pnc: string | null
  /** a new one from a sequence on every write (migration 0006): names one version of the documents */
  document_version: ColumnType<string, never, never>
  latitude: number
  longitude: number
  /** generated from latitude and longitude */
  earth_point: ColumnType<string, never, never>
  searchable: boolean
  plug_and_charge: boolean
  last_updated: Timestamp
  updated_at: Timestamp
}

/** The authentication data records Hubject holds after our pushes (migration 0014). */
export interface OicpAuthRecordsTable {
  record: string
  identification: ColumnType<unknown, string, string>
  pushed_at: Timestamp
}

/** The OICP authentication data push's own state, one row (migration 0014). */
export interface OicpAuthPushTable {
  id: Generated<boolean>
  last_push_at: NullableTimestamp
  last_push_action: string | null
  last_push_records: number | null
  last_full_load_at: NullableTimestamp
  last_full_load_records: number | null
}

/** Hubject's EVSE data as pulled, one row per EVSE (migration 0015). */
export interface OicpEvseRecordsTable {
  evse_key: string
  operator_id: string
  location_id: string
  record: ColumnType<Record<string, unknown>, string, string>
  status: string | null
  full_pull_id: ColumnType<string | number | null, number | null | undefined, number | null>
  updated_at: Generated<Date>
}

/** The OICP EVSE data pull's own state, one row (migration 0015). */
export interface OicpEvsePullTable {
  id: Generated<boolean>
  last_call: NullableTimestamp
  full_pull_seq: ColumnType<string | number, number | undefined, number>
  last_full_at: NullableTimestamp
  last_full_result: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>
  last_delta_at: NullableTimestamp
  last_delta_result: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>
  last_status_at: NullableTimestamp
  last_status_result: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>
  last_error: string | null
  last_error_at: NullableTimestamp
  leased_until: NullableTimestamp
}

export type SessionStatus = 'AUTHORIZED' | 'ACTIVE' | 'STOPPED' | 'COMPLETED' | 'INVALID'
/** numeric columns: written as a number, read as PostgreSQL's exact text (or a number from PGlite) */
type NullableNumeric = ColumnType<string | number | null, number | string | null | undefined, number | string | null>
/** a nullable text column an INSERT may leave out */
type OptionalText = ColumnType<string | null, string | null | undefined, string | null>
type Jsonb = ColumnType<Record<string, unknown>, string, string>

/** Charging sessions from every protocol (migrations 0013, 0018). */
export interface ChargingSessionsTable {
  id: Generated<string>
  organization_id: string
  user_id: string
  key_id: string
  protocol: 'oicp' | 'ocpi'
  /** '' where the protocol's session IDs are global (OICP), the CPO's party where not (OCPI) */
  issuer: Generated<string>
  external_id: string
  authorization_reference: string | null
  evse_id: string | null
  operator_id: string | null
  identification_method: string | null
  identification: string | null
  status: SessionStatus
  started_at: Timestamp
  ended_at: NullableTimestamp
  charging_started_at: NullableTimestamp
  charging_ended_at: NullableTimestamp
  energy_kwh: NullableNumeric
  authorized_at: NullableTimestamp
  stopped_at: NullableTimestamp
  created_at: Timestamp
  updated_at: Timestamp
  location_id: OptionalText
  evse_uid: OptionalText
  connector_id: OptionalText
  currency: OptionalText
  total_cost_excl_vat: NullableNumeric
  total_cost_incl_vat: NullableNumeric
  /** the session as the protocol last described it (OCPI Session, PATCHes merged) */
  record: ColumnType<Record<string, unknown> | null, string | null | undefined, string | null>
}

/** One charge detail record per session, as received (migrations 0013, 0018). */
export interface ChargeDetailRecordsTable {
  /** our ID of the record (OCPI: the Location we answer a POST with) */
  id: Generated<string>
  session_id: string
  protocol: 'oicp' | 'ocpi'
  /** as charging_sessions.issuer: who names the record ('' for OICP, the CPO's party for OCPI) */
  issuer: Generated<string>
  /** the protocol's ID of the record (OCPI CDR.id), unique per issuer; null where records have none (OICP) */
  external_id: OptionalText
  currency: OptionalText
  total_cost_excl_vat: NullableNumeric
  total_cost_incl_vat: NullableNumeric
  record: Jsonb
  content_sha256: string
  session_start: NullableTimestamp
  session_end: NullableTimestamp
  charging_start: NullableTimestamp
  charging_end: NullableTimestamp
  energy_kwh: NullableNumeric
  evse_id: string | null
  operator_id: string | null
  received_at: Timestamp
}

export type SessionNotificationType = 'start' | 'progress' | 'end' | 'error'

export interface SessionNotificationsTable {
  id: Generated<string>
  session_id: string
  type: SessionNotificationType
  body: Jsonb
  content_sha256: string
  occurred_at: NullableTimestamp
  received_at: Timestamp
}

export type PkiAuthorityRole = 'root' | 'sub_ca_1' | 'sub_ca_2' | 'ocsp_signer'

/** Our MO CA chain and its OCSP signers (migration 0016). */
export interface PkiAuthoritiesTable {
  id: Generated<string>
  role: PkiAuthorityRole
  issuer_id: string | null
  certificate: Buffer
  serial_number: string
  subject: string
  subject_key_id: string
  private_key_sealed: string | null
  not_before: Timestamp
  not_after: Timestamp
  active: Generated<boolean>
  created_at: Generated<Date>
}

export type ContractCertificateStatus = 'active' | 'superseded' | 'revoked' | 'expired'

/** Contract certificates issued by our MO CA (migration 0016). */
export interface ContractCertificatesTable {
  id: Generated<string>
  seq: ColumnType<string, never, never>
  organization_id: string
  key_id: string
  emaid: string
  emaid_identity: string
  pcid: string
  issuer_id: string
  serial_number: string
  certificate: Buffer
  not_before: Timestamp
  not_after: Timestamp
  status: Generated<ContractCertificateStatus>
  renewal_of: string | null
  issued_by: Generated<'partner' | 'schedule' | 'ecosystem'>
  ecdh_peer: 'oem' | 'contract'
  /** PEM: the provisioning certificate, then its chain */
  provisioning_certificate: string | null
  contract_data_sealed: string
  revoked_at: NullableTimestamp
  revocation_reason: string | null
  created_at: Generated<Date>
  updated_at: Generated<Date>
}

export interface ContractCertificateEventsTable {
  seq: ColumnType<string, never, never>
  tx_id: ColumnType<string, never, never>
  certificate_id: string
  organization_id: string
  key_id: string
  type: 'issued' | 'renewed' | 'revoked' | 'expired'
  details: ColumnType<Record<string, unknown>, never, never>
  occurred_at: Generated<Date>
}

/** The latest CRL of each issuing CA (migration 0016). */
export interface PkiCrlsTable {
  issuer_id: string
  crl_number: ColumnType<string, string | number | bigint, string | number | bigint>
  crl: Buffer
  this_update: Timestamp
  next_update: Timestamp
}

export type OpcpPublicationState = 'pending' | 'published' | 'failed' | 'withdrawn'
export type OpcpStep = 'provisioning' | 'signing' | 'withdrawing'
export type OpcpOemStatus = 'queued' | 'sent' | 'delivered' | 'rejected' | 'deleted'

/** Keys whose contracts go through Hubject's ecosystem (migration 0017). */
export interface OpcpContractsTable {
  key_id: string
  organization_id: string
  pcid: string
  emaid: string
  wanted: Generated<'published' | 'withdrawn'>
  state: Generated<OpcpPublicationState>
  step: OpcpStep | null
  issue_requested: Generated<boolean>
  reissue_requested: Generated<boolean>
  published_certificate_id: string | null
  signed_data: string | null
  cps_root_fingerprint: string | null
  cps_root_dn: string | null
  published_at: NullableTimestamp
  withdrawn_at: NullableTimestamp
  failure_reason: string | null
  failure_trace_id: string | null
  last_error: string | null
  oem_status: OpcpOemStatus | null
  oem_status_at: NullableTimestamp
  version: ColumnType<string, string | number | bigint, string | number | bigint>
  created_at: Generated<Date>
  updated_at: Generated<Date>
}

export interface OpcpRootsTable {
  fingerprint: string
  root_type: 'V2G' | 'OEM' | 'MO' | 'PE'
  certificate: Buffer
  distinguished_name: string | null
  root_certificate_id: string | null
  first_seen_at: Generated<Date>
  last_seen_at: Generated<Date>
  removed_at: NullableTimestamp
}

export interface OpcpWebhookEndpointsTable {
  id: string
  url: string
  events: string[]
  secret_sealed: string
  active: Generated<boolean>
  created_at: Generated<Date>
}

export interface OpcpWebhookEventsTable {
  event_id: string
  event_type: string
  emaid: string | null
  pcid: string | null
  key_id: string | null
  body: ColumnType<unknown, string, string>
  outcome: 'applied' | 'no_contract' | 'recorded' | 'unknown_type'
  detail: string | null
  signature_header: string
  received_at: Generated<Date>
}

export interface WebhookEndpointsTable {
  id: Generated<string>
  organization_id: string
  url: string
  events: string[]
  description: string | null
  enabled: Generated<boolean>
  secret_sealed: string
  previous_secret_sealed: string | null
  previous_secret_until: NullableTimestamp
  created_at: Generated<Date>
  updated_at: Generated<Date>
}

export interface PartnerEventsTable {
  seq: ColumnType<string, never, never>
  id: Generated<string>
  tx_id: ColumnType<string, never, never>
  organization_id: string
  type: string
  data: Record<string, unknown>
  occurred_at: Generated<Date>
}

export type WebhookDeliveryStatus = 'pending' | 'delivered' | 'failed'

export interface WebhookDeliveriesTable {
  id: Generated<string>
  endpoint_id: string
  event_seq: string
  position: ColumnType<string, string | undefined, string>
  status: Generated<WebhookDeliveryStatus>
  attempts: Generated<number>
  first_attempt_at: NullableTimestamp
  last_attempt_at: NullableTimestamp
  last_status_code: number | null
  last_error: string | null
  delivered_at: NullableTimestamp
  created_at: Generated<Date>
}
