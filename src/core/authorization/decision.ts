/**
 * The decision "may this contract charge now?", the moment where the money is decided.
 * Pure: the caller supplies every key that carries the presented identifier and the time.
 */
export type Allowed = 'ALLOWED' | 'BLOCKED' | 'EXPIRED' | 'NO_CREDIT' | 'NOT_ALLOWED'

export interface KeyStanding {
  enabled: boolean
  deletedAt: Date | null
  userDeletedAt: Date | null
  organizationEnabled: boolean
  validFrom: Date
  validTo: Date | null
}

/** Why a key cannot charge, or null when it can. */
export function refusal(key: KeyStanding, now: Date): Exclude<Allowed, 'ALLOWED'> | null {
  if (key.deletedAt || key.userDeletedAt || !key.enabled || !key.organizationEnabled) return 'BLOCKED'
  if (key.validTo && key.validTo <= now) return 'EXPIRED'
  if (key.validFrom > now) return 'NOT_ALLOWED'
  return null
}

export const isValid = (key: KeyStanding, now: Date) => refusal(key, now) === null

/** What one key may do now: ALLOWED, or why not. A token view's "valid" is this being ALLOWED. */
export function standing(key: KeyStanding, now: Date): Allowed {
  return refusal(key, now) ?? 'ALLOWED'
}

// When no key may charge, the answer names the most telling reason.
const REFUSAL_ORDER: ReadonlyArray<Exclude<Allowed, 'ALLOWED'>> = ['EXPIRED', 'NOT_ALLOWED', 'BLOCKED', 'NO_CREDIT']

/**
 * ALLOWED with the first key that may charge; otherwise the most telling refusal with its key.
 * Null when no key carries the identifier (the token is unknown).
 */
export function decide<K extends KeyStanding>(keys: readonly K[], now: Date): { allowed: Allowed; key: K } | null {
  if (keys.length === 0) return null
  let best: { allowed: Exclude<Allowed, 'ALLOWED'>; key: K } | null = null
  for (const key of keys) {
    const reason = refusal(key, now)
    if (reason === null) return { allowed: 'ALLOWED', key }
    if (!best || REFUSAL_ORDER.indexOf(reason) < REFUSAL_ORDER.indexOf(best.allowed)) best = { allowed: reason, key }
  }
  return best
}
