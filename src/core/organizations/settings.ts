import { normalizeContractIdPrefix, parseEmaidPrefix } from '../identifiers/index.ts'
import { invalid } from '../errors.ts'

/** What decides how an organization's charging keys are accepted. Pure data, no I/O. */
export interface OrganizationPolicy {
  id: string
  name: string
  enabled: boolean
  plugAndChargeEnabled: boolean
  /** normalized: upper-case, no separators */
  contractIdPrefixes: string[]
  /** normalized country + provider, or null for the platform's */
  emaidPrefix: string | null
  duplicateContractIds: 'reject' | 'allow'
  checkDigit: 'lenient' | 'strict'
}

export interface OrganizationSettingsInput {
  name?: string
  enabled?: boolean
  plugAndCharge?: { enabled: boolean }
  contractIdPrefixes?: string[]
  emaidPrefix?: string | null
  duplicateContractIds?: 'reject' | 'allow'
  checkDigit?: 'lenient' | 'strict'
}

/** Validates and normalizes settings; throws an `invalid` error naming the field. */
export function normalizeSettings(input: OrganizationSettingsInput) {
  const contractIdPrefixes = input.contractIdPrefixes?.map((prefix, i) => {
    const normalized = normalizeContractIdPrefix(prefix)
    if (!normalized) {
      throw invalid(
        'invalid_contract_id_prefix',
        `contractIdPrefixes[${i}] must be the start of an EMAID: 2 letters then up to 12 letters or digits (separators allowed), got ${JSON.stringify(prefix)}`,
      )
    }
    return normalized
  })
  let emaidPrefix: string | null | undefined = undefined
  if (input.emaidPrefix === null) emaidPrefix = null
  else if (input.emaidPrefix !== undefined) {
    const parts = parseEmaidPrefix(input.emaidPrefix)
    if (!parts) {
      throw invalid(
        'invalid_emaid_prefix',
        `emaidPrefix must be a country code and provider ID such as "DE-8PS", got ${JSON.stringify(input.emaidPrefix)}`,
      )
    }
    emaidPrefix = parts.country + parts.provider
  }
  return {
    name: input.name,
    enabled: input.enabled,
    plugAndChargeEnabled: input.plugAndCharge?.enabled,
    contractIdPrefixes: contractIdPrefixes ? [...new Set(contractIdPrefixes)] : undefined,
    emaidPrefix,
    duplicateContractIds: input.duplicateContractIds,
    checkDigit: input.checkDigit,
  }
}

/** `DE8PS` -> `DE-8PS`, `DE8PSC12` -> `DE-8PS-C12`: prefixes are shown the way EMAIDs are printed. */
export function formatContractIdPrefix(normalized: string): string {
  return [normalized.slice(0, 2), normalized.slice(2, 5), normalized.slice(5)].filter(Boolean).join('-')
}
