import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import { roamingKeys, toRoamingKey } from '../../services/keys/roaming-key.ts'
import type { OutgoingHttp } from '../../infra/http/outgoing.ts'
import type { Logger } from '../../infra/logger.ts'
import { isValid } from '../../core/authorization/decision.ts'
import { ocpiCall, OcpiClientError } from './client.ts'
import type { OcpiPartner, OcpiPartners } from './partners.ts'
import { toOcpiToken, type OcpiToken } from './tokens.ts'
import { partnerEndpoint, partnerHasEndpoint } from './protocol.ts'
import { calledUrl, ocpiTimestamp } from './transport.ts'

export interface PushOptions {
  /** the outgoing policy for calls to partners */
  http: OutgoingHttp
  pollMs?: number
  batchSize?: number
  /** first retry after about this long, doubling per failure up to maxBackoffMs (with jitter) */
  baseBackoffMs?: number
  maxBackoffMs?: number
  /** a claimed delivery is ours this long; must exceed the HTTP timeout */
  leaseMs?: number
  timeoutMs?: number
  /** Told of each failed delivery attempt (metrics). */
  onFailure?: (partnerId: string) => void
}

const CURSOR = 'ocpi-token-push'
/** A partner we push tokens to (`p` is ocpi_partners): registered, with a tokens Receiver. */
const RECEIVES_TOKENS = sql`p.status = 'registered' AND ${partnerHasEndpoint('putToken', 'p.endpoints')}`

/** Backoff before retry `attempts` (1 = first retry): exponential, capped, with full jitter on the upper half. */
export function backoffMs(attempts: number, base: number, max: number, random = Math.random): number {
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempts - 1))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}

/**
 * Pushes every key change to every registered CPO with a tokens Receiver.
 * 1. publish: key events of completed transactions become one delivery row per (partner, key),
 *    remembering the newest event; the cursor moves by transaction ID, so nothing is skipped.
 * 2. deliver: due rows are leased, the key's *current* state is sent (PUT, or PATCH valid:false
 *    once the CPO has the token), and the row is marked delivered up to the event it covered.
 *    A later change re-arms the row, so an older state never follows a newer one, and a CPO that
 *    was down receives each token's newest state when it is back.
 */
export class TokenPush {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private stopped = false
  /** partners whose deliveries are failing: the first failure's time and the failed attempts since */
  private readonly failureStreaks = new Map<string, { since: Date; failedAttempts: number }>()

  constructor(
    private readonly db: Db,
    private readonly partners: OcpiPartners,
    private readonly party: { countryCode: string; partyId: string },
    private readonly log: Logger,
    private readonly options: PushOptions,
  ) {}

  start() {
    this.stopped = false
    const loop = async () => {
      if (this.stopped) return
      this.running = this.runOnce().then(
        () => undefined,
        (err) => this.log.warn({ err }, 'OCPI token push round failed'),
      )
      await this.running
      if (!this.stopped) {
        this.timer = setTimeout(loop, this.options.pollMs ?? 500)
        this.timer.unref()
      }
    }
    this.timer = setTimeout(loop, 0)
    this.timer.unref()
  }

  async stop() {
    this.stopped = true
    clearTimeout(this.timer)
    await this.running
  }

  /** One publish and one delivery round; tests call it to step the pipeline. */
  async runOnce(): Promise<{ published: number; delivered: number; failed: number }> {
    const published = await this.publish()
    let delivered = 0
    let failed = 0
    // Drain what is due now, batch by batch.
    for (;;) {
      const round = await this.deliverDue()
      delivered += round.delivered
      failed += round.failed
      if (round.claimed < (this.options.batchSize ?? 200) || this.stopped) break
    }
    return { published, delivered, failed }
  }

  /** Outbox -> delivery rows, for the events of every transaction that has completed. */
  async publish(): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      await sql`INSERT INTO outbox_cursors (name, next_tx_id) VALUES (${CURSOR}, '0') ON CONFLICT (name) DO NOTHING`.execute(trx)
      // Locked: one publisher at a time across instances.
      const cursor = await sql<{
        next_tx_id: string
      }>`SELECT next_tx_id::text FROM outbox_cursors WHERE name = ${CURSOR} FOR UPDATE`.execute(trx)
      const from = cursor.rows[0]!.next_tx_id
      const horizon = (await sql<{ xmin: string }>`SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin`.execute(trx)).rows[0]!.xmin
      if (from === horizon) return 0
      const inserted = await sql`
        INSERT INTO ocpi_token_deliveries (partner_id, key_id, pending_seq)
        SELECT p.id, e.key_id, max(e.seq)
          FROM key_events e
          CROSS JOIN ocpi_partners p
         WHERE e.tx_id >= ${from}::xid8 AND e.tx_id < ${horizon}::xid8
           AND ${RECEIVES_TOKENS}
         GROUP BY p.id, e.key_id
        ON CONFLICT (partner_id, key_id) DO UPDATE
          SET pending_seq = GREATEST(ocpi_token_deliveries.pending_seq, EXCLUDED.pending_seq),
              -- a row that was up to date starts afresh; a failing one keeps its backoff
              next_attempt_at = CASE WHEN ocpi_token_deliveries.delivered_seq >= ocpi_token_deliveries.pending_seq
                                     THEN now() ELSE ocpi_token_deliveries.next_attempt_at END,
              attempts = CASE WHEN ocpi_token_deliveries.delivered_seq >= ocpi_token_deliveries.pending_seq
                              THEN 0 ELSE ocpi_token_deliveries.attempts END,
              updated_at = now()`.execute(trx)
      await sql`UPDATE outbox_cursors SET next_tx_id = ${horizon}::xid8 WHERE name = ${CURSOR}`.execute(trx)
      return Number(inserted.numAffectedRows ?? 0)
    })
  }

  private async deliverDue(): Promise<{ claimed: number; delivered: number; failed: number }> {
    const leaseMs = this.options.leaseMs ?? Math.max(60_000, 2 * this.options.http.policy.timeoutMs)
    const claimed = await sql<{ partner_id: string; key_id: string; pending_seq: string; delivered_seq: string; attempts: number }>`
      UPDATE ocpi_token_deliveries d
         SET leased_until = now() + make_interval(secs => ${leaseMs / 1000})
        FROM (SELECT partner_id, key_id FROM ocpi_token_deliveries
               WHERE pending_seq > delivered_seq AND next_attempt_at <= now()
                 AND (leased_until IS NULL OR leased_until < now())
                 -- a suspended partner's deliveries wait for it to be resumed
                 AND partner_id NOT IN (SELECT id FROM ocpi_partners WHERE suspended_at IS NOT NULL)
               ORDER BY next_attempt_at
               LIMIT ${this.options.batchSize ?? 200}
               FOR UPDATE SKIP LOCKED) due
       WHERE d.partner_id = due.partner_id AND d.key_id = due.key_id
      RETURNING d.partner_id, d.key_id, d.pending_seq::text, d.delivered_seq::text, d.attempts`.execute(this.db)
    if (claimed.rows.length === 0) return { claimed: 0, delivered: 0, failed: 0 }

    const keys = new Map(
      (
        await roamingKeys(this.db)
          .where('k.id', 'in', [...new Set(claimed.rows.map((r) => r.key_id))])
          .execute()
      ).map((row) => {
        const key = toRoamingKey(row)
        return [key.key.id, key] as const
      }),
    )
    const partners = new Map<string, Awaited<ReturnType<TokenPush['target']>>>()
    let delivered = 0
    let failed = 0
    const byPartner = new Map<string, typeof claimed.rows>()
    for (const row of claimed.rows) byPartner.set(row.partner_id, [...(byPartner.get(row.partner_id) ?? []), row])
    await Promise.all(
      [...byPartner].map(async ([partnerId, rows]) => {
        let target = partners.get(partnerId)
        if (target === undefined) {
          target = await this.target(partnerId)
          partners.set(partnerId, target)
        }
        if (target === 'suspended') {
          // Suspended since the rows were claimed: hand them back untouched.
          await this.release(partnerId, rows)
          return
        }
        const outcome = { delivered: 0, failed: 0, firstError: undefined as string | undefined }
        // Few at a time per partner: fast, without flooding one CPO.
        for (let i = 0; i < rows.length; i += 8) {
          await Promise.all(
            rows.slice(i, i + 8).map(async (row) => {
              const error = await this.deliver(row, target, keys.get(row.key_id))
              if (error === undefined) {
                delivered++
                outcome.delivered++
              } else {
                failed++
                outcome.failed++
                outcome.firstError ??= error
              }
            }),
          )
        }
        if (target) this.noteOutcome(target.partner, outcome)
      }),
    )
    return { claimed: claimed.rows.length, delivered, failed }
  }

  /**
   * Logs a partner's failing deliveries once per streak: its first failing round at warn (with the
   * reason), the round that delivers again at info with the number of failed attempts between.
   * A round with any delivery ends a streak; one with failures only starts or extends it.
   */
  private noteOutcome(partner: OcpiPartner, outcome: { delivered: number; failed: number; firstError?: string }) {
    const streak = this.failureStreaks.get(partner.id)
    if (outcome.delivered > 0) {
      if (streak) {
        this.failureStreaks.delete(partner.id)
        const failedAttempts = streak.failedAttempts + outcome.failed
        this.log.info(
          { partnerId: partner.id, partner: partner.name, failedAttempts, failingSince: streak.since.toISOString() },
          'OCPI token deliveries to the partner work again',
        )
      }
    } else if (outcome.failed > 0) {
      if (streak) streak.failedAttempts += outcome.failed
      else {
        this.failureStreaks.set(partner.id, { since: new Date(), failedAttempts: outcome.failed })
        this.log.warn(
          { partnerId: partner.id, partner: partner.name, reason: outcome.firstError },
          'OCPI token deliveries to the partner fail',
        )
      }
    }
  }

  /** Hands claimed rows back without counting an attempt. */
  private async release(partnerId: string, rows: Array<{ key_id: string }>) {
    await this.db
      .updateTable('ocpi_token_deliveries')
      .set({ leased_until: null })
      .where('partner_id', '=', partnerId)
      .where(
        'key_id',
        'in',
        rows.map((r) => r.key_id),
      )
      .execute()
  }

  private async target(partnerId: string): Promise<{ partner: OcpiPartner; token: string; tokensUrl: string } | null | 'suspended'> {
    try {
      const partner = await this.partners.get(partnerId)
      const tokensUrl = partnerEndpoint(partner.endpoints, 'putToken')
      if (partner.suspendedAt) return 'suspended'
      if (partner.status !== 'registered' || !tokensUrl || !partner.version) return null
      return { partner, token: await this.partners.outgoingToken(partnerId), tokensUrl }
    } catch {
      return null
    }
  }

  private async deliver(
    row: { partner_id: string; key_id: string; pending_seq: string; delivered_seq: string; attempts: number },
    target: { partner: OcpiPartner; token: string; tokensUrl: string } | null,
    key: ReturnType<typeof toRoamingKey> | undefined,
  ): Promise<string | undefined> {
    try {
      if (!target) {
        // The partner is gone or no longer receives tokens: nothing left to deliver.
        await this.markDelivered(row)
        return undefined
      }
      if (!key) throw new Error(`key ${row.key_id} not found`)
      const { partner } = target
      const token = toOcpiToken(key, {
        version: partner.version!,
        partner,
        countryCode: this.party.countryCode,
        partyId: this.party.partyId,
      })
      const url = tokenUrl(target.tokensUrl, token)
      const to = partner.roles[0] && { country_code: partner.roles[0].country_code, party_id: partner.roles[0].party_id }
      const call = {
        http: this.options.http,
        token: target.token,
        style: partner.authorizationStyle,
        from: { country_code: this.party.countryCode, party_id: this.party.partyId },
        to,
        timeoutMs: this.options.timeoutMs,
      }
      const neverSent = row.delivered_seq === '0'
      if (!isValid(key, new Date()) && !neverSent && (key.deletedAt || !key.enabled || key.userDeletedAt)) {
        await ocpiCall('PATCH', url, { ...call, body: { valid: false, last_updated: ocpiTimestamp(key.key.updatedAt) } })
      } else {
        await ocpiCall('PUT', url, { ...call, body: token })
      }
      await this.markDelivered(row)
      return undefined
    } catch (error) {
      this.options.onFailure?.(row.partner_id)
      const attempts = row.attempts + 1
      const delay = backoffMs(attempts, this.options.baseBackoffMs ?? 1000, this.options.maxBackoffMs ?? 300_000)
      await this.db
        .updateTable('ocpi_token_deliveries')
        .set({
          attempts,
          next_attempt_at: new Date(Date.now() + delay),
          leased_until: null,
          last_error: (error as Error).message.slice(0, 500),
          updated_at: new Date(),
        })
        .where('partner_id', '=', row.partner_id)
        .where('key_id', '=', row.key_id)
        .execute()
      return (error as Error).message
    }
  }

  private async markDelivered(row: { partner_id: string; key_id: string; pending_seq: string }) {
    await this.db
      .updateTable('ocpi_token_deliveries')
      .set({
        delivered_seq: row.pending_seq,
        attempts: 0,
        leased_until: null,
        last_error: null,
        next_attempt_at: new Date(),
        updated_at: new Date(),
      })
      .where('partner_id', '=', row.partner_id)
      .where('key_id', '=', row.key_id)
      .execute()
  }

  /** Per-partner delivery status for the admin API. */
  async status(partnerId: string) {
    const row = await this.db
      .selectFrom('ocpi_token_deliveries')
      .select((eb) => [
        eb.fn
          .count<string>('key_id')
          .filterWhere(sql<boolean>`pending_seq > delivered_seq`)
          .as('backlog'),
        eb.fn
          .count<string>('key_id')
          .filterWhere(sql<boolean>`pending_seq > delivered_seq AND attempts > 0`)
          .as('failing'),
        eb.fn
          .count<string>('key_id')
          .filterWhere(sql<boolean>`pending_seq <= delivered_seq`)
          .as('delivered'),
        eb.fn
          .min('next_attempt_at')
          .filterWhere(sql<boolean>`pending_seq > delivered_seq`)
          .as('next_attempt_at'),
      ])
      .where('partner_id', '=', partnerId)
      .executeTakeFirstOrThrow()
    const lastError = await this.db
      .selectFrom('ocpi_token_deliveries')
      .select(['last_error', 'updated_at'])
      .where('partner_id', '=', partnerId)
      .where('last_error', 'is not', null)
      .orderBy('updated_at', 'desc')
      .limit(1)
      .executeTakeFirst()
    // Key changes the publisher has not turned into delivery rows yet (it runs every poll) are
    // backlog too: without them the backlog reads 0 for a moment while a change is on its way.
    const unpublished = await sql<{ keys: string }>`
      SELECT count(DISTINCT e.key_id)::text AS keys
        FROM key_events e
       WHERE e.tx_id >= coalesce((SELECT next_tx_id FROM outbox_cursors WHERE name = ${CURSOR}), '0'::xid8)
         AND EXISTS (SELECT 1 FROM ocpi_partners p
                      WHERE p.id = ${partnerId} AND ${RECEIVES_TOKENS})
         AND NOT EXISTS (SELECT 1 FROM ocpi_token_deliveries d
                          WHERE d.partner_id = ${partnerId} AND d.key_id = e.key_id AND d.pending_seq > d.delivered_seq)`.execute(this.db)
    return {
      backlog: Number(row.backlog) + Number(unpublished.rows[0]?.keys ?? 0),
      failing: Number(row.failing),
      delivered: Number(row.delivered),
      nextAttemptAt: row.next_attempt_at ? new Date(row.next_attempt_at as unknown as string) : null,
      lastError: lastError?.last_error ?? null,
    }
  }

  /**
   * Compares the CPO's copy of each of our tokens (GET on its Receiver) with ours and queues a
   * full re-push of every token that differs or is missing. An answer we cannot read (a failure
   * other than "unknown token", or data that is not one token) is counted as unreadable and not
   * re-pushed: a re-push would not make it readable.
   */
  async reconcile(partnerId: string): Promise<{ checked: number; differing: number; unreadable: number }> {
    const target = await this.target(partnerId)
    if (target === 'suspended') throw new Error('the partner is suspended')
    if (!target) throw new Error('partner is not registered or has no tokens Receiver')
    const { partner } = target
    let checked = 0
    const differing: string[] = []
    const unreadable: Array<{ keyId: string; reason: string }> = []
    let after: { at: string; seq: string } | undefined
    for (;;) {
      let query = roamingKeys(this.db).orderBy('k.updated_at').orderBy('k.seq').limit(500)
      if (after) query = query.where(sql<boolean>`(k.updated_at, k.seq) > (${after.at}::timestamptz, ${after.seq}::bigint)`)
      const page = (await query.execute()).map(toRoamingKey)
      if (page.length === 0) break
      after = { at: page.at(-1)!.updatedAtText, seq: page.at(-1)!.key.seq }
      for (let i = 0; i < page.length; i += 16) {
        await Promise.all(
          page.slice(i, i + 16).map(async (key) => {
            const ours = toOcpiToken(key, {
              version: partner.version!,
              partner,
              countryCode: this.party.countryCode,
              partyId: this.party.partyId,
            })
            const url = tokenUrl(target.tokensUrl, ours)
            checked++
            let answer: unknown
            try {
              answer = (await ocpiCall<unknown>('GET', url, {
                  http: this.options.http,
                  token: target.token,
                  style: partner.authorizationStyle,
                })).data
            } catch (error) {
              if (isUnknownToken(error)) differing.push(key.key.id)
              else unreadable.push({ keyId: key.key.id, reason: (error as Error).message })
              return
            }
            const theirs = readToken(answer)
            if (!theirs) {
              unreadable.push({ keyId: key.key.id, reason: `GET ${url}: the data is not one Token` })
              return
            }
            if (!sameToken(theirs, ours)) differing.push(key.key.id)
          }),
        )
      }
    }
    if (differing.length > 0) {
      // delivered_seq 0: sent again as a full PUT.
      await sql`
        INSERT INTO ocpi_token_deliveries (partner_id, key_id, pending_seq, delivered_seq)
        SELECT ${partnerId}::uuid, k.id, coalesce((SELECT max(seq) FROM key_events e WHERE e.key_id = k.id), 1), 0
          FROM charging_keys k WHERE k.id = ANY(${differing}::uuid[])
        ON CONFLICT (partner_id, key_id) DO UPDATE
          SET delivered_seq = 0, attempts = 0, next_attempt_at = now(), leased_until = NULL, updated_at = now()`.execute(this.db)
    }
    if (unreadable.length > 0) {
      this.log.warn({ partnerId, unreadable: unreadable.length, first: unreadable[0] }, "reconcile could not read some of the CPO's tokens")
    }
    return { checked, differing: differing.length, unreadable: unreadable.length }
  }
}

/** Where a token lives on a CPO's tokens Receiver: `{tokens}/{country_code}/{party_id}/{uid}?type=`. */
function tokenUrl(tokensUrl: string, token: { country_code: string; party_id: string; uid: string; type: string }): string {
  // GET, PUT and PATCH of a token share this path (protocol.ts: CALLED).
  return calledUrl('putToken', tokensUrl, { country_code: token.country_code, party_id: token.party_id, token_uid: token.uid }, { type: token.type })
}

/** The CPO does not have the token: HTTP 404 or OCPI 2004. */
const isUnknownToken = (error: unknown) =>
  error instanceof OcpiClientError && (error.ocpiStatus === 2004 || error.httpStatus === 404)

/** The Token in a GET answer: an object, or (some CPOs answer a list) the one object of a list. */
function readToken(data: unknown): Record<string, unknown> | undefined {
  const token = Array.isArray(data) && data.length === 1 ? data[0] : data
  if (typeof token !== 'object' || token === null || Array.isArray(token)) return undefined
  return typeof (token as { uid?: unknown }).uid === 'string' ? (token as Record<string, unknown>) : undefined
}

/** uid and contract_id are CiStrings, compared without regard to case; the rest exactly. */
function sameToken(theirs: Record<string, unknown>, ours: OcpiToken): boolean {
  const ci = (a: unknown, b: unknown) => typeof a === 'string' && typeof b === 'string' && a.toUpperCase() === b.toUpperCase()
  return (
    (['uid', 'contract_id'] as const).every((f) => ci(theirs[f], ours[f])) &&
    (['type', 'valid', 'whitelist', 'issuer'] as const).every((f) => theirs[f] === ours[f])
  )
}
