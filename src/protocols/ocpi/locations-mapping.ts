import { invalid } from '../../core/errors.ts'
import {
  connectorCapabilities as neutralConnectorCapabilities,
  evseCapabilities as neutralEvseCapabilities,
  isConnectorPlugAndChargeCapable as neutralIsConnectorPlugAndChargeCapable,
  isEvseVisible as neutralIsEvseVisible,
  isLocationSearchable as neutralIsLocationSearchable,
  isPlugAndChargeCapable as neutralIsPlugAndChargeCapable,
  normalizeOperatorId,
  powerKindOf,
  type Connector,
  type Coordinates,
  type Evse,
  type EvseStatus,
  type Location,
  type PowerKind,
  type PowerType,
} from '../../core/locations/location.ts'
import { searchDocumentOf as neutralSearchDocumentOf, type SearchDocument } from '../../core/locations/search-document.ts'

/**
 * Charging locations as CPOs send them over OCPI 2.2.1 and 2.3.0 (module `locations`), and their
 * mapping to the platform's neutral model (core/locations). The OCPI object is the adapter's record,
 * kept exactly as received (unknown fields included, the index signatures say so) and answered
 * as it is; search works on the neutral location derived from it here.
 */

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

/** Numbers to an OCPI GeoLocation: seven decimals, within the spec's five to seven. */
function geoLocationOf(c: Coordinates): OcpiGeoLocation {
  return { latitude: c.latitude.toFixed(7), longitude: c.longitude.toFixed(7) }
}

// ---- Power and operator, by OCPI's definitions ----

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

export function powerKind(connector: Pick<OcpiConnector, 'power_type'>): PowerKind {
  return powerKindOf(connector.power_type)
}

/**
 * The operator ID partners know from EVSE IDs (`NL*SIM*E12345` is operated by `NL*SIM`): the CPO's
 * OCPI country_code and party_id. Upper-case, joined by `*`.
 */
export function operatorIdOf(location: Pick<OcpiLocation, 'country_code' | 'party_id'>): string {
  return `${location.country_code.toUpperCase()}*${location.party_id.toUpperCase()}`
}

// ---- OCPI -> neutral ----

export function connectorFromOcpi(connector: OcpiConnector): Connector {
  return {
    id: connector.id,
    standard: connector.standard,
    format: connector.format,
    powerType: connector.power_type,
    maxPower: maxPowerW(connector),
    maxVoltage: connector.max_voltage,
    maxAmperage: connector.max_amperage,
    capabilities: connector.capabilities ?? [],
  }
}

export function evseFromOcpi(evse: OcpiEvse): Evse {
  return {
    uid: evse.uid,
    evseId: evse.evse_id ?? null,
    status: evse.status,
    capabilities: evse.capabilities ?? [],
    connectors: evse.connectors.map(connectorFromOcpi),
  }
}

/**
 * The neutral location of a validated OCPI Location (location-validation.ts), from the CPO behind
 * `partnerId` (null: loaded in bulk). Without opening_times OCPI says nothing, so no 24/7 is promised.
 */
export function locationFromOcpi(location: OcpiLocation, partnerId: string | null = null): Location {
  return {
    source: { protocol: 'ocpi', countryCode: location.country_code, partyId: location.party_id, partnerId },
    id: location.id,
    name: location.name ?? null,
    address: { street: location.address, city: location.city, postalCode: location.postal_code ?? null, country: location.country },
    coordinates: parseCoordinates(location.coordinates),
    timeZone: location.time_zone ?? null,
    openingHours: {
      twentyfourseven: location.opening_times?.twentyfourseven === true,
      regularHours: (location.opening_times?.regular_hours ?? []).map((h) => ({
        weekday: h.weekday,
        periodBegin: h.period_begin,
        periodEnd: h.period_end,
      })),
    },
    operator: { id: operatorIdOf(location), name: location.operator?.name ?? null },
    published: location.publish !== false,
    evses: (location.evses ?? []).map(evseFromOcpi),
    lastUpdated: new Date(location.last_updated).toISOString(),
  }
}

// ---- neutral -> OCPI ----

/**
 * A neutral location as an OCPI Location, e.g. to offer one that came over another protocol to
 * OCPI partners. What the model does not hold is filled the plainest way: every last_updated is
 * the location's, a voltage or amperage the source did not give is 0 (the power is then in
 * max_electric_power), and an operator ID not in `CC*PPP` form cannot be an OCPI party.
 */
export function ocpiLocationOf(location: Location): OcpiLocation {
  const party =
    location.source.protocol === 'ocpi'
      ? { country_code: location.source.countryCode, party_id: location.source.partyId }
      : partyOfOperator(location.source.operatorId)
  const lastUpdated = location.lastUpdated
  const hours = location.openingHours
  return {
    ...party,
    id: location.id,
    publish: location.published,
    ...(location.name !== null && { name: location.name }),
    address: location.address.street,
    city: location.address.city,
    ...(location.address.postalCode !== null && { postal_code: location.address.postalCode }),
    country: location.address.country,
    coordinates: geoLocationOf(location.coordinates),
    evses: location.evses.map((evse) => ({
      uid: evse.uid,
      ...(evse.evseId !== null && { evse_id: evse.evseId }),
      status: evse.status,
      capabilities: evse.capabilities,
      connectors: evse.connectors.map((connector) => ({
        id: connector.id,
        standard: connector.standard,
        format: connector.format,
        power_type: connector.powerType,
        max_voltage: connector.maxVoltage ?? 0,
        max_amperage: connector.maxAmperage ?? 0,
        max_electric_power: connector.maxPower,
        ...(connector.capabilities.length > 0 && { capabilities: connector.capabilities }),
        last_updated: lastUpdated,
      })),
      last_updated: lastUpdated,
    })),
    ...(location.operator.name !== null && { operator: { name: location.operator.name } }),
    // OCPI requires a time zone; UTC is the honest default for one nobody gave.
    time_zone: location.timeZone ?? 'UTC',
    ...((hours.twentyfourseven || hours.regularHours.length > 0) && {
      opening_times: {
        twentyfourseven: hours.twentyfourseven,
        ...(hours.regularHours.length > 0 && {
          regular_hours: hours.regularHours.map((h) => ({ weekday: h.weekday, period_begin: h.periodBegin, period_end: h.periodEnd })),
        }),
      },
    }),
    last_updated: lastUpdated,
  }
}

function partyOfOperator(operatorId: string): { country_code: string; party_id: string } {
  const normalized = normalizeOperatorId(operatorId)
  if (!normalized) throw invalid('invalid_operator', `operator ID ${JSON.stringify(operatorId)} is not an OCPI party (CC*PPP)`)
  const [country_code, party_id] = normalized.split('*') as [string, string]
  return { country_code, party_id }
}

// ---- The neutral rules, read off an OCPI object ----

/** Plug&Charge capable (core/locations' rule, on an OCPI EVSE). */
export const isPlugAndChargeCapable = (evse: OcpiEvse): boolean => neutralIsPlugAndChargeCapable(evseFromOcpi(evse))

export const isConnectorPlugAndChargeCapable = (evse: OcpiEvse, connector: OcpiConnector): boolean =>
  neutralIsConnectorPlugAndChargeCapable(evseFromOcpi(evse), connectorFromOcpi(connector))

export const evseCapabilities = (evse: OcpiEvse): string[] => neutralEvseCapabilities(evseFromOcpi(evse))

export const connectorCapabilities = (evse: OcpiEvse, connector: OcpiConnector): string[] =>
  neutralConnectorCapabilities(evseFromOcpi(evse), connectorFromOcpi(connector))

export const isEvseVisible = (evse: Pick<OcpiEvse, 'status'>): boolean => neutralIsEvseVisible(evse)

export const isLocationSearchable = (location: OcpiLocation): boolean =>
  neutralIsLocationSearchable({ published: location.publish !== false, evses: (location.evses ?? []).map(evseFromOcpi) })

/** Open around the clock per `opening_times.twentyfourseven`; without opening_times nothing is promised. */
export const is247 = (location: Pick<OcpiLocation, 'opening_times'>): boolean => location.opening_times?.twentyfourseven === true

/** The search document of an OCPI Location, through its neutral location. */
export const searchDocumentOf = (location: OcpiLocation): SearchDocument => neutralSearchDocumentOf(locationFromOcpi(location))
