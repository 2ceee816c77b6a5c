// The Mobility Operator CA's CRL: built, then read and verified by `openssl crl` and
// `openssl verify -crl_check` as a relying party would, and by @peculiar/x509. Pure: no platform.
import { strict as assert } from 'node:assert'
import { webcrypto } from 'node:crypto'
import { after, before, describe, it } from 'node:test'
import * as x509 from '@peculiar/x509'
import * as pkijs from 'pkijs'
import { FieldRuleError } from '../src/core/errors.ts'
import { type CrlInput, buildCrl } from '../src/core/pki/crl.ts'
import { type RevocationPki, Scratch, makeRevocationPki, opensslMissing } from './revocation-pki.ts'

const NO_OPENSSL = opensslMissing()
const THIS_UPDATE = new Date('2025-06-01T10:00:00.250Z')
const NEXT_UPDATE = new Date('2025-06-08T10:00:00Z')
const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }

let pki: RevocationPki
let scratch: Scratch

before(async () => {
  pki = await makeRevocationPki()
  scratch = new Scratch()
  scratch.writePem('ca.pem', pki.ca)
  scratch.writePem('leaf1.pem', pki.leaf1)
  scratch.writePem('leaf2.pem', pki.leaf2)
  scratch.writePem('signer.pem', pki.ocspSigner)
})

after(() => scratch?.remove())

function crlOf(overrides: Partial<CrlInput> = {}): Promise<Buffer> {
  return buildCrl({
    issuer: { certificateDer: pki.ca.der, privateKey: pki.ca.keys.privateKey },
    crlNumber: 42n,
    thisUpdate: THIS_UPDATE,
    nextUpdate: NEXT_UPDATE,
    entries: [
      { serialNumber: pki.leaf1.cert.serialNumber, revokedAt: new Date('2025-05-30T08:15:00Z'), reason: 'keyCompromise' },
      { serialNumber: pki.leaf2.cert.serialNumber.toUpperCase(), revokedAt: new Date('2025-05-31T09:30:00.999Z'), reason: 'superseded' },
      { serialNumber: '7f01', revokedAt: new Date('2025-05-31T12:00:00Z') },
    ],
    ...overrides,
  })
}

describe('the CRL verified by openssl', { skip: NO_OPENSSL }, () => {
  it('verifies with the CA and lists each revoked serial with its reason', async () => {
    scratch.write('ca.crl', await crlOf())
    const read = scratch.openssl('crl', '-in', 'ca.crl', '-inform', 'DER', '-CAfile', 'ca.pem', '-noout', '-text')
    assert.equal(read.status, 0, read.output)
    assert.match(read.output, /verify OK/)
    assert.match(read.output, /Version 2 \(0x1\)/)
    assert.match(read.output, /Signature Algorithm: ecdsa-with-SHA256/)
    assert.match(read.output, /Issuer: CN ?= ?openpnc Test MO Root CA, O ?= ?openpnc, C ?= ?DE/)
    assert.match(read.output, /Last Update: Jun {2}1 10:00:00 2025 GMT/)
    assert.match(read.output, /Next Update: Jun {2}8 10:00:00 2025 GMT/)
    assert.match(read.output, /X509v3 CRL Number: \n\s+42\n/)
    const caKeyId = pki.ca.cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId
    const keyIdText = caKeyId.toUpperCase().match(/../g)!.join(':')
    assert.match(read.output, new RegExp(`X509v3 Authority Key Identifier: \\n\\s+(keyid:)?${keyIdText}`))
    assert.match(
      read.output,
      /Serial Number: 1001\n\s+Revocation Date: May 30 08:15:00 2025 GMT\n\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code: \n\s+Key Compromise/,
    )
    assert.match(
      read.output,
      /Serial Number: C0FFEE0102030405\n\s+Revocation Date: May 31 09:30:00 2025 GMT\n\s+CRL entry extensions:\n\s+X509v3 CRL Reason Code: \n\s+Superseded/,
    )
    assert.match(read.output, /Serial Number: 7F01\n\s+Revocation Date: May 31 12:00:00 2025 GMT\n(?!\s+CRL entry extensions)/)
  })

  it('makes openssl refuse the revoked certificates and accept the others', async () => {
    // openssl verify checks the CRL is current.
    const now = Date.now()
    scratch.write('ca.crl', await crlOf({ thisUpdate: new Date(now - 3600_000), nextUpdate: new Date(now + 7 * 24 * 3600_000) }))
    assert.equal(scratch.openssl('crl', '-in', 'ca.crl', '-inform', 'DER', '-out', 'ca-crl.pem').status, 0)
    const check = (leaf: string) => scratch.openssl('verify', '-crl_check', '-CAfile', 'ca.pem', '-CRLfile', 'ca-crl.pem', leaf)
    for (const revoked of ['leaf1.pem', 'leaf2.pem']) {
      const verdict = check(revoked)
      assert.notEqual(verdict.status, 0, revoked)
      assert.match(verdict.output, /certificate revoked/, revoked)
    }
    const fine = check('signer.pem')
    assert.equal(fine.status, 0, fine.output)
    assert.match(fine.output, /signer\.pem: OK/)
  })
})

describe('the CRL', () => {
  it('carries the issuer Name byte for byte, CRLNumber, the AuthorityKeyIdentifier and a signature the CA key verifies', async () => {
    const der = await crlOf()
    const crl = new x509.X509Crl(der)
    assert.ok(await crl.verify({ publicKey: pki.ca.cert.publicKey }))
    const tbs = pkijs.CertificateRevocationList.fromBER(der)
    assert.equal(tbs.version, 1, 'v2')
    assert.equal(tbs.signature.algorithmId, '1.2.840.10045.4.3.2')
    assert.deepEqual(
      Buffer.from(tbs.issuer.valueBeforeDecode),
      Buffer.from(pkijs.Certificate.fromBER(pki.ca.der).subject.valueBeforeDecode),
    )
    assert.deepEqual(
      tbs.revokedCertificates?.map((entry) => entry.crlEntryExtensions?.extensions.length),
      [1, 1, undefined],
      'an entry without a reason has no entry extensions, not an empty list',
    )
    const crlNumber = tbs.crlExtensions?.extensions.find((extension) => extension.extnID === '2.5.29.20')
    assert.equal((crlNumber?.parsedValue as { valueBlock: { valueDec: number } }).valueBlock.valueDec, 42)
    const aki = crl.getExtension(x509.AuthorityKeyIdentifierExtension)
    assert.equal(aki?.keyId, pki.ca.cert.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId)
  })

  it('writes serials as positive integers and leaves unspecified out, as RFC 5280 asks', async () => {
    const crl = new x509.X509Crl(
      await crlOf({
        entries: [
          { serialNumber: '00C0FFEE', revokedAt: THIS_UPDATE, reason: 'unspecified' },
          { serialNumber: '0a', revokedAt: THIS_UPDATE, reason: 'cessationOfOperation' },
        ],
      }),
    )
    // X509CrlEntry shows the INTEGER's content: the sign byte DER needs before c0 is there, the superfluous 00 before 0a is not.
    assert.deepEqual(
      crl.entries.map((entry) => [entry.serialNumber, entry.reason]),
      [
        ['00c0ffee', undefined],
        ['0a', x509.X509CrlReason.cessationOfOperation],
      ],
    )
  })

  it('writes a CRL with no entries', async () => {
    const crl = new x509.X509Crl(await crlOf({ entries: [] }))
    assert.equal(crl.entries.length, 0)
    assert.ok(await crl.verify({ publicKey: pki.ca.cert.publicKey }))
  })

  it('refuses removeFromCRL, a serial listed twice, a serial that is not hex and a nextUpdate not after thisUpdate', async () => {
    const revokedAt = THIS_UPDATE
    await assert.rejects(
      crlOf({ entries: [{ serialNumber: '01', revokedAt, reason: 'removeFromCRL' }] }),
      /entries\[0\]\.reason: removeFromCRL/,
    )
    await assert.rejects(
      crlOf({
        entries: [
          { serialNumber: '01', revokedAt },
          { serialNumber: '0001', revokedAt },
        ],
      }),
      /entries\[1\]\.serialNumber: 01 is listed twice/,
    )
    await assert.rejects(
      crlOf({ entries: [{ serialNumber: 'xyz', revokedAt }] }),
      /entries\[0\]\.serialNumber: must be a hexadecimal serial number/,
    )
    await assert.rejects(crlOf({ nextUpdate: THIS_UPDATE }), /nextUpdate: must be after thisUpdate/)
    await assert.rejects(crlOf({ crlNumber: -1n }), /crlNumber/)
  })

  it("refuses a key that is not the issuer's, and an issuer without a subjectKeyIdentifier", async () => {
    await assert.rejects(
      crlOf({ issuer: { certificateDer: pki.ca.der, privateKey: pki.otherCa.keys.privateKey } }),
      /issuer\.privateKey: is not the private key of the certificate/,
    )
    const keys = (await webcrypto.subtle.generateKey(EC, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
    const bare = await x509.X509CertificateGenerator.createSelfSigned({ name: 'CN=No SKI', keys, signingAlgorithm: EC })
    await assert.rejects(
      crlOf({ issuer: { certificateDer: new Uint8Array(bare.rawData), privateKey: keys.privateKey } }),
      (error) => error instanceof FieldRuleError && /subjectKeyIdentifier/.test(error.message),
    )
  })
})
