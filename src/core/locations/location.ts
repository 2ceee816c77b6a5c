/**
 * Charging locations as this platform knows them, whichever roaming protocol sent them: OCPI
 * (2.2.1, 2.3.0) from a CPO, or OICP EVSE data from Hubject. Each protocol adapter maps its own wire
 * objects to this model (and keeps those objects as its record); search, filters and the
 * Plug&Charge rule work on this model alone, so a new protocol adds a mapping and nothing here.
 *
 * The vocabularies (statuses, capabilities, connector standards, power types) are OCPI's names:
 * the drive API filters on them, and OICP's values map onto them.
 */

// ---- Vocabularies (OCPI's names, from locations/schema.yaml of 2.2.1 and 2.3.0) ----

/** EVSE status: OCPI's closed Status enum; OICP's EVSE status maps onto it. */
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

/** The supply: OCPI's closed PowerType enum (OICP's AC_1_PHASE, AC_3_PHASE and DC are among it). */
export const POWER_TYPES = ['AC_1_PHASE', 'AC_2_PHASE', 'AC_2_PHASE_SPLIT', 'AC_3_PHASE', 'DC'] as const
export type PowerType = (typeof POWER_TYPES)[number]
export type PowerKind = 'AC' | 'DC'

/** EVSE capabilities we know (OCPI Capability, an open enum): sources may send others, kept as sent. */
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

/** Connector capabilities we know (OCPI 2.3.0 ConnectorCapability, open): the standard Plug&Charge signal. */
export const CONNECTOR_CAPABILITIES = ['ISO_15118_2_PLUG_AND_CHARGE', 'ISO_15118_20_PLUG_AND_CHARGE'] as const

/**
 * Ours, not OCPI: derived by `isPlugAndChargeCapable`, and accepted in EVSE capabilities (OCPI 2.2.1
 * has no standard way to say it; an OICP adapter says it for an EVSE offering PnC authentication).
 */
export const PLUG_AND_CHARGE_CAPABLE = 'PLUG_AND_CHARGE_CAPABLE'

/** Connector standards we know (OCPI ConnectorType, open; 2.3.0 adds MCS and SAE_J3400 to 2.2.1's). */
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

// ---- The model ----

/**
 * Who sent a location, and so whose record it is: an OCPI CPO party (through a partner
 * connection; `partnerId` null for locations loaded in bulk: sandbox, simulator), or an operator
 * whose EVSE data came from Hubject over OICP.
 */
export type LocationSource =
  { protocol: 'ocpi'; countryCode: string; partyId: string; partnerId: string | null } | { protocol: 'oicp'; operatorId: string }

export type LocationProtocol = LocationSource['protocol']

export interface RegularHours {
  /** 1 Monday ... 7 Sunday */
  weekday: number
  /** local time, `HH:MM` */
  periodBegin: string
  periodEnd: string
}

export interface OpeningHours {
  twentyfourseven: boolean
  regularHours: RegularHours[]
}

export interface Connector {
  /** unique within its EVSE */
  id: string
  /** a CONNECTOR_TYPES value, or another a source sent */
  standard: string
  format: 'SOCKET' | 'CABLE'
  powerType: PowerType
  /** watts: what the connector can deliver at most */
  maxPower: number
  /** volts and amperes as the source gave them, null when it did not */
  maxVoltage: number | null
  maxAmperage: number | null
  /** this connector's own (CONNECTOR_CAPABILITIES and others), as sent */
  capabilities: string[]
}

export interface Evse {
  /** unique within its location */
  uid: string
  /** the EVSE ID drivers see, e.g. `NL*SIM*E12345` */
  evseId: string | null
  status: EvseStatus
  /** as sent (EVSE_CAPABILITIES and others), PLUG_AND_CHARGE_CAPABLE included when the source says so */
  capabilities: string[]
  connectors: Connector[]
}

export interface Location {
  source: LocationSource
  /** the source's ID of the location, unique for its party or operator */
  id: string
  name: string | null
  address: { street: string; city: string; postalCode: string | null; /** ISO 3166-1 alpha-3 */ country: string }
  /** WGS 84 decimal degrees */
  coordinates: Coordinates
  /** IANA time zone, e.g. `Europe/Amsterdam`; null when unknown */
  timeZone: string | null
  /** `twentyfourseven` false and no regular hours: nothing is known, nothing promised */
  openingHours: OpeningHours
  /** `id` as in EVSE IDs (`NL*SIM`, normalized) */
  operator: { id: string; name: string | null }
  /** false: the source does not want it shown to drivers */
  published: boolean
  evses: Evse[]
  /** ISO 8601 in UTC */
  lastUpdated: string
}

/**
 * The ID a location is known by outside: its party or operator and its own ID, joined by `*`
 * (`NL*SIM*LOC1`), as the source spelled them. An OICP pool or EVSE ID names its operator already
 * (`DE*ABC*P123`) and is used as it is.
 */
export function publicIdOf(location: Pick<Location, 'source' | 'id'>): string {
  const { source } = location
  if (source.protocol === 'ocpi') return `${source.countryCode}*${source.partyId}*${location.id}`
  const own = /^([A-Za-z]{2})\*?([A-Za-z0-9]{3})\*?[PE]/.exec(location.id)
  const named = own && `${own[1]}${own[2]}`.toUpperCase() === source.operatorId.replace('*', '').toUpperCase()
  return named ? location.id : `${source.operatorId}*${location.id}`
}

// ---- Coordinates ----

export interface Coordinates {
  latitude: number
  longitude: number
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
// OCPI 2.2.1 has no signal, so partners put either the 2.3.0 values or our own marker on the EVSE.
const EVSE_PNC_VALUES: ReadonlySet<string> = new Set([...CONNECTOR_CAPABILITIES, PLUG_AND_CHARGE_CAPABLE])

type Capable = { capabilities: readonly string[] }
const evseSaysPnc = (evse: Capable) => evse.capabilities.some((c) => EVSE_PNC_VALUES.has(c))
const connectorSaysPnc = (connector: Capable) => connector.capabilities.some((c) => CONNECTOR_PNC_VALUES.has(c))

/**
 * Plug&Charge capable: a connector carries ISO_15118_2_PLUG_AND_CHARGE or ISO_15118_20_PLUG_AND_CHARGE,
 * or the EVSE's capabilities carry one of those or PLUG_AND_CHARGE_CAPABLE.
 */
export function isPlugAndChargeCapable(evse: Pick<Evse, 'capabilities' | 'connectors'>): boolean {
  return evseSaysPnc(evse) || evse.connectors.some(connectorSaysPnc)
}

/**
 * The same rule for one connector: Plug&Charge is said per connector (a CHAdeMO connector next to
 * a CCS one does not speak ISO 15118); an EVSE-level signal covers all its connectors.
 */
export function isConnectorPlugAndChargeCapable(evse: Pick<Evse, 'capabilities'>, connector: Pick<Connector, 'capabilities'>): boolean {
  return evseSaysPnc(evse) || connectorSaysPnc(connector)
}

/** The EVSE's capabilities as sent, plus our PLUG_AND_CHARGE_CAPABLE when the rule says so. */
export function evseCapabilities(evse: Pick<Evse, 'capabilities' | 'connectors'>): string[] {
  const capabilities = new Set(evse.capabilities)
  if (isPlugAndChargeCapable(evse)) capabilities.add(PLUG_AND_CHARGE_CAPABLE)
  return [...capabilities]
}

/**
 * What one connector can do: its EVSE's capabilities, its own and PLUG_AND_CHARGE_CAPABLE when
 * this connector is Plug&Charge capable. Geosearch matches requested capabilities against this.
 */
export function connectorCapabilities(evse: Pick<Evse, 'capabilities'>, connector: Pick<Connector, 'capabilities'>): string[] {
  const capabilities = new Set([...evse.capabilities, ...connector.capabilities])
  if (isConnectorPlugAndChargeCapable(evse, connector)) capabilities.add(PLUG_AND_CHARGE_CAPABLE)
  return [...capabilities]
}

// ---- Visibility ----

/** A REMOVED EVSE stays in the source's data (OCPI never deletes) but is gone for drivers. */
export function isEvseVisible(evse: Pick<Evse, 'status'>): boolean {
  return evse.status !== 'REMOVED'
}

/** Shown in search: the source allows publishing and at least one EVSE is still there. */
export function isLocationSearchable(location: Pick<Location, 'published' | 'evses'>): boolean {
  return location.published && location.evses.some(isEvseVisible)
}

/** Has a visible Plug&Charge capable EVSE: what the Plug&Charge index holds. */
export function hasPlugAndCharge(location: Pick<Location, 'evses'>): boolean {
  return location.evses.some((evse) => isEvseVisible(evse) && isPlugAndChargeCapable(evse))
}

// ---- Power ----

const POWER_KINDS: Record<PowerType, PowerKind> = {
  AC_1_PHASE: 'AC',
  AC_2_PHASE: 'AC',
  AC_2_PHASE_SPLIT: 'AC',
  AC_3_PHASE: 'AC',
  DC: 'DC',
}

/** AC or DC, what drivers filter on. */
export function powerKindOf(powerType: PowerType): PowerKind {
  const kind = POWER_KINDS[powerType]
  if (!kind) throw new RangeError(`not a power type: ${JSON.stringify(powerType)}`)
  return kind
}

// ---- Operator ----

const OPERATOR_ID = /^([A-Za-z]{2})\*?([A-Za-z0-9]{3})$/

/** `NL*SIM`, `NLSIM` and `nl*sim` name the same operator; null when it is not an operator ID. */
export function normalizeOperatorId(input: string): string | null {
  const match = OPERATOR_ID.exec(input)
  return match ? `${match[1]!.toUpperCase()}*${match[2]!.toUpperCase()}` : null
}
