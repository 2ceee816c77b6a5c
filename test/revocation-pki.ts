// A small Mobility Operator PKI for the OCSP and CRL tests, made with WebCrypto and @peculiar/x509:
// a CA, an OCSP signer it issued (id-kp-OCSPSigning, id-pkix-ocsp-nocheck), two leaves and a
// second CA, all EC P-256. `Scratch` is a temporary directory for `openssl`'s files.
import { spawnSync } from 'node:child_process'
import { webcrypto } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as x509 from '@peculiar/x509'
import * as asn1js from 'asn1js'

const EC = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
const OCSP_SIGNING = '1.3.6.1.5.5.7.3.9'
const OCSP_NOCHECK = '1.3.6.1.5.5.7.48.1.5'

export interface Party {
  cert: x509.X509Certificate
  der: Buffer
  keys: webcrypto.CryptoKeyPair
}

async function keyPair(): Promise<webcrypto.CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(EC, false, ['sign', 'verify'])) as webcrypto.CryptoKeyPair
}

const day = 24 * 3600_000
const validity = () => ({ notBefore: new Date(Date.now() - day), notAfter: new Date(Date.now() + day) })

async function authority(name: string, serialNumber: string): Promise<Party> {
  const keys = await keyPair()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber,
    name,
    keys,
    signingAlgorithm: EC,
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  return { cert, der: Buffer.from(cert.rawData), keys }
}

async function issue(ca: Party, name: string, serialNumber: string, extensions: x509.Extension[]): Promise<Party> {
  const keys = await keyPair()
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber,
    subject: name,
    issuer: ca.cert.subjectName,
    publicKey: keys.publicKey,
    signingKey: ca.keys.privateKey,
    signingAlgorithm: EC,
    ...validity(),
    extensions: [
      new x509.BasicConstraintsExtension(false),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      ...extensions,
    ],
  })
  return { cert, der: Buffer.from(cert.rawData), keys }
}

export interface RevocationPki {
  ca: Party
  ocspSigner: Party
  /** Serial 1001: a short one. */
  leaf1: Party
  /** Serial c0ffee...: its first byte needs DER's 00 sign byte. */
  leaf2: Party
  /** The same name as `ca`, another key. */
  otherCa: Party
}

export async function makeRevocationPki(): Promise<RevocationPki> {
  const ca = await authority('CN=openpnc Test MO Root CA,O=openpnc,C=DE', '01')
  const ocspSigner = await issue(ca, 'CN=openpnc Test OCSP Signer,O=openpnc,C=DE', '0a', [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension([OCSP_SIGNING], false),
    // id-pkix-ocsp-nocheck's value is NULL (RFC 6960 4.2.2.2.1).
    new x509.Extension(OCSP_NOCHECK, false, new asn1js.Null().toBER()),
  ])
  const leafUse = [new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true)]
  const leaf1 = await issue(ca, 'CN=DEABCC12345678,O=openpnc,C=DE', '1001', leafUse)
  const leaf2 = await issue(ca, 'CN=DEABCC87654321,O=openpnc,C=DE', 'c0ffee0102030405', leafUse)
  // The same name as `ca` and another key: only the key hash tells them apart.
  const otherCa = await authority('CN=openpnc Test MO Root CA,O=openpnc,C=DE', '01')
  return { ca, ocspSigner, leaf1, leaf2, otherCa }
}

/** Why `openssl` cannot judge here, or undefined when it can. */
export function opensslMissing(): string | undefined {
  const run = spawnSync('openssl', ['version'], { encoding: 'utf8' })
  return run.status === 0 ? undefined : `openssl is not installed: ${run.error?.message ?? run.stderr}`
}

/** A temporary directory for `openssl`'s files. */
export class Scratch {
  readonly dir = mkdtempSync(join(tmpdir(), 'openpnc-revocation-'))

  path(name: string) {
    return join(this.dir, name)
  }

  writePem(name: string, party: Party) {
    writeFileSync(this.path(name), party.cert.toString('pem'))
    return this.path(name)
  }

  write(name: string, data: Uint8Array) {
    writeFileSync(this.path(name), data)
    return this.path(name)
  }

  /** Runs `openssl` in the directory; stdout and stderr together, since `openssl ocsp` splits its verdict between them. */
  openssl(...args: string[]) {
    const run = spawnSync('openssl', args, { cwd: this.dir, encoding: 'utf8' })
    return { status: run.status, output: `${run.stdout}${run.stderr}` }
  }

  remove() {
    rmSync(this.dir, { recursive: true, force: true })
  }
}
