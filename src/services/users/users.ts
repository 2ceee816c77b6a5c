import type { Selectable } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import type { UsersTable } from '../../infra/db/schema.ts'
import { conflict, PG, pgConstraint, pgErrorCode } from '../../core/errors.ts'
import type { ChargingKeys } from '../keys/charging-keys.ts'
import { GENERATION_ATTEMPTS, isEmaidConflict, userNotFound } from '../keys/charging-keys.ts'
import type { KeyStore } from '../keys/key-store.ts'
import type { OrganizationPolicy } from '../../core/organizations/settings.ts'

export interface User {
  /** the partner's own user ID */
  id: string
  email: string | null
  createdAt: Date
  updatedAt: Date
}

const toUser = (row: Selectable<UsersTable>): User => ({
  id: row.external_id,
  email: row.email,
  createdAt: new Date(row.created_at),
  updatedAt: new Date(row.updated_at),
})

function mapUserConflict(error: unknown, input: { id?: string; email?: string | null }): never {
  if (pgErrorCode(error) === PG.uniqueViolation) {
    const constraint = pgConstraint(error)
    if (constraint === 'users_external_id_key') {
      throw conflict('user_exists', `a user with id ${JSON.stringify(input.id)} already exists`)
    }
    if (constraint === 'users_email_key') {
      throw conflict('email_taken', `another user of this organization has email ${JSON.stringify(input.email)}`)
    }
  }
  throw error
}

export class Users {
  private readonly db: Db

  /** Users own keys: creating and deleting one writes keys, so both go through the key store. */
  constructor(
    private readonly keys: ChargingKeys,
    private readonly store: KeyStore,
  ) {
    this.db = store.db
  }

  /** Creates the user and, in the same transaction, its virtual charging key. */
  async create(org: OrganizationPolicy, input: { id: string; email?: string | null }): Promise<User> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.createOnce(org, input)
      } catch (error) {
        if (isEmaidConflict(error) && attempt < GENERATION_ATTEMPTS) continue
        mapUserConflict(error, input)
      }
    }
  }

  private createOnce(org: OrganizationPolicy, input: { id: string; email?: string | null }): Promise<User> {
    return this.store.transaction(async (keys, trx) => {
      const row = await trx
        .insertInto('users')
        .values({ organization_id: org.id, external_id: input.id, email: input.email ?? null })
        .returningAll()
        .executeTakeFirstOrThrow()
      await this.keys.insertWithGeneratedEmaid(keys, org, input.id, { type: 'virtual' }, 1)
      return toUser(row)
    })
  }

  async get(org: OrganizationPolicy, externalId: string): Promise<User> {
    const row = await this.db
      .selectFrom('users')
      .selectAll()
      .where('organization_id', '=', org.id)
      .where('external_id', '=', externalId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst()
    if (!row) throw userNotFound(externalId)
    return toUser(row)
  }

  async update(org: OrganizationPolicy, externalId: string, changes: { email?: string | null }): Promise<User> {
    if (changes.email === undefined) return this.get(org, externalId)
    try {
      const row = await this.db
        .updateTable('users')
        .set({ email: changes.email, updated_at: new Date() })
        .where('organization_id', '=', org.id)
        .where('external_id', '=', externalId)
        .where('deleted_at', 'is', null)
        .returningAll()
        .executeTakeFirst()
      if (!row) throw userNotFound(externalId)
      return toUser(row)
    } catch (error) {
      mapUserConflict(error, changes)
    }
  }

  /**
   * Removes the user after disabling its keys, in one transaction. The user row is tombstoned
   * first: that waits for key inserts holding it, so the key update below sees every key.
   */
  async delete(org: OrganizationPolicy, externalId: string): Promise<void> {
    await this.store.transaction(async (keys, trx) => {
      const now = new Date()
      const user = await trx
        .updateTable('users')
        .set({ deleted_at: now, updated_at: now })
        .where('organization_id', '=', org.id)
        .where('external_id', '=', externalId)
        .where('deleted_at', 'is', null)
        .returning('id')
        .executeTakeFirst()
      if (!user) throw userNotFound(externalId)
      await keys.tombstoneKeysOfUser(user.id, now)
    })
  }
}
