import { Type, type TSchema } from '@sinclair/typebox'
import { HTTP_STATUS, type ErrorKind } from '../../core/errors.ts'
import type { RouteAuth } from './auth.ts'
import { ErrorResponse } from './errors.ts'

/**
 * Every error code of the REST APIs: its kind (and so its HTTP status) and when it is answered.
 * Route tables name the codes of each operation from this list, and the OpenAPI document is
 * written from them, so a partner reads in one place what an operation can answer.
 */
export const ERROR_CODES = {
  // Every operation behind an API key.
  missing_api_key: { kind: 'unauthenticated', cause: 'no X-API-Key header' },
  invalid_api_key: { kind: 'unauthenticated', cause: 'the API key is unknown or revoked' },
  missing_scope: { kind: 'forbidden', cause: 'the API key lacks the scope of this operation' },
  organization_key_required: { kind: 'forbidden', cause: "the platform admin key on an organization's operation" },
  organization_disabled: { kind: 'forbidden', cause: 'the organization is disabled' },
  platform_key_required: { kind: 'forbidden', cause: "an organization's key on a platform admin operation" },
  internal_error: { kind: 'internal', cause: 'our fault; the answer carries the requestId to quote' },
  database_unavailable: { kind: 'unavailable', cause: 'the database is restarting or failing over; retry shortly' },
  // Operations that take input.
  validation_error: { kind: 'invalid', cause: 'a path parameter, query parameter or body field breaks its rule (the message names it)' },
  unknown_field: {
    kind: 'invalid',
    cause: 'a body or query field the operation does not know (the message suggests the closest known one)',
  },
  nul_character: { kind: 'invalid', cause: 'a NUL character in a body string, the path or the query (it cannot be stored)' },
  malformed_json: { kind: 'invalid', cause: 'the body is not JSON, or empty while declared as JSON' },
  forbidden_key: { kind: 'invalid', cause: 'the body has a key `__proto__` or `constructor.prototype`' },
  nesting_too_deep: { kind: 'invalid', cause: 'the body is nested deeper than 32 levels' },
  invalid_content_length: { kind: 'invalid', cause: 'Content-Length does not match the body' },
  payload_too_large: { kind: 'payload_too_large', cause: 'the body is over the size limit' },
  unsupported_media_type: { kind: 'unsupported_media_type', cause: 'the body is not application/json' },
  invalid_idempotency_key: { kind: 'invalid', cause: 'Idempotency-Key is not 1-255 visible ASCII characters' },
  idempotency_key_reused: { kind: 'unprocessable', cause: 'this Idempotency-Key was used for another request in the last 24 hours' },
  idempotency_request_in_progress: { kind: 'conflict', cause: 'a request with this Idempotency-Key is still running' },
  idempotent_replay_unavailable: {
    kind: 'conflict',
    cause: 'the request with this Idempotency-Key was carried out, but its answer (a secret shown once) cannot be replayed',
  },
  // Users and charging keys.
  user_not_found: { kind: 'not_found', cause: 'no such user in this organization' },
  user_exists: { kind: 'conflict', cause: 'a user with this id exists' },
  email_taken: { kind: 'conflict', cause: 'another user of this organization has this email' },
  charging_key_not_found: { kind: 'not_found', cause: 'the user has no such key' },
  invalid_pcid: { kind: 'invalid', cause: 'PCID not 17-18 letters or digits' },
  invalid_contract_id: { kind: 'invalid', cause: 'not an EMAID' },
  contract_id_prefix_not_allowed: { kind: 'invalid', cause: "EMAID outside the organization's contractIdPrefixes" },
  check_digit_mismatch: {
    kind: 'invalid',
    cause: 'wrong check character and checkDigit "strict" (the message and `expected` name the right one)',
  },
  plug_and_charge_not_enabled: { kind: 'invalid', cause: 'the organization has no Plug&Charge' },
  contract_id_exists: { kind: 'conflict', cause: 'a key with this EMAID exists (see duplicateContractIds)' },
  invalid_key_identifier: { kind: 'invalid', cause: 'keyIdentifier not an RFID UID of 8, 14 or 20 hexadecimal characters' },
  key_identifier_exists: { kind: 'conflict', cause: 'an RFID key with this keyIdentifier exists' },
  invalid_valid_to: { kind: 'invalid', cause: "validTo not after the key's validFrom" },
  // Contract certificates (our MO CA).
  invalid_provisioning_certificate: {
    kind: 'invalid',
    cause:
      "the vehicle's provisioning certificate breaks a rule: encoding, validity, ISO 15118-2 profile, or chain to a trusted root (the message names it)",
  },
  pcid_mismatch: { kind: 'invalid', cause: "the provisioning certificate's CN is not the key's PCID (the message names both)" },
  provisioning_certificate_required: {
    kind: 'invalid',
    cause: 'renewal for the OEM key, but no provisioning certificate is stored or given',
  },
  not_a_plug_and_charge_key: { kind: 'invalid', cause: 'contract certificates belong to Plug&Charge keys' },
  emaid_bound_to_other_pcid: { kind: 'conflict', cause: 'the EMAID has a contract certificate (not revoked) for another PCID' },
  contract_certificate_not_found: { kind: 'not_found', cause: 'the key has no contract certificate' },
  contract_certificate_exists: { kind: 'conflict', cause: 'the key has an active contract certificate: renew or revoke it' },
  contract_certificate_not_renewable: { kind: 'conflict', cause: 'the contract certificate is revoked or superseded (issue a new one)' },
  contract_certificate_not_revocable: { kind: 'conflict', cause: 'the contract certificate is already revoked or expired' },
  ca_not_initialized: { kind: 'unavailable', cause: 'the platform operator has not set up the MO certificate authority yet' },
  // Charging sessions.
  session_not_found: { kind: 'not_found', cause: 'the user has no such charging session' },
  // Geosearch.
  invalid_filter: { kind: 'invalid', cause: 'a filter is unknown or has a value outside its list (the message lists the valid ones)' },
  invalid_cursor: { kind: 'invalid', cause: 'the cursor is not one we issued' },
  cursor_mismatch: { kind: 'invalid', cause: 'the cursor belongs to a search with another area or other filters' },
  // Partner webhooks.
  webhook_not_found: { kind: 'not_found', cause: 'no such webhook endpoint in this organization' },
  webhook_delivery_not_found: { kind: 'not_found', cause: 'the webhook endpoint has no such delivery' },
  invalid_webhook_url: {
    kind: 'invalid',
    cause: 'url is not https, carries credentials, or names a loopback, private or link-local address (the message names the rule)',
  },
  unknown_event_type: { kind: 'invalid', cause: 'an events entry is not an event type (the message names events[i] and lists them)' },
  replay_too_large: { kind: 'invalid', cause: 'the replay range holds more than 10000 deliveries' },
  // Organizations and API keys.
  organization_not_found: { kind: 'not_found', cause: 'no such organization' },
  invalid_scope: { kind: 'invalid', cause: 'a scope is not one of users, charging-keys, geosearch, webhooks, admin' },
  invalid_contract_id_prefix: { kind: 'invalid', cause: 'a contractIdPrefixes entry is not the start of an EMAID' },
  invalid_emaid_prefix: { kind: 'invalid', cause: 'emaidPrefix is not a country code and provider ID such as DE-8PS' },
  api_key_not_found: { kind: 'not_found', cause: 'no such API key of this organization' },
  // Partner-decided authorization.
  invalid_endpoint_url: {
    kind: 'invalid',
    cause: 'url is not https (http only in the sandbox), carries credentials, or names a loopback, link-local or private address',
  },
  authorization_endpoint_not_found: { kind: 'not_found', cause: 'the organization has no authorization endpoint' },
  // OCPI partners.
  ocpi_partner_not_found: { kind: 'not_found', cause: 'no such OCPI partner' },
  ocpi_partner_registered: { kind: 'conflict', cause: 'the partner is registered already' },
  ocpi_partner_not_registered: { kind: 'conflict', cause: 'the partner is not registered' },
  ocpi_partner_suspended: { kind: 'conflict', cause: 'the partner is suspended; resume it first' },
  ocpi_party_taken: { kind: 'conflict', cause: 'a party (country code and party ID) belongs to another partner' },
  ocpi_registration_failed: { kind: 'bad_gateway', cause: "the CPO's versions, endpoints or credentials failed us" },
  ocpi_pull_failed: { kind: 'bad_gateway', cause: "the CPO's locations could not be pulled" },
  ocpi_reconcile_failed: { kind: 'bad_gateway', cause: "the CPO's tokens could not be read" },
  // Hubject (OICP).
  oicp_push_not_enabled: { kind: 'conflict', cause: 'authentication data is pushed only by an offline EMP with a Hubject URL' },
  oicp_not_configured: { kind: 'conflict', cause: 'there is no Hubject connection (OPENPNC_OICP_URL)' },
  oicp_pull_in_progress: { kind: 'conflict', cause: 'another instance is pulling from Hubject right now' },
  oicp_pull_failed: { kind: 'bad_gateway', cause: "Hubject's EVSE data or statuses could not be pulled" },
  // Hubject's Plug&Charge ecosystem (OPCP).
  opcp_not_configured: { kind: 'conflict', cause: "there is no connection to Hubject's Plug&Charge ecosystem (OPENPNC_OPCP_URL)" },
  pcid_not_in_pcp: {
    kind: 'unprocessable',
    cause: "Hubject's Provisioning Certificate Pool has no provisioning certificate for the PCID (the car maker publishes it there)",
  },
  invalid_pcp_certificate: {
    kind: 'bad_gateway',
    cause: "the provisioning certificate Hubject's PCP holds for the PCID fails our check (the message names the rule)",
  },
  opcp_error: { kind: 'bad_gateway', cause: "Hubject's ecosystem refused our call (the message carries its errorMessages and traceId)" },
  publication_not_found: { kind: 'not_found', cause: "the key's contract does not go through Hubject's ecosystem" },
  publication_not_retryable: { kind: 'conflict', cause: 'the contract is published or withdrawn: there is nothing to retry' },
  invalid_signature: {
    kind: 'unauthenticated',
    cause: "the webhook's HMAC-SHA256 signature is missing or does not match an endpoint secret",
  },
} as const satisfies Record<string, { kind: ErrorKind; cause: string }>

export type ErrorCode = keyof typeof ERROR_CODES

/** The HTTP status an error code is answered with. */
export const statusOf = (code: ErrorCode): number => HTTP_STATUS[ERROR_CODES[code].kind]

/**
 * The codes every operation of this shape can answer with, whatever it does: authentication,
 * the schema's checks on its input, body parsing, Idempotency-Key on a POST, and our own failure.
 */
export function commonErrorCodes(operation: { method: string; url: string; auth: RouteAuth; secretBearing?: true }): ErrorCode[] {
  const codes: ErrorCode[] = ['missing_api_key', 'invalid_api_key']
  if (operation.auth.audience === 'platform') codes.push('platform_key_required')
  else codes.push('organization_key_required', 'organization_disabled', 'missing_scope')
  const body = ['POST', 'PUT', 'PATCH'].includes(operation.method)
  // A NUL is refused in any path or query; fields are checked where there is a body or a query.
  codes.push('nul_character')
  if (body || operation.method === 'GET' || operation.url.includes('/:')) codes.push('validation_error')
  if (body || operation.method === 'GET') codes.push('unknown_field')
  if (body) {
    codes.push(
      'malformed_json',
      'forbidden_key',
      'nesting_too_deep',
      'invalid_content_length',
      'payload_too_large',
      'unsupported_media_type',
    )
  }
  if (operation.method === 'POST') codes.push('invalid_idempotency_key', 'idempotency_key_reused', 'idempotency_request_in_progress')
  if (operation.method === 'POST' && operation.secretBearing) codes.push('idempotent_replay_unavailable')
  codes.push('internal_error', 'database_unavailable')
  return codes
}

/**
 * One documented response per HTTP status: the error envelope, its `code` limited to the codes
 * this operation answers with at that status, and a description listing them with their causes.
 */
export function errorResponses(codes: readonly ErrorCode[]): Record<string, TSchema> {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of new Set(codes)) byStatus.set(statusOf(code), [...(byStatus.get(statusOf(code)) ?? []), code])
  const responses: Record<string, TSchema> = {}
  for (const [status, group] of [...byStatus].sort(([a], [b]) => a - b)) {
    const { code, ...rest } = ErrorResponse.properties.error.properties
    responses[status] = Type.Object(
      {
        error: Type.Object({
          code: Type.String({ ...optionsOf(code), enum: group, examples: [group[0]] }),
          ...rest,
        }),
      },
      // The response's description in the document (not the schema's).
      { 'x-response-description': group.map((c) => `- \`${c}\`: ${ERROR_CODES[c].cause}`).join('\n') },
    )
  }
  return responses
}

/** A schema's options (description, examples...) without its type, to build a narrower one from. */
function optionsOf(schema: TSchema): Record<string, unknown> {
  const { type: _type, ...options } = schema as Record<string, unknown>
  return options
}
