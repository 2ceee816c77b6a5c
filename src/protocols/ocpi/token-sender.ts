import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import type { Delivery, DeliverySender, DestinationSession } from '../../infra/delivery/engine.ts'
import { DeliveryFailure, isRetryableHttpStatus } from '../../infra/delivery/failure.ts'
import type { OutgoingHttp } from '../../infra/http/outgoing.ts'
import { isValid } from '../../core/authorization/decision.ts'
import { roamingKeys, toRoamingKey, type RoamingKey } from '../../services/keys/roaming-key.ts'
import { ocpiCall, OcpiClientError } from './client.ts'
import { ocpiDestination, partnerOfDestination, type OcpiPartner, type OcpiPartners } from './partners.ts'
import { toOcpiToken } from './tokens.ts'
import { CALLED, partnerEndpoint, partnerHasEndpoint } from './protocol.ts'
import { calledUrl, ocpiTimestamp } from './transport.ts'

/** The delivery kind of OCPI token pushes. */
export const OCPI_TOKEN = 'ocpi-token'
/** The subject of a key's token. */
export const tokenSubject = (keyId: string) => `token:${keyId}`
const keyOfSubject = (subject: string) => subject.slice('token:'.length)

/** A partner we push tokens to (`p` is ocpi_partners): registered, with a tokens Receiver. */
export const RECEIVES_TOKENS = sql<boolean>`(p.status = 'registered' AND ${partnerHasEndpoint('putToken', 'p.endpoints')})`

/**
 * Where a token lives on a CPO's tokens Receiver: `{tokens}/{country_code}/{party_id}/{uid}?type=`.
 * The one place that builds a CPO's token URL (pushes and reconcile alike).
 */
export function cpoTokenUrl(tokensUrl: string, token: { country_code: string; party_id: string; uid: string; type: string }): string {
  // GET, PUT and PATCH of a token share the path; the protocol table builds it.
  return calledUrl(
    'putToken',
    tokensUrl,
    { country_code: token.country_code, party_id: token.party_id, token_uid: token.uid },
    { type: token.type },
  )
}

export interface TokenTarget {
  partner: OcpiPartner
  token: string
  tokensUrl: string
}

/** Who we are towards CPOs. */
export interface OurParty {
  countryCode: string
  partyId: string
}

/**
 * Reads what pushing tokens to a partner needs. 'suspended': its deliveries wait. A partner that
 * is not registered or offers no tokens Receiver cannot take a token: a permanent failure.
 */
export async function tokenTarget(partners: OcpiPartners, partnerId: string): Promise<TokenTarget | 'suspended'> {
  const partner = await partners.get(partnerId).catch((error: unknown) => {
    if ((error as { code?: string }).code === 'ocpi_partner_not_found') throw DeliveryFailure.permanent('the partner is gone')
    throw error
  })
  if (partner.suspendedAt) return 'suspended'
  if (partner.status !== 'registered' || !partner.version) throw DeliveryFailure.permanent('the partner is not registered')
  const tokensUrl = partnerEndpoint(partner.endpoints, 'putToken')
  if (!tokensUrl) throw DeliveryFailure.permanent('the partner offers no tokens Receiver')
  return { partner, token: await partners.outgoingToken(partnerId), tokensUrl }
}

/** An OCPI call's failure, classified: transport trouble, 5xx, 429 and OCPI 3xxx pass; refusals do not. */
export function classifyOcpiFailure(error: unknown): unknown {
  if (!(error instanceof OcpiClientError)) return error
  if (error.refusedByPolicy) return DeliveryFailure.permanent(error.reason)
  if (error.failure === 'http_status' && error.httpStatus !== undefined) {
    return new DeliveryFailure(error.reason, !isRetryableHttpStatus(error.httpStatus))
  }
  // OCPI 2xxx: the request was wrong (invalid or missing parameters, unknown location...)
  if (error.failure === 'ocpi_status' && error.ocpiStatus !== undefined && error.ocpiStatus >= 2000 && error.ocpiStatus < 3000) {
    return DeliveryFailure.permanent(error.reason)
  }
  return DeliveryFailure.retryable(error.reason)
}

/**
 * Sends a key's current token to a CPO's tokens Receiver: a full PUT, or PATCH valid:false once the
 * CPO has the token and it stopped working. Which partners receive tokens is the publisher's part.
 */
export class OcpiTokenSender implements DeliverySender {
  readonly label = 'OCPI token'

  constructor(
    private readonly db: Db,
    private readonly partners: OcpiPartners,
    private readonly party: OurParty,
    private readonly http: OutgoingHttp,
    private readonly timeoutMs?: number,
  ) {}

  describe(destination: string) {
    return { partnerId: partnerOfDestination(destination) }
  }

  async held(): Promise<string[]> {
    const rows = await this.db.selectFrom('ocpi_partners').select('id').where('suspended_at', 'is not', null).execute()
    return rows.map((r) => ocpiDestination(r.id))
  }

  async open(destination: string, deliveries: readonly Delivery[]): Promise<DestinationSession | 'hold'> {
    const target = await tokenTarget(this.partners, partnerOfDestination(destination))
    if (target === 'suspended') return 'hold'
    const keys = new Map<string, RoamingKey>()
    const ids = deliveries.map((d) => keyOfSubject(d.subject))
    for (const row of await roamingKeys(this.db).where('k.id', 'in', ids).execute()) {
      const key = toRoamingKey(row)
      keys.set(key.key.id, key)
    }
    return {
      describe: { partner: target.partner.name },
      send: (delivery) => this.send(target, delivery, keys.get(keyOfSubject(delivery.subject))),
    }
  }

  private async send(target: TokenTarget, delivery: Delivery, key: RoamingKey | undefined) {
    // Keys are tombstoned, never removed: an unknown one is a subject that cannot be sent.
    if (!key) throw DeliveryFailure.permanent(`key ${keyOfSubject(delivery.subject)} not found`)
    const { partner } = target
    const token = toOcpiToken(key, {
      version: partner.version!,
      partner,
      countryCode: this.party.countryCode,
      partyId: this.party.partyId,
    })
    const url = cpoTokenUrl(target.tokensUrl, token)
    const to = partner.roles[0] && { country_code: partner.roles[0].country_code, party_id: partner.roles[0].party_id }
    const call = {
      http: this.http,
      token: target.token,
      style: partner.authorizationStyle,
      from: { country_code: this.party.countryCode, party_id: this.party.partyId },
      to,
      timeoutMs: this.timeoutMs,
    }
    const sentBefore = delivery.deliveredVersion !== '0'
    try {
      if (sentBefore && !isValid(key, new Date()) && (key.deletedAt || !key.enabled || key.userDeletedAt)) {
        try {
          await ocpiCall(CALLED.patchToken.method, url, { ...call, body: { valid: false, last_updated: ocpiTimestamp(key.key.updatedAt) } })
          return
        } catch (error) {
          // The CPO lost the token: the full token (valid:false) takes its place.
          if (!(error instanceof OcpiClientError && (error.httpStatus === 404 || error.ocpiStatus === 2004))) throw error
        }
      }
      await ocpiCall(CALLED.putToken.method, url, { ...call, body: token })
    } catch (error) {
      throw classifyOcpiFailure(error)
    }
  }
}
