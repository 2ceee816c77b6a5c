// A vehicle OEM's PKI for tests of the provisioning certificate check and for the OPCP simulator's
// vehicles, built in memory with @peculiar/x509 and WebCrypto: a self-signed root, OEM Sub-CA 1
// and 2, and a provisioning certificate for a PCID as ISO 15118-2 profiles it. Overrides make the
// bad ones. The CA part is made once per process (key generation is the slow step); each call
// issues a fresh leaf.
import { KeyObject, webcrypto } from 'node:crypto'
import * as x509 from '@peculiar/x509'
import * as asn1js from 'asn1js'
import * as pkijs from 'pkijs'

type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair
// The libraries' typings name the DOM's Crypto; node's webcrypto is that object.
const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>
const EC_KEY = { name: 'ECDSA', namedCurve: 'P-256' } as const
const DAY = 24 * 3600 * 1000

export const ROOT_NAME = 'CN=OEM Root CA, O=openpnc test OEM, C=DE'
export const SUB_CA_1_NAME = 'CN=OEM Sub-CA 1, O=openpnc test OEM, C=DE'
export const SUB_CA_2_NAME = 'CN=OEM Sub-CA 2, O=openpnc test OEM, C=DE'
/** An extension no verifier knows, for "unknown critical extension" (a private-enterprise arc). */
export const UNKNOWN_EXTENSION_OID = '1.3.6.1.4.1.55555.1.1'

export interface OemPkiOptions {
  pcid: string
  /** the subject CN, when it must not be the PCID */
  commonName?: string
  notBefore?: Date
  notAfter?: Date
  /** KeyUsage flags (default digitalSignature | keyAgreement); null leaves the extension out */
  keyUsage?: x509.KeyUsageFlags | null
  keyUsageCritical?: boolean
  keyAlgorithm?: 'P-256' | 'P-384' | 'RSA'
  /** the hash Sub-CA 2 signs with (default SHA-256) */
  signatureHash?: 'SHA-256' | 'SHA-384'
  /** BasicConstraints cA true */
  ca?: boolean
  unknownCriticalExtension?: boolean
  /** 1 makes an X.509 v1 certificate (no extensions at all) */
  version?: 1 | 3
  /** issue the certificate under a fresh root and Sub-CAs with the same names as the real ones */
  strangerRoot?: boolean
  /** issue the certificate under a Sub-CA 3 below Sub-CA 2, which allows none (pathLenConstraint 0) */
  subCa3?: boolean
  /** a fresh Sub-CA 2 (under the real Sub-CA 1) with these changes */
  subCa2?: { notBefore?: Date; notAfter?: Date; ca?: boolean; keyUsage?: x509.KeyUsageFlags }
}

export interface OemPki {
  pcid: string
  root: Buffer
  subCa1: Buffer
  subCa2: Buffer
  provisioning: Buffer
  provisioningKey: KeyObject
  /** the chain a car sends with its certificate: (Sub-CA 3,) Sub-CA 2, then Sub-CA 1 */
  chain: Buffer[]
}

interface Issued {
  der: Buffer
  certificate: x509.X509Certificate
  keys: CryptoKeyPair
}

interface CaPart {
  root: Issued
  subCa1: Issued
  subCa2: Issued
}

let fixedCa: Promise<CaPart> | undefined

export async function makeOemPki(options: OemPkiOptions): Promise<OemPki> {
  fixedCa ??= makeCaPart()
  let ca = options.strangerRoot ? await makeCaPart() : await fixedCa
  if (options.subCa2) {
    const { notBefore, notAfter, ca: isCa = true, keyUsage } = options.subCa2
    ca = { ...ca, subCa2: await issueCa(SUB_CA_2_NAME, ca.subCa1, { pathLength: 0, notBefore, notAfter, ca: isCa, keyUsage }) }
  }
  const subCa3 = options.subCa3 ? await issueCa('CN=OEM Sub-CA 3, O=openpnc test OEM, C=DE', ca.subCa2, { pathLength: 0 }) : undefined
  const issuer = subCa3 ?? ca.subCa2
  const keys = await generateKeys(options.keyAlgorithm ?? 'P-256')
  const now = Date.now()
  const notBefore = options.notBefore ?? new Date(now - DAY)
  const notAfter = options.notAfter ?? new Date(now + 365 * DAY)
  const commonName = options.commonName ?? options.pcid
  const hash = options.signatureHash ?? 'SHA-256'
  const provisioning =
    options.version === 1
      ? await issueVersion1(commonName, issuer, keys.publicKey, notBefore, notAfter)
      : await issueProvisioning(options, commonName, issuer, keys.publicKey, notBefore, notAfter, hash)
  return {
    pcid: options.pcid,
    root: ca.root.der,
    subCa1: ca.subCa1.der,
    subCa2: ca.subCa2.der,
    provisioning,
    provisioningKey: KeyObject.from(keys.privateKey),
    chain: [...(subCa3 ? [subCa3.der] : []), ca.subCa2.der, ca.subCa1.der],
  }
}

/** The DER of the OEM root every default call issues under (made on first use). */
export async function oemRootCertificate(): Promise<Buffer> {
  fixedCa ??= makeCaPart()
  return (await fixedCa).root.der
}

async function makeCaPart(): Promise<CaPart> {
  const keys = await generateKeys('P-256')
  const now = Date.now()
  const extensions = [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
  ]
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: ROOT_NAME,
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + 3650 * DAY),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions,
    },
    crypto,
  )
  const root = { der: Buffer.from(certificate.rawData), certificate, keys }
  const subCa1 = await issueCa(SUB_CA_1_NAME, root, { pathLength: 1 })
  const subCa2 = await issueCa(SUB_CA_2_NAME, subCa1, { pathLength: 0 })
  return { root, subCa1, subCa2 }
}

async function issueCa(
  name: string,
  issuer: Issued,
  options: { pathLength: number; notBefore?: Date; notAfter?: Date; ca?: boolean; keyUsage?: x509.KeyUsageFlags },
): Promise<Issued> {
  const keys = await generateKeys('P-256')
  const now = Date.now()
  const isCa = options.ca ?? true
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: name,
      issuer: issuer.certificate.subjectName,
      notBefore: options.notBefore ?? new Date(now - DAY),
      notAfter: options.notAfter ?? new Date(now + 3650 * DAY),
      publicKey: keys.publicKey,
      signingKey: issuer.keys.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(isCa, isCa ? options.pathLength : undefined, true),
        new x509.KeyUsagesExtension(options.keyUsage ?? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey, false, crypto),
      ],
    },
    crypto,
  )
  return { der: Buffer.from(certificate.rawData), certificate, keys }
}

async function issueProvisioning(
  options: OemPkiOptions,
  commonName: string,
  issuer: Issued,
  publicKey: CryptoKey,
  notBefore: Date,
  notAfter: Date,
  hash: string,
): Promise<Buffer> {
  const extensions: x509.Extension[] = [new x509.BasicConstraintsExtension(options.ca ?? false, undefined, true)]
  const keyUsage = options.keyUsage === undefined ? x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement : options.keyUsage
  if (keyUsage !== null) extensions.push(new x509.KeyUsagesExtension(keyUsage, options.keyUsageCritical ?? true))
  extensions.push(
    await x509.SubjectKeyIdentifierExtension.create(publicKey, false, crypto),
    await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey, false, crypto),
  )
  if (options.unknownCriticalExtension) {
    extensions.push(new x509.Extension(UNKNOWN_EXTENSION_OID, true, new asn1js.Null().toBER(false)))
  }
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: `CN=${commonName}, O=openpnc test OEM, C=DE`,
      issuer: issuer.certificate.subjectName,
      notBefore,
      notAfter,
      publicKey,
      signingKey: issuer.keys.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash },
      extensions,
    },
    crypto,
  )
  return Buffer.from(certificate.rawData)
}

/** @peculiar/x509 writes only v3, so pkijs builds the v1 certificate (which has no extensions). */
async function issueVersion1(commonName: string, issuer: Issued, publicKey: CryptoKey, notBefore: Date, notAfter: Date): Promise<Buffer> {
  const engine = new pkijs.CryptoEngine({
    name: 'test',
    crypto: webcrypto as unknown as ConstructorParameters<typeof pkijs.CryptoEngine>[0]['crypto'],
  })
  const certificate = new pkijs.Certificate()
  certificate.version = 0
  certificate.serialNumber = new asn1js.Integer({ valueHex: Buffer.from(serial(), 'hex') })
  certificate.issuer = pkijs.RelativeDistinguishedNames.fromBER(issuer.certificate.subjectName.toArrayBuffer())
  certificate.subject.typesAndValues.push(
    new pkijs.AttributeTypeAndValue({ type: '2.5.4.3', value: new asn1js.Utf8String({ value: commonName }) }),
  )
  certificate.notBefore.value = notBefore
  certificate.notAfter.value = notAfter
  await certificate.subjectPublicKeyInfo.importKey(publicKey, engine)
  await certificate.sign(issuer.keys.privateKey, 'SHA-256', engine)
  return Buffer.from(certificate.toSchema(true).toBER(false))
}

async function generateKeys(algorithm: 'P-256' | 'P-384' | 'RSA'): Promise<CryptoKeyPair> {
  const params =
    algorithm === 'RSA'
      ? { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }
      : algorithm === 'P-384'
        ? { name: 'ECDSA', namedCurve: 'P-384' }
        : EC_KEY
  return (await webcrypto.subtle.generateKey(params, true, ['sign', 'verify'])) as CryptoKeyPair
}

/** A positive serial number of 16 random bytes (the top bit clear, so no sign byte is needed). */
function serial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16))
  bytes[0] = (bytes[0]! & 0x7f) | 0x01
  return Buffer.from(bytes).toString('hex')
}
