import { randomUUID, webcrypto } from 'node:crypto'

type CryptoKeyPair = webcrypto.CryptoKeyPair
import { conflict, FieldRuleError, invalid, notFound, OpenpncError, PG, pgConstraint, pgErrorCode } from '../../core/errors.ts'
import { expectedCheckCharacter, parseEmaid } from '../../core/identifiers/index.ts'
import { decodeCertificates, toPem } from '../../core/pki/encoding.ts'
import { keyMatchesPoint, sealContractKey } from '../../core/pki/key-envelope.ts'
import { canonicalSerialHex } from '../../core/pki/values.ts'
import { certificateSummary, contractValidity, issuedFacts, issueContractCertificate } from '../../core/pki/profiles.ts'
import { checkProvisioningCertificate, PcidMismatchError, type TrustStore } from '../../core/pki/provisioning.ts'
import type { RevocationReason } from '../../core/pki/revocation-reasons.ts'
import type { OrganizationPolicy } from '../../core/organizations/settings.ts'
import type { Db } from '../../infra/db/database.ts'
import type { ContractCertificateStatus, ContractCertificatesTable } from '../../infra/db/schema.ts'
import type { Logger } from '../../infra/logger.ts'
import type { SecretBox } from '../../infra/secrets/secret-box.ts'
import type { Selectable } from 'kysely'
import { keyNotFound, type ChargingKeys } from '../keys/charging-keys.ts'
import type { ChargingKey, ChargingKeyRow } from '../keys/charging-key.ts'
import type { KeyStore, KeyWrites } from '../keys/key-store.ts'
import type { CaChain, CertificateAuthorities } from './authorities.ts'

/**
 * What a charging station installs for the car (ISO 15118-2 CertificateInstallationRes), named as
 * Hubject's OPCP names it; every field base64.
 */
export interface ContractData {
  emaid: string
  contractCertificate: string
  contractSubCa2Certificate: string
  contractSubCa1Certificate: string
  /** IV || AES-128-CBC(private scalar): 48 bytes */
  contractSignatureEncryptedPrivateKey: string
  /** the ephemeral ECDH public key, 65 bytes uncompressed */
  dHpublickey: string
}

export interface ContractCertificate {
  id: string
  keyId: string
  /** upper case, no separators, with the check character: the certificate's CN */
  emaid: string
  pcid: string
  serialNumber: string
  status: ContractCertificateStatus
  notBefore: Date
  notAfter: Date
  issuedBy: IssuedBy
  ecdhPeer: 'oem' | 'contract'
  renewalOf: string | null
  revokedAt: Date | null
  revocationReason: string | null
  created: Date
  certificateDer: Buffer
}

export interface IssuedContract {
  certificate: ContractCertificate
  contractData: ContractData
}

/** The vehicle's OEM provisioning certificate as a partner sends it: base64 DER or PEM, optionally with its chain. */
export interface ProvisioningInput {
  oemProvisioningCertificate: string
  chain?: string[]
}

export type EcdhPeer = 'oem' | 'contract'

/** Who asked for a certificate: the partner (API), the scheduled renewal, or Hubject's ecosystem (a webhook). */
export type IssuedBy = 'partner' | 'schedule' | 'ecosystem'

const PROVISIONING_FIELD = 'certificate.oemProvisioningCertificate'
const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256' } as const

export const contractCertificateNotFound = (ref: string) =>
  notFound('contract_certificate_not_found', `charging key ${JSON.stringify(ref)} has no contract certificate`)

type CertificateRow = Selectable<ContractCertificatesTable>

function toContractCertificate(row: CertificateRow): ContractCertificate {
  return {
    id: row.id,
    keyId: row.key_id,
    emaid: row.emaid,
    pcid: row.pcid,
    serialNumber: row.serial_number,
    status: row.status,
    notBefore: new Date(row.not_before),
    notAfter: new Date(row.not_after),
    issuedBy: row.issued_by,
    ecdhPeer: row.ecdh_peer,
    renewalOf: row.renewal_of,
    revokedAt: row.revoked_at === null ? null : new Date(row.revoked_at),
    revocationReason: row.revocation_reason,
    created: new Date(row.created_at),
    certificateDer: Buffer.from(row.certificate),
  }
}

/** The provisioning check's rule failures as the Drive API's 400, naming the field and the rule. */
function asProvisioningError(error: unknown): never {
  if (error instanceof FieldRuleError) {
    const code = error instanceof PcidMismatchError ? 'pcid_mismatch' : 'invalid_provisioning_certificate'
    throw invalid(code, error.message, { field: error.field })
  }
  throw error
}

export interface ContractSettings {
  organization: string
  maxDays: number
  renewBeforeDays: number
}

export interface ContractContext {
  db: Db
  log: Logger
  store: KeyStore
  chargingKeys: ChargingKeys
  authorities: CertificateAuthorities
  secrets: SecretBox
  /** the OEM and V2G roots provisioning certificates must chain to */
  trust: () => TrustStore
  settings: ContractSettings
  /** told after certificates of these issuers were revoked (their CRLs are made anew) */
  onRevoked: (issuerIds: string[]) => void
}

/** A contract minted in memory, before it is stored: the private key never leaves this object's life. */
interface Minted {
  der: Buffer
  serialNumber: string
  notBefore: Date
  notAfter: Date
  contractData: ContractData
}

/**
 * Contract certificates of Plug&Charge keys: issued by our MO CA, renewed, revoked, expired, and
 * kept in step with their key (validity, enabled). Every write of a key goes through the KeyStore,
 * so the key directory, OCPI and OICP hear of it.
 */
export class ContractCertificates {
  constructor(private readonly ctx: ContractContext) {}

  /** Checks a provisioning certificate for `pcid` against the trusted roots (400 naming the rule otherwise). */
  checkProvisioning(input: ProvisioningInput, pcid: string, now = new Date()) {
    try {
      const [certificate, ...rest] = decodeCertificates(input.oemProvisioningCertificate, PROVISIONING_FIELD)
      const chain = [...rest, ...(input.chain ?? []).flatMap((c, i) => decodeCertificates(c, `certificate.chain[${i}]`))]
      return checkProvisioningCertificate({
        certificate: certificate!,
        chain,
        pcid,
        trusted: this.ctx.trust(),
        now,
        field: PROVISIONING_FIELD,
      })
    } catch (error) {
      asProvisioningError(error)
    }
  }

  /** A new Plug&Charge key and its contract certificate, atomically. */
  async createKeyWithContract(
    org: OrganizationPolicy,
    userExternalId: string,
    input: { pcid: string; contractId?: string; validTo?: Date | null; certificate: ProvisioningInput },
    /** runs in the creating transaction, after the certificate is stored (e.g. the ecosystem's bookkeeping) */
    also?: (trx: Db, row: ChargingKeyRow, contract: IssuedContract) => Promise<void>,
  ): Promise<{ key: ChargingKey; contract: IssuedContract }> {
    const pcid = this.ctx.chargingKeys.checkPlugAndCharge(org, input)
    const now = new Date()
    const provisioning = this.checkProvisioning(input.certificate, pcid, now)
    const chain = await this.ctx.authorities.chain()
    const validity = this.validity(now, input.validTo ?? null, chain)
    // The key's validTo is the certificate's end unless the partner's own date comes first.
    const partnerBinds = input.validTo != null && input.validTo.getTime() <= validity.notAfter.getTime()
    const { key, attached } = await this.ctx.chargingKeys
      .createPlugAndCharge(
        org,
        userExternalId,
        { ...input, pcid, validTo: partnerBinds ? input.validTo : validity.notAfter, validToFromCertificate: !partnerBinds },
        async (_keys, trx, row) => {
          const minted = await this.mint(row, provisioning.publicKey, chain, validity)
          const stored = await this.insert(trx, row, minted, chain, {
            ecdhPeer: 'oem',
            provisioningCertificate: pemBundle(provisioning),
            renewalOf: null,
            issuedBy: 'partner',
          })
          const issued = { certificate: stored, contractData: minted.contractData }
          await also?.(trx, row, issued)
          return issued
        },
      )
      .catch((error: unknown) => {
        throw this.translate(error)
      })
    return { key: { ...key, contractCertificate: { status: 'active', notAfter: attached!.certificate.notAfter } }, contract: attached! }
  }

  /** POST .../contract-certificate: a first (or, after a revocation, a new) certificate for an existing key. */
  async issue(org: OrganizationPolicy, userExternalId: string, ref: string, input: ProvisioningInput): Promise<IssuedContract> {
    const now = new Date()
    const chain = await this.ctx.authorities.chain()
    return this.withKey(org, userExternalId, ref, async (keys, trx, row) => {
      const provisioning = this.checkProvisioning(input, row.pcid!, now)
      const current = await this.latest(trx, row.id)
      if (current?.status === 'active') {
        throw conflict('contract_certificate_exists', 'the key has an active contract certificate: renew or revoke it')
      }
      return this.issueLocked(keys, trx, row, chain, provisioning, 'partner', now)
    })
  }

  /** A first certificate for a locked key from its checked provisioning certificate; the key's validity follows. */
  private async issueLocked(
    keys: KeyWrites,
    trx: Db,
    row: ChargingKeyRow,
    chain: CaChain,
    provisioning: { publicKey: Buffer; certificateDer: Buffer; chain: Buffer[] },
    issuedBy: IssuedBy,
    now: Date,
  ): Promise<IssuedContract> {
    const validity = this.validity(now, row.valid_to_from_certificate ? null : row.valid_to, chain)
    const minted = await this.mint(row, provisioning.publicKey, chain, validity)
    const stored = await this.insert(trx, row, minted, chain, {
      ecdhPeer: 'oem',
      provisioningCertificate: pemBundle(provisioning),
      renewalOf: null,
      issuedBy,
    })
    await this.followValidity(keys, row, minted.notAfter)
    return { certificate: stored, contractData: minted.contractData }
  }

  /**
   * A new certificate for the same EMAID and PCID that supersedes the current one. The new private
   * key is encrypted for the car's current contract key (`contract`: an ISO 15118-2
   * CertificateUpdate) or its OEM provisioning key (`oem`: a new installation; the stored
   * provisioning certificate unless a new one is given).
   */
  async renew(
    org: OrganizationPolicy,
    userExternalId: string,
    ref: string,
    input: { peer: EcdhPeer; provisioning?: ProvisioningInput },
  ): Promise<IssuedContract> {
    // Read before the transaction: with the embedded database a read outside it would wait for it.
    const chain = await this.ctx.authorities.chain()
    return this.withKey(org, userExternalId, ref, (keys, trx, row) =>
      this.renewLocked(keys, trx, row, chain, input.peer, input.provisioning, 'partner'),
    )
  }

  private async renewLocked(
    keys: KeyWrites,
    trx: Db,
    row: ChargingKeyRow,
    chain: CaChain,
    peer: EcdhPeer,
    provisioningInput: ProvisioningInput | undefined,
    issuedBy: IssuedBy,
  ): Promise<IssuedContract> {
    const now = new Date()
    const current = await this.latest(trx, row.id, true)
    if (!current || (current.status !== 'active' && current.status !== 'expired')) {
      throw conflict(
        'contract_certificate_not_renewable',
        current ? `the contract certificate is ${current.status}: issue a new one instead` : 'the key has no contract certificate to renew',
      )
    }
    let peerPoint: Buffer
    let provisioningPem = current.provisioning_certificate
    if (peer === 'contract') {
      peerPoint = certificateSummary(Buffer.from(current.certificate)).publicKey
    } else if (provisioningInput) {
      const checked = this.checkProvisioning(provisioningInput, row.pcid!, now)
      peerPoint = checked.publicKey
      provisioningPem = pemBundle(checked)
    } else if (provisioningPem) {
      peerPoint = this.checkProvisioning({ oemProvisioningCertificate: provisioningPem }, row.pcid!, now).publicKey
    } else {
      throw invalid(
        'provisioning_certificate_required',
        'peer "oem" needs certificate.oemProvisioningCertificate: none is stored for this key',
        {
          field: PROVISIONING_FIELD,
        },
      )
    }
    const validity = this.validity(now, row.valid_to_from_certificate ? null : row.valid_to, chain)
    const minted = await this.mint(row, peerPoint, chain, validity)
    if (current.status === 'active') {
      await trx.updateTable('contract_certificates').set({ status: 'superseded', updated_at: now }).where('id', '=', current.id).execute()
    }
    const stored = await this.insert(trx, row, minted, chain, {
      ecdhPeer: peer,
      provisioningCertificate: provisioningPem,
      renewalOf: current.id,
      issuedBy,
    })
    await this.followValidity(keys, row, minted.notAfter)
    return { certificate: stored, contractData: minted.contractData }
  }

  /**
   * Revokes the key's contract: its current certificate and the superseded ones that are still
   * valid. The key is disabled, so CPOs hear at once that it may no longer charge.
   */
  async revoke(org: OrganizationPolicy, userExternalId: string, ref: string, reason: RevocationReason): Promise<ContractCertificate> {
    const { revoked, issuers } = await this.withKey(org, userExternalId, ref, async (keys, trx, row) => {
      const issuers = await this.revokeLocked(keys, trx, row, reason)
      if (issuers === null) {
        const latest = await this.latest(trx, row.id)
        if (!latest) throw contractCertificateNotFound(ref)
        throw conflict('contract_certificate_not_revocable', `the contract certificate is already ${latest.status}`)
      }
      return { revoked: (await this.latest(trx, row.id))!, issuers }
    })
    this.ctx.onRevoked(issuers)
    return toContractCertificate(revoked)
  }

  /**
   * Revokes a locked key's current and superseded certificates and disables the key. Returns the
   * issuers concerned (their CRLs are made anew), or null when there was nothing to revoke.
   */
  private async revokeLocked(keys: KeyWrites, trx: Db, row: { id: string; enabled: boolean }, reason: RevocationReason) {
    const now = new Date()
    const rows = await trx
      .updateTable('contract_certificates')
      .set({ status: 'revoked', revoked_at: now, revocation_reason: reason, updated_at: now })
      .where('key_id', '=', row.id)
      .where('status', 'in', ['active', 'superseded'])
      .returning(['issuer_id'])
      .execute()
    if (rows.length === 0) return null
    if (row.enabled) await keys.update(row.id, { enabled: false })
    return [...new Set(rows.map((r) => r.issuer_id))]
  }

  /** GET .../contract-certificate: the key's latest certificate, with its contract data. */
  async current(
    org: OrganizationPolicy,
    userExternalId: string,
    ref: string,
  ): Promise<{ certificate: ContractCertificate; contractData: ContractData }> {
    const userId = await this.ctx.chargingKeys.liveUserId(org, userExternalId)
    const row = await this.ctx.chargingKeys.findByRef(this.ctx.db, userId, ref, false)
    if (!row) throw keyNotFound(ref)
    const latest = await this.latest(this.ctx.db, row.id)
    if (!latest) throw contractCertificateNotFound(ref)
    return { certificate: toContractCertificate(latest), contractData: this.openContractData(latest) }
  }

  // ----- by key ID: for the ecosystem's rounds and webhooks, which act on a key, not on a partner's request

  /**
   * A first certificate for a live Plug&Charge key from the vehicle's provisioning certificate (as
   * the PCP handed it out). Idempotent: when the key has an active certificate already, that one
   * stays and 'exists' is answered. Null when the key is gone.
   */
  async issueForKey(
    keyId: string,
    provisioning: ProvisioningInput,
    issuedBy: IssuedBy,
    /** checked in the issuing transaction, the key locked: false issues nothing (answered 'not_requested') */
    requested?: (trx: Db) => Promise<boolean>,
  ): Promise<IssuedContract | 'exists' | 'not_requested' | null> {
    const now = new Date()
    const chain = await this.ctx.authorities.chain()
    return this.withKeyId(keyId, async (keys, trx, row) => {
      const current = await this.latest(trx, row.id)
      if (current?.status === 'active') return 'exists' as const
      if (requested && !(await requested(trx))) return 'not_requested' as const
      return this.issueLocked(keys, trx, row, chain, this.checkProvisioning(provisioning, row.pcid!, now), issuedBy, now)
    })
  }

  /**
   * The vehicle got a new provisioning key: a new certificate for the same EMAID and PCID,
   * encrypted for the new key, supersedes the current (or expired) one. Null when the key is gone
   * or its contract was revoked meanwhile: a revoked contract is never renewed by itself.
   */
  async reissueForKey(keyId: string, provisioning: ProvisioningInput, issuedBy: IssuedBy): Promise<IssuedContract | null> {
    const chain = await this.ctx.authorities.chain()
    const renewed = await this.withKeyId(keyId, async (keys, trx, row) => {
      const current = await this.latest(trx, row.id)
      if (!current || (current.status !== 'active' && current.status !== 'expired')) return null
      return this.renewLocked(keys, trx, row, chain, 'oem', provisioning, issuedBy)
    })
    return renewed ?? null
  }

  /** Revokes a key's contract (current and superseded certificates) and disables the key. Returns how many were revoked. */
  async revokeForKey(keyId: string, reason: RevocationReason): Promise<number> {
    return this.transaction((_trx, revoke) => revoke(keyId, reason))
  }

  /**
   * `work` in one key transaction, with the revocation of a key's contract at hand: what else
   * `work` writes (a webhook event kept once) commits with the revocations. CRLs follow the commit.
   */
  async transaction<T>(work: (trx: Db, revoke: (keyId: string, reason: RevocationReason) => Promise<number>) => Promise<T>): Promise<T> {
    const issuers = new Set<string>()
    const result = await this.ctx.store.transaction(async (keys, trx) => {
      const revoke = async (keyId: string, reason: RevocationReason) => {
        const row = await trx.selectFrom('charging_keys').select(['id', 'enabled']).where('id', '=', keyId).forUpdate().executeTakeFirst()
        if (!row) return 0
        const revoked = (await this.revokeLocked(keys, trx, row, reason)) ?? []
        for (const issuer of revoked) issuers.add(issuer)
        return revoked.length
      }
      return work(trx, revoke)
    })
    if (issuers.size > 0) this.ctx.onRevoked([...issuers])
    return result
  }

  /** A key's latest certificate and its contract data (deleted keys included); null when it has none. */
  async latestOfKey(keyId: string, db: Db = this.ctx.db): Promise<IssuedContract | null> {
    const latest = await this.latest(db, keyId)
    return latest ? { certificate: toContractCertificate(latest), contractData: this.openContractData(latest) } : null
  }

  /** Runs `work` on a live Plug&Charge key by ID, locked, in a KeyStore transaction; null when there is none. */
  private async withKeyId<T>(keyId: string, work: (keys: KeyWrites, trx: Db, row: ChargingKeyRow) => Promise<T>): Promise<T | null> {
    try {
      return await this.ctx.store.transaction(async (keys, trx) => {
        const row = await trx
          .selectFrom('charging_keys')
          .selectAll()
          .where('id', '=', keyId)
          .where('deleted_at', 'is', null)
          .where('type', '=', 'plug_and_charge')
          .forUpdate()
          .executeTakeFirst()
        return row ? work(keys, trx, row) : null
      })
    } catch (error) {
      throw this.translate(error)
    }
  }

  /**
   * Active certificates past their end become `expired`, and their keys are disabled (their
   * validTo has passed too; the disabling tells CPOs in one event). Returns how many expired.
   */
  async expireDue(now = new Date()): Promise<number> {
    return this.ctx.store.transaction(async (keys, trx) => {
      const expired = await trx
        .updateTable('contract_certificates')
        .set({ status: 'expired', updated_at: now })
        .where('status', '=', 'active')
        .where('not_after', '<=', now)
        .returning(['key_id'])
        .execute()
      for (const { key_id } of expired) {
        const key = await trx.selectFrom('charging_keys').select(['id', 'enabled']).where('id', '=', key_id).forUpdate().executeTakeFirst()
        if (key?.enabled) await keys.update(key.id, { enabled: false })
      }
      if (expired.length > 0) this.ctx.log.info({ certificates: expired.length }, 'contract certificates expired; their keys are disabled')
      return expired.length
    })
  }

  /**
   * The scheduled renewal: every active certificate of a live key that ends within the lead time
   * is renewed (the event says `issuedBy: schedule`). One transaction per certificate, rows claimed
   * with SKIP LOCKED, so several instances share the work. Returns how many were renewed.
   */
  async renewDue(now = new Date(), limit = 500): Promise<number> {
    const horizon = new Date(now.getTime() + this.ctx.settings.renewBeforeDays * 86_400_000)
    let renewed = 0
    // Read before any transaction: with the embedded database a read outside it would wait for it.
    const chain = await this.ctx.authorities.chain()
    for (;;) {
      const done = await this.ctx.store.transaction(async (keys, trx) => {
        const due = await trx
          .selectFrom('contract_certificates as c')
          .innerJoin('charging_keys as k', 'k.id', 'c.key_id')
          .select(['c.id', 'c.key_id', 'c.provisioning_certificate'])
          .where('c.status', '=', 'active')
          .where('c.not_after', '<=', horizon)
          .where('k.deleted_at', 'is', null)
          .orderBy('c.not_after')
          .limit(1)
          .forUpdate('c')
          .skipLocked()
          .executeTakeFirst()
        if (!due) return false
        const row = await trx.selectFrom('charging_keys').selectAll().where('id', '=', due.key_id).forUpdate().executeTakeFirstOrThrow()
        // The OEM provisioning key when we hold a valid provisioning certificate (it serves a fresh
        // installation as well); else the current contract key (an ISO 15118-2 CertificateUpdate).
        let peer: EcdhPeer = 'contract'
        if (due.provisioning_certificate) {
          try {
            this.checkProvisioning({ oemProvisioningCertificate: due.provisioning_certificate }, row.pcid!, now)
            peer = 'oem'
          } catch {
            peer = 'contract'
          }
        }
        await this.renewLocked(keys, trx, row, chain, peer, undefined, 'schedule')
        return true
      })
      if (!done) break
      renewed++
      if (renewed >= limit) break
    }
    if (renewed > 0) this.ctx.log.info({ certificates: renewed }, 'contract certificates renewed ahead of expiry')
    return renewed
  }

  private validity(now: Date, keyValidTo: Date | null, chain: CaChain) {
    try {
      return contractValidity({ now, keyValidTo, maxDays: this.ctx.settings.maxDays, issuerNotAfter: chain.subCa2.notAfter })
    } catch (error) {
      if (error instanceof FieldRuleError) throw invalid('invalid_valid_to', error.message, { field: error.field })
      throw error
    }
  }

  /** The key's validTo follows the certificate unless the partner set its own. */
  private async followValidity(keys: KeyWrites, row: ChargingKeyRow, notAfter: Date) {
    if (row.valid_to !== null && !row.valid_to_from_certificate) return
    if (row.valid_to?.getTime() === notAfter.getTime() && row.valid_to_from_certificate) return
    await keys.update(row.id, { validTo: notAfter, validToFromCertificate: true })
  }

  /** Runs `work` on the organization user's live Plug&Charge key, locked, in a KeyStore transaction. */
  private async withKey<T>(
    org: OrganizationPolicy,
    userExternalId: string,
    ref: string,
    work: (keys: KeyWrites, trx: Db, row: ChargingKeyRow) => Promise<T>,
  ): Promise<T> {
    try {
      return await this.ctx.store.transaction(async (keys, trx) => {
        const userId = await this.ctx.chargingKeys.liveUserId(org, userExternalId, trx)
        const row = await this.ctx.chargingKeys.findByRef(trx, userId, ref, true)
        if (!row) throw keyNotFound(ref)
        if (row.type !== 'plug_and_charge') {
          throw invalid(
            'not_a_plug_and_charge_key',
            `charging key ${JSON.stringify(ref)} is a ${row.type} key: contract certificates belong to Plug&Charge keys`,
          )
        }
        return work(keys, trx, row)
      })
    } catch (error) {
      throw this.translate(error)
    }
  }

  private translate(error: unknown): unknown {
    if (pgErrorCode(error) === PG.exclusionViolation && pgConstraint(error) === 'contract_certificates_emaid_other_pcid') {
      return conflict(
        'emaid_bound_to_other_pcid',
        'this EMAID is bound to another vehicle (PCID) by a contract certificate that is not revoked',
      )
    }
    return error
  }

  private async latest(db: Db, keyId: string, forUpdate = false): Promise<CertificateRow | undefined> {
    let query = db.selectFrom('contract_certificates').selectAll().where('key_id', '=', keyId).orderBy('seq', 'desc').limit(1)
    if (forUpdate) query = query.forUpdate()
    return query.executeTakeFirst()
  }

  /**
   * Makes the contract key pair, the certificate and the envelope of its private key for
   * `peerPoint`. The private key lives only in this call; before it is released the envelope is
   * checked: d·G must be the certificate's public key.
   */
  private async mint(
    row: ChargingKeyRow,
    peerPoint: Buffer,
    chain: CaChain,
    validity: { notBefore: Date; notAfter: Date },
  ): Promise<Minted> {
    const parsed = parseEmaid(row.emaid_identity)!
    const emaid = row.emaid_identity + expectedCheckCharacter(parsed)
    const pair = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair
    const jwk = await webcrypto.subtle.exportKey('jwk', pair.privateKey)
    const d = Buffer.from(jwk.d!, 'base64url')
    const der = await issueContractCertificate({
      emaid,
      organization: this.ctx.settings.organization,
      publicKey: pair.publicKey,
      issuer: this.ctx.authorities.issuerOf(chain.subCa2),
      notBefore: validity.notBefore,
      notAfter: validity.notAfter,
      urls: this.ctx.authorities.urlsFor(chain.subCa2),
    })
    // Checked before release, independently of how the certificate was made: signed by Sub-CA 2,
    // naming this EMAID, holding the public key of the private key in the envelope.
    const summary = issuedFacts(der, chain.subCa2.certificateDer)
    const envelope = sealContractKey({ contractPrivateKey: d, peerPublicKey: peerPoint })
    if (!keyMatchesPoint(d, summary.publicKey) || summary.commonName !== emaid) {
      throw new OpenpncError(
        'internal',
        'contract_certificate_mismatch',
        'the contract certificate does not match its EMAID or its private key',
      )
    }
    d.fill(0)
    return {
      der,
      serialNumber: canonicalSerialHex(summary.serialNumber),
      notBefore: summary.notBefore,
      notAfter: summary.notAfter,
      contractData: {
        emaid,
        contractCertificate: der.toString('base64'),
        contractSubCa2Certificate: chain.subCa2.certificateDer.toString('base64'),
        contractSubCa1Certificate: chain.subCa1.certificateDer.toString('base64'),
        contractSignatureEncryptedPrivateKey: envelope.encryptedPrivateKey.toString('base64'),
        dHpublickey: envelope.dhPublicKey.toString('base64'),
      },
    }
  }

  private async insert(
    trx: Db,
    row: ChargingKeyRow,
    minted: Minted,
    chain: CaChain,
    how: { ecdhPeer: EcdhPeer; provisioningCertificate: string | null; renewalOf: string | null; issuedBy: IssuedBy },
  ): Promise<ContractCertificate> {
    try {
      // The ID is ours to choose, so the sealed contract data can be bound to it in the same insert.
      const id = randomUUID()
      const stored = await trx
        .insertInto('contract_certificates')
        .values({
          id,
          organization_id: row.organization_id,
          key_id: row.id,
          emaid: minted.contractData.emaid,
          emaid_identity: row.emaid_identity,
          pcid: row.pcid!,
          issuer_id: chain.subCa2.id,
          serial_number: minted.serialNumber,
          certificate: minted.der,
          not_before: minted.notBefore,
          not_after: minted.notAfter,
          renewal_of: how.renewalOf,
          issued_by: how.issuedBy,
          ecdh_peer: how.ecdhPeer,
          provisioning_certificate: how.provisioningCertificate,
          contract_data_sealed: this.ctx.secrets.seal(JSON.stringify(minted.contractData), sealContext(id)),
        })
        .returningAll()
        .executeTakeFirstOrThrow()
      return toContractCertificate(stored)
    } catch (error) {
      throw this.translate(error)
    }
  }

  private openContractData(row: CertificateRow): ContractData {
    return JSON.parse(this.ctx.secrets.open(row.contract_data_sealed, sealContext(row.id))) as ContractData
  }
}

/** The provisioning certificate and the path it was checked by, as PEM: what a later check needs. */
const pemBundle = (checked: { certificateDer: Buffer; chain: Buffer[] }) =>
  [checked.certificateDer, ...checked.chain].map((der) => toPem(der)).join('')

const sealContext = (certificateId: string) => `contract-data:${certificateId}`
