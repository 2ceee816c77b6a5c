import { matchLocation } from './filters.ts'
import {
  connectorCapabilities,
  PLUG_AND_CHARGE_CAPABLE,
  evseCapabilities,
  isEvseVisible,
  isLocationSearchable,
  powerKindOf,
  publicIdOf,
  type Coordinates,
  type EvseStatus,
  type Location,
  type PowerKind,
  type PowerType,
} from './location.ts'

/**
 * What geosearch needs of a location, derived once when it is stored: the filters run on it and
 * the API answers with it, so a search neither reads nor parses the protocol's record (an OCPI
 * Location is about three times larger). Field names are the API's; only the distance comes with
 * each search.
 */
export interface SearchDocument {
  /** party or operator, and location: `NL*SIM*LOC1` (publicIdOf) */
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
  openingTimes: { twentyfourseven: boolean; regularHours: SearchRegularHours[] }
  timeZone: string | null
  /** Only what a driver may find: empty when the location is not searchable. */
  evses: SearchEvse[]
  /** ISO 8601 in UTC */
  lastUpdated: string
}

/** Regular hours as the API answers them (OCPI's field names). */
export interface SearchRegularHours {
  weekday: number
  period_begin: string
  period_end: string
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
  /** the supply in OCPI's PowerType terms (AC_3_PHASE ...), whichever protocol sent it */
  ocpiPowerType: PowerType
  /** watts */
  maxPower: number
  /** what this connector can do: its EVSE's, its own, and the derived PLUG_AND_CHARGE_CAPABLE */
  capabilities: string[]
}

/** The search document of a location: its visible EVSEs with every derived value geosearch filters on. */
export function searchDocumentOf(location: Location): SearchDocument {
  const evses = isLocationSearchable(location) ? location.evses.filter(isEvseVisible) : []
  return {
    id: publicIdOf(location),
    name: location.name,
    address: location.address.street,
    city: location.address.city,
    postalCode: location.address.postalCode,
    country: location.address.country,
    coordinates: { latitude: location.coordinates.latitude, longitude: location.coordinates.longitude },
    operator: { id: location.operator.id, name: location.operator.name },
    openingTimes: {
      twentyfourseven: location.openingHours.twentyfourseven,
      regularHours: location.openingHours.regularHours.map((h) => ({
        weekday: h.weekday,
        period_begin: h.periodBegin,
        period_end: h.periodEnd,
      })),
    },
    timeZone: location.timeZone,
    evses: evses.map((evse) => ({
      uid: evse.uid,
      evseId: evse.evseId,
      status: evse.status,
      capabilities: evseCapabilities(evse),
      connectors: evse.connectors.map((connector) => ({
        id: connector.id,
        standard: connector.standard,
        format: connector.format,
        powerType: powerKindOf(connector.powerType),
        ocpiPowerType: connector.powerType,
        maxPower: connector.maxPower,
        capabilities: connectorCapabilities(evse, connector),
      })),
    })),
    lastUpdated: new Date(location.lastUpdated).toISOString(),
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
