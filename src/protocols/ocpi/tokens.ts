import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import { compactEmaid, parseEmaid } from '../../core/identifiers/index.ts'
import { standing, type Allowed } from '../../core/authorization/decision.ts'
import { parsePresentedIdentifier, type ClaimedKind, type PresentedIdentifier } from '../../core/authorization/presented.ts'
import { roamingKeys, toRoamingKey, type KeyCard, type RoamingKey } from '../../services/keys/roaming-key.ts'
import type { OcpiPartner } from './partners.ts'
import type { OcpiVersion } from './protocol.ts'
import { ocpiTimestamp, type PageRequest, type Party } from './transport.ts'
import type { PartnerContext } from '../../services/authorization/authorizer.ts'

/** OCPI Token, as both 2.2.1 and 2.3.0 define it (the fields we fill). */
export interface OcpiToken {
  country_code: string
  party_id: string
  uid: string
  type: 'RFID' | 'APP_USER' | 'OTHER' | 'EMAID'
  contract_id: string
  visual_number?: string
  issuer: string
  valid: boolean
  whitelist: 'NEVER'
  last_updated: string
}

/**
 * The identifier a CPO asks about, as the authorization core understands it. OCPI's rule: a token
 * without a type is RFID. A car that sends its EMAID without a type must still be found, so a
 * missing type presumes a card without excluding the contract.
 */
export function presentedOcpiToken(uid: string, type: string | undefined): PresentedIdentifier {
  const claimed: ClaimedKind = type === undefined ? 'rfid-or-emaid' : type === 'RFID' ? 'rfid' : 'emaid'
  return parsePresentedIdentifier(uid, claimed)
}

/**
 * A charging key as an OCPI Token. Plug&Charge keys: `uid` is the EMAID as a vehicle sends it
 * (compact, upper-case, with its check character), `contract_id` the EMAID as registered, `type`
 * OTHER for 2.2.1 and EMAID for 2.3.0 (or the partner's override). `whitelist` is NEVER for every
 * key: the CPO must ask us, so a disabled key is refused at once.
 *
 * `valid` is the core's standing of the key: the decision just made about it (`allowed`, when
 * answering an authorization), else its standing at `now`.
 */
export function toOcpiToken(
  roaming: KeyCard,
  context: {
    version: OcpiVersion
    partner: Pick<OcpiPartner, 'emaidTokenType'> | null
    countryCode: string
    partyId: string
    allowed?: Allowed
    now?: Date
  },
): OcpiToken {
  const { key } = roaming
  const emaid = parseEmaid(key.contractId)
  let uid: string
  let type: OcpiToken['type']
  if (key.type === 'rfid') {
    uid = key.keyIdentifier!
    type = 'RFID'
  } else {
    uid = emaid ? compactEmaid(emaid) : key.contractId
    type = key.type === 'virtual' ? 'APP_USER' : (context.partner?.emaidTokenType ?? (context.version === '2.3.0' ? 'EMAID' : 'OTHER'))
  }
  return {
    country_code: context.countryCode,
    party_id: context.partyId,
    uid,
    type,
    contract_id: key.contractId,
    ...(key.visualNumber && { visual_number: key.visualNumber.slice(0, 64) }),
    issuer: roaming.organizationName.slice(0, 64),
    valid: (context.allowed ?? standing(roaming, context.now ?? new Date())) === 'ALLOWED',
    whitelist: 'NEVER',
    last_updated: ocpiTimestamp(key.updatedAt),
  }
}

/**
 * One page of all tokens, oldest change first (ties by creation order), for a CPO's (re)sync.
 * Deep pages follow the keyset cursor our own Link carries, so the millionth token costs what
 * the first does; the total is counted once and carried along.
 */
export async function tokenPage(db: Db, page: PageRequest): Promise<{ keys: RoamingKey[]; total: number }> {
  let query = roamingKeys(db)
  if (page.dateFrom) query = query.where('k.updated_at', '>=', page.dateFrom)
  if (page.dateTo) query = query.where('k.updated_at', '<', page.dateTo)
  let total = page.after?.total
  if (total === undefined) {
    let count = db.selectFrom('charging_keys as k').select((eb) => eb.fn.countAll<string>().as('n'))
    if (page.dateFrom) count = count.where('k.updated_at', '>=', page.dateFrom)
    if (page.dateTo) count = count.where('k.updated_at', '<', page.dateTo)
    total = Number((await count.executeTakeFirstOrThrow()).n)
  }
  if (page.after) {
    query = query.where(sql<boolean>`(k.updated_at, k.seq) > (${page.after.updatedAt}::timestamptz, ${page.after.seq}::bigint)`)
  } else if (page.offset > 0) {
    query = query.offset(page.offset)
  }
  const rows = await query.orderBy('k.updated_at').orderBy('k.seq').limit(page.limit).execute()
  return { keys: rows.map(toRoamingKey), total }
}

/**
 * Where and who, for an organization's authorization endpoint: the request's LocationReferences
 * (absent when the CPO sent none) and the CPO's party as its routing headers name it.
 */
export function ocpiPartnerContext(location: unknown, from: Party | undefined, partnerName: string): PartnerContext {
  const references = (location ?? {}) as { location_id?: unknown; evse_uids?: unknown }
  return {
    location: {
      locationId: typeof references.location_id === 'string' ? references.location_id : null,
      evseIds: Array.isArray(references.evse_uids) ? references.evse_uids.filter((uid): uid is string => typeof uid === 'string') : [],
    },
    operator: { id: from ? `${from.country_code}*${from.party_id}` : null, name: partnerName },
  }
}
