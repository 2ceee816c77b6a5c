import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Db } from '../../infra/db/database.ts'
import { changeLocation, readLocationRecord, saveLocations, type LocationEntry } from '../../services/locations/store.ts'
import { validateConnector, validateEvse, validateLocation } from './location-validation.ts'
import { locationFromOcpi, type OcpiConnector, type OcpiEvse, type OcpiLocation } from './locations-mapping.ts'
import { partyName, sameParty, type OcpiPartner } from './partners.ts'
import { OCPI_STATUS } from './protocol.ts'
import { invalidParameters, OcpiError, success } from './transport.ts'

interface Path {
  country_code: string
  party_id: string
  location_id: string
  evse_uid?: string
  connector_id?: string
}

/** What the store keeps of an OCPI Location: the neutral model for search, the Location as sent for GET. */
export const ocpiLocationEntry = (location: OcpiLocation, partnerId: string | null): LocationEntry => ({
  location: locationFromOcpi(location, partnerId),
  record: location,
})

/** Stores validated OCPI Locations from a CPO (`partnerId`), or loaded in bulk (null: sandbox, simulator). */
export function saveOcpiLocations(db: Db, partnerId: string | null, locations: OcpiLocation[]): Promise<void> {
  return saveLocations(
    db,
    locations.map((location) => ocpiLocationEntry(location, partnerId)),
  )
}

/** Reads a stored OCPI record back into the neutral model (fillSearchDocuments). */
export const ocpiRecordReader = (record: unknown, partnerId: string | null) => locationFromOcpi(record as OcpiLocation, partnerId)

const unknownLocation = (what: string) => new OcpiError('not_found', OCPI_STATUS.unknownLocation, `unknown ${what}`)
const later = (a: string | undefined, b: string) => (a && Date.parse(a) > Date.parse(b) ? a : b)

/** OCPI's IDs (country_code, party_id, location, EVSE and connector IDs) are CiStrings. */
const sameId = (a: unknown, b: string) => typeof a === 'string' && a.toUpperCase() === b.toUpperCase()

function requireIdsAgree(body: Record<string, unknown>, expected: Record<string, string | undefined>) {
  for (const [field, value] of Object.entries(expected)) {
    if (value !== undefined && body[field] !== undefined && !sameId(body[field], value)) {
      throw invalidParameters(`${field} in the body (${JSON.stringify(body[field])}) differs from the URL (${JSON.stringify(value)})`)
    }
  }
}

/**
 * The Locations Receiver (eMSP side): CPOs PUT whole objects and PATCH parts of them at location,
 * EVSE and connector depth. A change below a location moves its parents' last_updated along.
 * A CPO writes only the parties it was granted. IDs match regardless of case; what is stored keeps
 * the CPO's spelling.
 */
export function locationReceiver(db: Db) {
  const ownParty = (partner: OcpiPartner, path: Path) => {
    if (!partner.parties.some((p) => sameParty(p, path))) {
      const granted = partner.parties.map(partyName).join(', ') || 'none'
      throw invalidParameters(`${path.country_code}*${path.party_id} is not a party of this CPO (it may act for ${granted})`)
    }
  }

  const change = (partner: OcpiPartner, path: Path, fn: (current: OcpiLocation | null) => OcpiLocation) =>
    changeLocation(db, 'ocpi', { countryCode: path.country_code, partyId: path.party_id, locationId: path.location_id }, (current) =>
      ocpiLocationEntry(fn(current as OcpiLocation | null), partner.id),
    )

  const findEvse = (location: OcpiLocation | null, uid: string) => {
    if (!location) throw unknownLocation('location')
    const evse = (location.evses ?? []).find((e) => sameId(e.uid, uid))
    return { location, evse }
  }

  return {
    async get(partner: OcpiPartner, path: Path) {
      ownParty(partner, path)
      const location = (await readLocationRecord(db, 'ocpi', {
        countryCode: path.country_code,
        partyId: path.party_id,
        locationId: path.location_id,
      })) as OcpiLocation | null
      if (!location) throw unknownLocation('location')
      if (!path.evse_uid) return location
      const evse = (location.evses ?? []).find((e) => sameId(e.uid, path.evse_uid!))
      if (!evse) throw unknownLocation('EVSE')
      if (!path.connector_id) return evse
      const connector = evse.connectors.find((c) => sameId(c.id, path.connector_id!))
      if (!connector) throw unknownLocation('connector')
      return connector
    },

    async put(partner: OcpiPartner, path: Path, body: unknown): Promise<{ created: boolean }> {
      ownParty(partner, path)
      if (!path.evse_uid) {
        const location = validateLocation(body)
        requireIdsAgree(location, { country_code: path.country_code, party_id: path.party_id, id: path.location_id })
        return change(partner, path, () => location)
      }
      if (!path.connector_id) {
        const evse = validateEvse(body)
        requireIdsAgree(evse, { uid: path.evse_uid })
        let created = false
        await change(partner, path, (current) => {
          const { location, evse: existing } = findEvse(current, path.evse_uid!)
          created = !existing
          const evses = existing ? location.evses!.map((e) => (e === existing ? evse : e)) : [...(location.evses ?? []), evse]
          return { ...location, evses, last_updated: later(location.last_updated, evse.last_updated) }
        })
        return { created }
      }
      const connector = validateConnector(body)
      requireIdsAgree(connector, { id: path.connector_id })
      let created = false
      await change(partner, path, (current) => {
        const { location, evse } = findEvse(current, path.evse_uid!)
        if (!evse) throw unknownLocation('EVSE')
        created = !evse.connectors.some((c) => sameId(c.id, connector.id))
        const connectors = created
          ? [...evse.connectors, connector]
          : evse.connectors.map((c) => (sameId(c.id, connector.id) ? connector : c))
        const updated: OcpiEvse = { ...evse, connectors, last_updated: later(evse.last_updated, connector.last_updated) }
        return {
          ...location,
          evses: location.evses!.map((e) => (e === evse ? updated : e)),
          last_updated: later(location.last_updated, connector.last_updated),
        }
      })
      return { created }
    },

    async patch(partner: OcpiPartner, path: Path, body: unknown): Promise<void> {
      ownParty(partner, path)
      if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalidParameters('the body must be an object')
      if (typeof (body as { last_updated?: unknown }).last_updated !== 'string') throw invalidParameters('a PATCH must carry last_updated')
      const patch = body as Record<string, unknown>
      await change(partner, path, (current) => {
        if (!current) throw unknownLocation('location')
        if (!path.evse_uid) {
          requireIdsAgree(patch, { country_code: path.country_code, party_id: path.party_id, id: path.location_id })
          return validateLocation({ ...current, ...patch })
        }
        const evse = (current.evses ?? []).find((e) => sameId(e.uid, path.evse_uid!))
        if (!evse) throw unknownLocation('EVSE')
        let updated: OcpiEvse
        if (!path.connector_id) {
          requireIdsAgree(patch, { uid: path.evse_uid })
          updated = validateEvse({ ...evse, ...patch })
        } else {
          const connector = evse.connectors.find((c) => sameId(c.id, path.connector_id!))
          if (!connector) throw unknownLocation('connector')
          requireIdsAgree(patch, { id: path.connector_id })
          const next = validateConnector({ ...connector, ...patch }) as OcpiConnector
          updated = {
            ...evse,
            connectors: evse.connectors.map((c) => (c === connector ? next : c)),
            last_updated: later(evse.last_updated, next.last_updated),
          }
        }
        return {
          ...current,
          evses: current.evses!.map((e) => (e === evse ? updated : e)),
          last_updated: later(current.last_updated, String(patch.last_updated)),
        }
      })
    },
  }
}

/** Fastify handlers for the protocol table. */
export function locationHandlers(db: Db, partnerOf: (request: FastifyRequest) => OcpiPartner) {
  const receiver = locationReceiver(db)
  const pathOf = (request: FastifyRequest) => request.params as Path
  const get = async (_v: string, request: FastifyRequest) => success(await receiver.get(partnerOf(request), pathOf(request)))
  const put = async (_v: string, request: FastifyRequest, reply: FastifyReply) => {
    const { created } = await receiver.put(partnerOf(request), pathOf(request), request.body)
    return reply.code(created ? 201 : 200).send(success(null))
  }
  const patch = async (_v: string, request: FastifyRequest) => {
    await receiver.patch(partnerOf(request), pathOf(request), request.body)
    return success(null)
  }
  return {
    getLocation: get,
    getEvse: get,
    getConnector: get,
    putLocation: put,
    putEvse: put,
    putConnector: put,
    patchLocation: patch,
    patchEvse: patch,
    patchConnector: patch,
  }
}
