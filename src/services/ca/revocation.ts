import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import { LRUCache } from 'lru-cache'
import { buildCrl } from '../../core/pki/crl.ts'
import {
  buildOcspResponse,
  certIdMatchesIssuer,
  issuerHashes,
  MalformedOcspRequestError,
  ocspErrorResponse,
  parseOcspRequest,
  prepareOcspSigner,
  type OcspSigner,
} from '../../core/pki/ocsp.ts'
import { isRevocationReason, type RevocationReason } from '../../core/pki/revocation-reasons.ts'
import type { Db } from '../../infra/db/database.ts'
import type { Logger } from '../../infra/logger.ts'
import type { Authority, CertificateAuthorities } from './authorities.ts'

type CertStatus = { kind: 'good' } | { kind: 'revoked'; revokedAt: Date; reason?: RevocationReason } | { kind: 'unknown' }

const HOUR_MS = 3_600_000
/** How long an OCSP answer says it holds (nextUpdate - thisUpdate). */
const OCSP_VALIDITY_MS = HOUR_MS
/** A CRL is made anew at least this often, and says so in nextUpdate (with a day's slack for a late run). */
const CRL_REFRESH_MS = 24 * HOUR_MS
const CRL_VALIDITY_MS = 2 * CRL_REFRESH_MS
/** Advisory-lock class of CRL numbering (one writer of an issuer's CRL at a time, across instances). */
const CRL_LOCK_CLASS = 15119

interface KnownIssuer {
  authority: Authority
  hashes: ReturnType<typeof issuerHashes>
}

/**
 * The revocation services of our CA: the OCSP responder (RFC 6960) and the CRLs (RFC 5280), both
 * public, as chargers and CSMSs call them.
 *
 * Speed seam: an OCSP request without a nonce (RFC 5019, what stations send) is the same bytes for
 * the same certificate, so its signed answer is kept for `answerCacheMs` by a hash of the request.
 * A revocation through this instance drops the cache at once; one made on another instance is seen
 * here within `answerCacheMs`. Requests with a nonce are always answered afresh.
 */
export class RevocationServices {
  #issuers: KnownIssuer[] = []
  #issuersLoadedAt = 0
  #signers = new Map<string, Promise<OcspSigner>>()
  #signerOf = new Map<string, Promise<OcspSigner | undefined>>()
  #answers: LRUCache<string, Buffer>

  constructor(
    private readonly db: Db,
    private readonly authorities: CertificateAuthorities,
    private readonly log: Logger,
    options: { answerCacheMs?: number; answerCacheEntries?: number } = {},
  ) {
    this.#answers = new LRUCache({ max: options.answerCacheEntries ?? 100_000, ttl: options.answerCacheMs ?? 60_000 })
  }

  /** Forget cached answers and CA data (after a revocation or a change of the chain). */
  invalidate(): void {
    this.#answers.clear()
    this.#issuersLoadedAt = 0
    this.#signers.clear()
    this.#signerOf.clear()
  }

  /** The DER OCSPResponse to a DER OCSPRequest; never throws for bad input (malformedRequest). */
  async answerOcsp(requestDer: Buffer, now = new Date()): Promise<Buffer> {
    const cacheKey = createHash('sha256').update(requestDer).digest('base64')
    const cached = this.#answers.get(cacheKey)
    if (cached) return cached
    let request: ReturnType<typeof parseOcspRequest>
    try {
      request = parseOcspRequest(requestDer)
    } catch (error) {
      if (error instanceof MalformedOcspRequestError) return ocspErrorResponse('malformedRequest')
      throw error
    }
    if (request.requests.length === 0) return ocspErrorResponse('malformedRequest')
    const issuers = await this.issuers()
    // The same CA may be on file more than once (imported again after a replacement): every row
    // with its name and key is the issuer, and the active one signs.
    const matches = request.requests.map((r) => issuers.filter((i) => certIdMatchesIssuer(r, i.hashes)).map((i) => i.authority))
    const first = matches[0]!
    if (first.length === 0) return ocspErrorResponse('unauthorized')
    const signer = await this.signerFor(first)
    if (!signer) return ocspErrorResponse('unauthorized')
    // One signer answers the whole request; CertIDs of another issuer are not ours to answer here.
    const ids = first.map((a) => a.id)
    const responses = await Promise.all(
      request.requests.map(async (r, i) => ({
        request: r,
        status: matches[i]!.some((a) => ids.includes(a.id)) ? await this.statusOf(ids, r.serialNumber) : ({ kind: 'unknown' } as const),
        thisUpdate: now,
        nextUpdate: new Date(now.getTime() + OCSP_VALIDITY_MS),
      })),
    )
    const answer = await buildOcspResponse({ signer, responses, nonce: request.nonce, producedAt: now })
    if (!request.nonce) this.#answers.set(cacheKey, answer)
    return answer
  }

  private async statusOf(issuerIds: string[], serialNumber: string): Promise<CertStatus> {
    const contract = await this.db
      .selectFrom('contract_certificates')
      .select(['status', 'revoked_at', 'revocation_reason'])
      .where('issuer_id', 'in', issuerIds)
      .where('serial_number', '=', serialNumber)
      .executeTakeFirst()
    if (contract) {
      if (contract.status !== 'revoked') return { kind: 'good' }
      const reason = contract.revocation_reason
      return {
        kind: 'revoked',
        revokedAt: new Date(contract.revoked_at!),
        reason: reason && isRevocationReason(reason) ? reason : undefined,
      }
    }
    // A Sub-CA (or an OCSP signer) of ours.
    const authority = await this.db
      .selectFrom('pki_authorities')
      .select('id')
      .where('issuer_id', 'in', issuerIds)
      .where('serial_number', '=', serialNumber)
      .executeTakeFirst()
    return authority ? { kind: 'good' } : { kind: 'unknown' }
  }

  private async issuers(): Promise<KnownIssuer[]> {
    // CAs change rarely (init, import); a minute's delay for another instance's change is fine.
    if (Date.now() - this.#issuersLoadedAt > 60_000) {
      const all = await this.authorities.authorities()
      this.#issuers = all
        .filter((a) => a.role !== 'ocsp_signer')
        .map((authority) => ({ authority, hashes: issuerHashes(authority.certificateDer) }))
      this.#issuersLoadedAt = Date.now()
    }
    return this.#issuers
  }

  /** The OCSP signer of the active one of these rows of a CA (else of any that has one), kept until invalidate(). */
  private async signerFor(rows: Authority[]): Promise<OcspSigner | undefined> {
    const key = rows.map((r) => r.id).join(',')
    if (!this.#signerOf.has(key)) {
      const found = this.findSigner(rows)
      found.catch(() => this.#signerOf.delete(key))
      this.#signerOf.set(key, found)
    }
    return this.#signerOf.get(key)
  }

  private async findSigner(rows: Authority[]): Promise<OcspSigner | undefined> {
    let signer: Authority | undefined
    for (const row of [...rows].sort((a, b) => Number(b.active) - Number(a.active))) {
      signer = await this.authorities.ocspSignerOf(row.id)
      if (signer?.privateKey) break
    }
    if (!signer?.privateKey) return undefined
    let prepared = this.#signers.get(signer.id)
    if (!prepared) {
      prepared = Promise.resolve(prepareOcspSigner(signer.certificateDer, signer.privateKey))
      this.#signers.set(signer.id, prepared)
    }
    return prepared
  }

  /**
   * The DER CRL of the CA whose SubjectKeyIdentifier is `subjectKeyId`, made anew when a
   * revocation happened since the last one (whoever revoked: the API, a key deletion) or when it is
   * a day old. Undefined when no CA of ours has that key ID or we do not hold its key.
   */
  async crl(subjectKeyId: string, now = new Date()): Promise<Buffer | undefined> {
    const authority = (await this.issuers())
      .filter((i) => i.authority.subjectKeyId === subjectKeyId)
      .sort((a, b) => Number(b.authority.active) - Number(a.authority.active))[0]?.authority
    if (!authority?.privateKey) return undefined
    const stored = await this.db.selectFrom('pki_crls').selectAll().where('issuer_id', '=', authority.id).executeTakeFirst()
    if (stored && !(await this.stale(authority.id, new Date(stored.this_update), now))) return Buffer.from(stored.crl)
    return this.makeCrl(authority, now)
  }

  private async stale(issuerId: string, thisUpdate: Date, now: Date): Promise<boolean> {
    if (now.getTime() - thisUpdate.getTime() >= CRL_REFRESH_MS) return true
    const newer = await this.db
      .selectFrom('contract_certificates')
      .select('id')
      .where('issuer_id', '=', issuerId)
      .where('status', '=', 'revoked')
      .where('updated_at', '>=', thisUpdate)
      .limit(1)
      .executeTakeFirst()
    return newer !== undefined
  }

  /** Makes the CRLs of these issuers anew (after revocations) and drops cached OCSP answers. */
  async revoked(issuerIds: string[], now = new Date()): Promise<void> {
    this.#answers.clear()
    for (const id of issuerIds) {
      const authority = await this.authorities.authority(id)
      if (authority?.privateKey) await this.makeCrl(authority, now)
    }
  }

  /** The daily round: every CA of ours whose CRL is a day old (or missing) gets a new one. */
  async refreshCrls(now = new Date()): Promise<number> {
    let made = 0
    for (const { authority } of await this.issuers()) {
      if (!authority.privateKey) continue
      const stored = await this.db.selectFrom('pki_crls').select('this_update').where('issuer_id', '=', authority.id).executeTakeFirst()
      if (stored && now.getTime() - new Date(stored.this_update).getTime() < CRL_REFRESH_MS) continue
      await this.makeCrl(authority, now)
      made++
    }
    return made
  }

  private async makeCrl(authority: Authority, now: Date): Promise<Buffer> {
    return this.db.transaction().execute(async (trx) => {
      await sql`SELECT pg_advisory_xact_lock(${CRL_LOCK_CLASS}::int4, hashtext(${authority.id}))`.execute(trx)
      const previous = await trx.selectFrom('pki_crls').select('crl_number').where('issuer_id', '=', authority.id).executeTakeFirst()
      const crlNumber = BigInt(previous?.crl_number ?? 0) + 1n
      const revoked = await trx
        .selectFrom('contract_certificates')
        .select(['serial_number', 'revoked_at', 'revocation_reason'])
        .where('issuer_id', '=', authority.id)
        .where('status', '=', 'revoked')
        .orderBy('revoked_at')
        .execute()
      // The CRL's thisUpdate is the moment its content was read: later revocations make it stale.
      const thisUpdate = new Date()
      const crl = await buildCrl({
        issuer: { certificateDer: authority.certificateDer, privateKey: authority.privateKey! },
        crlNumber,
        thisUpdate,
        nextUpdate: new Date(thisUpdate.getTime() + CRL_VALIDITY_MS),
        entries: revoked.map((r) => ({
          serialNumber: r.serial_number,
          revokedAt: new Date(r.revoked_at!),
          reason: r.revocation_reason && isRevocationReason(r.revocation_reason) ? r.revocation_reason : undefined,
        })),
      })
      await trx
        .insertInto('pki_crls')
        .values({
          issuer_id: authority.id,
          crl_number: crlNumber.toString(),
          crl,
          this_update: thisUpdate,
          next_update: new Date(thisUpdate.getTime() + CRL_VALIDITY_MS),
        })
        .onConflict((oc) =>
          oc.column('issuer_id').doUpdateSet((eb) => ({
            crl_number: eb.ref('excluded.crl_number'),
            crl: eb.ref('excluded.crl'),
            this_update: eb.ref('excluded.this_update'),
            next_update: eb.ref('excluded.next_update'),
          })),
        )
        .execute()
      this.log.debug({ issuer: authority.subject, crlNumber: crlNumber.toString(), entries: revoked.length, at: now }, 'CRL made')
      return crl
    })
  }
}
