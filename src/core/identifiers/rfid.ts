/**
 * An RFID card UID as ISO/IEC 14443 numbers cards: 4, 7 or 10 bytes, written in hexadecimal
 * (8, 14 or 20 characters, in any case). The one rule for the Drive API's request schema, key
 * creation, key paths and authorization.
 */
export const RFID_UID_PATTERN = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}|[0-9A-Fa-f]{20})$/

export const RFID_UID_RULE = 'an RFID UID of 8, 14 or 20 hexadecimal characters'

export function isRfidUid(input: string): boolean {
  return RFID_UID_PATTERN.test(input)
}

/** The stored form (upper-case), or null when the input is not an RFID UID. */
export function normalizeRfidUid(input: string): string | null {
  return RFID_UID_PATTERN.test(input) ? input.toUpperCase() : null
}
