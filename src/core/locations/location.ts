import { invalid } from '../errors.ts'

/**
 * Charging locations as CPOs send them over OCPI 2.2.1 and 2.3.0 (module `locations`), and the pure
 * rules we derive from them. The object is kept exactly as received (unknown fields included, the
 * index signatures say so); everything we conclude from it, above all "is this Plug&Charge?", is
 * computed here and nowhere else.
 */

// ---- OCPI enums (locations/schema.yaml of both versions) ----

/** EVSE Status: a closed enum in both versions. */
export const EVSE_STATUSES = [
  'AVAILABLE',
  'BLOCKED',
  'CHARGING',
  'INOPERATIVE',
  'OUTOFORDER',
  'PLANNED',
  'REMOVED',
  'RESERVED',
  'UNKNOWN',
] as const
export type EvseStatus = (typeof EVSE_STATUSES)[number]

/** PowerType: a closed enum in both versions. */
export const POWER_TYPES = ['AC_1_PHASE', 'AC_2_PHASE', 'AC_2_PHASE_SPLIT', 'AC_3_PHASE', 'DC'] as const
export type PowerType = (typeof POWER_TYPES)[number]
export type PowerKind = 'AC' | 'DC'

/** EVSE Capability: an open enum (same known values in 2.2.1 and 2.3.0); partners may send others. */
export const EVSE_CAPABILITIES = [
  'CHARGING_PROFILE_CAPABLE',
  'CHARGING_PREFERENCES_CAPABLE',
  'CHIP_CARD_SUPPORT',
  'CONTACTLESS_CARD_SUPPORT',
  'CREDIT_CARD_PAYABLE',
  'DEBIT_CARD_PAYABLE',
  'PED_TERMINAL',
  'REMOTE_START_STOP_CAPABLE',
  'RESERVABLE',
  'RFID_READER',
  'START_SESSION_CONNECTOR_REQUIRED',
  'TOKEN_GROUP_CAPABLE',
  'UNLOCK_CAPABLE',
] as const

/** ConnectorCapability (new in 2.3.0, open enum): the standard Plug&Charge signal. */
export const CONNECTOR_CAPABILITIES = ['ISO_15118_2_PLUG_AND_CHARGE', 'ISO_15118_20_PLUG_AND_CHARGE'] as const

/**
 * Ours, not OCPI: derived by `isPlugAndChargeCapable`, and accepted in EVSE capabilities from 2.2.1
 * partners, since 2.2.1 has no standard way to say it.
 */
export const PLUG_AND_CHARGE_CAPABLE = 'PLUG_AND_CHARGE_CAPABLE'

/** ConnectorType: an open enum; 2.3.0 adds MCS and SAE_J3400 to the 2.2.1 list. */
export const CONNECTOR_TYPES = [
  'CHADEMO',
  'CHAOJI',
  'DOMESTIC_A',
  'DOMESTIC_B',
  'DOMESTIC_C',
  'DOMESTIC_D',
  'DOMESTIC_E',
  'DOMESTIC_F',
  'DOMESTIC_G',
  'DOMESTIC_H',
  'DOMESTIC_I',
  'DOMESTIC_J',
  'DOMESTIC_K',
  'DOMESTIC_L',
  'DOMESTIC_M',
  'DOMESTIC_N',
  'DOMESTIC_O',
  'GBT_AC',
  'GBT_DC',
  'IEC_60309_2_single_16',
  'IEC_60309_2_three_16',
  'IEC_60309_2_three_32',
  'IEC_60309_2_three_64',
  'IEC_62196_T1',
  'IEC_62196_T1_COMBO',
  'IEC_62196_T2',
  'IEC_62196_T2_COMBO',
  'IEC_62196_T3A',
  'IEC_62196_T3C',
  'NEMA_5_20',
  'NEMA_6_30',
  'NEMA_6_50',
  'NEMA_10_30',
  'NEMA_10_50',
  'NEMA_14_30',
  'NEMA_14_50',
  'PANTOGRAPH_BOTTOM_UP',
  'PANTOGRAPH_TOP_DOWN',
  'MCS',
  'SAE_J3400',
  'TESLA_R',
  'TESLA_S',
] as const

// ---- The OCPI objects, as far as we read them ----

/** OCPI GeoLocation: WGS 84 decimal degrees as strings, e.g. `{latitude: "52.520008", longitude: "13.404954"}`. */
export interface OcpiGeoLocation {
  latitude: string
  longitude: string
  [field: string]: unknown
}

export interface OcpiBusinessDetails {
  name: string
  website?: string
  [field: string]: unknown
}

export interface OcpiRegularHours {
  weekday: number
  period_begin: string
  period_end: string
}

export interface OcpiHours {
  twentyfourseven: boolean
  regular_hours?: OcpiRegularHours[]
  [field: string]: unknown
}

export interface OcpiConnector {
  id: string
  /** ConnectorType (open enum) */
  standard: string
  format: 'SOCKET' | 'CABLE'
  power_type: PowerType
  /** volts; line to neutral for AC_3_PHASE */
  max_voltage: number
  max_amperage: number
  /** watts; set by the CPO when lower than voltage and amperage suggest */
  max_electric_power?: number
  /** ConnectorCapability (2.3.0, open enum) */
  capabilities?: string[]
  last_updated: string
  [field: string]: unknown
}

export interface OcpiEvse {
  uid: string
  evse_id?: string
  status: EvseStatus
  /** Capability (open enum) */
  capabilities?: string[]
  connectors: OcpiConnector[]
  coordinates?: OcpiGeoLocation
  last_updated: string
  [field: string]: unknown
}

export interface OcpiLocation {
  country_code: string
  party_id: string
  id: string
  publish: boolean
  name?: string
  address: string
  city: string
  postal_code?: string
  /** ISO 3166-1 alpha-3 */
  country: string
  coordinates: OcpiGeoLocation
  /** optional in OCPI: a location may be sent before its EVSEs */
  evses?: OcpiEvse[]
  operator?: OcpiBusinessDetails
  time_zone: string
  opening_times?: OcpiHours
  last_updated: string
  [field: string]: unknown
}

// ---- Coordinates ----

export interface Coordinates {
  latitude: number
  longitude: number
}

// The GeoLocation patterns of the spec, anchored: the YAML's are not, and JSON Schema patterns
// search, so "152.1234567" would pass there as "52.1234567".
const LATITUDE_PATTERN = /^-?[0-9]{1,2}\.[0-9]{5,7}$/
const LONGITUDE_PATTERN = /^-?[0-9]{1,3}\.[0-9]{5,7}$/

/**
 * OCPI coordinates (strings) to numbers. Follows the spec's GeoLocation rule (decimal point, 5-7
 * decimals) and the WGS 84 ranges; `field` names the object in the error, e.g. `evses[0].coordinates`.
 */
export function parseCoordinates(geo: unknown, field = 'coordinates'): Coordinates {
  if (typeof geo !== 'object' || geo === null || Array.isArray(geo)) {
    throw invalid('invalid_coordinates', `${field} must be an object with latitude and longitude`, { field })
  }
  const { latitude, longitude } = geo as Record<string, unknown>
  return {
    latitude: parseDegrees(latitude, `${field}.latitude`, LATITUDE_PATTERN, 90, '50.770774'),
    longitude: parseDegrees(longitude, `${field}.longitude`, LONGITUDE_PATTERN, 180, '-126.104965'),
  }
}

function parseDegrees(value: unknown, field: string, pattern: RegExp, limit: number, example: string): number {
  if (typeof value !== 'string' || !pattern.test(value)) {
    throw invalid(
      'invalid_coordinates',
      `${field} must be a string of decimal degrees with 5 to 7 decimals (e.g. "${example}"), got ${JSON.stringify(value)}`,
      { field },
    )
  }
  const degrees = Number(value)
  if (degrees < -limit || degrees > limit) {
    throw invalid('invalid_coordinates', `${field} must be between -${limit} and ${limit}, got ${value}`, { field })
  }
  return degrees
}

const EARTH_RADIUS_M = 6_371_008.8

/** Great-circle (haversine) distance in metres; plenty for "chargers within 10 km". */
export function distanceMeters(a: Coordinates, b: Coordinates): number {
  const rad = Math.PI / 180
  const dLat = (b.latitude - a.latitude) * rad
  const dLon = (b.longitude - a.longitude) * rad
  const h = Math.sin(dLat / 2) ** 2 + Math.cos(a.latitude * rad) * Math.cos(b.latitude * rad) * Math.sin(dLon / 2) ** 2
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, Math.sqrt(h)))
}

/**
 * The same distance from the straight line between the two points through a sphere of radius
 * `sphereRadius` (what a spatial index measures): the same central angle, so the same metres.
 */
export function distanceFromChord(chord: number, sphereRadius: number): number {
  return 2 * EARTH_RADIUS_M * Math.asin(Math.min(1, chord / (2 * sphereRadius)))
}

// ---- Plug&Charge: the one place for the rule ----

const CONNECTOR_PNC_VALUES: ReadonlySet<string> = new Set(CONNECTOR_CAPABILITIES)
// 2.2.1 has no signal, so partners put either the 2.3.0 values or our own marker on the EVSE.
const EVSE_PNC_VALUES: ReadonlySet<string> = new Set([...CONNECTOR_CAPABILITIES, PLUG_AND_CHARGE_CAPABLE])

const evseSaysPnc = (evse: OcpiEvse) => (evse.capabilities ?? []).some((c) => EVSE_PNC_VALUES.has(c))
const connectorSaysPnc = (connector: OcpiConnector) => (connector.capabilities ?? []).some((c) => CONNECTOR_PNC_VALUES.has(c))

/**
 * Plug&Charge capable: a connector carries ISO_15118_2_PLUG_AND_CHARGE or ISO_15118_20_PLUG_AND_CHARGE
 * (OCPI 2.3.0), or, tolerated from 2.2.1 partners, the EVSE's capabilities carry one of those or
 * PLUG_AND_CHARGE_CAPABLE.
 */
export function isPlugAndChargeCapable(evse: OcpiEvse): boolean {
  return evseSaysPnc(evse) || evse.connectors.some(connectorSaysPnc)
}

/**
 * The same rule for one connector: 2.3.0 says Plug&Charge per connector (a CHAdeMO connector next
 * to a CCS one does not speak ISO 15118); an EVSE-level signal covers all its connectors.
 */
export function isConnectorPlugAndChargeCapable(evse: OcpiEvse, connector: OcpiConnector): boolean {
  return evseSaysPnc(evse) || connectorSaysPnc(connector)
}

/** The EVSE's capabilities as sent, plus our PLUG_AND_CHARGE_CAPABLE when the rule says so. */
export function evseCapabilities(evse: OcpiEvse): string[] {
  const capabilities = new Set(evse.capabilities ?? [])
  if (isPlugAndChargeCapable(evse)) capabilities.add(PLUG_AND_CHARGE_CAPABLE)
  return [...capabilities]
}

/**
 * What one connector can do: its EVSE's capabilities, its own (2.3.0) and PLUG_AND_CHARGE_CAPABLE when
 * this connector is Plug&Charge capable. Geosearch matches requested capabilities against this.
 */
export function connectorCapabilities(evse: OcpiEvse, connector: OcpiConnector): string[] {
  const capabilities = new Set([...(evse.capabilities ?? []), ...(connector.capabilities ?? [])])
  if (isConnectorPlugAndChargeCapable(evse, connector)) capabilities.add(PLUG_AND_CHARGE_CAPABLE)
  return [...capabilities]
}

// ---- Visibility ----

/** A REMOVED EVSE stays in the CPO's data (the spec never deletes) but is gone for drivers. */
export function isEvseVisible(evse: OcpiEvse): boolean {
  return evse.status !== 'REMOVED'
}

/** Shown in search: the CPO allows publishing and at least one EVSE is still there. */
export function isLocationSearchable(location: OcpiLocation): boolean {
  return location.publish !== false && (location.evses ?? []).some(isEvseVisible)
}

/**
 * Open around the clock per `opening_times.twentyfourseven`. Without opening_times the spec says
 * nothing, so we do not promise 24/7.
 */
export function is247(location: OcpiLocation): boolean {
  return location.opening_times?.twentyfourseven === true
}

// ---- Power ----

const POWER_KINDS: Record<PowerType, PowerKind> = {
  AC_1_PHASE: 'AC',
  AC_2_PHASE: 'AC',
  AC_2_PHASE_SPLIT: 'AC',
  AC_3_PHASE: 'AC',
  DC: 'DC',
}

export function powerKind(connector: Pick<OcpiConnector, 'power_type'>): PowerKind {
  const kind = POWER_KINDS[connector.power_type]
  if (!kind) throw new RangeError(`not an OCPI PowerType: ${JSON.stringify(connector.power_type)}`)
  return kind
}

/**
 * Maximum power in watts. The CPO's max_electric_power when given ("when the maximum electric power
 * is lower than the calculated value from voltage and amperage, this value should be set"), else
 * computed from Connector.max_voltage, which the spec defines as "line to neutral for AC_3_PHASE":
 * so 3 x V x A there, and V x A for every other power type, for which the spec defines no per-phase
 * voltage (AC_2_PHASE is thus a lower bound when a CPO sends 230 V; such CPOs should send the power).
 */
export function maxPowerW(connector: Pick<OcpiConnector, 'power_type' | 'max_voltage' | 'max_amperage' | 'max_electric_power'>): number {
  if (typeof connector.max_electric_power === 'number') return connector.max_electric_power
  const phases = connector.power_type === 'AC_3_PHASE' ? 3 : 1
  return phases * connector.max_voltage * connector.max_amperage
}

// ---- Operator ----

const OPERATOR_ID = /^([A-Za-z]{2})\*?([A-Za-z0-9]{3})$/

/**
 * The operator ID partners know from EVSE IDs (`NL*SIM*E12345` is operated by `NL*SIM`): the CPO's
 * OCPI country_code and party_id. Upper-case, joined by `*`.
 */
export function operatorIdOf(location: Pick<OcpiLocation, 'country_code' | 'party_id'>): string {
  return `${location.country_code.toUpperCase()}*${location.party_id.toUpperCase()}`
}

/** `NL*SIM`, `NLSIM` and `nl*sim` name the same operator; null when it is not an operator ID. */
export function normalizeOperatorId(input: string): string | null {
  const match = OPERATOR_ID.exec(input)
  return match ? `${match[1]!.toUpperCase()}*${match[2]!.toUpperCase()}` : null
}
