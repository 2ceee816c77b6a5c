import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import { DeliveryEngine } from '../../infra/delivery/engine.ts'
import type { OutgoingHttp } from '../../infra/http/outgoing.ts'
import type { Logger } from '../../infra/logger.ts'
import { roamingKeys, toRoamingKey } from '../../services/keys/roaming-key.ts'
import { ocpiCall, OcpiClientError } from './client.ts'
import { ocpiDestination, type OcpiPartners } from './partners.ts'
import { CALLED } from './protocol.ts'
import { cpoTokenUrl, OCPI_TOKEN, tokenTarget, type OurParty } from './token-sender.ts'
import { toOcpiToken, type OcpiToken } from './tokens.ts'

/**
 * Compares the CPO's copy of each of our tokens (GET on its Receiver) with ours and queues a
 * full re-push of every token that differs or is missing. An answer we cannot read (a failure
 * other than "unknown token", or data that is not one token) is counted as unreadable and not
 * re-pushed: a re-push would not make it readable.
 */
export async function reconcileTokens(
  context: { db: Db; partners: OcpiPartners; party: OurParty; http: OutgoingHttp; log: Logger },
  partnerId: string,
): Promise<{ checked: number; differing: number; unreadable: number }> {
  const { db, party, log } = context
  const target = await tokenTarget(context.partners, partnerId).catch((error: unknown) => {
    throw new Error(`partner is not registered or has no tokens Receiver (${(error as Error).message})`)
  })
  if (target === 'suspended') throw new Error('the partner is suspended')
  const { partner } = target
  let checked = 0
  const differing: string[] = []
  const unreadable: Array<{ keyId: string; reason: string }> = []
  let after: { at: string; seq: string } | undefined
  for (;;) {
    let query = roamingKeys(db).orderBy('k.updated_at').orderBy('k.seq').limit(500)
    if (after) query = query.where(sql<boolean>`(k.updated_at, k.seq) > (${after.at}::timestamptz, ${after.seq}::bigint)`)
    const page = (await query.execute()).map(toRoamingKey)
    if (page.length === 0) break
    after = { at: page.at(-1)!.updatedAtText, seq: page.at(-1)!.key.seq }
    for (let i = 0; i < page.length; i += 16) {
      await Promise.all(
        page.slice(i, i + 16).map(async (key) => {
          const ours = toOcpiToken(key, { version: partner.version!, partner, countryCode: party.countryCode, partyId: party.partyId })
          const url = cpoTokenUrl(target.tokensUrl, ours)
          checked++
          let answer: unknown
          try {
            answer = (
              await ocpiCall<unknown>(CALLED.getToken.method, url, {
                http: context.http,
                token: target.token,
                style: partner.authorizationStyle,
              })
            ).data
          } catch (error) {
            if (isUnknownToken(error)) differing.push(key.key.id)
            else unreadable.push({ keyId: key.key.id, reason: (error as Error).message })
            return
          }
          const theirs = readToken(answer)
          if (!theirs) {
            unreadable.push({ keyId: key.key.id, reason: `GET ${url}: the data is not one Token` })
            return
          }
          if (!sameToken(theirs, ours)) differing.push(key.key.id)
        }),
      )
    }
  }
  if (differing.length > 0) {
    // Afresh: sent again as a full PUT, even if the row was delivered.
    await DeliveryEngine.enqueue(
      db,
      sql`SELECT ${OCPI_TOKEN}, ${ocpiDestination(partner.id)}::text, 'token:' || k.id,
                 coalesce((SELECT max(seq) FROM key_events e WHERE e.key_id = k.id), 1)
            FROM charging_keys k WHERE k.id = ANY(${differing}::uuid[])`,
      'afresh',
    )
  }
  if (unreadable.length > 0) {
    log.warn({ partnerId, unreadable: unreadable.length, first: unreadable[0] }, "reconcile could not read some of the CPO's tokens")
  }
  return { checked, differing: differing.length, unreadable: unreadable.length }
}

/** The CPO does not have the token: HTTP 404 or OCPI 2004. */
const isUnknownToken = (error: unknown) => error instanceof OcpiClientError && (error.ocpiStatus === 2004 || error.httpStatus === 404)

/** The Token in a GET answer: an object, or (some CPOs answer a list) the one object of a list. */
function readToken(data: unknown): Record<string, unknown> | undefined {
  const token = Array.isArray(data) && data.length === 1 ? data[0] : data
  if (typeof token !== 'object' || token === null || Array.isArray(token)) return undefined
  return typeof (token as { uid?: unknown }).uid === 'string' ? (token as Record<string, unknown>) : undefined
}

/** uid and contract_id are CiStrings, compared without regard to case; the rest exactly. */
function sameToken(theirs: Record<string, unknown>, ours: OcpiToken): boolean {
  const ci = (a: unknown, b: unknown) => typeof a === 'string' && typeof b === 'string' && a.toUpperCase() === b.toUpperCase()
  return (
    (['uid', 'contract_id'] as const).every((f) => ci(theirs[f], ours[f])) &&
    (['type', 'valid', 'whitelist', 'issuer'] as const).every((f) => theirs[f] === ours[f])
  )
}
