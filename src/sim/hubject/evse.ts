import type { FastifyInstance } from 'fastify'
import type { OcpiConnector, OcpiEvse, OcpiLocation } from '../../protocols/ocpi/locations-mapping.ts'
import { evseKey } from '../../protocols/oicp/evse-mapping.ts'
import { CALLED } from '../../protocols/oicp/protocol.ts'
import { generateLocations } from '../locations.ts'
import type { HubjectSimPart } from './sim.ts'
import { isJsonObject } from '../../core/json.ts'

export type GeoFormat = 'Google' | 'DecimalDegree' | 'DegreeMinuteSeconds'

export interface HubjectEvseDataOptions {
  /** locations of the generated European network (each with several EVSEs); default 0 */
  count?: number
  /** seed of the generated network; default 1 */
  seed?: number
  /**
   * The coordinates' format: as the request's GeoCoordinatesResponseFormat asks (`requested`, the
   * default, as Hubject does), one format always, or `mixed`: the three in turn, record by record.
   */
  geoFormats?: GeoFormat | 'requested' | 'mixed'
}

type Json = Record<string, unknown>
export type OicpStatus = 'Available' | 'Reserved' | 'Occupied' | 'OutOfService' | 'Unknown'

/** One EVSE the simulated Hubject holds, with when it last changed (for LastCall deltas). */
interface Held {
  /** the PullEvseDataRecord, coordinates in decimal degrees (converted on the way out) */
  record: Json
  status: OicpStatus
  insertedAt: number
  changedAt: number
  deleted: boolean
}

/** A request the simulated Hubject received at its EVSE operations. */
export interface ReceivedEvseRequest {
  operation: 'pullEvseData' | 'pullEvseStatus'
  providerId: string
  query: Json
  body: unknown
  httpStatus: number
}

const PROVIDER_ID = /^[A-Za-z]{2}[*-]?[A-Za-z0-9]{3}$/
const MAX_PAGE_SIZE = 2000

const PLUG_NAMES: Record<string, { SOCKET?: string; CABLE?: string }> = {
  IEC_62196_T2: { SOCKET: 'Type 2 Outlet', CABLE: 'Type 2 Connector (Cable Attached)' },
  IEC_62196_T2_COMBO: { CABLE: 'CCS Combo 2 Plug (Cable Attached)', SOCKET: 'CCS Combo 2 Plug (Cable Attached)' },
  IEC_62196_T1_COMBO: { CABLE: 'CCS Combo 1 Plug (Cable Attached)', SOCKET: 'CCS Combo 1 Plug (Cable Attached)' },
  IEC_62196_T1: { CABLE: 'Type 1 Connector (Cable Attached)', SOCKET: 'Type 1 Connector (Cable Attached)' },
  CHADEMO: { CABLE: 'CHAdeMO', SOCKET: 'CHAdeMO' },
  DOMESTIC_F: { SOCKET: 'Type F Schuko', CABLE: 'Type F Schuko' },
  TESLA_S: { CABLE: 'Tesla Connector', SOCKET: 'Tesla Connector' },
}

const STATUS_OF: Record<string, OicpStatus> = {
  AVAILABLE: 'Available',
  CHARGING: 'Occupied',
  BLOCKED: 'Occupied',
  RESERVED: 'Reserved',
  INOPERATIVE: 'OutOfService',
  OUTOFORDER: 'OutOfService',
}

const DAY_NAMES = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday']

const isPnc = (connector: OcpiConnector) =>
  (connector.capabilities ?? []).some((c: string) => c === 'ISO_15118_2_PLUG_AND_CHARGE' || c === 'ISO_15118_20_PLUG_AND_CHARGE')

/** Degrees as Hubject's DegreeMinuteSeconds writes them: `9°21'39.32''`. */
function dms(value: number): string {
  const sign = value < 0 ? '-' : ''
  const abs = Math.abs(value)
  let degrees = Math.floor(abs)
  let minutes = Math.floor((abs - degrees) * 60)
  let seconds = Math.round(((abs - degrees) * 60 - minutes) * 60 * 100) / 100
  if (seconds >= 60) {
    seconds = 0
    minutes++
  }
  if (minutes >= 60) {
    minutes = 0
    degrees++
  }
  return `${sign}${degrees}°${minutes}'${seconds.toFixed(2)}''`
}

/** Coordinates in one of Hubject's three formats. */
export function geoCoordinates(latitude: number, longitude: number, format: GeoFormat): Json {
  switch (format) {
    case 'Google':
      return { Google: { Coordinates: `${latitude.toFixed(6)} ${longitude.toFixed(6)}` } }
    case 'DecimalDegree':
      return { DecimalDegree: { Latitude: latitude.toFixed(6), Longitude: longitude.toFixed(6) } }
    case 'DegreeMinuteSeconds':
      return { DegreeMinuteSeconds: { Latitude: dms(latitude), Longitude: dms(longitude) } }
  }
}

/**
 * The EVSEs of an OCPI location as Hubject's PullEvseDataRecords (OICP 2.3), valid against the
 * spec: EVSE IDs kept, plugs and facilities from the connectors, `PnC` among the authentication
 * modes where a connector speaks ISO 15118. Every other location groups its EVSEs by
 * ChargingPoolID, the rest by ChargingStationId; some records carry explicit nulls and fields the
 * spec does not know, as real Hubject traffic does.
 */
export function evseDataRecordsOf(location: OcpiLocation, index = 0): Array<{ record: Json; status: OicpStatus }> {
  const operatorId = `${location.country_code}*${location.party_id}`
  const [, street = location.address, house = '1'] = /^(.*\S)\s+(\S+)$/.exec(location.address) ?? []
  const hours = location.opening_times
  const grouping =
    index % 2 === 0 ? { ChargingPoolID: `${operatorId}*P${location.id.replace(/-/g, '')}` } : { ChargingStationId: location.id }
  return (location.evses ?? [])
    .filter((evse: OcpiEvse) => evse.evse_id && evse.status !== 'REMOVED')
    .map((evse: OcpiEvse, i: number) => {
      const connectors = evse.connectors ?? []
      const pnc = connectors.some(isPnc)
      const plugs = [
        ...new Set(connectors.map((c: OcpiConnector) => PLUG_NAMES[c.standard]?.[c.format as 'SOCKET' | 'CABLE'] ?? 'Type 2 Outlet')),
      ]
      const facilities = connectors.map((c: OcpiConnector) => {
        const power = c.max_electric_power ?? c.max_voltage * c.max_amperage * (c.power_type === 'AC_3_PHASE' ? 3 : 1)
        return {
          PowerType: c.power_type === 'DC' ? 'DC' : c.power_type === 'AC_1_PHASE' ? 'AC_1_PHASE' : 'AC_3_PHASE',
          Power: Math.round(power / 100) / 10,
          // the spec caps these at 999 V and 99 A
          ...(c.max_voltage <= 999 && { Voltage: c.max_voltage }),
          ...(c.max_amperage <= 99 && { Amperage: c.max_amperage }),
        }
      })
      const record: Json = {
        EvseID: evse.evse_id,
        ...grouping,
        ChargingStationNames: [{ lang: 'en', value: (location.name ?? location.address).slice(0, 150) }],
        Address: {
          Country: location.country,
          City: location.city,
          Street: street.length >= 2 ? street : location.address,
          PostalCode: location.postal_code ?? '00000',
          HouseNum: house.slice(0, 10),
          // Hubject sends what an operator left empty as null
          Floor: null,
        },
        GeoCoordinates: { DecimalDegree: { Latitude: location.coordinates.latitude, Longitude: location.coordinates.longitude } },
        Plugs: plugs,
        ChargingFacilities: facilities,
        RenewableEnergy: i % 3 === 0,
        CalibrationLawDataAvailability: 'Local',
        AuthenticationModes: ['NFC RFID Classic', 'REMOTE', ...(pnc ? ['PnC'] : [])],
        PaymentOptions: ['Contract'],
        ValueAddedServices: (evse.capabilities ?? []).includes('RESERVABLE') ? ['Reservation'] : ['None'],
        Accessibility: 'Free publicly accessible',
        HotlinePhoneNumber: '+4930123456789',
        IsOpen24Hours: hours?.twentyfourseven !== false,
        ...(hours && !hours.twentyfourseven && hours.regular_hours?.length
          ? {
              OpeningTimes: hours.regular_hours.map((h: { weekday: number; period_begin: string; period_end: string }) => ({
                Period: [{ begin: h.period_begin, end: h.period_end }],
                on: DAY_NAMES[h.weekday - 1],
              })),
            }
          : {}),
        IsHubjectCompatible: true,
        DynamicInfoAvailable: 'true',
        OperatorID: operatorId,
        OperatorName: location.operator?.name ?? operatorId,
        lastUpdate: evse.last_updated,
        ...(i === 0 && { SubOperatorName: null, HubOperatorID: null, MaxCapacity: null }),
      }
      return { record, status: STATUS_OF[evse.status] ?? ('Unknown' as OicpStatus) }
    })
}

/**
 * The simulated Hubject's EVSE data (`POST {base}/evsepull/v23/providers/{providerID}/data-records`,
 * paged by `page` and `size` up to 2000) and EVSE statuses (`.../v21/.../status-records`): the
 * generated European network, plus what tests insert, update, delete and set. With `LastCall` the
 * data pull answers what changed since then, each record with its deltaType (deleted EVSEs
 * included, as delete); without, the current set. Filters: OperatorIds, CountryCodes,
 * AuthenticationModes. A request without ProviderID or GeoCoordinatesResponseFormat, with a
 * ProviderID other than the path's, or with LastCall combined with a filter the spec forbids, is
 * HTTP 400 with StatusCode 022.
 */
export class HubjectEvseData implements HubjectSimPart {
  readonly received: ReceivedEvseRequest[] = []
  private readonly held = new Map<string, Held>()
  private readonly geoFormats: NonNullable<HubjectEvseDataOptions['geoFormats']>

  constructor(options: HubjectEvseDataOptions = {}) {
    this.geoFormats = options.geoFormats ?? 'requested'
    const locations = generateLocations({ count: options.count ?? 0, seed: options.seed ?? 1, version: '2.3.0' })
    locations.forEach((location, index) => {
      for (const { record, status } of evseDataRecordsOf(location, index)) {
        // the generated network is old news: no delta lists it
        this.held.set(evseKey(String(record.EvseID)), { record, status, insertedAt: 0, changedAt: 0, deleted: false })
      }
    })
  }

  /** The EVSEs held now (deleted ones left out), as records with decimal coordinates. */
  evses(): Array<{ evseId: string; record: Json; status: OicpStatus }> {
    return [...this.held.values()]
      .filter((h) => !h.deleted)
      .map((h) => ({ evseId: String(h.record.EvseID), record: h.record, status: h.status }))
  }

  /** Adds an EVSE (a PullEvseDataRecord; coordinates as DecimalDegree): the next delta lists it as insert. */
  insert(record: Json, status: OicpStatus = 'Available') {
    const now = Date.now()
    this.held.set(evseKey(String(record.EvseID)), { record, status, insertedAt: now, changedAt: now, deleted: false })
  }

  /** Changes an EVSE's record: the next delta lists it as update. */
  update(evseId: string, change: Json) {
    const held = this.require(evseId)
    held.record = { ...held.record, ...change }
    held.changedAt = Date.now()
  }

  /** Deletes an EVSE: gone from the set, and the next delta lists it as delete. */
  remove(evseId: string) {
    const held = this.require(evseId)
    held.deleted = true
    held.changedAt = Date.now()
  }

  /** Sets an EVSE's status, as its operator's status push would. */
  setStatus(evseId: string, status: OicpStatus) {
    this.require(evseId).status = status
  }

  private require(evseId: string): Held {
    const held = this.held.get(evseKey(evseId))
    if (!held || held.deleted) throw new RangeError(`the simulated Hubject holds no EVSE ${evseId}`)
    return held
  }

  register(app: FastifyInstance) {
    const url = (path: string) => path.replace(/\{(\w+)\}/g, ':$1')
    app.route({
      method: CALLED.pullEvseData.method,
      url: url(CALLED.pullEvseData.path),
      handler: async (request, reply) => {
        const providerId = (request.params as { providerID: string }).providerID
        const query = request.query as Json
        const answer = this.pullData(providerId, query, request.body)
        this.received.push({ operation: 'pullEvseData', providerId, query, body: request.body, httpStatus: answer.httpStatus })
        return reply.code(answer.httpStatus).send(answer.body)
      },
    })
    app.route({
      method: CALLED.pullEvseStatus.method,
      url: url(CALLED.pullEvseStatus.path),
      handler: async (request, reply) => {
        const providerId = (request.params as { providerID: string }).providerID
        const answer = this.pullStatus(providerId, request.body)
        this.received.push({ operation: 'pullEvseStatus', providerId, query: {}, body: request.body, httpStatus: answer.httpStatus })
        return reply.code(answer.httpStatus).send(answer.body)
      },
    })
  }

  private refuse(description: string) {
    return { httpStatus: 400, body: { StatusCode: { Code: '022', Description: 'Request is invalid', AdditionalInfo: description } } }
  }

  private checkProvider(providerId: string, body: unknown): string | null {
    if (!isJsonObject(body)) return 'the body must be a JSON object'
    if (typeof body.ProviderID !== 'string' || !PROVIDER_ID.test(body.ProviderID)) return 'ProviderID is required (e.g. "DE*8PS")'
    if (body.ProviderID.replace(/[*-]/g, '').toUpperCase() !== providerId.replace(/[*-]/g, '').toUpperCase())
      return `ProviderID ${body.ProviderID} differs from the path's ${providerId}`
    return null
  }

  private pullData(providerId: string, query: Json, body: unknown) {
    const problem = this.checkProvider(providerId, body)
    if (problem) return this.refuse(problem)
    const request = body as Json
    const format = request.GeoCoordinatesResponseFormat
    if (format !== 'Google' && format !== 'DecimalDegree' && format !== 'DegreeMinuteSeconds')
      return this.refuse('GeoCoordinatesResponseFormat is required: Google, DecimalDegree or DegreeMinuteSeconds')
    const page = query.page === undefined ? 0 : Number(query.page)
    const size = query.size === undefined ? 20 : Number(query.size)
    if (!Number.isInteger(page) || page < 0) return this.refuse('page must be a whole number from 0')
    if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) return this.refuse(`size must be 1 to ${MAX_PAGE_SIZE}`)
    let lastCall: number | undefined
    if (request.LastCall !== undefined) {
      lastCall = Date.parse(String(request.LastCall))
      if (!Number.isFinite(lastCall)) return this.refuse('LastCall must be a date-time')
      for (const forbidden of ['SearchCenter', 'CountryCodes', 'OperatorIds'])
        if (request[forbidden] !== undefined) return this.refuse(`LastCall cannot be combined with ${forbidden}`)
    }
    const operators = Array.isArray(request.OperatorIds)
      ? new Set(request.OperatorIds.map((o) => String(o).replace('*', '').toUpperCase()))
      : null
    const countries = Array.isArray(request.CountryCodes) ? new Set(request.CountryCodes.map(String)) : null
    const modes = Array.isArray(request.AuthenticationModes) ? request.AuthenticationModes.map(String) : null
    const selected = [...this.held.entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .filter(([, h]) => (lastCall === undefined ? !h.deleted : h.changedAt > lastCall && !(h.deleted && h.insertedAt > lastCall)))
      .filter(([, h]) => !operators || operators.has(String(h.record.OperatorID).replace('*', '').toUpperCase()))
      .filter(([, h]) => !countries || countries.has(String((h.record.Address as Json).Country)))
      .filter(([, h]) => !modes || (h.record.AuthenticationModes as string[]).some((m) => modes.includes(m)))
    const content = selected.slice(page * size, (page + 1) * size).map(([, h], i) => {
      const geo = (h.record.GeoCoordinates as { DecimalDegree: { Latitude: string; Longitude: string } }).DecimalDegree
      const chosen: GeoFormat =
        this.geoFormats === 'requested'
          ? (format as GeoFormat)
          : this.geoFormats === 'mixed'
            ? (['Google', 'DecimalDegree', 'DegreeMinuteSeconds'] as const)[(page * size + i) % 3]!
            : this.geoFormats
      const deltaType = lastCall === undefined ? undefined : h.deleted ? 'delete' : h.insertedAt > lastCall ? 'insert' : 'update'
      return {
        ...h.record,
        GeoCoordinates: geoCoordinates(Number(geo.Latitude), Number(geo.Longitude), chosen),
        ...(deltaType && { deltaType }),
      }
    })
    const totalPages = Math.ceil(selected.length / size)
    return {
      httpStatus: 200,
      body: {
        content,
        number: page,
        size,
        totalElements: selected.length,
        totalPages,
        first: page === 0,
        last: page + 1 >= totalPages,
        numberOfElements: content.length,
        StatusCode: { Code: '000', Description: null, AdditionalInfo: null },
      },
    }
  }

  private pullStatus(providerId: string, body: unknown) {
    const problem = this.checkProvider(providerId, body)
    if (problem) return this.refuse(problem)
    const wanted = (body as Json).EVSEStatus ?? (body as Json).EvseStatus
    const byOperator = new Map<string, { OperatorID: string; OperatorName: string; EvseStatusRecord: Json[] }>()
    for (const h of this.held.values()) {
      if (h.deleted || (wanted !== undefined && h.status !== wanted)) continue
      const operatorId = String(h.record.OperatorID)
      let entry = byOperator.get(operatorId)
      if (!entry) {
        entry = { OperatorID: operatorId, OperatorName: String(h.record.OperatorName ?? operatorId), EvseStatusRecord: [] }
        byOperator.set(operatorId, entry)
      }
      entry.EvseStatusRecord.push({ EvseID: h.record.EvseID, EvseStatus: h.status })
    }
    return {
      httpStatus: 200,
      body: { EvseStatuses: { OperatorEvseStatus: [...byOperator.values()] }, StatusCode: { Code: '000', Description: null } },
    }
  }
}
