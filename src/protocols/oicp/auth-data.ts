import { formatEvcoId } from './evco-id.ts'

/**
 * PushAuthenticationData, pure part: which charging keys become which of Hubject's
 * authentication data records (spec schemas ProviderAuthenticationData, Identification).
 *
 * A record is named by a subject that is also its delivery subject and its row in our copy of
 * what Hubject holds: `evco:<EMAID identity>` for Plug&Charge contracts, `uid:<UID>` for RFID
 * cards. A record is one identifier, not one key: keys sharing an EMAID (an organization that
 * allows duplicates) or a card UID (two organizations) make one record, present at Hubject while
 * any of them may charge, so disabling one of them never withdraws the others'.
 */

/** The delivery kind of Hubject authentication data pushes. */
export const OICP_AUTH_DATA = 'oicp-auth-data'
/** The one destination: Hubject, reached with our ProviderID. */
export const HUBJECT_DESTINATION = 'oicp:hubject'
/** The subject of a requested fullLoad: it travels in the same sequence as the records' changes. */
export const FULL_LOAD_SUBJECT = 'full-load'

export type AuthActionType = 'fullLoad' | 'update' | 'insert' | 'delete'

/** One AuthenticationDataRecord as we send it: only the identification our keys carry. */
export type AuthenticationDataRecord =
  | { Identification: { PlugAndChargeIdentification: { EvcoID: string } } }
  | { Identification: { RFIDMifareFamilyIdentification: { UID: string } } }

/** The request body of eRoamingPushAuthenticationData. */
export interface PushAuthenticationDataRequest {
  ActionType: AuthActionType
  ProviderAuthenticationData: { ProviderID: string; AuthenticationDataRecord: AuthenticationDataRecord[] }
}

/** What a key needs to name its record. */
export interface AuthKey {
  type: 'plug_and_charge' | 'rfid' | 'virtual'
  /** the EMAID's 14 identifying characters */
  emaidIdentity: string
  /** the RFID card UID (RFID keys) */
  keyIdentifier: string | null
}

const UID_PATTERN = /^([0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$/

/**
 * The record subject of a key, or null when the key has no OICP record: virtual keys (app
 * users start remotely, not from pushed data), and Plug&Charge contracts whose EMAID has no ISO
 * EvcoID (instance not starting with "C").
 */
export function authSubjectOf(key: AuthKey): string | null {
  if (key.type === 'rfid') return key.keyIdentifier && UID_PATTERN.test(key.keyIdentifier) ? `uid:${key.keyIdentifier}` : null
  if (key.type !== 'plug_and_charge') return null
  return key.emaidIdentity.charAt(5) === 'C' ? `evco:${key.emaidIdentity}` : null
}

/** True for the subject of a record (not the fullLoad request). */
export const isRecordSubject = (subject: string) => subject.startsWith('evco:') || subject.startsWith('uid:')

/**
 * The AuthenticationDataRecord a subject names. Plug&Charge: the EvcoID in ISO form with
 * separators and the computed check character (`DE-8PS-C0AD21B13-P`), which Hubject's EvcoID
 * pattern accepts; RFID: RFIDMifareFamilyIdentification, the identification Hubject's RFID
 * authorization uses.
 */
export function authRecordOf(subject: string): AuthenticationDataRecord {
  if (subject.startsWith('evco:')) {
    return { Identification: { PlugAndChargeIdentification: { EvcoID: formatEvcoId(subject.slice('evco:'.length)) } } }
  }
  if (subject.startsWith('uid:')) {
    const uid = subject.slice('uid:'.length)
    if (!UID_PATTERN.test(uid)) throw new RangeError(`not an RFID UID: ${JSON.stringify(uid)}`)
    return { Identification: { RFIDMifareFamilyIdentification: { UID: uid } } }
  }
  throw new RangeError(`not an authentication data subject: ${JSON.stringify(subject)}`)
}

/** The identifier a record carries, for messages: its EvcoID or UID. */
export function recordLabel(record: AuthenticationDataRecord): string {
  const id = record.Identification
  return 'PlugAndChargeIdentification' in id ? id.PlugAndChargeIdentification.EvcoID : id.RFIDMifareFamilyIdentification.UID
}

/**
 * What one push does to a record: insert what Hubject should hold and does not, delete what it
 * holds and should not; nothing when it already agrees (a key's rename, a second key of a shared
 * EMAID) — Hubject refuses to insert a record it holds.
 */
export function recordAction(wanted: boolean, heldByHubject: boolean): 'insert' | 'delete' | null {
  if (wanted && !heldByHubject) return 'insert'
  if (!wanted && heldByHubject) return 'delete'
  return null
}

/** The request body of one push. */
export function pushRequest(
  action: AuthActionType,
  providerId: string,
  records: AuthenticationDataRecord[],
): PushAuthenticationDataRequest {
  return { ActionType: action, ProviderAuthenticationData: { ProviderID: providerId, AuthenticationDataRecord: records } }
}

/**
 * Items in their order, cut into runs of one action, each at most `max` long: one request per
 * run, so a burst of changes travels in few requests and never out of order.
 */
export function runsOf<T extends { action: string }>(items: readonly T[], max: number): T[][] {
  const runs: T[][] = []
  for (const item of items) {
    const last = runs.at(-1)
    if (last && last[0]!.action === item.action && last.length < max) last.push(item)
    else runs.push([item])
  }
  return runs
}
