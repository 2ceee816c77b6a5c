// The ISO 15118-2 private-key envelope, checked byte for byte against a published construction and
// end to end as a car would open it. Pure: no platform.
import { strict as assert } from 'node:assert'
import { createECDH, generateKeyPairSync } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { describe, it } from 'node:test'
import {
  DH_PUBLIC_KEY_BYTES,
  ENCRYPTED_KEY_BYTES,
  KeyEnvelopeError,
  keyMatchesPoint,
  openContractKey,
  publicPointOf,
  sealContractKey,
  sessionKeyOf,
} from '../src/core/pki/key-envelope.ts'

const vector = JSON.parse(readFileSync(new URL('../spec/vectors/iso15118-2-key-envelope.json', import.meta.url), 'utf8')) as Record<
  string,
  string
>
const hex = (name: string) => Buffer.from(vector[name]!, 'hex')

/** A fresh P-256 key pair as raw scalar and uncompressed point, as a car's provisioning key would be. */
function rawKeyPair() {
  const ecdh = createECDH('prime256v1')
  ecdh.generateKeys()
  return { d: ecdh.getPrivateKey(), point: ecdh.getPublicKey() }
}

describe('the ISO 15118-2 contract key envelope', () => {
  it('derives the published session key from the shared secret with the concatenation KDF', () => {
    assert.equal(sessionKeyOf(hex('sharedSecretZ')).toString('hex'), vector.sessionKey)
  })

  it('matches the published vector byte for byte with fixed keys and IV', () => {
    assert.equal(publicPointOf(hex('oemProvisioningPrivateKey')).toString('hex'), vector.oemProvisioningPublicKey)
    const envelope = sealContractKey({
      contractPrivateKey: hex('contractPrivateKey'),
      peerPublicKey: hex('oemProvisioningPublicKey'),
      ephemeralPrivateKey: hex('ephemeralPrivateKey'),
      iv: hex('iv'),
    })
    assert.equal(envelope.dhPublicKey.toString('hex'), vector.dhPublicKey)
    assert.equal(envelope.encryptedPrivateKey.toString('hex'), vector.encryptedPrivateKey)
    assert.equal(envelope.encryptedPrivateKey.length, ENCRYPTED_KEY_BYTES)
    assert.equal(envelope.dhPublicKey.length, DH_PUBLIC_KEY_BYTES)
  })

  it('is opened by the car with its provisioning key, and d·G equals the contract public key', () => {
    const oem = rawKeyPair()
    const contract = rawKeyPair()
    const envelope = sealContractKey({ contractPrivateKey: contract.d, peerPublicKey: oem.point })
    const recovered = openContractKey(envelope, oem.d)
    assert.equal(recovered.length, 32)
    assert.ok(keyMatchesPoint(recovered, contract.point))
  })

  it('yields a different key, not the contract key, for the holder of a wrong private key', () => {
    const oem = rawKeyPair()
    const stranger = rawKeyPair()
    const contract = rawKeyPair()
    const envelope = sealContractKey({ contractPrivateKey: contract.d, peerPublicKey: oem.point })
    const recovered = openContractKey(envelope, stranger.d)
    assert.ok(!keyMatchesPoint(recovered, contract.point))
  })

  it('keeps a private scalar with leading zero bytes at 32 bytes', () => {
    const oem = rawKeyPair()
    const small = Buffer.from('00000000000000000000000000000000000000000000000000000000000000ff', 'hex').subarray(31)
    const envelope = sealContractKey({ contractPrivateKey: small, peerPublicKey: oem.point })
    const recovered = openContractKey(envelope, oem.d)
    assert.equal(recovered.toString('hex'), '00'.repeat(31) + 'ff')
  })

  it('refuses a peer key that is not an uncompressed P-256 point', () => {
    const contract = rawKeyPair()
    assert.throws(() => sealContractKey({ contractPrivateKey: contract.d, peerPublicKey: Buffer.alloc(33, 2) }), KeyEnvelopeError)
    const bogus = Buffer.concat([Buffer.from([4]), Buffer.alloc(64, 1)])
    assert.throws(() => sealContractKey({ contractPrivateKey: contract.d, peerPublicKey: bogus }), KeyEnvelopeError)
  })

  it('refuses an envelope of the wrong length', () => {
    const oem = rawKeyPair()
    assert.throws(
      () => openContractKey({ encryptedPrivateKey: Buffer.alloc(47), dhPublicKey: oem.point }, oem.d),
      /48 bytes, got 47/,
    )
  })

  it('accepts a key pair made by node:crypto when exported as a raw scalar', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
    const jwk = privateKey.export({ format: 'jwk' })
    const point = publicKey.export({ format: 'der', type: 'spki' }).subarray(-65)
    assert.ok(keyMatchesPoint(Buffer.from(jwk.d!, 'base64url'), point))
  })
})
