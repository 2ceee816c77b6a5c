import type { AuthorizationOutcome } from '../../services/authorization/authorizer.ts'
import type { Allowed } from '../../core/authorization/decision.ts'
import type { PartnerVerdict } from '../../core/authorization/partner-decision.ts'
import { parsePresentedIdentifier, presentedIdentity, presentedUid, type PresentedIdentifier } from '../../core/authorization/presented.ts'
import { isEvcoId } from './evco-id.ts'
import { OICP_STATUS, type OicpStatusCode } from './protocol.ts'
import { isJsonObject } from '../../core/json.ts'

/**
 * OICP 2.3 eRoamingAuthorizeStart / eRoamingAuthorizeStop, pure: Hubject's request into what the
 * core authorizes (PresentedIdentifier), and an authorization outcome into Hubject's answer.
 * Input is read tolerantly (explicit nulls are absent, extra fields ignored, `…ID` and `…Id`
 * spellings both read, as real Hubject traffic has them); output is strict (only spec fields, only
 * the spec's status codes).
 */

type Json = Record<string, unknown>

/**
 * A field of a Hubject object by its spec name; an explicit null reads as absent, and a name
 * ending in `ID` is also found spelled `Id` (and the other way round): Hubject's own schemas mix
 * `HubProviderID`/`HubProviderId`, `ChargingStationID`/`ChargingStationId`.
 */
export function oicpField(record: Json, name: string): unknown {
  const value = record[name]
  if (value !== undefined && value !== null) return value
  const alternative = name.endsWith('ID') ? `${name.slice(0, -2)}Id` : name.endsWith('Id') ? `${name.slice(0, -2)}ID` : null
  const other = alternative === null ? undefined : record[alternative]
  return other === null ? undefined : other
}

/** How the driver identified: the Identification option the identifier came from. */
export type IdentificationMethod =
  'PlugAndChargeIdentification' | 'RemoteIdentification' | 'RFIDMifareFamilyIdentification' | 'RFIDIdentification'

/** The session IDs Hubject's answers echo. */
export interface SessionEcho {
  SessionID?: string
  CPOPartnerSessionID?: string
  EMPPartnerSessionID?: string
}

export interface Refusal {
  code: Exclude<OicpStatusCode, '000'>
  description: string
}

export type ParsedAuthorize =
  | {
      ok: true
      method: IdentificationMethod
      presented: PresentedIdentifier
      /** the identifier as sent (EvcoID or UID), for the decision log */
      tokenUid: string
      operatorId: string
      evseId: string | null
      session: SessionEcho
    }
  | { ok: false; refusal: Refusal; session: SessionEcho }

// schemas/SessionID.yaml
const SESSION_ID = /^[A-Za-z0-9]{8}(-[A-Za-z0-9]{4}){3}-[A-Za-z0-9]{12}$/
const PARTNER_SESSION_MAX = 250

const dataError = (field: string, rule: string): Refusal => ({ code: OICP_STATUS.dataError.code, description: `${field}: ${rule}` })

/** The session IDs of a request, and the first one that breaks the spec's rule. */
export function readSession(body: Json): { session: SessionEcho; error: Refusal | null } {
  const session: SessionEcho = {}
  let error: Refusal | null = null
  const sessionId = oicpField(body, 'SessionID')
  if (sessionId !== undefined) {
    if (typeof sessionId === 'string' && SESSION_ID.test(sessionId)) session.SessionID = sessionId
    else error = dataError('SessionID', 'must be a GUID (8-4-4-4-12 alphanumerics)')
  }
  for (const name of ['CPOPartnerSessionID', 'EMPPartnerSessionID'] as const) {
    const value = oicpField(body, name)
    if (value === undefined) continue
    if (typeof value === 'string' && value.length <= PARTNER_SESSION_MAX) session[name] = value
    else error ??= dataError(name, `must be a string of at most ${PARTNER_SESSION_MAX} characters`)
  }
  return { session, error }
}

/**
 * The identifier of an Identification object. Several options may be filled; the strongest
 * wins (Plug&Charge, then remote, then the card), and a QR code is refused only when nothing
 * else is given, since we hold no PINs to check it against.
 */
export function readIdentification(
  identification: unknown,
): { ok: true; method: IdentificationMethod; presented: PresentedIdentifier; tokenUid: string } | { ok: false; refusal: Refusal } {
  if (!isJsonObject(identification)) return { ok: false, refusal: dataError('Identification', 'is required and must be an object') }
  for (const method of ['PlugAndChargeIdentification', 'RemoteIdentification'] as const) {
    const option = oicpField(identification, method)
    if (option === undefined) continue
    const evcoId = isJsonObject(option) ? oicpField(option, 'EvcoID') : undefined
    if (typeof evcoId !== 'string' || evcoId.trim() === '') {
      return { ok: false, refusal: dataError(`Identification.${method}.EvcoID`, 'is required and must be a string') }
    }
    return { ok: true, method, presented: parseEvcoIdPresented(evcoId), tokenUid: evcoId }
  }
  for (const method of ['RFIDMifareFamilyIdentification', 'RFIDIdentification'] as const) {
    const option = oicpField(identification, method)
    if (option === undefined) continue
    const uid = isJsonObject(option) ? oicpField(option, 'UID') : undefined
    if (typeof uid !== 'string' || uid.trim() === '') {
      return { ok: false, refusal: dataError(`Identification.${method}.UID`, 'is required and must be a string') }
    }
    // The one RFID rule (core/identifiers/rfid.ts); a card labelled with a contract ID still finds the contract.
    return { ok: true, method, presented: parsePresentedIdentifier(uid.trim(), 'rfid'), tokenUid: uid }
  }
  if (oicpField(identification, 'QRCodeIdentification') !== undefined) {
    return {
      ok: false,
      refusal: { code: OICP_STATUS.qrCodeFailed.code, description: 'QR code authentication is not offered by this provider' },
    }
  }
  return {
    ok: false,
    refusal: dataError('Identification', 'must carry PlugAndChargeIdentification, RemoteIdentification or RFIDMifareFamilyIdentification'),
  }
}

/**
 * An EvcoID as the core reads a contract: any spelling of an ISO EMAID, with `-`, `*` (DIN-style
 * separators some CPOs keep) or none. A DIN EvcoID (6-character instance) is no EMAID we issue: unrecognised.
 */
export function parseEvcoIdPresented(evcoId: string): PresentedIdentifier {
  return parsePresentedIdentifier(evcoId.trim().replaceAll('*', '-'), 'emaid')
}

function parseAuthorize(body: unknown, requireSession: boolean): ParsedAuthorize {
  if (!isJsonObject(body)) return { ok: false, refusal: dataError('body', 'must be a JSON object'), session: {} }
  const { session, error } = readSession(body)
  if (error) return { ok: false, refusal: error, session }
  if (requireSession && session.SessionID === undefined) return { ok: false, refusal: dataError('SessionID', 'is required'), session }
  const operatorId = oicpField(body, 'OperatorID')
  if (typeof operatorId !== 'string' || operatorId.trim() === '') {
    return { ok: false, refusal: dataError('OperatorID', 'is required and must be a string'), session }
  }
  const evseId = oicpField(body, 'EvseID')
  if (evseId !== undefined && typeof evseId !== 'string') return { ok: false, refusal: dataError('EvseID', 'must be a string'), session }
  const identification = readIdentification(oicpField(body, 'Identification'))
  if (!identification.ok) return { ok: false, refusal: identification.refusal, session }
  return { ...identification, operatorId, evseId: evseId ?? null, session }
}

/** An eRoamingAuthorizeStart body, read. */
export const parseAuthorizeStart = (body: unknown): ParsedAuthorize => parseAuthorize(body, false)

/** An eRoamingAuthorizeStop body, read: as a start, and the SessionID is required. */
export const parseAuthorizeStop = (body: unknown): ParsedAuthorize => parseAuthorize(body, true)

/** The answer to an eRoamingAuthorizeStart or Stop (schemas/eRoamingAuthorizationStart.yaml, ...Stop.yaml). */
export interface AuthorizationAnswer extends SessionEcho {
  ProviderID: string
  AuthorizationStatus: 'Authorized' | 'NotAuthorized'
  StatusCode: { Code: OicpStatusCode; Description?: string; AdditionalInfo?: string }
  AuthorizationStopIdentifications?: Array<Record<string, { UID: string } | { EvcoID: string }>>
}

/** What the authorizer decided: its answer is passed as is (a type-only tie, the adapter stays pure). */
export type OutcomeAllowed = AuthorizationOutcome['allowed']

/** Why the decision refuses, as the spec's closest status code. */
export function refusalFor(allowed: Exclude<OutcomeAllowed, 'ALLOWED'>, method: IdentificationMethod): Refusal {
  switch (allowed) {
    case 'UNKNOWN':
      return method === 'RFIDMifareFamilyIdentification' || method === 'RFIDIdentification'
        ? { code: OICP_STATUS.rfidInvalidUid.code, description: 'RFID UID unknown to this provider' }
        : { code: OICP_STATUS.plcInvalidEvcoId.code, description: 'EvcoID unknown to this provider' }
    case 'BLOCKED':
      return { code: OICP_STATUS.evcoIdLocked.code, description: OICP_STATUS.evcoIdLocked.description.replace(/\.$/, '') }
    case 'EXPIRED':
      return { code: OICP_STATUS.noValidContract.code, description: 'No valid contract: the contract has expired' }
    case 'NOT_ALLOWED':
      return { code: OICP_STATUS.noValidContract.code, description: 'No valid contract: the contract is not valid yet' }
    case 'NO_CREDIT':
      // The spec has no credit code. The identifier is known and not locked (so neither 10x nor
      // 200); what is missing is a contract that may charge now, which is 210's meaning.
      return { code: OICP_STATUS.noValidContract.code, description: 'No valid contract: no credit left' }
  }
}

/**
 * When the organization's authorization endpoint decided (README, "Partner-decided authorization"):
 *
 * | partner says / fallback     | AuthorizationStatus | StatusCode                          | why this code                                                        |
 * |-----------------------------|---------------------|-------------------------------------|----------------------------------------------------------------------|
 * | ALLOWED (or fallback allow) | Authorized          | 000 Success                         | the only positive code                                               |
 * | BLOCKED                     | NotAuthorized       | 200 EvcoID locked                   | the provider has locked the contract: 200's exact meaning            |
 * | EXPIRED                     | NotAuthorized       | 210 No valid contract               | the contract is known but no longer valid                            |
 * | NO_CREDIT                   | NotAuthorized       | 210 No valid contract               | OICP has no credit code; known, not locked, may not charge now       |
 * | NOT_ALLOWED                 | NotAuthorized       | 210 No valid contract               | known and not locked, but not for this charge (place, time, tariff)  |
 * | no answer, fallback deny    | NotAuthorized       | 106 No positive authentication resp.| we got no positive answer: says nothing false about the contract     |
 *
 * 102/105 (unknown identifier) never apply: our own decision found the key before the partner was asked.
 */
export function partnerRefusal(allowed: Exclude<Allowed, 'ALLOWED'>, partner: PartnerVerdict): Refusal {
  if (partner.outcome !== 'answered') {
    return {
      code: OICP_STATUS.noPositiveResponse.code,
      description: `No positive authentication response: the provider's authorization service ${partner.outcome === 'timeout' ? 'did not answer in time' : partner.outcome === 'breaker_open' ? 'is unavailable' : 'failed'}`,
    }
  }
  switch (allowed) {
    case 'BLOCKED':
      return { code: OICP_STATUS.evcoIdLocked.code, description: 'EvcoID locked by the provider' }
    case 'EXPIRED':
      return { code: OICP_STATUS.noValidContract.code, description: 'No valid contract: the provider says the contract has expired' }
    case 'NO_CREDIT':
      return { code: OICP_STATUS.noValidContract.code, description: 'No valid contract: the provider says there is no credit left' }
    case 'NOT_ALLOWED':
      return { code: OICP_STATUS.noValidContract.code, description: 'No valid contract: the provider does not allow this charge' }
  }
}

/**
 * The identification an authorized session may be stopped with: the one that started it, in the
 * spec's form (an upper-case UID, an EvcoID matching its pattern); none when it has no such form.
 */
function stopIdentification(request: Extract<ParsedAuthorize, { ok: true }>): Record<string, { UID: string } | { EvcoID: string }> | null {
  if (request.method === 'RFIDMifareFamilyIdentification' || request.method === 'RFIDIdentification') {
    const uid = presentedUid(request.presented)
    return uid === null ? null : { RFIDMifareFamilyIdentification: { UID: uid } }
  }
  const evcoId = request.tokenUid.trim()
  return isEvcoId(evcoId) ? { [request.method]: { EvcoID: evcoId } } : null
}

/**
 * The eRoamingAuthorizationStart answer to a request: Authorized (000) when the decision allows,
 * else NotAuthorized with the refusal's code. Always names our ProviderID (the spec requires it)
 * and echoes the request's session IDs.
 */
export function authorizationStartAnswer(
  request: ParsedAuthorize,
  allowed: OutcomeAllowed | null,
  providerId: string,
  /** the organization's authorization endpoint's part, when it was asked */
  partner?: PartnerVerdict,
): AuthorizationAnswer {
  if (!request.ok) return notAuthorized(request.session, request.refusal, providerId)
  if (allowed === 'ALLOWED') {
    const answer: AuthorizationAnswer = {
      ...request.session,
      ProviderID: providerId,
      AuthorizationStatus: 'Authorized',
      StatusCode: { Code: OICP_STATUS.success.code, Description: 'Success' },
    }
    const stop = stopIdentification(request)
    if (stop) answer.AuthorizationStopIdentifications = [stop]
    return answer
  }
  if (partner && allowed !== null && allowed !== 'UNKNOWN')
    return notAuthorized(request.session, partnerRefusal(allowed, partner), providerId)
  // No decision (an identifier the core cannot read) is an unknown identifier.
  return notAuthorized(request.session, refusalFor(allowed ?? 'UNKNOWN', request.method), providerId)
}

export function notAuthorized(session: SessionEcho, refusal: Refusal, providerId: string): AuthorizationAnswer {
  return {
    ...session,
    ProviderID: providerId,
    AuthorizationStatus: 'NotAuthorized',
    StatusCode: { Code: refusal.code, Description: refusal.description },
  }
}

/** What a sessions store keeps of a session we authorized, to answer its stop. */
export interface AuthorizedSession {
  sessionId: string
  presented: PresentedIdentifier
}

/** The same driver: the same contract, or the same card. */
export function sameIdentifier(a: PresentedIdentifier, b: PresentedIdentifier): boolean {
  const identity = presentedIdentity(a)
  if (identity !== null && identity === presentedIdentity(b)) return true
  const uid = presentedUid(a)
  return uid !== null && uid === presentedUid(b)
}

/**
 * The eRoamingAuthorizationStop answer: Authorized when the session is one we authorized and the
 * stop names the same identification that started it; otherwise 400 "Session is invalid".
 */
export function authorizationStopAnswer(
  request: ParsedAuthorize,
  session: AuthorizedSession | null,
  providerId: string,
): AuthorizationAnswer {
  if (!request.ok) return notAuthorized(request.session, request.refusal, providerId)
  if (session === null || session.sessionId !== request.session.SessionID || !sameIdentifier(session.presented, request.presented)) {
    return notAuthorized(request.session, { code: OICP_STATUS.sessionInvalid.code, description: 'Session is invalid' }, providerId)
  }
  return {
    ...request.session,
    ProviderID: providerId,
    AuthorizationStatus: 'Authorized',
    StatusCode: { Code: OICP_STATUS.success.code, Description: 'Success' },
  }
}
