import { sql } from 'kysely'
import { signedHeaders } from '../../core/webhooks/standard-webhooks.ts'
import { webhookEventId } from '../../core/webhooks/events.ts'
import type { Db } from '../../infra/db/database.ts'
import type { DeliveryEngine, DeliverySender } from '../../infra/delivery/engine.ts'
import { DeliveryFailure } from '../../infra/delivery/failure.ts'
import type { OutgoingHttp } from '../../infra/http/outgoing.ts'
import type { Logger } from '../../infra/logger.ts'
import { Outbox, type OutboxConsumer } from '../../infra/outbox/outbox.ts'
import { Periodic } from '../../infra/periodic.ts'
import type { SecretBox } from '../../infra/secrets/secret-box.ts'
import { armEndpoints, endpointOf, secretContext, WEBHOOK } from '../../services/webhooks/webhook-endpoints.ts'
import { VERSION } from '../../version.ts'
import { webhookBody } from './payloads.ts'

/** The outbox consumer that turns partner events into webhook deliveries. */
export const WEBHOOKS_CONSUMER = 'webhooks'

/** Deliveries read per query of an endpoint's queue. */
const QUEUE_PAGE = 100

export interface PartnerWebhooksOptions {
  pollMs: number
  /** a delivery still failing this long after its first attempt is given up */
  retryWindowMs: number
  /**
   * How long one send may keep delivering an endpoint's queue before it hands the rest to a later
   * round; with one call's deadline it stays inside the engine's lease.
   */
  sendBudgetMs: number
}

/** One webhook call: the signed request, and what its answer means. */
export interface WebhookCall {
  url: string
  /** the current secret, and the previous one during a rotation's grace */
  secrets: string[]
  eventUuid: string
  type: string
  occurredAt: Date
  snapshot: Record<string, unknown>
}

/** A short excerpt of a partner's answer for the delivery log: printable characters only, never much. */
export function answerExcerpt(body: Buffer): string {
  const text = body
    .subarray(0, 200)
    .toString('utf8')
    .replace(/[^\x20-\x7e]+/g, ' ')
    .trim()
  return text.length > 100 ? `${text.slice(0, 100)}...` : text
}

/**
 * Sends one event to one URL through the outgoing policy (SSRF-safe, deadline, no redirects).
 * Returns the answer's status; a non-2xx answer or a failed call throws a retryable failure whose
 * reason is ours (logged), with the status and a sanitized excerpt for the delivery log.
 */
export async function sendWebhook(http: OutgoingHttp, call: WebhookCall, now: Date = new Date()): Promise<{ statusCode: number }> {
  const body = webhookBody({ type: call.type, occurredAt: call.occurredAt, snapshot: call.snapshot })
  const headers = {
    ...signedHeaders(call.secrets, webhookEventId(call.eventUuid), Math.floor(now.getTime() / 1000), body),
    'content-type': 'application/json',
    'user-agent': `openpnc/${VERSION}`,
  }
  let answer
  try {
    answer = await http.request(call.url, { method: 'POST', headers, body })
  } catch (error) {
    throw new WebhookCallFailure((error as Error).message, null, null)
  }
  if (answer.statusCode < 200 || answer.statusCode >= 300) {
    throw new WebhookCallFailure(`HTTP ${answer.statusCode} from the endpoint`, answer.statusCode, answerExcerpt(answer.body))
  }
  return { statusCode: answer.statusCode }
}

export class WebhookCallFailure extends DeliveryFailure {
  constructor(
    reason: string,
    readonly statusCode: number | null,
    readonly excerpt: string | null,
  ) {
    super(reason, false)
  }
}

/**
 * Partner webhooks: partner events (written by triggers, migration 0020) become one delivery per
 * subscribed endpoint, in fan-out order, and the durable engine sends each endpoint's queue:
 * - one engine row per endpoint: its lease keeps one worker per endpoint across instances, and
 *   its send delivers the pending deliveries one after the other in position order (at least once);
 * - a failed call is recorded and the send fails retryable: the engine backs off, the queue waits;
 * - a delivery still failing `retryWindowMs` after its first attempt is marked failed and the
 *   endpoint moves on to the next one.
 */
export class PartnerWebhooks {
  private readonly consumer: OutboxConsumer
  private readonly fanning: Periodic

  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
    private readonly http: OutgoingHttp,
    engine: DeliveryEngine,
    private readonly log: Logger,
    private readonly options: PartnerWebhooksOptions,
  ) {
    this.consumer = new Outbox(db).consumer(WEBHOOKS_CONSUMER)
    this.fanning = new Periodic(() => this.fanOut(), {
      everyMs: options.pollMs,
      onError: (err) => log.warn({ err }, 'webhooks: fanning out partner events failed'),
    })
    const sender: DeliverySender = {
      label: 'Partner webhook',
      describe: (destination) => ({ webhookId: endpointOf(destination) }),
      open: async (destination) => ({ send: () => this.deliverQueue(endpointOf(destination)) }),
    }
    engine.register(WEBHOOK, sender)
  }

  start() {
    this.fanning.start()
  }

  async stop() {
    await this.fanning.stop()
  }

  /**
   * One step of the outbox consumer: a delivery for every enabled endpoint of the event's
   * organization subscribed to its type, and the engine armed, in one transaction. Returns how many.
   */
  async fanOut(): Promise<number> {
    return (
      (await this.consumer.step(async (trx, events) => {
        // The inner ORDER BY feeds the insert in event order, so positions follow it.
        const inserted = await sql<{ endpoint_id: string }>`
          INSERT INTO webhook_deliveries (endpoint_id, event_seq)
          SELECT endpoint_id, seq FROM (
            SELECT w.id AS endpoint_id, e.seq
              FROM partner_events e
              JOIN webhook_endpoints w ON w.organization_id = e.organization_id AND w.enabled
                                      AND w.events && ARRAY[e.type, '*']
             WHERE ${events}
             ORDER BY e.seq, w.id) AS fanned
          ON CONFLICT (endpoint_id, event_seq) DO NOTHING
          RETURNING endpoint_id`.execute(trx)
        await armEndpoints(trx, [...new Set(inserted.rows.map((r) => r.endpoint_id))])
        return inserted.rows.length
      })) ?? 0
    )
  }

  /** The secrets that sign now: the current one, and the previous one during its grace. */
  private signingSecrets(endpoint: {
    id: string
    secret_sealed: string
    previous_secret_sealed: string | null
    previous_secret_until: Date | string | null
  }) {
    const context = secretContext(endpoint.id)
    const secrets = [this.secrets.open(endpoint.secret_sealed, context)]
    if (endpoint.previous_secret_sealed && endpoint.previous_secret_until && new Date(endpoint.previous_secret_until) > new Date()) {
      secrets.push(this.secrets.open(endpoint.previous_secret_sealed, context))
    }
    return secrets
  }

  /** One send of an endpoint's row: its pending deliveries, in order, until one fails or none is left. */
  async deliverQueue(endpointId: string): Promise<void> {
    const endpoint = await this.db.selectFrom('webhook_endpoints').selectAll().where('id', '=', endpointId).executeTakeFirst()
    // Gone, or switched off (its queue waits; enabling it arms it again).
    if (!endpoint || !endpoint.enabled) return
    const secrets = this.signingSecrets(endpoint)
    const startedAt = Date.now()
    // Successes are recorded a few at a time (one statement, not one per call); a crash in between
    // sends those again, which at-least-once allows and the stable webhook-id lets partners spot.
    const delivered: Array<{ id: string; statusCode: number; attemptAt: Date }> = []
    const recordDelivered = async () => {
      if (delivered.length === 0) return
      const done = delivered.splice(0)
      await sql`
        UPDATE webhook_deliveries d
           SET status = 'delivered', attempts = d.attempts + 1, first_attempt_at = coalesce(d.first_attempt_at, x.at),
               last_attempt_at = x.at, last_status_code = x.code, last_error = NULL, delivered_at = now()
          FROM unnest(${done.map((d) => d.id)}::uuid[], ${done.map((d) => d.statusCode)}::int[],
                      ${done.map((d) => d.attemptAt.toISOString())}::timestamptz[]) AS x (id, code, at)
         WHERE d.id = x.id AND d.status = 'pending'`.execute(this.db)
    }
    for (;;) {
      const queue = await this.db
        .selectFrom('webhook_deliveries as d')
        .innerJoin('partner_events as e', 'e.seq', 'd.event_seq')
        .select(['d.id', 'd.position', 'd.first_attempt_at', 'e.id as event_id', 'e.type', 'e.data', 'e.occurred_at'])
        .where('d.endpoint_id', '=', endpointId)
        .where('d.status', '=', 'pending')
        .orderBy('d.position')
        .limit(QUEUE_PAGE)
        .execute()
      if (queue.length === 0) return
      for (const delivery of queue) {
        if (Date.now() - startedAt > this.options.sendBudgetMs) {
          // The rest in a later round, so this lease never runs out mid-call.
          await recordDelivered()
          await armEndpoints(this.db, [endpointId], 'afresh')
          return
        }
        const attemptAt = new Date()
        try {
          const answer = await sendWebhook(this.http, {
            url: endpoint.url,
            secrets,
            eventUuid: delivery.event_id,
            type: delivery.type,
            occurredAt: new Date(delivery.occurred_at),
            snapshot: delivery.data,
          })
          delivered.push({ id: delivery.id, statusCode: answer.statusCode, attemptAt })
        } catch (error) {
          await recordDelivered()
          const failure = error instanceof WebhookCallFailure ? error : new WebhookCallFailure((error as Error).message, null, null)
          const firstAttemptAt = delivery.first_attempt_at === null ? attemptAt : new Date(delivery.first_attempt_at)
          const givenUp = attemptAt.getTime() - firstAttemptAt.getTime() >= this.options.retryWindowMs
          const lastError = (failure.excerpt ? `${failure.reason}: ${failure.excerpt}` : failure.reason).slice(0, 500)
          await this.db
            .updateTable('webhook_deliveries')
            .set({
              status: givenUp ? 'failed' : 'pending',
              attempts: sql`attempts + 1`,
              first_attempt_at: firstAttemptAt,
              last_attempt_at: attemptAt,
              last_status_code: failure.statusCode,
              last_error: lastError,
            })
            .where('id', '=', delivery.id)
            .where('status', '=', 'pending')
            .execute()
          if (!givenUp) throw DeliveryFailure.retryable(failure.reason)
          this.log.warn(
            { webhookId: endpointId, eventId: webhookEventId(delivery.event_id), type: delivery.type, reason: failure.reason },
            'webhook delivery given up after its retry window; the endpoint moves on to the next event',
          )
        }
      }
      await recordDelivered()
    }
  }
}
