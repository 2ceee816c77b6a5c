import type { Selectable } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import type { OrganizationsTable } from '../../infra/db/schema.ts'
import { notFound } from '../../core/errors.ts'
import type { KeyStore } from '../keys/key-store.ts'
import { normalizeSettings, type OrganizationPolicy, type OrganizationSettingsInput } from '../../core/organizations/settings.ts'

export interface Organization extends OrganizationPolicy {
  createdAt: Date
  updatedAt: Date
}

export function toOrganization(row: Selectable<OrganizationsTable>): Organization {
  return {
    id: row.id,
    name: row.name,
    enabled: row.enabled,
    plugAndChargeEnabled: row.plug_and_charge_enabled,
    contractIdPrefixes: row.contract_id_prefixes,
    emaidPrefix: row.emaid_prefix,
    duplicateContractIds: row.duplicate_contract_ids,
    checkDigit: row.check_digit,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  }
}

/** Settings as columns; absent settings stay undefined, which Kysely leaves out. */
function settingsColumns(input: OrganizationSettingsInput) {
  const s = normalizeSettings(input)
  return {
    name: s.name,
    enabled: s.enabled,
    plug_and_charge_enabled: s.plugAndChargeEnabled,
    contract_id_prefixes: s.contractIdPrefixes,
    emaid_prefix: s.emaidPrefix,
    duplicate_contract_ids: s.duplicateContractIds,
    check_digit: s.checkDigit,
  }
}

const organizationNotFound = (id: string) => notFound('organization_not_found', `organization ${id} not found`)
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export class Organizations {
  constructor(
    private readonly db: Db,
    /** told of every change: an organization's standing and name are part of each of its keys */
    private readonly keys: KeyStore,
  ) {}

  async create(input: OrganizationSettingsInput & { name: string }, db: Db = this.db): Promise<Organization> {
    const row = await db
      .insertInto('organizations')
      .values({ ...settingsColumns(input), name: input.name })
      .returningAll()
      .executeTakeFirstOrThrow()
    return toOrganization(row)
  }

  async get(id: string): Promise<Organization> {
    if (!UUID.test(id)) throw organizationNotFound(id)
    const row = await this.db.selectFrom('organizations').selectAll().where('id', '=', id).executeTakeFirst()
    if (!row) throw organizationNotFound(id)
    return toOrganization(row)
  }

  async list(): Promise<Organization[]> {
    const rows = await this.db.selectFrom('organizations').selectAll().orderBy('created_at').orderBy('id').execute()
    return rows.map(toOrganization)
  }

  /** Only the given settings change. */
  async update(id: string, input: OrganizationSettingsInput): Promise<Organization> {
    if (!UUID.test(id)) throw organizationNotFound(id)
    const row = await this.db
      .updateTable('organizations')
      .set({ ...settingsColumns(input), updated_at: new Date() })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst()
    if (!row) throw organizationNotFound(id)
    this.keys.organizationChanged(row)
    return toOrganization(row)
  }
}
