import { createHash, randomBytes } from 'node:crypto'
import { sql, type Selectable } from 'kysely'
import type { Db } from '../db/database.ts'
import type { OcpiCredentialsRole, OcpiEndpoint, OcpiPartnersTable } from '../db/schema.ts'
import { notFound } from '../errors.ts'
import type { SecretBox } from '../secrets/secret-box.ts'
import type { OcpiVersion } from './protocol.ts'

export interface OcpiPartner {
  id: string
  name: string
  status: 'created' | 'registered' | 'unregistered'
  version: OcpiVersion | null
  versionsUrl: string | null
  endpoints: OcpiEndpoint[]
  roles: OcpiCredentialsRole[]
  authorizationStyle: 'base64' | 'raw'
  emaidTokenType: 'OTHER' | 'EMAID' | null
  registeredAt: Date | null
  /** set while a platform admin has suspended the partner */
  suspendedAt: Date | null
  createdAt: Date
  updatedAt: Date
  hasOutgoingToken: boolean
}

const sha256 = (token: string) => createHash('sha256').update(token).digest()

/** OCPI credentials tokens: 64 printable characters at most; ours are 43 random base64url ones. */
export const newCredentialsToken = () => randomBytes(32).toString('base64url')

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function toPartner(row: Selectable<OcpiPartnersTable>): OcpiPartner {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    version: row.version,
    versionsUrl: row.versions_url,
    endpoints: row.endpoints,
    roles: row.roles,
    authorizationStyle: row.authorization_style,
    emaidTokenType: row.emaid_token_type,
    registeredAt: row.registered_at,
    suspendedAt: row.suspended_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    hasOutgoingToken: row.outgoing_token_encrypted !== null,
  }
}

/** Which of a partner's tokens authenticated a request. */
export type PartnerCredential = 'token_a' | 'token'

export interface RecognisedPartner {
  partner: OcpiPartner
  credential: PartnerCredential
  /** the token as it matched (the decoded one when the header carried base64) */
  token: string
}

export interface Registration {
  version: OcpiVersion
  versionsUrl: string
  endpoints: OcpiEndpoint[]
  roles: OcpiCredentialsRole[]
  /** the token we present to the partner */
  outgoingToken: string
  /** the token the partner presents to us */
  incomingToken: string
}

/**
 * OCPI partners and their credentials. Tokens they present to us are stored as SHA-256;
 * the token we present to them is sealed with the platform's secret key.
 */
/**
 * How long a recognised partner token is trusted without asking the database. Registration
 * changes through this instance clear the cache at once; other instances notice within this time.
 */
export const PARTNER_TOKEN_CACHE_MS = 1000

export class OcpiPartners {
  private readonly recognised = new Map<string, { found: RecognisedPartner; at: number }>()

  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
  ) {}

  private forgetRecognised() {
    this.recognised.clear()
  }

  /** Runs a change of credentials, then forgets recognised tokens so the change applies at once. */
  private async changing<T>(change: () => Promise<T>): Promise<T> {
    try {
      return await change()
    } finally {
      this.forgetRecognised()
    }
  }

  /** A new partner with a fresh Token A for it to register with. */
  async create(input: { name: string; authorizationStyle?: 'base64' | 'raw'; emaidTokenType?: 'OTHER' | 'EMAID' | null }) {
    const tokenA = newCredentialsToken()
    const row = await this.db
      .insertInto('ocpi_partners')
      .values({
        name: input.name,
        token_a_sha256: sha256(tokenA),
        authorization_style: input.authorizationStyle,
        emaid_token_type: input.emaidTokenType ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    return { partner: toPartner(row), tokenA }
  }

  async get(id: string): Promise<OcpiPartner> {
    const row = UUID.test(id) ? await this.db.selectFrom('ocpi_partners').selectAll().where('id', '=', id).executeTakeFirst() : undefined
    if (!row) throw notFound('ocpi_partner_not_found', `OCPI partner ${id} not found`)
    return toPartner(row)
  }

  async list(): Promise<OcpiPartner[]> {
    return (await this.db.selectFrom('ocpi_partners').selectAll().orderBy('created_at').execute()).map(toPartner)
  }

  async update(id: string, changes: { name?: string; authorizationStyle?: 'base64' | 'raw'; emaidTokenType?: 'OTHER' | 'EMAID' | null }) {
    const row = await this.changing(() =>
      this.db
        .updateTable('ocpi_partners')
        .set({
          name: changes.name,
          authorization_style: changes.authorizationStyle,
          emaid_token_type: changes.emaidTokenType,
          updated_at: new Date(),
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst(),
    )
    if (!row) throw notFound('ocpi_partner_not_found', `OCPI partner ${id} not found`)
    return toPartner(row)
  }

  /** The partner presenting this token (Token A until it registers, then its credentials token). */
  async authenticate(candidates: string[]): Promise<RecognisedPartner | null> {
    return this.recentlyRecognised(candidates) ?? this.lookUpAndRemember(candidates)
  }

  /** The partner when one of these tokens was recognised a moment ago, without waiting for anything. */
  recentlyRecognised(candidates: string[]): RecognisedPartner | undefined {
    for (const token of candidates) {
      const cached = this.recognised.get(token)
      if (cached && Date.now() - cached.at < PARTNER_TOKEN_CACHE_MS) return cached.found
    }
    return undefined
  }

  private async lookUpAndRemember(candidates: string[]): Promise<RecognisedPartner | null> {
    const found = await this.lookup(candidates)
    if (found) {
      if (this.recognised.size > 1000) this.recognised.clear()
      for (const token of candidates) this.recognised.set(token, { found, at: Date.now() })
    }
    return found
  }

  private async lookup(candidates: string[]): Promise<RecognisedPartner | null> {
    for (const token of candidates) {
      const hash = sha256(token)
      const row = await this.db
        .selectFrom('ocpi_partners')
        .selectAll()
        .where((eb) => eb.or([eb('incoming_token_sha256', '=', hash), eb('token_a_sha256', '=', hash)]))
        .executeTakeFirst()
      if (!row) continue
      const credential = row.incoming_token_sha256 && Buffer.from(row.incoming_token_sha256).equals(hash) ? 'token' : 'token_a'
      return { partner: toPartner(row), credential, token }
    }
    return null
  }

  /** Stores a completed credentials exchange; Token A stops working. */
  async register(id: string, registration: Registration): Promise<OcpiPartner> {
    const now = new Date()
    const row = await this.changing(() =>
      this.db
        .updateTable('ocpi_partners')
        .set({
          status: 'registered',
          token_a_sha256: null,
          incoming_token_sha256: sha256(registration.incomingToken),
          outgoing_token_encrypted: this.secrets.seal(registration.outgoingToken),
          versions_url: registration.versionsUrl,
          version: registration.version,
          endpoints: JSON.stringify(registration.endpoints),
          roles: JSON.stringify(registration.roles),
          registered_at: now,
          updated_at: now,
        })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow(),
    )
    return toPartner(row)
  }

  /** The token the partner will present once we have registered with it (it calls us back first). */
  async expectIncomingToken(id: string, token: string): Promise<void> {
    await this.changing(() =>
      this.db
        .updateTable('ocpi_partners')
        .set({ incoming_token_sha256: sha256(token), updated_at: new Date() })
        .where('id', '=', id)
        .execute(),
    )
  }

  /** DELETE credentials: the partner's token stops working; its data stays for the record. */
  async unregister(id: string): Promise<void> {
    await this.changing(() =>
      this.db
        .updateTable('ocpi_partners')
        .set({ status: 'unregistered', incoming_token_sha256: null, outgoing_token_encrypted: null, updated_at: new Date() })
        .where('id', '=', id)
        .execute(),
    )
  }

  /**
   * Suspends or resumes a partner: while suspended its tokens are refused and nothing is sent to
   * or pulled from it; its registration, pending deliveries and locations stay for the resume.
   */
  async setSuspended(id: string, suspended: boolean): Promise<OcpiPartner> {
    if (!UUID.test(id)) throw notFound('ocpi_partner_not_found', `OCPI partner ${id} not found`)
    const row = await this.changing(() =>
      this.db
        .updateTable('ocpi_partners')
        .set((eb) => ({
          // suspending twice keeps the first time
          suspended_at: suspended ? eb.fn.coalesce('suspended_at', sql<Date>`now()`) : null,
          updated_at: new Date(),
        }))
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst(),
    )
    if (!row) throw notFound('ocpi_partner_not_found', `OCPI partner ${id} not found`)
    return toPartner(row)
  }

  /**
   * Deletes a partner for good: its credentials, its pending token deliveries and the locations it
   * sent us go with it (foreign keys, ON DELETE CASCADE); recorded authorization decisions stay.
   */
  async remove(id: string): Promise<void> {
    if (!UUID.test(id)) throw notFound('ocpi_partner_not_found', `OCPI partner ${id} not found`)
    const deleted = await this.changing(() => this.db.deleteFrom('ocpi_partners').where('id', '=', id).executeTakeFirst())
    if (deleted.numDeletedRows === 0n) throw notFound('ocpi_partner_not_found', `OCPI partner ${id} not found`)
  }

  async outgoingToken(id: string): Promise<string> {
    const row = await this.db.selectFrom('ocpi_partners').select('outgoing_token_encrypted').where('id', '=', id).executeTakeFirst()
    if (!row?.outgoing_token_encrypted) throw notFound('ocpi_partner_not_registered', `OCPI partner ${id} has no credentials`)
    return this.secrets.open(row.outgoing_token_encrypted)
  }
}
