import type { ContractCertificateStatus, OpcpPublicationState } from '../../infra/db/schema.ts'
import { toChargingKey, type ChargingKeyRow } from '../../services/keys/charging-key.ts'
import { sessionFromRow, type SessionListEntry, type SessionRow } from '../../services/sessions/sessions.ts'
import { presentKey, presentSession } from '../drive-api/schemas.ts'

/**
 * What a partner receives for an event: built from the snapshot the database trigger took when the
 * change happened (migration 0020), with the Drive API's presenters, so a key or a session reads
 * the same in a webhook as in the API. Pure: the snapshot in, the JSON out.
 */

/** The body of a webhook call (Standard Webhooks' recommended shape). */
export interface WebhookBody {
  type: string
  /** when the change happened, RFC 3339 */
  timestamp: string
  data: Record<string, unknown>
}

type Json = Record<string, unknown>
const iso = (value: unknown) => (value === null || value === undefined ? null : new Date(value as string).toISOString())

/** A key snapshot: the key's row with its user and its contract certificate's standing. */
type KeySnapshot = ChargingKeyRow & {
  user_external_id: string | null
  contract_certificate: { status: ContractCertificateStatus; not_after: string } | null
  contract_publication: OpcpPublicationState | null
}

function keyData(snapshot: KeySnapshot): Json {
  const key = toChargingKey({ ...snapshot, seq: snapshot.seq ?? '0' })
  return {
    userId: snapshot.user_external_id,
    ...presentKey({
      ...key,
      ...(snapshot.contract_certificate && {
        contractCertificate: { status: snapshot.contract_certificate.status, notAfter: new Date(snapshot.contract_certificate.not_after) },
      }),
      ...(snapshot.contract_publication && { contractPublication: snapshot.contract_publication }),
    }),
  }
}

type SessionSnapshot = SessionRow & {
  key_type: string
  key_contract_id: string
  key_rfid_uid: string | null
  user_external_id: string | null
}

/** A session snapshot as the Drive API's listing presents it (its key as `toListEntry` names it). */
function sessionEntry(snapshot: SessionSnapshot): SessionListEntry {
  const keyId = snapshot.key_type === 'rfid' && snapshot.key_rfid_uid !== null ? snapshot.key_rfid_uid : snapshot.key_contract_id
  return { ...sessionFromRow(snapshot), key: { keyId, type: snapshot.key_type } }
}

function sessionData(snapshot: SessionSnapshot): Json {
  return { userId: snapshot.user_external_id, ...presentSession(sessionEntry(snapshot)) }
}

function cdrData(snapshot: { session: SessionSnapshot; cdr: Json }): Json {
  const { session, cdr } = snapshot
  return {
    sessionId: session.id,
    userId: session.user_external_id,
    session: presentSession(sessionEntry(session)),
    cdr: {
      received: iso(cdr.received_at),
      sessionStart: iso(cdr.session_start),
      sessionEnd: iso(cdr.session_end),
      chargingStart: iso(cdr.charging_start),
      chargingEnd: iso(cdr.charging_end),
      energyKwh: cdr.energy_kwh === null || cdr.energy_kwh === undefined ? null : Number(cdr.energy_kwh),
      evseId: cdr.evse_id ?? null,
      operatorId: cdr.operator_id ?? null,
      record: cdr.record ?? {},
    },
  }
}

interface ContractSnapshot {
  user_external_id: string | null
  key_type: string
  key_contract_id: string
  key_rfid_uid: string | null
  emaid: string
  pcid: string
  serial_number: string
  not_before: string
  not_after: string
  status: ContractCertificateStatus
  revocation_reason: string | null
  revoked_at: string | null
  issued_by: string
  renewed: boolean
  publication: { state: OpcpPublicationState; reason: string | null; trace_id: string | null; published_at: string | null } | null
}

function contractData(snapshot: ContractSnapshot): Json {
  return {
    userId: snapshot.user_external_id,
    keyId: snapshot.key_contract_id,
    emaid: snapshot.emaid,
    pcid: snapshot.pcid,
    serialNumber: snapshot.serial_number,
    notBefore: iso(snapshot.not_before),
    notAfter: iso(snapshot.not_after),
    status: snapshot.status,
    ...(snapshot.revoked_at !== null && { revoked: iso(snapshot.revoked_at) }),
    ...(snapshot.revocation_reason !== null && { revocationReason: snapshot.revocation_reason }),
    issuedBy: snapshot.issued_by,
    renewed: snapshot.renewed,
    ...(snapshot.publication && {
      publication: {
        state: snapshot.publication.state,
        reason: snapshot.publication.reason,
        traceId: snapshot.publication.trace_id,
        publishedAt: iso(snapshot.publication.published_at),
      },
    }),
  }
}

/** The `data` of an event of `type` from its snapshot. */
export function webhookData(type: string, snapshot: Json): Json {
  const family = type.slice(0, type.indexOf('.'))
  switch (family) {
    case 'charging_key':
      return keyData(snapshot as unknown as KeySnapshot)
    case 'contract_certificate':
      return contractData(snapshot as unknown as ContractSnapshot)
    case 'session':
      return sessionData(snapshot as unknown as SessionSnapshot)
    case 'cdr':
      return cdrData(snapshot as unknown as { session: SessionSnapshot; cdr: Json })
    default:
      throw new Error(`no payload for event type ${type}`)
  }
}

/** The JSON body of an event's webhook call. */
export function webhookBody(event: { type: string; occurredAt: Date; snapshot: Json }): string {
  const body: WebhookBody = { type: event.type, timestamp: event.occurredAt.toISOString(), data: webhookData(event.type, event.snapshot) }
  return JSON.stringify(body)
}
