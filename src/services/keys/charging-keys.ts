import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import type { ChargingKeyType } from '../../infra/db/schema.ts'
import { emaidIdentity, formatEmaid, generateEmaid, parseEmaidPrefix, type Emaid } from '../../core/identifiers/index.ts'
import { conflict, invalid, notFound, PG, pgConstraint, pgErrorCode } from '../../core/errors.ts'
import type { Logger } from '../../infra/logger.ts'
import type { OrganizationPolicy } from '../organizations/settings.ts'
import { normalizePcid } from '../../core/identifiers/index.ts'
import { acceptContractId } from '../../core/keys/contract-id-policy.ts'
import { effectiveChanges, toChargingKey, type ChargingKey, type ChargingKeyRow, type KeyChanges } from './charging-key.ts'

const RFID_UID = /^([0-9A-Fa-f]{8}|[0-9A-Fa-f]{14}|[0-9A-Fa-f]{20})$/
/** A random 36^8 instance collides about never; a few attempts make "about" into "never observed". */
export const GENERATION_ATTEMPTS = 8

export const userNotFound = (userId: string) => notFound('user_not_found', `user ${JSON.stringify(userId)} not found`)
const keyNotFound = (ref: string) => notFound('charging_key_not_found', `charging key ${JSON.stringify(ref)} not found for this user`)

interface NewKey {
  type: ChargingKeyType
  contractId: string
  emaidIdentity: string
  pcid?: string | null
  rfidUid?: string | null
  visualNumber?: string | null
  name?: string | null
  enabled?: boolean
  validTo?: Date | null
  duplicatesAllowed: boolean
}

const EMAID_CONSTRAINTS = new Set([
  'charging_keys_emaid_other_organization',
  'charging_keys_emaid_duplicate',
  'charging_keys_user_emaid_key',
])

export function isEmaidConflict(error: unknown): boolean {
  const code = pgErrorCode(error)
  return (code === PG.exclusionViolation || code === PG.uniqueViolation) && EMAID_CONSTRAINTS.has(pgConstraint(error) ?? '')
}

/** Advisory-lock class of contract identities (any int4 no other lock of ours uses). */
const EMAID_LOCK_CLASS = 15118

/**
 * Inserts a key for a live user of the organization in one statement (the trigger writes its
 * event). The user row is share-locked, so a concurrent user deletion either waits for this key
 * and then disables it, or wins and this insert finds no user. Undefined when there is no user.
 *
 * Inserts of one contract identity first queue on a transaction-level advisory lock: two
 * concurrent inserts into an exclusion constraint each find the other's uncommitted row and wait
 * for each other (a deadlock PostgreSQL breaks only after deadlock_timeout, one pair at a time).
 * Queued, the next insert finds the committed row and fails with the constraint at once.
 */
export async function insertKey(db: Db, organizationId: string, userExternalId: string, key: NewKey): Promise<ChargingKeyRow | undefined> {
  const result = await sql<ChargingKeyRow>`
    WITH claim AS (
      SELECT pg_advisory_xact_lock(${EMAID_LOCK_CLASS}::int4, hashtext(${key.emaidIdentity}))
    ), owner AS (
      SELECT users.id FROM claim, users
      WHERE organization_id = ${organizationId} AND external_id = ${userExternalId} AND deleted_at IS NULL
      FOR SHARE OF users
    )
    INSERT INTO charging_keys (organization_id, user_id, type, contract_id, emaid_identity, pcid, rfid_uid,
                               visual_number, name, enabled, valid_to, duplicates_allowed)
    SELECT ${organizationId}::uuid, owner.id, ${key.type}, ${key.contractId}, ${key.emaidIdentity}, ${key.pcid ?? null},
           ${key.rfidUid ?? null}, ${key.visualNumber ?? null}, ${key.name ?? null}, ${key.enabled ?? true}::boolean,
           ${key.validTo ?? null}::timestamptz, ${key.duplicatesAllowed}::boolean
    FROM owner
    RETURNING *`.execute(db)
  return result.rows[0]
}

export interface KeyContext {
  db: Db
  log: Logger
  /** The platform's prefix for generated EMAIDs, when the organization has none. */
  platformEmaidPrefix: { country: string; provider: string }
  /** Told after every committed change, with the EMAID identities / RFID UIDs it touched. */
  keysChanged?: (identifiers: Array<string | null>) => void
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
    db: Db,
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
        return await insertKey(db, org.id, userExternalId, {
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

  /** POST /v1/users/{userId}/charging-keys/plug-and-charge */
  async createPlugAndCharge(
    org: OrganizationPolicy,
    userExternalId: string,
    input: { pcid: string; contractId?: string; validTo?: Date | null },
  ): Promise<ChargingKey> {
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
    const base = { type: 'plug_and_charge' as const, pcid, validTo: input.validTo ?? null }
    let row: ChargingKeyRow | undefined
    if (input.contractId === undefined) {
      row = await this.insertWithGeneratedEmaid(this.ctx.db, org, userExternalId, base)
    } else {
      const accepted = this.accept(org, input.contractId)
      row = await this.insertGiven(org, userExternalId, accepted.emaid, {
        ...base,
        contractId: accepted.contractId,
        emaidIdentity: accepted.emaid.identity,
        duplicatesAllowed: org.duplicateContractIds === 'allow',
      })
    }
    if (!row) throw userNotFound(userExternalId)
    this.ctx.keysChanged?.([row.emaid_identity])
    return toChargingKey(row)
  }

  /** POST /v1/users/{userId}/charging-keys (RFID) */
  async createRfid(
    org: OrganizationPolicy,
    userExternalId: string,
    input: { keyIdentifier: string; contractId: string; visualNumber: string; name?: string | null; enabled?: boolean },
  ): Promise<ChargingKey> {
    if (!RFID_UID.test(input.keyIdentifier)) {
      throw invalid(
        'invalid_key_identifier',
        `keyIdentifier must be an RFID UID of 8, 14 or 20 hexadecimal characters, got ${JSON.stringify(input.keyIdentifier)}`,
      )
    }
    const accepted = this.accept(org, input.contractId)
    const rfidUid = input.keyIdentifier.toUpperCase()
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
    this.ctx.keysChanged?.([row.emaid_identity, row.rfid_uid])
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
      return await insertKey(this.ctx.db, org.id, userExternalId, key)
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
    return rows.map(toChargingKey)
  }

  async get(org: OrganizationPolicy, userExternalId: string, ref: string): Promise<ChargingKey> {
    const userId = await this.liveUserId(org, userExternalId)
    const row = await this.findByRef(this.ctx.db, userId, ref, false)
    if (!row) throw keyNotFound(ref)
    return toChargingKey(row)
  }

  /** PATCH: only the given fields change; setting the current value changes nothing. */
  async update(org: OrganizationPolicy, userExternalId: string, ref: string, changes: KeyChanges): Promise<ChargingKey> {
    const key = await this.ctx.db.transaction().execute(async (trx) => {
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
      const updated = await trx
        .updateTable('charging_keys')
        .set({ enabled: effective.enabled, name: effective.name, valid_to: effective.validTo, updated_at: new Date() })
        .where('id', '=', key.id)
        .returningAll()
        .executeTakeFirstOrThrow()
      return toChargingKey(updated)
    })
    this.ctx.keysChanged?.([key.emaidIdentity, key.keyIdentifier])
    return key
  }

  /** DELETE: the key is disabled and tombstoned (CPOs learn it is no longer valid). */
  async delete(org: OrganizationPolicy, userExternalId: string, ref: string): Promise<void> {
    const row = await this.ctx.db.transaction().execute(async (trx) => {
      const userId = await this.liveUserId(org, userExternalId, trx)
      const row = await this.findByRef(trx, userId, ref, true)
      if (!row) throw keyNotFound(ref)
      await trx
        .updateTable('charging_keys')
        .set({ enabled: false, deleted_at: new Date(), updated_at: new Date() })
        .where('id', '=', row.id)
        .execute()
      return row
    })
    this.ctx.keysChanged?.([row.emaid_identity, row.rfid_uid])
  }

  private async liveUserId(org: OrganizationPolicy, userExternalId: string, db: Db = this.ctx.db): Promise<string> {
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
  private async findByRef(db: Db, userId: string, ref: string, forUpdate: boolean) {
    const identity = emaidIdentity(ref)
    const uid = RFID_UID.test(ref) ? ref.toUpperCase() : null
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
