import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import { DeliveryEngine } from '../../infra/delivery/engine.ts'
import { Outbox, OutboxConsumer } from '../../infra/outbox/outbox.ts'
import { ocpiDestination } from './partners.ts'
import { OCPI_TOKEN, RECEIVES_TOKENS } from './token-sender.ts'

/** The outbox consumer that turns key changes into OCPI token deliveries. */
export const TOKEN_PUSH_CONSUMER = 'ocpi-token-push'

/**
 * Decides which partners receive which tokens, as delivery rows:
 * - every key change (from the key-event outbox, exactly once) goes to every registered partner
 *   with a tokens Receiver;
 * - a partner newly registered (with push_all_tokens) gets every existing token, afresh.
 * The delivery engine sends them.
 */
export class TokenPublisher {
  private readonly consumer: OutboxConsumer

  constructor(private readonly db: Db) {
    this.consumer = new Outbox(db).consumer(TOKEN_PUSH_CONSUMER)
  }

  /** One step: the changes since the last one, then any first full sync due. Returns the rows armed. */
  async publish(): Promise<number> {
    const changed =
      (await this.consumer.step((trx, events) =>
        DeliveryEngine.enqueue(
          trx,
          sql`SELECT ${OCPI_TOKEN}, 'ocpi:' || p.id, 'token:' || e.key_id, max(e.seq)
                FROM key_events e CROSS JOIN ocpi_partners p
               WHERE ${events} AND ${RECEIVES_TOKENS}
               GROUP BY p.id, e.key_id`,
        ),
      )) ?? 0
    return changed + (await this.firstSyncs())
  }

  /**
   * Queues every token for each partner whose registration asked for it, and clears the request in
   * the same transaction. A key changed meanwhile is re-armed by the change (its version is newer).
   */
  private async firstSyncs(): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const due = await sql<{ id: string; receives: boolean }>`
        SELECT p.id, ${RECEIVES_TOKENS} AS receives FROM ocpi_partners p
         WHERE p.token_sync_requested_at IS NOT NULL
         FOR UPDATE SKIP LOCKED`.execute(trx)
      let armed = 0
      for (const partner of due.rows) {
        if (partner.receives) {
          armed += await DeliveryEngine.enqueue(
            trx,
            sql`SELECT ${OCPI_TOKEN}, ${ocpiDestination(partner.id)}::text, 'token:' || k.id, coalesce(v.seq, 1)
                  FROM charging_keys k
                  LEFT JOIN (SELECT key_id, max(seq) AS seq FROM key_events GROUP BY key_id) v ON v.key_id = k.id`,
            'afresh',
          )
        }
        await sql`UPDATE ocpi_partners SET token_sync_requested_at = NULL WHERE id = ${partner.id}`.execute(trx)
      }
      return armed
    })
  }

  /** How many outbox events the publisher has not passed yet. */
  pending(): Promise<number> {
    return this.consumer.pending()
  }

  /**
   * Token changes waiting for a partner that have no delivery row yet (scalar SQL for a status
   * query): events the publisher has not read, and the whole first sync while it is pending.
   */
  static waiting(partnerId: string) {
    return sql<number>`(
      (SELECT count(DISTINCT e.key_id) FROM key_events e
        WHERE ${OutboxConsumer.ahead(TOKEN_PUSH_CONSUMER)}
          AND EXISTS (SELECT 1 FROM ocpi_partners p WHERE p.id = ${partnerId} AND ${RECEIVES_TOKENS})
          AND NOT EXISTS (SELECT 1 FROM deliveries d
                           WHERE d.destination = ${ocpiDestination(partnerId)} AND d.subject = 'token:' || e.key_id
                             AND d.version > d.delivered_version AND d.dead_at IS NULL))
      + (SELECT count(*) FROM charging_keys
          WHERE EXISTS (SELECT 1 FROM ocpi_partners p
                         WHERE p.id = ${partnerId} AND p.token_sync_requested_at IS NOT NULL AND ${RECEIVES_TOKENS})))`
  }
}
