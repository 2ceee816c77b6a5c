import { ECDH, type X509Certificate, type KeyObject } from 'node:crypto'
import { AsnConvert } from '@peculiar/asn1-schema'
import { BasicConstraints, Certificate, KeyUsage } from '@peculiar/asn1-x509'
import { FieldRuleError } from '../errors.ts'
import { normalizePcid } from '../identifiers/pcid.ts'
import { nativeCertificate } from './encoding.ts'

/**
 * The check of a vehicle's OEM provisioning certificate before a contract is issued for it
 * (ISO 15118-2 CertificateInstallationReq, or a PCID registered ahead by the OEM): it names the
 * vehicle (subject CN = PCID), it is valid now, it follows the ISO 15118-2 certificate profile,
 * and it chains up to an OEM or V2G root the operator trusts. The contract's private key is then
 * encrypted for its public key (key-envelope.ts), so a certificate that passes here is the key
 * the car is trusted to hold.
 *
 * Synchronous and pure: @peculiar/asn1-x509 reads the structures (in half the time pkijs takes,
 * and a car's certificate is read for every contract), node's OpenSSL verifies the signatures.
 */

export class ProvisioningCertificateError extends FieldRuleError {}
/** The certificate names another vehicle (or none): its subject CN is not the PCID. */
export class PcidMismatchError extends ProvisioningCertificateError {}

export const DEFAULT_PROVISIONING_FIELD = 'certificate.oemProvisioningCertificate'
/** Sub-CAs and roots a caller may send along; ISO 15118-2 paths have at most four certificates. */
export const MAX_CHAIN_CERTIFICATES = 16
const CHAIN_CACHE_SIZE = 256

const OID = {
  commonName: '2.5.4.3',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  subjectKeyIdentifier: '2.5.29.14',
  authorityKeyIdentifier: '2.5.29.35',
} as const
/** The extensions this check reads or that only identify keys; any other marked critical is refused (RFC 5280 4.2). */
const UNDERSTOOD_EXTENSIONS = new Set<string>([OID.keyUsage, OID.basicConstraints, OID.subjectKeyIdentifier, OID.authorityKeyIdentifier])
const SIGNATURE_NAMES: Record<string, string> = {
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.113549.1.1.10': 'RSASSA-PSS',
  '1.3.101.112': 'Ed25519',
}
/** KeyUsage bits (RFC 5280 4.2.1.3), numbered from the most significant bit of the first byte. */
const KEY_USAGE = { digitalSignature: 0, keyAgreement: 4, keyCertSign: 5 } as const

interface Parsed {
  der: Buffer
  /** node's view, for the signature check */
  x509: X509Certificate
  /** the subject and issuer names as OpenSSL prints them: issuers are found by name (RFC 5280 4.1.2.4), their signature decides */
  subjectKey: string
  issuerKey: string
  /** the subject as operators read it, for messages */
  name: string
  /** as encoded: 2 is X.509 v3 */
  version: number
  /** the outer signature algorithm and the one inside the TBSCertificate (OIDs) */
  signatureAlgorithm: string
  tbsSignatureAlgorithm: string
  /** the subject's CN values; null for one that is not a string */
  commonNames: Array<string | null>
  notBefore: Date
  notAfter: Date
  /** the subjectPublicKey bits as given (a point, possibly compressed) */
  subjectPublicKey: Buffer
  /** critical flag by extension OID */
  extensions: Map<string, { critical: boolean }>
  basicConstraints: { cA: boolean; pathLenConstraint?: number } | null
  /** the KeyUsage bits set, null without the extension */
  keyUsage: Set<number> | null
}

/** Parses one DER certificate, or says which rule of `field` it breaks; `label` names it when it is not the field's own. */
function parse(der: Buffer, field: string, label = ''): Parsed {
  const fail = (rule: string) => new ProvisioningCertificateError(field, label ? `${label} ${rule}` : rule)
  let certificate: Certificate
  let x509: X509Certificate
  try {
    certificate = AsnConvert.parse(der, Certificate)
    // OpenSSL must read the same bytes as the whole certificate (nothing before or after it).
    x509 = nativeCertificate(der)
    if (x509.raw.length !== der.length) throw new Error('trailing bytes')
  } catch {
    throw fail('is not a DER X.509 certificate')
  }
  const tbs = certificate.tbsCertificate
  const extensions = new Map<string, { critical: boolean }>()
  let basicConstraints: Parsed['basicConstraints'] = null
  let keyUsage: Set<number> | null = null
  for (const extension of tbs.extensions ?? []) {
    if (extensions.has(extension.extnID)) throw fail(`has the extension ${extension.extnID} twice`)
    extensions.set(extension.extnID, { critical: extension.critical })
    const value = extension.extnValue.buffer
    if (extension.extnID === OID.basicConstraints) {
      try {
        const parsed = AsnConvert.parse(value, BasicConstraints)
        basicConstraints = { cA: parsed.cA, ...(parsed.pathLenConstraint !== undefined && { pathLenConstraint: parsed.pathLenConstraint }) }
      } catch {
        throw fail('has a malformed BasicConstraints extension')
      }
    } else if (extension.extnID === OID.keyUsage) {
      try {
        const parsed = AsnConvert.parse(value, KeyUsage)
        keyUsage = bitsOf(new Uint8Array(parsed.value), parsed.unusedBits)
      } catch {
        throw fail('has a malformed KeyUsage extension')
      }
    }
  }
  const commonNames: Array<string | null> = []
  for (const rdn of tbs.subject) {
    for (const attribute of rdn) {
      if (attribute.type !== OID.commonName) continue
      const { value } = attribute
      const text =
        value.utf8String ?? value.printableString ?? value.ia5String ?? value.teletexString ?? value.bmpString ?? value.universalString
      commonNames.push(typeof text === 'string' ? text : null)
    }
  }
  return {
    der,
    x509,
    subjectKey: x509.subject,
    issuerKey: x509.issuer,
    name: x509.subject.replace(/\n/g, ', '),
    version: tbs.version,
    signatureAlgorithm: certificate.signatureAlgorithm.algorithm,
    tbsSignatureAlgorithm: tbs.signature.algorithm,
    commonNames,
    notBefore: tbs.validity.notBefore.getTime(),
    notAfter: tbs.validity.notAfter.getTime(),
    subjectPublicKey: Buffer.from(tbs.subjectPublicKeyInfo.subjectPublicKey),
    extensions,
    basicConstraints,
    keyUsage,
  }
}

/**
 * The roots and intermediates an operator trusts (V2G root, OEM roots); paths end at any of them.
 * It also remembers the Sub-CA certificates sent along, parsed: every car of an OEM sends the same
 * few, and parsing is most of the cost of a check.
 */
export class TrustStore {
  private readonly bySubject = new Map<string, Parsed[]>()
  private readonly ders = new Set<string>()
  private readonly seenChain = new Map<string, Parsed>()

  constructor(certificates: Iterable<Buffer>, field = 'trustStore') {
    let index = 0
    for (const der of certificates) {
      const parsed = parse(der, `${field}[${index++}]`)
      const fingerprint = der.toString('hex')
      if (this.ders.has(fingerprint)) continue
      this.ders.add(fingerprint)
      this.bySubject.set(parsed.subjectKey, [...(this.bySubject.get(parsed.subjectKey) ?? []), parsed])
    }
  }

  get size(): number {
    return this.ders.size
  }

  has(der: Buffer): boolean {
    return this.ders.has(der.toString('hex'))
  }

  /** @internal the trusted certificates whose subject is `issuerKey` */
  issuersOf(issuerKey: string): readonly Parsed[] {
    return this.bySubject.get(issuerKey) ?? []
  }

  /** @internal a chain certificate, parsed once (bounded: the oldest is forgotten first) */
  chainCertificate(der: Buffer, field: string, label: string): Parsed {
    const fingerprint = der.toString('hex')
    const cached = this.seenChain.get(fingerprint)
    if (cached) return cached
    const parsed = parse(der, field, label)
    if (this.seenChain.size >= CHAIN_CACHE_SIZE) this.seenChain.delete(this.seenChain.keys().next().value!)
    this.seenChain.set(fingerprint, parsed)
    return parsed
  }
}

export interface ProvisioningCheck {
  /** DER of the OEM provisioning certificate */
  certificate: Buffer
  /** Sub-CA certificates (DER) sent with it, in any order; those already trusted may be left out */
  chain?: Buffer[]
  /** the vehicle's PCID, which the certificate's subject CN must be */
  pcid: string
  trusted: TrustStore
  now: Date
  /** the request field named in errors */
  field?: string
}

export interface CheckedProvisioningCertificate {
  certificateDer: Buffer
  /** the vehicle's public key, uncompressed 04 || X || Y: what the contract key is encrypted for */
  publicKey: Buffer
  /** the certification path from the certificate's issuer up to the trusted certificate it ends at (DER) */
  chain: Buffer[]
  notAfter: Date
}

/** Checks a provisioning certificate for `pcid`; throws ProvisioningCertificateError naming the broken rule. */
export function checkProvisioningCertificate(input: ProvisioningCheck): CheckedProvisioningCertificate {
  const field = input.field ?? DEFAULT_PROVISIONING_FIELD
  const chain = input.chain ?? []
  if (chain.length > MAX_CHAIN_CERTIFICATES) {
    throw new ProvisioningCertificateError(
      field,
      `comes with ${chain.length} chain certificates; at most ${MAX_CHAIN_CERTIFICATES} are accepted`,
    )
  }
  if (Number.isNaN(input.now.getTime())) throw new TypeError('now must be a valid date')
  const leaf = parse(input.certificate, field)
  const fail = (rule: string) => new ProvisioningCertificateError(field, rule)

  checkSubject(leaf, input.pcid, fail)
  const notAfter = leaf.notAfter
  const validity = validityProblem(leaf, input.now)
  if (validity) throw fail(validity)

  // ISO 15118-2 certificate profile (Annex F): v3, ECDSA with SHA-256 on secp256r1, an end entity
  // whose key both signs (the car's authentication) and agrees keys (the contract key envelope).
  if (leaf.version !== 2) throw fail(`is X.509 v${leaf.version + 1}; ISO 15118-2 requires v3`)
  const signature = leaf.signatureAlgorithm
  if (signature !== OID.ecdsaWithSha256 || leaf.tbsSignatureAlgorithm !== signature) {
    throw fail(`is signed with ${SIGNATURE_NAMES[signature] ?? signature}; ISO 15118-2 requires ecdsa-with-SHA256`)
  }
  const publicKey = p256Point(leaf, fail)
  if (leaf.basicConstraints?.cA) {
    throw fail('is a CA certificate (BasicConstraints cA is true); a provisioning certificate must be an end entity')
  }
  if (!leaf.keyUsage) {
    throw fail('has no KeyUsage extension; ISO 15118-2 requires it, critical, with digitalSignature and keyAgreement')
  }
  if (!leaf.extensions.get(OID.keyUsage)?.critical) {
    throw fail('has a KeyUsage extension that is not critical; ISO 15118-2 requires it critical')
  }
  const usage = leaf.keyUsage
  const missing = (['digitalSignature', 'keyAgreement'] as const).filter((name) => !usage.has(KEY_USAGE[name]))
  if (missing.length > 0) {
    throw fail(`has a KeyUsage without ${missing.join(' and ')}; ISO 15118-2 requires digitalSignature and keyAgreement`)
  }
  const unknown = unknownCriticalExtension(leaf)
  if (unknown) throw fail(`has an unknown critical extension ${unknown}`)

  const parsedChain = chain.map((der, index) => input.trusted.chainCertificate(der, field, `chain certificate ${index + 1}`))
  const path = certificationPath(leaf, parsedChain, input.trusted, input.now, fail)
  return { certificateDer: input.certificate, publicKey, chain: path.map((step) => step.der), notAfter }
}

/** The 65-byte uncompressed P-256 public point of a certificate. */
export function pointOf(der: Buffer, field = 'certificate'): Buffer {
  return p256Point(parse(der, field), (rule) => new ProvisioningCertificateError(field, rule))
}

/** The subject's common name (CN) of a certificate. */
export function subjectCommonName(der: Buffer, field = 'certificate'): string {
  return commonName(parse(der, field), (rule) => new ProvisioningCertificateError(field, rule))
}

type Fail = (rule: string) => ProvisioningCertificateError

function commonName(certificate: Parsed, fail: Fail): string {
  const names = certificate.commonNames
  if (names.length === 0) throw fail('has no subject CN')
  if (names.length > 1) throw fail(`has ${names.length} subject CNs; one is expected`)
  const value = names[0]
  if (typeof value !== 'string') throw fail('has a subject CN that is not a string')
  return value
}

function checkSubject(leaf: Parsed, pcid: string, fail: Fail) {
  const expected = normalizePcid(pcid)
  if (expected === null) throw new ProvisioningCertificateError('pcid', `'${pcid}' is not a PCID (17 or 18 letters and digits)`)
  let cn: string
  try {
    cn = commonName(leaf, fail)
  } catch (error) {
    if (error instanceof ProvisioningCertificateError) throw pcidMismatch(fail, `${error.rule}; it must be the PCID '${expected}'`)
    throw error
  }
  // PCIDs are stored upper-case (identifiers/pcid.ts); a car may spell its own in either case.
  if (normalizePcid(cn) !== expected) throw pcidMismatch(fail, `subject CN '${cn}' is not the PCID '${expected}'`)
}

const pcidMismatch = (fail: Fail, rule: string) => {
  const error = fail(rule)
  return new PcidMismatchError(error.field, error.rule)
}

function validityProblem(certificate: Parsed, now: Date): string | null {
  const { notBefore, notAfter } = certificate
  if (now < notBefore) return `is not valid before ${notBefore.toISOString()} (checked at ${now.toISOString()})`
  if (now > notAfter) return `expired on ${notAfter.toISOString()} (checked at ${now.toISOString()})`
  return null
}

function p256Point(certificate: Parsed, fail: Fail): Buffer {
  let key: KeyObject
  try {
    key = certificate.x509.publicKey
  } catch {
    throw fail('has a public key that cannot be read (not a valid point?)')
  }
  if (key.asymmetricKeyType !== 'ec') {
    throw fail(
      `has a public key of type ${key.asymmetricKeyType?.toUpperCase() ?? 'unknown'}; ISO 15118-2 requires EC on P-256 (secp256r1)`,
    )
  }
  const curve = key.asymmetricKeyDetails?.namedCurve
  if (curve !== 'prime256v1') {
    throw fail(`has an EC public key on ${curve ?? 'explicit parameters'}; ISO 15118-2 requires P-256 (secp256r1)`)
  }
  // The certificate may carry the point compressed; the key envelope needs it uncompressed.
  return ECDH.convertKey(certificate.subjectPublicKey, 'prime256v1', undefined, undefined, 'uncompressed') as Buffer
}

function bitsOf(bytes: Uint8Array, unusedBits: number): Set<number> {
  const bits = new Set<number>()
  for (let bit = 0; bit < bytes.length * 8 - unusedBits; bit++) {
    if (bytes[bit >> 3]! & (0x80 >> (bit & 7))) bits.add(bit)
  }
  return bits
}

/** Signatures already verified, by child and issuer (both parsed once and kept by the TrustStore). */
const signedBy = new WeakMap<Parsed, WeakSet<Parsed>>()

function unknownCriticalExtension(certificate: Parsed): string | null {
  for (const [oid, extension] of certificate.extensions) if (extension.critical && !UNDERSTOOD_EXTENSIONS.has(oid)) return oid
  return null
}

/**
 * Why `issuer` cannot be the issuer of `child` at `depth` (1 = the issuer of the provisioning
 * certificate), or null when it can: its signature, CA status, key usage, validity, critical
 * extensions and path length constraint, as RFC 5280 6.1 checks them.
 */
function issuerProblem(child: Parsed, issuer: Parsed, depth: number, now: Date): string | null {
  let verified = signedBy.get(child)?.has(issuer) ?? false
  if (!verified) {
    try {
      verified = child.x509.verify(issuer.x509.publicKey)
    } catch {
      verified = false
    }
    // Sub-CA links repeat for every car of an OEM: their signature is checked once per parsed pair.
    if (verified) signedBy.set(child, (signedBy.get(child) ?? new WeakSet()).add(issuer))
  }
  if (!verified) return `the signature of '${child.name}' does not verify with the key of '${issuer.name}'`
  const constraints = issuer.basicConstraints
  if (!constraints?.cA) return `issuer '${issuer.name}' is not a CA (BasicConstraints cA is not true)`
  if (issuer.keyUsage && !issuer.keyUsage.has(KEY_USAGE.keyCertSign)) {
    return `issuer '${issuer.name}' may not sign certificates (its KeyUsage lacks keyCertSign)`
  }
  const validity = validityProblem(issuer, now)
  if (validity) return `issuer '${issuer.name}' ${validity}`
  const unknown = unknownCriticalExtension(issuer)
  if (unknown) return `issuer '${issuer.name}' has an unknown critical extension ${unknown}`
  const pathLength = constraints.pathLenConstraint
  const below = depth - 1
  if (typeof pathLength === 'number' && below > pathLength) {
    return `issuer '${issuer.name}' allows ${pathLength} CA certificate(s) below it (pathLenConstraint), the path has ${below}`
  }
  return null
}

/**
 * The path from `leaf` up to a trusted certificate, issuers only. A depth-first search over the
 * sent chain and the trust store, each certificate expanded once so that many same-named
 * certificates cannot make it explode; when no path exists, the failure furthest up is reported.
 */
function certificationPath(leaf: Parsed, chain: Parsed[], trusted: TrustStore, now: Date, fail: Fail): Parsed[] {
  const untrusted = new Map<string, Parsed[]>()
  const seen = new Set<string>([leaf.der.toString('hex')])
  for (const certificate of chain) {
    const fingerprint = certificate.der.toString('hex')
    if (seen.has(fingerprint) || trusted.has(certificate.der)) continue
    seen.add(fingerprint)
    untrusted.set(certificate.subjectKey, [...(untrusted.get(certificate.subjectKey) ?? []), certificate])
  }

  let deepest = { depth: 0, rule: 'no path was found' }
  const failed = (depth: number, rule: string) => {
    if (depth > deepest.depth) deepest = { depth, rule }
  }
  const expanded = new Set<Parsed>()

  const climb = (child: Parsed, path: Parsed[]): Parsed[] | null => {
    const depth = path.length + 1
    const trustedIssuers = trusted.issuersOf(child.issuerKey)
    const candidates = [...trustedIssuers, ...(untrusted.get(child.issuerKey) ?? [])].filter(
      (candidate) => candidate !== child && !path.includes(candidate),
    )
    if (candidates.length === 0) {
      const selfIssued = child.issuerKey === child.subjectKey
      failed(
        depth,
        selfIssued
          ? `the chain ends at the self-signed '${child.name}', which is not in the trust store`
          : `no certificate of the issuer '${child.x509.issuer.replace(/\n/g, ', ')}' of '${child.name}' is in the chain or the trust store`,
      )
      return null
    }
    for (const candidate of candidates) {
      const problem = issuerProblem(child, candidate, depth, now)
      if (problem) {
        failed(depth, problem)
        continue
      }
      if (trustedIssuers.includes(candidate)) return [...path, candidate]
      if (expanded.has(candidate)) continue
      expanded.add(candidate)
      const found = climb(candidate, [...path, candidate])
      if (found) return found
    }
    return null
  }

  const path = climb(leaf, [])
  if (path) return path
  throw fail(`does not chain to a trusted certificate: ${deepest.rule}`)
}
