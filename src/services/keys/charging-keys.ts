import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import {
  emaidIdentity,
  formatEmaid,
  generateEmaid,
  normalizeRfidUid,
  parseEmaidPrefix,
  RFID_UID_RULE,
  type Emaid,
} from '../../core/identifiers/index.ts'
import { conflict, invalid, notFound, PG, pgConstraint, pgErrorCode } from '../../core/errors.ts'
import type { Logger } from '../../infra/logger.ts'
import type { OrganizationPolicy } from '../../core/organizations/settings.ts'
import { normalizePcid } from '../../core/identifiers/index.ts'
import { acceptContractId } from '../../core/keys/contract-id-policy.ts'
import { effectiveChanges, toChargingKey, type ChargingKey, type ChargingKeyRow, type KeyChanges } from './charging-key.ts'
import type { KeyStore, KeyWrites, NewKey } from './key-store.ts'

/** A random 36^8 instance collides about never; a few attempts make "about" into "never observed". */
export const GENERATION_ATTEMPTS = 8

export const userNotFound = (userId: string) => notFound('user_not_found', `user ${JSON.stringify(userId)} not found`)
export const keyNotFound = (ref: string) =>
  notFound('charging_key_not_found', `charging key ${JSON.stringify(ref)} not found for this user`)

const EMAID_CONSTRAINTS = new Set([
  'charging_keys_emaid_other_organization',
  'charging_keys_emaid_duplicate',
  'charging_keys_user_emaid_key',
])

export function isEmaidConflict(error: unknown): boolean {
  const code = pgErrorCode(error)
  return (code === PG.exclusionViolation || code === PG.uniqueViolation) && EMAID_CONSTRAINTS.has(pgConstraint(error) ?? '')
}

export interface KeyContext {
  db: Db
  log: Logger
  /** The platform's prefix for generated EMAIDs, when the organization has none. */
  platformEmaidPrefix: { country: string; provider: string }
  /** every write goes through it, so the key directory hears of it */
  store: KeyStore
}

export class ChargingKeys {
  constructor(private readonly ctx: KeyContext) {}

  private emaidPrefixFor(org: OrganizationPolicy) {
    return (org.emaidPrefix && parseEmaidPrefix(org.emaidPrefix)) || this.ctx.platformEmaidPrefix
  }

  /**
   * Inserts a key under a freshly generated EMAID, drawing again on the (unlikely) collision.
   * Generated EMAIDs claim their identity exclusively, whatever the duplicate policy.
   */
  async insertWithGeneratedEmaid(
    keys: KeyWrites,
    org: OrganizationPolicy,
    userExternalId: string,
    key: Omit<NewKey, 'contractId' | 'emaidIdentity' | 'duplicatesAllowed'>,
    // Inside a caller's transaction a conflict aborts it, so there the caller retries, not us.
    attempts = GENERATION_ATTEMPTS,
  ): Promise<ChargingKeyRow | undefined> {
    const prefix = this.emaidPrefixFor(org)
    for (let attempt = 1; ; attempt++) {
      const emaid = generateEmaid(prefix)
      try {
        return await keys.insert(org.id, userExternalId, {
          ...key,
          contractId: formatEmaid(emaid),
          emaidIdentity: emaid.identity,
          duplicatesAllowed: false,
        })
      } catch (error) {
        if (!isEmaidConflict(error) || attempt >= attempts) throw error
      }
    }
  }

  /** The checks of a new Plug&Charge key that need no database: Plug&Charge enabled, the PCID, validTo. */
  checkPlugAndCharge(org: OrganizationPolicy, input: { pcid: string; validTo?: Date | null }): string {
    if (!org.plugAndChargeEnabled) {
      throw invalid('plug_and_charge_not_enabled', 'Plug&Charge is not enabled for this organization; contact the platform operator')
    }
    const pcid = normalizePcid(input.pcid)
    if (!pcid) {
      throw invalid('invalid_pcid', `pcid must be 17-18 letters or digits, got ${JSON.stringify(input.pcid)}`)
    }
    // One rule for creation and PATCH: validTo must follow validFrom, which for a new key is now.
    if (input.validTo && input.validTo.getTime() <= Date.now()) {
      throw invalid(
        'invalid_valid_to',
        `validTo must be after the key's validFrom, the moment it is created (got ${input.validTo.toISOString()}); an expired contract certificate needs no key`,
        { field: 'validTo' },
      )
    }
    return pcid
  }

  /**
   * POST /v1/users/{userId}/charging-keys/plug-and-charge. With `attach`, the key is created in a
   * transaction and `attach` writes what belongs to it (its contract certificate) in the same one:
   * either both exist or neither.
   */
  async createPlugAndCharge<T = undefined>(
    org: OrganizationPolicy,
    userExternalId: string,
    input: { pcid: string; contractId?: string; validTo?: Date | null; validToFromCertificate?: boolean },
    attach?: (keys: KeyWrites, trx: Db, key: ChargingKeyRow) => Promise<T>,
  ): Promise<{ key: ChargingKey; attached: T | undefined }> {
    const pcid = this.checkPlugAndCharge(org, input)
    const base = {
      type: 'plug_and_charge' as const,
      pcid,
      validTo: input.validTo ?? null,
      validToFromCertificate: input.validToFromCertificate ?? false,
    }
    const accepted = input.contractId === undefined ? undefined : this.accept(org, input.contractId)
    const given = accepted && {
      ...base,
      contractId: accepted.contractId,
      emaidIdentity: accepted.emaid.identity,
      duplicatesAllowed: org.duplicateContractIds === 'allow',
    }
    let row: ChargingKeyRow | undefined
    let attached: T | undefined
    if (!attach) {
      row = given
        ? await this.insertGiven(org, userExternalId, accepted.emaid, given)
        : await this.ctx.store.write((keys) => this.insertWithGeneratedEmaid(keys, org, userExternalId, base))
    } else {
      // A conflict aborts the transaction, so a generated EMAID is drawn again around it.
      for (let attempt = 1; ; attempt++) {
        try {
          ;({ row, attached } = await this.ctx.store.transaction(async (keys, trx) => {
            const inserted = given
              ? await keys.insert(org.id, userExternalId, given)
              : await this.insertWithGeneratedEmaid(keys, org, userExternalId, base, 1)
            return { row: inserted, attached: inserted ? await attach(keys, trx, inserted) : undefined }
          }))
          break
        } catch (error) {
          if (!isEmaidConflict(error)) throw error
          if (given) throw conflict('contract_id_exists', `a charging key with contract ID ${formatEmaid(accepted.emaid)} already exists`)
          if (attempt >= GENERATION_ATTEMPTS) throw error
        }
      }
    }
    if (!row) throw userNotFound(userExternalId)
    return { key: toChargingKey(row), attached }
  }

  /** POST /v1/users/{userId}/charging-keys (RFID) */
  async createRfid(
    org: OrganizationPolicy,
    userExternalId: string,
    input: { keyIdentifier: string; contractId: string; visualNumber: string; name?: string | null; enabled?: boolean },
  ): Promise<ChargingKey> {
    const rfidUid = normalizeRfidUid(input.keyIdentifier)
    if (rfidUid === null) {
      throw invalid('invalid_key_identifier', `keyIdentifier must be ${RFID_UID_RULE}, got ${JSON.stringify(input.keyIdentifier)}`)
    }
    const accepted = this.accept(org, input.contractId)
    let row: ChargingKeyRow | undefined
    try {
      row = await this.insertGiven(org, userExternalId, accepted.emaid, {
        type: 'rfid',
        contractId: accepted.contractId,
        emaidIdentity: accepted.emaid.identity,
        rfidUid,
        visualNumber: input.visualNumber,
        name: input.name ?? null,
        enabled: input.enabled ?? true,
        duplicatesAllowed: org.duplicateContractIds === 'allow',
      })
    } catch (error) {
      if (pgErrorCode(error) === PG.uniqueViolation && pgConstraint(error) === 'charging_keys_rfid_uid_key') {
        throw conflict('key_identifier_exists', `an RFID key with keyIdentifier ${rfidUid} already exists`)
      }
      throw error
    }
    if (!row) throw userNotFound(userExternalId)
    return toChargingKey(row)
  }

  private accept(org: OrganizationPolicy, contractId: string) {
    const accepted = acceptContractId(org, contractId)
    if (accepted.checkCharacterMismatch) {
      this.ctx.log.warn(
        { organizationId: org.id, contractId: accepted.contractId, ...accepted.checkCharacterMismatch },
        'contract ID accepted with a wrong check character (organization is lenient)',
      )
    }
    return accepted
  }

  private async insertGiven(org: OrganizationPolicy, userExternalId: string, emaid: Emaid, key: NewKey) {
    try {
      return await this.ctx.store.write((keys) => keys.insert(org.id, userExternalId, key))
    } catch (error) {
      if (isEmaidConflict(error)) {
        throw conflict('contract_id_exists', `a charging key with contract ID ${formatEmaid(emaid)} already exists`)
      }
      throw error
    }
  }

  /** GET /v1/users/{userId}/charging-keys: the user's live keys, oldest first. */
  async list(org: OrganizationPolicy, userExternalId: string): Promise<ChargingKey[]> {
    const userId = await this.liveUserId(org, userExternalId)
    const rows = await this.ctx.db
      .selectFrom('charging_keys')
      .selectAll()
      .where('user_id', '=', userId)
      .where('deleted_at', 'is', null)
      .orderBy('seq')
      .execute()
    return this.withCertificateStanding(rows.map(toChargingKey))
  }

  /** Plug&Charge keys carry the standing of their latest contract certificate, if they have one. */
  async withCertificateStanding(keys: ChargingKey[]): Promise<ChargingKey[]> {
    const ids = keys.filter((k) => k.type === 'plug_and_charge').map((k) => k.id)
    if (ids.length === 0) return keys
    const latest = await this.ctx.db
      .selectFrom('contract_certificates')
      .select(['key_id', 'status', 'not_after'])
      .distinctOn('key_id')
      .where('key_id', 'in', ids)
      .orderBy('key_id')
      .orderBy('seq', 'desc')
      .execute()
    const byKey = new Map(latest.map((c) => [c.key_id, { status: c.status, notAfter: new Date(c.not_after) }]))
    // Keys whose contract goes through Hubject's ecosystem also carry how far it got there.
    const published = await this.ctx.db.selectFrom('opcp_contracts').select(['key_id', 'state']).where('key_id', 'in', ids).execute()
    const stateOf = new Map(published.map((p) => [p.key_id, p.state]))
    return keys.map((k) => ({
      ...k,
      ...(byKey.has(k.id) && { contractCertificate: byKey.get(k.id) }),
      ...(stateOf.has(k.id) && { contractPublication: stateOf.get(k.id) }),
    }))
  }

  async get(org: OrganizationPolicy, userExternalId: string, ref: string): Promise<ChargingKey> {
    const userId = await this.liveUserId(org, userExternalId)
    const row = await this.findByRef(this.ctx.db, userId, ref, false)
    if (!row) throw keyNotFound(ref)
    return (await this.withCertificateStanding([toChargingKey(row)]))[0]!
  }

  /** A live key of any of the organization's users, by key ID or contract ID (the organization-wide session filter). */
  async findInOrganization(org: OrganizationPolicy, ref: string): Promise<{ id: string }> {
    const identity = emaidIdentity(ref)
    const uid = normalizeRfidUid(ref)
    const row =
      identity || uid
        ? await this.ctx.db
            .selectFrom('charging_keys')
            .select('id')
            .where('organization_id', '=', org.id)
            .where('deleted_at', 'is', null)
            .where((eb) => eb.or([...(identity ? [eb('emaid_identity', '=', identity)] : []), ...(uid ? [eb('rfid_uid', '=', uid)] : [])]))
            .orderBy(sql`rfid_uid IS NOT DISTINCT FROM ${uid}`, 'desc')
            .limit(1)
            .executeTakeFirst()
        : undefined
    if (!row) throw keyNotFound(ref)
    return row
  }

  /** PATCH: only the given fields change; setting the current value changes nothing. */
  async update(org: OrganizationPolicy, userExternalId: string, ref: string, changes: KeyChanges): Promise<ChargingKey> {
    return this.ctx.store.transaction(async (keys, trx) => {
      const userId = await this.liveUserId(org, userExternalId, trx)
      const row = await this.findByRef(trx, userId, ref, true)
      if (!row) throw keyNotFound(ref)
      const key = toChargingKey(row)
      const effective = effectiveChanges(key, changes)
      if (Object.keys(effective).length === 0) return key
      const validTo = effective.validTo === undefined ? key.validTo : effective.validTo
      if (validTo !== null && validTo <= key.validFrom) {
        throw invalid('invalid_valid_to', `validTo must be after the key's validFrom (${key.validFrom.toISOString()})`)
      }
      // A validTo the partner sets is the partner's from now on: certificate renewals no longer move it.
      const validToFromCertificate = effective.validTo !== undefined ? false : undefined
      return toChargingKey(await keys.update(key.id, { ...effective, validToFromCertificate }))
    })
  }

  /** DELETE: the key is disabled and tombstoned (CPOs learn it is no longer valid). */
  async delete(org: OrganizationPolicy, userExternalId: string, ref: string): Promise<void> {
    await this.ctx.store.transaction(async (keys, trx) => {
      const userId = await this.liveUserId(org, userExternalId, trx)
      const row = await this.findByRef(trx, userId, ref, true)
      if (!row) throw keyNotFound(ref)
      await keys.tombstone(row.id)
    })
  }

  async liveUserId(org: OrganizationPolicy, userExternalId: string, db: Db = this.ctx.db): Promise<string> {
    const user = await db
      .selectFrom('users')
      .select('id')
      .where('organization_id', '=', org.id)
      .where('external_id', '=', userExternalId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst()
    if (!user) throw userNotFound(userExternalId)
    return user.id
  }

  /** A key path names the key ID or the contract ID, in any separator and case form. */
  async findByRef(db: Db, userId: string, ref: string, forUpdate: boolean) {
    const identity = emaidIdentity(ref)
    const uid = normalizeRfidUid(ref)
    if (!identity && !uid) return undefined
    let query = db
      .selectFrom('charging_keys')
      .selectAll()
      .where('user_id', '=', userId)
      .where('deleted_at', 'is', null)
      .where((eb) => {
        const matches = []
        if (identity) matches.push(eb('emaid_identity', '=', identity))
        if (uid) matches.push(eb('rfid_uid', '=', uid))
        return eb.or(matches)
      })
      // An RFID UID that also reads as an EMAID: the exact key ID wins.
      .orderBy(sql`rfid_uid IS NOT DISTINCT FROM ${uid}`, 'desc')
      .limit(1)
    if (forUpdate) query = query.forUpdate()
    return query.executeTakeFirst()
  }
}
