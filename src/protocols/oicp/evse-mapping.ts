/**
 * Hubject's EVSE data (OICP 2.3 PullEvseDataRecord, EvseStatus) read into the neutral location
 * model. Pure: no I/O.
 *
 * OICP sends one record per EVSE, each carrying its station's address, coordinates and operator;
 * the model (and geosearch) wants places. EVSEs are grouped per operator and charging pool
 * (`ChargingPoolID`), or per charging station where no pool is named, or stand alone: that group
 * is one location, its ID the pool's, station's or EVSE's ID.
 *
 * Reading is tolerant of what real Hubject traffic carries (explicit nulls, extra fields,
 * `ChargingStationId` and `ChargingStationID`, numbers for strings) and strict about what the model
 * needs; every error names the field and the rule.
 */
import {
  PLUG_AND_CHARGE_CAPABLE,
  normalizeOperatorId,
  type Connector,
  type Evse,
  type EvseStatus,
  type Location,
  type PowerType,
  type RegularHours,
} from '../../core/locations/location.ts'
import { FieldRuleError } from '../../core/errors.ts'
import { GeoCoordinatesError, parseGeoCoordinates, type Coordinates } from './geo.ts'
import { isJsonObject } from '../../core/json.ts'

export class EvseDataError extends FieldRuleError {}

type Json = Record<string, unknown>

/** The record without explicit nulls, at any depth (Hubject sends `"Floor": null` and the like). */
export function withoutNulls<T>(value: T): T {
  if (Array.isArray(value)) return value.filter((v) => v !== null).map(withoutNulls) as T
  if (!isJsonObject(value)) return value
  const out: Json = {}
  for (const [k, v] of Object.entries(value)) if (v !== null && v !== undefined) out[k] = withoutNulls(v)
  return out as T
}

/** A field under either spelling Hubject uses (e.g. ChargingStationId and ChargingStationID). */
const either = (record: Json, ...names: string[]) => names.map((n) => record[n]).find((v) => v !== undefined)

function text(record: Json, field: string, names: string[], options: { required: boolean; max?: number }): string | null {
  const raw = either(record, ...names)
  if (raw === undefined || raw === '') {
    if (options.required) throw new EvseDataError(field, 'is required')
    return null
  }
  const value = typeof raw === 'number' ? String(raw) : raw
  if (typeof value !== 'string') throw new EvseDataError(field, 'must be a string')
  if (options.max !== undefined && value.length > options.max) throw new EvseDataError(field, `at most ${options.max} characters`)
  return value
}

// schemas/EvseID.yaml: an operator's EVSE ID in ISO (DE*ABC*E123) or DIN (+49*810*000*438) form.
const EVSE_ID = /^(([A-Za-z]{2}\*?[A-Za-z0-9]{3}\*?E[A-Za-z0-9*]{1,30})|(\+?[0-9]{1,3}\*[0-9]{3}\*[0-9*]{1,32}))$/
// schemas/OperatorID.yaml, ISO and DIN forms.
const OPERATOR_ID = /^(([A-Za-z]{2}\*?[A-Za-z0-9]{3})|(\+?[0-9]{1,3}\*[0-9]{3}))$/
const ALPHA3 = /^[A-Z]{3}$/

/** How EvseIDs are compared: case-insensitive, ISO's optional `*` separators ignored. */
export function evseKey(evseId: string): string {
  return evseId.toUpperCase().replace(/\*/g, '')
}

/** The authentication modes, EVSE status and plug names of OICP 2.3, as the spec spells them. */
export const AUTHENTICATION_PNC = 'PnC'
export const OICP_EVSE_STATUSES = ['Available', 'Reserved', 'Occupied', 'OutOfService', 'EvseNotFound', 'Unknown'] as const
export type OicpEvseStatus = (typeof OICP_EVSE_STATUSES)[number]

/**
 * One EVSE as Hubject sent it, read: what grouping and search need, and the record itself (nulls
 * removed) kept for the location's stored data.
 */
export interface EvseData {
  evseId: string
  operatorId: string
  operatorName: string | null
  /** the ID of the location it belongs to: its pool's, else its station's, else its own */
  locationId: string
  coordinates: Coordinates
  deltaType: 'insert' | 'update' | 'delete' | null
  record: Json
}

/**
 * Reads one PullEvseDataRecord (OICP 2.3). A `delete` in a delta needs only the EvseID (Hubject
 * may send the full record or just the ID); everything else must carry what the model needs.
 * `operator` is the operator a v2.2-style OperatorEvseData block gives, when the record has none.
 */
export function readEvseData(raw: unknown, operator?: { id: string; name?: string | null }): EvseData {
  if (!isJsonObject(raw)) throw new EvseDataError('EvseDataRecord', 'must be an object')
  const record = withoutNulls(raw)
  const evseId = text(record, 'EvseID', ['EvseID', 'EvseId'], { required: true })!
  if (!EVSE_ID.test(evseId))
    throw new EvseDataError('EvseID', `an EvseID like "DE*ABC*E123456" (schemas/EvseID.yaml), got ${JSON.stringify(evseId)}`)
  const deltaRaw = record.deltaType
  if (deltaRaw !== undefined && deltaRaw !== 'insert' && deltaRaw !== 'update' && deltaRaw !== 'delete')
    throw new EvseDataError('deltaType', `one of insert, update, delete, got ${JSON.stringify(deltaRaw)}`)
  const deltaType = (deltaRaw as EvseData['deltaType']) ?? null
  const operatorId =
    text(record, 'OperatorID', ['OperatorID', 'OperatorId'], { required: false }) ?? operator?.id ?? operatorOfEvseId(evseId)
  if (!operatorId || !OPERATOR_ID.test(operatorId))
    throw new EvseDataError('OperatorID', `an operator ID like "DE*ABC" (schemas/OperatorID.yaml), got ${JSON.stringify(operatorId)}`)
  // Locations are kept per country and party, as OCPI's are: the legacy DIN form has neither.
  if (!normalizeOperatorId(operatorId))
    throw new EvseDataError('OperatorID', `an operator ID in ISO form ("DE*ABC"); the DIN form ${JSON.stringify(operatorId)} is not kept`)
  const operatorName = text(record, 'OperatorName', ['OperatorName'], { required: false }) ?? operator?.name ?? null
  const pool = text(record, 'ChargingPoolID', ['ChargingPoolID', 'ChargingPoolId'], { required: false, max: 60 })
  const station = text(record, 'ChargingStationId', ['ChargingStationId', 'ChargingStationID'], { required: false, max: 50 })
  const locationId = pool ?? station ?? evseId
  if (deltaType === 'delete') {
    return { evseId, operatorId, operatorName, locationId, coordinates: { latitude: 0, longitude: 0 }, deltaType, record }
  }
  let coordinates: Coordinates
  try {
    coordinates = parseGeoCoordinates(record.GeoCoordinates, 'GeoCoordinates')
  } catch (error) {
    if (error instanceof GeoCoordinatesError) throw new EvseDataError(error.field, error.rule)
    throw error
  }
  readAddress(record.Address)
  requireArray(record, 'Plugs')
  requireArray(record, 'ChargingFacilities')
  requireArray(record, 'AuthenticationModes')
  return { evseId, operatorId, operatorName, locationId, coordinates, deltaType, record }
}

function requireArray(record: Json, field: string) {
  if (!Array.isArray(record[field])) throw new EvseDataError(field, 'is required and must be an array')
}

/** The operator an ISO EvseID names (`DE*ABC*E1` -> `DE*ABC`), or null for a DIN one. */
function operatorOfEvseId(evseId: string): string | null {
  const match = /^([A-Za-z]{2})\*?([A-Za-z0-9]{3})\*?E/.exec(evseId)
  return match ? `${match[1]}*${match[2]}` : null
}

function readAddress(raw: unknown): Location['address'] {
  if (!isJsonObject(raw)) throw new EvseDataError('Address', 'is required and must be an object')
  const country = text(raw, 'Address.Country', ['Country'], { required: true })!.toUpperCase()
  if (!ALPHA3.test(country))
    throw new EvseDataError('Address.Country', `an ISO 3166-1 alpha-3 country code (OICP 2.3), e.g. "DEU", got ${JSON.stringify(country)}`)
  const city = text(raw, 'Address.City', ['City'], { required: true })!
  const street = text(raw, 'Address.Street', ['Street'], { required: true })!
  const house = text(raw, 'Address.HouseNum', ['HouseNum'], { required: false })
  const postalCode = text(raw, 'Address.PostalCode', ['PostalCode'], { required: false })
  return { street: house ? `${street} ${house}` : street, city, postalCode, country }
}

// ---- statuses ----

const STATUS: Record<OicpEvseStatus, EvseStatus> = {
  Available: 'AVAILABLE',
  Reserved: 'RESERVED',
  Occupied: 'CHARGING',
  OutOfService: 'OUTOFORDER',
  // Hubject no longer knows the EVSE: nothing a driver can use, but its data still says it exists.
  EvseNotFound: 'UNKNOWN',
  Unknown: 'UNKNOWN',
}

/** Hubject's EvseStatus as the model's; unknown values are UNKNOWN. */
export function evseStatusOf(status: string | null | undefined): EvseStatus {
  return (status && STATUS[status as OicpEvseStatus]) || 'UNKNOWN'
}

export interface EvseStatusUpdate {
  evseId: string
  status: OicpEvseStatus
}

/**
 * The EVSE statuses of an eRoamingEVSEStatus answer, per EVSE; records that are not an EvseID
 * with a known status are counted as invalid and left out.
 */
export function readEvseStatuses(body: unknown): { statuses: EvseStatusUpdate[]; invalid: number } {
  const root = isJsonObject(body) ? withoutNulls(body) : {}
  const container = either(root, 'EvseStatuses', 'EVSEStatuses')
  const operators = isJsonObject(container) ? container.OperatorEvseStatus : undefined
  if (!Array.isArray(operators)) throw new EvseDataError('EvseStatuses.OperatorEvseStatus', 'is required and must be an array')
  const statuses: EvseStatusUpdate[] = []
  let invalid = 0
  for (const operator of operators) {
    const records = isJsonObject(operator) ? operator.EvseStatusRecord : undefined
    if (!Array.isArray(records)) {
      invalid++
      continue
    }
    for (const record of records) {
      const evseId = isJsonObject(record) ? either(record, 'EvseID', 'EvseId') : undefined
      const status = isJsonObject(record) ? record.EvseStatus : undefined
      if (typeof evseId === 'string' && EVSE_ID.test(evseId) && OICP_EVSE_STATUSES.includes(status as OicpEvseStatus)) {
        statuses.push({ evseId, status: status as OicpEvseStatus })
      } else invalid++
    }
  }
  return { statuses, invalid }
}

// ---- one location from its EVSEs ----

/** What the locations store keeps for an OICP location: its EVSEs' records as Hubject sent them. */
export interface OicpLocationRecord {
  operatorId: string
  operatorName: string | null
  locationId: string
  evses: Array<{ record: Json; status: string | null }>
}

const PLUGS: Record<string, { standard: string; format: Connector['format']; dc?: true }> = {
  'Type 2 Outlet': { standard: 'IEC_62196_T2', format: 'SOCKET' },
  'Type 2 Connector (Cable Attached)': { standard: 'IEC_62196_T2', format: 'CABLE' },
  'CCS Combo 2 Plug (Cable Attached)': { standard: 'IEC_62196_T2_COMBO', format: 'CABLE', dc: true },
  'CCS Combo 1 Plug (Cable Attached)': { standard: 'IEC_62196_T1_COMBO', format: 'CABLE', dc: true },
  CHAdeMO: { standard: 'CHADEMO', format: 'CABLE', dc: true },
  'Type 1 Connector (Cable Attached)': { standard: 'IEC_62196_T1', format: 'CABLE' },
  'Type 3 Outlet': { standard: 'IEC_62196_T3C', format: 'SOCKET' },
  'Type E French Standard': { standard: 'DOMESTIC_E', format: 'SOCKET' },
  'Type F Schuko': { standard: 'DOMESTIC_F', format: 'SOCKET' },
  'Type G British Standard': { standard: 'DOMESTIC_G', format: 'SOCKET' },
  'Type J Swiss Standard': { standard: 'DOMESTIC_J', format: 'SOCKET' },
  'IEC 60309 Single Phase': { standard: 'IEC_60309_2_single_16', format: 'SOCKET' },
  'IEC 60309 Three Phase': { standard: 'IEC_60309_2_three_16', format: 'SOCKET' },
  'Tesla Connector': { standard: 'TESLA_S', format: 'CABLE' },
  'NEMA 5-20': { standard: 'NEMA_5_20', format: 'SOCKET' },
}

const AUTH_CAPABILITIES: Record<string, string> = {
  [AUTHENTICATION_PNC]: PLUG_AND_CHARGE_CAPABLE,
  'NFC RFID Classic': 'RFID_READER',
  'NFC RFID DESFire': 'RFID_READER',
  REMOTE: 'REMOTE_START_STOP_CAPABLE',
}

interface Facility {
  powerType: PowerType
  /** watts */
  power: number
  voltage: number | null
  amperage: number | null
}

function facilitiesOf(record: Json): Facility[] {
  const list = Array.isArray(record.ChargingFacilities) ? record.ChargingFacilities : []
  return list.filter(isJsonObject).flatMap((f) => {
    const powerType = f.PowerType
    if (powerType !== 'AC_1_PHASE' && powerType !== 'AC_3_PHASE' && powerType !== 'DC') return []
    const kw = Number(f.Power)
    const number = (v: unknown) => (v === undefined || !Number.isFinite(Number(v)) ? null : Number(v))
    return [
      {
        powerType,
        power: Number.isFinite(kw) && kw > 0 ? Math.round(kw * 1000) : 0,
        voltage: number(f.Voltage),
        amperage: number(f.Amperage),
      },
    ]
  })
}

/**
 * The connectors of an EVSE: one per plug. OICP does not say which facility feeds which plug, so
 * a DC plug (CCS, CHAdeMO) takes the strongest DC facility and any other the strongest AC one,
 * either falling back to the strongest there is.
 */
function connectorsOf(record: Json, pnc: boolean): Connector[] {
  const plugs = Array.isArray(record.Plugs) ? record.Plugs.filter((p): p is string => typeof p === 'string') : []
  const facilities = facilitiesOf(record).sort((a, b) => b.power - a.power)
  return plugs.map((plug, i) => {
    const known = PLUGS[plug]
    const dc = known?.dc === true
    const facility = facilities.find((f) => (f.powerType === 'DC') === dc) ??
      facilities[0] ?? { powerType: dc ? 'DC' : 'AC_3_PHASE', power: 0, voltage: null, amperage: null }
    return {
      id: String(i + 1),
      standard: known?.standard ?? plug,
      format: known?.format ?? 'SOCKET',
      powerType: facility.powerType,
      maxPower: facility.power,
      maxVoltage: facility.voltage,
      maxAmperage: facility.amperage,
      // Plug&Charge is an authentication mode of the whole EVSE in OICP; ISO 15118 is spoken over CCS and Type 2.
      capabilities: pnc && (dc || known?.standard === 'IEC_62196_T2') ? ['ISO_15118_2_PLUG_AND_CHARGE'] : [],
    }
  })
}

function evseOf(record: Json, status: string | null): Evse {
  const modes = Array.isArray(record.AuthenticationModes) ? record.AuthenticationModes : []
  const capabilities = new Set<string>()
  for (const mode of modes) if (typeof mode === 'string' && AUTH_CAPABILITIES[mode]) capabilities.add(AUTH_CAPABILITIES[mode])
  const services = Array.isArray(record.ValueAddedServices) ? record.ValueAddedServices : []
  if (services.includes('Reservation')) capabilities.add('RESERVABLE')
  const evseId = String(either(record, 'EvseID', 'EvseId'))
  return {
    uid: evseId,
    evseId,
    status: evseStatusOf(status),
    capabilities: [...capabilities],
    connectors: connectorsOf(record, modes.includes(AUTHENTICATION_PNC)),
  }
}

const WEEKDAYS: Record<string, number[]> = {
  Everyday: [1, 2, 3, 4, 5, 6, 7],
  Workdays: [1, 2, 3, 4, 5],
  Weekend: [6, 7],
  Monday: [1],
  Tuesday: [2],
  Wednesday: [3],
  Thursday: [4],
  Friday: [5],
  Saturday: [6],
  Sunday: [7],
}

function openingHoursOf(record: Json): Location['openingHours'] {
  if (record.IsOpen24Hours === true) return { twentyfourseven: true, regularHours: [] }
  const regularHours: RegularHours[] = []
  for (const times of Array.isArray(record.OpeningTimes) ? record.OpeningTimes : []) {
    if (!isJsonObject(times) || !Array.isArray(times.Period)) continue
    for (const weekday of WEEKDAYS[String(times.on)] ?? []) {
      for (const period of times.Period) {
        if (isJsonObject(period) && typeof period.begin === 'string' && typeof period.end === 'string')
          regularHours.push({ weekday, periodBegin: period.begin, periodEnd: period.end })
      }
    }
  }
  return { twentyfourseven: false, regularHours: regularHours.sort((a, b) => a.weekday - b.weekday) }
}

/** The first name in `lang` if there is one, else the first. */
function nameOf(record: Json, lang = 'en'): string | null {
  const names = (Array.isArray(record.ChargingStationNames) ? record.ChargingStationNames : []).filter(isJsonObject)
  const chosen = names.find((n) => n.lang === lang) ?? names[0]
  return typeof chosen?.value === 'string' && chosen.value !== '' ? chosen.value : null
}

/**
 * A location from the EVSEs grouped under it (at least one). The address, coordinates, name and
 * hours are its first EVSE's (by EvseID, so the choice is stable); `lastUpdated` is the newest
 * `lastUpdate` Hubject gave, else `fallbackUpdated`.
 */
export function locationFromOicp(stored: OicpLocationRecord, fallbackUpdated: string = new Date(0).toISOString()): Location {
  if (stored.evses.length === 0) throw new EvseDataError('evses', 'a location has at least one EVSE')
  const evses = [...stored.evses].sort((a, b) => evseKey(String(a.record.EvseID)).localeCompare(evseKey(String(b.record.EvseID))))
  const first = evses[0]!.record
  const updates = evses.map((e) => Date.parse(String(e.record.lastUpdate))).filter(Number.isFinite)
  const operator = normalizeOperatorId(stored.operatorId) ?? stored.operatorId
  return {
    source: { protocol: 'oicp', operatorId: operator },
    id: stored.locationId,
    name: nameOf(first),
    address: readAddress(first.Address),
    coordinates: parseGeoCoordinates(first.GeoCoordinates, 'GeoCoordinates'),
    timeZone: null,
    openingHours: openingHoursOf(first),
    operator: { id: operator, name: stored.operatorName },
    published: true,
    evses: evses.map((e) => evseOf(e.record, e.status)),
    lastUpdated: updates.length > 0 ? new Date(Math.max(...updates)).toISOString() : fallbackUpdated,
  }
}

/** Reads a stored OICP location back into the model (fillSearchDocuments). */
export const oicpRecordReader = (record: unknown) => locationFromOicp(record as OicpLocationRecord)
