import { sql } from 'kysely'
import type { Db } from '../db/database.ts'
import type { KeyStanding } from '../authorization/decision.ts'
import { toChargingKey, type ChargingKey, type ChargingKeyRow } from './charging-key.ts'

/** A charging key with what roaming needs beside it: its organization and its user's standing. */
export interface RoamingKey extends KeyStanding {
  key: ChargingKey
  organizationName: string
  /** the exact change time, as PostgreSQL wrote it (microseconds), for stable paging */
  updatedAtText: string
}

type RoamingKeyRow = ChargingKeyRow & {
  organization_name: string
  organization_enabled: boolean
  user_deleted_at: Date | null
  updated_at_text: string
}

export function toRoamingKey(row: RoamingKeyRow): RoamingKey {
  const key = toChargingKey(row)
  return {
    key,
    organizationName: row.organization_name,
    organizationEnabled: row.organization_enabled,
    userDeletedAt: row.user_deleted_at === null ? null : new Date(row.user_deleted_at),
    enabled: key.enabled,
    deletedAt: key.deletedAt,
    validFrom: key.validFrom,
    validTo: key.validTo,
    updatedAtText: row.updated_at_text,
  }
}

export function roamingKeys(db: Db) {
  return db
    .selectFrom('charging_keys as k')
    .innerJoin('organizations as o', 'o.id', 'k.organization_id')
    .innerJoin('users as u', 'u.id', 'k.user_id')
    .selectAll('k')
    .select([
      'o.name as organization_name',
      'o.enabled as organization_enabled',
      'u.deleted_at as user_deleted_at',
      sql<string>`k.updated_at::text`.as('updated_at_text'),
    ])
}

const IDENTITY = '\u0000identity'
const RFID = '\u0000rfid'

function lookupQuery(db: Db, byIdentity: boolean, byRfid: boolean) {
  return roamingKeys(db)
    .where((eb) => {
      const matches = []
      if (byIdentity) matches.push(eb('k.emaid_identity', '=', IDENTITY))
      if (byRfid) matches.push(eb('k.rfid_uid', '=', RFID))
      return eb.or(matches)
    })
    .orderBy(sql`k.deleted_at IS NULL`, 'desc')
    .orderBy('k.seq', 'desc')
    .limit(50)
    .compile()
}

// The authorization hot path runs this lookup thousands of times a second: each shape is built
// and compiled once, and only its parameters change.
const compiledLookups = new WeakMap<Db, Map<string, ReturnType<typeof lookupQuery>>>()

/** Every key (live first, newest first) that an identifier names: an EMAID identity and/or an RFID UID. */
export async function findRoamingKeys(db: Db, ref: { emaidIdentity?: string | null; rfidUid?: string | null }): Promise<RoamingKey[]> {
  if (!ref.emaidIdentity && !ref.rfidUid) return []
  const shape = `${ref.emaidIdentity ? 'E' : ''}${ref.rfidUid ? 'R' : ''}`
  let cache = compiledLookups.get(db)
  if (!cache) compiledLookups.set(db, (cache = new Map()))
  let compiled = cache.get(shape)
  if (!compiled) cache.set(shape, (compiled = lookupQuery(db, Boolean(ref.emaidIdentity), Boolean(ref.rfidUid))))
  const parameters = compiled.parameters.map((p) => (p === IDENTITY ? ref.emaidIdentity : p === RFID ? ref.rfidUid : p))
  const result = await db.executeQuery<RoamingKeyRow>({ ...compiled, parameters })
  return result.rows.map(toRoamingKey)
}
