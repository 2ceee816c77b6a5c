/** PCID: the ID of a vehicle's provisioning certificate, 17-18 alphanumerics (often the VIN plus one). */
export const PCID_PATTERN = /^[A-Za-z0-9]{17,18}$/

/** The stored form (upper-case), or null when the input is not a PCID. */
export function normalizePcid(input: string): string | null {
  return PCID_PATTERN.test(input) ? input.toUpperCase() : null
}
