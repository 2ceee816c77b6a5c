import { randomBytes } from 'node:crypto'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { OutgoingHttp } from '../infra/http/outgoing.ts'
import { ocpiCall, ocpiPages, OcpiClientError, type OcpiCallOptions, type OcpiResponse } from '../protocols/ocpi/client.ts'
import type { Credentials } from '../protocols/ocpi/credentials.ts'
import type { OcpiToken } from '../protocols/ocpi/tokens.ts'
import type { OcpiLocation } from '../protocols/ocpi/locations-mapping.ts'
import type { OcpiVersion } from '../protocols/ocpi/protocol.ts'
import { ocpiTimestamp, tokenCandidates, type Party } from '../protocols/ocpi/transport.ts'

export interface CpoSimulatorOptions {
  host?: string
  port?: number
  countryCode?: string
  partyId?: string
  name?: string
  /** the OCPI versions this CPO speaks */
  versions?: OcpiVersion[]
  /** largest page of its locations list (X-Limit) */
  pageLimit?: number
}

/** What the CPO received on its tokens Receiver interface, in arrival order. */
export interface ReceivedPush {
  method: 'PUT' | 'PATCH'
  uid: string
  type: string | undefined
  body: Partial<OcpiToken>
  at: Date
}

const newToken = () => randomBytes(24).toString('base64url')

/** One request the simulator sent while charging, as sent: tests hold each to the official schemas. */
export interface SentRequest {
  method: 'PUT' | 'PATCH' | 'POST'
  url: string
  body: Record<string, unknown>
  /** the eMSP's answer */
  httpStatus: number
  answer: Record<string, unknown>
  headers: Record<string, string | string[] | undefined>
}

/** Where a simulated session charges: the CDR's cdr_location (the first of this CPO's locations, else a made-up one). */
export interface ChargingPlace {
  location_id: string
  evse_uid: string
  evse_id: string
  connector_id: string
  address: string
  city: string
  country: string
  coordinates: { latitude: string; longitude: string }
  connector_standard: string
  connector_format: 'SOCKET' | 'CABLE'
  connector_power_type: string
}

export interface ChargeOptions {
  /** the token type the station read (as for authorize) */
  type?: string
  /** energy charged in all, kWh */
  kwh?: number
  /** how the session ends: COMPLETED (and a CDR follows) or INVALID (no CDR) */
  end?: 'COMPLETED' | 'INVALID'
  /** price per kWh excl. VAT, and the VAT rate */
  pricePerKwh?: number
  vatRate?: number
  currency?: string
  place?: Partial<ChargingPlace>
  /** the session's and the CDR's IDs (default: random) */
  sessionId?: string
  cdrId?: string
}

export interface ChargeResult {
  authorization: Awaited<ReturnType<CpoSimulator['authorize']>>
  /** absent: not ALLOWED, nothing was sent */
  sessionId?: string
  session?: Record<string, unknown>
  cdr?: Record<string, unknown>
  /** the Location the eMSP answered the CDR with */
  cdrLocation?: string
  sent: SentRequest[]
}

const round = (n: number, digits = 4) => Math.round(n * 10 ** digits) / 10 ** digits

/**
 * A small but real OCPI 2.2.1 / 2.3.0 CPO: its own HTTP server with versions, credentials and a
 * tokens Receiver, and a client side that registers with an eMSP, pulls its tokens and asks it to
 * authorize. Used by the tests, the README walk-through and the benchmarks; `openpnc sim cpo`
 * runs one.
 */
export class CpoSimulator {
  readonly party: Party
  readonly tokens = new Map<string, OcpiToken>()
  readonly pushes: ReceivedPush[] = []
  /**
   * The simulator's own client: it calls the eMSP its operator names, usually on this machine, so
   * private addresses are allowed, and a whole token list may come in one answer.
   */
  readonly http = new OutgoingHttp({ allowPrivateAddresses: true, maxAnswerBytes: 512 * 1024 * 1024, timeoutMs: 60_000 })
  /** what this CPO's Locations Sender lists */
  locations: OcpiLocation[] = []
  /** false: every request is answered 503, as by a CPO that is down */
  available = true
  private app: FastifyInstance | undefined
  private baseUrl = ''
  /** tokens the eMSP may present to us: a Token A we handed out, or its credentials token */
  private readonly acceptedTokens = new Set<string>()
  /** what we present to the eMSP */
  private emsp:
    | { token: string; versionsUrl: string; version: OcpiVersion; endpoints: Array<{ identifier: string; role: string; url: string }> }
    | undefined

  constructor(private readonly options: CpoSimulatorOptions = {}) {
    this.party = { country_code: options.countryCode ?? 'NL', party_id: options.partyId ?? 'CPO' }
  }

  /**
   * An OCPI call through the simulator's client. The other side's status_message is added to an
   * error's message: a tool trusts the server it talks to, and its user wants to know why.
   */
  private async call<T>(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    url: string,
    options: Omit<OcpiCallOptions, 'http'>,
  ): Promise<OcpiResponse<T>> {
    try {
      return await ocpiCall<T>(method, url, { ...options, http: this.http })
    } catch (error) {
      if (error instanceof OcpiClientError && error.statusMessage) {
        throw new OcpiClientError(`${error.message}: ${error.statusMessage}`, error.httpStatus, error.ocpiStatus, error)
      }
      throw error
    }
  }

  get versionsUrl() {
    return `${this.baseUrl}/ocpi/cpo/versions`
  }

  get registeredVersion() {
    return this.emsp?.version
  }

  /** The credentials token the eMSP gave us (to call it with). */
  get emspToken() {
    return this.emsp?.token
  }

  private get versions(): OcpiVersion[] {
    return this.options.versions ?? ['2.2.1', '2.3.0']
  }

  private credentials(token: string): Credentials {
    return {
      token,
      url: this.versionsUrl,
      roles: [
        {
          role: 'CPO',
          party_id: this.party.party_id,
          country_code: this.party.country_code,
          business_details: { name: this.options.name ?? 'Simulated CPO' },
        },
      ],
    }
  }

  private envelope(data: unknown, status = 1000, message?: string) {
    return {
      ...(data !== undefined && { data }),
      status_code: status,
      ...(message && { status_message: message }),
      timestamp: ocpiTimestamp(),
    }
  }

  async start(): Promise<string> {
    const app = Fastify({ logger: false })
    this.app = app
    app.addHook('onRequest', async (request: FastifyRequest, reply: FastifyReply) => {
      if (!this.available) return reply.code(503).send(this.envelope(undefined, 3000, 'CPO is down'))
      const presented = tokenCandidates(request.headers.authorization)
      if (!presented.some((t) => this.acceptedTokens.has(t))) {
        return reply.code(401).send(this.envelope(undefined, 2000, 'unknown token'))
      }
    })
    app.get('/ocpi/cpo/versions', async () =>
      this.envelope(this.versions.map((version) => ({ version, url: `${this.baseUrl}/ocpi/cpo/${version}` }))),
    )
    for (const version of this.versions) {
      const url = (p: string) => `${this.baseUrl}/ocpi/cpo/${version}/${p}`
      app.get(`/ocpi/cpo/${version}`, async () =>
        this.envelope({
          version,
          endpoints: [
            { identifier: 'credentials', role: 'SENDER', url: url('credentials') },
            { identifier: 'credentials', role: 'RECEIVER', url: url('credentials') },
            { identifier: 'tokens', role: 'RECEIVER', url: url('tokens') },
            { identifier: 'locations', role: 'SENDER', url: url('locations') },
          ],
        }),
      )
      // The eMSP registers with us (we handed it a Token A).
      app.post(`/ocpi/cpo/${version}/credentials`, async (request, reply) => {
        const theirs = request.body as Credentials
        const used = tokenCandidates(request.headers.authorization).find((t) => this.acceptedTokens.has(t))!
        try {
          const versions = await this.call<Array<{ version: string; url: string }>>('GET', theirs.url, {
            token: theirs.token,
            style: 'base64',
          })
          const chosen = versions.data.find((v) => v.version === version)
          if (!chosen) return reply.code(400).send(this.envelope(undefined, 3002, 'unsupported version'))
          const details = await this.call<{ endpoints: Array<{ identifier: string; role: string; url: string }> }>('GET', chosen.url, {
            token: theirs.token,
            style: 'base64',
          })
          this.emsp = { token: theirs.token, versionsUrl: theirs.url, version, endpoints: details.data.endpoints }
        } catch (error) {
          return reply.code(400).send(this.envelope(undefined, 3001, (error as Error).message))
        }
        this.acceptedTokens.delete(used)
        const ours = newToken()
        this.acceptedTokens.add(ours)
        return this.envelope(this.credentials(ours))
      })
      // Locations Sender: pages by offset/limit, newest last, with Link, X-Limit and X-Total-Count.
      app.get(`/ocpi/cpo/${version}/locations`, async (request, reply) => {
        const query = request.query as { offset?: string; limit?: string; date_from?: string; date_to?: string }
        const max = this.options.pageLimit ?? 100
        const limit = Math.min(Number(query.limit ?? max) || max, max)
        const offset = Number(query.offset ?? 0) || 0
        const from = query.date_from ? Date.parse(query.date_from) : -Infinity
        const to = query.date_to ? Date.parse(query.date_to) : Infinity
        const matching = this.locations
          .filter((l) => Date.parse(l.last_updated) >= from && Date.parse(l.last_updated) < to)
          .sort((a, b) => Date.parse(a.last_updated) - Date.parse(b.last_updated) || a.id.localeCompare(b.id))
        const page = matching.slice(offset, offset + limit)
        reply.header('x-total-count', String(matching.length)).header('x-limit', String(limit))
        if (offset + page.length < matching.length) {
          const next = new URLSearchParams({ offset: String(offset + page.length), limit: String(limit) })
          if (query.date_from) next.set('date_from', query.date_from)
          if (query.date_to) next.set('date_to', query.date_to)
          reply.header('link', `<${url('locations')}?${next}>; rel="next"`)
        }
        return this.envelope(page)
      })
      app.get(`/ocpi/cpo/${version}/tokens/:cc/:party/:uid`, async (request, reply) => {
        const { cc, party, uid } = request.params as { cc: string; party: string; uid: string }
        const token = this.tokens.get(`${cc}/${party}/${uid}`)
        if (!token) return reply.code(404).send(this.envelope(undefined, 2004, 'Unknown Token'))
        return this.envelope(token)
      })
      app.put(`/ocpi/cpo/${version}/tokens/:cc/:party/:uid`, async (request, reply) => {
        const { cc, party, uid } = request.params as { cc: string; party: string; uid: string }
        const body = request.body as OcpiToken
        if (body?.uid !== uid || body.country_code !== cc || body.party_id !== party) {
          return reply.code(400).send(this.envelope(undefined, 2001, 'URL and body disagree'))
        }
        this.pushes.push({ method: 'PUT', uid, type: (request.query as { type?: string }).type, body, at: new Date() })
        const known = this.tokens.has(`${cc}/${party}/${uid}`)
        this.tokens.set(`${cc}/${party}/${uid}`, body)
        return reply.code(known ? 200 : 201).send(this.envelope(undefined))
      })
      app.patch(`/ocpi/cpo/${version}/tokens/:cc/:party/:uid`, async (request, reply) => {
        const { cc, party, uid } = request.params as { cc: string; party: string; uid: string }
        const body = request.body as Partial<OcpiToken>
        const existing = this.tokens.get(`${cc}/${party}/${uid}`)
        if (!existing) return reply.code(404).send(this.envelope(undefined, 2004, 'Unknown Token'))
        if (!body?.last_updated) return reply.code(400).send(this.envelope(undefined, 2001, 'last_updated is required'))
        this.pushes.push({ method: 'PATCH', uid, type: (request.query as { type?: string }).type, body, at: new Date() })
        this.tokens.set(`${cc}/${party}/${uid}`, { ...existing, ...body } as OcpiToken)
        return this.envelope(undefined)
      })
    }
    const address = await app.listen({ host: this.options.host ?? '127.0.0.1', port: this.options.port ?? 0 })
    this.baseUrl = address
    return address
  }

  async stop() {
    await this.app?.close()
  }

  /** A Token A for an eMSP that will register with us (`/admin/v1/ocpi/partners/{id}/register`). */
  issueTokenA(): string {
    const token = newToken()
    this.acceptedTokens.add(token)
    return token
  }

  /** We register with the eMSP using the Token A its admin gave us. */
  async registerWith(emspVersionsUrl: string, tokenA: string, style: 'base64' | 'raw' = 'base64'): Promise<OcpiVersion> {
    const versions = await this.call<Array<{ version: string; url: string }>>('GET', emspVersionsUrl, { token: tokenA, style })
    const common = versions.data.filter((v) => this.versions.includes(v.version as OcpiVersion))
    const chosen = common.sort((a, b) => b.version.localeCompare(a.version))[0]
    if (!chosen) throw new Error('no common OCPI version')
    const details = await this.call<{ endpoints: Array<{ identifier: string; role: string; url: string }> }>('GET', chosen.url, {
      token: tokenA,
      style,
    })
    const credentialsUrl = details.data.endpoints.find((e) => e.identifier === 'credentials')?.url
    if (!credentialsUrl) throw new Error('the eMSP lists no credentials endpoint')
    const ours = newToken()
    this.acceptedTokens.add(ours)
    const theirs = await this.call<Credentials>('POST', credentialsUrl, { token: tokenA, style, body: this.credentials(ours) })
    this.emsp = {
      token: theirs.data.token,
      versionsUrl: theirs.data.url,
      version: chosen.version as OcpiVersion,
      endpoints: details.data.endpoints,
    }
    return this.emsp.version
  }

  /** PUT credentials: rotate our token and let the eMSP re-read our endpoints. */
  async updateCredentials(): Promise<void> {
    const emsp = this.requireEmsp()
    const ours = newToken()
    this.acceptedTokens.add(ours)
    const url = emsp.endpoints.find((e) => e.identifier === 'credentials')!.url
    const theirs = await this.call<Credentials>('PUT', url, { token: emsp.token, style: 'base64', body: this.credentials(ours) })
    emsp.token = theirs.data.token
  }

  /** DELETE credentials: we leave the eMSP; it stops calling us, our token stops working there. */
  async unregister(): Promise<void> {
    const emsp = this.requireEmsp()
    await this.call('DELETE', this.endpoint('credentials'), { token: emsp.token, style: 'base64' })
    this.emsp = undefined
  }

  private requireEmsp() {
    if (!this.emsp) throw new Error('not registered with an eMSP')
    return this.emsp
  }

  private endpoint(identifier: string) {
    const url = this.requireEmsp().endpoints.find((e) => e.identifier === identifier)?.url
    if (!url) throw new Error(`the eMSP lists no ${identifier} endpoint`)
    return url
  }

  private routing(emspParty?: Party) {
    return { from: this.party, ...(emspParty && { to: emspParty }) }
  }

  /** PUTs locations into the eMSP's Locations Receiver, a few at a time. */
  async putLocations(locations: OcpiLocation[], concurrency = 8): Promise<number> {
    const emsp = this.requireEmsp()
    const base = this.endpoint('locations')
    let sent = 0
    for (let i = 0; i < locations.length; i += concurrency) {
      await Promise.all(
        locations.slice(i, i + concurrency).map(async (location) => {
          await this.call('PUT', `${base}/${location.country_code}/${location.party_id}/${encodeURIComponent(location.id)}`, {
            token: emsp.token,
            style: 'base64',
            body: location,
            ...this.routing(),
          })
          sent++
        }),
      )
    }
    return sent
  }

  /** POST tokens/{uid}/authorize on the eMSP, as a station would trigger it. */
  async authorize(uid: string, options: { type?: string; location?: { location_id: string; evse_uids?: string[] } } = {}) {
    const emsp = this.requireEmsp()
    const url = `${this.endpoint('tokens')}/${encodeURIComponent(uid)}/authorize${options.type ? `?type=${options.type}` : ''}`
    try {
      const response = await this.call<{ allowed: string; token: OcpiToken; authorization_reference: string; location?: unknown }>(
        'POST',
        url,
        {
          token: emsp.token,
          style: 'base64',
          body: options.location,
          ...this.routing(),
        },
      )
      return { httpStatus: response.httpStatus, statusCode: 1000, data: response.data, headers: response.headers }
    } catch (error) {
      if (error instanceof OcpiClientError)
        return { httpStatus: error.httpStatus, statusCode: error.ocpiStatus, data: undefined, headers: {} }
      throw error
    }
  }

  /**
   * A whole charging session as a station and this CPO's back office report it: the real-time
   * authorization, then (if ALLOWED) the Session PUT (PENDING), PATCHes as it charges (ACTIVE, kWh,
   * charging periods), its end (COMPLETED, or INVALID), and the CDR POSTed to the eMSP's CDRs
   * Receiver (total_cost, total_energy, cdr_token, cdr_location, charging_periods and the
   * eMSP's authorization_reference). Every request and answer is kept in `sent`.
   */
  async charge(uid: string, options: ChargeOptions = {}): Promise<ChargeResult> {
    const place: ChargingPlace = { ...this.defaultPlace(), ...options.place }
    const authorization = await this.authorize(uid, {
      type: options.type,
      location: { location_id: place.location_id, evse_uids: [place.evse_uid] },
    })
    const sent: SentRequest[] = []
    if (authorization.data?.allowed !== 'ALLOWED') return { authorization, sent }
    const { token, authorization_reference } = authorization.data
    const emsp = this.requireEmsp()
    const send = async (method: SentRequest['method'], url: string, body: Record<string, unknown>) => {
      const response = await this.call<unknown>(method, url, { token: emsp.token, style: 'base64', body, ...this.routing() })
      sent.push({ method, url, body, httpStatus: response.httpStatus, answer: response.envelope, headers: response.headers })
      return response
    }
    const sessionId = options.sessionId ?? `SIM-${randomBytes(8).toString('hex').toUpperCase()}`
    const sessionUrl = `${this.endpoint('sessions')}/${this.party.country_code}/${this.party.party_id}/${encodeURIComponent(sessionId)}`
    const kwh = options.kwh ?? 21.5
    const price = options.pricePerKwh ?? 0.39
    const vat = options.vatRate ?? 0.21
    const currency = options.currency ?? 'EUR'
    // The session is written as if it had run for the last 40 minutes, in two charging periods.
    const end = new Date(Math.floor(Date.now() / 1000) * 1000)
    const start = new Date(end.getTime() - 40 * 60_000)
    const middle = new Date(end.getTime() - 20 * 60_000)
    const at = (d: Date) => d.toISOString().replace('.000Z', 'Z')
    const cdrToken = {
      country_code: token.country_code,
      party_id: token.party_id,
      uid: token.uid,
      type: token.type,
      contract_id: token.contract_id,
    }
    const period = (from: Date, energy: number) => ({ start_date_time: at(from), dimensions: [{ type: 'ENERGY', volume: round(energy) }] })
    // Price is the one type the two versions spell differently: 2.2.1 excl./incl. VAT, 2.3.0 before taxes and the taxes.
    const cost = (energy: number) =>
      emsp.version === '2.2.1'
        ? { excl_vat: round(energy * price, 2), incl_vat: round(energy * price * (1 + vat), 2) }
        : {
            before_taxes: round(energy * price, 2),
            taxes: [{ name: 'VAT', percentage: round(vat * 100, 2), amount: round(energy * price * vat, 2) }],
          }
    let session: Record<string, unknown> = {
      country_code: this.party.country_code,
      party_id: this.party.party_id,
      id: sessionId,
      start_date_time: at(start),
      kwh: 0,
      cdr_token: cdrToken,
      auth_method: 'AUTH_REQUEST',
      authorization_reference,
      location_id: place.location_id,
      evse_uid: place.evse_uid,
      connector_id: place.connector_id,
      currency,
      status: 'PENDING',
      last_updated: at(start),
    }
    await send('PUT', sessionUrl, session)
    const patch = async (changes: Record<string, unknown>, last: Date) => {
      const body = { ...changes, last_updated: at(last) }
      await send('PATCH', sessionUrl, body)
      const { charging_periods: added, ...rest } = body as { charging_periods?: unknown[] }
      session = { ...session, ...rest, ...(added && { charging_periods: [...((session.charging_periods as unknown[]) ?? []), ...added] }) }
    }
    await patch({ status: 'ACTIVE' }, start)
    await patch({ kwh: round(kwh / 2), charging_periods: [period(start, kwh / 2)], total_cost: cost(kwh / 2) }, middle)
    if (options.end === 'INVALID') {
      await patch({ status: 'INVALID', end_date_time: at(end) }, end)
      return { authorization, sessionId, session, sent }
    }
    await patch({ kwh, charging_periods: [period(middle, kwh / 2)], total_cost: cost(kwh) }, end)
    await patch({ status: 'COMPLETED', end_date_time: at(end) }, end)
    const cdr: Record<string, unknown> = {
      country_code: this.party.country_code,
      party_id: this.party.party_id,
      id: options.cdrId ?? `CDR-${sessionId}`.slice(0, 36),
      start_date_time: at(start),
      end_date_time: at(end),
      session_id: sessionId,
      cdr_token: cdrToken,
      auth_method: 'AUTH_REQUEST',
      authorization_reference,
      cdr_location: {
        id: place.location_id,
        address: place.address,
        city: place.city,
        country: place.country,
        coordinates: place.coordinates,
        evse_uid: place.evse_uid,
        evse_id: place.evse_id,
        connector_id: place.connector_id,
        connector_standard: place.connector_standard,
        connector_format: place.connector_format,
        connector_power_type: place.connector_power_type,
      },
      currency,
      charging_periods: [period(start, kwh / 2), period(middle, kwh / 2)],
      total_cost: cost(kwh),
      total_energy: kwh,
      total_energy_cost: cost(kwh),
      total_time: round((end.getTime() - start.getTime()) / 3_600_000),
      last_updated: at(end),
    }
    const posted = await send('POST', this.endpoint('cdrs'), cdr)
    const location = posted.headers.location
    return { authorization, sessionId, session, cdr, cdrLocation: Array.isArray(location) ? location[0] : location, sent }
  }

  /** POSTs a CDR as given (a repeat, a changed one): for tests of the eMSP's CDRs Receiver. */
  async postCdr(cdr: Record<string, unknown>) {
    const emsp = this.requireEmsp()
    try {
      const response = await this.call<unknown>('POST', this.endpoint('cdrs'), {
        token: emsp.token,
        style: 'base64',
        body: cdr,
        ...this.routing(),
      })
      return { httpStatus: response.httpStatus, statusCode: 1000, location: response.headers.location as string | undefined }
    } catch (error) {
      if (error instanceof OcpiClientError)
        return { httpStatus: error.httpStatus, statusCode: error.ocpiStatus, message: error.statusMessage }
      throw error
    }
  }

  private defaultPlace(): ChargingPlace {
    const location = this.locations[0]
    const evse = location?.evses?.[0]
    const connector = evse?.connectors[0]
    return {
      location_id: location?.id ?? 'SIM-LOC-1',
      evse_uid: evse?.uid ?? 'SIM-EVSE-1',
      evse_id: evse?.evse_id ?? `${this.party.country_code}*${this.party.party_id}*E1*1`,
      connector_id: connector?.id ?? '1',
      address: location?.address ?? 'Stationsplein 1',
      city: location?.city ?? 'Amsterdam',
      country: location?.country ?? 'NLD',
      coordinates: location?.coordinates ?? { latitude: '52.378900', longitude: '4.900300' },
      connector_standard: connector?.standard ?? 'IEC_62196_T2_COMBO',
      connector_format: connector?.format ?? 'CABLE',
      connector_power_type: connector?.power_type ?? 'DC',
    }
  }

  /** Pulls the eMSP's whole token list, page by page through its Link headers. */
  async pullTokens(options: { limit?: number; dateFrom?: Date } = {}): Promise<OcpiToken[]> {
    const emsp = this.requireEmsp()
    const params = new URLSearchParams()
    if (options.limit) params.set('limit', String(options.limit))
    if (options.dateFrom) params.set('date_from', options.dateFrom.toISOString())
    const all: OcpiToken[] = []
    for await (const page of ocpiPages<OcpiToken>(`${this.endpoint('tokens')}${params.size ? `?${params}` : ''}`, {
      http: this.http,
      token: emsp.token,
      style: 'base64',
      ...this.routing(),
    })) {
      all.push(...page)
    }
    return all
  }
}
