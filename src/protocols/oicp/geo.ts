/**
 * Hubject's GeoCoordinates (schemas/GeoCoordinates.yaml), pure: exactly one of three formats,
 * read into WGS84 numbers.
 * - Google: `{ Coordinates: "47.662249 9.360922" }` (latitude then longitude, space and/or comma)
 * - DecimalDegree: `{ Latitude: "47.662249", Longitude: "9.360922" }`
 * - DegreeMinuteSeconds: `{ Latitude: "47°39'44.10''", Longitude: "9°21'39.32''" }`
 * Every error names the field and the rule. Input is tolerant (explicit nulls are absent, numbers
 * accepted where the spec says string, `"` for `''`); ranges are checked, since the spec's
 * patterns alone allow a latitude of 199.
 */

import { FieldRuleError } from '../../core/errors.ts'
import { isJsonObject } from '../../core/json.ts'

export interface Coordinates {
  latitude: number
  longitude: number
}

export class GeoCoordinatesError extends FieldRuleError {}

type Axis = 'Latitude' | 'Longitude'
const LIMIT: Record<Axis, number> = { Latitude: 90, Longitude: 180 }

const present = (v: unknown) => v !== undefined && v !== null

function inRange(value: number, axis: Axis, field: string): number {
  if (!Number.isFinite(value) || Math.abs(value) > LIMIT[axis]) {
    throw new GeoCoordinatesError(field, `a ${axis.toLowerCase()} between -${LIMIT[axis]} and ${LIMIT[axis]} degrees`)
  }
  return value
}

const DECIMAL = /^\s*(-?\d{1,3}(?:\.\d+)?)\s*$/

function decimal(raw: unknown, axis: Axis, field: string): number {
  if (typeof raw === 'number') return inRange(raw, axis, field)
  if (typeof raw !== 'string') throw new GeoCoordinatesError(field, 'is required, as decimal degrees (e.g. "9.360922")')
  const match = DECIMAL.exec(raw)
  if (!match) throw new GeoCoordinatesError(field, `decimal degrees (e.g. "9.360922"), got ${JSON.stringify(raw)}`)
  return inRange(Number(match[1]), axis, field)
}

// Degrees, minutes, seconds: `9°21'39.32''`; the seconds' mark may be `''` or `"`, spaces optional.
const DMS = /^\s*(-)?(\d{1,3})\s*°\s*(\d{1,2})\s*'\s*(\d{1,2}(?:\.\d+)?)\s*(?:''|")\s*$/

function degreesMinutesSeconds(raw: unknown, axis: Axis, field: string): number {
  if (typeof raw !== 'string') throw new GeoCoordinatesError(field, `is required, as degrees, minutes and seconds (e.g. "9°21'39.32''")`)
  const match = DMS.exec(raw)
  if (!match) throw new GeoCoordinatesError(field, `degrees, minutes and seconds (e.g. "9°21'39.32''"), got ${JSON.stringify(raw)}`)
  const minutes = Number(match[3])
  const seconds = Number(match[4])
  if (minutes >= 60) throw new GeoCoordinatesError(field, 'minutes below 60')
  if (seconds >= 60) throw new GeoCoordinatesError(field, 'seconds below 60')
  const magnitude = Number(match[2]) + minutes / 60 + seconds / 3600
  return inRange(match[1] ? -magnitude : magnitude, axis, field)
}

const GOOGLE = /^\s*(-?\d{1,3}(?:\.\d+)?)\s*(?:,\s*|\s+)(-?\d{1,3}(?:\.\d+)?)\s*$/

function google(raw: unknown, field: string): Coordinates {
  if (typeof raw !== 'string') throw new GeoCoordinatesError(field, 'is required, as "latitude longitude" (e.g. "47.662249 9.360922")')
  const match = GOOGLE.exec(raw)
  if (!match)
    throw new GeoCoordinatesError(field, `"latitude longitude" in decimal degrees (e.g. "47.662249 9.360922"), got ${JSON.stringify(raw)}`)
  return { latitude: inRange(Number(match[1]), 'Latitude', field), longitude: inRange(Number(match[2]), 'Longitude', field) }
}

function pair(format: Record<string, unknown>, base: string, read: (raw: unknown, axis: Axis, field: string) => number): Coordinates {
  return {
    latitude: read(format.Latitude, 'Latitude', `${base}.Latitude`),
    longitude: read(format.Longitude, 'Longitude', `${base}.Longitude`),
  }
}

/**
 * A GeoCoordinates object (`field` names it in errors, e.g. `EvseDataRecord.GeoCoordinates`) as
 * numbers. Throws GeoCoordinatesError when no format, more than one, or a malformed one is given.
 */
export function parseGeoCoordinates(geo: unknown, field = 'GeoCoordinates'): Coordinates {
  if (!isJsonObject(geo)) throw new GeoCoordinatesError(field, 'is required and must be an object')
  const given = (['Google', 'DecimalDegree', 'DegreeMinuteSeconds'] as const).filter((format) => present(geo[format]))
  if (given.length !== 1) {
    throw new GeoCoordinatesError(
      field,
      given.length === 0
        ? 'must carry one of Google, DecimalDegree or DegreeMinuteSeconds'
        : `must carry exactly one format, got ${given.join(' and ')}`,
    )
  }
  const format = given[0]!
  const value = geo[format]
  const base = `${field}.${format}`
  if (!isJsonObject(value)) throw new GeoCoordinatesError(base, 'must be an object')
  switch (format) {
    case 'Google':
      return google(value.Coordinates, `${base}.Coordinates`)
    case 'DecimalDegree':
      return pair(value, base, decimal)
    case 'DegreeMinuteSeconds':
      return pair(value, base, degreesMinutesSeconds)
  }
}
