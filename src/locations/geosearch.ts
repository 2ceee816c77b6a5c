import { sql } from 'kysely'
import type { Db } from '../db/database.ts'
import { invalid } from '../errors.ts'
import { matchLocation, type LocationFilters } from './filters.ts'
import { distanceMeters, PLUG_AND_CHARGE_CAPABLE, type Coordinates, type OcpiLocation } from './location.ts'

export type SearchArea =
  { kind: 'radius'; center: Coordinates; distance: number } | { kind: 'bbox'; north: number; south: number; east: number; west: number }

export interface SearchHit {
  location: OcpiLocation
  coordinates: Coordinates
  /** metres from the centre of the search */
  distance: number
}

/** Centre and covering radius of an area, for the spatial index. */
function circleOf(area: SearchArea): { center: Coordinates; radius: number } {
  if (area.kind === 'radius') return { center: area.center, radius: area.distance }
  const span = area.east >= area.west ? area.east - area.west : area.east + 360 - area.west
  let longitude = area.west + span / 2
  if (longitude > 180) longitude -= 360
  const center = { latitude: (area.north + area.south) / 2, longitude }
  const corners = [
    { latitude: area.north, longitude: area.west },
    { latitude: area.north, longitude: area.east },
    { latitude: area.south, longitude: area.west },
    { latitude: area.south, longitude: area.east },
    { latitude: area.north, longitude: center.longitude },
    { latitude: area.south, longitude: center.longitude },
  ]
  // A little margin: the index sphere and the haversine sphere differ by about 0.1%.
  return { center, radius: Math.max(...corners.map((c) => distanceMeters(center, c))) * 1.01 + 1 }
}

function insideBox(area: Extract<SearchArea, { kind: 'bbox' }>, c: Coordinates): boolean {
  if (c.latitude < area.south || c.latitude > area.north) return false
  return area.east >= area.west
    ? c.longitude >= area.west && c.longitude <= area.east
    : c.longitude >= area.west || c.longitude <= area.east
}

function decodeCursor(cursor: string | undefined): { chord: string; id: string } | undefined {
  if (cursor === undefined) return undefined
  const [chord, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  if (!chord || !/^[0-9.eE+-]+$/.test(chord) || !id || !/^[0-9a-f-]{36}$/.test(id)) {
    throw invalid('invalid_cursor', 'cursor is not one we issued; pass back the cursor of the previous answer as given')
  }
  return { chord, id }
}

/**
 * Locations in an area, nearest first, each trimmed to the EVSEs and connectors that match every
 * filter. The spatial index walks outwards from the centre (nearest-neighbour order on the
 * earth cube), the Plug&Charge filter has its own partial index, and the exact filters run on
 * the stored Location in `matchLocation`, the same code for every caller.
 */
export async function geosearch(
  db: Db,
  area: SearchArea,
  filters: LocationFilters,
  page: { limit: number; cursor?: string },
): Promise<{ hits: SearchHit[]; cursor?: string }> {
  const { center, radius: exactRadius } = circleOf(area)
  // The index works on its own sphere (radius 6,378,168 m), distances on the haversine one: the
  // index search reaches a little further, and the exact cut is made below.
  const radius = exactRadius * 1.002 + 1
  const onlyPnc = filters.capabilities?.includes(PLUG_AND_CHARGE_CAPABLE) ?? false
  const origin = sql`ll_to_earth(${center.latitude}::float8, ${center.longitude}::float8)`
  const point = sql`ll_to_earth(latitude, longitude)`
  const chord = sql`(${point} <-> ${origin})`
  type Row = { id: string; data: OcpiLocation; latitude: number; longitude: number; chord: string }
  // Ordered by distance alone, so PostgreSQL walks the GiST index nearest-first and stops at the
  // LIMIT; ties (the same point) are ordered by id here, fetching a cut tie group whole.
  const nearest = (after: { chord: string; id: string } | undefined, limit: number) =>
    sql<Row>`
      SELECT id, data, latitude, longitude, ${chord}::text AS chord
        FROM locations
       WHERE searchable ${onlyPnc ? sql`AND plug_and_charge` : sql``}
         AND earth_box(${origin}, ${radius}::float8) @> ${point}
         ${after ? sql`AND (${chord} > ${after.chord}::float8 OR (${chord} = ${after.chord}::float8 AND id > ${after.id}::uuid))` : sql``}
       ORDER BY ${chord}
       LIMIT ${limit}`.execute(db)
  const tieGroup = (value: string, after: { chord: string; id: string } | undefined) =>
    sql<Row>`
      SELECT id, data, latitude, longitude, ${chord}::text AS chord
        FROM locations
       WHERE searchable ${onlyPnc ? sql`AND plug_and_charge` : sql``}
         AND earth_box(${origin}, ${radius}::float8) @> ${point}
         AND ${chord} = ${value}::float8
         ${after && after.chord === value ? sql`AND id > ${after.id}::uuid` : sql``}
       ORDER BY id`.execute(db)

  let after = decodeCursor(page.cursor)
  const hits: SearchHit[] = []
  const batch = page.limit + 10
  for (let round = 0; round < 10_000; round++) {
    // One row more than the batch tells whether the last distance continues past the LIMIT.
    let rows = (await nearest(after, batch + 1)).rows
    const full = rows.length > batch
    if (full) {
      const edge = rows[batch - 1]!.chord
      const cutTie = rows[batch]!.chord === edge
      rows = rows.slice(0, batch)
      // Rare (several locations at one point): take that tie group whole, in id order.
      if (cutTie) rows = [...rows.filter((r) => r.chord !== edge), ...(await tieGroup(edge, after)).rows]
    }
    rows.sort((a, b) => Number(a.chord) - Number(b.chord) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    for (const row of rows) {
      after = { chord: row.chord, id: row.id }
      const coordinates = { latitude: row.latitude, longitude: row.longitude }
      const distance = distanceMeters(center, coordinates)
      // Nearest first: past the radius nothing further can be inside it.
      if (area.kind === 'radius' && distance > area.distance) return { hits }
      if (area.kind === 'bbox' && !insideBox(area, coordinates)) continue
      const location = matchLocation(row.data, filters)
      if (!location) continue
      hits.push({ location, coordinates, distance })
      if (hits.length === page.limit) {
        return { hits, cursor: Buffer.from(`${row.chord}|${row.id}`, 'utf8').toString('base64url') }
      }
    }
    if (!full) break
  }
  return { hits }
}
