import type { EvseStatus } from '../core/locations/location.ts'
import type { OcpiConnector, OcpiEvse, OcpiHours, OcpiLocation, OcpiRegularHours } from '../protocols/ocpi/locations-mapping.ts'
import type { OcpiVersion } from '../protocols/ocpi/protocol.ts'

/**
 * A simulated European charging network as a CPO would send it over OCPI: locations clustered
 * around real city centres and along motorway corridors, AC on the street and in car parks, DC at
 * supermarkets, hubs and motorway services, several operators, and about one EVSE in five
 * Plug&Charge capable. Pure and deterministic: the same options give the same locations.
 */
export interface GenerateLocationsOptions {
  count: number
  /** any integer; default 1 */
  seed?: number
  /** stamp every location with this CPO party instead of each operator's own */
  countryCode?: string
  partyId?: string
  version: OcpiVersion
  /** timestamps fall in the 90 days before it; fixed by default so that the seed alone fixes the output */
  now?: Date
}

interface City {
  name: string
  /** ISO 3166-1 alpha-3, as Location.country wants it */
  country: string
  timeZone: string
  latitude: number
  longitude: number
  /** relative share of the network */
  weight: number
  /** spread of locations around the centre */
  sigmaKm: number
  /** `#` a digit, `@` a letter */
  postalCode: string
  /** bearings (degrees from north, clockwise, wrapping) that are land, where sea or a lake is close */
  land?: ReadonlyArray<readonly [number, number]>
}

const defineCity = (
  name: string,
  country: string,
  timeZone: string,
  [latitude, longitude]: readonly [number, number],
  shape: Pick<City, 'weight' | 'sigmaKm' | 'postalCode' | 'land'>,
): City => ({ name, country, timeZone, latitude, longitude, ...shape })

const CITIES = {
  berlin: defineCity('Berlin', 'DEU', 'Europe/Berlin', [52.52, 13.405], { weight: 8, sigmaKm: 8, postalCode: '10###' }),
  hamburg: defineCity('Hamburg', 'DEU', 'Europe/Berlin', [53.5511, 9.9937], { weight: 6, sigmaKm: 6, postalCode: '22###' }),
  munich: defineCity('München', 'DEU', 'Europe/Berlin', [48.1351, 11.582], { weight: 6, sigmaKm: 6, postalCode: '80###' }),
  frankfurt: defineCity('Frankfurt am Main', 'DEU', 'Europe/Berlin', [50.1109, 8.6821], { weight: 4, sigmaKm: 5, postalCode: '60###' }),
  cologne: defineCity('Köln', 'DEU', 'Europe/Berlin', [50.9375, 6.9603], { weight: 4, sigmaKm: 5, postalCode: '50###' }),
  stuttgart: defineCity('Stuttgart', 'DEU', 'Europe/Berlin', [48.7758, 9.1829], { weight: 3, sigmaKm: 5, postalCode: '70###' }),
  paris: defineCity('Paris', 'FRA', 'Europe/Paris', [48.8566, 2.3522], { weight: 10, sigmaKm: 8, postalCode: '750##' }),
  lyon: defineCity('Lyon', 'FRA', 'Europe/Paris', [45.764, 4.8357], { weight: 3, sigmaKm: 5, postalCode: '6900#' }),
  amsterdam: defineCity('Amsterdam', 'NLD', 'Europe/Amsterdam', [52.3676, 4.9041], { weight: 7, sigmaKm: 5, postalCode: '10## @@' }),
  rotterdam: defineCity('Rotterdam', 'NLD', 'Europe/Amsterdam', [51.9244, 4.4777], { weight: 4, sigmaKm: 5, postalCode: '30## @@' }),
  utrecht: defineCity('Utrecht', 'NLD', 'Europe/Amsterdam', [52.0907, 5.1214], { weight: 3, sigmaKm: 4, postalCode: '35## @@' }),
  brussels: defineCity('Bruxelles', 'BEL', 'Europe/Brussels', [50.8503, 4.3517], { weight: 4, sigmaKm: 5, postalCode: '1###' }),
  antwerp: defineCity('Antwerpen', 'BEL', 'Europe/Brussels', [51.2194, 4.4025], { weight: 3, sigmaKm: 4, postalCode: '2###' }),
  luxembourg: defineCity('Luxembourg', 'LUX', 'Europe/Luxembourg', [49.6116, 6.1319], { weight: 1, sigmaKm: 4, postalCode: 'L-1###' }),
  vienna: defineCity('Wien', 'AUT', 'Europe/Vienna', [48.2082, 16.3738], { weight: 5, sigmaKm: 6, postalCode: '1##0' }),
  zurich: defineCity('Zürich', 'CHE', 'Europe/Zurich', [47.3769, 8.5417], { weight: 3, sigmaKm: 4, postalCode: '80##' }),
  milan: defineCity('Milano', 'ITA', 'Europe/Rome', [45.4642, 9.19], { weight: 5, sigmaKm: 6, postalCode: '201##' }),
  rome: defineCity('Roma', 'ITA', 'Europe/Rome', [41.9028, 12.4964], { weight: 5, sigmaKm: 6, postalCode: '001##' }),
  madrid: defineCity('Madrid', 'ESP', 'Europe/Madrid', [40.4168, -3.7038], { weight: 6, sigmaKm: 7, postalCode: '280##' }),
  // The Mediterranean is 2-3 km to the south-east.
  barcelona: defineCity('Barcelona', 'ESP', 'Europe/Madrid', [41.3874, 2.1686], {
    weight: 5,
    sigmaKm: 4,
    postalCode: '080##',
    land: [[225, 405]],
  }),
  // The Tagus is to the south, the Atlantic to the west.
  lisbon: defineCity('Lisboa', 'PRT', 'Europe/Lisbon', [38.7223, -9.1393], {
    weight: 3,
    sigmaKm: 4,
    postalCode: '1###-###',
    land: [[290, 440]],
  }),
  london: defineCity('London', 'GBR', 'Europe/London', [51.5074, -0.1278], { weight: 10, sigmaKm: 8, postalCode: '@@# #@@' }),
  // The Øresund is a few km to the east.
  copenhagen: defineCity('København', 'DNK', 'Europe/Copenhagen', [55.6761, 12.5683], {
    weight: 4,
    sigmaKm: 4,
    postalCode: '1###',
    land: [[170, 370]],
  }),
  // The Oslofjord is to the south.
  oslo: defineCity('Oslo', 'NOR', 'Europe/Oslo', [59.9139, 10.7522], { weight: 6, sigmaKm: 5, postalCode: '0###', land: [[250, 470]] }),
  // Archipelago to the east, Lake Mälaren to the west.
  stockholm: defineCity('Stockholm', 'SWE', 'Europe/Stockholm', [59.3293, 18.0686], {
    weight: 5,
    sigmaKm: 5,
    postalCode: '1## ##',
    land: [
      [330, 420],
      [160, 210],
    ],
  }),
  warsaw: defineCity('Warszawa', 'POL', 'Europe/Warsaw', [52.2297, 21.0122], { weight: 3, sigmaKm: 6, postalCode: '0#-###' }),
  prague: defineCity('Praha', 'CZE', 'Europe/Prague', [50.0755, 14.4378], { weight: 3, sigmaKm: 5, postalCode: '1## ##' }),
}

type CityKey = keyof typeof CITIES

/** The city centres the network clusters around, for tests and demos. */
export const SIM_CITIES: ReadonlyArray<{ name: string; latitude: number; longitude: number }> = Object.values(CITIES)

/** Motorways between cities (no sea on the way); `border`: where the straight line leaves `from`'s country, as a fraction. */
const CORRIDORS: ReadonlyArray<{ from: CityKey; to: CityKey; road: string; border?: number }> = [
  { from: 'berlin', to: 'hamburg', road: 'A24' },
  { from: 'berlin', to: 'munich', road: 'A9' },
  { from: 'hamburg', to: 'cologne', road: 'A1' },
  { from: 'munich', to: 'stuttgart', road: 'A8' },
  { from: 'stuttgart', to: 'frankfurt', road: 'A5' },
  { from: 'frankfurt', to: 'cologne', road: 'A3' },
  { from: 'cologne', to: 'brussels', road: 'E40', border: 0.37 },
  { from: 'amsterdam', to: 'brussels', road: 'E19', border: 0.6 },
  { from: 'brussels', to: 'paris', road: 'E19', border: 0.25 },
  { from: 'paris', to: 'lyon', road: 'A6' },
  { from: 'zurich', to: 'milan', road: 'A2', border: 0.8 },
  { from: 'milan', to: 'rome', road: 'A1' },
  { from: 'madrid', to: 'barcelona', road: 'A-2' },
  { from: 'lisbon', to: 'madrid', road: 'E90', border: 0.38 },
  { from: 'munich', to: 'vienna', road: 'E60', border: 0.3 },
  { from: 'prague', to: 'berlin', road: 'E55', border: 0.27 },
  { from: 'berlin', to: 'warsaw', road: 'E30', border: 0.15 },
  { from: 'oslo', to: 'stockholm', road: 'E18', border: 0.16 },
]

type Kind = 'street' | 'parking' | 'retail' | 'hub' | 'corridor'

// Shares of locations; most are small AC sites, which is why DC is about a third of EVSEs.
const KINDS: ReadonlyArray<readonly [Kind, number]> = [
  ['street', 52],
  ['parking', 26],
  ['retail', 10],
  ['hub', 4],
  ['corridor', 8],
]

interface Operator {
  name: string
  countryCode: string
  partyId: string
  /** countries (alpha-3) it operates in; everywhere when absent */
  home?: readonly string[]
  kinds: readonly Kind[]
}

// Fictional operators; the network should look real without claiming to be anyone's.
const OPERATORS: readonly Operator[] = [
  { name: 'Voltaro', countryCode: 'DE', partyId: 'VLT', kinds: ['street', 'parking', 'retail', 'hub', 'corridor'] },
  { name: 'Autobahn Fast', countryCode: 'DE', partyId: 'ABF', kinds: ['hub', 'corridor'] },
  { name: 'EuroHub Charging', countryCode: 'BE', partyId: 'EHC', kinds: ['retail', 'hub', 'corridor'] },
  { name: 'CityPlug', countryCode: 'NL', partyId: 'CPL', kinds: ['street', 'parking'] },
  { name: 'SuperMart Charge', countryCode: 'NL', partyId: 'SMC', kinds: ['retail'] },
  { name: 'Stadtwerk Strom', countryCode: 'DE', partyId: 'SWS', home: ['DEU', 'AUT', 'LUX'], kinds: ['street', 'parking'] },
  { name: 'Borne Électrique', countryCode: 'FR', partyId: 'BEL', home: ['FRA', 'BEL', 'LUX'], kinds: ['street', 'parking', 'retail'] },
  { name: 'Laadpaal Lokaal', countryCode: 'NL', partyId: 'LPL', home: ['NLD', 'BEL'], kinds: ['street', 'parking'] },
  { name: 'Rete Rapida', countryCode: 'IT', partyId: 'RRP', home: ['ITA', 'CHE'], kinds: ['street', 'parking', 'hub', 'corridor'] },
  { name: 'Iberia Carga', countryCode: 'ES', partyId: 'IBC', home: ['ESP', 'PRT'], kinds: ['street', 'parking', 'retail', 'corridor'] },
  {
    name: 'Nordlys Lading',
    countryCode: 'NO',
    partyId: 'NLL',
    home: ['NOR', 'SWE', 'DNK'],
    kinds: ['street', 'parking', 'hub', 'corridor'],
  },
  { name: 'Alpenstrom', countryCode: 'AT', partyId: 'ALP', home: ['AUT', 'CHE', 'DEU'], kinds: ['street', 'parking', 'corridor'] },
  { name: 'ParkCharge', countryCode: 'GB', partyId: 'PKC', home: ['GBR'], kinds: ['street', 'parking', 'retail', 'hub'] },
  { name: 'Wisła Energia', countryCode: 'PL', partyId: 'WSE', home: ['POL', 'CZE'], kinds: ['street', 'parking', 'corridor'] },
]

const STREETS: Record<string, readonly string[]> = {
  DEU: ['Hauptstraße', 'Bahnhofstraße', 'Gartenstraße', 'Schillerstraße', 'Goethestraße', 'Lindenallee', 'Industriestraße'],
  FRA: ['Rue de la République', 'Avenue Jean Jaurès', 'Rue Victor Hugo', 'Boulevard Pasteur', 'Rue de la Gare'],
  NLD: ['Kerkstraat', 'Stationsweg', 'Dorpsstraat', 'Molenweg', 'Schoolstraat', 'Parallelweg'],
  BEL: ['Stationsstraat', 'Rue de la Station', 'Kerkstraat', 'Avenue Louise', 'Chaussée de Waterloo'],
  LUX: ["Route d'Arlon", 'Avenue de la Liberté', 'Rue de Hollerich', 'Boulevard Royal'],
  AUT: ['Hauptstraße', 'Bahnhofstraße', 'Wiener Straße', 'Linzer Straße', 'Mariahilfer Straße'],
  CHE: ['Bahnhofstrasse', 'Seestrasse', 'Hauptstrasse', 'Dorfstrasse', 'Badenerstrasse'],
  ITA: ['Via Roma', 'Via Garibaldi', 'Via Giuseppe Mazzini', 'Corso Italia', 'Viale Europa'],
  ESP: ['Calle Mayor', 'Avenida de la Constitución', 'Calle Real', 'Gran Vía', 'Calle de Alcalá'],
  PRT: ['Rua Augusta', 'Avenida da Liberdade', 'Rua do Comércio', 'Avenida da República'],
  GBR: ['High Street', 'Station Road', 'Church Street', 'Victoria Road', 'Park Lane'],
  DNK: ['Vesterbrogade', 'Nørregade', 'Østergade', 'Strandvejen', 'Amagerbrogade'],
  NOR: ['Storgata', 'Kirkeveien', 'Trondheimsveien', 'Drammensveien', 'Ringveien'],
  SWE: ['Storgatan', 'Drottninggatan', 'Kungsgatan', 'Sveavägen', 'Götgatan'],
  POL: ['ulica Marszałkowska', 'Aleje Jerozolimskie', 'ulica Puławska', 'ulica Grochowska'],
  CZE: ['Vinohradská', 'Národní', 'Sokolovská', 'Evropská', 'Plzeňská'],
}

const DEFAULT_NOW = Date.UTC(2025, 0, 1)
const DAY_MS = 86_400_000
const KM_PER_DEGREE = 111.32

// mulberry32: tiny, fast and good enough for test data; not for anything secret.
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

class Dice {
  constructor(readonly next: () => number) {}
  chance(p: number): boolean {
    return this.next() < p
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!
  }
  weighted<T>(items: ReadonlyArray<readonly [T, number]>): T {
    let roll = this.next() * items.reduce((sum, [, w]) => sum + w, 0)
    for (const [item, w] of items) {
      roll -= w
      if (roll < 0) return item
    }
    return items[items.length - 1]![0]
  }
  /** standard normal (Box-Muller) */
  normal(): number {
    return Math.sqrt(-2 * Math.log(1 - this.next())) * Math.cos(2 * Math.PI * this.next())
  }
}

const CITY_WEIGHTS = (Object.keys(CITIES) as CityKey[]).map((key) => [key, CITIES[key].weight] as const)

/** OCPI-shaped locations, valid against the official schema of `version`. */
export function generateLocations(options: GenerateLocationsOptions): OcpiLocation[] {
  const { count, seed = 1, version } = options
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`count must be an integer >= 0, got ${count}`)
  if (!Number.isInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`)
  if (options.countryCode !== undefined && !/^[A-Z]{2}$/.test(options.countryCode)) {
    throw new RangeError(`countryCode must be 2 upper-case letters, got ${options.countryCode}`)
  }
  if (options.partyId !== undefined && !/^[A-Z0-9]{3}$/.test(options.partyId)) {
    throw new RangeError(`partyId must be 3 upper-case letters or digits, got ${options.partyId}`)
  }
  const dice = new Dice(mulberry32(seed))
  const now = options.now?.getTime() ?? DEFAULT_NOW
  const seedTag = (seed >>> 0).toString(36).toUpperCase()
  const locations: OcpiLocation[] = []
  for (let i = 0; i < count; i++) {
    locations.push(generateLocation(dice, { ...options, now, id: `SIM${seedTag}-${String(i + 1).padStart(6, '0')}`, version }))
  }
  return locations
}

interface Context {
  version: OcpiVersion
  countryCode?: string
  partyId?: string
  now: number
  id: string
}

interface Site {
  city: City
  latitude: number
  longitude: number
  name: string
  address: string
}

function generateLocation(dice: Dice, ctx: Context): OcpiLocation {
  const kind = dice.weighted(KINDS)
  const site = kind === 'corridor' ? corridorSite(dice) : urbanSite(dice, kind)
  const operator = dice.weighted(
    OPERATORS.filter((op) => op.kinds.includes(kind) && (!op.home || op.home.includes(site.city.country))).map(
      (op) => [op, op.home ? 3 : 2] as const,
    ),
  )
  const countryCode = ctx.countryCode ?? operator.countryCode
  const partyId = ctx.partyId ?? operator.partyId
  const evses = generateEvses(dice, kind, ctx, `${countryCode}*${partyId}*E${ctx.id.replace('-', '')}`)
  const opening = openingTimes(dice, kind)
  const facilities = facilitiesOf(dice, kind)
  return {
    country_code: countryCode,
    party_id: partyId,
    id: ctx.id,
    // A few private sites: the CPO sends them, we must not show them.
    publish: !dice.chance(0.01),
    name: site.name,
    address: site.address,
    city: site.city.name,
    postal_code: postalCode(dice, site.city.postalCode),
    country: site.city.country,
    coordinates: { latitude: site.latitude.toFixed(6), longitude: site.longitude.toFixed(6) },
    parking_type: parkingType(dice, kind),
    evses,
    ...(ctx.version === '2.3.0' && dice.chance(0.5) ? { help_phone: `+800 ${dice.int(1000, 9999)} ${dice.int(1000, 9999)}` } : {}),
    operator: { name: operator.name, website: `https://${operator.partyId.toLowerCase()}.example.com` },
    ...(facilities.length > 0 ? { facilities } : {}),
    time_zone: site.city.timeZone,
    opening_times: opening,
    ...(opening.twentyfourseven ? {} : { charging_when_closed: false }),
    ...(dice.chance(0.3) ? { energy_mix: { is_green_energy: true } } : {}),
    last_updated: latest([timestamp(dice, ctx.now), ...evses.map((e) => e.last_updated)]),
  }
}

function urbanSite(dice: Dice, kind: Kind): Site {
  const city: City = CITIES[dice.weighted(CITY_WEIGHTS)]
  let km = Math.abs(dice.normal() * city.sigmaKm)
  // Keep the cluster tight: the suburbs, not the next city.
  while (km > 25) km = Math.abs(dice.normal() * city.sigmaKm)
  const arcs: ReadonlyArray<readonly [number, number]> = city.land ?? [[0, 360]]
  const [from, to] = dice.weighted(arcs.map((arc) => [arc, arc[1] - arc[0]] as const))
  const bearing = (from + dice.next() * (to - from)) % 360
  const { latitude, longitude } = offset(city.latitude, city.longitude, km, bearing)
  const street = dice.pick(STREETS[city.country]!)
  const label = { street: '', parking: 'Car park ', retail: 'Supermarket ', hub: 'Charging hub ', corridor: '' }[kind]
  return { city, latitude, longitude, name: `${label}${city.name} ${street}`, address: `${street} ${dice.int(1, 180)}` }
}

function corridorSite(dice: Dice): Site {
  const corridor = dice.pick(CORRIDORS)
  const a = CITIES[corridor.from]
  const b = CITIES[corridor.to]
  const t = 0.08 + dice.next() * 0.84
  const lengthKm = Math.hypot(
    (b.latitude - a.latitude) * KM_PER_DEGREE,
    (b.longitude - a.longitude) * KM_PER_DEGREE * Math.cos(a.latitude * (Math.PI / 180)),
  )
  const km = Math.round(t * lengthKm)
  // Services sit beside the road, not exactly on the straight line.
  const bearing = (Math.atan2(b.longitude - a.longitude, b.latitude - a.latitude) * 180) / Math.PI + 90
  const point = offset(
    a.latitude + t * (b.latitude - a.latitude),
    a.longitude + t * (b.longitude - a.longitude),
    dice.normal() * 1.5,
    bearing,
  )
  // The city on this side of the border stands in for the town, which the simulator does not know.
  const city = t < (corridor.border ?? 0.5) ? a : b
  return { city, ...point, name: `${corridor.road} services ${a.name}-${b.name} km ${km}`, address: `${corridor.road} km ${km}` }
}

function offset(latitude: number, longitude: number, km: number, bearingDeg: number): { latitude: number; longitude: number } {
  const rad = (bearingDeg * Math.PI) / 180
  return {
    latitude: latitude + (km * Math.cos(rad)) / KM_PER_DEGREE,
    longitude: longitude + (km * Math.sin(rad)) / (KM_PER_DEGREE * Math.cos((latitude * Math.PI) / 180)),
  }
}

function postalCode(dice: Dice, pattern: string): string {
  return pattern.replace(/[#@]/g, (c) => (c === '#' ? String(dice.int(0, 9)) : String.fromCharCode(65 + dice.int(0, 25))))
}

function parkingType(dice: Dice, kind: Kind): string {
  if (kind === 'street') return 'ON_STREET'
  if (kind === 'corridor') return 'ALONG_MOTORWAY'
  if (kind === 'parking') return dice.pick(['PARKING_GARAGE', 'UNDERGROUND_GARAGE', 'PARKING_LOT'])
  return 'PARKING_LOT'
}

function facilitiesOf(dice: Dice, kind: Kind): string[] {
  const options: Record<Kind, readonly string[]> = {
    street: ['BUS_STOP', 'TRAM_STOP'],
    parking: ['MALL', 'TRAIN_STATION', 'HOTEL'],
    retail: ['SUPERMARKET'],
    hub: ['CAFE', 'RESTAURANT', 'WIFI', 'MALL'],
    corridor: ['FUEL_STATION', 'RESTAURANT', 'CAFE', 'WIFI'],
  }
  return options[kind].filter((_, i) => (kind === 'retail' ? true : dice.chance(i === 0 ? 0.5 : 0.3)))
}

function openingTimes(dice: Dice, kind: Kind): OcpiHours {
  const limited = { street: 0, parking: 0.45, retail: 0.6, hub: 0.05, corridor: 0 }[kind]
  if (!dice.chance(limited)) return { twentyfourseven: true }
  const [open, close] = dice.pick([
    ['07:00', '22:00'],
    ['06:00', '23:00'],
    ['08:00', '20:00'],
  ] as const)
  const days: OcpiRegularHours[] = [1, 2, 3, 4, 5, 6].map((weekday) => ({ weekday, period_begin: open, period_end: close }))
  // Sundays: short hours, or closed.
  if (dice.chance(0.5)) days.push({ weekday: 7, period_begin: '09:00', period_end: '18:00' })
  return { twentyfourseven: false, regular_hours: days }
}

// ---- EVSEs and connectors ----

type Charger = 'ac' | 'dc' | 'triple'
type Planned = { charger: Charger; kw: number }

function evsePlan(dice: Dice, kind: Kind): Planned[] {
  const ac = (): Planned => ({ charger: 'ac', kw: dice.chance(0.6) ? 11 : 22 })
  const dc = (choices: readonly number[]): Planned => ({ charger: 'dc', kw: dice.pick(choices) })
  // Older 50 kW units often carry CCS, CHAdeMO and a Type 2 cable on one EVSE.
  const fifty = (): Planned => (dice.chance(0.35) ? { charger: 'triple', kw: 50 } : dc([50]))
  switch (kind) {
    case 'street':
      return Array.from({ length: dice.chance(0.3) ? 1 : 2 }, ac)
    case 'parking': {
      const plan = Array.from({ length: dice.int(2, 6) }, ac)
      if (dice.chance(0.25)) plan.push(...Array.from({ length: dice.int(1, 2) }, fifty))
      return plan
    }
    case 'retail': {
      const plan = Array.from({ length: dice.int(1, 3) }, () => (dice.chance(0.4) ? fifty() : dc([75, 100, 150])))
      if (dice.chance(0.3)) plan.push(ac())
      return plan
    }
    case 'hub':
      return Array.from({ length: dice.int(4, 8) }, () => dc([150, 150, 300, 350]))
    case 'corridor':
      if (dice.chance(0.2)) return Array.from({ length: dice.int(1, 2) }, fifty)
      return Array.from({ length: dice.int(4, 8) }, () => dc([150, 300, 350, 350]))
  }
}

const STATUSES: ReadonlyArray<readonly [EvseStatus, number]> = [
  ['AVAILABLE', 62],
  ['CHARGING', 24],
  ['OUTOFORDER', 4],
  ['INOPERATIVE', 3],
  ['UNKNOWN', 3],
  ['BLOCKED', 1.5],
  ['RESERVED', 1],
  ['PLANNED', 1],
  ['REMOVED', 0.5],
]

// Tuned so that about one EVSE in five is Plug&Charge capable: mostly DC, as in the field.
const PNC_SHARE = { ac: 0.1, dc: 0.4, triple: 0.4 }

function generateEvses(dice: Dice, kind: Kind, ctx: Context, evseIdPrefix: string): OcpiEvse[] {
  return evsePlan(dice, kind).map(({ charger, kw }, index) => {
    const n = index + 1
    const pnc = dice.chance(PNC_SHARE[charger])
    const connectors = connectorsOf(dice, charger, kw, ctx)
    const capabilities = ['RFID_READER', 'REMOTE_START_STOP_CAPABLE']
    if (charger === 'ac') capabilities.push('UNLOCK_CAPABLE')
    // AFIR: new DC chargers take payment cards.
    else capabilities.push('CREDIT_CARD_PAYABLE', 'CONTACTLESS_CARD_SUPPORT')
    if (dice.chance(0.3)) capabilities.push('CHARGING_PROFILE_CAPABLE')
    if (dice.chance(0.1)) capabilities.push('RESERVABLE')
    if (pnc) {
      if (ctx.version === '2.3.0') {
        // The 2.3.0 signal sits on the connectors that speak ISO 15118: CCS, or Type 2 on AC EVSEs.
        const values = dice.weighted([
          [['ISO_15118_2_PLUG_AND_CHARGE'], 70],
          [['ISO_15118_2_PLUG_AND_CHARGE', 'ISO_15118_20_PLUG_AND_CHARGE'], 25],
          [['ISO_15118_20_PLUG_AND_CHARGE'], 5],
        ] as const)
        for (const connector of connectors) {
          if (connector.standard === (charger === 'ac' ? 'IEC_62196_T2' : 'IEC_62196_T2_COMBO')) connector.capabilities = [...values]
        }
      } else {
        capabilities.push('PLUG_AND_CHARGE_CAPABLE') // 2.2.1 has no standard signal
      }
    }
    const evse: OcpiEvse = {
      uid: `${ctx.id}-${n}`,
      evse_id: `${evseIdPrefix}*${n}`,
      status: dice.weighted(STATUSES),
      capabilities,
      connectors,
      physical_reference: String(n),
      last_updated: '',
    }
    evse.last_updated = latest([timestamp(dice, ctx.now), ...connectors.map((c) => c.last_updated)])
    return evse
  })
}

function connectorsOf(dice: Dice, charger: Charger, kw: number, ctx: Context): OcpiConnector[] {
  const stamp = () => timestamp(dice, ctx.now)
  if (charger === 'ac') {
    // 3 x 230 V (line to neutral) x 16 A = 11 kW, x 32 A = 22 kW.
    const type2: OcpiConnector = {
      id: '1',
      standard: 'IEC_62196_T2',
      format: dice.chance(0.85) ? 'SOCKET' : 'CABLE',
      power_type: 'AC_3_PHASE',
      max_voltage: 230,
      max_amperage: kw === 11 ? 16 : 32,
      // 11 040 W computed; some CPOs state the rated 11 000 W
      ...(dice.chance(0.4) ? { max_electric_power: kw * 1000 } : {}),
      last_updated: stamp(),
    }
    const connectors = [type2]
    if (dice.chance(0.08)) {
      connectors.push({
        id: '2',
        standard: 'DOMESTIC_F',
        format: 'SOCKET',
        power_type: 'AC_1_PHASE',
        max_voltage: 230,
        max_amperage: 16,
        last_updated: stamp(),
      })
    }
    return connectors
  }
  // DC limits: the power electronics cap the product of voltage and current.
  const [volts, amps] = kw <= 50 ? [500, 125] : kw <= 150 ? [920, 250] : [920, 500]
  const ccs: OcpiConnector = {
    id: '1',
    standard: 'IEC_62196_T2_COMBO',
    format: 'CABLE',
    power_type: 'DC',
    max_voltage: volts,
    max_amperage: amps,
    max_electric_power: kw * 1000,
    last_updated: stamp(),
  }
  if (charger === 'dc') return [ccs]
  return [
    ccs,
    {
      id: '2',
      standard: 'CHADEMO',
      format: 'CABLE',
      power_type: 'DC',
      max_voltage: 500,
      max_amperage: 125,
      max_electric_power: 50000,
      last_updated: stamp(),
    },
    // 3 x 230 V x 63 A = 43.5 kW
    {
      id: '3',
      standard: 'IEC_62196_T2',
      format: 'CABLE',
      power_type: 'AC_3_PHASE',
      max_voltage: 230,
      max_amperage: 63,
      max_electric_power: 43000,
      last_updated: stamp(),
    },
  ]
}

/** A whole second in the 90 days before now, in OCPI's UTC form. */
function timestamp(dice: Dice, now: number): string {
  const at = now - Math.floor(dice.next() * 90 * DAY_MS)
  return new Date(at - (at % 1000)).toISOString().replace('.000Z', 'Z')
}

// A parent's last_updated covers its children's changes (OCPI: "or one of its EVSEs or Connectors").
const latest = (stamps: string[]) => stamps.reduce((a, b) => (b > a ? b : a))
