import type { Db } from '../db/database.ts'
import { isEvseVisible, isLocationSearchable, isPlugAndChargeCapable, parseCoordinates, type OcpiLocation } from './location.ts'

/** The columns we derive from a Location; the Location itself is stored as received. */
export function derivedColumns(location: OcpiLocation) {
  const { latitude, longitude } = parseCoordinates(location.coordinates)
  return {
    latitude,
    longitude,
    searchable: isLocationSearchable(location),
    plug_and_charge: (location.evses ?? []).some((evse) => isEvseVisible(evse) && isPlugAndChargeCapable(evse)),
    last_updated: new Date(location.last_updated),
  }
}

/** Stores Locations (one statement per batch); a Location with the same CPO party and ID is replaced. */
export async function saveLocations(db: Db, partnerId: string | null, locations: OcpiLocation[]): Promise<void> {
  for (let i = 0; i < locations.length; i += 500) {
    const rows = locations.slice(i, i + 500).map((location) => ({
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
        oc.columns(['country_code', 'party_id', 'location_id']).doUpdateSet((eb) => ({
          partner_id: eb.ref('excluded.partner_id'),
          data: eb.ref('excluded.data'),
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

type LocationKey = { countryCode: string; partyId: string; locationId: string }

/** A Location by the CPO's party and ID. */
const locationByKey = (db: Db, key: LocationKey) =>
  db
    .selectFrom('locations')
    .select(['data'])
    .where('country_code', '=', key.countryCode)
    .where('party_id', '=', key.partyId)
    .where('location_id', '=', key.locationId)

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
  const keys = new Set(keep.map((k) => `${k.countryCode}*${k.partyId}*${k.locationId}`))
  const rows = await db
    .selectFrom('locations')
    .select(['id', 'country_code', 'party_id', 'location_id'])
    .where('partner_id', '=', partnerId)
    .execute()
  const gone = rows.filter((r) => !keys.has(`${r.country_code}*${r.party_id}*${r.location_id}`)).map((r) => r.id)
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
