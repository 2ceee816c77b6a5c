import { KeyObject, X509Certificate as NativeCertificate, createHash, createPublicKey, randomBytes, sign, webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import * as asn1js from 'asn1js'
import { FieldRuleError } from '../errors.ts'
import { checkCharacterMatches, parseEmaid } from '../identifiers/emaid.ts'

/**
 * The certificate profiles of the Mobility Operator CA (ISO 15118-2 Annex F): MO Root (self-signed)
 * -> MO Sub-CA 1 (pathLen 1) -> MO Sub-CA 2 (pathLen 0) -> contract certificates, and one delegated
 * OCSP-signing certificate per CA. Every certificate is X.509 v3 with an ECDSA P-256 key, signed
 * ecdsa-with-SHA256, with critical KeyUsage and BasicConstraints, 8-byte key identifiers (RFC 5280
 * 4.2.1.2 method 2) and at most 800 bytes of DER (the ISO 15118-2 schema's certificateType holds
 * no more).
 */

type CryptoKey = webcrypto.CryptoKey

// The library's default provider is the global `crypto`; naming node's keeps core/ independent of globals.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

export const MAX_CERTIFICATE_BYTES = 800

export type AuthorityRole = 'root' | 'sub_ca_1' | 'sub_ca_2'
export type CertificateRole = AuthorityRole | 'contract' | 'ocsp_signer'

/** The CA that signs: its certificate and its WebCrypto ECDSA P-256 private key. */
export interface Issuer {
  certificateDer: Buffer
  privateKey: CryptoKey
}

export interface RevocationUrls {
  ocspUrl: string
  crlUrl: string
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  domainComponent: '0.9.2342.19200300.100.1.25',
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  basicConstraints: '2.5.29.19',
  crlDistributionPoints: '2.5.29.31',
  authorityKeyIdentifier: '2.5.29.35',
  extendedKeyUsage: '2.5.29.37',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
  ocspNoCheck: '1.3.6.1.5.5.7.48.1.5',
} as const

const ECDSA_SHA256 = { name: 'ECDSA', hash: 'SHA-256' }
/** X.520 upper bound of commonName and organizationName. */
const MAX_NAME_CHARS = 64
const KEY_ID_BYTES = 8
const DAY_MS = 86_400_000
/**
 * How far a contract's notBefore lies before the moment of issue: chargers and cars with a clock
 * a few minutes fast would otherwise reject a certificate installed seconds ago as not yet valid.
 */
const CLOCK_SKEW_MS = 5 * 60_000

const KU = x509.KeyUsageFlags
const CA_USAGES = KU.keyCertSign | KU.cRLSign
const CONTRACT_USAGES = KU.digitalSignature | KU.nonRepudiation | KU.keyEncipherment | KU.keyAgreement
const OCSP_SIGNER_USAGES = KU.digitalSignature

interface RoleProfile {
  ca: boolean
  pathLength?: number
  usages: number
  revocationUrls: boolean
}

const PROFILES: Record<CertificateRole, RoleProfile> = {
  // ISO 15118-2 sets no pathLenConstraint on a root; the sub-CAs' constraints bound the chain.
  root: { ca: true, usages: CA_USAGES, revocationUrls: false },
  sub_ca_1: { ca: true, pathLength: 1, usages: CA_USAGES, revocationUrls: true },
  sub_ca_2: { ca: true, pathLength: 0, usages: CA_USAGES, revocationUrls: true },
  contract: { ca: false, usages: CONTRACT_USAGES, revocationUrls: true },
  // id-pkix-ocsp-nocheck: nobody asks whether the responder's own certificate is revoked.
  ocsp_signer: { ca: false, usages: OCSP_SIGNER_USAGES, revocationUrls: false },
}

// The extensions every contract (or OCSP signer) shares, built once: the generator re-reads each anyway.
const CONTRACT_CONSTRAINTS = new x509.BasicConstraintsExtension(false, undefined, true)
const CONTRACT_KEY_USAGE = new x509.KeyUsagesExtension(CONTRACT_USAGES, true)
const OCSP_SIGNER_KEY_USAGE = new x509.KeyUsagesExtension(OCSP_SIGNER_USAGES, true)
const OCSP_SIGNING_EKU = new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.ocspSigning], false)
const OCSP_NO_CHECK = new x509.Extension(OID.ocspNoCheck, false, new asn1js.Null().toBER())

// ---------------------------------------------------------------------------------------------
// Identifiers and URLs

/** RFC 5280 4.2.1.2 method 2: 0100 then the low 60 bits of SHA-1 over the subjectPublicKey bits. */
function keyIdentifierOfPoint(subjectPublicKey: Uint8Array): Buffer {
  const id = createHash('sha1')
    .update(subjectPublicKey)
    .digest()
    .subarray(20 - KEY_ID_BYTES)
  id[0] = 0x40 | (id[0]! & 0x0f)
  return id
}

/** The 8-byte key identifier of a SubjectPublicKeyInfo (DER), as the SKI and the AKI carry it. */
export function keyIdentifierOf(spkiDer: Buffer): Buffer {
  return keyIdentifierOfPoint(subjectPublicKeyOf(spkiDer))
}

/** The contents of the subjectPublicKey BIT STRING (for P-256, the 65-byte point). */
function subjectPublicKeyOf(spkiDer: Buffer | ArrayBuffer): Uint8Array {
  const parsed = asn1js.fromBER(spkiDer)
  const bits = parsed.result instanceof asn1js.Sequence ? parsed.result.valueBlock.value[1] : undefined
  if (parsed.offset === -1 || !(bits instanceof asn1js.BitString)) {
    throw new FieldRuleError('publicKey', 'must be a DER SubjectPublicKeyInfo')
  }
  return bits.valueBlock.valueHexView
}

/**
 * A positive serial of 16 random bytes: the top bit cleared keeps it positive, and a zero first
 * byte is drawn again (DER would drop it), so every serial is encoded in exactly 16 bytes.
 */
export function randomSerial(): string {
  for (;;) {
    const bytes = randomBytes(16)
    bytes[0]! &= 0x7f
    if (bytes[0] !== 0) return bytes.toString('hex')
  }
}

const withoutTrailingSlash = (url: string) => url.replace(/\/+$/, '')

/** The OCSP responder of every CA of the platform, under its public URL. */
export function ocspUrlOf(publicUrl: string): string {
  return `${withoutTrailingSlash(publicUrl)}/pki/ocsp`
}

/** The CRL of one CA, named by its subject key identifier. */
export function crlUrlOf(publicUrl: string, issuerSkiHex: string): string {
  return `${withoutTrailingSlash(publicUrl)}/pki/crl/${issuerSkiHex.toLowerCase()}.crl`
}

// ---------------------------------------------------------------------------------------------
// Issuers

interface PreparedIssuer {
  name: x509.Name
  keyId: string
  notAfter: Date
  pathLength: number | undefined
  organization: string | undefined
  spkiDer: Buffer
  /** AKI, AIA and CRL DP by revocation URLs: the same for every certificate this CA signs with them. */
  extensions: Map<string, x509.Extension[]>
  /** Private keys already found to belong to this certificate. */
  keys: WeakSet<CryptoKey>
  /** Contract templates by revocation URLs, organization and DC (see `issueFromTemplate`). */
  templates: Map<string, ContractTemplate>
}

// Parsing the issuer costs about as much as issuing a certificate; it is done once per Buffer.
const preparedIssuers = new WeakMap<Buffer, PreparedIssuer>()

function prepareIssuer(issuer: Issuer): PreparedIssuer {
  let prepared = preparedIssuers.get(issuer.certificateDer)
  if (!prepared) {
    const cert = parseCertificate(issuer.certificateDer, 'issuer')
    const constraints = cert.getExtension(x509.BasicConstraintsExtension)
    if (!constraints?.ca) throw new FieldRuleError('issuer', 'the issuer certificate is not a CA (basicConstraints cA is not true)')
    const keyUsage = cert.getExtension(x509.KeyUsagesExtension)
    if (keyUsage && !(keyUsage.usages & KU.keyCertSign)) {
      throw new FieldRuleError('issuer', 'the issuer certificate may not sign certificates (keyUsage lacks keyCertSign)')
    }
    const spkiDer = Buffer.from(cert.publicKey.rawData)
    const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)
    prepared = {
      name: new x509.Name(cert.subjectName.toArrayBuffer()),
      // The AKI must repeat the issuer's SKI, whichever way that was computed (an imported CA may differ).
      keyId: ski?.keyId ?? keyIdentifierOf(spkiDer).toString('hex'),
      notAfter: cert.notAfter,
      pathLength: constraints.pathLength,
      organization: cert.subjectName.getField('O')[0],
      spkiDer,
      extensions: new Map(),
      keys: new WeakSet(),
      templates: new Map(),
    }
    preparedIssuers.set(issuer.certificateDer, prepared)
  }
  if (!prepared.keys.has(issuer.privateKey)) {
    checkSigningKey(issuer.privateKey, 'issuer.privateKey')
    // A key that is not the certificate's would sign certificates that no one can verify.
    if (!spkiOf(createPublicKey(KeyObject.from(issuer.privateKey))).equals(prepared.spkiDer)) {
      throw new FieldRuleError('issuer.privateKey', "is not the private key of the issuer certificate's public key")
    }
    prepared.keys.add(issuer.privateKey)
  }
  return prepared
}

function issuerExtensions(issuer: PreparedIssuer, urls?: RevocationUrls): x509.Extension[] {
  const cacheKey = urls ? `${urls.ocspUrl}\n${urls.crlUrl}` : ''
  let extensions = issuer.extensions.get(cacheKey)
  if (!extensions) {
    extensions = [new x509.AuthorityKeyIdentifierExtension(issuer.keyId, false)]
    if (urls) {
      extensions.push(
        new x509.AuthorityInfoAccessExtension({ ocsp: [checkUrl(urls.ocspUrl, 'urls.ocspUrl')] }, false),
        new x509.CRLDistributionPointsExtension([checkUrl(urls.crlUrl, 'urls.crlUrl')], false),
      )
    }
    issuer.extensions.set(cacheKey, extensions)
  }
  return extensions
}

// ---------------------------------------------------------------------------------------------
// Input checks

function checkUrl(url: string, field: string): string {
  // The URLs are IA5Strings in the certificate: ASCII only, no spaces.
  if (typeof url !== 'string' || !/^[\x21-\x7e]+$/.test(url)) throw new FieldRuleError(field, 'must be an http(s) URL in printable ASCII')
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new FieldRuleError(field, `must be an absolute http(s) URL, got ${JSON.stringify(url)}`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new FieldRuleError(field, `must be an http(s) URL, got ${JSON.stringify(url)}`)
  }
  return url
}

function checkSigningKey(key: CryptoKey | undefined, field: string): CryptoKey {
  const algorithm = key?.algorithm as { name?: string; namedCurve?: string } | undefined
  if (!key || key.type !== 'private' || algorithm?.name !== 'ECDSA' || algorithm.namedCurve !== 'P-256') {
    throw new FieldRuleError(field, 'must be an ECDSA P-256 private key')
  }
  return key
}

/** The uncompressed point of a P-256 public key (ECDSA or ECDH: the certificate is the same). */
function publicPointOf(key: CryptoKey | undefined): Buffer {
  const algorithm = key?.algorithm as { namedCurve?: string } | undefined
  if (!key || key.type !== 'public' || algorithm?.namedCurve !== 'P-256') {
    throw new FieldRuleError('publicKey', 'must be a P-256 public key')
  }
  // From the JWK: OpenSSL 3 takes over 100 µs to encode an SPKI, the JWK a few.
  const jwk = KeyObject.from(key).export({ format: 'jwk' })
  return Buffer.concat([Buffer.of(4), Buffer.from(jwk.x!, 'base64url'), Buffer.from(jwk.y!, 'base64url')])
}

/** The SubjectPublicKeyInfo of a P-256 public key and its key identifier. */
function publicKeyInfo(key: CryptoKey | undefined): { spkiDer: Buffer; keyId: Buffer } {
  const point = publicPointOf(key)
  return { spkiDer: spkiOf(KeyObject.from(key!)), keyId: keyIdentifierOfPoint(point) }
}

const spkiOf = (key: KeyObject) => key.export({ type: 'spki', format: 'der' })

function checkValidity(notBefore: Date, notAfter: Date, issuerNotAfter?: Date) {
  if (!(notBefore instanceof Date) || Number.isNaN(notBefore.getTime())) throw new FieldRuleError('notBefore', 'must be a date')
  if (!(notAfter instanceof Date) || Number.isNaN(notAfter.getTime())) throw new FieldRuleError('notAfter', 'must be a date')
  if (notAfter.getTime() <= notBefore.getTime()) throw new FieldRuleError('notAfter', 'must be after notBefore')
  // Validity is written in whole seconds; a certificate may not outlive the CA that vouches for it.
  if (issuerNotAfter && Math.floor(notAfter.getTime() / 1000) > Math.floor(issuerNotAfter.getTime() / 1000)) {
    throw new FieldRuleError('notAfter', `must not be after the issuer's notAfter (${issuerNotAfter.toISOString()})`)
  }
}

function checkName(value: string | undefined, field: string): string {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_NAME_CHARS) {
    throw new FieldRuleError(field, `must be 1 to ${MAX_NAME_CHARS} characters`)
  }
  return value
}

/**
 * A directory string, typed explicitly: PrintableString when it fits, else UTF8String. Passing
 * plain strings would let the library read a leading '#' as hex.
 */
function directoryString(value: string): x509.JsonAttributeObject {
  return x509.Name.isPrintableString(value) ? { printableString: value } : { utf8String: value }
}

function subjectName(input: { commonName: string; organization?: string; country?: string; domainComponent?: string }): x509.Name {
  const rdns: x509.JsonAttributeAndObjectValue[] = [{ CN: [directoryString(input.commonName)] }]
  if (input.organization !== undefined) rdns.push({ O: [directoryString(input.organization)] })
  if (input.country !== undefined) rdns.push({ C: [{ printableString: input.country }] })
  if (input.domainComponent !== undefined) rdns.push({ DC: [{ ia5String: input.domainComponent }] })
  return new x509.Name(rdns)
}

async function generate(input: {
  subject: x509.Name
  issuer: x509.Name
  spkiDer: Buffer
  serial?: string
  signingKey: CryptoKey
  notBefore: Date
  notAfter: Date
  extensions: x509.Extension[]
}): Promise<Buffer> {
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: input.serial ?? randomSerial(),
    subject: input.subject,
    issuer: input.issuer,
    notBefore: input.notBefore,
    notAfter: input.notAfter,
    publicKey: input.spkiDer,
    signingKey: input.signingKey,
    signingAlgorithm: ECDSA_SHA256,
    extensions: input.extensions,
  })
  const der = Buffer.from(certificate.rawData)
  if (der.length > MAX_CERTIFICATE_BYTES) {
    throw new FieldRuleError(
      'certificate',
      `is ${der.length} bytes, more than the ${MAX_CERTIFICATE_BYTES} ISO 15118-2 allows (shorten the names or URLs)`,
    )
  }
  return der
}

// ---------------------------------------------------------------------------------------------
// Issuing

/** The MO Root (self-signed, with `selfSigningKey`) or one of the two MO Sub-CAs (signed by `issuer`). */
export async function issueAuthorityCertificate(input: {
  role: AuthorityRole
  subject: { commonName: string; organization: string; country?: string; domainComponent?: string }
  publicKey: CryptoKey
  issuer?: Issuer
  selfSigningKey?: CryptoKey
  notBefore: Date
  notAfter: Date
  urls?: RevocationUrls
}): Promise<Buffer> {
  const profile = PROFILES[input.role]
  if (!profile?.ca) throw new FieldRuleError('role', `must be one of root, sub_ca_1, sub_ca_2, got ${JSON.stringify(input.role)}`)
  const subject = input.subject ?? ({} as typeof input.subject)
  checkName(subject.commonName, 'subject.commonName')
  checkName(subject.organization, 'subject.organization')
  if (subject.country !== undefined && !/^[A-Z]{2}$/.test(subject.country)) {
    throw new FieldRuleError('subject.country', 'must be two upper-case letters (ISO 3166-1 alpha-2)')
  }
  if (subject.domainComponent !== undefined && !/^[\x21-\x7e]{1,63}$/.test(subject.domainComponent)) {
    throw new FieldRuleError('subject.domainComponent', 'must be 1 to 63 printable ASCII characters (an IA5String label)')
  }
  const key = publicKeyInfo(input.publicKey)
  const name = subjectName(subject)
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, profile.pathLength, true),
    new x509.KeyUsagesExtension(profile.usages, true),
    new x509.SubjectKeyIdentifierExtension(key.keyId.toString('hex'), false),
  ]

  if (input.role === 'root') {
    if (input.issuer) throw new FieldRuleError('issuer', 'a root certificate is self-signed: give selfSigningKey, not issuer')
    const signingKey = checkSigningKey(input.selfSigningKey, 'selfSigningKey')
    if (!spkiOf(createPublicKey(KeyObject.from(signingKey))).equals(key.spkiDer)) {
      throw new FieldRuleError('selfSigningKey', 'is not the private key of publicKey')
    }
    checkValidity(input.notBefore, input.notAfter)
    // A self-signed certificate names its own key as the authority key.
    extensions.push(new x509.AuthorityKeyIdentifierExtension(key.keyId.toString('hex'), false))
    return generate({
      subject: name,
      issuer: name,
      spkiDer: key.spkiDer,
      signingKey,
      notBefore: input.notBefore,
      notAfter: input.notAfter,
      extensions,
    })
  }

  if (!input.issuer) throw new FieldRuleError('issuer', `a ${input.role} certificate needs its issuing CA`)
  if (input.selfSigningKey) throw new FieldRuleError('selfSigningKey', 'only a root certificate is self-signed')
  if (!input.urls)
    throw new FieldRuleError('urls', 'a sub-CA certificate carries the OCSP URL and the CRL distribution point of its issuer')
  const issuer = prepareIssuer(input.issuer)
  // RFC 5280 6.1.4 (l)/(m): a CA under an issuer with pathLen p may allow at most p - 1 more.
  if (issuer.pathLength !== undefined && issuer.pathLength <= profile.pathLength!) {
    throw new FieldRuleError(
      'issuer',
      `the issuer's pathLenConstraint ${issuer.pathLength} does not allow a CA with pathLenConstraint ${profile.pathLength}`,
    )
  }
  checkValidity(input.notBefore, input.notAfter, issuer.notAfter)
  extensions.push(...issuerExtensions(issuer, input.urls))
  return generate({
    subject: name,
    issuer: issuer.name,
    spkiDer: key.spkiDer,
    signingKey: input.issuer.privateKey,
    notBefore: input.notBefore,
    notAfter: input.notAfter,
    extensions,
  })
}

const COMPACT_EMAID = /^[A-Z]{2}[A-Z0-9]{13}$/

/** A contract certificate: subject CN = the EMAID (compact, with check character), O, and DC=MO unless turned off. */
export async function issueContractCertificate(input: {
  emaid: string
  organization: string
  domainComponentMo?: boolean
  publicKey: CryptoKey
  issuer: Issuer
  notBefore: Date
  notAfter: Date
  urls: RevocationUrls
}): Promise<Buffer> {
  const emaid = typeof input.emaid === 'string' && COMPACT_EMAID.test(input.emaid) ? parseEmaid(input.emaid) : null
  if (!emaid || !checkCharacterMatches(emaid)) {
    throw new FieldRuleError(
      'emaid',
      'must be an EMAID in upper case without separators, with its correct check character (e.g. DE8PSC0AD21B13P)',
    )
  }
  checkName(input.organization, 'organization')
  if (!input.urls) throw new FieldRuleError('urls', 'a contract certificate carries the OCSP URL and the CRL distribution point')
  const issuer = prepareIssuer(input.issuer)
  checkValidity(input.notBefore, input.notAfter, issuer.notAfter)
  const point = publicPointOf(input.publicKey)
  const fields: ContractFields = {
    serial: Buffer.from(randomSerial(), 'hex'),
    notBefore: input.notBefore,
    notAfter: input.notAfter,
    commonName: Buffer.from(input.emaid, 'latin1'),
    point,
    keyId: keyIdentifierOfPoint(point),
  }
  const templateKey = `${input.urls.ocspUrl}\n${input.urls.crlUrl}\n${input.organization}\n${input.domainComponentMo !== false}`
  const template = issuer.templates.get(templateKey)
  const fast = template && issueFromTemplate(template, fields, input.issuer.privateKey)
  if (fast) return fast

  const der = await generate({
    subject: subjectName({
      commonName: input.emaid,
      organization: input.organization,
      domainComponent: input.domainComponentMo === false ? undefined : 'MO',
    }),
    issuer: issuer.name,
    spkiDer: spkiOf(KeyObject.from(input.publicKey)),
    serial: fields.serial.toString('hex'),
    signingKey: input.issuer.privateKey,
    notBefore: input.notBefore,
    notAfter: input.notAfter,
    extensions: [
      CONTRACT_CONSTRAINTS,
      CONTRACT_KEY_USAGE,
      new x509.SubjectKeyIdentifierExtension(fields.keyId.toString('hex'), false),
      ...issuerExtensions(issuer, input.urls),
    ],
  })
  const learnt = learnTemplate(template, der, fields)
  if (learnt) issuer.templates.set(templateKey, learnt)
  return der
}

// ---------------------------------------------------------------------------------------------
// Contract templates
//
// The X.509 library encodes through asn1js, which needs 2 to 4 ms for one contract certificate:
// too slow for hundreds of contracts a second. All contracts under one issuer, organization and
// pair of URLs differ only in fields of fixed length: the serial (16 bytes), the two UTCTimes, the
// EMAID (15 characters), the public point (65 bytes), the subject key identifier (8 bytes) and the
// signature. So the generator's own certificate serves as the template: those fields are found in
// it by their values, overwritten with the new values of the same length, the TBS is signed, and
// the signature goes where the template's was (a template per signature length, since ECDSA
// signatures vary in length). No tag or length is written here; whatever does not fit (a date from
// 2050 on, which would need a GeneralizedTime, or a signature length not yet seen) goes through
// the generator, which also teaches the template that signature length.

interface ContractFields {
  serial: Buffer
  notBefore: Date
  notAfter: Date
  commonName: Buffer
  point: Buffer
  keyId: Buffer
}

interface ContractTemplate {
  /** The TBSCertificate of a generated contract certificate. */
  tbs: Buffer
  /** Where each per-certificate field lies in `tbs`, and how long it is. */
  at: Record<keyof ContractFields, { offset: number; length: number }>
  /** Generated certificates (TBS as long as `tbs`) by signature length, with where their TBS and signature start. */
  framings: Map<number, { der: Buffer; tbsAt: number; signatureAt: number }>
}

/** The DER of a UTCTime, or null from 2050 on (RFC 5280 4.1.2.5: GeneralizedTime, another length). */
function utcTime(date: Date): Buffer | null {
  const year = date.getUTCFullYear()
  if (year < 1950 || year > 2049) return null
  const key = Math.floor(date.getTime() / 1000)
  let encoded = utcTimes.get(key)
  if (!encoded) {
    // asn1js needs tens of µs per time; contracts issued in the same second share theirs.
    if (utcTimes.size > 64) utcTimes.clear()
    encoded = Buffer.from(new asn1js.UTCTime({ valueDate: new Date(key * 1000) }).toBER())
    utcTimes.set(key, encoded)
  }
  return encoded
}
const utcTimes = new Map<number, Buffer>()

function fieldBytes(fields: ContractFields): Record<keyof ContractFields, Buffer> | null {
  const notBefore = utcTime(fields.notBefore)
  const notAfter = utcTime(fields.notAfter)
  if (!notBefore || !notAfter) return null
  return { ...fields, notBefore, notAfter }
}

/**
 * The template learnt from a certificate the generator made from `fields`, or `template` with one
 * more signature length; `template` unchanged when the certificate does not fit it (a GeneralizedTime),
 * and undefined when the fields cannot be told apart in it (the next certificate will do).
 */
function learnTemplate(template: ContractTemplate | undefined, der: Buffer, fields: ContractFields): ContractTemplate | undefined {
  const bytes = fieldBytes(fields)
  if (!bytes) return template
  const parsed = asn1js.fromBER(new Uint8Array(der))
  const [tbsBlock, , signatureBlock] = parsed.result instanceof asn1js.Sequence ? parsed.result.valueBlock.value : []
  if (!(tbsBlock instanceof asn1js.Sequence) || !(signatureBlock instanceof asn1js.BitString)) {
    throw new Error('the generated contract certificate has no TBSCertificate or signature')
  }
  const tbsView = tbsBlock.valueBeforeDecodeView
  const signatureLength = signatureBlock.valueBlock.valueHexView.length
  const framing = { der, tbsAt: tbsView.byteOffset, signatureAt: der.length - signatureLength }
  if (template) {
    if (tbsView.length === template.tbs.length) template.framings.set(signatureLength, framing)
    return template
  }
  const tbs = Buffer.from(tbsView)
  const at = {} as ContractTemplate['at']
  for (const name of Object.keys(bytes) as Array<keyof ContractFields>) {
    const offset = tbs.indexOf(bytes[name])
    // Each field must be found exactly once, else the template could overwrite the wrong bytes.
    if (offset === -1 || tbs.indexOf(bytes[name], offset + 1) !== -1) return undefined
    at[name] = { offset, length: bytes[name].length }
  }
  return { tbs, at, framings: new Map([[signatureLength, framing]]) }
}

/** A contract certificate from the template, or null when it does not fit (then the generator makes it). */
function issueFromTemplate(template: ContractTemplate, fields: ContractFields, privateKey: CryptoKey): Buffer | null {
  const bytes = fieldBytes(fields)
  if (!bytes) return null
  const tbs = Buffer.from(template.tbs)
  for (const name of Object.keys(template.at) as Array<keyof ContractFields>) {
    const { offset, length } = template.at[name]
    if (bytes[name].length !== length) return null
    bytes[name].copy(tbs, offset)
  }
  const signature = sign('sha256', tbs, { key: signingKeyObject(privateKey), dsaEncoding: 'der' })
  const framing = template.framings.get(signature.length)
  if (!framing) return null
  const der = Buffer.from(framing.der)
  tbs.copy(der, framing.tbsAt)
  signature.copy(der, framing.signatureAt)
  return der
}

const keyObjects = new WeakMap<CryptoKey, KeyObject>()
function signingKeyObject(key: CryptoKey): KeyObject {
  let keyObject = keyObjects.get(key)
  if (!keyObject) keyObjects.set(key, (keyObject = KeyObject.from(key)))
  return keyObject
}

/**
 * The delegated OCSP responder of one CA (RFC 6960 4.2.2.2): issued by that CA, EKU OCSPSigning, and
 * id-pkix-ocsp-nocheck so that checking the responder does not need the responder. Subject: CN and
 * the issuer's O.
 */
export async function issueOcspSignerCertificate(input: {
  issuer: Issuer
  publicKey: CryptoKey
  commonName: string
  notBefore: Date
  notAfter: Date
}): Promise<Buffer> {
  checkName(input.commonName, 'commonName')
  const issuer = prepareIssuer(input.issuer)
  checkValidity(input.notBefore, input.notAfter, issuer.notAfter)
  const key = publicKeyInfo(input.publicKey)
  return generate({
    subject: subjectName({ commonName: input.commonName, organization: issuer.organization }),
    issuer: issuer.name,
    spkiDer: key.spkiDer,
    signingKey: input.issuer.privateKey,
    notBefore: input.notBefore,
    notAfter: input.notAfter,
    extensions: [
      CONTRACT_CONSTRAINTS,
      OCSP_SIGNER_KEY_USAGE,
      new x509.SubjectKeyIdentifierExtension(key.keyId.toString('hex'), false),
      ...issuerExtensions(issuer),
      OCSP_SIGNING_EKU,
      OCSP_NO_CHECK,
    ],
  })
}

/**
 * The validity of a new contract certificate: from a few minutes ago (CLOCK_SKEW_MS) until the
 * earliest of the key's end, `maxDays` from now and the issuer's end, in whole seconds as the
 * certificate writes them.
 */
export function contractValidity(input: { now: Date; keyValidTo?: Date | null; maxDays: number; issuerNotAfter: Date }): {
  notBefore: Date
  notAfter: Date
} {
  const now = input.now.getTime()
  const ends = [now + input.maxDays * DAY_MS, input.issuerNotAfter.getTime()]
  if (input.keyValidTo) ends.push(input.keyValidTo.getTime())
  const notAfter = wholeSeconds(Math.min(...ends))
  if (!(notAfter > now)) {
    throw new FieldRuleError(
      'validTo',
      `the contract certificate would end at ${new Date(notAfter).toISOString()}, not after now (${input.now.toISOString()})`,
    )
  }
  return { notBefore: new Date(wholeSeconds(now - CLOCK_SKEW_MS)), notAfter: new Date(notAfter) }
}

const wholeSeconds = (ms: number) => Math.floor(ms / 1000) * 1000

// ---------------------------------------------------------------------------------------------
// Reading

function parseCertificate(der: Buffer, field: string): x509.X509Certificate {
  try {
    return new x509.X509Certificate(der)
  } catch {
    throw new FieldRuleError(field, 'is not a DER X.509 certificate')
  }
}

/** The point of a P-256 key (uncompressed), from the SPKI. */
function pointOf(spkiDer: ArrayBuffer): Buffer {
  return Buffer.from(subjectPublicKeyOf(spkiDer))
}

/** What the platform shows and stores of a certificate; serial and key identifiers in lower-case hex. */
export function certificateSummary(der: Buffer): {
  serialNumber: string
  subject: string
  issuer: string
  commonName: string
  notBefore: Date
  notAfter: Date
  subjectKeyId: string
  authorityKeyId?: string
  publicKey: Buffer
  /** the SubjectPublicKeyInfo, DER */
  spki: Buffer
  isCa: boolean
  pathLength?: number
} {
  const cert = parseCertificate(der, 'certificate')
  const constraints = cert.getExtension(x509.BasicConstraintsExtension)
  const spki = cert.publicKey.rawData
  const authorityKeyId = cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId
  return {
    serialNumber: cert.serialNumber.toLowerCase(),
    subject: cert.subject,
    issuer: cert.issuer,
    commonName: cert.subjectName.getField('CN')[0] ?? '',
    notBefore: cert.notBefore,
    notAfter: cert.notAfter,
    subjectKeyId: cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? keyIdentifierOf(Buffer.from(spki)).toString('hex'),
    ...(authorityKeyId ? { authorityKeyId } : {}),
    publicKey: pointOf(spki),
    spki: Buffer.from(spki),
    isCa: constraints?.ca ?? false,
    ...(constraints?.pathLength !== undefined ? { pathLength: constraints.pathLength } : {}),
  }
}

/**
 * The facts issuance needs of a certificate it just made (serial, validity, subject CN, public
 * point), read by node's native X.509 parser at a fraction of certificateSummary's cost, after
 * checking with it, independently of how the certificate was made, that `issuerDer` issued and
 * signed it. Throws when it did not: such a certificate must never be released.
 */
export function issuedFacts(
  der: Buffer,
  issuerDer: Buffer,
): { serialNumber: string; notBefore: Date; notAfter: Date; commonName: string; publicKey: Buffer } {
  const cert = new NativeCertificate(der)
  const issuer = nativeIssuer(issuerDer)
  if (!cert.checkIssued(issuer) || !cert.verify(issuer.publicKey)) {
    throw new FieldRuleError('certificate', 'the issued certificate does not verify with its issuer')
  }
  const jwk = cert.publicKey.export({ format: 'jwk' })
  if (jwk.crv !== 'P-256' || !jwk.x || !jwk.y) throw new FieldRuleError('certificate', 'the public key must be an EC P-256 key')
  return {
    serialNumber: cert.serialNumber.toLowerCase().replace(/^(00)+(?=[0-9a-f])/, ''),
    notBefore: new Date(cert.validFrom),
    notAfter: new Date(cert.validTo),
    commonName: /^CN=(.*)$/m.exec(cert.subject)?.[1] ?? '',
    publicKey: Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]),
  }
}

const nativeIssuers = new WeakMap<Buffer, NativeCertificate>()
function nativeIssuer(der: Buffer): NativeCertificate {
  let parsed = nativeIssuers.get(der)
  if (!parsed) nativeIssuers.set(der, (parsed = new NativeCertificate(der)))
  return parsed
}

/** What the X.509 library does not expose: the version, both signature algorithms, the subject's string types. */
function tbsDetails(der: Buffer): { version: number; signatureAlgorithms: string[]; subjectTypes: Map<string, number[]> } {
  const cert = asn1js.fromBER(der).result as asn1js.Sequence
  const [tbsSequence, outerAlgorithm] = cert.valueBlock.value as asn1js.Sequence[]
  const tbs = tbsSequence!.valueBlock.value
  let i = 0
  let version = 1
  if (tbs[0]?.idBlock.tagClass === 3 && tbs[0].idBlock.tagNumber === 0) {
    version =
      (tbs[0] as asn1js.Constructed).valueBlock.value[0] instanceof asn1js.Integer
        ? ((tbs[0] as asn1js.Constructed).valueBlock.value[0] as asn1js.Integer).valueBlock.valueDec + 1
        : 0
    i = 1
  }
  const algorithmOf = (sequence: asn1js.Sequence) => (sequence.valueBlock.value[0] as asn1js.ObjectIdentifier).valueBlock.toString()
  const subject = tbs[i + 4] as asn1js.Sequence
  const subjectTypes = new Map<string, number[]>()
  for (const rdn of subject.valueBlock.value as asn1js.Set[]) {
    for (const attribute of rdn.valueBlock.value as asn1js.Sequence[]) {
      const [type, value] = attribute.valueBlock.value
      const oid = (type as asn1js.ObjectIdentifier).valueBlock.toString()
      subjectTypes.set(oid, [...(subjectTypes.get(oid) ?? []), value!.idBlock.tagNumber])
    }
  }
  return { version, signatureAlgorithms: [algorithmOf(tbs[i + 1] as asn1js.Sequence), algorithmOf(outerAlgorithm!)], subjectTypes }
}

const USAGE_NAMES: Array<[number, string]> = [
  [KU.digitalSignature, 'digitalSignature'],
  [KU.nonRepudiation, 'nonRepudiation'],
  [KU.keyEncipherment, 'keyEncipherment'],
  [KU.dataEncipherment, 'dataEncipherment'],
  [KU.keyAgreement, 'keyAgreement'],
  [KU.keyCertSign, 'keyCertSign'],
  [KU.cRLSign, 'cRLSign'],
  [KU.encipherOnly, 'encipherOnly'],
  [KU.decipherOnly, 'decipherOnly'],
]
const usageList = (usages: number) =>
  USAGE_NAMES.filter(([bit]) => usages & bit)
    .map(([, name]) => name)
    .join(', ') || 'none'

const IA5_STRING = 22
const KNOWN_EXTENSIONS = new Set<string>([
  OID.subjectKeyIdentifier,
  OID.keyUsage,
  OID.basicConstraints,
  OID.crlDistributionPoints,
  OID.authorityKeyIdentifier,
  OID.extendedKeyUsage,
  OID.authorityInfoAccess,
  OID.ocspNoCheck,
])

/**
 * What keeps `der` from following the profile of `role`, one sentence per problem naming the field;
 * [] when it follows. Key identifiers are checked for presence and agreement, not for the method
 * that computed them, so that a CA imported from elsewhere can pass.
 */
export function profileViolations(der: Buffer, role: CertificateRole): string[] {
  const profile = PROFILES[role]
  if (!profile) return [`role: ${JSON.stringify(role)} is not a certificate role`]
  let cert: x509.X509Certificate
  let tbs: ReturnType<typeof tbsDetails>
  try {
    cert = new x509.X509Certificate(der)
    tbs = tbsDetails(der)
  } catch {
    return ['certificate: is not a DER X.509 certificate']
  }
  const problems: string[] = []
  const problem = (text: string) => problems.push(text)

  if (der.length > MAX_CERTIFICATE_BYTES) problem(`size: the certificate is ${der.length} bytes, more than ${MAX_CERTIFICATE_BYTES}`)
  if (tbs.version !== 3) problem(`version: must be 3 (X.509 v3), is ${tbs.version}`)

  const serial = Buffer.from(cert.serialNumber, 'hex')
  if (serial.length === 0 || serial[0]! & 0x80) problem('serialNumber: must be positive')
  else if (serial.every((byte) => byte === 0)) problem('serialNumber: must not be zero')
  else if (serial.length > 1 && serial[0] === 0 && !(serial[1]! & 0x80))
    problem('serialNumber: must be minimally encoded (a needless leading zero byte)')
  if (serial.length > 20) problem(`serialNumber: must be at most 20 bytes, is ${serial.length}`)

  if (tbs.signatureAlgorithms.some((algorithm) => algorithm !== OID.ecdsaWithSha256))
    problem('signatureAlgorithm: must be ecdsa-with-SHA256')

  const key = cert.publicKey.algorithm as { name?: string; namedCurve?: string }
  let point: Buffer | undefined
  try {
    point = pointOf(cert.publicKey.rawData)
  } catch {
    point = undefined
  }
  if (key.name !== 'ECDSA' || key.namedCurve !== 'P-256' || point?.length !== 65 || point[0] !== 4) {
    problem('subjectPublicKeyInfo: must be an ECDSA P-256 key with an uncompressed point')
  }

  if (!(cert.notAfter.getTime() > cert.notBefore.getTime())) problem('validity: notAfter must be after notBefore')

  // Subject
  const commonName = cert.subjectName.getField('CN')
  if (commonName.length !== 1 || !commonName[0]) problem('subject: must hold exactly one commonName (CN)')
  if (role !== 'ocsp_signer' && cert.subjectName.getField('O').length !== 1) problem('subject: must hold exactly one organizationName (O)')
  for (const type of tbs.subjectTypes.get(OID.domainComponent) ?? []) {
    if (type !== IA5_STRING) problem('subject: domainComponent (DC) must be an IA5String')
  }
  if (role === 'contract') {
    const cn = commonName[0] ?? ''
    const emaid = COMPACT_EMAID.test(cn) ? parseEmaid(cn) : null
    if (!emaid || !checkCharacterMatches(emaid)) {
      problem('subject: commonName must be the EMAID in upper case without separators, with its correct check character')
    }
    const dc = cert.subjectName.getField('DC')
    if (dc.length > 1 || (dc.length === 1 && dc[0] !== 'MO')) problem('subject: domainComponent (DC), when present, must be MO')
  }
  if (role === 'root' && !bytesEqual(cert.subjectName.toArrayBuffer(), cert.issuerName.toArrayBuffer())) {
    problem('issuer: a root certificate must be self-issued (issuer equal to subject)')
  }

  // Extensions
  const seen = new Set<string>()
  for (const extension of cert.extensions) {
    if (seen.has(extension.type)) problem(`extensions: ${extension.type} appears more than once`)
    seen.add(extension.type)
    if (extension.critical && !KNOWN_EXTENSIONS.has(extension.type))
      problem(`extensions: ${extension.type} is critical but not part of the profile`)
  }

  const keyUsage = cert.getExtension(x509.KeyUsagesExtension)
  if (!keyUsage) problem('keyUsage: must be present')
  else {
    if (!keyUsage.critical) problem('keyUsage: must be critical')
    if (keyUsage.usages !== profile.usages)
      problem(`keyUsage: must be exactly ${usageList(profile.usages)}, is ${usageList(keyUsage.usages)}`)
  }

  const constraints = cert.getExtension(x509.BasicConstraintsExtension)
  if (!constraints) problem('basicConstraints: must be present')
  else {
    if (!constraints.critical) problem('basicConstraints: must be critical')
    if (constraints.ca !== profile.ca) problem(`basicConstraints: cA must be ${profile.ca}`)
    if (constraints.pathLength !== profile.pathLength) {
      problem(
        profile.pathLength === undefined
          ? `basicConstraints: pathLenConstraint must be absent, is ${constraints.pathLength}`
          : `basicConstraints: pathLenConstraint must be ${profile.pathLength}, is ${constraints.pathLength ?? 'absent'}`,
      )
    }
  }

  const ski = cert.getExtension(x509.SubjectKeyIdentifierExtension)
  if (!ski?.keyId) problem('subjectKeyIdentifier: must be present')
  else if (ski.critical) problem('subjectKeyIdentifier: must not be critical')
  const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension)
  if (aki?.critical) problem('authorityKeyIdentifier: must not be critical')
  if (aki && !aki.keyId) problem('authorityKeyIdentifier: must carry a keyIdentifier')
  if (role === 'root') {
    if (aki?.keyId && ski?.keyId && aki.keyId !== ski.keyId)
      problem('authorityKeyIdentifier: of a self-signed root must equal its subjectKeyIdentifier')
  } else if (!aki) problem('authorityKeyIdentifier: must be present')

  const aia = cert.getExtension(x509.AuthorityInfoAccessExtension)
  const crlDp = cert.getExtension(x509.CRLDistributionPointsExtension)
  if (profile.revocationUrls) {
    if (!aia?.ocsp.some((name) => name.type === 'url' && /^https?:\/\//.test(name.value))) {
      problem('authorityInfoAccess: must carry an OCSP URL (chargers check revocation with it)')
    }
    if (!crlDistributionUrls(crlDp).some((url) => /^https?:\/\//.test(url))) problem('cRLDistributionPoints: must carry an http(s) URL')
  } else if (role === 'root') {
    if (aia) problem('authorityInfoAccess: a root certificate has none')
    if (crlDp) problem('cRLDistributionPoints: a root certificate has none')
  }
  if (aia?.critical) problem('authorityInfoAccess: must not be critical')
  if (crlDp?.critical) problem('cRLDistributionPoints: must not be critical')

  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)
  if (role === 'ocsp_signer') {
    if (!eku?.usages.includes(OID.ocspSigning)) problem('extendedKeyUsage: must include id-kp-OCSPSigning')
    const noCheck = cert.getExtension(OID.ocspNoCheck)
    if (!noCheck) problem('ocspNoCheck: the id-pkix-ocsp-nocheck extension must be present')
    else {
      if (noCheck.critical) problem('ocspNoCheck: must not be critical')
      if (!bytesEqual(noCheck.value, OCSP_NO_CHECK.value)) problem('ocspNoCheck: the value must be NULL')
    }
  } else if (eku?.usages.includes(OID.ocspSigning)) {
    problem('extendedKeyUsage: only the OCSP signer carries id-kp-OCSPSigning')
  }

  return problems
}

function crlDistributionUrls(extension: x509.CRLDistributionPointsExtension | null): string[] {
  const points = (extension?.distributionPoints ?? []) as Array<{
    distributionPoint?: { fullName?: Array<{ uniformResourceIdentifier?: string }> }
  }>
  return points.flatMap((point) => point.distributionPoint?.fullName?.flatMap((name) => name.uniformResourceIdentifier ?? []) ?? [])
}

function bytesEqual(a: ArrayBuffer, b: ArrayBuffer): boolean {
  return Buffer.from(a).equals(Buffer.from(b))
}

// ---------------------------------------------------------------------------------------------
// Chains

interface ChainLink {
  der: Buffer
  subject: Buffer
  issuer: Buffer
  keyId?: string
  authorityKeyId?: string
  native: NativeCertificate
}

/**
 * Orders the certificates of one chain from the top (the self-signed root, or the topmost one
 * given) down to the leaf. A link is a name match confirmed by the key identifiers (when both are
 * there) and by the signature.
 */
export function orderChain(ders: Buffer[]): Buffer[] {
  if (!Array.isArray(ders) || ders.length === 0) throw new FieldRuleError('certificates', 'must hold at least one certificate')
  const links: ChainLink[] = ders.map((der, index) => {
    let cert: x509.X509Certificate
    let native: NativeCertificate
    try {
      cert = new x509.X509Certificate(der)
      native = new NativeCertificate(der)
    } catch {
      throw new FieldRuleError('certificates', `certificate ${index + 1} is not a DER X.509 certificate`)
    }
    const keyId = cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId
    const authorityKeyId = cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId
    return {
      der,
      subject: Buffer.from(cert.subjectName.toArrayBuffer()),
      issuer: Buffer.from(cert.issuerName.toArrayBuffer()),
      ...(keyId ? { keyId } : {}),
      ...(authorityKeyId ? { authorityKeyId } : {}),
      native,
    }
  })
  for (let i = 0; i < links.length; i++) {
    for (let j = i + 1; j < links.length; j++) {
      if (links[i]!.der.equals(links[j]!.der)) throw new FieldRuleError('certificates', `certificates ${i + 1} and ${j + 1} are the same`)
    }
  }
  const issues = (parent: ChainLink, child: ChainLink) =>
    parent.subject.equals(child.issuer) &&
    (!parent.keyId || !child.authorityKeyId || parent.keyId === child.authorityKeyId) &&
    child.native.verify(parent.native.publicKey)

  const parentOf = new Map<ChainLink, ChainLink>()
  for (const child of links) {
    const parents = links.filter((parent) => parent !== child && issues(parent, child))
    if (parents.length > 1)
      throw new FieldRuleError('certificates', `${child.native.subject.replaceAll('\n', ', ')} has more than one issuer among them`)
    if (parents[0]) parentOf.set(child, parents[0])
  }
  const tops = links.filter((link) => !parentOf.has(link))
  if (tops.length !== 1) {
    throw new FieldRuleError('certificates', `do not form one chain: ${tops.length} certificates have no issuer among them`)
  }
  const childOf = new Map<ChainLink, ChainLink>()
  for (const [child, parent] of parentOf) {
    if (childOf.has(parent)) throw new FieldRuleError('certificates', 'do not form one chain: a certificate issued two of the others')
    childOf.set(parent, child)
  }
  const ordered: Buffer[] = []
  for (let link: ChainLink | undefined = tops[0]; link; link = childOf.get(link)) ordered.push(link.der)
  if (ordered.length !== links.length) throw new FieldRuleError('certificates', 'do not form one chain')
  return ordered
}
