import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import type { KeyStanding } from '../../core/authorization/decision.ts'
import { toChargingKey, type ChargingKey, type ChargingKeyRow } from './charging-key.ts'

/** What the authorization decision and every protocol's token view need of a key. */
export interface KeyCard extends KeyStanding {
  key: Pick<
    ChargingKey,
    | 'id'
    | 'organizationId'
    | 'type'
    | 'contractId'
    | 'emaidIdentity'
    | 'keyIdentifier'
    | 'visualNumber'
    | 'enabled'
    | 'validFrom'
    | 'validTo'
    | 'updatedAt'
    | 'deletedAt'
  >
  organizationName: string
}

/** A charging key with what roaming needs beside it: its organization and its user's standing. */
export interface RoamingKey extends KeyCard {
  key: ChargingKey
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
