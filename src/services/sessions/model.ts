import { createHash } from 'node:crypto'
import { invalid } from '../../core/errors.ts'
import type { SessionNotificationType, SessionStatus } from '../../infra/db/schema.ts'

/**
 * The protocol-neutral charging session, and the pure rules of its store: how its status moves,
 * how a record's content is fingerprinted, how a listing page is continued. No protocol here:
 * each protocol adapter turns its own messages into these.
 */

export type { SessionNotificationType, SessionStatus }
export type SessionProtocol = 'oicp' | 'ocpi'

/** Names a protocol's session: Hubject's SessionID is global (issuer ''), an OCPI session is unique per CPO party. */
export interface SessionRef {
  protocol: SessionProtocol
  issuer?: string
  externalId: string
}

/** What the driver presented: the protocol's identification option and the identifier as sent. */
export interface SessionIdentification {
  method: string
  value: string
}

export interface ChargingSession {
  id: string
  organizationId: string
  /** our user's row ID (not the partner's user ID) */
  userId: string
  keyId: string
  protocol: SessionProtocol
  issuer: string
  externalId: string
  authorizationReference: string | null
  evseId: string | null
  operatorId: string | null
  identification: SessionIdentification | null
  status: SessionStatus
  startedAt: Date
  endedAt: Date | null
  chargingStartedAt: Date | null
  chargingEndedAt: Date | null
  energyKwh: number | null
  authorizedAt: Date | null
  stoppedAt: Date | null
  createdAt: Date
  updatedAt: Date
  /** the CPO's location (OCPI location_id), EVSE (evse_uid) and connector; null where the protocol does not say */
  locationId: string | null
  evseUid: string | null
  connectorId: string | null
  /** what the operator charges for it (OCPI total_cost), the CDR's once it is in; null: not told */
  cost: SessionCost | null
}

/** A price as OCPI gives it: excl. VAT always, incl. VAT when stated. */
export interface SessionCost {
  currency: string
  exclVat: number
  inclVat: number | null
}

/**
 * The order a session's status moves in; it never moves back (a late notification does not reopen
 * a completed session). COMPLETED (the CDR is in) and INVALID (the CPO declined it, OCPI INVALID)
 * both end it: neither moves to the other, so a late CDR of an invalid session is kept but does
 * not make the session completed.
 *
 * OCPI's SessionStatus maps as: PENDING and RESERVATION -> AUTHORIZED, ACTIVE -> ACTIVE,
 * COMPLETED -> STOPPED (ended, the CDR is to follow), INVALID -> INVALID; a stored CDR -> COMPLETED.
 */
export const SESSION_STATUSES: readonly SessionStatus[] = ['AUTHORIZED', 'ACTIVE', 'STOPPED', 'COMPLETED', 'INVALID']
export const TERMINAL_SESSION_STATUSES: readonly SessionStatus[] = ['COMPLETED', 'INVALID']

/** The status after an event that would put the session in `next`: the further of the two; an ended session stays as it ended. */
export function advancedStatus(current: SessionStatus, next: SessionStatus): SessionStatus {
  if (TERMINAL_SESSION_STATUSES.includes(current)) return current
  return SESSION_STATUSES.indexOf(next) > SESSION_STATUSES.indexOf(current) ? next : current
}

/** JSON with object keys sorted and nulls dropped: two spellings of the same content are one text. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null'
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== null && v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

/**
 * The fingerprint of a record's content (SHA-256 of its canonical JSON, hex): the same record
 * sent again (another key order, a null for an absent field) has the same one, any change of a
 * value another.
 */
export function contentSha256(value: unknown): string {
  return createHash('sha256').update(canonicalJson(value)).digest('hex')
}

/** Where a listing page ends: the last session's start and ID (the listing's order). */
export interface SessionCursor {
  startedAt: Date
  id: string
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export function encodeSessionCursor(cursor: SessionCursor): string {
  return Buffer.from(`${cursor.startedAt.toISOString()}|${cursor.id}`, 'utf8').toString('base64url')
}

/** A cursor we issued, read back; anything else is a 400 invalid_cursor. */
export function decodeSessionCursor(text: string): SessionCursor {
  const [at, id, ...rest] = Buffer.from(text, 'base64url').toString('utf8').split('|')
  const startedAt = new Date(at ?? '')
  if (rest.length > 0 || id === undefined || !UUID.test(id) || Number.isNaN(startedAt.getTime()) || startedAt.toISOString() !== at) {
    throw invalid('invalid_cursor', 'cursor is not one we issued; pass back the cursor of the previous answer as given')
  }
  return { startedAt, id }
}

/** A decimal number of kWh from a protocol's message: finite and not negative, else null. */
export function energyOf(value: unknown): number | null {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : null
}

/** What is known of a session when a protocol first reports it (an authorization, a record, a notification). */
export interface NewSession extends SessionRef {
  /** the charging key the session charges under (its organization and user follow from it) */
  keyId: string
  status: SessionStatus
  startedAt: Date
  authorizationReference?: string | null
  authorizedAt?: Date | null
  evseId?: string | null
  operatorId?: string | null
  identification?: SessionIdentification | null
}
