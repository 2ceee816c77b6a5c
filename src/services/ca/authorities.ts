import { webcrypto } from 'node:crypto'

type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair
import { sql } from 'kysely'
import { OpenpncError } from '../../core/errors.ts'
import {
  certificateSummary,
  crlUrlOf,
  issueAuthorityCertificate,
  issueOcspSignerCertificate,
  ocspUrlOf,
  orderChain,
  type AuthorityRole,
  type Issuer,
} from '../../core/pki/profiles.ts'
import { canonicalSerialHex } from '../../core/pki/values.ts'
import type { Db } from '../../infra/db/database.ts'
import type { PkiAuthorityRole } from '../../infra/db/schema.ts'
import type { Logger } from '../../infra/logger.ts'
import type { SecretBox } from '../../infra/secrets/secret-box.ts'

/** One certificate of our CA: a CA of the chain or a delegated OCSP signer. */
export interface Authority {
  id: string
  role: PkiAuthorityRole
  issuerId: string | null
  certificateDer: Buffer
  serialNumber: string
  subject: string
  subjectKeyId: string
  notBefore: Date
  notAfter: Date
  active: boolean
  /** null when we do not hold the key (an imported root kept offline) */
  privateKey: CryptoKey | null
}

/** The active chain: what contract certificates are issued under. */
export interface CaChain {
  root: Authority
  subCa1: Authority
  subCa2: Authority
}

const DAY_MS = 86_400_000
const YEAR_DAYS = 365
// ISO 15118-2 Annex F: a root lives up to 40 years, Sub-CA 1 up to 10, Sub-CA 2 up to 4 (as we
// issue them; an imported chain keeps its own).
const VALIDITY_DAYS: { [R in AuthorityRole]: number } = { root: 40 * YEAR_DAYS, sub_ca_1: 10 * YEAR_DAYS, sub_ca_2: 4 * YEAR_DAYS }
// Delegated OCSP signers are short-lived (they are not revocable: id-pkix-ocsp-nocheck) and
// re-issued once less than a quarter of their life is left.
const OCSP_SIGNER_DAYS = 90
const OCSP_SIGNER_RENEW_DAYS = 21
// Clock skew at chargers: certificates start a little before they are made.
const BACKDATE_MS = 5 * 60_000
/** Advisory-lock class of CA changes (initialize, import, signer rotation): one at a time across instances. */
const CA_LOCK = [15118, 2] as const

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const

export const caNotInitialized = () =>
  new OpenpncError('unavailable', 'ca_not_initialized', 'the MO certificate authority has no chain yet: run `openpnc pki init`')

async function generateKeyPair(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair
}

async function importSigningKey(pkcs8: Buffer): Promise<CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', pkcs8, ALGORITHM, false, ['sign'])
}

export interface CaSettings {
  /** O= of the CA certificates */
  organization: string
  /** C= of the CA certificates (the EMAID prefix's country) */
  country: string
  /** where OCSP and CRLs are served: the platform's public URL */
  publicUrl: () => string
}

/**
 * Our MO certificate authority's keys and certificates: creating or importing the chain, keeping
 * a delegated OCSP signer per CA current, and handing the active chain to issuance. Private keys
 * are stored sealed with the platform's secret key and opened only into non-extractable WebCrypto keys.
 */
export class CertificateAuthorities {
  #chain: Promise<CaChain | null> | undefined
  #initializing: Promise<void> | undefined
  #byId = new Map<string, Authority>()

  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
    private readonly log: Logger,
    private readonly settings: CaSettings,
  ) {}

  /** The active chain, or 503 `ca_not_initialized`. */
  async chain(): Promise<CaChain> {
    const chain = await this.currentChain()
    if (!chain) throw caNotInitialized()
    return chain
  }

  async currentChain(): Promise<CaChain | null> {
    // A chain being created at start (autoInitialize) is waited for, not reported missing.
    await this.#initializing
    return this.cachedChain()
  }

  /**
   * Creates a self-signed chain in the background when there is none (OPENPNC_PKI_AUTO_INIT), so
   * the server starts answering at once; whoever needs the chain meanwhile waits for it.
   */
  autoInitialize(): Promise<void> {
    this.#initializing = (async () => {
      if (await this.cachedChain()) return
      try {
        await this.initialize()
        this.log.info(
          { publicUrl: this.settings.publicUrl() },
          'created a self-signed MO certificate authority chain (`openpnc pki show` prints it)',
        )
      } catch (error) {
        // Another instance created it in the meantime.
        if ((error as { code?: string }).code !== 'ca_exists') throw error
        this.reload()
      }
    })()
      .catch((err: unknown) =>
        this.log.error({ err }, 'the MO certificate authority chain could not be created; `openpnc pki init` makes one'),
      )
      .finally(() => {
        this.#initializing = undefined
      })
    return this.#initializing
  }

  private async cachedChain(): Promise<CaChain | null> {
    this.#chain ??= this.loadChain().catch((err: unknown) => {
      this.#chain = undefined
      throw err
    })
    return this.#chain
  }

  /** Forget what is cached (the chain changed, maybe on another instance). */
  reload(): void {
    this.#chain = undefined
    this.#byId.clear()
  }

  /** Every authority, retired ones too: OCSP answers for what they issued. */
  async authorities(): Promise<Authority[]> {
    const rows = await this.db.selectFrom('pki_authorities').selectAll().orderBy('created_at').execute()
    return Promise.all(rows.map((row) => this.toAuthority(row)))
  }

  async authority(id: string): Promise<Authority | undefined> {
    const cached = this.#byId.get(id)
    if (cached) return cached
    const row = await this.db.selectFrom('pki_authorities').selectAll().where('id', '=', id).executeTakeFirst()
    if (!row) return undefined
    const authority = await this.toAuthority(row)
    this.#byId.set(id, authority)
    return authority
  }

  /** The active delegated OCSP signer of the CA `issuerId`, if we hold one. */
  async ocspSignerOf(issuerId: string): Promise<Authority | undefined> {
    const row = await this.db
      .selectFrom('pki_authorities')
      .selectAll()
      .where('issuer_id', '=', issuerId)
      .where('role', '=', 'ocsp_signer')
      .where('active', '=', true)
      .executeTakeFirst()
    return row ? this.authority(row.id) : undefined
  }

  private async loadChain(): Promise<CaChain | null> {
    const rows = await this.db
      .selectFrom('pki_authorities')
      .selectAll()
      .where('active', '=', true)
      .where('role', 'in', ['root', 'sub_ca_1', 'sub_ca_2'])
      .execute()
    const byRole = new Map(rows.map((r) => [r.role, r]))
    const [root, subCa1, subCa2] = (['root', 'sub_ca_1', 'sub_ca_2'] as const).map((role) => byRole.get(role))
    if (!root || !subCa1 || !subCa2) return null
    const [a, b, c] = await Promise.all([root, subCa1, subCa2].map((row) => this.authority(row.id)))
    return { root: a!, subCa1: b!, subCa2: c! }
  }

  private async toAuthority(row: {
    id: string
    role: PkiAuthorityRole
    issuer_id: string | null
    certificate: Buffer
    serial_number: string
    subject: string
    subject_key_id: string
    not_before: Date
    not_after: Date
    active: boolean
    private_key_sealed: string | null
  }): Promise<Authority> {
    const privateKey =
      row.private_key_sealed === null
        ? null
        : await importSigningKey(Buffer.from(this.secrets.open(row.private_key_sealed, sealContext(row.subject_key_id)), 'base64'))
    return {
      id: row.id,
      role: row.role,
      issuerId: row.issuer_id,
      certificateDer: Buffer.from(row.certificate),
      serialNumber: row.serial_number,
      subject: row.subject,
      subjectKeyId: row.subject_key_id,
      notBefore: new Date(row.not_before),
      notAfter: new Date(row.not_after),
      active: row.active,
      privateKey,
    }
  }

  /**
   * Creates a self-signed chain (root, Sub-CA 1, Sub-CA 2) with OCSP signers. Refuses when a chain
   * exists unless `replace`: the old one is retired, and keeps answering OCSP for what it issued.
   */
  async initialize(options: { replace?: boolean; now?: Date } = {}): Promise<CaChain> {
    const now = options.now ?? new Date()
    return this.changeChain(options.replace ?? false, async (trx) => {
      const rootKeys = await generateKeyPair()
      const notBefore = new Date(now.getTime() - BACKDATE_MS)
      const rootDer = await issueAuthorityCertificate({
        role: 'root',
        subject: this.subject('MO Root CA'),
        publicKey: rootKeys.publicKey,
        selfSigningKey: rootKeys.privateKey,
        notBefore,
        notAfter: new Date(now.getTime() + VALIDITY_DAYS.root * DAY_MS),
      })
      const root = await this.store(trx, 'root', null, rootDer, rootKeys.privateKey)
      await this.issueBelow(trx, root, now)
    })
  }

  /**
   * Imports a chain (PEM or PKCS#12 contents, decoded by the caller): an own root, or a chain whose
   * top is a V2G root or another CA we do not hold the key of. Certificates are taken top down as
   * root, Sub-CA 1, Sub-CA 2; the lowest one given needs its private key, and the Sub-CAs missing
   * below it are issued by it.
   */
  async importChain(input: { certificates: Buffer[]; privateKeys: Buffer[]; replace?: boolean; now?: Date }): Promise<CaChain> {
    const now = input.now ?? new Date()
    const ordered = orderChain(input.certificates)
    if (ordered.length > 3) {
      throw new OpenpncError(
        'invalid',
        'invalid_ca_chain',
        `a chain of at most 3 certificates (root, Sub-CA 1, Sub-CA 2), got ${ordered.length}`,
      )
    }
    const keys = await Promise.all(input.privateKeys.map(async (pkcs8) => ({ pkcs8, key: await importExtractable(pkcs8) })))
    const keyFor = async (der: Buffer) => {
      const spki = certificateSummary(der).spki
      for (const candidate of keys) {
        // extractable once, to be sealed when stored
        if ((await spkiOf(candidate.key)).equals(spki)) return candidate.key
      }
      return null
    }
    const lowestKey = await keyFor(ordered[ordered.length - 1]!)
    if (!lowestKey) {
      throw new OpenpncError('invalid', 'invalid_ca_chain', 'the private key of the lowest certificate of the chain is missing')
    }
    return this.changeChain(input.replace ?? false, async (trx) => {
      const roles: AuthorityRole[] = ['root', 'sub_ca_1', 'sub_ca_2']
      let issuer: Authority | null = null
      for (const [index, der] of ordered.entries()) {
        const key = index === ordered.length - 1 ? lowestKey : await keyFor(der)
        issuer = await this.store(trx, roles[index]!, issuer?.id ?? null, der, key)
      }
      await this.issueBelow(trx, issuer!, now)
    })
  }

  /** Issues the Sub-CAs missing below `top` and an OCSP signer for every CA whose key we hold. */
  private async issueBelow(trx: Db, top: Authority, now: Date) {
    const chain: Authority[] = [top]
    let current = top
    const next: Record<PkiAuthorityRole, AuthorityRole | null> = {
      root: 'sub_ca_1',
      sub_ca_1: 'sub_ca_2',
      sub_ca_2: null,
      ocsp_signer: null,
    }
    for (let role = next[current.role]; role !== null; role = next[role]) {
      const keys = await generateKeyPair()
      const der = await issueAuthorityCertificate({
        role,
        subject: this.subject(role === 'sub_ca_1' ? 'MO Sub-CA 1' : 'MO Sub-CA 2'),
        publicKey: keys.publicKey,
        issuer: this.issuerOf(current),
        notBefore: new Date(now.getTime() - BACKDATE_MS),
        notAfter: new Date(Math.min(now.getTime() + VALIDITY_DAYS[role] * DAY_MS, current.notAfter.getTime())),
        urls: this.urlsFor(current),
      })
      current = await this.store(trx, role, current.id, der, keys.privateKey)
      chain.push(current)
    }
    // A CA whose key we do not hold (a V2G root) has no signer of ours: OCSP about the
    // certificates it issued is its operator's to answer.
    for (const authority of chain) {
      if (authority.privateKey) await this.issueSigner(trx, authority, now)
    }
  }

  /**
   * Keeps a current delegated OCSP signer for every active CA whose key we hold: a new one when
   * there is none or the current one ends within OCSP_SIGNER_RENEW_DAYS. Returns how many were made.
   */
  async refreshOcspSigners(now = new Date()): Promise<number> {
    const chain = await this.currentChain()
    if (!chain) return 0
    let made = 0
    await this.db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${CA_LOCK[0]}::int4, ${CA_LOCK[1]}::int4)`.execute(trx)
      for (const ca of [chain.root, chain.subCa1, chain.subCa2]) {
        if (!ca.privateKey) continue
        const current = await trx
          .selectFrom('pki_authorities')
          .select(['id', 'not_after'])
          .where('issuer_id', '=', ca.id)
          .where('role', '=', 'ocsp_signer')
          .where('active', '=', true)
          .executeTakeFirst()
        if (current && new Date(current.not_after).getTime() - now.getTime() > OCSP_SIGNER_RENEW_DAYS * DAY_MS) continue
        if (current) await trx.updateTable('pki_authorities').set({ active: false }).where('id', '=', current.id).execute()
        await this.issueSigner(trx, ca, now)
        made++
      }
    })
    if (made > 0) this.log.info({ signers: made }, 'issued new delegated OCSP signers')
    return made
  }

  private async issueSigner(trx: Db, ca: Authority, now: Date): Promise<Authority> {
    const keys = await generateKeyPair()
    const der = await issueOcspSignerCertificate({
      issuer: this.issuerOf(ca),
      publicKey: keys.publicKey,
      commonName: `${this.settings.organization} OCSP Signer`.slice(0, 64),
      notBefore: new Date(now.getTime() - BACKDATE_MS),
      notAfter: new Date(Math.min(now.getTime() + OCSP_SIGNER_DAYS * DAY_MS, ca.notAfter.getTime())),
    })
    return this.store(trx, 'ocsp_signer', ca.id, der, keys.privateKey)
  }

  private async changeChain(replace: boolean, build: (trx: Db) => Promise<void>): Promise<CaChain> {
    await this.db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${CA_LOCK[0]}::int4, ${CA_LOCK[1]}::int4)`.execute(trx)
      const existing = await trx.selectFrom('pki_authorities').select('id').where('active', '=', true).executeTakeFirst()
      if (existing && !replace) {
        throw new OpenpncError('conflict', 'ca_exists', 'the MO certificate authority already has a chain; replace it explicitly')
      }
      if (existing) await trx.updateTable('pki_authorities').set({ active: false }).where('active', '=', true).execute()
      await build(trx)
    })
    this.reload()
    const chain = await this.cachedChain()
    if (!chain) throw caNotInitialized()
    this.log.info(
      { root: chain.root.subject, subCa1: chain.subCa1.subject, subCa2: chain.subCa2.subject, subCa2NotAfter: chain.subCa2.notAfter },
      'MO certificate authority chain in place',
    )
    return chain
  }

  private async store(trx: Db, role: PkiAuthorityRole, issuerId: string | null, der: Buffer, key: CryptoKey | null): Promise<Authority> {
    const summary = certificateSummary(der)
    let sealed: string | null = null
    if (key) {
      const pkcs8 = key.extractable ? Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key)) : null
      if (!pkcs8) throw new Error('a CA key to store must be extractable once')
      sealed = this.secrets.seal(pkcs8.toString('base64'), sealContext(summary.subjectKeyId))
    }
    const row = await trx
      .insertInto('pki_authorities')
      .values({
        role,
        issuer_id: issuerId,
        certificate: der,
        // as OCSP requests name it: lower-case hex without a sign byte
        serial_number: canonicalSerialHex(summary.serialNumber),
        subject: summary.subject,
        subject_key_id: summary.subjectKeyId,
        private_key_sealed: sealed,
        not_before: summary.notBefore,
        not_after: summary.notAfter,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    return this.toAuthority(row)
  }

  issuerOf(ca: Authority): Issuer {
    if (!ca.privateKey) throw new OpenpncError('unavailable', 'ca_key_unavailable', `we do not hold the private key of ${ca.subject}`)
    return { certificateDer: ca.certificateDer, privateKey: ca.privateKey }
  }

  /** Where relying parties check certificates issued by `ca`. */
  urlsFor(ca: Pick<Authority, 'subjectKeyId'>) {
    const publicUrl = this.settings.publicUrl()
    return { ocspUrl: ocspUrlOf(publicUrl), crlUrl: crlUrlOf(publicUrl, ca.subjectKeyId) }
  }

  private subject(name: string) {
    return {
      commonName: `${this.settings.organization} ${name}`.slice(0, 64),
      organization: this.settings.organization,
      country: this.settings.country,
      domainComponent: 'MO',
    }
  }
}

/** The authenticated context of a sealed CA key: opened for another certificate, it fails. */
const sealContext = (subjectKeyId: string) => `pki-authority:${subjectKeyId}`

async function importExtractable(pkcs8: Buffer): Promise<CryptoKey> {
  try {
    return await webcrypto.subtle.importKey('pkcs8', pkcs8, ALGORITHM, true, ['sign'])
  } catch {
    throw new OpenpncError('invalid', 'invalid_ca_chain', 'a private key is not an EC P-256 key in PKCS#8')
  }
}

/** The SubjectPublicKeyInfo of a private key, to pair it with its certificate. */
async function spkiOf(privateKey: CryptoKey): Promise<Buffer> {
  const jwk = await webcrypto.subtle.exportKey('jwk', privateKey)
  const publicJwk = { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y }
  const publicKey = await webcrypto.subtle.importKey('jwk', publicJwk, ALGORITHM, true, ['verify'])
  return Buffer.from(await webcrypto.subtle.exportKey('spki', publicKey))
}
