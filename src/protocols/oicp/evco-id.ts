import { formatEmaid, parseEmaid, type Emaid } from '../../core/identifiers/emaid.ts'

/**
 * Hubject's EvcoID rule, verbatim from the spec (schemas/EvcoID.yaml): an ISO 15118-1 contract ID
 * (instance `C` + 8 characters, optional `-` separators, a check character) or a DIN SPEC 91286 one
 * (6-character instance, `*` or `-` separators). Kept as written, `[\d|A-Za-z]` included, so what
 * we emit is checked against exactly what Hubject checks.
 */
export const EVCO_ID_PATTERN =
  /^(([A-Za-z]{2}\-?[A-Za-z0-9]{3}\-?C[A-Za-z0-9]{8}\-?[\d|A-Za-z])|([A-Za-z]{2}[\*|\-]?[A-Za-z0-9]{3}[\*|\-]?[A-Za-z0-9]{6}[\*|\-]?[\d|X]))$/

export const isEvcoId = (text: string): boolean => EVCO_ID_PATTERN.test(text)

/**
 * Our EMAID as the EvcoID we send Hubject: the ISO printed form `DE-8PS-C0AD21B13-P` (15
 * characters with the computed check character, `-` separators). An EMAID whose instance does not
 * start with `C` has no ISO EvcoID: a RangeError says so rather than emitting what Hubject rejects.
 */
export function formatEvcoId(emaid: string | Pick<Emaid, 'country' | 'provider' | 'instance' | 'identity'>): string {
  const parsed = typeof emaid === 'string' ? parseEmaid(emaid) : emaid
  if (parsed === null) throw new RangeError(`not an EMAID: ${JSON.stringify(emaid)}`)
  if (!parsed.instance.startsWith('C')) {
    throw new RangeError(`EMAID ${parsed.identity} has no OICP EvcoID: an ISO EvcoID's instance starts with "C"`)
  }
  const evcoId = formatEmaid(parsed)
  // Defensive: the format above is the pattern's ISO branch by construction.
  if (!EVCO_ID_PATTERN.test(evcoId)) throw new RangeError(`EvcoID ${evcoId} does not match Hubject's EvcoID pattern`)
  return evcoId
}

/** The EvcoID for an EMAID, or null when it has none (see formatEvcoId). */
export function evcoIdOf(emaid: string | Pick<Emaid, 'country' | 'provider' | 'instance' | 'identity'>): string | null {
  try {
    return formatEvcoId(emaid)
  } catch {
    return null
  }
}
