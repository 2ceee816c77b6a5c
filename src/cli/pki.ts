import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Command } from 'commander'
import { config } from './shared.ts'

// `openpnc pki`: our MO certificate authority's chain. These commands own the database (as
// `migrate` does): with the embedded database, run them while the server is stopped.

const PEM_KEY = /-----BEGIN (?:EC )?PRIVATE KEY-----[\s\S]+?-----END (?:EC )?PRIVATE KEY-----/g

async function openAuthorities() {
  const c = config()
  const { openDatabase } = await import('../infra/db/database.ts')
  const { migrate } = await import('../infra/db/migrate.ts')
  const { SecretBox } = await import('../infra/secrets/secret-box.ts')
  const { createLogger } = await import('../infra/logger.ts')
  const { CertificateAuthorities } = await import('../services/ca/authorities.ts')
  const database = await openDatabase({ databaseUrl: c.databaseUrl, dataDir: c.dataDir })
  await migrate(database.db)
  const log = createLogger('warn', c.logFormat)
  const publicUrl = (c.publicUrl ?? `http://${c.host}:${c.port}`).replace(/\/$/, '')
  const authorities = new CertificateAuthorities(database.db, SecretBox.load(c.secretKey, join(c.dataDir, 'secret-key')), log, {
    organization: c.pkiOrganization ?? c.ocpiBusinessName,
    country: c.emaidPrefixParts.country,
    publicUrl: () => publicUrl,
  })
  return { authorities, close: () => database.close(), publicUrl }
}

/** Certificates and private keys (PKCS#8 DER) from a PEM file, or a PKCS#12 file with its password. */
async function readImport(path: string, password: string | undefined, keyPath: string | undefined) {
  const { decodeCertificates, readPrivateKey } = await import('../core/pki/encoding.ts')
  const { readPkcs12 } = await import('../core/pki/pkcs12.ts')
  const bytes = readFileSync(path)
  const text = bytes.toString('latin1')
  const pkcs8 = (pem: string) => Buffer.from(readPrivateKey(pem, 'key').export({ format: 'der', type: 'pkcs8' }))
  if (!text.includes('-----BEGIN')) {
    if (password === undefined) throw new Error(`${path} is not PEM: a PKCS#12 file needs --password (or OPENPNC_PKI_IMPORT_PASSWORD)`)
    const p12 = await readPkcs12(bytes, password)
    const extra = keyPath ? (readFileSync(keyPath, 'utf8').match(PEM_KEY) ?? []).map(pkcs8) : []
    return { certificates: p12.certificates, privateKeys: [...p12.privateKeys, ...extra] }
  }
  const keyText = keyPath ? readFileSync(keyPath, 'utf8') : text
  return {
    certificates: decodeCertificates(text.replace(PEM_KEY, ''), 'certificates'),
    privateKeys: (keyText.match(PEM_KEY) ?? []).map(pkcs8),
  }
}

export function pkiCommands(program: Command) {
  const pki = program.command('pki').description('our MO certificate authority (ISO 15118-2 contract certificates): its chain')

  pki
    .command('init')
    .description('create a self-signed chain (root, Sub-CA 1, Sub-CA 2), or import one (PEM or PKCS#12) and issue what is missing below it')
    .option('--import <file>', 'a PEM file (certificates and the private key of the lowest one) or a PKCS#12 file')
    .option('--key <file>', 'a PEM file with the private key, when it is not in the import file')
    .option('--password <password>', 'of the PKCS#12 file (or set OPENPNC_PKI_IMPORT_PASSWORD)')
    .option('--replace', 'retire the current chain (it keeps answering OCSP for what it issued) and put this one in its place')
    .action(async (options: { import?: string; key?: string; password?: string; replace?: boolean }) => {
      const { authorities, close, publicUrl } = await openAuthorities()
      try {
        const chain = options.import
          ? await authorities.importChain({
              ...(await readImport(options.import, options.password ?? process.env.OPENPNC_PKI_IMPORT_PASSWORD, options.key)),
              replace: options.replace,
            })
          : await authorities.initialize({ replace: options.replace })
        process.stdout.write(
          `MO certificate authority ready (OCSP and CRLs under ${publicUrl}/pki/)\n` +
            [chain.root, chain.subCa1, chain.subCa2]
              .map((a) => `  ${a.role.padEnd(9)} ${a.subject}  until ${a.notAfter.toISOString()}`)
              .join('\n') +
            '\n',
        )
      } finally {
        await close()
      }
    })

  pki
    .command('show')
    .description('print the chain (subjects, serials, validity, key IDs), or with --pem the certificates themselves')
    .option('--pem', 'print the root, Sub-CA 1 and Sub-CA 2 certificates as PEM (the root first)')
    .action(async (options: { pem?: boolean }) => {
      const { toPem } = await import('../core/pki/encoding.ts')
      const { authorities, close } = await openAuthorities()
      try {
        const chain = await authorities.currentChain()
        if (!chain) throw new Error('no chain yet: run `openpnc pki init`')
        const cas = [chain.root, chain.subCa1, chain.subCa2]
        if (options.pem) {
          process.stdout.write(cas.map((a) => toPem(a.certificateDer)).join(''))
          return
        }
        for (const a of cas) {
          process.stdout.write(
            `${a.role}\n  subject        ${a.subject}\n  serial         ${a.serialNumber}\n  key ID         ${a.subjectKeyId}\n` +
              `  valid          ${a.notBefore.toISOString()} .. ${a.notAfter.toISOString()}\n  private key    ${a.privateKey ? 'held (encrypted at rest)' : 'not held'}\n`,
          )
        }
      } finally {
        await close()
      }
    })
}
