import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import { removeLocationsNotIn } from '../../services/locations/store.ts'
import { validateLocation } from './location-validation.ts'
import { saveOcpiLocations } from './locations.ts'
import type { OcpiLocation } from './locations-mapping.ts'
import type { OutgoingHttp } from '../../infra/http/outgoing.ts'
import type { Logger } from '../../infra/logger.ts'
import { Periodic } from '../../infra/periodic.ts'
import { ocpiPages } from './client.ts'
import { partyName, type OcpiPartners } from './partners.ts'
import { partnerEndpoint, partnerHasEndpoint } from './protocol.ts'
import { calledUrl } from './transport.ts'

export interface PullResult {
  received: number
  stored: number
  /** objects we could not read (logged, skipped) */
  invalid: number
  /** full pulls only: locations the CPO no longer lists */
  removed: number
  full: boolean
}

/**
 * Pulls CPOs' locations from their Locations Sender: every page through its Link headers (so its
 * X-Limit is honoured), a delta by `date_from` on a schedule, and now and then a full pull that
 * replaces the CPO's set: what it no longer lists is gone. One bad object does not stop a pull.
 */
export class LocationPull {
  private readonly schedule: Periodic

  constructor(
    private readonly db: Db,
    private readonly partners: OcpiPartners,
    private readonly log: Logger,
    private readonly options: { intervalMs: number; http: OutgoingHttp },
  ) {
    this.schedule = new Periodic(() => this.pullAll(), {
      everyMs: options.intervalMs,
      firstAfterMs: options.intervalMs,
      onError: (err) => log.warn({ err }, 'scheduled location pull failed'),
    })
  }

  async pull(partnerId: string, options: { full?: boolean } = {}): Promise<PullResult> {
    const partner = await this.partners.get(partnerId)
    const endpoint = partnerEndpoint(partner.endpoints, 'getLocations')
    if (partner.status !== 'registered' || endpoint === undefined)
      throw new Error('the partner is not registered or has no locations Sender')
    if (partner.suspendedAt) throw new Error('the partner is suspended')
    const token = await this.partners.outgoingToken(partnerId)
    const pulledAt = (
      await this.db.selectFrom('ocpi_partners').select('locations_pulled_at').where('id', '=', partnerId).executeTakeFirstOrThrow()
    ).locations_pulled_at
    const full = options.full ?? pulledAt === null
    const started = new Date()
    const url = calledUrl('getLocations', endpoint, {}, { date_from: !full && pulledAt ? new Date(pulledAt).toISOString() : undefined })
    // Parties are CiStrings: the granted ones are stored upper-case.
    const own = new Set(partner.parties.map(partyName))
    const kept: Array<{ countryCode: string; partyId: string; locationId: string }> = []
    const result: PullResult = { received: 0, stored: 0, invalid: 0, removed: 0, full }
    const pages = ocpiPages<unknown>(url, { http: this.options.http, token, style: partner.authorizationStyle })
    for await (const page of logFailure(pages, (err) => this.log.warn({ partnerId, err }, 'location pull stopped'))) {
      const valid: OcpiLocation[] = []
      for (const item of page) {
        result.received++
        try {
          const location = validateLocation(item)
          if (!own.has(`${location.country_code}*${location.party_id}`.toUpperCase()))
            throw new Error(`party ${location.country_code}*${location.party_id} is not this CPO's`)
          valid.push(location)
          kept.push({ countryCode: location.country_code, partyId: location.party_id, locationId: location.id })
        } catch (error) {
          result.invalid++
          this.log.warn({ partnerId, err: error }, 'skipped a location from a pull')
        }
      }
      await saveOcpiLocations(this.db, partnerId, valid)
      result.stored += valid.length
    }
    if (full) result.removed = await removeLocationsNotIn(this.db, partnerId, kept)
    await this.db.updateTable('ocpi_partners').set({ locations_pulled_at: started }).where('id', '=', partnerId).execute()
    this.log.info({ partnerId, ...result }, 'pulled locations')
    return result
  }

  /** Delta pulls of every CPO with a locations Sender, every `intervalMs`. */
  start() {
    this.schedule.start()
  }

  async stop() {
    await this.schedule.stop()
  }

  private async pullAll() {
    const partners = await sql<{ id: string }>`
      SELECT id FROM ocpi_partners
       WHERE status = 'registered' AND suspended_at IS NULL AND ${partnerHasEndpoint('getLocations')}`.execute(this.db)
    for (const { id } of partners.rows) {
      await this.pull(id).catch((err) => this.log.warn({ partnerId: id, err }, 'location pull failed'))
    }
  }
}

/** Passes pages on; a failure (a page that could not be read, a Link refused) is logged, then raised. */
async function* logFailure<T>(pages: AsyncGenerator<T>, log: (error: unknown) => void): AsyncGenerator<T> {
  try {
    yield* pages
  } catch (error) {
    log(error)
    throw error
  }
}
