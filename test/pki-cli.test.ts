// `openpnc pki init` and `openpnc pki show`: creating, showing and importing the MO CA chain on an
// embedded database, with the `openssl` command as the judge of what comes out.
import assert from 'node:assert/strict'
import { execFile, execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { seedMigratedPglite } from './pglite-template.ts'

const run = promisify(execFile)
const ROOT = fileURLToPath(new URL('..', import.meta.url))
const CLI = ['--import', 'tsx', join(ROOT, 'src/cli.ts')]
const OPENSSL = spawnSync('openssl', ['version']).status === 0
const needsOpenssl = OPENSSL ? {} : { skip: 'openssl is not installed: the chain is not judged, imports are not made' }

describe('openpnc pki on an embedded database', () => {
  let dir: string
  const env = () => ({
    ...process.env,
    OPENPNC_DATA_DIR: join(dir, 'data'),
    OPENPNC_PUBLIC_URL: 'https://pnc.example.com',
    OPENPNC_PKI_ORGANIZATION: 'Example Mobility',
    DATABASE_URL: '',
    LOG_LEVEL: 'silent',
  })
  const pki = (...args: string[]) => run(process.execPath, [...CLI, 'pki', ...args], { cwd: ROOT, env: env() })
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'openpnc-pki-cli-'))
    await seedMigratedPglite(join(dir, 'data'))
  })
  after(() => rmSync(dir, { recursive: true, force: true }))

  test('init creates a self-signed chain that show prints and openssl verifies strictly', async () => {
    const { stdout } = await pki('init')
    assert.match(stdout, /MO certificate authority ready \(OCSP and CRLs under https:\/\/pnc\.example\.com\/pki\/\)/)
    assert.match(stdout, /root\s+CN=Example Mobility MO Root CA/)
    const shown = (await pki('show')).stdout
    for (const role of ['root', 'sub_ca_1', 'sub_ca_2']) assert.match(shown, new RegExp(`^${role}$`, 'm'))
    assert.match(shown, /private key\s+held \(encrypted at rest\)/)
    const pem = (await pki('show', '--pem')).stdout
    const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? []
    assert.equal(blocks.length, 3)
    if (!OPENSSL) return
    writeFileSync(join(dir, 'root.pem'), blocks[0]!)
    writeFileSync(join(dir, 'sub1.pem'), blocks[1]!)
    writeFileSync(join(dir, 'sub2.pem'), blocks[2]!)
    assert.match(openssl('verify', '-x509_strict', '-CAfile', 'root.pem', '-untrusted', 'sub1.pem', 'sub2.pem'), /sub2\.pem: OK/)
    assert.match(openssl('x509', '-in', 'sub2.pem', '-noout', '-text'), /OCSP - URI:https:\/\/pnc\.example\.com\/pki\/ocsp/)
  })

  test('init refuses to replace a chain unless told to', async () => {
    await assert.rejects(pki('init'), (error: { stderr: string }) => /already has a chain/.test(error.stderr))
  })

  test('init --import takes an own root with its key (PEM) and issues the Sub-CAs below it', needsOpenssl, async () => {
    openssl(
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      'own-root.key',
      '-out',
      'own-root.pem',
      '-days',
      '3650',
      '-subj',
      '/CN=Own MO Root/O=Example Mobility/C=DE',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-addext',
      'subjectKeyIdentifier=hash',
    )
    const { stdout } = await pki('init', '--replace', '--import', join(dir, 'own-root.pem'), '--key', join(dir, 'own-root.key'))
    assert.match(stdout, /root\s+CN=Own MO Root/)
    assert.match(stdout, /sub_ca_2\s+CN=Example Mobility MO Sub-CA 2/)
    const blocks = (await pki('show', '--pem')).stdout.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/g) ?? []
    writeFileSync(join(dir, 'imported-sub1.pem'), blocks[1]!)
    writeFileSync(join(dir, 'imported-sub2.pem'), blocks[2]!)
    assert.match(openssl('verify', '-x509_strict', '-CAfile', 'own-root.pem', '-untrusted', 'imported-sub1.pem', 'imported-sub2.pem'), /OK/)
  })

  test('init --import reads a PKCS#12 file with its password', needsOpenssl, async () => {
    openssl('pkcs12', '-export', '-in', 'own-root.pem', '-inkey', 'own-root.key', '-out', 'own-root.p12', '-passout', 'pass:secret-pass')
    await assert.rejects(
      pki('init', '--replace', '--import', join(dir, 'own-root.p12'), '--password', 'wrong'),
      (error: { stderr: string }) => /pkcs12/i.test(error.stderr),
    )
    const { stdout } = await pki('init', '--replace', '--import', join(dir, 'own-root.p12'), '--password', 'secret-pass')
    assert.match(stdout, /root\s+CN=Own MO Root/)
  })
})
