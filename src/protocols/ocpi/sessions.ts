import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Static } from '@sinclair/typebox'
import { keysNamedBy, presentedIdentity, presentedUid } from '../../core/authorization/presented.ts'
import type { KeyDirectory } from '../../services/authorization/key-directory.ts'
import {
  contentSha256,
  type ChargingSessions,
  type SessionCost,
  type SessionReport,
  type SessionStatus,
} from '../../services/sessions/sessions.ts'
import { partyName, sameParty, type OcpiPartner } from './partners.ts'
import { OCPI_STATUS, type CdrSchema, type OcpiVersion, type PriceSchema, type SessionPatchSchema, type SessionSchema } from './protocol.ts'
import { presentedOcpiToken } from './tokens.ts'
import { invalidParameters, OcpiError, success, type Party } from './transport.ts'

export type OcpiSession = Static<typeof SessionSchema>
export type OcpiSessionPatch = Static<typeof SessionPatchSchema>
export type OcpiCdr = Static<typeof CdrSchema>
type CdrToken = OcpiSession['cdr_token']

/**
 * OCPI's SessionStatus in the store's terms (services/sessions/model.ts): PENDING and RESERVATION
 * are authorized, not yet charging; COMPLETED means ended with the CDR still to come (the store's
 * STOPPED); INVALID ends the session for good. The CDR itself makes a session COMPLETED.
 */
export function statusOfOcpiSession(status: OcpiSession['status']): SessionStatus {
  switch (status) {
    case 'PENDING':
    case 'RESERVATION':
      return 'AUTHORIZED'
    case 'ACTIVE':
      return 'ACTIVE'
    case 'COMPLETED':
      return 'STOPPED'
    case 'INVALID':
      return 'INVALID'
  }
}

/**
 * OCPI's Price in a currency, as the store keeps a cost: 2.2.1 gives excl_vat (incl_vat optional),
 * 2.3.0 before_taxes and the taxes (incl. VAT is their sum; without taxes listed, not stated).
 * A Price of the other version is a 2001 naming the field.
 */
export function costOfOcpi(
  version: OcpiVersion,
  currency: string,
  price: Static<typeof PriceSchema> | undefined,
  field: string,
): SessionCost | null {
  if (!price) return null
  if (version === '2.2.1') {
    if (!('excl_vat' in price)) throw invalidParameters(`${field} must be an OCPI 2.2.1 Price: excl_vat, optionally incl_vat`)
    return { currency, exclVat: price.excl_vat, inclVat: price.incl_vat ?? null }
  }
  if (!('before_taxes' in price)) throw invalidParameters(`${field} must be an OCPI ${version} Price: before_taxes, optionally taxes`)
  const taxes = price.taxes
  const inclVat =
    taxes && taxes.length > 0 ? Math.round((price.before_taxes + taxes.reduce((sum, t) => sum + t.amount, 0)) * 1e4) / 1e4 : null
  return { currency, exclVat: price.before_taxes, inclVat }
}

/** The session's issuer in the store: the CPO party that names it (OCPI IDs are unique per party, CiStrings). */
export const issuerOf = (party: Party) => partyName(party).toUpperCase()

const instant = (text: string, field: string): Date => {
  const at = new Date(/[zZ]|[+-]\d\d:\d\d$/.test(text) ? text : `${text}Z`)
  if (Number.isNaN(at.getTime())) throw invalidParameters(`${field} is not a real date and time: ${JSON.stringify(text)}`)
  return at
}

/**
 * A PATCH merged into the stored Session: fields replace theirs, except charging_periods, which
 * OCPI says are added to the list (an empty list changes nothing).
 */
export function mergeSessionPatch(current: OcpiSession, patch: OcpiSessionPatch): OcpiSession {
  const { charging_periods: added, ...rest } = patch
  const periods = added && added.length > 0 ? [...(current.charging_periods ?? []), ...added] : current.charging_periods
  return { ...current, ...rest, ...(periods && { charging_periods: periods }) }
}

/** What the store keeps of an OCPI Session. */
export function sessionReport(version: OcpiVersion, session: OcpiSession, issuer: string): SessionReport {
  return {
    status: statusOfOcpiSession(session.status),
    startedAt: instant(session.start_date_time, 'start_date_time'),
    endedAt: session.end_date_time ? instant(session.end_date_time, 'end_date_time') : null,
    energyKwh: session.kwh,
    authorizationReference: session.authorization_reference ?? null,
    operatorId: issuer,
    locationId: session.location_id,
    evseUid: session.evse_uid,
    connectorId: session.connector_id,
    cost: costOfOcpi(version, session.currency, session.total_cost, 'total_cost'),
    record: session as unknown as Record<string, unknown>,
  }
}

const unknownSession = (id: string) => new OcpiError('not_found', OCPI_STATUS.unknownLocation, `unknown session ${JSON.stringify(id)}`)
const unknownCdr = (id: string) => new OcpiError('not_found', OCPI_STATUS.unknownLocation, `unknown CDR ${JSON.stringify(id)}`)

interface SessionPath {
  country_code: string
  party_id: string
  session_id: string
}

/**
 * The Sessions and CDRs Receivers (eMSP side). A CPO writes and reads only its own parties'
 * sessions and CDRs, and only of tokens we issued: a session or CDR of someone else's driver is
 * refused and nothing is stored (it is not ours to bill). Each ties to our key by the token's uid
 * (the uid our Tokens module pushed) and to our decision by authorization_reference.
 */
export function sessionReceiver(deps: { sessions: ChargingSessions; keyDirectory: KeyDirectory; us: Party }) {
  const { sessions, keyDirectory, us } = deps

  const ownParty = (partner: OcpiPartner, party: Party, what: string) => {
    if (!partner.parties.some((p) => sameParty(p, party))) {
      const granted = partner.parties.map(partyName).join(', ') || 'none'
      throw invalidParameters(`${what} ${partyName(party)} is not a party of this CPO (it may act for ${granted})`)
    }
  }

  const idsAgree = (body: { country_code: string; party_id: string; id: string }, path: SessionPath) => {
    for (const [field, inPath] of [
      ['country_code', path.country_code],
      ['party_id', path.party_id],
      ['id', path.session_id],
    ] as const) {
      if (body[field].toUpperCase() !== inPath.toUpperCase()) {
        throw invalidParameters(`${field} in the body (${JSON.stringify(body[field])}) differs from the URL (${JSON.stringify(inPath)})`)
      }
    }
  }

  /** Our key the token names, or a 2001 naming the uid: a token we did not issue is not ours to bill. */
  const keyOf = async (token: CdrToken): Promise<string> => {
    if (sameParty(token, us)) {
      const presented = presentedOcpiToken(token.uid, token.type === 'RFID' ? 'RFID' : token.type)
      const found = await keyDirectory.lookup({ emaidIdentity: presentedIdentity(presented), rfidUid: presentedUid(presented) })
      const key = keysNamedBy(presented, found)[0]
      if (key) return key.key.id
    }
    throw invalidParameters(
      `cdr_token.uid ${JSON.stringify(token.uid)} (${partyName(token)}) is not a token of ours (${partyName(us)}): nothing stored`,
    )
  }

  return {
    async get(partner: OcpiPartner, path: SessionPath) {
      // Another party's session is, to this CPO, one that does not exist.
      if (!partner.parties.some((p) => sameParty(p, path))) throw unknownSession(path.session_id)
      const found = await sessions.record({ protocol: 'ocpi', issuer: issuerOf(path), externalId: path.session_id })
      if (!found?.record) throw unknownSession(path.session_id)
      return found.record
    },

    async put(version: OcpiVersion, partner: OcpiPartner, path: SessionPath, body: OcpiSession): Promise<{ created: boolean }> {
      ownParty(partner, path, 'the session party')
      idsAgree(body, path)
      const keyId = await keyOf(body.cdr_token)
      const issuer = issuerOf(path)
      const report = sessionReport(version, body, issuer)
      const stored = await sessions.reported({ protocol: 'ocpi', issuer, externalId: path.session_id }, keyId, () => report)
      if (stored.outcome === 'unknown_session') throw unknownSession(path.session_id)
      return { created: stored.outcome === 'created' }
    },

    async patch(version: OcpiVersion, partner: OcpiPartner, path: SessionPath, patch: OcpiSessionPatch): Promise<void> {
      ownParty(partner, path, 'the session party')
      // A PATCH may change the token only to another of ours.
      if (patch.cdr_token) await keyOf(patch.cdr_token)
      const issuer = issuerOf(path)
      const stored = await sessions.reported({ protocol: 'ocpi', issuer, externalId: path.session_id }, null, (current) => {
        if (!current?.record) throw unknownSession(path.session_id)
        return sessionReport(version, mergeSessionPatch(current.record as unknown as OcpiSession, patch), issuer)
      })
      if (stored.outcome === 'unknown_session') throw unknownSession(path.session_id)
    },

    /** Stores a CDR once per party and ID; answers our ID of it (for the Location header). */
    async post(version: OcpiVersion, partner: OcpiPartner, cdr: OcpiCdr): Promise<{ cdrId: string; repeated: boolean }> {
      ownParty(partner, cdr, 'the CDR party')
      const keyId = await keyOf(cdr.cdr_token)
      const issuer = issuerOf(cdr)
      const location = cdr.cdr_location
      const stored = await sessions.chargeDetailRecord({
        // A CDR without session_id stands for a session of its own, named by the CDR's ID.
        session: { protocol: 'ocpi', issuer, externalId: cdr.session_id ?? cdr.id },
        keyId,
        identification: { method: cdr.cdr_token.type, value: cdr.cdr_token.uid },
        record: cdr as unknown as Record<string, unknown>,
        contentSha256: contentSha256(cdr),
        sessionStart: instant(cdr.start_date_time, 'start_date_time'),
        sessionEnd: instant(cdr.end_date_time, 'end_date_time'),
        chargingStart: null,
        chargingEnd: null,
        energyKwh: cdr.total_energy,
        evseId: location.evse_id,
        operatorId: issuer,
        externalId: cdr.id,
        locationId: location.id,
        evseUid: location.evse_uid,
        connectorId: location.connector_id,
        cost: costOfOcpi(version, cdr.currency, cdr.total_cost, 'total_cost'),
        authorizationReference: cdr.authorization_reference ?? null,
      })
      switch (stored.outcome) {
        case 'stored':
          return { cdrId: stored.cdrId, repeated: false }
        case 'repeated':
          return { cdrId: stored.cdrId, repeated: true }
        case 'conflict':
          throw invalidParameters(
            stored.sameId
              ? `CDR ${partyName(cdr)} ${JSON.stringify(cdr.id)} was received before (${stored.receivedAt.toISOString()}) with other content; the first is kept`
              : `session ${JSON.stringify(cdr.session_id ?? cdr.id)} has another CDR (received ${stored.receivedAt.toISOString()}); the first is kept`,
          )
        case 'unknown_session':
          // keyOf found the key, so the session opens: this is only reached if the key vanished meanwhile.
          throw invalidParameters(`cdr_token.uid ${JSON.stringify(cdr.cdr_token.uid)} is not a token of ours: nothing stored`)
      }
    },

    async getCdr(partner: OcpiPartner, cdrId: string) {
      const found = await sessions.chargeDetailRecordById(cdrId)
      // Another party's CDR is, to this CPO, one that does not exist.
      if (!found || found.protocol !== 'ocpi' || !partner.parties.some((p) => issuerOf(p) === found.issuer)) throw unknownCdr(cdrId)
      return found.record
    },
  }
}

/** Fastify handlers for the protocol table; `cdrUrl` is the absolute URL of a stored CDR. */
export function sessionHandlers(
  deps: Parameters<typeof sessionReceiver>[0],
  partnerOf: (request: FastifyRequest) => OcpiPartner,
  cdrUrl: (version: OcpiVersion, cdrId: string) => string,
) {
  const receiver = sessionReceiver(deps)
  const pathOf = (request: FastifyRequest) => request.params as SessionPath
  return {
    getSession: async (_v: OcpiVersion, request: FastifyRequest) => success(await receiver.get(partnerOf(request), pathOf(request))),
    putSession: async (version: OcpiVersion, request: FastifyRequest, reply: FastifyReply) => {
      const { created } = await receiver.put(version, partnerOf(request), pathOf(request), request.body as OcpiSession)
      return reply.code(created ? 201 : 200).send(success(null))
    },
    patchSession: async (version: OcpiVersion, request: FastifyRequest) => {
      await receiver.patch(version, partnerOf(request), pathOf(request), request.body as OcpiSessionPatch)
      return success(null)
    },
    postCdr: async (version: OcpiVersion, request: FastifyRequest, reply: FastifyReply) => {
      const { cdrId, repeated } = await receiver.post(version, partnerOf(request), request.body as OcpiCdr)
      reply.header('location', cdrUrl(version, cdrId))
      // A repeat is acknowledged as the first was: 201 with the same Location (2.2.1 documents no other success).
      return reply.code(201).send(success(null, repeated ? 'this CDR was received before; stored once' : undefined))
    },
    getCdr: async (_v: OcpiVersion, request: FastifyRequest) =>
      success(await receiver.getCdr(partnerOf(request), (request.params as { cdr_id: string }).cdr_id)),
  }
}
