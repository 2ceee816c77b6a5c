import { sql } from 'kysely'
import type { Db } from '../db/database.ts'
import type { Logger } from '../logger.ts'
import { findRoamingKeys, type RoamingKey } from '../keys/roaming-key.ts'

export interface KeyRef {
  emaidIdentity?: string | null
  rfidUid?: string | null
}

const cacheKey = (ref: KeyRef) => `${ref.emaidIdentity ?? ''}|${ref.rfidUid ?? ''}`

/**
 * The keys behind an identifier, for the authorization hot path: cached, and never stale.
 * - A change made through this instance invalidates before the change's response is sent.
 * - Changes made anywhere else (another instance, SQL) are read from the key-event outbox
 *   every `pollMs`, so they reach this cache within about that time.
 * - A result read while any invalidation happened is not cached (it may predate the change).
 */
export class KeyDirectory {
  private readonly cache = new Map<string, { keys: RoamingKey[]; at: number }>()
  private readonly refsByIdentity = new Map<string, Set<string>>()
  private epoch = 0
  private cursor: string | null = null
  private timer: NodeJS.Timeout | undefined
  private organizationsVersion = ''
  /** False while the outbox cannot be read: then nothing is served from the cache. */
  private fresh = false

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly options: { maxEntries?: number; maxAgeMs?: number; pollMs?: number } = {},
  ) {}

  async lookup(ref: KeyRef): Promise<RoamingKey[]> {
    const id = cacheKey(ref)
    const hit = this.fresh ? this.cache.get(id) : undefined
    if (hit && Date.now() - hit.at < (this.options.maxAgeMs ?? 30_000)) return hit.keys
    const epoch = this.epoch
    const keys = await findRoamingKeys(this.db, ref)
    if (this.fresh && epoch === this.epoch) this.remember(id, ref, keys)
    return keys
  }

  private remember(id: string, ref: KeyRef, keys: RoamingKey[]) {
    const maxEntries = this.options.maxEntries ?? 200_000
    // Evicted entries leave their reverse references behind; start over before those pile up.
    if (this.refsByIdentity.size > 2 * maxEntries) this.invalidateAll()
    if (this.cache.size >= maxEntries) {
      // Oldest first: Map keeps insertion order.
      const oldest = this.cache.keys().next().value
      if (oldest !== undefined) this.cache.delete(oldest)
    }
    this.cache.delete(id)
    this.cache.set(id, { keys, at: Date.now() })
    for (const identity of [ref.emaidIdentity, ref.rfidUid, ...keys.flatMap((k) => [k.key.emaidIdentity, k.key.keyIdentifier])]) {
      if (!identity) continue
      let refs = this.refsByIdentity.get(identity)
      if (!refs) this.refsByIdentity.set(identity, (refs = new Set()))
      refs.add(id)
    }
  }

  /** Forget everything cached about these EMAID identities / RFID UIDs. */
  invalidate(identities: Iterable<string | null | undefined>) {
    this.epoch++
    for (const identity of identities) {
      if (!identity) continue
      for (const id of this.refsByIdentity.get(identity) ?? []) this.cache.delete(id)
      this.refsByIdentity.delete(identity)
    }
  }

  invalidateAll() {
    this.epoch++
    this.cache.clear()
    this.refsByIdentity.clear()
  }

  /** Reads the outbox for changes since the last poll (by transaction, so none is skipped). */
  async poll(): Promise<void> {
    const result = await sql<{ xmin: string; identities: string[] | null; organizations: string }>`
      SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin,
             (SELECT array_agg(DISTINCT x) FROM (
                SELECT k.emaid_identity AS x FROM key_events e JOIN charging_keys k ON k.id = e.key_id
                 WHERE e.tx_id >= ${this.cursor ?? '0'}::xid8
                UNION
                SELECT k.rfid_uid FROM key_events e JOIN charging_keys k ON k.id = e.key_id
                 WHERE e.tx_id >= ${this.cursor ?? '0'}::xid8 AND k.rfid_uid IS NOT NULL) changed) AS identities,
             (SELECT count(*) || ':' || coalesce(max(updated_at)::text, '') FROM organizations) AS organizations`.execute(this.db)
    const row = result.rows[0]!
    if (this.cursor === null) {
      // First poll: nothing is cached yet, only the position matters.
      this.cursor = row.xmin
      this.organizationsVersion = row.organizations
      return
    }
    this.cursor = row.xmin
    if (row.organizations !== this.organizationsVersion) {
      this.organizationsVersion = row.organizations
      this.invalidateAll()
    } else if (row.identities?.length) {
      this.invalidate(row.identities)
    }
  }

  /** Polls once (so the cursor is set before anything is cached), then every `pollMs`. */
  async start(): Promise<void> {
    const pollMs = this.options.pollMs ?? 250
    const tick = async () => {
      try {
        await this.poll()
        this.fresh = true
      } catch (err) {
        // Without invalidations the cache could go stale: serve from the database until polling works again.
        if (this.fresh) this.log.warn({ err }, 'key freshness poll failed; cache off')
        this.fresh = false
        this.invalidateAll()
      }
    }
    await tick()
    const loop = async () => {
      await tick()
      this.timer = setTimeout(loop, pollMs)
      this.timer.unref()
    }
    this.timer = setTimeout(loop, pollMs)
    this.timer.unref()
  }

  stop() {
    clearTimeout(this.timer)
  }
}
