// Certificates and keys as operators paste or upload them (base64 DER, PEM, DER bytes), read into
// DER or refused naming the field and what is wrong. Pure: no platform.
import { strict as assert } from 'node:assert'
import { generateKeyPairSync } from 'node:crypto'
import { before, describe, it } from 'node:test'
import { FieldRuleError } from '../src/core/errors.ts'
import { decodeCertificates, PkiEncodingError, readPrivateKey, toPem } from '../src/core/pki/encoding.ts'
import { makeOemPki, type OemPki } from './oem-pki.ts'

let pki: OemPki

before(async () => {
  pki = await makeOemPki({ pcid: 'WP0ZZZ99ZSS012345' })
})

/** The rule of the PkiEncodingError `read` throws for `field`. */
function refusal(read: () => unknown, field = 'certificate'): string {
  try {
    read()
  } catch (error) {
    assert.ok(error instanceof PkiEncodingError, `a PkiEncodingError, got ${String(error)}`)
    assert.ok(error instanceof FieldRuleError)
    assert.equal(error.field, field)
    assert.equal(error.message, `${field}: ${error.rule}`)
    return error.rule
  }
  assert.fail('the input was accepted')
}

const p256 = () => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey

describe('reading certificates', () => {
  it('reads a PEM certificate into its DER, and writes it back as the same PEM', () => {
    const pem = toPem(pki.provisioning)
    assert.deepEqual(decodeCertificates(pem, 'certificate'), [pki.provisioning])
    assert.ok(pem.split('\n').every((line) => line.length <= 64))
    assert.ok(pem.startsWith('-----BEGIN CERTIFICATE-----\n') && pem.endsWith('-----END CERTIFICATE-----\n'))
  })

  it('reads several PEM certificates in order, with the text OpenSSL writes between them', () => {
    const bundle = `subject=CN = leaf\n${toPem(pki.provisioning)}\nsubject=CN = OEM Sub-CA 2\n${toPem(pki.subCa2)}${toPem(pki.subCa1)}`
    assert.deepEqual(decodeCertificates(bundle, 'certificate'), [pki.provisioning, pki.subCa2, pki.subCa1])
    assert.deepEqual(decodeCertificates(Buffer.from(bundle), 'certificate'), [pki.provisioning, pki.subCa2, pki.subCa1])
  })

  it('reads base64 DER, wrapped or not, and in the URL-safe alphabet', () => {
    const base64 = pki.root.toString('base64')
    assert.deepEqual(decodeCertificates(base64, 'certificate'), [pki.root])
    assert.deepEqual(decodeCertificates(base64.replace(/.{76}/g, '$&\r\n'), 'certificate'), [pki.root])
    assert.deepEqual(decodeCertificates(pki.root.toString('base64url'), 'certificate'), [pki.root])
  })

  it('reads DER bytes, one certificate or several end to end', () => {
    assert.deepEqual(decodeCertificates(pki.subCa1, 'certificate'), [pki.subCa1])
    assert.deepEqual(decodeCertificates(Buffer.concat([pki.subCa2, pki.subCa1]), 'certificate'), [pki.subCa2, pki.subCa1])
  })

  it('refuses empty input', () => {
    assert.equal(
      refusal(() => decodeCertificates('', 'certificate')),
      'is empty',
    )
    assert.equal(
      refusal(() => decodeCertificates(' \n', 'certificate')),
      'is empty',
    )
    assert.equal(
      refusal(() => decodeCertificates(Buffer.alloc(0), 'certificate')),
      'is empty',
    )
  })

  it('refuses text that is not base64, and base64 that is not a certificate', () => {
    assert.equal(
      refusal(() => decodeCertificates('not a certificate!', 'chain[0]'), 'chain[0]'),
      'is not base64 (nor PEM or DER)',
    )
    assert.equal(
      refusal(() => decodeCertificates(Buffer.from('hello').toString('base64'), 'certificate')),
      'is base64 but not DER',
    )
    const keyDer = p256().export({ format: 'der', type: 'pkcs8' })
    assert.equal(
      refusal(() => decodeCertificates(keyDer.toString('base64'), 'certificate')),
      'is not an X.509 certificate',
    )
    assert.equal(
      refusal(() => decodeCertificates(keyDer, 'certificate')),
      'is not an X.509 certificate',
    )
  })

  it('refuses a private key pasted as a certificate, and broken PEM', () => {
    const keyPem = p256().export({ format: 'pem', type: 'pkcs8' }) as string
    assert.equal(
      refusal(() => decodeCertificates(toPem(pki.root) + keyPem, 'certificate')),
      'holds a PEM PRIVATE KEY block, not a CERTIFICATE',
    )
    assert.equal(
      refusal(() => decodeCertificates(toPem(pki.root).replace('-----END CERTIFICATE-----', ''), 'certificate')),
      'has a PEM BEGIN line without its END line',
    )
    assert.equal(
      refusal(() => decodeCertificates('-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n', 'certificate')),
      'has a PEM CERTIFICATE block that is not base64',
    )
  })

  it('refuses a certificate in BER that is not DER (a length in more bytes than it needs)', () => {
    const der = pki.root
    assert.equal(der[1], 0x82, 'the test root has a two-byte length')
    const ber = Buffer.concat([Buffer.from([0x30, 0x83, 0x00, der[2]!, der[3]!]), der.subarray(4)])
    assert.equal(
      refusal(() => decodeCertificates(ber, 'certificate')),
      'is not a DER-encoded X.509 certificate',
    )
  })

  it('refuses bytes after a DER certificate', () => {
    assert.equal(
      refusal(() => decodeCertificates(Buffer.concat([pki.root, Buffer.from([1, 2, 3])]), 'certificate')),
      'the bytes after certificate 1 are not DER (nor base64 or PEM)',
    )
  })
})

describe('reading a private key', () => {
  it('reads a P-256 key from PKCS#8 and SEC1 PEM, DER and base64', () => {
    const key = p256()
    const expected = key.export({ format: 'jwk' }).d
    const forms: Array<string | Buffer> = [
      key.export({ format: 'pem', type: 'pkcs8' }),
      key.export({ format: 'pem', type: 'sec1' }),
      key.export({ format: 'der', type: 'pkcs8' }),
      key.export({ format: 'der', type: 'sec1' }),
      key.export({ format: 'der', type: 'pkcs8' }).toString('base64'),
      // What `openssl ecparam -genkey` writes: the curve, then the key.
      `-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n${key.export({ format: 'pem', type: 'sec1' })}`,
    ]
    for (const form of forms) assert.equal(readPrivateKey(form, 'privateKey').export({ format: 'jwk' }).d, expected)
  })

  it('refuses keys that are not P-256, encrypted keys, and certificates', () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ format: 'pem', type: 'pkcs8' })
    assert.equal(
      refusal(() => readPrivateKey(rsa, 'privateKey'), 'privateKey'),
      'is not an EC P-256 key (it is RSA)',
    )
    const p384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' }).privateKey.export({ format: 'der', type: 'pkcs8' })
    assert.equal(
      refusal(() => readPrivateKey(p384, 'privateKey'), 'privateKey'),
      'is an EC key on secp384r1, not P-256',
    )
    const encrypted = p256().export({ format: 'pem', type: 'pkcs8', cipher: 'aes-256-cbc', passphrase: 'secret' })
    assert.equal(
      refusal(() => readPrivateKey(encrypted, 'privateKey'), 'privateKey'),
      'is an encrypted private key; give it unencrypted',
    )
    const legacyEncrypted = p256().export({ format: 'pem', type: 'sec1', cipher: 'aes-256-cbc', passphrase: 'secret' })
    assert.match(
      refusal(() => readPrivateKey(legacyEncrypted, 'privateKey'), 'privateKey'),
      /with headers \(an encrypted key\?\)$/,
    )
    assert.equal(
      refusal(() => readPrivateKey(toPem(pki.root), 'privateKey'), 'privateKey'),
      'holds a PEM CERTIFICATE block, not a PRIVATE KEY or EC PRIVATE KEY',
    )
    assert.equal(
      refusal(() => readPrivateKey(pki.root, 'privateKey'), 'privateKey'),
      'is not a PKCS#8 or SEC1 EC private key',
    )
    assert.equal(
      refusal(() => readPrivateKey('', 'privateKey'), 'privateKey'),
      'is empty',
    )
  })
})
