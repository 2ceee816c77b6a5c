import type { Allowed } from './decision.ts'

/**
 * Partner-decided authorization, the pure part: what we send an organization's authorization
 * endpoint, how its answer is read, and what the driver gets when there is no usable answer.
 */

export const ALLOWED_VALUES: readonly Allowed[] = ['ALLOWED', 'BLOCKED', 'EXPIRED', 'NO_CREDIT', 'NOT_ALLOWED']

/** What an organization chose for a partner that does not answer in time, fails, or is cut off by its breaker. */
export type OnTimeout = 'allow' | 'deny'

/** How the call ended; `breaker_open` means we did not call at all. */
export type PartnerOutcome = 'answered' | 'timeout' | 'error' | 'breaker_open'

/** The partner's part of a decision, for the answer and the record. */
export interface PartnerVerdict {
  outcome: PartnerOutcome
  /** what the partner said, when it answered */
  partnerAllowed: Allowed | null
  /** what the station gets: the partner's answer, else the fallback of `onTimeout` */
  allowed: Allowed
  /** null when we did not call (breaker open) */
  latencyMs: number | null
  /** a short reason for a timeout or an error; never the partner's body */
  error: string | null
}

/**
 * The fallback answer: `deny` is NOT_ALLOWED (the token is fine as far as we know, but may not
 * charge now), never BLOCKED or EXPIRED, which would state something about the contract we do not know.
 */
export const fallbackAllowed = (onTimeout: OnTimeout): Allowed => (onTimeout === 'allow' ? 'ALLOWED' : 'NOT_ALLOWED')

/** The request body sent to the partner (README, "Partner-decided authorization"). */
export interface PartnerAuthorizationRequest {
  type: 'authorization.requested'
  /** also the `webhook-id` header: the reference the CPO gets and our decision record is kept under */
  authorizationReference: string
  protocol: 'ocpi' | 'oicp'
  /** the key our own decision allowed, named as the Drive API names it */
  key: { keyId: string; type: string; contractId: string }
  /** the contract's EMAID, compact with its check character; null when the contract ID is no EMAID */
  emaid: string | null
  /** what the station presented, as it sent it */
  identifier: { value: string; type: string | null }
  /** where, as the protocol gave it: OCPI LocationReferences (location_id, evse_uids), OICP EvseID */
  location: { locationId: string | null; evseIds: string[] }
  /** who asks: the OCPI CPO (its party, as its routing headers name it, and our name for it) or the OICP OperatorID */
  operator: { id: string | null; name: string | null }
  requestedAt: string
}

export type PartnerAnswer = { ok: true; allowed: Allowed } | { ok: false; reason: string }

/**
 * The partner's answer: a 2xx whose body is a JSON object with `allowed` one of the five values.
 * Anything else (another status, no JSON, another value) is an error, and the fallback applies.
 */
export function readPartnerAnswer(statusCode: number, body: string): PartnerAnswer {
  if (statusCode < 200 || statusCode > 299) return { ok: false, reason: `HTTP ${statusCode}` }
  let parsed: unknown
  try {
    parsed = JSON.parse(body)
  } catch {
    return { ok: false, reason: 'answer is not JSON' }
  }
  const allowed = parsed !== null && typeof parsed === 'object' ? (parsed as { allowed?: unknown }).allowed : undefined
  if (typeof allowed === 'string' && (ALLOWED_VALUES as readonly string[]).includes(allowed))
    return { ok: true, allowed: allowed as Allowed }
  return { ok: false, reason: `answer.allowed must be one of ${ALLOWED_VALUES.join(', ')}` }
}
