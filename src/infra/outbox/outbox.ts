import { sql, type Kysely, type RawBuilder } from 'kysely'
import type { Db } from '../db/database.ts'
import type { Database } from '../db/schema.ts'

/**
 * A position in the key-event outbox: a transaction ID (xid8, as text). Events of transactions
 * with an ID at or above it are still ahead of the consumer.
 *
 * Positions move by transaction ID, not by event seq: a transaction that took a lower seq can
 * commit after one with a higher seq, so reading "seq > last seen" would skip it. The horizon is
 * the oldest transaction still in flight (pg_snapshot_xmin): every transaction below it has ended,
 * so its events are all visible and none can appear later.
 */
export type OutboxPosition = string

type Executor = Kysely<Database>

/** The events a step covers, as a condition on `key_events` aliased `e`. */
export type OutboxEvents = RawBuilder<boolean>

/** The oldest transaction that may still be in flight: below it, every event is final. */
async function horizon(db: Executor): Promise<OutboxPosition> {
  const row = (await sql<{ xmin: string }>`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin`.execute(db)).rows[0]!
  return row.xmin
}

/**
 * The one reader of the key-event outbox. Two kinds of consumer share its cursor rule:
 * - `consumer(name)`: a named consumer with a durable position (table outbox_cursors). Each event
 *   is handed over exactly once, in transaction order, inside the transaction that moves the
 *   position, so what the consumer writes and its new position commit together. One instance at
 *   a time steps a consumer (the position row is locked).
 * - `follower()`: a position in memory, for caches of one process. It sees every committed event
 *   as early as possible, at least once (an event above the horizon is read again next step).
 */
export class Outbox {
  constructor(private readonly db: Db) {}

  consumer(name: string): OutboxConsumer {
    return new OutboxConsumer(this.db, name)
  }

  follower(): OutboxFollower {
    return new OutboxFollower(this.db)
  }
}

export class OutboxConsumer {
  constructor(
    private readonly db: Db,
    readonly name: string,
  ) {}

  /**
   * Hands the events of every transaction that ended since the last step to `handle`, in one
   * database transaction with the move of the position. Nothing is handed over twice and nothing
   * skipped: an event of a transaction still in flight waits for a later step. Returns undefined
   * when there was nothing new.
   */
  async step<T>(handle: (trx: Executor, events: OutboxEvents) => Promise<T>): Promise<T | undefined> {
    await sql`INSERT INTO outbox_cursors (name, next_tx_id) VALUES (${this.name}, '0') ON CONFLICT (name) DO NOTHING`.execute(this.db)
    return this.db.transaction().execute(async (trx) => {
      // One step of this consumer at a time, across instances. An advisory lock, not FOR UPDATE:
      // locking a row would give this transaction an ID before the horizon is read, and the
      // horizon would then stop at our own transaction.
      await sql`SELECT pg_advisory_xact_lock(hashtext(${`outbox:${this.name}`}))`.execute(trx)
      const from = (await sql<{ next_tx_id: string }>`SELECT next_tx_id::text FROM outbox_cursors WHERE name = ${this.name}`.execute(trx))
        .rows[0]!.next_tx_id
      const to = await horizon(trx)
      if (from === to) return undefined
      const result = await handle(trx, sql<boolean>`(e.tx_id >= ${from}::xid8 AND e.tx_id < ${to}::xid8)`)
      await sql`UPDATE outbox_cursors SET next_tx_id = ${to}::xid8 WHERE name = ${this.name}`.execute(trx)
      return result
    })
  }

  /** The events still ahead of this consumer, as a condition on `key_events e` (for status queries). */
  static ahead(name: string): OutboxEvents {
    return sql<boolean>`e.tx_id >= coalesce((SELECT next_tx_id FROM outbox_cursors WHERE name = ${name}), '0'::xid8)`
  }

  /** How many events are still ahead of this consumer (0: it has passed every event committed so far). */
  async pending(): Promise<number> {
    const row = (
      await sql<{ n: string }>`SELECT count(*)::text AS n FROM key_events e WHERE ${OutboxConsumer.ahead(this.name)}`.execute(this.db)
    ).rows[0]!
    return Number(row.n)
  }
}

export class OutboxFollower {
  private position: OutboxPosition | null = null

  constructor(private readonly db: Db) {}

  /** True once the first step has fixed where this follower starts. */
  get started() {
    return this.position !== null
  }

  /**
   * Reads the events since the last step with `read`; the first step only fixes the position
   * (nothing is held before it, so nothing older matters) and passes `null`.
   */
  async step<T>(read: (events: OutboxEvents | null) => Promise<T>): Promise<T> {
    // The horizon comes first: what commits while `read` runs is either read now or next step.
    const to = await horizon(this.db)
    const from = this.position
    const result = await read(from === null ? null : sql<boolean>`e.tx_id >= ${from}::xid8`)
    this.position = to
    return result
  }
}
