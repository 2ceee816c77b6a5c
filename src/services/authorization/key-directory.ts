import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import type { ChargingKeyType } from '../../infra/db/schema.ts'
import type { Logger } from '../../infra/logger.ts'
import { Outbox, type OutboxFollower } from '../../infra/outbox/outbox.ts'
import { Periodic } from '../../infra/periodic.ts'
import type { KeyCard } from '../keys/roaming-key.ts'

export interface KeyRef {
  emaidIdentity?: string | null
  rfidUid?: string | null
}

interface OrganizationFacts {
  id: string
  name: string
  enabled: boolean
}

/**
 * A key as the directory holds it: one flat object with times as numbers, so that a million keys
 * take a few hundred megabytes. The organization is shared, so its changes reach every key at once.
 */
class DirectoryKey implements KeyCard {
  constructor(
    readonly id: string,
    readonly seq: number,
    private readonly organization: OrganizationFacts,
    readonly type: ChargingKeyType,
    readonly contractId: string,
    readonly emaidIdentity: string,
    readonly keyIdentifier: string | null,
    readonly visualNumber: string | null,
    readonly enabled: boolean,
    private readonly validFromMs: number,
    private readonly validToMs: number | null,
    private readonly updatedAtMs: number,
    private readonly deletedAtMs: number | null,
    private readonly userDeletedAtMs: number | null,
  ) {}
  /** A card keeps the key's own facts under `key`: here they are this object's. */
  get key(): this {
    return this
  }
  get organizationId() {
    return this.organization.id
  }
  get organizationName() {
    return this.organization.name
  }
  get organizationEnabled() {
    return this.organization.enabled
  }
  get validFrom() {
    return new Date(this.validFromMs)
  }
  get validTo() {
    return this.validToMs === null ? null : new Date(this.validToMs)
  }
  get updatedAt() {
    return new Date(this.updatedAtMs)
  }
  get deletedAt() {
    return this.deletedAtMs === null ? null : new Date(this.deletedAtMs)
  }
  get userDeletedAt() {
    return this.userDeletedAtMs === null ? null : new Date(this.userDeletedAtMs)
  }
  get live() {
    return this.deletedAtMs === null
  }
}

interface DirectoryRow {
  id: string
  seq: string
  organization_id: string
  type: ChargingKeyType
  contract_id: string
  emaid_identity: string
  rfid_uid: string | null
  visual_number: string | null
  enabled: boolean
  valid_from_ms: number
  valid_to_ms: number | null
  updated_at_ms: number
  deleted_at_ms: number | null
  user_deleted_at_ms: number | null
}

const epochMs = (column: string) => sql<number>`(extract(epoch from ${sql.ref(column)}) * 1000)::float8`

/** The columns the directory keeps, for the bulk load and for single lookups alike. */
const directoryRows = (db: Db) =>
  db
    .selectFrom('charging_keys as k')
    .innerJoin('users as u', 'u.id', 'k.user_id')
    .select([
      'k.id',
      'k.seq',
      'k.organization_id',
      'k.type',
      'k.contract_id',
      'k.emaid_identity',
      'k.rfid_uid',
      'k.visual_number',
      'k.enabled',
      epochMs('k.valid_from').as('valid_from_ms'),
      epochMs('k.valid_to').as('valid_to_ms'),
      epochMs('k.updated_at').as('updated_at_ms'),
      epochMs('k.deleted_at').as('deleted_at_ms'),
      epochMs('u.deleted_at').as('user_deleted_at_ms'),
    ])

const IDENTITY = '\u0000identity'
const RFID = '\u0000rfid'
const AFTER_SEQ = '\u0000after'
const LOAD_BATCH = 20_000

function lookupQuery(db: Db, byIdentity: boolean, byRfid: boolean) {
  return directoryRows(db)
    .where((eb) => {
      const matches = []
      if (byIdentity) matches.push(eb('k.emaid_identity', '=', IDENTITY))
      if (byRfid) matches.push(eb('k.rfid_uid', '=', RFID))
      return eb.or(matches)
    })
    .orderBy(sql`k.deleted_at IS NULL`, 'desc')
    .orderBy('k.seq', 'desc')
    .limit(50)
    .compile()
}

const batchQuery = (db: Db) => directoryRows(db).where('k.seq', '>', AFTER_SEQ).orderBy('k.seq').limit(LOAD_BATCH).compile()

/** Live keys first, then the newest: the order the decision looks at them in. */
const byPreference = (a: DirectoryKey, b: DirectoryKey) => Number(b.live) - Number(a.live) || b.seq - a.seq

const NONE: readonly DirectoryKey[] = Object.freeze([])

/**
 * Every key behind an identifier, for the authorization hot path: held in memory, and never stale.
 * - At start every key is loaded (in batches); after that a known or unknown identifier is
 *   answered without the database.
 * - A change made through this instance invalidates its identifiers before the change's response
 *   is sent; the next lookup reads them from the database.
 * - Changes made anywhere else (another instance, SQL) are read from the key-event outbox every
 *   `pollMs` and invalidate the same way, so they count within about that time.
 * - A read never stores what may predate a change: it is dropped when its identifier was
 *   invalidated while the read ran.
 * - While the outbox cannot be read, every lookup goes to the database.
 */
export class KeyDirectory {
  private byIdentity = new Map<string, readonly DirectoryKey[]>()
  private byRfid = new Map<string, readonly DirectoryKey[]>()
  private readonly organizations = new Map<string, OrganizationFacts>()
  /** counts organizationChanged calls, so that a read of organizations that raced one is not kept */
  private organizationChanges = 0
  /** True once every key is in the maps: then an identifier that is not there is unknown. */
  private complete = false
  /** Invalidated identifiers that the maps do not hold yet (read from the database on demand). */
  private dirty = new Set<string>()
  private epoch = 0
  /** identifier -> epoch of its last invalidation, kept while a read that began earlier runs */
  private readonly invalidatedAt = new Map<string, number>()
  /** start epoch -> reads in flight that began then */
  private readonly readsInFlight = new Map<number, number>()
  private reloading: Promise<void> | undefined
  private stopped = false
  /** This process's own position in the key-event outbox (every instance sees every change). */
  private readonly outbox: OutboxFollower
  private polled = false
  private polling: Periodic | undefined
  private organizationsVersion = ''
  /** False while the outbox cannot be read: then nothing is served from memory. */
  private fresh = false
  private compiled: Map<string, ReturnType<typeof lookupQuery>> | undefined
  private compiledBatch: ReturnType<typeof batchQuery> | undefined

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly options: { pollMs?: number; loadAll?: boolean; reloadAfter?: number } = {},
  ) {
    this.outbox = new Outbox(db).follower()
  }

  /** True once every key has been loaded (readiness). */
  get loaded(): boolean {
    return this.complete
  }

  /** How many keys are in memory, and whether that is all of them. */
  get state() {
    let keys = 0
    for (const cards of this.byIdentity.values()) keys += cards.length
    return { complete: this.complete, keys, pending: this.dirty.size }
  }

  /** Every key (live first, newest first) that the identifier names: an EMAID identity and/or an RFID UID. */
  async lookup(ref: KeyRef): Promise<readonly KeyCard[]> {
    return this.held(ref) ?? this.read(ref)
  }

  /** The keys, when memory can answer without the database (the hot path's synchronous way). */
  held(ref: KeyRef): readonly KeyCard[] | undefined {
    if (!ref.emaidIdentity && !ref.rfidUid) return NONE
    return this.fresh ? this.inMemory(ref) : undefined
  }

  private inMemory(ref: KeyRef): readonly DirectoryKey[] | undefined {
    let byIdentity: readonly DirectoryKey[] | undefined
    let byRfid: readonly DirectoryKey[] | undefined
    if (ref.emaidIdentity) {
      if (this.dirty.has(ref.emaidIdentity)) return undefined
      byIdentity = this.byIdentity.get(ref.emaidIdentity)
      if (!byIdentity && !this.complete) return undefined
    }
    if (ref.rfidUid) {
      if (this.dirty.has(ref.rfidUid)) return undefined
      byRfid = this.byRfid.get(ref.rfidUid)
      if (!byRfid && !this.complete) return undefined
    }
    if (!byRfid || byRfid.length === 0) return byIdentity ?? NONE
    if (!byIdentity || byIdentity.length === 0) return byRfid
    const merged = [...byIdentity, ...byRfid.filter((k) => !byIdentity.includes(k))]
    return merged.sort(byPreference)
  }

  private beginRead(): number {
    this.readsInFlight.set(this.epoch, (this.readsInFlight.get(this.epoch) ?? 0) + 1)
    return this.epoch
  }

  private endRead(started: number) {
    const left = this.readsInFlight.get(started)! - 1
    if (left > 0) this.readsInFlight.set(started, left)
    else this.readsInFlight.delete(started)
    if (this.readsInFlight.size === 0) this.invalidatedAt.clear()
  }

  private changedSince(identifier: string, started: number) {
    return (this.invalidatedAt.get(identifier) ?? -1) > started
  }

  /** Organizations are held apart from the keys (a handful against a million): read them when a key names a new one. */
  private async knowOrganizationsOf(rows: DirectoryRow[]) {
    if (rows.some((row) => !this.organizations.has(row.organization_id))) await this.loadOrganizations()
  }

  private toKey(row: DirectoryRow): DirectoryKey {
    return new DirectoryKey(
      row.id,
      Number(row.seq),
      this.organizations.get(row.organization_id)!,
      row.type,
      row.contract_id,
      row.emaid_identity,
      row.rfid_uid,
      row.visual_number,
      row.enabled,
      row.valid_from_ms,
      row.valid_to_ms,
      row.updated_at_ms,
      row.deleted_at_ms,
      row.user_deleted_at_ms,
    )
  }

  /** From the database; stored unless the identifier changed meanwhile. */
  private async read(ref: KeyRef): Promise<readonly DirectoryKey[]> {
    const shape = `${ref.emaidIdentity ? 'E' : ''}${ref.rfidUid ? 'R' : ''}`
    this.compiled ??= new Map()
    let compiled = this.compiled.get(shape)
    if (!compiled) this.compiled.set(shape, (compiled = lookupQuery(this.db, Boolean(ref.emaidIdentity), Boolean(ref.rfidUid))))
    const parameters = compiled.parameters.map((p) => (p === IDENTITY ? ref.emaidIdentity : p === RFID ? ref.rfidUid : p))
    const started = this.beginRead()
    try {
      const { rows } = await this.db.executeQuery<DirectoryRow>({ ...compiled, parameters })
      await this.knowOrganizationsOf(rows)
      const keys = rows.map((row) => this.toKey(row))
      const identity = ref.emaidIdentity
      if (identity && !this.changedSince(identity, started)) {
        this.store(
          this.byIdentity,
          identity,
          keys.filter((k) => k.emaidIdentity === identity),
        )
      }
      const rfid = ref.rfidUid
      if (rfid && !this.changedSince(rfid, started)) {
        this.store(
          this.byRfid,
          rfid,
          keys.filter((k) => k.keyIdentifier === rfid),
        )
      }
      return keys
    } finally {
      this.endRead(started)
    }
  }

  private store(map: Map<string, readonly DirectoryKey[]>, identifier: string, keys: DirectoryKey[]) {
    // Complete maps need no entry for an unknown identifier; otherwise it remembers the miss.
    if (keys.length > 0 || !this.complete) map.set(identifier, keys)
    else map.delete(identifier)
    this.dirty.delete(identifier)
  }

  /** Forget what is held about these EMAID identities / RFID UIDs: the next lookup reads them again. */
  invalidate(identifiers: Iterable<string | null | undefined>) {
    this.epoch++
    for (const identifier of identifiers) {
      if (!identifier) continue
      this.byIdentity.delete(identifier)
      this.byRfid.delete(identifier)
      if (this.complete) this.dirty.add(identifier)
      if (this.readsInFlight.size > 0) this.invalidatedAt.set(identifier, this.epoch)
    }
  }

  /** An organization changed through this instance: every key of it answers with the new facts at once. */
  organizationChanged(organization: OrganizationFacts) {
    this.organizationChanges++
    const known = this.organizations.get(organization.id)
    if (known) {
      known.name = organization.name
      known.enabled = organization.enabled
    }
  }

  private async loadOrganizations(): Promise<void> {
    const changesBefore = this.organizationChanges
    const rows = await this.db.selectFrom('organizations').select(['id', 'name', 'enabled']).execute()
    // A change reported while this read ran may be newer than what it read: read again.
    if (this.organizationChanges !== changesBefore) return this.loadOrganizations()
    for (const row of rows) {
      const known = this.organizations.get(row.id)
      if (known) {
        known.name = row.name
        known.enabled = row.enabled
      } else this.organizations.set(row.id, { ...row })
    }
  }

  /** Reads every key, in batches, and swaps the maps in; what changed meanwhile is read again on demand. */
  reload(): Promise<void> {
    this.reloading ??= (async () => {
      const started = this.beginRead()
      const began = performance.now()
      try {
        const byIdentity = new Map<string, DirectoryKey[]>()
        const byRfid = new Map<string, DirectoryKey[]>()
        const add = (map: Map<string, DirectoryKey[]>, identifier: string, key: DirectoryKey) => {
          const keys = map.get(identifier)
          if (keys) keys.push(key)
          else map.set(identifier, [key])
        }
        this.compiledBatch ??= batchQuery(this.db)
        const compiled = this.compiledBatch
        let after = '0'
        let count = 0
        for (;;) {
          if (this.stopped) return
          const parameters = compiled.parameters.map((p) => (p === AFTER_SEQ ? after : p))
          const { rows } = await this.db.executeQuery<DirectoryRow>({ ...compiled, parameters })
          await this.knowOrganizationsOf(rows)
          for (const row of rows) {
            const key = this.toKey(row)
            add(byIdentity, key.emaidIdentity, key)
            if (key.keyIdentifier) add(byRfid, key.keyIdentifier, key)
          }
          count += rows.length
          if (rows.length < LOAD_BATCH) break
          after = String(rows.at(-1)!.seq)
        }
        for (const map of [byIdentity, byRfid]) for (const keys of map.values()) if (keys.length > 1) keys.sort(byPreference)
        this.byIdentity = byIdentity
        this.byRfid = byRfid
        this.dirty = new Set()
        for (const [identifier, at] of this.invalidatedAt) if (at > started) this.dirty.add(identifier)
        this.complete = true
        this.log.info({ keys: count, ms: Math.round(performance.now() - began) }, 'key directory loaded')
      } finally {
        this.endRead(started)
        this.reloading = undefined
      }
    })()
    return this.reloading
  }

  /** Reads the outbox for changes since the last poll (by transaction, so none is skipped). */
  async poll(): Promise<void> {
    const row = await this.outbox.step(async (events) => {
      const organizations = sql<string>`(SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM organizations)`
      if (events === null)
        return (
          await sql<{ identities: null; organizations: string }>`SELECT NULL AS identities, ${organizations} AS organizations`.execute(
            this.db,
          )
        ).rows[0]!
      const result = await sql<{ identities: string[] | null; organizations: string }>`
        SELECT (SELECT array_agg(DISTINCT x) FROM (
                  SELECT k.emaid_identity AS x FROM key_events e JOIN charging_keys k ON k.id = e.key_id WHERE ${events}
                  UNION
                  SELECT k.rfid_uid FROM key_events e JOIN charging_keys k ON k.id = e.key_id
                   WHERE ${events} AND k.rfid_uid IS NOT NULL) changed) AS identities,
               ${organizations} AS organizations`.execute(this.db)
      return result.rows[0]!
    })
    if (!this.polled) {
      // First poll: nothing is held yet, only the position matters.
      this.polled = true
      this.organizationsVersion = row.organizations
      return
    }
    if (row.organizations !== this.organizationsVersion) {
      await this.loadOrganizations()
      this.organizationsVersion = row.organizations
    }
    if (row.identities?.length) this.invalidate(row.identities)
    if (this.readsInFlight.size > 0) {
      // Only reads still running care when an identifier changed: older marks can go.
      const oldest = Math.min(...this.readsInFlight.keys())
      for (const [identifier, at] of this.invalidatedAt) if (at <= oldest) this.invalidatedAt.delete(identifier)
    }
    // A burst of changes (a bulk import) is cheaper to read in one sweep than key by key.
    if (this.complete && this.dirty.size > Math.max(this.options.reloadAfter ?? 10_000, this.byIdentity.size / 10)) {
      this.reload().catch((err: unknown) => {
        if (!this.stopped) this.log.warn({ err }, 'key directory reload failed; reading changed keys on demand')
      })
    }
  }

  /**
   * Polls once (so the cursor is set before anything is held), loads every key, then polls
   * every `pollMs`. With `loadAll: false` it only remembers what it has read.
   */
  async start(): Promise<void> {
    const pollMs = this.options.pollMs ?? 250
    const tick = async () => {
      try {
        await this.poll()
        this.fresh = true
      } catch (err) {
        // The outbox is durable and the cursor stays: once polling works again, nothing is missed.
        if (this.fresh) this.log.warn({ err }, 'key freshness poll failed; reading keys from the database')
        this.fresh = false
      }
    }
    await tick()
    if (this.options.loadAll ?? true) await this.reload()
    // tick tells its own failures (once per outage), so the schedule has none to tell.
    this.polling = new Periodic(tick, { everyMs: pollMs, firstAfterMs: pollMs, onError: () => {} })
    this.polling.start()
  }

  /** Stops polling, after the poll in flight. */
  async stop() {
    this.stopped = true
    await this.polling?.stop()
  }
}
