import { isRealInstant } from '../../core/date-time.ts'
import { invalid } from '../../core/errors.ts'
import { EVSE_STATUSES, POWER_TYPES } from '../../core/locations/location.ts'
import { parseCoordinates, type OcpiConnector, type OcpiEvse, type OcpiLocation } from './locations-mapping.ts'
import { isJsonObject } from '../../core/json.ts'

// What we must be able to read from a CPO's OCPI objects to map them (locations-mapping.ts);
// everything else is kept as sent.
const fail = (field: string, rule: string): never => {
  throw invalid('invalid_location', `${field} ${rule}`, { field })
}

function string(o: Record<string, unknown>, key: string, at: string, max: number, optional = false) {
  const v = o[key]
  if (v === undefined && optional) return
  if (typeof v !== 'string' || v.length === 0 || v.length > max) fail(`${at}${key}`, `must be a string of 1-${max} characters`)
}

function dateTime(o: Record<string, unknown>, key: string, at: string, optional = false) {
  const v = o[key]
  if (v === undefined && optional) return
  // A real instant: a leap second or year 0000 parses loosely but no database stores it.
  if (typeof v !== 'string' || !isRealInstant(v, { offsetRequired: false })) fail(`${at}${key}`, 'must be an RFC 3339 date-time')
}

/** A Connector as PUT (all fields) or PATCH (`partial`: only the given ones are checked). */
export function validateConnector(input: unknown, at = '', partial = false): OcpiConnector {
  if (!isJsonObject(input)) fail(at || 'connector', 'must be an object')
  const o = input as Record<string, unknown>
  string(o, 'id', at, 36, partial)
  string(o, 'standard', at, 64, partial)
  if ((!partial || o.format !== undefined) && o.format !== 'SOCKET' && o.format !== 'CABLE') fail(`${at}format`, 'must be SOCKET or CABLE')
  if ((!partial || o.power_type !== undefined) && !(POWER_TYPES as readonly unknown[]).includes(o.power_type)) {
    fail(`${at}power_type`, `must be one of ${POWER_TYPES.join(', ')}`)
  }
  for (const key of ['max_voltage', 'max_amperage']) {
    if ((!partial || o[key] !== undefined) && (typeof o[key] !== 'number' || (o[key] as number) < 0))
      fail(`${at}${key}`, 'must be a non-negative number')
  }
  if (
    o.max_electric_power !== undefined &&
    o.max_electric_power !== null &&
    (typeof o.max_electric_power !== 'number' || o.max_electric_power < 0)
  ) {
    fail(`${at}max_electric_power`, 'must be a non-negative number')
  }
  if (o.capabilities !== undefined && (!Array.isArray(o.capabilities) || o.capabilities.some((c) => typeof c !== 'string'))) {
    fail(`${at}capabilities`, 'must be a list of strings')
  }
  dateTime(o, 'last_updated', at, false)
  return o as unknown as OcpiConnector
}

export function validateEvse(input: unknown, at = '', partial = false): OcpiEvse {
  if (!isJsonObject(input)) fail(at || 'evse', 'must be an object')
  const o = input as Record<string, unknown>
  string(o, 'uid', at, 36, partial)
  if ((!partial || o.status !== undefined) && !(EVSE_STATUSES as readonly unknown[]).includes(o.status)) {
    fail(`${at}status`, `must be one of ${EVSE_STATUSES.join(', ')}`)
  }
  if (o.capabilities !== undefined && (!Array.isArray(o.capabilities) || o.capabilities.some((c) => typeof c !== 'string'))) {
    fail(`${at}capabilities`, 'must be a list of strings')
  }
  if (!partial || o.connectors !== undefined) {
    if (!Array.isArray(o.connectors) || o.connectors.length === 0) fail(`${at}connectors`, 'must be a non-empty list')
    ;(o.connectors as unknown[]).forEach((c, i) => validateConnector(c, `${at}connectors[${i}].`))
  }
  if (o.coordinates !== undefined && o.coordinates !== null) parseCoordinates(o.coordinates, `${at}coordinates`)
  dateTime(o, 'last_updated', at, false)
  return o as unknown as OcpiEvse
}

const HOUR_MINUTE = /^([0-1][0-9]|2[0-3]):[0-5][0-9]$/

/** Hours (OCPI Hours): search answers with them, so they must be what the spec says. */
function validateHours(input: unknown, at: string) {
  if (!isJsonObject(input)) fail(at, 'must be an object')
  const o = input as Record<string, unknown>
  if (typeof o.twentyfourseven !== 'boolean') fail(`${at}.twentyfourseven`, 'must be true or false')
  if (o.regular_hours === undefined || o.regular_hours === null) return
  if (!Array.isArray(o.regular_hours)) fail(`${at}.regular_hours`, 'must be a list')
  ;(o.regular_hours as unknown[]).forEach((hours, i) => {
    const field = `${at}.regular_hours[${i}]`
    if (!isJsonObject(hours)) fail(field, 'must be an object')
    const h = hours as Record<string, unknown>
    if (!Number.isInteger(h.weekday) || (h.weekday as number) < 1 || (h.weekday as number) > 7) {
      fail(`${field}.weekday`, 'must be a whole number from 1 (Monday) to 7 (Sunday)')
    }
    for (const key of ['period_begin', 'period_end']) {
      if (typeof h[key] !== 'string' || !HOUR_MINUTE.test(h[key] as string)) fail(`${field}.${key}`, 'must be a time of day as HH:MM')
    }
  })
}

export function validateLocation(input: unknown, partial = false): OcpiLocation {
  if (!isJsonObject(input)) fail('location', 'must be an object')
  const o = input as Record<string, unknown>
  string(o, 'country_code', '', 2, partial)
  string(o, 'party_id', '', 3, partial)
  string(o, 'id', '', 36, partial)
  if ((!partial || o.publish !== undefined) && typeof o.publish !== 'boolean') fail('publish', 'must be true or false')
  string(o, 'address', '', 45, partial)
  string(o, 'city', '', 45, partial)
  string(o, 'country', '', 3, partial)
  if (!partial || o.coordinates !== undefined) parseCoordinates(o.coordinates, 'coordinates')
  if (o.opening_times !== undefined && o.opening_times !== null) validateHours(o.opening_times, 'opening_times')
  if (o.evses !== undefined) {
    if (!Array.isArray(o.evses)) fail('evses', 'must be a list')
    ;(o.evses as unknown[]).forEach((e, i) => validateEvse(e, `evses[${i}].`))
  }
  dateTime(o, 'last_updated', '', false)
  return o as unknown as OcpiLocation
}
