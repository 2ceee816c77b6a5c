import { contractIdPrefixAllowed, expectedCheckCharacter, parseEmaid, type Emaid } from '../identifiers/index.ts'
import { invalid } from '../errors.ts'
import { formatContractIdPrefix, type OrganizationPolicy } from '../organizations/settings.ts'

export interface AcceptedContractId {
  emaid: Emaid
  /** The form we store and answer with: upper-case, separators and check character as given. */
  contractId: string
  /** Set when the check character is wrong and the organization is lenient (the caller logs it). */
  checkCharacterMismatch: { given: string; expected: string } | null
}

/**
 * Whether an organization may register this contract ID, by the rules of the Drive API: a valid
 * EMAID, under one of the organization's prefixes, with a check character that is right or (when the
 * organization is lenient) at least well-formed. Throws an `invalid` error naming the field.
 */
export function acceptContractId(policy: OrganizationPolicy, input: string, field = 'contractId'): AcceptedContractId {
  const emaid = parseEmaid(input)
  if (!emaid) {
    throw invalid(
      'invalid_contract_id',
      `${field} must be an EMAID: country (2 letters), provider ID (3 letters or digits), instance (9 letters or digits) and an optional check character, optionally separated by "-" (e.g. DE-8PS-C0AD21B13-P); got ${JSON.stringify(input)}`,
    )
  }
  if (!contractIdPrefixAllowed(emaid, policy.contractIdPrefixes)) {
    const allowed = policy.contractIdPrefixes.map(formatContractIdPrefix).join(', ') || 'none configured'
    throw invalid(
      'contract_id_prefix_not_allowed',
      `${field} ${JSON.stringify(input)} does not start with a prefix of this organization (allowed: ${allowed})`,
    )
  }
  let checkCharacterMismatch: AcceptedContractId['checkCharacterMismatch'] = null
  if (emaid.checkCharacter !== null) {
    const expected = expectedCheckCharacter(emaid)
    if (emaid.checkCharacter !== expected) {
      if (policy.checkDigit === 'strict') {
        throw invalid(
          'check_digit_mismatch',
          `${field} ${JSON.stringify(input)} has check character "${emaid.checkCharacter}", expected "${expected}" (eMI3 / ISO 15118-1)`,
          { expected },
        )
      }
      checkCharacterMismatch = { given: emaid.checkCharacter, expected }
    }
  }
  return { emaid, contractId: input.toUpperCase(), checkCharacterMismatch }
}
