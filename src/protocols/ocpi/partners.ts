import { createHash, randomBytes } from 'node:crypto'
import { sql, type Selectable } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import type { OcpiCredentialsRole, OcpiEndpoint, OcpiPartnersTable } from '../../infra/db/schema.ts'
import { notFound, OpenpncError } from '../../core/errors.ts'
import type { SecretBox } from '../../infra/secrets/secret-box.ts'
import { OCPI_STATUS, type OcpiVersion } from './protocol.ts'
import { OcpiError, type Party } from './transport.ts'

export interface OcpiPartner {
  id: string
  name: string
  status: 'created' | 'registered' | 'unregistered'
  version: OcpiVersion | null
  versionsUrl: string | null
  endpoints: OcpiEndpoint[]
  roles: OcpiCredentialsRole[]
  /** the parties it may act for (upper-case): granted by the admin or fixed by its first registration */
  parties: Party[]
  authorizationStyle: 'base64' | 'raw'
  emaidTokenType: 'OTHER' | 'EMAID' | null
  registeredAt: Date | null
  /** set while a platform admin has suspended the partner */
  suspendedAt: Date | null
  /** whether its registration queues every existing token for it (many CPOs only accept pushes) */
  pushAllTokens: boolean
  createdAt: Date
  updatedAt: Date
  hasOutgoingToken: boolean
}

const sha256 = (token: string) => createHash('sha256').update(token).digest()

/** OCPI credentials tokens: 64 printable characters at most; ours are 43 random base64url ones. */
export const newCredentialsToken = () => randomBytes(32).toString('base64url')

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The delivery destination of a partner: what the delivery engine sends to it is filed under this. */
export const ocpiDestination = (partnerId: string) => `ocpi:${partnerId}`
export const partnerOfDestination = (destination: string) => destination.slice('ocpi:'.length)

/** `NL*CPO`, as the admin API and the CLI write a party. */
export const partyName = (p: Party) => `${p.country_code}*${p.party_id}`

/** A party as we store and compare it: CiStrings, upper-case. */
export const normalParty = (p: Party): Party => ({ country_code: p.country_code.toUpperCase(), party_id: p.party_id.toUpperCase() })

export const sameParty = (a: Party, b: Party) =>
  a.country_code.toUpperCase() === b.country_code.toUpperCase() && a.party_id.toUpperCase() === b.party_id.toUpperCase()

/** Parses `NL*CPO` (any case); the admin API's schema has checked the form. */
export function parseParty(text: string): Party {
  const [country_code = '', party_id = ''] = text.split('*')
  return normalParty({ country_code, party_id })
}

/**
 * The parties a credentials object claims, distinct and upper-case; a role whose party is not
 * an OCPI party (2 letters, 3 letters or digits) is refused, naming it.
 */
export function claimedParties(roles: OcpiCredentialsRole[]): Party[] {
  const parties = new Map<string, Party>()
  for (const [i, role] of roles.entries()) {
    if (!/^[A-Za-z]{2}$/.test(role.country_code) || !/^[A-Za-z0-9]{3}$/.test(role.party_id)) {
      throw new OcpiError(
        'invalid',
        OCPI_STATUS.invalidParameters,
        `credentials field roles.${i}: party ${JSON.stringify(role.country_code)}*${JSON.stringify(role.party_id)} is not an OCPI party (country_code: 2 letters, party_id: 3 letters or digits)`,
      )
    }
    const party = normalParty(role)
    parties.set(partyName(party), party)
  }
  return [...parties.values()]
}

/** A credentials exchange claiming a party the partner may not act for (OCPI 2001, HTTP 400). */
export const partyClaimRefused = (message: string) => new OcpiError('invalid', OCPI_STATUS.invalidParameters, message)

type PartnerRow = Selectable<OcpiPartnersTable> & { parties: Party[] }

function toPartner(row: PartnerRow): OcpiPartner {
  return {
    id: row.id,
    name: row.name,
    status: row.status,
    version: row.version,
    versionsUrl: row.versions_url,
    endpoints: row.endpoints,
    roles: row.roles,
    parties: row.parties,
    authorizationStyle: row.authorization_style,
    emaidTokenType: row.emaid_token_type,
    registeredAt: row.registered_at,
    suspendedAt: row.suspended_at,
    pushAllTokens: row.push_all_tokens,
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

/** Partners with the parties they may act for. */
const partnersWithParties = (db: Db) =>
  db
    .selectFrom('ocpi_partners')
    .selectAll('ocpi_partners')
    .select(
      sql<Party[]>`coalesce((
        SELECT json_agg(json_build_object('country_code', g.country_code, 'party_id', g.party_id) ORDER BY g.country_code, g.party_id)
          FROM ocpi_partner_parties g WHERE g.partner_id = ocpi_partners.id), '[]'::json)`.as('parties'),
    )

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

  /**
   * A new partner with a fresh Token A for it to register with, and the parties the admin grants
   * it (none: its first registration fixes them).
   */
  async create(input: {
    name: string
    authorizationStyle?: 'base64' | 'raw'
    emaidTokenType?: 'OTHER' | 'EMAID' | null
    parties?: Party[]
    pushAllTokens?: boolean
  }) {
    const tokenA = newCredentialsToken()
    const id = await this.db.transaction().execute(async (trx) => {
      const row = await trx
        .insertInto('ocpi_partners')
        .values({
          name: input.name,
          token_a_sha256: sha256(tokenA),
          authorization_style: input.authorizationStyle,
          emaid_token_type: input.emaidTokenType ?? null,
          push_all_tokens: input.pushAllTokens,
        })
        .returning('id')
        .executeTakeFirstOrThrow()
      const taken = await grantParties(trx, row.id, input.parties ?? [])
      if (taken.length > 0) throw partiesTaken(taken)
      return row.id
    })
    return { partner: await this.get(id), tokenA }
  }

  async get(id: string): Promise<OcpiPartner> {
    const row = UUID.test(id) ? await partnersWithParties(this.db).where('id', '=', id).executeTakeFirst() : undefined
    if (!row) throw notFound('ocpi_partner_not_found', `OCPI partner ${id} not found`)
    return toPartner(row)
  }

  async list(): Promise<OcpiPartner[]> {
    return (await partnersWithParties(this.db).orderBy('created_at').execute()).map(toPartner)
  }

  /** Admin changes; `parties` replaces the partner's grants. */
  async update(
    id: string,
    changes: {
      name?: string
      authorizationStyle?: 'base64' | 'raw'
      emaidTokenType?: 'OTHER' | 'EMAID' | null
      parties?: Party[]
      pushAllTokens?: boolean
    },
  ) {
    const found = await this.changing(() =>
      this.db.transaction().execute(async (trx) => {
        const row = await trx
          .updateTable('ocpi_partners')
          .set({
            name: changes.name,
            authorization_style: changes.authorizationStyle,
            emaid_token_type: changes.emaidTokenType,
            push_all_tokens: changes.pushAllTokens,
            updated_at: new Date(),
          })
          .where('id', '=', id)
          .returning('id')
          .executeTakeFirst()
        if (row && changes.parties) {
          await trx.deleteFrom('ocpi_partner_parties').where('partner_id', '=', id).execute()
          const taken = await grantParties(trx, id, changes.parties)
          if (taken.length > 0) throw partiesTaken(taken)
        }
        return row
      }),
    )
    if (!found) throw notFound('ocpi_partner_not_found', `OCPI partner ${id} not found`)
    return this.get(id)
  }

  /**
   * Refuses a credentials exchange claiming a party this partner may not act for: one it was not
   * granted, or, when it has no grants yet, one another partner holds. Checked before we call the
   * partner back; `register` enforces it again in its transaction.
   */
  async checkClaim(partner: OcpiPartner, claimed: Party[]): Promise<void> {
    if (partner.parties.length > 0) {
      const foreign = claimed.filter((c) => !partner.parties.some((p) => sameParty(p, c)))
      if (foreign.length > 0) throw notGranted(foreign, partner.parties)
      return
    }
    const held = await heldByOthers(this.db, partner.id, claimed)
    if (held.length > 0) throw partyClaimRefused(`${held.map(partyName).join(', ')}: party already belongs to another partner`)
  }

  /** The partner presenting this token (Token A until it registers, then its credentials token). */
  async authenticate(candidates: readonly string[]): Promise<RecognisedPartner | null> {
    return this.recentlyRecognised(candidates) ?? this.lookUpAndRemember(candidates)
  }

  /** The partner when one of these tokens was recognised a moment ago, without waiting for anything. */
  recentlyRecognised(candidates: readonly string[]): RecognisedPartner | undefined {
    for (const token of candidates) {
      const cached = this.recognised.get(token)
      if (cached && Date.now() - cached.at < PARTNER_TOKEN_CACHE_MS) return cached.found
    }
    return undefined
  }

  private async lookUpAndRemember(candidates: readonly string[]): Promise<RecognisedPartner | null> {
    const found = await this.lookup(candidates)
    if (found) {
      if (this.recognised.size > 1000) this.recognised.clear()
      for (const token of candidates) this.recognised.set(token, { found, at: Date.now() })
    }
    return found
  }

  private async lookup(candidates: readonly string[]): Promise<RecognisedPartner | null> {
    for (const token of candidates) {
      const hash = sha256(token)
      const row = await partnersWithParties(this.db)
        .where((eb) => eb.or([eb('incoming_token_sha256', '=', hash), eb('token_a_sha256', '=', hash)]))
        .executeTakeFirst()
      if (!row) continue
      const credential = row.incoming_token_sha256 && Buffer.from(row.incoming_token_sha256).equals(hash) ? 'token' : 'token_a'
      return { partner: toPartner(row), credential, token }
    }
    return null
  }

  /**
   * Stores a completed credentials exchange; Token A stops working. The parties its roles claim
   * must be granted to the partner; a partner without grants is granted them now (its first
   * registration), unless another partner holds one.
   */
  async register(id: string, registration: Registration): Promise<OcpiPartner> {
    const now = new Date()
    const claimed = claimedParties(registration.roles)
    await this.changing(() =>
      this.db.transaction().execute(async (trx) => {
        // One exchange of this partner at a time, so its grants are read and fixed once.
        const before = await trx
          .selectFrom('ocpi_partners')
          .select(['status', 'push_all_tokens'])
          .where('id', '=', id)
          .forUpdate()
          .executeTakeFirstOrThrow()
        const granted = await trx
          .selectFrom('ocpi_partner_parties')
          .select(['country_code', 'party_id'])
          .where('partner_id', '=', id)
          .execute()
        if (granted.length > 0) {
          const foreign = claimed.filter((c) => !granted.some((g) => sameParty(g, c)))
          if (foreign.length > 0) throw notGranted(foreign, granted)
        } else {
          const taken = await grantParties(trx, id, claimed)
          if (taken.length > 0) throw partyClaimRefused(`${taken.map(partyName).join(', ')}: party already belongs to another partner`)
        }
        await trx
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
            // Newly registered: the token publisher queues every existing token for it.
            ...(before.status !== 'registered' && before.push_all_tokens && { token_sync_requested_at: now }),
          })
          .where('id', '=', id)
          .execute()
      }),
    )
    return this.get(id)
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
        .returning('id')
        .executeTakeFirst(),
    )
    if (!row) throw notFound('ocpi_partner_not_found', `OCPI partner ${id} not found`)
    return this.get(id)
  }

  /**
   * Deletes a partner for good: its credentials, its pending token deliveries and the locations it
   * sent us go with it (foreign keys, ON DELETE CASCADE; its deliveries in the same transaction);
   * recorded authorization decisions stay.
   */
  async remove(id: string): Promise<void> {
    if (!UUID.test(id)) throw notFound('ocpi_partner_not_found', `OCPI partner ${id} not found`)
    const deleted = await this.changing(() =>
      this.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('deliveries').where('destination', '=', ocpiDestination(id)).execute()
        return trx.deleteFrom('ocpi_partners').where('id', '=', id).executeTakeFirst()
      }),
    )
    if (deleted.numDeletedRows === 0n) throw notFound('ocpi_partner_not_found', `OCPI partner ${id} not found`)
  }

  async outgoingToken(id: string): Promise<string> {
    const row = await this.db.selectFrom('ocpi_partners').select('outgoing_token_encrypted').where('id', '=', id).executeTakeFirst()
    if (!row?.outgoing_token_encrypted) throw notFound('ocpi_partner_not_registered', `OCPI partner ${id} has no credentials`)
    return this.secrets.open(row.outgoing_token_encrypted)
  }
}

/** Grants parties to a partner; returns those another partner holds (not granted). */
async function grantParties(db: Db, partnerId: string, parties: Party[]): Promise<Party[]> {
  const wanted = [...new Map(parties.map((p) => [partyName(normalParty(p)), normalParty(p)])).values()]
  if (wanted.length === 0) return []
  // The primary key decides who holds a party, also between two registrations at the same moment.
  const inserted = await db
    .insertInto('ocpi_partner_parties')
    .values(wanted.map((p) => ({ ...p, partner_id: partnerId })))
    .onConflict((oc) => oc.columns(['country_code', 'party_id']).doNothing())
    .returning(['country_code', 'party_id'])
    .execute()
  return wanted.filter((w) => !inserted.some((i) => sameParty(i, w)))
}

async function heldByOthers(db: Db, partnerId: string, parties: Party[]): Promise<Party[]> {
  if (parties.length === 0) return []
  const rows = await db
    .selectFrom('ocpi_partner_parties')
    .select(['country_code', 'party_id'])
    .where('partner_id', '<>', partnerId)
    .where((eb) => eb.or(parties.map((p) => eb.and([eb('country_code', '=', p.country_code), eb('party_id', '=', p.party_id)]))))
    .execute()
  return rows
}

const partiesTaken = (taken: Party[]) =>
  new OpenpncError('conflict', 'ocpi_party_taken', `${taken.map(partyName).join(', ')}: party already belongs to another partner`)

const notGranted = (foreign: Party[], granted: Party[]) =>
  partyClaimRefused(
    `${foreign.map(partyName).join(', ')}: party not granted to this partner (it may act for ${granted.map(partyName).join(', ')}; the platform admin grants parties)`,
  )
