import { emaidIdentity } from '../identifiers/emaid.ts'
import { normalizeRfidUid } from '../identifiers/rfid.ts'

/**
 * What a station presented, as the authorization understands it. Each protocol adapter parses
 * its own wire form into this (protocols/ocpi/tokens.ts for OCPI); the core knows no protocol.
 */
export type PresentedIdentifier =
  /** a contract: an EMAID in any spelling, by its 14-character identity */
  | { readonly kind: 'emaid'; readonly identity: string }
  /** a card, by its upper-case UID */
  | { readonly kind: 'rfid'; readonly uid: string }
  /**
   * Text that reads as a card UID and as an EMAID, from a station that did not say which it is:
   * the card's own key wins, and without one the contract is found.
   */
  | { readonly kind: 'rfid-or-emaid'; readonly uid: string; readonly identity: string }
  /** neither: no key can carry it, the token is unknown */
  | { readonly kind: 'unrecognised' }

/**
 * What the station says it presented:
 * - 'emaid': a contract ID (Plug&Charge, app users): only an EMAID is looked for.
 * - 'rfid': a card; text that cannot be a UID is still looked for as an EMAID (a car's contract
 *   ID labelled as a card).
 * - 'rfid-or-emaid': a card is presumed but not said; a UID that also reads as an EMAID names both.
 */
export type ClaimedKind = 'emaid' | 'rfid' | 'rfid-or-emaid'

const UNRECOGNISED: PresentedIdentifier = Object.freeze({ kind: 'unrecognised' })

/** Pure, and cheap: the authorization hot path calls it once per request. */
export function parsePresentedIdentifier(text: string, claimed: ClaimedKind): PresentedIdentifier {
  const uid = claimed === 'emaid' ? null : normalizeRfidUid(text)
  if (uid === null) {
    const identity = emaidIdentity(text)
    return identity === null ? UNRECOGNISED : { kind: 'emaid', identity }
  }
  if (claimed === 'rfid') return { kind: 'rfid', uid }
  const identity = emaidIdentity(uid)
  return identity === null ? { kind: 'rfid', uid } : { kind: 'rfid-or-emaid', uid, identity }
}

/** The EMAID identity the identifier names, if any. */
export function presentedIdentity(presented: PresentedIdentifier): string | null {
  return presented.kind === 'emaid' || presented.kind === 'rfid-or-emaid' ? presented.identity : null
}

/** The card UID the identifier names, if any. */
export function presentedUid(presented: PresentedIdentifier): string | null {
  return presented.kind === 'rfid' || presented.kind === 'rfid-or-emaid' ? presented.uid : null
}

interface NamedKey {
  key: { emaidIdentity: string; keyIdentifier: string | null }
}

/**
 * Of the keys found for the identifier, those it names: a card's own key wins over a contract
 * that merely reads the same; otherwise every key of the contract.
 */
export function keysNamedBy<K extends NamedKey>(presented: PresentedIdentifier, found: readonly K[]): readonly K[] {
  const identity = presentedIdentity(presented)
  const uid = presentedUid(presented)
  if (uid !== null) {
    const cards = found.filter((k) => k.key.keyIdentifier === uid)
    if (cards.length > 0 || identity === null) return cards
  }
  return identity === null ? [] : found.filter((k) => k.key.emaidIdentity === identity)
}
