import { KeyObject, X509Certificate, type webcrypto } from 'node:crypto'
import { FieldRuleError } from '../errors.ts'

/**
 * The values OCSP answers and CRLs share: serial numbers, times, the signing key.
 *
 * Serial numbers are written as lower-case hex of the positive integer's bytes, without the 00
 * sign byte DER puts before a first byte of 80 or more: the form @peculiar/x509's
 * X509Certificate.serialNumber gives, so a serial from an OCSP request, a certificate or the
 * database compares as a string.
 */

const HEX = /^(?:[0-9a-f]{2})+$/

/** The canonical form of a serial given in hex with or without sign bytes, in either case. */
export function canonicalSerialHex(hex: string, field = 'serialNumber'): string {
  const lower = hex.toLowerCase()
  const even = lower.length % 2 === 1 ? `0${lower}` : lower
  if (!HEX.test(even)) throw new FieldRuleError(field, 'must be a hexadecimal serial number')
  const stripped = even.replace(/^(?:00)+/, '')
  return stripped === '' ? '00' : stripped
}

/** The canonical hex of a DER INTEGER's content bytes; a negative one (no conforming CA issues it) keeps its sign as a leading '-'. */
export function serialHexOfInteger(content: Uint8Array): string {
  if (content.length > 0 && content[0]! >= 0x80) {
    let magnitude = 0n
    for (const byte of content) magnitude = (magnitude << 8n) | BigInt(byte)
    magnitude = (1n << BigInt(content.length * 8)) - magnitude
    const hex = magnitude.toString(16)
    return `-${hex.length % 2 === 1 ? `0${hex}` : hex}`
  }
  return canonicalSerialHex(Buffer.from(content.buffer, content.byteOffset, content.byteLength).toString('hex'))
}

/** The content bytes of the DER INTEGER for a serial: minimal, with the sign byte back when the first byte needs it. */
export function integerContentOfSerial(hex: string, field = 'serialNumber'): Buffer {
  const bytes = Buffer.from(canonicalSerialHex(hex, field), 'hex')
  return bytes[0]! >= 0x80 ? Buffer.concat([Buffer.of(0), bytes]) : bytes
}

/** A time in whole seconds: asn1js would write GeneralizedTime milliseconds, which RFC 5280 forbids and OCSP clients need not read. */
export function wholeSeconds(date: Date, field: string): Date {
  const time = date instanceof Date ? date.getTime() : NaN
  if (!Number.isFinite(time)) throw new FieldRuleError(field, 'must be a valid date')
  return new Date(Math.floor(time / 1000) * 1000)
}

/**
 * The node:crypto key of a WebCrypto ECDSA P-256 private key, refused unless it is the key of
 * `certificateDer`: everything it signed would otherwise fail at the relying party.
 */
export function signingKeyOf(privateKey: webcrypto.CryptoKey, certificateDer: Uint8Array, field: string): KeyObject {
  const algorithm = privateKey.algorithm as webcrypto.EcKeyAlgorithm
  if (privateKey.type !== 'private' || algorithm.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') {
    throw new FieldRuleError(field, 'must be an ECDSA P-256 private key')
  }
  const key = KeyObject.from(privateKey)
  if (!new X509Certificate(certificateDer).checkPrivateKey(key))
    throw new FieldRuleError(field, 'is not the private key of the certificate')
  return key
}
