import { sql } from 'kysely'
import { OpenpncError } from '../../core/errors.ts'
import { normalizeOperatorId } from '../../core/locations/location.ts'
import type { Db } from '../../infra/db/database.ts'
import type { Logger } from '../../infra/logger.ts'
import { Periodic } from '../../infra/periodic.ts'
import { removeLocations, saveLocations, type LocationEntry, type LocationKey } from '../../services/locations/store.ts'
import type { OicpClient } from './client.ts'
import {
  EvseDataError,
  evseKey,
  locationFromOicp,
  readEvseData,
  readEvseStatuses,
  type EvseData,
  type OicpLocationRecord,
} from './evse-mapping.ts'
import { isJsonObject } from '../../core/json.ts'

export interface EvseDataPullResult {
  full: boolean
  pages: number
  /** EVSE records Hubject listed */
  received: number
  /** inserted or updated */
  stored: number
  /** deleted by a delta's deltaType delete, or, after a full pull, no longer listed */
  deleted: number
  /** records we could not read (logged, skipped) */
  invalid: number
  /** locations written or removed */
  locations: number
}

export interface EvseStatusPullResult {
  received: number
  /** statuses that differed from the ones we had */
  changed: number
  invalid: number
  locations: number
}

export interface EvsePullOptions {
  /** the schedule: a delta and a status pull every this many milliseconds; 0: only when asked */
  intervalMs: number
  /** records per page, at most 2000 (OICP 2.3) */
  pageSize?: number
}

/** How long one instance may pull before another may take over (renewed on every page). */
const LEASE_MS = 10 * 60_000
// Deltas ask for a minute more than since the last pull: our clock and Hubject's may differ, and
// applying a change twice is harmless.
const LAST_CALL_OVERLAP_MS = 60_000
const MAX_PAGE_SIZE = 2000
const MAX_PAGES = 100_000

/** A place of the EVSE data: its operator (normalized) and location ID. */
interface Place {
  operatorId: string
  locationId: string
}
const placeKey = (p: Place) => `${p.operatorId}\u0000${p.locationId.toUpperCase()}`
const placeOfRow = (row: { operator_id: string; location_id: string }): Place => ({
  operatorId: row.operator_id,
  locationId: row.location_id,
})

function locationKeyOfPlace(place: Place): LocationKey {
  const [countryCode, partyId] = place.operatorId.split('*') as [string, string]
  return { countryCode, partyId, locationId: place.locationId }
}

/** Hubject answered, but its StatusCode says the request failed. */
function requireSuccess(body: Record<string, unknown>, what: string) {
  const status = body.StatusCode
  if (isJsonObject(status) && status.Code !== undefined && status.Code !== '000') {
    const description = typeof status.Description === 'string' ? `: ${status.Description}` : ''
    throw new Error(`Hubject refused the ${what} with StatusCode ${String(status.Code)}${description}`)
  }
}

/**
 * Hubject's EVSE data into the location store, we as an EMP: PullEvseData v2.3 page by page (a
 * full pull when nothing was pulled yet or when asked, then deltas since `LastCall` with their
 * insert, update and delete), and PullEvseStatus for the EVSEs' statuses. Each EVSE is kept as
 * Hubject sent it (oicp_evse_records); the locations geosearch finds are rebuilt from them for
 * just the places a page touched. One instance pulls at a time (a lease in oicp_evse_pull), and
 * within one instance pulls queue behind each other.
 */
export class OicpEvsePull {
  private readonly schedule: Periodic
  private queue: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly client: OicpClient | null,
    private readonly options: EvsePullOptions,
  ) {
    this.schedule = new Periodic(() => this.pull(), {
      everyMs: options.intervalMs,
      // The first round soon after start, so that a new installation has Hubject's chargers early.
      firstAfterMs: Math.min(options.intervalMs, 30_000),
      onError: (err) => log.warn({ err }, 'scheduled OICP EVSE pull failed'),
    })
  }

  /** True when there is a Hubject to pull from (OPENPNC_OICP_URL). */
  get enabled(): boolean {
    return this.client !== null
  }

  start() {
    if (this.enabled && this.options.intervalMs > 0) this.schedule.start()
  }

  async stop() {
    await this.schedule.stop()
    await this.queue.catch(() => undefined)
  }

  /**
   * One round: EVSE data (a full pull when `full` or when none was made yet, else a delta), then
   * the statuses. Waits for a round in flight in this instance; refused while another instance
   * holds the lease.
   */
  pull(options: { full?: boolean } = {}): Promise<{ data: EvseDataPullResult; status: EvseStatusPullResult }> {
    const run = this.queue.then(() => this.leased(() => this.round(options)))
    this.queue = run.catch(() => undefined)
    return run
  }

  private async round(options: { full?: boolean }) {
    const data = await this.pullData(options.full)
    const status = await this.pullStatus()
    return { data, status }
  }

  private requireClient(): OicpClient {
    if (!this.client)
      throw new OpenpncError('conflict', 'oicp_not_configured', 'there is no Hubject connection to pull from: set OPENPNC_OICP_URL')
    return this.client
  }

  private async leased<T>(work: () => Promise<T>): Promise<T> {
    this.requireClient()
    const taken = await sql<{ id: boolean }>`
      UPDATE oicp_evse_pull SET leased_until = now() + ${`${LEASE_MS} milliseconds`}::interval
       WHERE leased_until IS NULL OR leased_until < now() RETURNING id`.execute(this.db)
    if (taken.rows.length === 0)
      throw new OpenpncError(
        'conflict',
        'oicp_pull_in_progress',
        'another instance is pulling EVSE data from Hubject right now; try again shortly',
      )
    try {
      return await work()
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error)
      await this.db.updateTable('oicp_evse_pull').set({ last_error: message, last_error_at: new Date() }).execute()
      throw error
    } finally {
      await this.db.updateTable('oicp_evse_pull').set({ leased_until: null }).execute()
    }
  }

  private async pullData(requestedFull: boolean | undefined): Promise<EvseDataPullResult> {
    const client = this.requireClient()
    const state = await this.db.selectFrom('oicp_evse_pull').select(['last_call']).executeTakeFirstOrThrow()
    const full = requestedFull === true || state.last_call === null
    const started = new Date()
    const pullId = full
      ? Number(
          (
            await sql<{
              seq: string | number
            }>`UPDATE oicp_evse_pull SET full_pull_seq = full_pull_seq + 1 RETURNING full_pull_seq AS seq`.execute(this.db)
          ).rows[0]!.seq,
        )
      : null
    const request = {
      ProviderID: client.providerId,
      GeoCoordinatesResponseFormat: 'DecimalDegree',
      ...(!full && state.last_call && { LastCall: new Date(new Date(state.last_call).getTime() - LAST_CALL_OVERLAP_MS).toISOString() }),
    }
    const size = Math.min(this.options.pageSize ?? MAX_PAGE_SIZE, MAX_PAGE_SIZE)
    const result: EvseDataPullResult = { full, pages: 0, received: 0, stored: 0, deleted: 0, invalid: 0, locations: 0 }
    for (let page = 0; page < MAX_PAGES; page++) {
      const { body } = await client.call('pullEvseData', request, { page, size })
      requireSuccess(body, 'EVSE data pull')
      if (!Array.isArray(body.content)) throw new Error(`Hubject's EVSE data page ${page} has no content list`)
      result.pages++
      await this.applyPage(body.content, pullId, result)
      await sql`UPDATE oicp_evse_pull SET leased_until = now() + ${`${LEASE_MS} milliseconds`}::interval`.execute(this.db)
      const totalPages = typeof body.totalPages === 'number' ? body.totalPages : undefined
      if (body.last === true || body.content.length === 0 || (totalPages !== undefined && page + 1 >= totalPages)) break
    }
    if (pullId !== null) await this.removeUnlisted(pullId, result)
    const summary = JSON.stringify(result)
    await this.db
      .updateTable('oicp_evse_pull')
      .set(
        full
          ? { last_call: started, last_full_at: new Date(), last_full_result: summary, last_error: null, last_error_at: null }
          : { last_call: started, last_delta_at: new Date(), last_delta_result: summary, last_error: null, last_error_at: null },
      )
      .execute()
    this.log.info(result, 'pulled EVSE data from Hubject')
    return result
  }

  /** One page: its EVSEs upserted or deleted, and the locations they were and are in rebuilt, in one transaction. */
  private async applyPage(content: unknown[], pullId: number | null, result: EvseDataPullResult) {
    const read: EvseData[] = []
    for (const item of content) {
      result.received++
      try {
        read.push(readEvseData(item))
      } catch (error) {
        if (!(error instanceof EvseDataError)) throw error
        result.invalid++
        const evseId = isJsonObject(item) ? item.EvseID : undefined
        this.log.warn({ evseId, reason: error.message }, 'skipped an EVSE record from Hubject')
      }
    }
    // Of an EVSE listed twice on one page, the later record counts.
    const byKey = new Map(read.map((e) => [evseKey(e.evseId), e]))
    if (byKey.size === 0) return
    const keys = [...byKey.keys()]
    await this.db.transaction().execute(async (trx) => {
      const before = await trx
        .selectFrom('oicp_evse_records')
        .select(['operator_id', 'location_id'])
        .where('evse_key', 'in', keys)
        .execute()
      // where the EVSEs were, and (below) where they are now
      const places = before.map(placeOfRow)
      const deletes = keys.filter((k) => byKey.get(k)!.deltaType === 'delete')
      const upserts = keys.filter((k) => byKey.get(k)!.deltaType !== 'delete')
      if (deletes.length > 0) {
        const gone = await trx.deleteFrom('oicp_evse_records').where('evse_key', 'in', deletes).executeTakeFirst()
        result.deleted += Number(gone.numDeletedRows)
      }
      for (let i = 0; i < upserts.length; i += 500) {
        const rows = upserts.slice(i, i + 500).map((key) => {
          const evse = byKey.get(key)!
          const place = { operatorId: normalizeOperatorId(evse.operatorId)!, locationId: evse.locationId }
          places.push(place)
          const { deltaType: _, ...record } = evse.record
          return {
            evse_key: key,
            operator_id: place.operatorId,
            location_id: place.locationId,
            record: JSON.stringify({ ...record, ...(evse.operatorName !== null && { OperatorName: evse.operatorName }) }),
            full_pull_id: pullId,
          }
        })
        await trx
          .insertInto('oicp_evse_records')
          .values(rows)
          .onConflict((oc) =>
            oc.column('evse_key').doUpdateSet((eb) => ({
              operator_id: eb.ref('excluded.operator_id'),
              location_id: eb.ref('excluded.location_id'),
              record: eb.ref('excluded.record'),
              // a delta leaves the full pull that listed it as it was
              full_pull_id: sql`coalesce(excluded.full_pull_id, oicp_evse_records.full_pull_id)`,
              updated_at: sql`now()`,
            })),
          )
          .execute()
        result.stored += rows.length
      }
      result.locations += await this.rebuild(trx, places)
    })
  }

  /** After a full pull: the EVSEs it did not list are gone, and so are locations left empty. */
  private async removeUnlisted(pullId: number, result: EvseDataPullResult) {
    for (;;) {
      const done = await this.db.transaction().execute(async (trx) => {
        const gone = await sql<{ operator_id: string; location_id: string }>`
          DELETE FROM oicp_evse_records
           WHERE evse_key IN (SELECT evse_key FROM oicp_evse_records
                               WHERE full_pull_id IS DISTINCT FROM ${pullId}::bigint LIMIT 1000)
          RETURNING operator_id, location_id`.execute(trx)
        result.deleted += gone.rows.length
        result.locations += await this.rebuild(trx, gone.rows.map(placeOfRow))
        return gone.rows.length < 1000
      })
      if (done) return
    }
  }

  /** PullEvseStatus: the statuses that changed are stored and their locations rebuilt. */
  private async pullStatus(): Promise<EvseStatusPullResult> {
    const client = this.requireClient()
    const { body } = await client.call('pullEvseStatus', { ProviderID: client.providerId })
    requireSuccess(body, 'EVSE status pull')
    let parsed
    try {
      parsed = readEvseStatuses(body)
    } catch (error) {
      if (error instanceof EvseDataError) throw new Error(`Hubject's EVSE status answer: ${error.message}`)
      throw error
    }
    const result: EvseStatusPullResult = {
      received: parsed.statuses.length + parsed.invalid,
      changed: 0,
      invalid: parsed.invalid,
      locations: 0,
    }
    const latest = new Map(parsed.statuses.map((s) => [evseKey(s.evseId), s.status]))
    const entries = [...latest.entries()]
    for (let i = 0; i < entries.length; i += 5000) {
      const batch = entries.slice(i, i + 5000)
      await this.db.transaction().execute(async (trx) => {
        const changed = await sql<{ operator_id: string; location_id: string }>`
          UPDATE oicp_evse_records SET status = batch.status, updated_at = now()
            FROM unnest(${batch.map((e) => e[0])}::text[], ${batch.map((e) => e[1])}::text[]) AS batch (evse_key, status)
           WHERE oicp_evse_records.evse_key = batch.evse_key AND oicp_evse_records.status IS DISTINCT FROM batch.status
          RETURNING operator_id, location_id`.execute(trx)
        result.changed += changed.rows.length
        result.locations += await this.rebuild(trx, changed.rows.map(placeOfRow))
      })
    }
    await this.db
      .updateTable('oicp_evse_pull')
      .set({ last_status_at: new Date(), last_status_result: JSON.stringify(result) })
      .execute()
    this.log.info(result, 'pulled EVSE statuses from Hubject')
    return result
  }

  /**
   * The locations of these places from the EVSE records they hold now: written when they hold
   * any, removed when none are left. Returns how many places it wrote or removed.
   */
  private async rebuild(db: Db, named: Place[]): Promise<number> {
    const places = [...new Map(named.map((p) => [placeKey(p), p])).values()]
    if (places.length === 0) return 0
    const rows = await sql<{ operator_id: string; location_id: string; record: Record<string, unknown>; status: string | null }>`
      SELECT operator_id, location_id, record, status FROM oicp_evse_records
       WHERE (operator_id, location_id) IN (
         SELECT o, l FROM unnest(${places.map((p) => p.operatorId)}::text[], ${places.map((p) => p.locationId)}::text[]) AS p (o, l))`.execute(
      db,
    )
    const grouped = new Map<string, OicpLocationRecord>()
    for (const row of rows.rows) {
      const key = placeKey({ operatorId: row.operator_id, locationId: row.location_id })
      let stored = grouped.get(key)
      if (!stored) {
        stored = { operatorId: row.operator_id, operatorName: null, locationId: row.location_id, evses: [] }
        grouped.set(key, stored)
      }
      const record = typeof row.record === 'string' ? (JSON.parse(row.record) as Record<string, unknown>) : row.record
      if (stored.operatorName === null && typeof record.OperatorName === 'string') stored.operatorName = record.OperatorName
      stored.evses.push({ record, status: row.status })
    }
    const now = new Date().toISOString()
    const entries: LocationEntry[] = []
    for (const stored of grouped.values()) {
      try {
        entries.push({ location: locationFromOicp(stored, now), record: stored })
      } catch (error) {
        // Records were checked when read; one that still fails must not stop the others.
        this.log.warn({ operatorId: stored.operatorId, locationId: stored.locationId, err: error }, 'could not build an OICP location')
      }
    }
    await saveLocations(db, entries)
    const empty = places.filter((p) => !grouped.has(placeKey(p)))
    await removeLocations(db, 'oicp', empty.map(locationKeyOfPlace))
    return entries.length + empty.length
  }

  /** The pull as the admin API shows it. */
  async status() {
    const state = await this.db.selectFrom('oicp_evse_pull').selectAll().executeTakeFirstOrThrow()
    const counts = await sql<{ evses: string | number; locations: string | number; pnc: string | number }>`
      SELECT (SELECT count(*) FROM oicp_evse_records) AS evses,
             (SELECT count(*) FROM locations WHERE protocol = 'oicp') AS locations,
             (SELECT count(*) FROM locations WHERE protocol = 'oicp' AND plug_and_charge) AS pnc`.execute(this.db)
    const c = counts.rows[0]!
    const iso = (d: Date | null) => (d ? new Date(d).toISOString() : null)
    const json = (v: unknown) =>
      typeof v === 'string' ? (JSON.parse(v) as Record<string, unknown>) : (v as Record<string, unknown> | null)
    return {
      enabled: this.enabled,
      intervalMs: this.options.intervalMs,
      lastCall: iso(state.last_call),
      lastFullPull: state.last_full_at ? { at: iso(state.last_full_at)!, ...json(state.last_full_result) } : null,
      lastDeltaPull: state.last_delta_at ? { at: iso(state.last_delta_at)!, ...json(state.last_delta_result) } : null,
      lastStatusPull: state.last_status_at ? { at: iso(state.last_status_at)!, ...json(state.last_status_result) } : null,
      lastError: state.last_error,
      lastErrorAt: iso(state.last_error_at),
      pulling: state.leased_until !== null && new Date(state.leased_until).getTime() > Date.now(),
      evses: Number(c.evses),
      locations: Number(c.locations),
      plugAndChargeLocations: Number(c.pnc),
    }
  }
}
