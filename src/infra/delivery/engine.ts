import { randomUUID } from 'node:crypto'
import { sql, type Kysely, type RawBuilder } from 'kysely'
import type { Db } from '../db/database.ts'
import type { Database } from '../db/schema.ts'
import type { Logger } from '../logger.ts'
import { Periodic } from '../periodic.ts'
import { backoffMs, classify, type DeliveryFailure } from './failure.ts'

type Executor = Kysely<Database>

/**
 * One row of the deliveries table as a sender sees it: what to deliver where. The sender builds
 * the subject's *current* state when it sends; `version` only orders the changes.
 */
export interface Delivery {
  kind: string
  /** who receives it, e.g. `ocpi:<partnerId>` */
  destination: string
  /** what it is about, e.g. `token:<keyId>` */
  subject: string
  /** the newest change to deliver */
  version: string
  /** the change the last successful send covered; '0': the destination is to get it afresh */
  deliveredVersion: string
  /** failed attempts so far */
  attempts: number
}

interface Claimed extends Delivery {
  generation: string
}

/**
 * A destination opened for one round. Either it sends one delivery at a time (`send`, several in
 * parallel unless the sender is exclusive), or all of the round's deliveries at once (`sendAll`,
 * for protocols that batch many subjects into one request).
 */
export type DestinationSession = {
  /** log fields naming the destination beyond the sender's own (e.g. a partner's name); never secrets */
  describe?: Record<string, unknown>
} & (
  | { send(delivery: Delivery): Promise<void>; sendAll?: never }
  | {
      /**
       * Sends every delivery of the round; returns the failures by subject (the rest succeeded).
       * A throw fails them all, classified like a send's.
       */
      sendAll(deliveries: readonly Delivery[]): Promise<Map<string, unknown>>
      send?: never
    }
)

/** What the engine needs of one kind of delivery (OCPI tokens, later Hubject, webhooks). */
export interface DeliverySender {
  /** names the deliveries in log lines, e.g. 'OCPI token' */
  label: string
  /** log fields naming a destination, e.g. `{ partnerId }` */
  describe(destination: string): Record<string, unknown>
  /** destinations whose deliveries wait (e.g. a suspended partner): they are not claimed */
  held?(): Promise<string[]>
  /**
   * One round at a time per destination, across instances, its sends one after the other: for a
   * protocol whose calls must never overlap (Hubject's PushAuthenticationData). A destination with
   * a live lease is not claimed again until that round has recorded its outcomes.
   */
  exclusive?: boolean
  /**
   * Prepares sending `deliveries` to one destination (reads once what they share). A throw fails
   * them all (classified like a send's); 'hold' hands them back without counting an attempt.
   */
  open(destination: string, deliveries: readonly Delivery[]): Promise<DestinationSession | 'hold'>
}

export interface DeliveryOptions {
  pollMs?: number
  /** rows claimed per round */
  batchSize?: number
  /** sends in parallel per destination: fast, without flooding one partner */
  concurrency?: number
  /** first retry after about this long, doubling per failure up to maxBackoffMs (with jitter) */
  baseBackoffMs?: number
  maxBackoffMs?: number
  /** a claimed row is ours this long; must exceed the longest send (the HTTP timeout) */
  leaseMs?: number
  /** told of each failed attempt (metrics) */
  onFailure?: (delivery: Delivery, failure: DeliveryFailure) => void
}

export interface DeliveryStatus {
  /** deliveries with a change not yet delivered (dead letters not counted) */
  backlog: number
  /** of those, deliveries whose last attempt failed */
  failing: number
  /** deliveries whose newest change has been delivered */
  delivered: number
  /** deliveries parked after a permanent failure, waiting for a replay */
  deadLetters: number
  nextAttemptAt: Date | null
  lastError: string | null
}

export interface DeadLetter {
  kind: string
  destination: string
  subject: string
  version: string
  attempts: number
  reason: string | null
  deadAt: Date
}

/** How a producer's rows arm the deliveries. */
export type EnqueueMode =
  /** a change: a newer version re-arms the row (an older one changes nothing) */
  | 'change'
  /** send the current state afresh, as to a destination that never had it (reconcile, first sync) */
  | 'afresh'

const ON_CONFLICT = {
  change: sql`ON CONFLICT (destination, subject) DO UPDATE
      SET kind = EXCLUDED.kind,
          version = EXCLUDED.version,
          generation = deliveries.generation + 1,
          -- a row that was up to date (or parked) starts afresh; a failing one keeps its backoff
          attempts = CASE WHEN deliveries.delivered_version >= deliveries.version OR deliveries.dead_at IS NOT NULL
                          THEN 0 ELSE deliveries.attempts END,
          next_attempt_at = CASE WHEN deliveries.delivered_version >= deliveries.version OR deliveries.dead_at IS NOT NULL
                                 THEN now() ELSE deliveries.next_attempt_at END,
          dead_at = NULL,
          updated_at = now()
      WHERE EXCLUDED.version > deliveries.version`,
  afresh: sql`ON CONFLICT (destination, subject) DO UPDATE
      SET kind = EXCLUDED.kind,
          version = GREATEST(deliveries.version, EXCLUDED.version),
          delivered_version = 0,
          generation = deliveries.generation + 1,
          attempts = 0,
          next_attempt_at = now(),
          dead_at = NULL,
          updated_at = now()`,
}

/**
 * The durable delivery engine: one row per (destination, subject) in `deliveries`, whatever the
 * protocol. Producers arm rows (`enqueue`, in their own transaction); the engine leases due rows,
 * hands them to the sender registered for their kind and records the outcome.
 *
 * - Newest state wins: a sender builds the subject's current state at send time, and a later
 *   change re-arms the row, so after an outage each subject travels once, in its newest state.
 * - Ordering per subject: a row is leased by one worker at a time (FOR UPDATE SKIP LOCKED and
 *   lease_until, across instances), so an older state is never sent after a newer one.
 * - The outcome of a send is recorded only by the lease that sent it, and a success marks the
 *   row delivered only when no change re-armed it meanwhile (the generation is unchanged):
 *   a change that arrives during a send is always sent after it.
 * - Failures are classified: retryable ones back off exponentially with jitter; permanent ones
 *   park the row as a dead letter until an admin replays it or a newer change re-arms it.
 * - A failing destination is logged once when its failures start and once when they stop; each
 *   dead letter once, with its reason.
 */
export class DeliveryEngine {
  private readonly senders = new Map<string, DeliverySender>()
  private readonly rounds: Periodic
  /** destinations whose deliveries are failing: the first failure's time and the failed attempts since */
  private readonly failureStreaks = new Map<string, { since: Date; failedAttempts: number }>()

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly options: DeliveryOptions = {},
  ) {
    this.rounds = new Periodic(() => this.runOnce(), {
      everyMs: options.pollMs ?? 500,
      onError: (err) => log.warn({ err }, 'delivery round failed'),
    })
  }

  /** The sender of one kind; a kind without a sender is not claimed by this engine. */
  register(kind: string, sender: DeliverySender) {
    if (this.senders.has(kind)) throw new Error(`a sender for ${kind} is registered already`)
    this.senders.set(kind, sender)
  }

  /**
   * Arms deliveries from `rows`, a query yielding (kind, destination, subject, version) once per
   * (destination, subject). Run it in the producer's transaction so the rows and what caused them
   * commit together. Returns the rows inserted or re-armed.
   */
  static async enqueue(db: Executor, rows: RawBuilder<unknown>, mode: EnqueueMode = 'change'): Promise<number> {
    const result = await sql`
      INSERT INTO deliveries (kind, destination, subject, version)
      SELECT r.kind, r.destination, r.subject, r.version FROM (${rows}) AS r (kind, destination, subject, version)
      ${ON_CONFLICT[mode]}`.execute(db)
    return Number(result.numAffectedRows ?? 0)
  }

  /** Arms deliveries from a list (see the static `enqueue`). */
  async enqueue(
    items: ReadonlyArray<{ kind: string; destination: string; subject: string; version: number | string }>,
    mode: EnqueueMode = 'change',
  ) {
    if (items.length === 0) return 0
    return DeliveryEngine.enqueue(
      this.db,
      sql`SELECT * FROM unnest(${items.map((i) => i.kind)}::text[], ${items.map((i) => i.destination)}::text[],
                               ${items.map((i) => i.subject)}::text[], ${items.map((i) => String(i.version))}::bigint[])`,
      mode,
    )
  }

  /** Drops every delivery to a destination that is gone (in the caller's transaction). */
  static async forget(db: Executor, destination: string) {
    await sql`DELETE FROM deliveries WHERE destination = ${destination}`.execute(db)
  }

  start() {
    this.rounds.start()
  }

  /** Stops after the round in flight: its outcomes are recorded. */
  async stop() {
    await this.rounds.stop()
  }

  /** Drains what is due now, batch by batch; tests call it to step the engine. */
  async runOnce(): Promise<{ delivered: number; failed: number }> {
    let delivered = 0
    let failed = 0
    for (;;) {
      const round = await this.deliverDue()
      delivered += round.delivered
      failed += round.failed
      if (round.claimed < (this.options.batchSize ?? 200) || this.rounds.stopped) break
    }
    return { delivered, failed }
  }

  private async deliverDue(): Promise<{ claimed: number; delivered: number; failed: number }> {
    const kinds = [...this.senders.keys()]
    if (kinds.length === 0) return { claimed: 0, delivered: 0, failed: 0 }
    const held = (await Promise.all([...this.senders.values()].map((s) => s.held?.() ?? []))).flat()
    const exclusive = [...this.senders].filter(([, s]) => s.exclusive).map(([kind]) => kind)
    const leaseId = randomUUID()
    const leaseMs = this.options.leaseMs ?? 60_000
    const claim = (db: Executor) =>
      sql<{
        kind: string
        destination: string
        subject: string
        version: string
        delivered_version: string
        generation: string
        attempts: number
      }>`
      UPDATE deliveries d
         SET lease_until = now() + make_interval(secs => ${leaseMs / 1000}), lease_id = ${leaseId}::uuid
        FROM (SELECT destination, subject FROM deliveries
               WHERE version > delivered_version AND dead_at IS NULL AND next_attempt_at <= now()
                 AND (lease_until IS NULL OR lease_until < now())
                 AND kind = ANY(${kinds}::text[])
                 AND NOT (destination = ANY(${held}::text[]))
                 AND (NOT (kind = ANY(${exclusive}::text[]))
                      OR NOT EXISTS (SELECT 1 FROM deliveries x
                                      WHERE x.destination = deliveries.destination AND x.lease_until >= now()))
               ORDER BY next_attempt_at
               LIMIT ${this.options.batchSize ?? 200}
               FOR UPDATE SKIP LOCKED) due
       WHERE d.destination = due.destination AND d.subject = due.subject
      RETURNING d.kind, d.destination, d.subject, d.version::text, d.delivered_version::text, d.generation::text, d.attempts`.execute(db)
    // An exclusive kind's claims take turns (a transaction-scoped lock), so two instances cannot
    // both see its destination free and each lease part of it.
    const claimed =
      exclusive.length === 0
        ? await claim(this.db)
        : await this.db.transaction().execute(async (trx) => {
            await sql`SELECT pg_advisory_xact_lock(hashtext('deliveries:exclusive-claim'))`.execute(trx)
            return claim(trx)
          })
    if (claimed.rows.length === 0) return { claimed: 0, delivered: 0, failed: 0 }

    const groups = new Map<string, Claimed[]>()
    for (const row of claimed.rows) {
      const key = `${row.kind}\u0000${row.destination}`
      const delivery: Claimed = {
        kind: row.kind,
        destination: row.destination,
        subject: row.subject,
        version: row.version,
        deliveredVersion: row.delivered_version,
        generation: row.generation,
        attempts: row.attempts,
      }
      const group = groups.get(key)
      if (group) group.push(delivery)
      else groups.set(key, [delivery])
    }
    let delivered = 0
    let failed = 0
    await Promise.all(
      [...groups.values()].map(async (rows) => {
        const outcome = await this.deliverTo(rows, leaseId)
        delivered += outcome.delivered
        failed += outcome.failed
      }),
    )
    return { claimed: claimed.rows.length, delivered, failed }
  }

  /** Sends one destination's claimed rows of one kind and records the outcomes. */
  private async deliverTo(rows: Claimed[], leaseId: string): Promise<{ delivered: number; failed: number }> {
    const sender = this.senders.get(rows[0]!.kind)!
    const destination = rows[0]!.destination
    const fields = { ...sender.describe(destination) }
    const succeeded: Claimed[] = []
    const failures: Array<{ row: Claimed; failure: DeliveryFailure }> = []
    let session: DestinationSession | 'hold' | undefined
    try {
      session = await sender.open(destination, rows)
    } catch (error) {
      const failure = classify(error)
      for (const row of rows) failures.push({ row, failure })
    }
    if (session === 'hold') {
      // Held since the rows were claimed: handed back untouched, looked at again next round.
      await sql`UPDATE deliveries SET lease_until = NULL, lease_id = NULL
                 WHERE destination = ${destination} AND subject = ANY(${rows.map((r) => r.subject)}::text[])
                   AND lease_id = ${leaseId}::uuid`.execute(this.db)
      return { delivered: 0, failed: 0 }
    }
    if (session?.sendAll) {
      Object.assign(fields, session.describe)
      try {
        const failed = await session.sendAll(rows)
        for (const row of rows) {
          if (failed.has(row.subject)) failures.push({ row, failure: classify(failed.get(row.subject)) })
          else succeeded.push(row)
        }
      } catch (error) {
        const failure = classify(error)
        for (const row of rows) failures.push({ row, failure })
      }
    } else if (session) {
      Object.assign(fields, session.describe)
      const queue = [...rows]
      const open = session
      const worker = async () => {
        for (let row = queue.shift(); row; row = queue.shift()) {
          try {
            await open.send(row)
            succeeded.push(row)
          } catch (error) {
            failures.push({ row, failure: classify(error) })
          }
        }
      }
      const concurrency = sender.exclusive ? 1 : (this.options.concurrency ?? 8)
      await Promise.all(Array.from({ length: Math.min(rows.length, concurrency) }, worker))
    }
    await this.recordDelivered(destination, succeeded, leaseId)
    const parked = await this.recordFailed(destination, failures, leaseId)
    for (const { row, failure } of failures) this.options.onFailure?.(row, failure)
    for (const { row, failure } of parked) {
      this.log.warn(
        { ...fields, destination, subject: row.subject, reason: failure.reason },
        `${sender.label} delivery failed for good: parked as a dead letter`,
      )
    }
    const retried = failures.filter((f) => !f.failure.permanent)
    this.noteOutcome(sender, destination, fields, {
      delivered: succeeded.length,
      failed: retried.length,
      firstError: retried[0]?.failure.reason,
    })
    return { delivered: succeeded.length, failed: failures.length }
  }

  /** Marks sent rows delivered, by our lease only; a row re-armed during the send stays due. */
  private async recordDelivered(destination: string, rows: Claimed[], leaseId: string) {
    if (rows.length === 0) return
    await sql`
      UPDATE deliveries d
         SET delivered_version = CASE WHEN d.generation = x.generation THEN x.version ELSE d.delivered_version END,
             attempts = 0, last_error = NULL, lease_until = NULL, lease_id = NULL, next_attempt_at = now(), updated_at = now()
        FROM unnest(${rows.map((r) => r.subject)}::text[], ${rows.map((r) => r.version)}::bigint[],
                    ${rows.map((r) => r.generation)}::bigint[]) AS x (subject, version, generation)
       WHERE d.destination = ${destination} AND d.subject = x.subject AND d.lease_id = ${leaseId}::uuid`.execute(this.db)
  }

  /**
   * Records failed attempts: a retryable one backs off, a permanent one parks the row, unless a
   * change re-armed it during the send (then the newer state is tried at once). Returns the parked.
   */
  private async recordFailed(destination: string, failures: Array<{ row: Claimed; failure: DeliveryFailure }>, leaseId: string) {
    if (failures.length === 0) return []
    const base = this.options.baseBackoffMs ?? 1000
    const max = this.options.maxBackoffMs ?? 300_000
    const result = await sql<{ subject: string; dead: boolean }>`
      UPDATE deliveries d
         SET attempts = d.attempts + 1,
             last_error = x.reason,
             dead_at = CASE WHEN x.permanent AND d.generation = x.generation THEN now() END,
             next_attempt_at = CASE WHEN d.generation = x.generation THEN now() + make_interval(secs => x.delay_ms / 1000.0) ELSE now() END,
             lease_until = NULL, lease_id = NULL, updated_at = now()
        FROM unnest(${failures.map((f) => f.row.subject)}::text[], ${failures.map((f) => f.row.generation)}::bigint[],
                    ${failures.map((f) => f.failure.permanent)}::boolean[], ${failures.map((f) => f.failure.reason.slice(0, 500))}::text[],
                    ${failures.map((f) => backoffMs(f.row.attempts + 1, base, max))}::float8[])
             AS x (subject, generation, permanent, reason, delay_ms)
       WHERE d.destination = ${destination} AND d.subject = x.subject AND d.lease_id = ${leaseId}::uuid
      RETURNING d.subject, d.dead_at IS NOT NULL AS dead`.execute(this.db)
    const dead = new Set(result.rows.filter((r) => r.dead).map((r) => r.subject))
    return failures.filter((f) => dead.has(f.row.subject))
  }

  /**
   * Logs a destination's failing deliveries once per streak: its first failing round at warn (with
   * the reason), the round that delivers again at info with the number of failed attempts between.
   */
  private noteOutcome(
    sender: DeliverySender,
    destination: string,
    fields: Record<string, unknown>,
    outcome: { delivered: number; failed: number; firstError?: string },
  ) {
    const streak = this.failureStreaks.get(destination)
    if (outcome.delivered > 0) {
      if (streak) {
        this.failureStreaks.delete(destination)
        const failedAttempts = streak.failedAttempts + outcome.failed
        this.log.info(
          { ...fields, destination, failedAttempts, failingSince: streak.since.toISOString() },
          `${sender.label} deliveries to the partner work again`,
        )
      }
    } else if (outcome.failed > 0) {
      if (streak) streak.failedAttempts += outcome.failed
      else {
        this.failureStreaks.set(destination, { since: new Date(), failedAttempts: outcome.failed })
        this.log.warn({ ...fields, destination, reason: outcome.firstError }, `${sender.label} deliveries to the partner fail`)
      }
    }
  }

  /**
   * A destination's deliveries, read in one statement (one snapshot). `alsoWaiting` adds changes
   * a producer has not turned into rows yet, so the backlog never reads 0 while one is on its way.
   */
  async status(destination: string, alsoWaiting?: RawBuilder<number>): Promise<DeliveryStatus> {
    const row = (
      await sql<{
        backlog: string
        failing: string
        delivered: string
        dead: string
        next_attempt_at: Date | string | null
        last_error: string | null
      }>`
        SELECT (s.backlog + ${alsoWaiting ?? sql`0`})::text AS backlog, s.failing::text, s.delivered::text, s.dead::text, s.next_attempt_at,
               (SELECT last_error FROM deliveries WHERE destination = ${destination} AND last_error IS NOT NULL
                 ORDER BY updated_at DESC LIMIT 1) AS last_error
          FROM (SELECT count(*) FILTER (WHERE version > delivered_version AND dead_at IS NULL) AS backlog,
                       count(*) FILTER (WHERE version > delivered_version AND dead_at IS NULL AND attempts > 0) AS failing,
                       count(*) FILTER (WHERE version <= delivered_version) AS delivered,
                       count(*) FILTER (WHERE dead_at IS NOT NULL) AS dead,
                       min(next_attempt_at) FILTER (WHERE version > delivered_version AND dead_at IS NULL) AS next_attempt_at
                  FROM deliveries WHERE destination = ${destination}) s`.execute(this.db)
    ).rows[0]!
    return {
      backlog: Number(row.backlog),
      failing: Number(row.failing),
      delivered: Number(row.delivered),
      deadLetters: Number(row.dead),
      nextAttemptAt: row.next_attempt_at ? new Date(row.next_attempt_at) : null,
      lastError: row.last_error,
    }
  }

  /** The backlog of every destination with deliveries (metrics). */
  async backlogs(): Promise<Array<{ destination: string; kind: string; backlog: number; failing: number; deadLetters: number }>> {
    const rows = await sql<{ destination: string; kind: string; backlog: string; failing: string; dead: string }>`
      SELECT destination, kind,
             count(*) FILTER (WHERE version > delivered_version AND dead_at IS NULL)::text AS backlog,
             count(*) FILTER (WHERE version > delivered_version AND dead_at IS NULL AND attempts > 0)::text AS failing,
             count(*) FILTER (WHERE dead_at IS NOT NULL)::text AS dead
        FROM deliveries GROUP BY destination, kind ORDER BY destination, kind`.execute(this.db)
    return rows.rows.map((r) => ({
      destination: r.destination,
      kind: r.kind,
      backlog: Number(r.backlog),
      failing: Number(r.failing),
      deadLetters: Number(r.dead),
    }))
  }

  /** Dead letters, newest first; of one destination when given. Paged by `limit` and `before` (a deadAt). */
  async deadLetters(filter: { destination?: string; limit?: number } = {}): Promise<DeadLetter[]> {
    const rows = await sql<{
      kind: string
      destination: string
      subject: string
      version: string
      attempts: number
      last_error: string | null
      dead_at: Date | string
    }>`
      SELECT kind, destination, subject, version::text, attempts, last_error, dead_at FROM deliveries
       WHERE dead_at IS NOT NULL ${filter.destination === undefined ? sql`` : sql`AND destination = ${filter.destination}`}
       ORDER BY dead_at DESC, destination, subject
       LIMIT ${filter.limit ?? 100}`.execute(this.db)
    return rows.rows.map((r) => ({
      kind: r.kind,
      destination: r.destination,
      subject: r.subject,
      version: r.version,
      attempts: r.attempts,
      reason: r.last_error,
      deadAt: new Date(r.dead_at),
    }))
  }

  /** Makes a destination's waiting deliveries due now, their backoff skipped (an admin's "push now"). Returns how many. */
  async hurry(destination: string): Promise<number> {
    const result = await sql`
      UPDATE deliveries SET next_attempt_at = now(), updated_at = now()
       WHERE destination = ${destination} AND version > delivered_version AND dead_at IS NULL AND next_attempt_at > now()`.execute(this.db)
    return Number(result.numAffectedRows ?? 0)
  }

  /** Arms dead letters again (one subject, or every one of the destination): they are sent at once. Returns how many. */
  async replay(destination: string, subject?: string): Promise<number> {
    const result = await sql`
      UPDATE deliveries SET dead_at = NULL, attempts = 0, next_attempt_at = now(), generation = generation + 1, updated_at = now()
       WHERE destination = ${destination} AND dead_at IS NOT NULL
             ${subject === undefined ? sql`` : sql`AND subject = ${subject}`}`.execute(this.db)
    return Number(result.numAffectedRows ?? 0)
  }
}
