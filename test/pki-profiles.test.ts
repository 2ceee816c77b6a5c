// The ISO 15118-2 certificate profiles of the MO CA, checked field by field on a whole chain (root,
// two sub-CAs, contracts, OCSP signers), against the generator byte for byte, and by `openssl verify
// -x509_strict` as an independent judge. Pure: no platform.
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { X509Certificate as NativeCertificate, createHash, webcrypto } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import * as x509 from '@peculiar/x509'
import * as pkijs from 'pkijs'
import { FieldRuleError } from '../src/core/errors.ts'
import { emaidCheckCharacter } from '../src/core/identifiers/index.ts'
import {
  MAX_CERTIFICATE_BYTES,
  certificateSummary,
  contractValidity,
  crlUrlOf,
  issueAuthorityCertificate,
  issueContractCertificate,
  issueOcspSignerCertificate,
  keyIdentifierOf,
  ocspUrlOf,
  orderChain,
  profileViolations,
  randomSerial,
  type Issuer,
} from '../src/core/pki/profiles.ts'

type CryptoKey = webcrypto.CryptoKey
type KeyPair = { publicKey: CryptoKey; privateKey: CryptoKey }

const DAY = 86_400_000
const NOW = new Date(Date.UTC(2026, 0, 15, 12, 0, 0))
const PUBLIC_URL = 'https://mo.example.com'
const EMAID = 'DE8PSC0AD21B13P'

const newKeys = () => webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign', 'verify']) as Promise<KeyPair>
const days = (n: number) => new Date(NOW.getTime() + n * DAY)
const skiHex = (der: Buffer) => certificateSummary(der).subjectKeyId

async function buildPki() {
  const rootKeys = await newKeys()
  const sub1Keys = await newKeys()
  const sub2Keys = await newKeys()
  const subject = (commonName: string) => ({ commonName, organization: 'Example Mobility', country: 'DE', domainComponent: 'MO' })
  const root = await issueAuthorityCertificate({
    role: 'root',
    subject: subject('Example Mobility MO Root CA'),
    publicKey: rootKeys.publicKey,
    selfSigningKey: rootKeys.privateKey,
    notBefore: NOW,
    notAfter: days(3650),
  })
  const rootIssuer: Issuer = { certificateDer: root, privateKey: rootKeys.privateKey }
  const sub1 = await issueAuthorityCertificate({
    role: 'sub_ca_1',
    subject: subject('Example Mobility MO Sub-CA 1'),
    publicKey: sub1Keys.publicKey,
    issuer: rootIssuer,
    notBefore: NOW,
    notAfter: days(1460),
    urls: { ocspUrl: ocspUrlOf(PUBLIC_URL), crlUrl: crlUrlOf(PUBLIC_URL, skiHex(root)) },
  })
  const sub1Issuer: Issuer = { certificateDer: sub1, privateKey: sub1Keys.privateKey }
  const sub2 = await issueAuthorityCertificate({
    role: 'sub_ca_2',
    subject: subject('Example Mobility MO Sub-CA 2'),
    publicKey: sub2Keys.publicKey,
    issuer: sub1Issuer,
    notBefore: NOW,
    notAfter: days(1000),
    urls: { ocspUrl: ocspUrlOf(PUBLIC_URL), crlUrl: crlUrlOf(PUBLIC_URL, skiHex(sub1)) },
  })
  const sub2Issuer: Issuer = { certificateDer: sub2, privateKey: sub2Keys.privateKey }
  const contractUrls = { ocspUrl: ocspUrlOf(PUBLIC_URL), crlUrl: crlUrlOf(PUBLIC_URL, skiHex(sub2)) }
  const contractKeys = await newKeys()
  const validity = contractValidity({ now: NOW, maxDays: 730, issuerNotAfter: days(1000) })
  const contract = await issueContractCertificate({
    emaid: EMAID,
    organization: 'Example Mobility',
    publicKey: contractKeys.publicKey,
    issuer: sub2Issuer,
    ...validity,
    urls: contractUrls,
  })
  const ocspSigners = new Map<string, Buffer>()
  for (const [name, issuer] of [
    ['root', rootIssuer],
    ['sub_ca_1', sub1Issuer],
    ['sub_ca_2', sub2Issuer],
  ] as const) {
    ocspSigners.set(
      name,
      await issueOcspSignerCertificate({
        issuer,
        publicKey: (await newKeys()).publicKey,
        commonName: `Example Mobility OCSP ${name.replace(/_/g, ' ')}`,
        notBefore: NOW,
        notAfter: days(90),
      }),
    )
  }
  return { root, sub1, sub2, contract, contractKeys, contractUrls, validity, rootIssuer, sub1Issuer, sub2Issuer, ocspSigners }
}

const pkiOnce = buildPki()

/** RFC 5280 4.2.1.2 method 2, written out: 0100 then the low 60 bits of SHA-1 over the public key bits. */
function method2KeyId(point: Buffer): string {
  const id = Buffer.from(createHash('sha1').update(point).digest().subarray(12))
  id[0] = 0x40 | (id[0]! & 0x0f)
  return id.toString('hex')
}

/** The fields of a certificate as a relying party reads them, through libraries other than the one that wrote them where possible. */
function read(der: Buffer) {
  const raw = pkijs.Certificate.fromBER(der)
  const cert = new x509.X509Certificate(der)
  const attribute = (oid: string) => raw.subject.typesAndValues.filter((entry) => entry.type === oid)
  const keyUsage = cert.getExtension(x509.KeyUsagesExtension)
  const constraints = cert.getExtension(x509.BasicConstraintsExtension)
  const crlDp = cert.getExtension(x509.CRLDistributionPointsExtension)
  const aia = cert.getExtension(x509.AuthorityInfoAccessExtension)
  const eku = cert.getExtension(x509.ExtendedKeyUsageExtension)
  return {
    size: der.length,
    version: raw.version + 1,
    signatureAlgorithm: raw.signatureAlgorithm.algorithmId,
    innerSignatureAlgorithm: raw.signature.algorithmId,
    serial: Buffer.from(raw.serialNumber.valueBlock.valueHexView),
    curve: (raw.subjectPublicKeyInfo.algorithm.algorithmParams as { valueBlock: { toString(): string } }).valueBlock.toString(),
    subject: (oid: string) =>
      attribute(oid).map((entry) => ({ value: entry.value.valueBlock.value as string, tag: entry.value.idBlock.tagNumber })),
    keyUsage: keyUsage && { usages: keyUsage.usages, critical: keyUsage.critical },
    basicConstraints: constraints && { ca: constraints.ca, pathLength: constraints.pathLength, critical: constraints.critical },
    ski: cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId,
    aki: cert.getExtension(x509.AuthorityKeyIdentifierExtension)?.keyId,
    ocspUrls: aia ? aia.ocsp.map((name) => name.value) : undefined,
    crlUrls: crlDp
      ? [...crlDp.distributionPoints].flatMap(
          (point) => point.distributionPoint?.fullName?.map((name) => name.uniformResourceIdentifier) ?? [],
        )
      : undefined,
    eku: eku ? [...eku.usages] : undefined,
    extension: (oid: string) => cert.getExtension(oid),
    spki: Buffer.from(cert.publicKey.rawData),
    tbs: Buffer.from(raw.tbsView),
  }
}

const OID = {
  cn: '2.5.4.3',
  o: '2.5.4.10',
  c: '2.5.4.6',
  dc: '0.9.2342.19200300.100.1.25',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  prime256v1: '1.2.840.10045.3.1.7',
  ocspNoCheck: '1.3.6.1.5.5.7.48.1.5',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
}
const IA5_STRING = 22
const PRINTABLE_STRING = 19
const KU = x509.KeyUsageFlags

function assertCommonProfile(der: Buffer, issuerDer: Buffer) {
  const fields = read(der)
  const issuer = read(issuerDer)
  assert.ok(fields.size <= MAX_CERTIFICATE_BYTES, `${fields.size} bytes`)
  assert.equal(fields.version, 3)
  assert.equal(fields.signatureAlgorithm, OID.ecdsaWithSha256)
  assert.equal(fields.innerSignatureAlgorithm, OID.ecdsaWithSha256)
  assert.equal(fields.curve, OID.prime256v1)
  assert.equal(fields.serial.length, 16, 'a 16-byte serial')
  assert.ok(fields.serial[0]! > 0 && fields.serial[0]! < 0x80, 'positive and minimally encoded')
  assert.equal(fields.ski?.length, 16, 'an 8-byte SKI')
  assert.equal(fields.aki?.length, 16, 'an 8-byte AKI')
  assert.equal(fields.ski, keyIdentifierOf(fields.spki).toString('hex'))
  assert.equal(fields.aki, issuer.ski, "the AKI is the issuer's SKI")
  assert.equal(fields.keyUsage?.critical, true, 'critical keyUsage')
  assert.equal(fields.basicConstraints?.critical, true, 'critical basicConstraints')
  assert.ok(new NativeCertificate(der).verify(new NativeCertificate(issuerDer).publicKey), "signed by the issuer's key")
  return fields
}

describe('the MO certificate profiles (ISO 15118-2)', () => {
  test('the root is self-signed, a CA without path length, keyCertSign and cRLSign, and names no revocation URLs', async () => {
    const { root } = await pkiOnce
    const fields = assertCommonProfile(root, root)
    assert.deepEqual(fields.basicConstraints, { ca: true, pathLength: undefined, critical: true })
    assert.equal(fields.keyUsage?.usages, KU.keyCertSign | KU.cRLSign)
    assert.deepEqual(fields.subject(OID.cn), [{ value: 'Example Mobility MO Root CA', tag: PRINTABLE_STRING }])
    assert.deepEqual(fields.subject(OID.o), [{ value: 'Example Mobility', tag: PRINTABLE_STRING }])
    assert.deepEqual(fields.subject(OID.c), [{ value: 'DE', tag: PRINTABLE_STRING }])
    assert.deepEqual(fields.subject(OID.dc), [{ value: 'MO', tag: IA5_STRING }])
    assert.equal(fields.ocspUrls, undefined)
    assert.equal(fields.crlUrls, undefined)
    assert.deepEqual(profileViolations(root, 'root'), [])
  })

  test('Sub-CA 1 and Sub-CA 2 carry path lengths 1 and 0, the OCSP URL and the CRL of their issuer', async () => {
    const { root, sub1, sub2 } = await pkiOnce
    for (const [der, issuer, pathLength, role] of [
      [sub1, root, 1, 'sub_ca_1'],
      [sub2, sub1, 0, 'sub_ca_2'],
    ] as const) {
      const fields = assertCommonProfile(der, issuer)
      assert.deepEqual(fields.basicConstraints, { ca: true, pathLength, critical: true })
      assert.equal(fields.keyUsage?.usages, KU.keyCertSign | KU.cRLSign)
      assert.deepEqual(fields.ocspUrls, ['https://mo.example.com/pki/ocsp'])
      assert.deepEqual(fields.crlUrls, [`https://mo.example.com/pki/crl/${read(issuer).ski}.crl`])
      assert.deepEqual(profileViolations(der, role), [])
    }
  })

  test('a contract certificate names the EMAID, O and DC=MO (IA5String), with the four key usages, CA:false and the revocation URLs', async () => {
    const { contract, sub2 } = await pkiOnce
    const fields = assertCommonProfile(contract, sub2)
    assert.deepEqual(fields.basicConstraints, { ca: false, pathLength: undefined, critical: true })
    assert.equal(fields.keyUsage?.usages, KU.digitalSignature | KU.nonRepudiation | KU.keyEncipherment | KU.keyAgreement)
    assert.deepEqual(fields.subject(OID.cn), [{ value: EMAID, tag: PRINTABLE_STRING }])
    assert.deepEqual(fields.subject(OID.o), [{ value: 'Example Mobility', tag: PRINTABLE_STRING }])
    assert.deepEqual(fields.subject(OID.dc), [{ value: 'MO', tag: IA5_STRING }])
    assert.deepEqual(fields.ocspUrls, ['https://mo.example.com/pki/ocsp'])
    assert.deepEqual(fields.crlUrls, [`https://mo.example.com/pki/crl/${read(sub2).ski}.crl`])
    assert.equal(fields.eku, undefined)
    assert.deepEqual(profileViolations(contract, 'contract'), [])
  })

  test('a contract subject leaves DC out when asked to', async () => {
    const { sub2Issuer, contractUrls, validity } = await pkiOnce
    const der = await issueContractCertificate({
      emaid: EMAID,
      organization: 'Example Mobility',
      domainComponentMo: false,
      publicKey: (await newKeys()).publicKey,
      issuer: sub2Issuer,
      ...validity,
      urls: contractUrls,
    })
    assert.deepEqual(read(der).subject(OID.dc), [])
    assert.deepEqual(profileViolations(der, 'contract'), [])
  })

  test("each CA's OCSP signer has digitalSignature only, OCSPSigning and a non-critical NULL id-pkix-ocsp-nocheck", async () => {
    const pki = await pkiOnce
    const issuers = { root: pki.root, sub_ca_1: pki.sub1, sub_ca_2: pki.sub2 } as Record<string, Buffer>
    for (const [name, der] of pki.ocspSigners) {
      const fields = assertCommonProfile(der, issuers[name]!)
      assert.deepEqual(fields.basicConstraints, { ca: false, pathLength: undefined, critical: true })
      assert.equal(fields.keyUsage?.usages, KU.digitalSignature)
      assert.deepEqual(fields.eku, [OID.ocspSigning])
      const noCheck = fields.extension(OID.ocspNoCheck)
      assert.equal(noCheck?.critical, false)
      assert.equal(Buffer.from(noCheck!.value).toString('hex'), '0500', 'the value is an ASN.1 NULL')
      assert.deepEqual(fields.subject(OID.cn), [{ value: `Example Mobility OCSP ${name.replace(/_/g, ' ')}`, tag: PRINTABLE_STRING }])
      assert.deepEqual(profileViolations(der, 'ocsp_signer'), [])
    }
  })

  test('contract certificates after the first are byte for byte what the generator makes of the same fields', async () => {
    const { sub2, sub2Issuer, contractUrls } = await pkiOnce
    const issuerName = new x509.X509Certificate(sub2).subjectName
    const sub2Public = new NativeCertificate(sub2).publicKey
    const serials = new Set<string>()
    for (let i = 0; i < 12; i++) {
      // Different seconds and EMAIDs each time, so every per-certificate field changes.
      const validity = contractValidity({ now: new Date(NOW.getTime() + i * 61_000), maxDays: 30 + i, issuerNotAfter: days(1000) })
      const identity = ['DE8PSC0AD21B13', 'DE8PSC12345678', 'NLABC000000001'][i % 3]!
      const emaid = identity + emaidCheckCharacter(identity)
      const keys = await newKeys()
      const der = await issueContractCertificate({
        emaid,
        organization: 'Example Mobility',
        publicKey: keys.publicKey,
        issuer: sub2Issuer,
        ...validity,
        urls: contractUrls,
      })
      const fields = read(der)
      serials.add(fields.serial.toString('hex'))
      assert.equal(serials.size, i + 1, 'a fresh serial each time')
      assert.ok(new NativeCertificate(der).verify(sub2Public), `certificate ${i} verifies`)
      assert.deepEqual(fields.subject(OID.cn), [{ value: emaid, tag: PRINTABLE_STRING }])
      assert.deepEqual(certificateSummary(der).notBefore, validity.notBefore)
      assert.deepEqual(certificateSummary(der).notAfter, validity.notAfter)
      assert.deepEqual(certificateSummary(der).publicKey, Buffer.from(await webcrypto.subtle.exportKey('raw', keys.publicKey)))

      const reference = await x509.X509CertificateGenerator.create({
        serialNumber: fields.serial.toString('hex'),
        subject: new x509.Name([
          { CN: [{ printableString: emaid }] },
          { O: [{ printableString: 'Example Mobility' }] },
          { DC: [{ ia5String: 'MO' }] },
        ]),
        issuer: issuerName,
        ...validity,
        publicKey: keys.publicKey,
        signingKey: sub2Issuer.privateKey,
        extensions: [
          new x509.BasicConstraintsExtension(false, undefined, true),
          new x509.KeyUsagesExtension(KU.digitalSignature | KU.nonRepudiation | KU.keyEncipherment | KU.keyAgreement, true),
          new x509.SubjectKeyIdentifierExtension(method2KeyId(Buffer.from(await webcrypto.subtle.exportKey('raw', keys.publicKey)))),
          new x509.AuthorityKeyIdentifierExtension(read(sub2).ski!),
          new x509.AuthorityInfoAccessExtension({ ocsp: [contractUrls.ocspUrl] }),
          new x509.CRLDistributionPointsExtension([contractUrls.crlUrl]),
        ],
      })
      assert.equal(fields.tbs.toString('hex'), read(Buffer.from(reference.rawData)).tbs.toString('hex'), `certificate ${i}`)
    }
  })

  test('a contract ending in 2050 or later is written with a GeneralizedTime, and the contracts after it are still right', async () => {
    const rootKeys = await newKeys()
    const root = await issueAuthorityCertificate({
      role: 'root',
      subject: { commonName: 'Long-lived MO Root CA', organization: 'Example Mobility' },
      publicKey: rootKeys.publicKey,
      selfSigningKey: rootKeys.privateKey,
      notBefore: NOW,
      notAfter: new Date(Date.UTC(2060, 0, 1)),
    })
    const issuer = { certificateDer: root, privateKey: rootKeys.privateKey }
    const urls = { ocspUrl: ocspUrlOf(PUBLIC_URL), crlUrl: crlUrlOf(PUBLIC_URL, skiHex(root)) }
    const rootPublic = new NativeCertificate(root).publicKey
    for (const notAfter of [
      Date.UTC(2049, 5, 1),
      Date.UTC(2051, 5, 1),
      Date.UTC(2049, 11, 31, 23, 59, 59),
      Date.UTC(2050, 0, 1),
      Date.UTC(2040, 0, 1),
    ]) {
      for (let i = 0; i < 3; i++) {
        const der = await issueContractCertificate({
          emaid: EMAID,
          organization: 'Example Mobility',
          publicKey: (await newKeys()).publicKey,
          issuer,
          notBefore: NOW,
          notAfter: new Date(notAfter),
          urls,
        })
        assert.ok(new NativeCertificate(der).verify(rootPublic))
        assert.equal(certificateSummary(der).notAfter.getTime(), notAfter)
        assert.deepEqual(profileViolations(der, 'contract'), [])
      }
    }
  })

  test('key identifiers are RFC 5280 method 2: 0100 and the low 60 bits of SHA-1 over the public key bits', async () => {
    const { contract } = await pkiOnce
    const summary = certificateSummary(contract)
    assert.equal(keyIdentifierOf(read(contract).spki).toString('hex'), method2KeyId(summary.publicKey))
    assert.equal(summary.subjectKeyId, method2KeyId(summary.publicKey))
  })

  test('serials are 16 random bytes, positive, never starting with a zero byte', () => {
    const seen = new Set<string>()
    for (let i = 0; i < 2000; i++) {
      const serial = randomSerial()
      assert.match(serial, /^[0-7][0-9a-f]{31}$/)
      assert.notEqual(serial.slice(0, 2), '00')
      seen.add(serial)
    }
    assert.equal(seen.size, 2000)
  })

  test('the summary of a contract certificate', async () => {
    const { contract, sub2, validity } = await pkiOnce
    const summary = certificateSummary(contract)
    assert.equal(summary.commonName, EMAID)
    assert.equal(summary.subject, 'CN=DE8PSC0AD21B13P, O=Example Mobility, DC=MO')
    assert.equal(summary.issuer, 'CN=Example Mobility MO Sub-CA 2, O=Example Mobility, C=DE, DC=MO')
    assert.equal(summary.serialNumber, read(contract).serial.toString('hex'))
    assert.deepEqual([summary.notBefore, summary.notAfter], [validity.notBefore, validity.notAfter])
    assert.equal(summary.authorityKeyId, certificateSummary(sub2).subjectKeyId)
    assert.equal(summary.publicKey.length, 65)
    assert.equal(summary.publicKey[0], 4)
    assert.equal(summary.isCa, false)
    assert.equal(summary.pathLength, undefined)
    assert.equal(certificateSummary(sub2).pathLength, 0)
    assert.equal(certificateSummary(sub2).isCa, true)
  })
})

describe('what the issuer refuses', () => {
  test('an EMAID with separators, in lower case, without or with a wrong check character', async () => {
    const { sub2Issuer, contractUrls, validity } = await pkiOnce
    const publicKey = (await newKeys()).publicKey
    for (const emaid of ['DE-8PS-C0AD21B13-P', 'de8psc0ad21b13p', 'DE8PSC0AD21B13', 'DE8PSC0AD21B13Q']) {
      await assert.rejects(
        issueContractCertificate({
          emaid,
          organization: 'Example Mobility',
          publicKey,
          issuer: sub2Issuer,
          ...validity,
          urls: contractUrls,
        }),
        (error: unknown) => error instanceof FieldRuleError && error.field === 'emaid',
        emaid,
      )
    }
  })

  test('a contract certificate that would outlive its issuer', async () => {
    const { sub2Issuer, contractUrls } = await pkiOnce
    await assert.rejects(
      issueContractCertificate({
        emaid: EMAID,
        organization: 'Example Mobility',
        publicKey: (await newKeys()).publicKey,
        issuer: sub2Issuer,
        notBefore: NOW,
        notAfter: days(1001),
        urls: contractUrls,
      }),
      (error: unknown) => error instanceof FieldRuleError && error.field === 'notAfter',
    )
  })

  test('a certificate larger than 800 bytes', async () => {
    const { sub2Issuer, validity } = await pkiOnce
    const long = `${PUBLIC_URL}/${'x'.repeat(200)}`
    await assert.rejects(
      issueContractCertificate({
        emaid: EMAID,
        organization: 'O'.repeat(64),
        publicKey: (await newKeys()).publicKey,
        issuer: sub2Issuer,
        ...validity,
        urls: { ocspUrl: `${long}/ocsp`, crlUrl: `${long}/crl` },
      }),
      (error: unknown) => error instanceof FieldRuleError && error.field === 'certificate' && /800/.test(error.rule),
    )
  })

  test('an issuer private key that is not the key of the issuer certificate', async () => {
    const { sub2, contractUrls, validity } = await pkiOnce
    const stranger = await newKeys()
    await assert.rejects(
      issueContractCertificate({
        emaid: EMAID,
        organization: 'Example Mobility',
        publicKey: stranger.publicKey,
        issuer: { certificateDer: sub2, privateKey: stranger.privateKey },
        ...validity,
        urls: contractUrls,
      }),
      (error: unknown) => error instanceof FieldRuleError && error.field === 'issuer.privateKey',
    )
  })

  test('a sub-CA under Sub-CA 2, whose path length is 0, and a contract signed by a contract', async () => {
    const { sub2Issuer, contract, contractKeys, contractUrls, validity } = await pkiOnce
    await assert.rejects(
      issueAuthorityCertificate({
        role: 'sub_ca_2',
        subject: { commonName: 'Too deep', organization: 'Example Mobility' },
        publicKey: (await newKeys()).publicKey,
        issuer: sub2Issuer,
        notBefore: NOW,
        notAfter: days(100),
        urls: contractUrls,
      }),
      (error: unknown) => error instanceof FieldRuleError && error.field === 'issuer',
    )
    await assert.rejects(
      issueContractCertificate({
        emaid: EMAID,
        organization: 'Example Mobility',
        publicKey: (await newKeys()).publicKey,
        issuer: { certificateDer: contract, privateKey: contractKeys.privateKey },
        ...validity,
        urls: contractUrls,
      }),
      (error: unknown) => error instanceof FieldRuleError && error.field === 'issuer',
    )
  })
})

describe('profileViolations', () => {
  /** A contract-like certificate made with the X.509 library directly, as another CA might. */
  async function foreignContract(options: { keyUsageCritical: boolean; withAia: boolean; dc?: x509.JsonAttributeObject; cn?: string }) {
    const { sub2, sub2Issuer, contractUrls } = await pkiOnce
    const keys = await newKeys()
    const spki = Buffer.from(await webcrypto.subtle.exportKey('spki', keys.publicKey))
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(KU.digitalSignature | KU.nonRepudiation | KU.keyEncipherment | KU.keyAgreement, options.keyUsageCritical),
      new x509.SubjectKeyIdentifierExtension(keyIdentifierOf(spki).toString('hex')),
      new x509.AuthorityKeyIdentifierExtension(certificateSummary(sub2).subjectKeyId),
      new x509.CRLDistributionPointsExtension([contractUrls.crlUrl]),
    ]
    if (options.withAia) extensions.push(new x509.AuthorityInfoAccessExtension({ ocsp: [contractUrls.ocspUrl] }))
    const certificate = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: new x509.Name([
        { CN: [{ printableString: options.cn ?? EMAID }] },
        { O: [{ printableString: 'Example Mobility' }] },
        { DC: [options.dc ?? { ia5String: 'MO' }] },
      ]),
      issuer: new x509.X509Certificate(sub2).subjectName,
      notBefore: NOW,
      notAfter: days(30),
      publicKey: keys.publicKey,
      signingKey: sub2Issuer.privateKey,
      extensions,
    })
    return Buffer.from(certificate.rawData)
  }

  test('accepts a certificate made elsewhere that follows the profile', async () => {
    assert.deepEqual(profileViolations(await foreignContract({ keyUsageCritical: true, withAia: true }), 'contract'), [])
  })

  test('names a non-critical keyUsage', async () => {
    const violations = profileViolations(await foreignContract({ keyUsageCritical: false, withAia: true }), 'contract')
    assert.deepEqual(violations, ['keyUsage: must be critical'])
  })

  test('names a contract certificate without an OCSP URL', async () => {
    const violations = profileViolations(await foreignContract({ keyUsageCritical: true, withAia: false }), 'contract')
    assert.equal(violations.length, 1)
    assert.match(violations[0]!, /^authorityInfoAccess: must carry an OCSP URL/)
  })

  test('names a DC that is not an IA5String and a CN that is not an EMAID with its check character', async () => {
    const violations = profileViolations(
      await foreignContract({ keyUsageCritical: true, withAia: true, dc: { utf8String: 'MO' }, cn: 'DE8PSC0AD21B13Q' }),
      'contract',
    )
    assert.ok(violations.includes('subject: domainComponent (DC) must be an IA5String'), violations.join('; '))
    assert.ok(
      violations.some((violation) => violation.startsWith('subject: commonName must be the EMAID')),
      violations.join('; '),
    )
  })

  test('names the key usage and basic constraints of a certificate checked against another role', async () => {
    const { contract, sub1 } = await pkiOnce
    const asCa = profileViolations(contract, 'sub_ca_2')
    assert.ok(asCa.includes('basicConstraints: cA must be true'), asCa.join('; '))
    assert.ok(
      asCa.some((violation) => violation.startsWith('keyUsage: must be exactly keyCertSign, cRLSign')),
      asCa.join('; '),
    )
    assert.ok(
      asCa.some((violation) => violation.startsWith('basicConstraints: pathLenConstraint must be 0')),
      asCa.join('; '),
    )
    const asSub2 = profileViolations(sub1, 'sub_ca_2')
    assert.deepEqual(asSub2, ['basicConstraints: pathLenConstraint must be 0, is 1'])
    const asSigner = profileViolations(contract, 'ocsp_signer')
    assert.ok(asSigner.includes('extendedKeyUsage: must include id-kp-OCSPSigning'), asSigner.join('; '))
    assert.ok(
      asSigner.some((violation) => violation.startsWith('ocspNoCheck:')),
      asSigner.join('; '),
    )
  })

  test('says so when the bytes are not a certificate', () => {
    assert.deepEqual(profileViolations(Buffer.from('not a certificate'), 'contract'), ['certificate: is not a DER X.509 certificate'])
  })
})

describe('contractValidity', () => {
  const issuerNotAfter = days(1000)

  test('starts a few minutes before now for chargers whose clocks run fast, and ends maxDays from now', () => {
    const { notBefore, notAfter } = contractValidity({ now: NOW, maxDays: 730, issuerNotAfter })
    assert.ok(notBefore < NOW && NOW.getTime() - notBefore.getTime() <= 10 * 60_000)
    assert.deepEqual(notAfter, days(730))
  })

  test('ends with the key when the key ends earlier', () => {
    const keyValidTo = new Date(NOW.getTime() + 100 * DAY + 1234)
    assert.deepEqual(
      contractValidity({ now: NOW, keyValidTo, maxDays: 730, issuerNotAfter }).notAfter,
      new Date(NOW.getTime() + 100 * DAY + 1000),
    )
  })

  test('ends with the issuer when the issuer ends first', () => {
    assert.deepEqual(contractValidity({ now: NOW, keyValidTo: null, maxDays: 2000, issuerNotAfter }).notAfter, issuerNotAfter)
  })

  test('throws a validTo error when the window would be empty', () => {
    for (const input of [
      { now: NOW, keyValidTo: NOW, maxDays: 730, issuerNotAfter },
      { now: NOW, keyValidTo: new Date(NOW.getTime() - DAY), maxDays: 730, issuerNotAfter },
      { now: NOW, maxDays: 0, issuerNotAfter },
      { now: NOW, maxDays: 730, issuerNotAfter: new Date(NOW.getTime() - 1) },
    ]) {
      assert.throws(
        () => contractValidity(input),
        (error: unknown) => error instanceof FieldRuleError && error.field === 'validTo',
      )
    }
  })
})

describe('orderChain', () => {
  test('orders a shuffled chain from the root down to the leaf', async () => {
    const { root, sub1, sub2, contract } = await pkiOnce
    for (const shuffled of [
      [contract, sub1, root, sub2],
      [sub2, contract, sub1, root],
      [root, sub1, sub2, contract],
    ]) {
      assert.deepEqual(orderChain(shuffled), [root, sub1, sub2, contract])
    }
    assert.deepEqual(orderChain([sub2, sub1]), [sub1, sub2], 'the topmost one given need not be a root')
  })

  test('refuses a set that is not one chain', async () => {
    const { root, sub1, sub2, contract, ocspSigners } = await pkiOnce
    for (const broken of [[root, sub2, contract], [root, sub1, sub2, contract, ocspSigners.get('sub_ca_2')!], [root, root], []]) {
      assert.throws(
        () => orderChain(broken),
        (error: unknown) => error instanceof FieldRuleError && error.field === 'certificates',
      )
    }
  })
})

test('the OCSP and CRL URLs hang off the public URL', () => {
  assert.equal(ocspUrlOf('https://mo.example.com/'), 'https://mo.example.com/pki/ocsp')
  assert.equal(crlUrlOf('https://mo.example.com', '40AABBCCDDEEFF00'), 'https://mo.example.com/pki/crl/40aabbccddeeff00.crl')
})

const openssl = spawnSync('openssl', ['version'])
describe('openssl verify -x509_strict', { skip: openssl.status === 0 ? false : 'openssl is not installed' }, () => {
  const pem = (der: Buffer) => new x509.X509Certificate(der).toString('pem') + '\n'

  async function verify(files: { root: Buffer; untrusted: Buffer[]; leaf: Buffer }) {
    const dir = mkdtempSync(join(tmpdir(), 'openpnc-profiles-'))
    try {
      writeFileSync(join(dir, 'root.pem'), pem(files.root))
      writeFileSync(join(dir, 'untrusted.pem'), files.untrusted.map(pem).join(''))
      writeFileSync(join(dir, 'leaf.pem'), pem(files.leaf))
      const args = ['verify', '-x509_strict', '-attime', String(Math.floor(NOW.getTime() / 1000) + 3600), '-CAfile', 'root.pem']
      if (files.untrusted.length) args.push('-untrusted', 'untrusted.pem')
      const result = spawnSync('openssl', [...args, 'leaf.pem'], { cwd: dir, encoding: 'utf8' })
      return `${result.stdout}${result.stderr}`.trim()
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }

  test('accepts the contract certificate under Sub-CA 2, Sub-CA 1 and the root', async () => {
    const { root, sub1, sub2, contract } = await pkiOnce
    assert.equal(await verify({ root, untrusted: [sub1, sub2], leaf: contract }), 'leaf.pem: OK')
  })

  test("accepts each CA's OCSP signer", async () => {
    const { root, sub1, sub2, ocspSigners } = await pkiOnce
    assert.equal(await verify({ root, untrusted: [], leaf: ocspSigners.get('root')! }), 'leaf.pem: OK')
    assert.equal(await verify({ root, untrusted: [sub1], leaf: ocspSigners.get('sub_ca_1')! }), 'leaf.pem: OK')
    assert.equal(await verify({ root, untrusted: [sub1, sub2], leaf: ocspSigners.get('sub_ca_2')! }), 'leaf.pem: OK')
  })
})
