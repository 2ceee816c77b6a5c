import { createCipheriv, createDecipheriv, createECDH, createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * The ISO 15118-2 private-key envelope of CertificateInstallationRes / CertificateUpdateRes
 * (V2G2-814..823): the contract's private key travels to the car encrypted for one key the car
 * holds (its OEM provisioning key, or its current contract key on an update).
 *
 * An ephemeral-static ECDH on secp256r1 gives Z (the shared point's x-coordinate); the NIST SP
 * 800-56A concatenation KDF with SHA-256 and OtherInfo 01 55 56 turns it into a 128-bit key; the
 * 32-byte private scalar is encrypted with AES-128-CBC without padding (it is two blocks long).
 */

const CURVE = 'prime256v1'
/** AlgorithmID 0x01, PartyUInfo 'U', PartyVInfo 'V' (ISO 15118-2 V2G2-818). */
const OTHER_INFO = Buffer.from([0x01, 0x55, 0x56])
const COUNTER_1 = Buffer.from([0, 0, 0, 1])

export const ENCRYPTED_KEY_BYTES = 48
export const DH_PUBLIC_KEY_BYTES = 65
const SCALAR_BYTES = 32

export interface KeyEnvelope {
  /** ContractSignatureEncryptedPrivateKey: IV (16) || AES-128-CBC(d) (32) */
  encryptedPrivateKey: Buffer
  /** DHpublickey: the ephemeral public key, uncompressed 04 || X || Y */
  dhPublicKey: Buffer
}

export class KeyEnvelopeError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'KeyEnvelopeError'
  }
}

/** The session key from Z: the first 16 bytes of SHA-256(00000001 || Z || OtherInfo). */
export function sessionKeyOf(sharedSecretZ: Buffer): Buffer {
  return createHash('sha256').update(COUNTER_1).update(sharedSecretZ).update(OTHER_INFO).digest().subarray(0, 16)
}

/** The 32-byte big-endian scalar, left-padded: a private key with leading zero bytes is still 32 bytes. */
export function scalarBytes(d: Buffer): Buffer {
  if (d.length > SCALAR_BYTES) throw new KeyEnvelopeError(`a P-256 private scalar has at most ${SCALAR_BYTES} bytes, got ${d.length}`)
  return d.length === SCALAR_BYTES ? d : Buffer.concat([Buffer.alloc(SCALAR_BYTES - d.length), d])
}

/** d·G, uncompressed: what a certificate holding the key for `d` must carry. */
export function publicPointOf(d: Buffer): Buffer {
  const ecdh = createECDH(CURVE)
  ecdh.setPrivateKey(scalarBytes(d))
  return ecdh.getPublicKey()
}

function checkPoint(point: Buffer, what: string) {
  if (point.length !== DH_PUBLIC_KEY_BYTES || point[0] !== 0x04) {
    throw new KeyEnvelopeError(`${what} must be an uncompressed P-256 point (65 bytes starting 04), got ${point.length} bytes`)
  }
}

/**
 * Encrypts the contract private scalar `contractPrivateKey` for the holder of `peerPublicKey`.
 * `ephemeralPrivateKey` and `iv` exist for the byte-exact test vector; in use both are fresh.
 */
export function sealContractKey(input: {
  contractPrivateKey: Buffer
  peerPublicKey: Buffer
  ephemeralPrivateKey?: Buffer
  iv?: Buffer
}): KeyEnvelope {
  checkPoint(input.peerPublicKey, 'the peer public key')
  const ephemeral = createECDH(CURVE)
  if (input.ephemeralPrivateKey) ephemeral.setPrivateKey(scalarBytes(input.ephemeralPrivateKey))
  else ephemeral.generateKeys()
  let z: Buffer
  try {
    z = ephemeral.computeSecret(input.peerPublicKey)
  } catch {
    throw new KeyEnvelopeError('the peer public key is not a point on P-256')
  }
  const iv = input.iv ?? randomBytes(16)
  const cipher = createCipheriv('aes-128-cbc', sessionKeyOf(z), iv).setAutoPadding(false)
  const encrypted = Buffer.concat([cipher.update(scalarBytes(input.contractPrivateKey)), cipher.final()])
  return { encryptedPrivateKey: Buffer.concat([iv, encrypted]), dhPublicKey: ephemeral.getPublicKey() }
}

/** What the car does: recovers the contract private scalar with its own private key `recipientPrivateKey`. */
export function openContractKey(envelope: KeyEnvelope, recipientPrivateKey: Buffer): Buffer {
  if (envelope.encryptedPrivateKey.length !== ENCRYPTED_KEY_BYTES) {
    throw new KeyEnvelopeError(`the encrypted private key must be ${ENCRYPTED_KEY_BYTES} bytes, got ${envelope.encryptedPrivateKey.length}`)
  }
  checkPoint(envelope.dhPublicKey, 'DHpublickey')
  const recipient = createECDH(CURVE)
  recipient.setPrivateKey(scalarBytes(recipientPrivateKey))
  const key = sessionKeyOf(recipient.computeSecret(envelope.dhPublicKey))
  const decipher = createDecipheriv('aes-128-cbc', key, envelope.encryptedPrivateKey.subarray(0, 16)).setAutoPadding(false)
  return Buffer.concat([decipher.update(envelope.encryptedPrivateKey.subarray(16)), decipher.final()])
}

/** True when `d` is the private key of the public point `point` (the check before a contract is released). */
export function keyMatchesPoint(d: Buffer, point: Buffer): boolean {
  const derived = publicPointOf(d)
  return derived.length === point.length && timingSafeEqual(derived, point)
}
