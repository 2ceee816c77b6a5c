// The check of a vehicle's OEM provisioning certificate: identity (CN = PCID), validity, the
// ISO 15118-2 profile and the chain to a trusted root, each broken rule with its own message.
// Pure: no platform. The accepted chain is cross-checked with `openssl verify` when it is installed.
import { strict as assert } from 'node:assert'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { before, describe, it } from 'node:test'
import { FieldRuleError } from '../src/core/errors.ts'
import { toPem } from '../src/core/pki/encoding.ts'
import { keyMatchesPoint } from '../src/core/pki/key-envelope.ts'
import {
  checkProvisioningCertificate,
  DEFAULT_PROVISIONING_FIELD,
  pointOf,
  ProvisioningCertificateError,
  subjectCommonName,
  TrustStore,
} from '../src/core/pki/provisioning.ts'
import { makeOemPki, UNKNOWN_EXTENSION_OID, type OemPki, type OemPkiOptions } from './oem-pki.ts'

const PCID = 'WP0ZZZ99ZSS012345'
const DAY = 24 * 3600 * 1000
const opensslMissing = spawnSync('openssl', ['version']).status !== 0

let good: OemPki
let trusted: TrustStore

before(async () => {
  good = await makeOemPki({ pcid: PCID })
  trusted = new TrustStore([good.root])
})

/** The private scalar of a KeyObject, as the car holds it. */
function scalarOf(pki: OemPki): Buffer {
  return Buffer.from(pki.provisioningKey.export({ format: 'jwk' }).d!, 'base64url')
}

/** The rule text a check fails with; fails the test when the check passes or throws something else. */
function refusal(check: () => unknown, field = DEFAULT_PROVISIONING_FIELD): string {
  try {
    check()
  } catch (error) {
    assert.ok(error instanceof ProvisioningCertificateError, `a ProvisioningCertificateError, got ${String(error)}`)
    assert.ok(error instanceof FieldRuleError)
    assert.equal(error.field, field)
    assert.equal(error.message, `${field}: ${error.rule}`)
    return error.rule
  }
  assert.fail('the certificate was accepted')
}

async function refusalOf(options: Omit<OemPkiOptions, 'pcid'>, now = new Date()): Promise<string> {
  const pki = await makeOemPki({ pcid: PCID, ...options })
  return refusal(() => checkProvisioningCertificate({ certificate: pki.provisioning, chain: pki.chain, pcid: PCID, trusted, now }))
}

describe('the OEM provisioning certificate check', () => {
  it('accepts a good certificate and returns its 65-byte public point, which is the car key', () => {
    const checked = checkProvisioningCertificate({
      certificate: good.provisioning,
      chain: good.chain,
      pcid: PCID,
      trusted,
      now: new Date(),
    })
    assert.equal(checked.publicKey.length, 65)
    assert.equal(checked.publicKey[0], 0x04)
    assert.ok(keyMatchesPoint(scalarOf(good), checked.publicKey))
    assert.deepEqual(checked.certificateDer, good.provisioning)
    assert.deepEqual(checked.chain, [good.subCa2, good.subCa1, good.root])
    assert.ok(checked.notAfter.getTime() > Date.now())
  })

  it('reads the public point and the subject CN of a certificate', () => {
    assert.ok(keyMatchesPoint(scalarOf(good), pointOf(good.provisioning)))
    assert.equal(subjectCommonName(good.provisioning), PCID)
    assert.equal(subjectCommonName(good.subCa1), 'OEM Sub-CA 1')
  })

  it('takes the chain in any order, with the root in it, and ends at a trusted Sub-CA', () => {
    const reversed = checkProvisioningCertificate({
      certificate: good.provisioning,
      chain: [good.root, good.subCa1, good.subCa2],
      pcid: PCID,
      trusted,
      now: new Date(),
    })
    assert.deepEqual(reversed.chain, [good.subCa2, good.subCa1, good.root])
    const bySubCa = checkProvisioningCertificate({
      certificate: good.provisioning,
      pcid: PCID,
      trusted: new TrustStore([good.subCa2]),
      now: new Date(),
    })
    assert.deepEqual(bySubCa.chain, [good.subCa2])
  })

  it('compares the CN with the PCID regardless of case', () => {
    const checked = checkProvisioningCertificate({
      certificate: good.provisioning,
      chain: good.chain,
      pcid: PCID.toLowerCase(),
      trusted,
      now: new Date(),
    })
    assert.equal(checked.publicKey.length, 65)
  })

  it('refuses each broken rule with its own message naming the field', async () => {
    const longAgo = new Date(Date.now() - 30 * DAY)
    const cases: Array<[string, Omit<OemPkiOptions, 'pcid'>, RegExp]> = [
      ['wrong CN', { commonName: 'WP0ZZZ99ZSS099999' }, /^subject CN 'WP0ZZZ99ZSS099999' is not the PCID 'WP0ZZZ99ZSS012345'$/],
      ['expired', { notBefore: longAgo, notAfter: new Date(Date.now() - DAY) }, /^expired on \d{4}-\d\d-\d\dT.*Z \(checked at /],
      ['not yet valid', { notBefore: new Date(Date.now() + DAY) }, /^is not valid before \d{4}-\d\d-\d\dT.*Z \(checked at /],
      ['X.509 v1', { version: 1 }, /^is X\.509 v1; ISO 15118-2 requires v3$/],
      ['SHA-384 signature', { signatureHash: 'SHA-384' }, /^is signed with ecdsa-with-SHA384; ISO 15118-2 requires ecdsa-with-SHA256$/],
      ['RSA key', { keyAlgorithm: 'RSA' }, /^has a public key of type RSA; ISO 15118-2 requires EC on P-256/],
      ['P-384 key', { keyAlgorithm: 'P-384' }, /^has an EC public key on secp384r1; ISO 15118-2 requires P-256/],
      ['CA:true', { ca: true }, /^is a CA certificate \(BasicConstraints cA is true\)/],
      ['no KeyUsage', { keyUsage: null }, /^has no KeyUsage extension/],
      ['KeyUsage not critical', { keyUsageCritical: false }, /^has a KeyUsage extension that is not critical/],
      ['KeyUsage without keyAgreement', { keyUsage: 1 }, /^has a KeyUsage without keyAgreement;/],
      [
        'unknown critical extension',
        { unknownCriticalExtension: true },
        new RegExp(`^has an unknown critical extension ${UNKNOWN_EXTENSION_OID}$`),
      ],
      [
        'stranger root',
        { strangerRoot: true },
        /^does not chain to a trusted certificate: the signature of 'CN=OEM Sub-CA 1, .*' does not verify with the key of 'CN=OEM Root CA, .*'$/,
      ],
      [
        'expired Sub-CA',
        { subCa2: { notBefore: longAgo, notAfter: new Date(Date.now() - DAY) } },
        /^does not chain to a trusted certificate: issuer 'CN=OEM Sub-CA 2, .*' expired on /,
      ],
      ['Sub-CA not a CA', { subCa2: { ca: false } }, /^does not chain to a trusted certificate: issuer 'CN=OEM Sub-CA 2, .*' is not a CA/],
      [
        'Sub-CA without keyCertSign',
        { subCa2: { keyUsage: 1 } },
        /^does not chain to a trusted certificate: issuer 'CN=OEM Sub-CA 2, .*' may not sign certificates/,
      ],
      [
        'path too long for Sub-CA 2',
        { subCa3: true },
        /^does not chain to a trusted certificate: issuer 'CN=OEM Sub-CA 2, .*' allows 0 CA certificate\(s\) below it \(pathLenConstraint\), the path has 1$/,
      ],
    ]
    const rules = new Set<string>()
    for (const [name, options, expected] of cases) {
      const rule = await refusalOf(options)
      assert.match(rule, expected, name)
      rules.add(rule.replace(/\d{4}-\d\d-\d\dT[\d:.]+Z/g, 'DATE'))
    }
    assert.equal(rules.size, cases.length, 'every rule has a message of its own')
  })

  it('refuses a certificate checked after its end or before its start', () => {
    const check = (now: Date) => () =>
      checkProvisioningCertificate({ certificate: good.provisioning, chain: good.chain, pcid: PCID, trusted, now })
    assert.match(refusal(check(new Date(Date.now() + 400 * DAY))), /^expired on /)
    assert.match(refusal(check(new Date(Date.now() - 2 * DAY))), /^is not valid before /)
  })

  it('refuses a certificate whose signature was tampered with', () => {
    const tampered = Buffer.from(good.provisioning)
    // A bit of the signature's s value: the DER stays well formed, the signature does not verify.
    const last = tampered.length - 3
    tampered[last] = tampered[last]! ^ 0x01
    const rule = refusal(() =>
      checkProvisioningCertificate({ certificate: tampered, chain: good.chain, pcid: PCID, trusted, now: new Date() }),
    )
    assert.match(
      rule,
      /^does not chain to a trusted certificate: the signature of 'CN=WP0ZZZ99ZSS012345, .*' does not verify with the key of 'CN=OEM Sub-CA 2, /,
    )
  })

  it('names the missing issuer when the chain leaves out a Sub-CA', () => {
    const rule = refusal(() =>
      checkProvisioningCertificate({ certificate: good.provisioning, chain: [good.subCa2], pcid: PCID, trusted, now: new Date() }),
    )
    assert.match(
      rule,
      /^does not chain to a trusted certificate: no certificate of the issuer 'CN=OEM Sub-CA 1, .*' of 'CN=OEM Sub-CA 2, .*' is in the chain or the trust store$/,
    )
  })

  it('refuses a chain that ends at a self-signed root the operator does not trust', () => {
    const rule = refusal(() =>
      checkProvisioningCertificate({
        certificate: good.provisioning,
        chain: [...good.chain, good.root],
        pcid: PCID,
        trusted: new TrustStore([]),
        now: new Date(),
      }),
    )
    assert.match(
      rule,
      /^does not chain to a trusted certificate: the chain ends at the self-signed 'CN=OEM Root CA, .*', which is not in the trust store$/,
    )
  })

  it('refuses more than 16 chain certificates', () => {
    const chain = Array.from({ length: 17 }, () => good.subCa1)
    const rule = refusal(() =>
      checkProvisioningCertificate({ certificate: good.provisioning, chain, pcid: PCID, trusted, now: new Date() }),
    )
    assert.equal(rule, 'comes with 17 chain certificates; at most 16 are accepted')
  })

  it('refuses bytes that are not a certificate, in the certificate or in the chain', () => {
    const now = new Date()
    assert.equal(
      refusal(() => checkProvisioningCertificate({ certificate: Buffer.from('not a certificate'), pcid: PCID, trusted, now })),
      'is not a DER X.509 certificate',
    )
    assert.equal(
      refusal(() =>
        checkProvisioningCertificate({
          certificate: good.provisioning,
          chain: [good.subCa2, Buffer.from([0x30, 0x00])],
          pcid: PCID,
          trusted,
          now,
        }),
      ),
      'chain certificate 2 is not a DER X.509 certificate',
    )
    assert.throws(() => new TrustStore([good.root, Buffer.alloc(3)]), {
      name: 'ProvisioningCertificateError',
      message: /^trustStore\[1\]: /,
    })
  })

  it('names the field the caller gives, and the pcid when it is not a PCID', () => {
    const field = 'body.certificate'
    const now = new Date(Date.now() + 400 * DAY)
    assert.match(
      refusal(
        () => checkProvisioningCertificate({ certificate: good.provisioning, chain: good.chain, pcid: PCID, trusted, now, field }),
        field,
      ),
      /^expired on /,
    )
    assert.match(
      refusal(() => checkProvisioningCertificate({ certificate: good.provisioning, pcid: 'short', trusted, now: new Date() }), 'pcid'),
      /^'short' is not a PCID/,
    )
  })

  it(
    "agrees with openssl verify -x509_strict: it passes the accepted chain and fails a stranger root's",
    { skip: opensslMissing ? 'openssl is not installed' : false },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'openpnc-oem-'))
      try {
        const verify = (pki: OemPki) => {
          writeFileSync(join(dir, 'root.pem'), toPem(good.root))
          writeFileSync(join(dir, 'inter.pem'), pki.chain.map((der) => toPem(der)).join(''))
          writeFileSync(join(dir, 'leaf.pem'), toPem(pki.provisioning))
          return spawnSync('openssl', ['verify', '-x509_strict', '-CAfile', 'root.pem', '-untrusted', 'inter.pem', 'leaf.pem'], {
            cwd: dir,
            encoding: 'utf8',
          })
        }
        const accepted = verify(good)
        assert.equal(accepted.status, 0, accepted.stderr)
        assert.match(accepted.stdout, /leaf\.pem: OK/)
        const stranger = await makeOemPki({ pcid: PCID, strangerRoot: true })
        assert.notEqual(verify(stranger).status, 0, 'openssl refuses the chain to a stranger root too')
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
  )
})
