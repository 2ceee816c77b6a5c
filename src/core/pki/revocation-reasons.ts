/**
 * Why a certificate was revoked: the CRLReason of RFC 5280 section 5.3.1, named as the API names
 * them. The same codes travel in a CRL entry's reasonCode and in an OCSP RevokedInfo.
 */

export const REVOCATION_REASONS = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
] as const

export type RevocationReason = (typeof REVOCATION_REASONS)[number]

/** The ENUMERATED value of each reason; 7 is unused in RFC 5280, so the codes are not the list's indexes. */
export const REVOCATION_REASON_CODES: Readonly<Record<RevocationReason, number>> = Object.freeze({
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
})

export function revocationReasonCode(reason: RevocationReason): number {
  return REVOCATION_REASON_CODES[reason]
}

export function isRevocationReason(x: unknown): x is RevocationReason {
  return typeof x === 'string' && Object.hasOwn(REVOCATION_REASON_CODES, x)
}
