import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import * as asn1js from 'asn1js'
import { FieldRuleError } from '../errors.ts'

/**
 * Certificates and keys as operators paste them: base64 DER (what ISO 15118 and OCPP messages
 * carry), PEM (what OpenSSL writes, often several certificates in one file) or the DER bytes of an
 * uploaded file. Each is read into DER, or refused with the field and what is wrong with it.
 */

export class PkiEncodingError extends FieldRuleError {}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----([\s\S]*?)-----END ([A-Z0-9 ]+)-----/g
// Standard or URL-safe alphabet, padding optional: pasted values come in both forms.
const BASE64 = /^[A-Za-z0-9+/\-_]+={0,2}$/
const SEQUENCE_TAG = 0x30

/** DER of one X.509 certificate or several, in the order given; never an empty list. */
export function decodeCertificates(input: string | Buffer, field: string): Buffer[] {
  const text = asText(input)
  if (text === null) return splitDer(input as Buffer, field, { binary: true })
  if (text.trim() === '') throw new PkiEncodingError(field, 'is empty')
  if (text.includes('-----BEGIN')) return fromPem(text, field)
  return splitDer(fromBase64(text, field, 'is not base64 (nor PEM or DER)'), field, { binary: false })
}

/** An EC P-256 private key from PEM ('PRIVATE KEY' PKCS#8 or 'EC PRIVATE KEY' SEC1), base64 DER or DER bytes. */
export function readPrivateKey(pemOrDer: string | Buffer, field: string): KeyObject {
  const text = asText(pemOrDer)
  let key: KeyObject
  if (text === null) key = keyFromDer(pemOrDer as Buffer, field)
  else if (text.trim() === '') throw new PkiEncodingError(field, 'is empty')
  else if (text.includes('-----BEGIN')) key = keyFromPem(text, field)
  else key = keyFromDer(fromBase64(text, field, 'is not base64 (nor PEM or DER)'), field)
  return checkP256(key, field)
}

/** PEM text of DER bytes: 64 base64 characters a line, as RFC 7468 writes it. */
export function toPem(der: Buffer, label = 'CERTIFICATE'): string {
  const lines = der.toString('base64').match(/.{1,64}/g) ?? []
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`
}

/** The text of the input, or null for binary DER (a DER certificate or key starts with a SEQUENCE). */
function asText(input: string | Buffer): string | null {
  if (typeof input === 'string') return input
  if (input.length > 0 && input[0] === SEQUENCE_TAG) return null
  return input.toString('latin1')
}

function fromBase64(text: string, field: string, rule: string): Buffer {
  const compact = text.replace(/\s+/g, '')
  // A length of 4n+1 cannot come from any byte string: Buffer.from would drop the last character.
  if (!BASE64.test(compact) || compact.length % 4 === 1) throw new PkiEncodingError(field, rule)
  return Buffer.from(compact.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
}

interface PemBlock {
  label: string
  der: Buffer
}

function pemBlocks(text: string, field: string): PemBlock[] {
  const blocks: PemBlock[] = []
  for (const match of text.matchAll(PEM_BLOCK)) {
    const [, label, body, endLabel] = match as unknown as [string, string, string, string]
    if (label !== endLabel) throw new PkiEncodingError(field, `has a PEM block that begins as ${label} and ends as ${endLabel}`)
    // Encrypted legacy PEM carries headers (Proc-Type, DEK-Info) before the base64.
    if (/^\s*[A-Za-z-]+:/m.test(body)) throw new PkiEncodingError(field, `has a PEM ${label} block with headers (an encrypted key?)`)
    blocks.push({ label, der: fromBase64(body, field, `has a PEM ${label} block that is not base64`) })
  }
  const begins = text.match(/-----BEGIN /g)?.length ?? 0
  if (begins !== blocks.length) throw new PkiEncodingError(field, 'has a PEM BEGIN line without its END line')
  return blocks
}

function fromPem(text: string, field: string): Buffer[] {
  const blocks = pemBlocks(text, field)
  // Anything but a certificate (a private key pasted by mistake above all) is refused, not skipped.
  const other = blocks.find((block) => block.label !== 'CERTIFICATE')
  if (other) throw new PkiEncodingError(field, `holds a PEM ${other.label} block, not a CERTIFICATE`)
  if (blocks.length === 0) throw new PkiEncodingError(field, 'holds no PEM CERTIFICATE block')
  return blocks.map((block, index) => {
    const ders = splitDer(block.der, field, { what: blocks.length === 1 ? 'the PEM certificate' : `PEM certificate ${index + 1}` })
    if (ders.length !== 1) throw new PkiEncodingError(field, `PEM certificate ${index + 1} holds ${ders.length} certificates, not one`)
    return ders[0]!
  })
}

/**
 * DER certificates laid end to end (a single one is the usual case). Each must be a whole
 * X.509 certificate: OpenSSL's parser is the judge, as it is the one that verifies them later.
 * It also tells where each ends: it reads one certificate and ignores what follows, and its
 * encoding of what it read must be the bytes given (DER, not some other BER form).
 */
function splitDer(bytes: Buffer, field: string, { what, binary = false }: { what?: string; binary?: boolean }): Buffer[] {
  if (bytes.length === 0) throw new PkiEncodingError(field, what ? `${what} is empty` : 'is empty')
  const certificates: Buffer[] = []
  let offset = 0
  while (offset < bytes.length) {
    // Name the culprit when it is not the whole input: a PEM block, or the bytes after a certificate.
    const subject = what ? `${what} is` : certificates.length === 0 ? 'is' : `the bytes after certificate ${certificates.length} are`
    const rest = bytes.subarray(offset)
    if (rest[0] !== SEQUENCE_TAG)
      throw new PkiEncodingError(
        field,
        binary ? `${subject} not DER (nor base64 or PEM)` : what ? `${subject} not DER` : `${subject} base64 but not DER`,
      )
    let der: Buffer
    try {
      der = nativeCertificate(rest).raw
    } catch {
      throw new PkiEncodingError(field, `${subject} not an X.509 certificate`)
    }
    if (!rest.subarray(0, der.length).equals(der)) throw new PkiEncodingError(field, `${subject} not a DER-encoded X.509 certificate`)
    certificates.push(Buffer.from(der))
    offset += der.length
  }
  return certificates
}

const NATIVE_CACHE_SIZE = 512
const natives = new Map<string, X509Certificate>()

/**
 * node's (OpenSSL's) reading of the certificate at the start of `bytes`, remembered for the last
 * few hundred inputs: the Sub-CAs every car of an OEM sends along are read once, not per request.
 * Throws when `bytes` does not start with a certificate.
 */
export function nativeCertificate(bytes: Buffer): X509Certificate {
  const key = bytes.toString('base64')
  let parsed = natives.get(key)
  if (parsed) return parsed
  parsed = new X509Certificate(bytes)
  if (natives.size >= NATIVE_CACHE_SIZE) natives.delete(natives.keys().next().value!)
  natives.set(key, parsed)
  return parsed
}

/** Whether `bytes` is one whole SEQUENCE, read by asn1js (for keys, which OpenSSL reads leniently). */
function isOneDerElement(bytes: Buffer): boolean {
  if (bytes[0] !== SEQUENCE_TAG) return false
  const parsed = asn1js.fromBER(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength))
  return parsed.offset === bytes.length && !parsed.result.error
}

function keyFromPem(text: string, field: string): KeyObject {
  // `openssl ecparam -genkey` writes the curve as its own block before the key.
  const blocks = pemBlocks(text, field).filter((block) => block.label !== 'EC PARAMETERS')
  if (blocks.length === 0) throw new PkiEncodingError(field, 'holds no PEM private key block')
  if (blocks.length > 1) throw new PkiEncodingError(field, `holds ${blocks.length} PEM blocks; give one private key`)
  const { label, der } = blocks[0]!
  if (label === 'ENCRYPTED PRIVATE KEY') throw new PkiEncodingError(field, 'is an encrypted private key; give it unencrypted')
  if (label === 'PRIVATE KEY') return parseKey(der, 'pkcs8', field)
  if (label === 'EC PRIVATE KEY') return parseKey(der, 'sec1', field)
  throw new PkiEncodingError(field, `holds a PEM ${label} block, not a PRIVATE KEY or EC PRIVATE KEY`)
}

function keyFromDer(der: Buffer, field: string): KeyObject {
  if (!isOneDerElement(der)) throw new PkiEncodingError(field, 'is not a DER private key (nor base64 or PEM)')
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })
  } catch {
    return parseKey(der, 'sec1', field)
  }
}

function parseKey(der: Buffer, type: 'pkcs8' | 'sec1', field: string): KeyObject {
  try {
    return createPrivateKey({ key: der, format: 'der', type })
  } catch {
    throw new PkiEncodingError(field, type === 'pkcs8' ? 'is not a PKCS#8 private key' : 'is not a PKCS#8 or SEC1 EC private key')
  }
}

function checkP256(key: KeyObject, field: string): KeyObject {
  if (key.asymmetricKeyType !== 'ec')
    throw new PkiEncodingError(field, `is not an EC P-256 key (it is ${key.asymmetricKeyType?.toUpperCase()})`)
  const curve = key.asymmetricKeyDetails?.namedCurve
  if (curve !== 'prime256v1') throw new PkiEncodingError(field, `is an EC key on ${curve ?? 'explicit parameters'}, not P-256`)
  return key
}
