import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import { isEvseVisible, isLocationSearchable, isPlugAndChargeCapable, parseCoordinates, type OcpiLocation } from '../../core/locations/location.ts'
import { plugAndChargeDocumentOf, searchDocumentJson, searchDocumentOf } from '../../core/locations/search-document.ts'

/** The columns we derive from a Location; the Location itself is stored as received. */
export function derivedColumns(location: OcpiLocation) {
  const { latitude, longitude } = parseCoordinates(location.coordinates)
  return {
    ...searchDocumentColumns(location),
    latitude,
    longitude,
    searchable: isLocationSearchable(location),
    plug_and_charge: (location.evses ?? []).some((evse) => isEvseVisible(evse) && isPlugAndChargeCapable(evse)),
    last_updated: new Date(location.last_updated),
  }
}

function searchDocumentColumns(location: OcpiLocation) {
  const document = searchDocumentOf(location)
  const pnc = plugAndChargeDocumentOf(document)
  return { search_document: searchDocumentJson(document), search_document_pnc: pnc && searchDocumentJson(pnc) }
}

type LocationKey = { countryCode: string; partyId: string; locationId: string }

/**
 * The key of a Location: its party and ID are CiStrings, so one location whatever their case (the
 * database holds the same key, generated, unique: migration 0007).
 */
export const locationKeyOf = (key: LocationKey) => [key.countryCode, key.partyId, key.locationId].map((s) => s.toUpperCase()).join('\u0000')

/**
 * Stores Locations (one statement per batch); a Location with the same CPO party and ID, in any
 * case, is replaced, and takes the spelling of the one stored last.
 */
export async function saveLocations(db: Db, partnerId: string | null, locations: OcpiLocation[]): Promise<void> {
  // One statement cannot write a row twice: of copies differing in case, the last one counts.
  const unique = [
    ...new Map(
      locations.map((l) => [locationKeyOf({ countryCode: l.country_code, partyId: l.party_id, locationId: l.id }), l] as const),
    ).values(),
  ]
  for (let i = 0; i < unique.length; i += 500) {
    const rows = unique.slice(i, i + 500).map((location) => ({
      partner_id: partnerId,
      country_code: location.country_code,
      party_id: location.party_id,
      location_id: location.id,
      data: JSON.stringify(location),
      ...derivedColumns(location),
      updated_at: new Date(),
    }))
    await db
      .insertInto('locations')
      .values(rows)
      .onConflict((oc) =>
        oc.column('location_key').doUpdateSet((eb) => ({
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

/**
 * Derives the search documents of every location stored before there were any (migration 0005),
 * in batches; returns how many it filled. Cheap when there are none: a partial index holds exactly
 * those rows.
 */
export async function fillSearchDocuments(db: Db, batchSize = 500): Promise<number> {
  let count = 0
  for (;;) {
    const rows = await db
      .selectFrom('locations')
      .select(['id', 'data', sql<string>`xmin::text`.as('version')])
      .where('search_document', 'is', null)
      .orderBy('id')
      .limit(batchSize)
      .execute()
    if (rows.length === 0) return count
    const filled = rows.map((row) => ({ ...row, ...searchDocumentColumns(row.data as OcpiLocation) }))
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

/** A Location by the CPO's party and ID, in any case (through the unique index of the key). */
const locationByKey = (db: Db, key: LocationKey) =>
  db
    .selectFrom('locations')
    .select(['data'])
    .where('location_key', '=', sql<string[]>`ARRAY[upper(${key.countryCode}), upper(${key.partyId}), upper(${key.locationId})]`)

export interface StoredLocation {
  partnerId: string | null
  data: OcpiLocation
}

/**
 * Reads a Location under a row lock, lets `change` decide its next state, and stores it: the
 * Receiver's PUT and PATCH at every depth go through here, so two updates of one location never
 * interleave. `change` returns null to leave it as it is.
 */
export async function changeLocation(
  db: Db,
  key: { countryCode: string; partyId: string; locationId: string },
  partnerId: string | null,
  change: (current: OcpiLocation | null) => OcpiLocation | null,
): Promise<{ created: boolean }> {
  return db.transaction().execute(async (trx) => {
    const row = await locationByKey(trx, key).forUpdate().executeTakeFirst()
    const current = (row?.data as OcpiLocation | undefined) ?? null
    const next = change(current)
    if (next) await saveLocations(trx, partnerId, [next])
    return { created: current === null }
  })
}

/** After a full pull: what the CPO no longer lists is gone. */
export async function removeLocationsNotIn(
  db: Db,
  partnerId: string,
  keep: Array<{ countryCode: string; partyId: string; locationId: string }>,
) {
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

export async function readLocation(
  db: Db,
  key: { countryCode: string; partyId: string; locationId: string },
): Promise<OcpiLocation | null> {
  const row = await locationByKey(db, key).executeTakeFirst()
  return (row?.data as OcpiLocation | undefined) ?? null
}
