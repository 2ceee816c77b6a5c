import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import type { Logger } from '../../infra/logger.ts'
import { Periodic } from '../../infra/periodic.ts'

/**
 * Turns the passing of time into key events: a key whose validFrom arrives gets an `activated`
 * event, one whose validTo passes an `expired` event, within one interval of the moment. Nothing
 * about the key row changes then, so no trigger can see it; without these events CPOs' copies of an
 * expired key would still say `valid: true` and partners would not hear of it.
 *
 * Each run covers the moments since the last one (`key_validity_clock`, one row locked for the
 * run), so several instances running it write each event exactly once, and a run missed while
 * every instance was down is caught up by the next one.
 */
export class KeyValidityClock {
  private readonly schedule: Periodic

  constructor(
    private readonly db: Db,
    log: Logger,
    everyMs: number,
  ) {
    this.schedule = new Periodic(() => this.runOnce(), {
      everyMs,
      onError: (err) => log.warn({ err }, 'key validity clock round failed; the next one catches up'),
    })
  }

  /** One run: the events of every validity start and end since the last run, in time order. */
  async runOnce(): Promise<{ activated: number; expired: number }> {
    return this.db.transaction().execute(async (trx) => {
      const from = (await sql<{ at: Date }>`SELECT checked_until AS at FROM key_validity_clock FOR UPDATE`.execute(trx)).rows[0]!.at
      // now() is this transaction's start: what happens after it is the next run's.
      const written = await sql<{ type: string }>`
        INSERT INTO key_events (key_id, organization_id, type, key)
        SELECT d.id, d.organization_id, d.type, d.key
          FROM (SELECT k.id, k.organization_id, 'activated' AS type, k.valid_from AS at, to_jsonb(k) - 'emaid_claim' - 'seq' AS key
                  FROM charging_keys k
                 WHERE k.valid_from > k.created_at AND k.valid_from > ${from} AND k.valid_from <= now() AND k.deleted_at IS NULL
                UNION ALL
                SELECT k.id, k.organization_id, 'expired', k.valid_to, to_jsonb(k) - 'emaid_claim' - 'seq'
                  FROM charging_keys k
                 WHERE k.valid_to IS NOT NULL AND k.valid_to > ${from} AND k.valid_to <= now() AND k.deleted_at IS NULL) d
         ORDER BY d.at, d.type
        RETURNING type`.execute(trx)
      await sql`UPDATE key_validity_clock SET checked_until = now()`.execute(trx)
      const activated = written.rows.filter((r) => r.type === 'activated').length
      return { activated, expired: written.rows.length - activated }
    })
  }

  start(): void {
    this.schedule.start()
  }

  stop(): Promise<void> {
    return this.schedule.stop()
  }
}
