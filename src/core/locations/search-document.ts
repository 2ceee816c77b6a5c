import { matchLocation } from './filters.ts'
import {
  connectorCapabilities,
  PLUG_AND_CHARGE_CAPABLE,
  evseCapabilities,
  is247,
  isEvseVisible,
  isLocationSearchable,
  maxPowerW,
  operatorIdOf,
  parseCoordinates,
  powerKind,
  type Coordinates,
  type EvseStatus,
  type OcpiLocation,
  type OcpiRegularHours,
  type PowerKind,
  type PowerType,
} from './location.ts'

/**
 * What geosearch needs of a Location, derived once when it is stored: the filters run on it and
 * the API answers with it, so a search neither reads nor parses the OCPI object (about three times
 * larger). Field names are the API's; only the distance comes with each search.
 */
export interface SearchDocument {
  /** country*party*location */
  id: string
  name: string | null
  address: string
  city: string
  postalCode: string | null
  /** ISO 3166-1 alpha-3 */
  country: string
  /** WGS 84 decimal degrees */
  coordinates: Coordinates
  operator: { id: string; name: string | null }
  openingTimes: { twentyfourseven: boolean; regularHours: OcpiRegularHours[] }
  timeZone: string | null
  /** Only what a driver may find: empty when the location is not searchable. */
  evses: SearchEvse[]
  /** ISO 8601 in UTC */
  lastUpdated: string
}

export interface SearchEvse {
  uid: string
  evseId: string | null
  status: EvseStatus
  /** as sent, plus the derived PLUG_AND_CHARGE_CAPABLE */
  capabilities: string[]
  connectors: SearchConnector[]
}

export interface SearchConnector {
  id: string
  standard: string
  format: string
  powerType: PowerKind
  ocpiPowerType: PowerType
  /** watts */
  maxPower: number
  /** what this connector can do: its EVSE's, its own, and the derived PLUG_AND_CHARGE_CAPABLE */
  capabilities: string[]
}

/** The search document of a Location: its visible EVSEs with every derived value geosearch filters on. */
export function searchDocumentOf(location: OcpiLocation): SearchDocument {
  const evses = isLocationSearchable(location) ? (location.evses ?? []).filter(isEvseVisible) : []
  return {
    id: `${location.country_code}*${location.party_id}*${location.id}`,
    name: location.name ?? null,
    address: location.address,
    city: location.city,
    postalCode: location.postal_code ?? null,
    country: location.country,
    coordinates: parseCoordinates(location.coordinates),
    operator: { id: operatorIdOf(location), name: location.operator?.name ?? null },
    openingTimes: {
      twentyfourseven: is247(location),
      regularHours: (location.opening_times?.regular_hours ?? []).map((h) => ({
        weekday: h.weekday,
        period_begin: h.period_begin,
        period_end: h.period_end,
      })),
    },
    timeZone: location.time_zone ?? null,
    evses: evses.map((evse) => ({
      uid: evse.uid,
      evseId: evse.evse_id ?? null,
      status: evse.status,
      capabilities: evseCapabilities(evse),
      connectors: evse.connectors.map((connector) => ({
        id: connector.id,
        standard: connector.standard,
        format: connector.format,
        powerType: powerKind(connector),
        ocpiPowerType: connector.power_type,
        maxPower: maxPowerW(connector),
        capabilities: connectorCapabilities(evse, connector),
      })),
    })),
    lastUpdated: new Date(location.last_updated).toISOString(),
  }
}

/**
 * The document as the Plug&Charge filter finds it: only its Plug&Charge capable connectors, or null
 * when it has none. Stored beside the full one, since that filter is the common search.
 */
export function plugAndChargeDocumentOf(document: SearchDocument): SearchDocument | null {
  return matchLocation(document, { capabilities: [PLUG_AND_CHARGE_CAPABLE] })
}

/**
 * A search document as stored and sent: JSON with every character beyond ASCII escaped (`\u00df`),
 * the same JSON value. Pure ASCII text is decoded from the database and encoded into the answer
 * at copying speed; one "ß" in a street name would otherwise send the whole document down the
 * slower UTF-8 paths.
 */
export function searchDocumentJson(document: SearchDocument): string {
  return JSON.stringify(document).replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
