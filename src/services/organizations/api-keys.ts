import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import { invalid, notFound } from '../../core/errors.ts'
import { toOrganization, type Organization } from './organizations.ts'

export const SCOPES = ['users', 'charging-keys', 'geosearch', 'admin', 'webhooks'] as const
export type Scope = (typeof SCOPES)[number]
export const DEFAULT_SCOPES: readonly Scope[] = SCOPES

/** `opk_<id>_<secret>`: the id finds the record, the secret (192 random bits) proves possession. */
const API_KEY_FORMAT = /^opk_([0-9a-f]{16})_([A-Za-z0-9_-]{32})$/

export interface IssuedApiKey {
  id: string
  /** Shown once, never stored. */
  apiKey: string
  scopes: Scope[]
  createdAt: Date
}

export interface ApiKeyInfo {
  id: string
  scopes: Scope[]
  createdAt: Date
  revokedAt: Date | null
}

/** Who is calling: an organization's key, or the platform admin. */
export type Caller =
  | { kind: 'organization'; apiKeyId: string; scopes: readonly Scope[]; organization: Organization }
  | { kind: 'platform'; apiKeyId: string; scopes: readonly Scope[] }

const sha256 = (text: string) => createHash('sha256').update(text).digest()

function generateApiKey() {
  const id = randomBytes(8).toString('hex')
  const secret = randomBytes(24).toString('base64url')
  return { id, secret, apiKey: `opk_${id}_${secret}` }
}

export function validateScopes(scopes: readonly string[]): Scope[] {
  scopes.forEach((scope, i) => {
    if (!SCOPES.includes(scope as Scope)) {
      throw invalid('invalid_scope', `scopes[${i}] must be one of ${SCOPES.join(', ')}, got ${JSON.stringify(scope)}`)
    }
  })
  return [...new Set(scopes as Scope[])]
}

/**
 * How long a verified key is trusted without asking the database again. Revoking a key, or
 * changing an organization, clears this instance's cache at once; other instances notice within
 * this time. It saves a query on every request of the hot Drive API paths.
 */
export const API_KEY_CACHE_MS = 2000

export class ApiKeys {
  /** The admin key from the environment, if the operator set one (compared by hash). */
  private readonly configuredAdminKeyHash: Buffer | null
  private readonly verified = new Map<string, { caller: Caller; at: number }>()

  constructor(
    private readonly db: Db,
    configuredAdminKey?: string,
  ) {
    this.configuredAdminKeyHash = configuredAdminKey ? sha256(configuredAdminKey) : null
  }

  /** After a revocation or an organization change. */
  forgetVerified() {
    this.verified.clear()
  }

  /** A new key for an organization, or for the platform when `organizationId` is null. */
  async issue(organizationId: string | null, scopes: readonly Scope[], db: Db = this.db): Promise<IssuedApiKey> {
    const { id, secret, apiKey } = generateApiKey()
    const row = await db
      .insertInto('api_keys')
      .values({ id, organization_id: organizationId, secret_sha256: sha256(secret), scopes: [...scopes] })
      .returning(['created_at'])
      .executeTakeFirstOrThrow()
    return { id, apiKey, scopes: [...scopes], createdAt: row.created_at }
  }

  async list(organizationId: string): Promise<ApiKeyInfo[]> {
    const rows = await this.db
      .selectFrom('api_keys')
      .select(['id', 'scopes', 'created_at', 'revoked_at'])
      .where('organization_id', '=', organizationId)
      .orderBy('created_at')
      .execute()
    return rows.map((r) => ({ id: r.id, scopes: r.scopes as Scope[], createdAt: r.created_at, revokedAt: r.revoked_at }))
  }

  /** Revoking twice is fine; a key of another organization is not found. */
  async revoke(organizationId: string, keyId: string): Promise<void> {
    const result = await this.db
      .updateTable('api_keys')
      .set({ revoked_at: sql<Date>`coalesce(revoked_at, now())` })
      .where('id', '=', keyId)
      .where('organization_id', '=', organizationId)
      .executeTakeFirst()
    if (result.numUpdatedRows === 0n) throw notFound('api_key_not_found', `API key ${keyId} not found`)
    this.forgetVerified()
  }

  /** Whether a platform key exists in the database (the generated admin key). */
  async platformKeyExists(): Promise<boolean> {
    const row = await this.db
      .selectFrom('api_keys')
      .select('id')
      .where('organization_id', 'is', null)
      .where('revoked_at', 'is', null)
      .executeTakeFirst()
    return row !== undefined
  }

  /** The caller behind a presented key, or null when the key is unknown, revoked or malformed. */
  async authenticate(presented: string): Promise<Caller | null> {
    const cached = this.verified.get(presented)
    if (cached && Date.now() - cached.at < API_KEY_CACHE_MS) return cached.caller
    const caller = await this.verify(presented)
    if (caller) {
      if (this.verified.size >= 10_000) this.verified.clear()
      this.verified.set(presented, { caller, at: Date.now() })
    }
    return caller
  }

  private async verify(presented: string): Promise<Caller | null> {
    if (this.configuredAdminKeyHash && timingSafeEqual(sha256(presented), this.configuredAdminKeyHash)) {
      return { kind: 'platform', apiKeyId: 'environment', scopes: ['admin'] }
    }
    const match = API_KEY_FORMAT.exec(presented)
    if (!match) return null
    const [, id, secret] = match
    const row = await this.db
      .selectFrom('api_keys as k')
      .leftJoin('organizations as o', 'o.id', 'k.organization_id')
      .select([
        'k.id as key_id',
        'k.secret_sha256',
        'k.scopes',
        'k.organization_id',
        'o.id',
        'o.name',
        'o.enabled',
        'o.plug_and_charge_enabled',
        'o.contract_id_prefixes',
        'o.emaid_prefix',
        'o.duplicate_contract_ids',
        'o.check_digit',
        'o.created_at',
        'o.updated_at',
      ])
      .where('k.id', '=', id!)
      .where('k.revoked_at', 'is', null)
      .executeTakeFirst()
    if (!row || !timingSafeEqual(Buffer.from(row.secret_sha256), sha256(secret!))) return null
    const scopes = row.scopes as Scope[]
    if (row.organization_id === null) return { kind: 'platform', apiKeyId: row.key_id, scopes }
    const organization = toOrganization({
      id: row.id!,
      name: row.name!,
      enabled: row.enabled!,
      plug_and_charge_enabled: row.plug_and_charge_enabled!,
      contract_id_prefixes: row.contract_id_prefixes!,
      emaid_prefix: row.emaid_prefix,
      duplicate_contract_ids: row.duplicate_contract_ids!,
      check_digit: row.check_digit!,
      created_at: row.created_at!,
      updated_at: row.updated_at!,
    })
    return { kind: 'organization', apiKeyId: row.key_id, scopes, organization }
  }
}
