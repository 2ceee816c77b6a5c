import { createPrivateKey, webcrypto } from 'node:crypto'
import * as asn1js from 'asn1js'
import {
  ContentInfo,
  CryptoEngine,
  EncryptedContentInfo,
  EncryptedData,
  PBES2Params,
  PFX,
  SafeContents,
  type AlgorithmIdentifier,
  type AuthenticatedSafe,
  type CertBag,
  type PKCS8ShroudedKeyBag,
  type PrivateKeyInfo,
} from 'pkijs'
import { FieldRuleError } from '../errors.ts'

/**
 * PKCS#12 (.p12 / .pfx) files as OpenSSL 3 writes them by default: certificates and PKCS#8 keys
 * encrypted with PBES2 (PBKDF2 with HMAC-SHA-256, AES-256-CBC), integrity by an HMAC-SHA-256 MAC.
 * The legacy algorithms (RC2, 3DES, RC4: `openssl pkcs12 -legacy`, older Windows exports) are
 * refused by name rather than decrypted: WebCrypto has none of them.
 */

export interface Pkcs12Contents {
  /** DER X.509 certificates, in the order of the file */
  certificates: Buffer[]
  /** DER PKCS#8 private keys, in the order of the file */
  privateKeys: Buffer[]
}

const FIELD = 'pkcs12'

// Passed to every pkijs call, so this module neither needs nor changes pkijs' global engine.
const engine = new CryptoEngine({
  name: 'node-webcrypto',
  crypto: webcrypto as unknown as ConstructorParameters<typeof CryptoEngine>[0]['crypto'],
})

const PBES2 = '1.2.840.113549.1.5.13'
const KEY_BAG = '1.2.840.113549.1.12.10.1.1'
const SHROUDED_KEY_BAG = '1.2.840.113549.1.12.10.1.2'
const CERT_BAG = '1.2.840.113549.1.12.10.1.3'
const X509_CERTIFICATE = '1.2.840.113549.1.9.22.1'
const PBES2_CIPHERS: Record<string, string> = {
  '2.16.840.1.101.3.4.1.2': 'AES-128-CBC',
  '2.16.840.1.101.3.4.1.22': 'AES-192-CBC',
  '2.16.840.1.101.3.4.1.42': 'AES-256-CBC',
}
const LEGACY_NAMES: Record<string, string> = {
  '1.2.840.113549.1.12.1.1': 'pbeWithSHAAnd128BitRC4',
  '1.2.840.113549.1.12.1.2': 'pbeWithSHAAnd40BitRC4',
  '1.2.840.113549.1.12.1.3': 'pbeWithSHAAnd3-KeyTripleDES-CBC',
  '1.2.840.113549.1.12.1.4': 'pbeWithSHAAnd2-KeyTripleDES-CBC',
  '1.2.840.113549.1.12.1.5': 'pbeWithSHAAnd128BitRC2-CBC',
  '1.2.840.113549.1.12.1.6': 'pbeWithSHAAnd40BitRC2-CBC',
  '1.2.840.113549.1.5.3': 'pbeWithMD5AndDES-CBC',
  '1.2.840.113549.1.5.10': 'pbeWithSHA1AndDES-CBC',
  '1.2.840.113549.3.7': 'DES-EDE3-CBC',
  '1.2.840.113549.3.2': 'RC2-CBC',
}

export class Pkcs12Error extends FieldRuleError {
  constructor(rule: string) {
    super(FIELD, rule)
  }
}

const WRONG_PASSWORD = 'the password is wrong (or the file is damaged)'

/** The certificates and private keys of a PKCS#12 file protected by `password`. */
export async function readPkcs12(der: Buffer, password: string): Promise<Pkcs12Contents> {
  try {
    return await read(der, password)
  } catch (error) {
    if (error instanceof FieldRuleError) throw error
    // pkijs throws plain errors for structures that do not match their schema deep inside the file.
    throw new Pkcs12Error('is not a well-formed PKCS#12 file')
  }
}

async function read(der: Buffer, password: string): Promise<Pkcs12Contents> {
  const pfx = parsePfx(der)
  const passwordBytes = toArrayBuffer(Buffer.from(password, 'utf8'))
  if (pfx.authSafe.contentType !== ContentInfo.DATA) {
    throw new Pkcs12Error('is protected by a public-key signature, not a password: not supported')
  }
  try {
    // A file without a MAC (`-nomac`) is still read: a wrong password then fails the decryption.
    await pfx.parseInternalValues({ password: passwordBytes, checkIntegrity: pfx.macData !== undefined }, engine)
  } catch (error) {
    if (/integrity/i.test((error as Error).message)) throw new Pkcs12Error(WRONG_PASSWORD)
    throw new Pkcs12Error(`has an integrity check this reader does not support (${(error as Error).message})`)
  }
  const authenticatedSafe = pfx.parsedValue?.authenticatedSafe
  if (!authenticatedSafe) throw new Pkcs12Error('is not a PKCS#12 file')

  const certificates: Buffer[] = []
  const privateKeys: Buffer[] = []
  for (const safe of await openSafes(authenticatedSafe, passwordBytes)) {
    for (const bag of safe.safeBags) {
      if (bag.bagId === CERT_BAG) {
        const certBag = bag.bagValue as CertBag
        if (certBag.certId !== X509_CERTIFICATE) continue
        certificates.push(Buffer.from((certBag.certValue as asn1js.OctetString).valueBlock.valueHexView))
      } else if (bag.bagId === SHROUDED_KEY_BAG) {
        privateKeys.push(await decryptKey(bag.bagValue as PKCS8ShroudedKeyBag, passwordBytes))
      } else if (bag.bagId === KEY_BAG) {
        privateKeys.push(normalizedKey(Buffer.from((bag.bagValue as PrivateKeyInfo).toSchema().toBER(false))))
      }
      // CRL, secret and nested bags carry nothing the platform reads.
    }
  }
  return { certificates, privateKeys }
}

function parsePfx(der: Buffer): PFX {
  const parsed = asn1js.fromBER(new Uint8Array(der.buffer, der.byteOffset, der.byteLength))
  if (der.length === 0 || parsed.offset !== der.length || parsed.result.error) throw new Pkcs12Error('is not a PKCS#12 file (not DER)')
  try {
    return new PFX({ schema: parsed.result })
  } catch {
    throw new Pkcs12Error('is not a PKCS#12 file')
  }
}

async function openSafes(authenticatedSafe: AuthenticatedSafe, password: ArrayBuffer): Promise<SafeContents[]> {
  const safes: SafeContents[] = []
  for (const content of authenticatedSafe.safeContents) {
    let bytes: ArrayBuffer
    if (content.contentType === ContentInfo.DATA) {
      bytes = toArrayBuffer(Buffer.from((content.content as asn1js.OctetString).getValue()))
    } else if (content.contentType === ContentInfo.ENCRYPTED_DATA) {
      const encrypted = new EncryptedData({ schema: content.content })
      checkEncryption(encrypted.encryptedContentInfo.contentEncryptionAlgorithm, 'certificates')
      bytes = await decrypt(encrypted, password)
    } else {
      throw new Pkcs12Error('holds content encrypted for a recipient key, not a password: not supported')
    }
    try {
      safes.push(SafeContents.fromBER(bytes))
    } catch {
      // Without a MAC, a wrong password can decrypt to padding-valid garbage.
      throw new Pkcs12Error(WRONG_PASSWORD)
    }
  }
  return safes
}

async function decrypt(encrypted: EncryptedData, password: ArrayBuffer): Promise<ArrayBuffer> {
  try {
    return await encrypted.decrypt({ password }, engine)
  } catch {
    throw new Pkcs12Error(WRONG_PASSWORD)
  }
}

async function decryptKey(bag: PKCS8ShroudedKeyBag, password: ArrayBuffer): Promise<Buffer> {
  checkEncryption(bag.encryptionAlgorithm, 'private key')
  // The bag's own decryption is protected in pkijs' types; it is this EncryptedData, done here.
  const encrypted = new EncryptedData({
    encryptedContentInfo: new EncryptedContentInfo({
      contentEncryptionAlgorithm: bag.encryptionAlgorithm,
      encryptedContent: bag.encryptedData,
    }),
  })
  const decrypted = await decrypt(encrypted, password)
  return normalizedKey(Buffer.from(decrypted))
}

/** PBES2 with AES is what WebCrypto can decrypt; anything else is named in the refusal. */
function checkEncryption(algorithm: AlgorithmIdentifier, what: string) {
  const oid = algorithm.algorithmId
  if (oid !== PBES2) {
    const name = LEGACY_NAMES[oid] ?? oid
    throw new Pkcs12Error(
      `encrypts its ${what} with ${name}, a legacy algorithm that is not supported: export it again with OpenSSL 3 defaults (PBES2, AES-256-CBC), without -legacy`,
    )
  }
  let cipher: string
  try {
    cipher = new PBES2Params({ schema: algorithm.algorithmParams }).encryptionScheme.algorithmId
  } catch {
    throw new Pkcs12Error(`encrypts its ${what} with malformed PBES2 parameters`)
  }
  if (!PBES2_CIPHERS[cipher]) {
    throw new Pkcs12Error(`encrypts its ${what} with PBES2 and ${LEGACY_NAMES[cipher] ?? cipher}, which is not supported: only AES-CBC is`)
  }
}

/** The key as node re-encodes it: proof it is a usable PKCS#8 key, in one canonical DER form. */
function normalizedKey(der: Buffer): Buffer {
  try {
    return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' }).export({ format: 'der', type: 'pkcs8' })
  } catch {
    throw new Pkcs12Error('holds a private key that is not a valid PKCS#8 key')
  }
}

function toArrayBuffer(bytes: Buffer): ArrayBuffer {
  return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
}
