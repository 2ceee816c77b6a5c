import { createHash } from 'node:crypto'
import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import { invalid } from '../../core/errors.ts'
import { matchLocation, type LocationFilters } from '../../core/locations/filters.ts'
import { distanceFromChord, distanceMeters, PLUG_AND_CHARGE_CAPABLE, type Coordinates } from '../../core/locations/location.ts'
import type { DocumentKind, SearchDocumentCache } from './document-cache.ts'
import { searchDocumentJson, type SearchDocument } from '../../core/locations/search-document.ts'

export type SearchArea =
  { kind: 'radius'; center: Coordinates; distance: number } | { kind: 'bbox'; north: number; south: number; east: number; west: number }

/**
 * A location found, trimmed to what matched the filters. Kept as JSON bytes: most answers are the
 * stored document as it is, sent on without being parsed or serialized again.
 */
export class SearchHit {
  #location: SearchDocument | undefined
  constructor(
    /** the SearchDocument as JSON (ASCII: searchDocumentJson) */
    readonly bytes: Buffer,
    /** metres from the centre of the search */
    readonly distance: number,
    location?: SearchDocument,
  ) {
    this.#location = location
  }

  get location(): SearchDocument {
    return (this.#location ??= JSON.parse(this.bytes.toString('latin1')) as SearchDocument)
  }
}

/** Centre and covering radius of an area, for the spatial index. */
function circleOf(area: SearchArea): { center: Coordinates; radius: number } {
  if (area.kind === 'radius') return { center: area.center, radius: area.distance }
  const span = area.east >= area.west ? area.east - area.west : area.east + 360 - area.west
  let longitude = area.west + span / 2
  if (longitude > 180) longitude -= 360
  const center = { latitude: (area.north + area.south) / 2, longitude }
  // The farthest point of a box is on its edges. Along a parallel, distance grows with the
  // longitude difference, so there it is a corner; along a meridian edge it may lie between the
  // corners (a box wider than half the world is farthest at its sides near the equator), where the
  // distance along the edge is stationary: tan(latitude) = sin(centre latitude) / (cos(centre latitude) cos(half span)).
  const radians = Math.PI / 180
  const b = Math.cos(center.latitude * radians) * Math.cos((span / 2) * radians)
  const stationary = b === 0 ? area.north : Math.atan(Math.sin(center.latitude * radians) / b) / radians
  const sideLatitude = Math.min(area.north, Math.max(area.south, stationary))
  const corners = [
    { latitude: area.north, longitude: area.west },
    { latitude: area.north, longitude: area.east },
    { latitude: area.south, longitude: area.west },
    { latitude: area.south, longitude: area.east },
    { latitude: sideLatitude, longitude: area.west },
    { latitude: sideLatitude, longitude: area.east },
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

/** Where the previous page ended: the index distance (exact, as PostgreSQL computed it) and the id. */
type Cursor = { chord: number; id: string }

/**
 * What a cursor continues: the area and the filters (lists in any order), not the page size. A
 * cursor carries it, so one passed with another search is refused instead of answering a page of
 * a search nobody asked for.
 */
export function searchDigest(area: SearchArea, filters: LocationFilters): string {
  const where =
    area.kind === 'radius'
      ? ['radius', area.center.latitude, area.center.longitude, area.distance]
      : ['bbox', area.north, area.south, area.east, area.west]
  const given = Object.entries(filters)
    .filter(([, value]) => value !== undefined)
    .map(([name, value]) => [name, Array.isArray(value) ? [...value].sort() : value])
    .sort(([a], [b]) => (a! < b! ? -1 : 1))
  return createHash('sha256')
    .update(JSON.stringify([where, given]))
    .digest('base64url')
    .slice(0, 16)
}

function encodeCursor(cursor: Cursor, digest: string): string {
  return Buffer.from(`${cursor.chord}|${cursor.id}|${digest}`, 'utf8').toString('base64url')
}

function decodeCursor(cursor: string | undefined, digest: string): Cursor | undefined {
  if (cursor === undefined) return undefined
  const [chord, id, issuedFor, ...rest] = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  if (
    !chord ||
    !/^[0-9.eE+-]+$/.test(chord) ||
    !Number.isFinite(Number(chord)) ||
    !id ||
    !/^[0-9a-f-]{36}$/.test(id) ||
    !issuedFor ||
    rest.length > 0
  ) {
    throw invalid('invalid_cursor', 'cursor is not one we issued; pass back the cursor of the previous answer as given')
  }
  if (issuedFor !== digest) {
    throw invalid(
      'cursor_mismatch',
      'cursor belongs to another search: send the same area and filters as the request that returned it, or no cursor to start again',
    )
  }
  return { chord: Number(chord), id }
}

const EARTH_INDEX_RADIUS_M = 6_378_168

/** The point earthdistance's ll_to_earth() makes of these coordinates, on its sphere of radius earth(). */
function earthXyz(c: Coordinates): [number, number, number] {
  const latitude = (c.latitude * Math.PI) / 180
  const longitude = (c.longitude * Math.PI) / 180
  const r = EARTH_INDEX_RADIUS_M
  return [r * Math.cos(latitude) * Math.cos(longitude), r * Math.cos(latitude) * Math.sin(longitude), r * Math.sin(latitude)]
}

/**
 * That point as cube text. Computed here so that the prepared statement gets a constant: in a
 * generic plan, ll_to_earth() of parameters would run again for every row.
 */
export function earthPoint(c: Coordinates): string {
  return `(${earthXyz(c).join(', ')})`
}

/**
 * The cube around a point that holds every point within `radius` metres along the surface: what
 * earthdistance's earth_box() gives (the chord of that arc added on every axis), as cube text.
 * earth_box() is an SQL function that PostgreSQL would parse and plan again on every execution.
 */
export function earthBox(c: Coordinates, radius: number): string {
  const arc = radius / EARTH_INDEX_RADIUS_M
  const chord = arc > Math.PI ? 2 * EARTH_INDEX_RADIUS_M : 2 * EARTH_INDEX_RADIUS_M * Math.sin(arc / 2)
  const point = earthXyz(c)
  return `(${point.map((v) => v - chord).join(', ')}),(${point.map((v) => v + chord).join(', ')})`
}

/**
 * True when `matchLocation` could change or drop a stored document under these filters; false when
 * there are none, or only the Plug&Charge capability on documents already trimmed to it.
 */
function filtersLookInside(filters: LocationFilters, pncDocuments: boolean): boolean {
  const { capabilities, ...others } = filters
  if (Object.values(others).some((value) => value !== undefined)) return true
  return (
    capabilities !== undefined && !(pncDocuments && capabilities.length > 0 && capabilities.every((c) => c === PLUG_AND_CHARGE_CAPABLE))
  )
}

/**
 * How far the index search reaches for an area of this radius. The index works on its own sphere
 * (EARTH_INDEX_RADIUS_M), distances on the haversine one: the index search reaches a little
 * further, and the exact cut is made on the rows it finds.
 */
export function searchRadius(exactRadius: number): number {
  return exactRadius * 1.002 + 1
}

/** Where a search reads: the database, and this server's copies of search documents. */
export interface SearchSource {
  db: Db
  searchDocuments: SearchDocumentCache
}

/** Searches started again because a location changed between the search's two statements. */
const MAX_ATTEMPTS = 5

/** A location changed between the statement that found it and the one that read its document. */
class DocumentChanged extends Error {
  constructor() {
    super(`locations in the area changed during each of ${MAX_ATTEMPTS} attempts of the search; search again`)
  }
}

/**
 * Locations in an area, nearest first, each trimmed to the EVSEs and connectors that match every
 * filter. The spatial index walks outwards from the centre (nearest-neighbour order on the
 * earth cube), the Plug&Charge filter has its own partial index, and the exact filters run on
 * its search document in `matchLocation`, the same code for every caller.
 *
 * The walk returns which locations, at which document version; their documents come from this
 * server's cache, and only those it does not hold yet from the database, by version. A location
 * rewritten between the two statements starts the search again, so an answer is always what one
 * moment of the database holds.
 */
export async function geosearch(
  source: SearchSource,
  area: SearchArea,
  filters: LocationFilters,
  page: { limit: number; cursor?: string },
): Promise<{ hits: SearchHit[]; cursor?: string }> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await searchOnce(source, area, filters, page)
    } catch (error) {
      if (!(error instanceof DocumentChanged) || attempt === MAX_ATTEMPTS) throw error
    }
  }
}

async function searchOnce(
  { db, searchDocuments }: SearchSource,
  area: SearchArea,
  filters: LocationFilters,
  page: { limit: number; cursor?: string },
): Promise<{ hits: SearchHit[]; cursor?: string }> {
  const { center, radius: exactRadius } = circleOf(area)
  const radius = searchRadius(exactRadius)
  const onlyPnc = filters.capabilities?.includes(PLUG_AND_CHARGE_CAPABLE) ?? false
  // The Plug&Charge filter reads the document already trimmed to Plug&Charge connectors: smaller,
  // and, when no other filter looks inside, the answer as it is.
  const kind: DocumentKind = onlyPnc ? 'pnc' : 'full'
  const document = onlyPnc ? sql`search_document_pnc` : sql`search_document`
  const asStored = !filtersLookInside(filters, onlyPnc)
  const origin = earthPoint(center)
  const box = earthBox(center, radius)
  const chord = sql`(earth_point <-> ${origin}::cube)`
  // The distance comes from the chord; only a box needs the coordinates, to cut at its edges. The
  // version is int8: pg reads it as text, PGlite as a number; Number() takes both (far below 2^53).
  type Row = { id: string; version: string | number; chord: number } & Partial<Coordinates>
  const columns = sql`id, document_version AS version, ${chord} AS chord${area.kind === 'bbox' ? sql`, latitude, longitude` : sql``}`
  // The Plug&Charge filter has its own partial index; the box is what the index can cut.
  const inArea = sql`searchable ${onlyPnc ? sql`AND plug_and_charge` : sql``} AND ${box}::cube @> earth_point`
  // Ordered by distance alone, so PostgreSQL walks the GiST index nearest-first and stops at the
  // LIMIT; ties (the same point) are ordered by id here, fetching a cut tie group whole. ORDER BY
  // names the output column, so the distance is computed once per row.
  const nearest = (after: Cursor | undefined, limit: number) =>
    sql<Row>`
      SELECT ${columns}
        FROM locations
       WHERE ${inArea}
         ${after ? sql`AND (${chord} > ${after.chord}::float8 OR (${chord} = ${after.chord}::float8 AND id > ${after.id}::uuid))` : sql``}
       ORDER BY chord
       LIMIT ${limit}`.execute(db)
  const tieGroup = (value: number, after: Cursor | undefined) =>
    sql<Row>`
      SELECT ${columns}
        FROM locations
       WHERE ${inArea}
         AND ${chord} = ${value}::float8
         ${after && after.chord === value ? sql`AND id > ${after.id}::uuid` : sql``}
       ORDER BY id`.execute(db)

  /** The documents of these rows, from the cache or else read by version; null for a row not filled yet (0005). */
  const documentsOf = async (rows: Row[]): Promise<Array<Buffer | null>> => {
    const documents: Array<Buffer | null> = rows.map((row) => searchDocuments.get(kind, Number(row.version)) ?? null)
    const missing = rows.filter((_, i) => documents[i] === null)
    if (missing.length === 0) return documents
    const read = await sql<{ id: string; version: string | number; document: string | null }>`
      SELECT id, document_version AS version, ${document} AS document
        FROM locations
       WHERE id = ANY(${missing.map((row) => row.id)}::uuid[])`.execute(db)
    const byId = new Map(read.rows.map((row) => [row.id, row]))
    return rows.map((row, i) => {
      if (documents[i] !== null) return documents[i]!
      const found = byId.get(row.id)
      const version = Number(row.version)
      if (!found || Number(found.version) !== version) throw new DocumentChanged()
      return found.document === null ? null : searchDocuments.set(kind, version, found.document)
    })
  }

  const digest = searchDigest(area, filters)
  let after = decodeCursor(page.cursor, digest)
  const hits: SearchHit[] = []
  // Read as stored, only the area's exact edge drops a row, so the page needs no spare rows; a
  // filter may drop some, so more are fetched at once (any shortfall takes another round).
  const batch = asStored ? page.limit : page.limit + 10
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
    rows.sort((a, b) => a.chord - b.chord || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    // Nearest first: past the radius nothing further can be inside it.
    let inside = rows.length
    const distances = rows.map((row) => distanceFromChord(row.chord, EARTH_INDEX_RADIUS_M))
    if (area.kind === 'radius') {
      const beyond = distances.findIndex((distance) => distance > area.distance)
      if (beyond >= 0) inside = beyond
    }
    const candidates = rows
      .slice(0, inside)
      .map((row, i) => ({ row, distance: distances[i]! }))
      .filter(({ row }) => area.kind !== 'bbox' || insideBox(area, { latitude: row.latitude!, longitude: row.longitude! }))
    const documents = await documentsOf(candidates.map((c) => c.row))
    for (let i = 0; i < candidates.length; i++) {
      const { row, distance } = candidates[i]!
      const bytes = documents[i]
      if (!bytes) continue
      if (asStored) hits.push(new SearchHit(bytes, distance))
      else {
        const stored = JSON.parse(bytes.toString('latin1')) as SearchDocument
        const location = matchLocation(stored, filters)
        if (!location) continue
        hits.push(new SearchHit(location === stored ? bytes : Buffer.from(searchDocumentJson(location), 'latin1'), distance, location))
      }
      if (hits.length === page.limit) {
        return { hits, cursor: encodeCursor({ chord: row.chord, id: row.id }, digest) }
      }
    }
    if (inside < rows.length || !full) break
    const last = rows[rows.length - 1]!
    after = { chord: last.chord, id: last.id }
  }
  return { hits }
}
