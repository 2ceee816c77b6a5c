// PKCS#12 files as `openssl pkcs12 -export` writes them: OpenSSL 3's defaults are read, a wrong
// password and the legacy algorithms are refused with a clear message. Pure: no platform.
import { strict as assert } from 'node:assert'
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { FieldRuleError } from '../src/core/errors.ts'
import { toPem } from '../src/core/pki/encoding.ts'
import { readPkcs12 } from '../src/core/pki/pkcs12.ts'
import { makeOemPki, type OemPki } from './oem-pki.ts'

const opensslMissing = spawnSync('openssl', ['version']).status !== 0
const PASSWORD = 'correct horse'

describe('reading a PKCS#12 file', { skip: opensslMissing ? 'openssl is not installed' : false }, () => {
  let dir: string
  let pki: OemPki

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'openpnc-p12-'))
    pki = await makeOemPki({ pcid: 'WP0ZZZ99ZSS012345' })
    writeFileSync(join(dir, 'leaf.pem'), toPem(pki.provisioning))
    writeFileSync(join(dir, 'chain.pem'), pki.chain.map((der) => toPem(der)).join(''))
    writeFileSync(join(dir, 'key.pem'), pki.provisioningKey.export({ format: 'pem', type: 'pkcs8' }))
  })

  after(() => rmSync(dir, { recursive: true, force: true }))

  /** A .p12 of the provisioning certificate, its key and its chain, written by openssl with `options`; null when openssl cannot. */
  function exportP12(name: string, password: string, ...options: string[]): Buffer | null {
    const out = `${name}.p12`
    const result = spawnSync(
      'openssl',
      [
        'pkcs12',
        '-export',
        '-in',
        'leaf.pem',
        '-inkey',
        'key.pem',
        '-certfile',
        'chain.pem',
        '-out',
        out,
        '-passout',
        `pass:${password}`,
        ...options,
      ],
      { cwd: dir, encoding: 'utf8' },
    )
    return result.status === 0 ? readFileSync(join(dir, out)) : null
  }

  async function refusal(read: Promise<unknown>): Promise<string> {
    try {
      await read
    } catch (error) {
      assert.ok(error instanceof FieldRuleError, `a FieldRuleError, got ${String(error)}`)
      assert.equal(error.field, 'pkcs12')
      return error.rule
    }
    assert.fail('the file was read')
  }

  it('reads the certificates and the private key of a file with OpenSSL 3 default encryption', async () => {
    const p12 = exportP12('default', PASSWORD)
    assert.ok(p12, 'openssl pkcs12 -export')
    const { certificates, privateKeys } = await readPkcs12(p12, PASSWORD)
    const sorted = (list: Buffer[]) => list.map((der) => der.toString('hex')).sort()
    assert.deepEqual(sorted(certificates), sorted([pki.provisioning, ...pki.chain]))
    assert.equal(privateKeys.length, 1)
    const key = createPrivateKey({ key: privateKeys[0]!, format: 'der', type: 'pkcs8' })
    assert.equal(key.export({ format: 'jwk' }).d, pki.provisioningKey.export({ format: 'jwk' }).d)
    assert.ok(new X509Certificate(pki.provisioning).checkPrivateKey(key))
  })

  it('reads a file with a non-ASCII password, and one without a MAC', async () => {
    const unicode = exportP12('unicode', 'pässwörd-€')
    assert.ok(unicode)
    assert.equal((await readPkcs12(unicode, 'pässwörd-€')).privateKeys.length, 1)
    const noMac = exportP12('nomac', PASSWORD, '-nomac')
    assert.ok(noMac)
    assert.equal((await readPkcs12(noMac, PASSWORD)).certificates.length, 3)
    assert.equal(await refusal(readPkcs12(noMac, 'wrong')), 'the password is wrong (or the file is damaged)')
  })

  it('refuses a wrong password', async () => {
    const p12 = exportP12('wrong', PASSWORD)
    assert.ok(p12)
    assert.equal(await refusal(readPkcs12(p12, 'not the password')), 'the password is wrong (or the file is damaged)')
  })

  it('refuses a file with legacy encryption (-legacy), naming the algorithm', async (t) => {
    const p12 = exportP12('legacy', PASSWORD, '-legacy')
    if (!p12) return t.skip('this openssl cannot write -legacy files (no legacy provider)')
    const rule = await refusal(readPkcs12(p12, PASSWORD))
    assert.match(
      rule,
      /^encrypts its (certificates|private key) with pbeWithSHAAnd(40BitRC2-CBC|3-KeyTripleDES-CBC), a legacy algorithm that is not supported/,
    )
    assert.match(rule, /without -legacy$/)
  })

  it('refuses bytes that are not a PKCS#12 file', async () => {
    assert.equal(await refusal(readPkcs12(Buffer.from('hello'), PASSWORD)), 'is not a PKCS#12 file (not DER)')
    assert.equal(await refusal(readPkcs12(pki.root, PASSWORD)), 'is not a PKCS#12 file')
  })
})
