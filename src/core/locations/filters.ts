import { invalid } from '../errors.ts'
import {
  CONNECTOR_CAPABILITIES,
  CONNECTOR_TYPES,
  EVSE_CAPABILITIES,
  EVSE_STATUSES,
  PLUG_AND_CHARGE_CAPABLE,
  normalizeOperatorId,
  type EvseStatus,
  type PowerKind,
} from './location.ts'
import type { SearchConnector, SearchDocument, SearchEvse } from './search-document.ts'

/**
 * Geosearch filters. Every given filter must hold; an absent one (or an empty list) does not filter.
 * The area (radius, bounding box) is the store's business, not this type's.
 */
export interface LocationFilters {
  /** each connector kept must have all of them: EVSE capabilities, 2.3.0 connector capabilities, PLUG_AND_CHARGE_CAPABLE */
  capabilities?: string[]
  powerType?: PowerKind
  /** minimum maximum power of a connector, in watts */
  power?: number
  connectorTypes?: string[]
  /** EVSE statuses */
  locationStatuses?: EvseStatus[]
  /** true: only locations open 24/7; false: only locations that are not */
  open247?: boolean
  /** operator IDs as in EVSE IDs, `NL*SIM`; normalized */
  operatorIds?: string[]
}

const FIELDS = ['capabilities', 'powerType', 'power', 'connectorTypes', 'locationStatuses', 'open247', 'operatorIds'] as const

/** Every value a capabilities filter can match: what a search document's connectors can carry. */
export const FILTER_CAPABILITIES: readonly string[] = [PLUG_AND_CHARGE_CAPABLE, ...EVSE_CAPABILITIES, ...CONNECTOR_CAPABILITIES]

const filterError = (field: string, rule: string, value: unknown) =>
  invalid('invalid_filter', `${field} ${rule}, got ${JSON.stringify(value)}`, { field })

/**
 * Checks geosearch filters from a partner and returns them normalized (lists deduplicated, operator IDs
 * in the `NL*SIM` form). Errors name the field and the rule. Capabilities and connector standards are
 * open lists, but a filter on a value we do not know is almost always a typo that would answer
 * "no chargers here" without saying why: it is refused, listing the values there are.
 */
export function validateFilters(input: unknown): LocationFilters {
  if (input === undefined || input === null) return {}
  if (typeof input !== 'object' || Array.isArray(input)) throw filterError('filters', 'must be an object', input)
  const raw = input as Record<string, unknown>
  for (const key of Object.keys(raw)) {
    if (!(FIELDS as readonly string[]).includes(key)) throw filterError(key, `is not a filter (known: ${FIELDS.join(', ')})`, raw[key])
  }
  const filters: LocationFilters = {}

  const capabilities = stringList(raw, 'capabilities', (value, field) => knownValue(value, field, FILTER_CAPABILITIES))
  if (capabilities) filters.capabilities = capabilities

  if (raw.powerType !== undefined) {
    if (raw.powerType !== 'AC' && raw.powerType !== 'DC') throw filterError('powerType', 'must be "AC" or "DC"', raw.powerType)
    filters.powerType = raw.powerType
  }

  if (raw.power !== undefined) {
    if (typeof raw.power !== 'number' || !Number.isFinite(raw.power) || raw.power < 0) {
      throw filterError('power', 'must be a number of watts >= 0', raw.power)
    }
    filters.power = raw.power
  }

  const connectorTypes = stringList(raw, 'connectorTypes', (value, field) => knownValue(value, field, CONNECTOR_TYPES))
  if (connectorTypes) filters.connectorTypes = connectorTypes

  const statuses = stringList(raw, 'locationStatuses', (value, field) => {
    if (value === 'REMOVED') throw filterError(field, 'cannot be REMOVED: removed EVSEs are never shown', value)
    return knownValue(
      value,
      field,
      EVSE_STATUSES.filter((status) => status !== 'REMOVED'),
    )
  })
  if (statuses) filters.locationStatuses = statuses as EvseStatus[]

  if (raw.open247 !== undefined) {
    if (typeof raw.open247 !== 'boolean') throw filterError('open247', 'must be true or false', raw.open247)
    filters.open247 = raw.open247
  }

  const operatorIds = stringList(raw, 'operatorIds', (value, field) => {
    const normalized = normalizeOperatorId(value)
    if (!normalized) throw filterError(field, 'must be an operator ID: country code and party ID, e.g. "NL*SIM"', value)
    return normalized
  })
  if (operatorIds) filters.operatorIds = operatorIds

  return filters
}

/** A list of non-empty strings, each checked; undefined when absent or empty. */
function stringList(raw: Record<string, unknown>, field: string, check: (value: string, field: string) => string): string[] | undefined {
  const list = raw[field]
  if (list === undefined) return undefined
  if (!Array.isArray(list)) throw filterError(field, 'must be a list', list)
  const values = list.map((value, i) => {
    if (typeof value !== 'string' || value === '') throw filterError(`${field}[${i}]`, 'must be a non-empty string', value)
    return check(value, `${field}[${i}]`)
  })
  return values.length > 0 ? [...new Set(values)] : undefined
}

/** A value of a closed list; a known value in another case is named, as the typo it is. */
function knownValue(value: string, field: string, known: readonly string[]): string {
  if (known.includes(value)) return value
  const meant = known.find((k) => k.toLowerCase() === value.toLowerCase())
  if (meant) throw filterError(field, `is case-sensitive: did you mean "${meant}"?`, value)
  throw filterError(field, `must be one of ${known.join(', ')}`, value)
}

/**
 * The location as a search result under these filters: only the EVSEs and connectors that match all
 * of them, or null when it fails a location filter or keeps no EVSE (a location that is not
 * searchable has none in its document). An EVSE matches when its status is requested; a connector
 * when its power kind, maximum power, standard and capabilities (its EVSE's, its own and the derived
 * Plug&Charge) hold; an EVSE is kept with its matching connectors only. The input is not changed,
 * and is returned itself when everything in it matches.
 */
export function matchLocation(document: SearchDocument, filters: LocationFilters): SearchDocument | null {
  if (filters.open247 !== undefined && document.openingTimes.twentyfourseven !== filters.open247) return null
  if (filters.operatorIds && !filters.operatorIds.includes(document.operator.id)) return null

  const evses: SearchEvse[] = []
  for (const evse of document.evses) {
    if (filters.locationStatuses && !filters.locationStatuses.includes(evse.status)) continue
    const connectors = evse.connectors.filter((connector) => connectorMatches(connector, filters))
    if (connectors.length === evse.connectors.length) evses.push(evse)
    else if (connectors.length > 0) evses.push({ ...evse, connectors })
  }
  if (evses.length === 0) return null
  const whole = evses.length === document.evses.length && evses.every((evse, i) => evse === document.evses[i])
  return whole ? document : { ...document, evses }
}

function connectorMatches(connector: SearchConnector, filters: LocationFilters): boolean {
  if (filters.powerType && connector.powerType !== filters.powerType) return false
  if (filters.power !== undefined && connector.maxPower < filters.power) return false
  if (filters.connectorTypes && !filters.connectorTypes.includes(connector.standard)) return false
  if (filters.capabilities) {
    const has = connector.capabilities
    if (!filters.capabilities.every((c) => has.includes(c))) return false
  }
  return true
}
