import { sql } from 'kysely'
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

export async function countLocations(db: Db): Promise<number> {
  const row = await sql<{ n: string }>`SELECT count(*) AS n FROM locations`.execute(db)
  return Number(row.rows[0]!.n)
}
