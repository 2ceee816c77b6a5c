import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import { invalid } from '../../core/errors.ts'
import {
  hasPlugAndCharge,
  isLocationSearchable,
  normalizeOperatorId,
  type Location,
  type LocationProtocol,
} from '../../core/locations/location.ts'
import { plugAndChargeDocumentOf, searchDocumentJson, searchDocumentOf } from '../../core/locations/search-document.ts'

/**
 * A location as a protocol adapter hands it over: the neutral model, from which search derives
 * everything, and the protocol's own record (for OCPI the Location exactly as the CPO sent it),
 * kept as it is for the adapter to answer with.
 */
export interface LocationEntry {
  location: Location
  record: unknown
}

/** The columns we derive from a location; the protocol's record is stored beside them as it came. */
export function derivedColumns(location: Location) {
  return {
    ...searchDocumentColumns(location),
    latitude: location.coordinates.latitude,
    longitude: location.coordinates.longitude,
    searchable: isLocationSearchable(location),
    plug_and_charge: hasPlugAndCharge(location),
    last_updated: new Date(location.lastUpdated),
  }
}

function searchDocumentColumns(location: Location) {
  const document = searchDocumentOf(location)
  const pnc = plugAndChargeDocumentOf(document)
  return { search_document: searchDocumentJson(document), search_document_pnc: pnc && searchDocumentJson(pnc) }
}

/**
 * Where a location is kept: its party and ID within its protocol. An OICP operator ID (`DE*ABC`)
 * is a country and party as OCPI's are, so both fit the same columns.
 */
export type LocationKey = { countryCode: string; partyId: string; locationId: string }

export function locationKeyOfLocation(location: Location): LocationKey {
  const { source } = location
  if (source.protocol === 'ocpi') return { countryCode: source.countryCode, partyId: source.partyId, locationId: location.id }
  const operator = normalizeOperatorId(source.operatorId)
  if (!operator)
    throw invalid('invalid_operator', `operator ID ${JSON.stringify(source.operatorId)} must be a country and party, e.g. "DE*ABC"`)
  const [countryCode, partyId] = operator.split('*') as [string, string]
  return { countryCode, partyId, locationId: location.id }
}

/** The partner connection a location came through: OCPI CPOs have one, Hubject's data none per operator. */
const partnerIdOf = (location: Location) => (location.source.protocol === 'ocpi' ? location.source.partnerId : null)

/**
 * The key of a location: party and ID are case-insensitive (OCPI CiStrings), so one location
 * whatever their case (the database holds the same key, generated, unique per protocol: 0007, 0012).
 */
export const locationKeyOf = (key: LocationKey) => [key.countryCode, key.partyId, key.locationId].map((s) => s.toUpperCase()).join('\u0000')

/**
 * Stores locations (one statement per batch); a location with the same protocol, party and ID, in
 * any case, is replaced, and takes the spelling of the one stored last.
 */
export async function saveLocations(db: Db, entries: LocationEntry[]): Promise<void> {
  // One statement cannot write a row twice: of copies differing in case, the last one counts.
  const unique = [
    ...new Map(
      entries.map(
        (entry) => [`${entry.location.source.protocol}\u0000${locationKeyOf(locationKeyOfLocation(entry.location))}`, entry] as const,
      ),
    ).values(),
  ]
  for (let i = 0; i < unique.length; i += 500) {
    const rows = unique.slice(i, i + 500).map(({ location, record }) => {
      const key = locationKeyOfLocation(location)
      return {
        protocol: location.source.protocol,
        partner_id: partnerIdOf(location),
        country_code: key.countryCode,
        party_id: key.partyId,
        location_id: key.locationId,
        data: JSON.stringify(record),
        ...derivedColumns(location),
        updated_at: new Date(),
      }
    })
    await db
      .insertInto('locations')
      .values(rows)
      .onConflict((oc) =>
        oc.columns(['protocol', 'location_key']).doUpdateSet((eb) => ({
          partner_id: eb.ref('excluded.partner_id'),
          country_code: eb.ref('excluded.country_code'),
          party_id: eb.ref('excluded.party_id'),
          location_id: eb.ref('excluded.location_id'),
          data: eb.ref('excluded.data'),
          search_document: eb.ref('excluded.search_document'),
          search_document_pnc: eb.ref('excluded.search_document_pnc'),
          latitude: eb.ref('excluded.latitude'),
          longitude: eb.ref('excluded.longitude'),
          searchable: eb.ref('excluded.searchable'),
          plug_and_charge: eb.ref('excluded.plug_and_charge'),
          last_updated: eb.ref('excluded.last_updated'),
          updated_at: eb.ref('excluded.updated_at'),
        })),
      )
      .execute()
  }
}

/** How a protocol reads its stored record back into the neutral model (for fillSearchDocuments). */
export type RecordReaders = Partial<Record<LocationProtocol, (record: unknown, partnerId: string | null) => Location>>

/**
 * Derives the search documents of every location stored before there were any (migration 0005),
 * in batches, reading each row's record with its protocol's reader; returns how many it filled.
 * Cheap when there are none: a partial index holds exactly those rows.
 */
export async function fillSearchDocuments(db: Db, readers: RecordReaders, batchSize = 500): Promise<number> {
  let count = 0
  for (;;) {
    const rows = await db
      .selectFrom('locations')
      .select(['id', 'protocol', 'partner_id', 'data', sql<string>`xmin::text`.as('version')])
      .where('search_document', 'is', null)
      .orderBy('id')
      .limit(batchSize)
      .execute()
    if (rows.length === 0) return count
    const filled = rows.map((row) => {
      const read = readers[row.protocol]
      if (!read) throw new Error(`no reader for stored ${row.protocol} locations`)
      return { ...row, ...searchDocumentColumns(read(row.data, row.partner_id)) }
    })
    // Joined on the primary key; a row changed since it was read (another xmin) already has the
    // documents of its new data, and keeps them.
    await sql`
      UPDATE locations SET search_document = batch.document, search_document_pnc = batch.pnc
        FROM unnest(${filled.map((f) => f.id)}::uuid[], ${filled.map((f) => f.version)}::xid[],
                    ${filled.map((f) => f.search_document)}::text[], ${filled.map((f) => f.search_document_pnc)}::text[])
               AS batch (id, version, document, pnc)
       WHERE locations.id = batch.id AND locations.xmin = batch.version`.execute(db)
    count += rows.length
  }
}

/** A location by protocol, party and ID, in any case (through the unique index of the key). */
const locationByKey = (db: Db, protocol: LocationProtocol, key: LocationKey) =>
  db
    .selectFrom('locations')
    .select(['data'])
    .where('protocol', '=', protocol)
    .where('location_key', '=', sql<string[]>`ARRAY[upper(${key.countryCode}), upper(${key.partyId}), upper(${key.locationId})]`)

/**
 * Reads a location's record under a row lock, lets `change` decide its next state, and stores it:
 * OCPI's Receiver PUT and PATCH at every depth go through here, so two updates of one location
 * never interleave. `change` returns null to leave it as it is.
 */
export async function changeLocation(
  db: Db,
  protocol: LocationProtocol,
  key: LocationKey,
  change: (current: unknown) => LocationEntry | null,
): Promise<{ created: boolean }> {
  return db.transaction().execute(async (trx) => {
    const row = await locationByKey(trx, protocol, key).forUpdate().executeTakeFirst()
    const current = row?.data ?? null
    const next = change(current)
    if (next) await saveLocations(trx, [next])
    return { created: current === null }
  })
}

/** After a full pull: what the CPO no longer lists is gone. */
export async function removeLocationsNotIn(db: Db, partnerId: string, keep: LocationKey[]) {
  const keys = new Set(keep.map(locationKeyOf))
  const rows = await db
    .selectFrom('locations')
    .select(['id', 'country_code', 'party_id', 'location_id'])
    .where('partner_id', '=', partnerId)
    .execute()
  const gone = rows
    .filter((r) => !keys.has(locationKeyOf({ countryCode: r.country_code, partyId: r.party_id, locationId: r.location_id })))
    .map((r) => r.id)
  for (let i = 0; i < gone.length; i += 1000)
    await db
      .deleteFrom('locations')
      .where('id', 'in', gone.slice(i, i + 1000))
      .execute()
  return gone.length
}

/** Removes locations by protocol, party and ID (in any case); returns how many there were. */
export async function removeLocations(db: Db, protocol: LocationProtocol, keys: LocationKey[]): Promise<number> {
  let removed = 0
  for (let i = 0; i < keys.length; i += 1000) {
    const batch = keys.slice(i, i + 1000)
    const result = await sql`
      DELETE FROM locations
       WHERE protocol = ${protocol}
         AND location_key IN (SELECT ARRAY[upper(c), upper(p), upper(l)]
                                FROM unnest(${batch.map((k) => k.countryCode)}::text[], ${batch.map((k) => k.partyId)}::text[],
                                            ${batch.map((k) => k.locationId)}::text[]) AS k (c, p, l))`.execute(db)
    removed += Number(result.numAffectedRows ?? 0)
  }
  return removed
}

/** A location's record as its protocol stored it; null when there is none. */
export async function readLocationRecord(db: Db, protocol: LocationProtocol, key: LocationKey): Promise<unknown> {
  const row = await locationByKey(db, protocol, key).executeTakeFirst()
  return row?.data ?? null
}
