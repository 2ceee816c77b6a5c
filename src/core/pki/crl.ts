import type { webcrypto } from 'node:crypto'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'
import { FieldRuleError } from '../errors.ts'
import { type RevocationReason, revocationReasonCode } from './revocation-reasons.ts'
import { canonicalSerialHex, integerContentOfSerial, signingKeyOf, wholeSeconds } from './values.ts'

/**
 * A full (not delta) v2 CRL of the Mobility Operator CA (RFC 5280 section 5), signed
 * ecdsa-with-SHA256. Built with pkijs: @peculiar/x509's X509CrlGenerator writes an empty
 * crlEntryExtensions SEQUENCE for an entry without a reason, which RFC 5280 forbids (SIZE 1..MAX)
 * and strict readers, pkijs among them, refuse.
 */

const OID = { crlNumber: '2.5.29.20', authorityKeyIdentifier: '2.5.29.35', subjectKeyIdentifier: '2.5.29.14', reasonCode: '2.5.29.21' }
/** RFC 5280 5.2.3: a CRLNumber fits in 20 octets. */
const MAX_CRL_NUMBER = (1n << 159n) - 1n
/** RFC 5280 5.1.2.4: UTCTime through 2049, GeneralizedTime from 2050. */
const GENERALIZED_TIME_FROM = Date.UTC(2050, 0, 1)

export interface CrlEntry {
  /** Hex, with or without the sign byte, in either case. */
  serialNumber: string
  revokedAt: Date
  reason?: RevocationReason
}

export interface CrlInput {
  issuer: { certificateDer: Uint8Array; privateKey: webcrypto.CryptoKey }
  crlNumber: bigint
  thisUpdate: Date
  nextUpdate: Date
  entries: CrlEntry[]
}

function timeOf(date: Date, field: string): pkijs.Time {
  const value = wholeSeconds(date, field)
  return new pkijs.Time({ type: value.getTime() < GENERALIZED_TIME_FROM ? pkijs.TimeType.UTCTime : pkijs.TimeType.GeneralizedTime, value })
}

const extension = (extnID: string, value: { toBER(): ArrayBuffer }) =>
  new pkijs.Extension({ extnID, critical: false, extnValue: value.toBER() })

function revokedCertificateOf(entry: CrlEntry, i: number, seen: Set<string>): pkijs.RevokedCertificate {
  const field = `entries[${i}]`
  const serial = canonicalSerialHex(entry.serialNumber, `${field}.serialNumber`)
  if (seen.has(serial)) throw new FieldRuleError(`${field}.serialNumber`, `${serial} is listed twice`)
  seen.add(serial)
  if (entry.reason === 'removeFromCRL') throw new FieldRuleError(`${field}.reason`, 'removeFromCRL belongs in delta CRLs only')
  const revoked = new pkijs.RevokedCertificate({
    userCertificate: new asn1js.Integer({ valueHex: integerContentOfSerial(serial) }),
    revocationDate: timeOf(entry.revokedAt, `${field}.revokedAt`),
  })
  // RFC 5280 5.3.1: the reasonCode should be absent rather than unspecified.
  if (entry.reason !== undefined && entry.reason !== 'unspecified') {
    revoked.crlEntryExtensions = new pkijs.Extensions({
      extensions: [extension(OID.reasonCode, new asn1js.Enumerated({ value: revocationReasonCode(entry.reason) }))],
    })
  }
  return revoked
}

/**
 * The DER CRL: CRLNumber and AuthorityKeyIdentifier (the issuer's subjectKeyIdentifier), one entry
 * per revoked serial with its reasonCode, the issuer Name byte for byte as its certificate has it.
 */
export async function buildCrl(input: CrlInput): Promise<Buffer> {
  const { certificateDer, privateKey } = input.issuer
  let issuer: pkijs.Certificate
  try {
    issuer = pkijs.Certificate.fromBER(certificateDer)
  } catch (error) {
    throw new FieldRuleError('issuer.certificateDer', `is not a DER X.509 certificate: ${(error as Error).message}`)
  }
  signingKeyOf(privateKey, certificateDer, 'issuer.privateKey')
  const ski = issuer.extensions?.find((item) => item.extnID === OID.subjectKeyIdentifier)?.parsedValue
  if (!(ski instanceof asn1js.OctetString))
    throw new FieldRuleError('issuer.certificateDer', 'has no subjectKeyIdentifier to name the CRL signer by')
  if (typeof input.crlNumber !== 'bigint' || input.crlNumber < 0n || input.crlNumber > MAX_CRL_NUMBER) {
    throw new FieldRuleError('crlNumber', 'must be a non-negative integer of at most 20 octets')
  }
  const thisUpdate = timeOf(input.thisUpdate, 'thisUpdate')
  const nextUpdate = timeOf(input.nextUpdate, 'nextUpdate')
  if (nextUpdate.value <= thisUpdate.value) throw new FieldRuleError('nextUpdate', 'must be after thisUpdate')
  const seen = new Set<string>()
  const revokedCertificates = input.entries.map((entry, i) => revokedCertificateOf(entry, i, seen))

  const crl = new pkijs.CertificateRevocationList({
    version: 1, // v2
    issuer: issuer.subject,
    thisUpdate,
    nextUpdate,
    // RFC 5280 5.1.2.6: no revoked certificates, no list.
    ...(revokedCertificates.length > 0 ? { revokedCertificates } : {}),
    crlExtensions: new pkijs.Extensions({
      extensions: [
        extension(OID.crlNumber, asn1js.Integer.fromBigInt(input.crlNumber)),
        extension(
          OID.authorityKeyIdentifier,
          new pkijs.AuthorityKeyIdentifier({ keyIdentifier: new asn1js.OctetString({ valueHex: ski.valueBlock.valueHexView }) }).toSchema(),
        ),
      ],
    }),
  })
  await crl.sign(privateKey, 'SHA-256')
  return Buffer.from(crl.toSchema().toBER())
}
