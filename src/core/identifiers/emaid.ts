import { randomInt } from 'node:crypto'
import { emaidCheckCharacter } from './check-digit.ts'

/**
 * An EMAID (eMobility Account Identifier, ISO 15118-2 / eMI3 contract ID):
 * country (2 letters) + provider ID (3 alphanumerics) + instance (9 alphanumerics) + optional check
 * character, each part optionally separated by '-'. `DE-8PS-C0AD21B13-P`, `DE8PSC0AD21B13P` and
 * `de8psc0ad21b13` name the same contract.
 */
export interface Emaid {
  country: string
  provider: string
  instance: string
  /** The check character as written, upper-case; null when the EMAID was written without one. */
  checkCharacter: string | null
  /** The 14 characters that identify the contract: upper-case, no separators, no check character. */
  identity: string
}

/** Accepts every spelling of an EMAID; shared with the request schemas so both say the same. */
export const EMAID_PATTERN = /^([A-Za-z]{2})-?([A-Za-z0-9]{3})-?([A-Za-z0-9]{9})(?:-?([A-Za-z0-9]))?$/

export function parseEmaid(input: string): Emaid | null {
  const match = EMAID_PATTERN.exec(input)
  if (!match) return null
  const country = match[1]!.toUpperCase()
  const provider = match[2]!.toUpperCase()
  const instance = match[3]!.toUpperCase()
  const check = match[4]
  return { country, provider, instance, checkCharacter: check ? check.toUpperCase() : null, identity: country + provider + instance }
}

/**
 * The identity of whatever the caller wrote: the EMAID's 14 characters, or null when it is not an
 * EMAID. Lookups use it so that any spelling finds the contract.
 */
export function emaidIdentity(input: string): string | null {
  // The form cars send (compact, upper-case) needs no parse: the authorization hot path sees it most.
  if (COMPACT_UPPER.test(input)) return input.length === 14 ? input : input.slice(0, 14)
  return parseEmaid(input)?.identity ?? null
}

const COMPACT_UPPER = /^[A-Z]{2}[A-Z0-9]{12,13}$/

export function expectedCheckCharacter(emaid: Emaid): string {
  return emaidCheckCharacter(emaid.identity)
}

/** True when the EMAID carries no check character or the right one. */
export function checkCharacterMatches(emaid: Emaid): boolean {
  return emaid.checkCharacter === null || emaid.checkCharacter === expectedCheckCharacter(emaid)
}

/** `DE-8PS-C0AD21B13-P`: the printed form, always with separators and the correct check character. */
export function formatEmaid(emaid: Pick<Emaid, 'country' | 'provider' | 'instance' | 'identity'>): string {
  return `${emaid.country}-${emaid.provider}-${emaid.instance}-${emaidCheckCharacter(emaid.identity)}`
}

/** `DE8PSC0AD21B13P`: the compact form a vehicle transmits, with the check character as registered. */
export function compactEmaid(emaid: Emaid): string {
  return emaid.identity + (emaid.checkCharacter ?? expectedCheckCharacter(emaid))
}

/** Normalized contract-ID prefix (`DE-8PS` -> `DE8PS`), or null when it cannot start an EMAID. */
export function normalizeContractIdPrefix(prefix: string): string | null {
  const normalized = prefix.replaceAll('-', '').toUpperCase()
  return /^[A-Z]{2}[A-Z0-9]{0,12}$/.test(normalized) ? normalized : null
}

/** Prefixes are compared without separators and in any case. */
export function contractIdPrefixAllowed(emaid: Emaid, normalizedPrefixes: readonly string[]): boolean {
  return normalizedPrefixes.some((prefix) => emaid.identity.startsWith(prefix))
}

/** Country + provider for generated EMAIDs (`DE-8PS` or `DE8PS`), normalized to `{country, provider}`. */
export function parseEmaidPrefix(prefix: string): { country: string; provider: string } | null {
  const match = /^([A-Za-z]{2})-?([A-Za-z0-9]{3})$/.exec(prefix)
  return match ? { country: match[1]!.toUpperCase(), provider: match[2]!.toUpperCase() } : null
}

const INSTANCE_ALPHABET = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'

/**
 * A new random EMAID under the given prefix: eMI3 instance `C` + 8 alphanumerics (36^8, about
 * 2.8 * 10^12 per prefix) from the CSPRNG, so neighbours cannot be guessed from one another.
 * Uniqueness is the database's job (an exclusion constraint, retried on conflict), not this function's.
 */
export function generateEmaid(prefix: { country: string; provider: string }): Emaid {
  let instance = 'C'
  for (let i = 0; i < 8; i++) instance += INSTANCE_ALPHABET[randomInt(INSTANCE_ALPHABET.length)]
  const identity = prefix.country + prefix.provider + instance
  return { ...prefix, instance, identity, checkCharacter: emaidCheckCharacter(identity) }
}
