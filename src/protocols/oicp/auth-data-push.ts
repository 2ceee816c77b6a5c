import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import {
  DeliveryEngine,
  type Delivery,
  type DeliverySender,
  type DeliveryStatus,
  type DestinationSession,
} from '../../infra/delivery/engine.ts'
import { DeliveryFailure } from '../../infra/delivery/failure.ts'
import type { Logger } from '../../infra/logger.ts'
import { Outbox, OutboxConsumer } from '../../infra/outbox/outbox.ts'
import { Periodic } from '../../infra/periodic.ts'
import {
  authRecordOf,
  FULL_LOAD_SUBJECT,
  HUBJECT_DESTINATION,
  isRecordSubject,
  OICP_AUTH_DATA,
  pushRequest,
  recordAction,
  recordLabel,
  runsOf,
  type AuthActionType,
  type AuthenticationDataRecord,
} from './auth-data.ts'
import { OicpClientError, type OicpClient } from './client.ts'

/** The outbox consumer that turns key changes into Hubject authentication data deliveries. */
export const AUTH_DATA_CONSUMER = 'oicp-auth-data-push'

/** A key's record subject in SQL (`k` is charging_keys), NULL for keys without an OICP record (see authSubjectOf). */
const SUBJECT = sql<string | null>`(CASE
  WHEN k.type = 'plug_and_charge' AND substr(k.emaid_identity, 6, 1) = 'C' THEN 'evco:' || k.emaid_identity
  WHEN k.type = 'rfid' THEN 'uid:' || k.rfid_uid
END)`

/**
 * A key that may charge now (`k`, its organization `o`, its user `u`): the authorization core's
 * rule (core/authorization/decision.ts `refusal`) in SQL, so a million keys are judged where they are.
 */
const MAY_CHARGE = sql<boolean>`(k.enabled AND k.deleted_at IS NULL AND u.deleted_at IS NULL AND o.enabled
  AND k.valid_from <= now() AND (k.valid_to IS NULL OR k.valid_to > now()))`

export interface AuthDataPushOptions {
  /** how often key changes are read from the outbox */
  pollMs?: number
  /** records per request in a fullLoad */
  fullLoadChunk?: number
  /** records per insert/delete request */
  maxRecordsPerPush?: number
}

/** One push Hubject refused for its data (StatusCode 019 "Inconsistent EvcoID", 022 "Data error", HTTP 400). */
class DataRefusal extends Error {
  constructor(
    readonly reason: string,
    /** Hubject's StatusCode, when it gave one */
    readonly code?: string,
  ) {
    super(reason)
  }
}

/** Hubject's codes that refuse the data of a push rather than say it is unable to take it. */
const DATA_CODES = new Set(['018', '019', '022'])

/**
 * PushAuthenticationData for an offline EMP (OPENPNC_OICP_OFFLINE): every key change reaches
 * Hubject as an insert or delete of its record, through the shared delivery engine on one
 * destination whose pushes never overlap (the spec: the operation "MUST always be used
 * sequentially"), each round's changes in key-change order and batched into few requests, the
 * record's current state sent, failures retried with backoff. A fullLoad on request travels in
 * the same sequence.
 */
export class OicpAuthDataPush implements DeliverySender {
  readonly label = 'OICP authentication data'
  readonly exclusive = true
  private readonly consumer: OutboxConsumer
  private readonly publishing: Periodic

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    readonly engine: DeliveryEngine,
    private readonly client: OicpClient | null,
    /** pushes happen only for an offline EMP */
    readonly offline: boolean,
    private readonly options: AuthDataPushOptions = {},
  ) {
    this.consumer = new Outbox(db).consumer(AUTH_DATA_CONSUMER)
    this.publishing = new Periodic(() => this.publish(), {
      everyMs: options.pollMs ?? 500,
      onError: (err) => log.warn({ err }, 'OICP authentication data publishing failed'),
    })
    if (this.enabled) engine.register(OICP_AUTH_DATA, this)
  }

  /** True when this platform pushes authentication data (an offline EMP with a Hubject URL). */
  get enabled(): boolean {
    return this.offline && this.client !== null
  }

  start() {
    if (this.enabled) this.publishing.start()
  }

  async stop() {
    await this.publishing.stop()
  }

  /**
   * One publishing step: key changes since the last one become deliveries of their records. A key
   * whose validity began or ended by the clock has its event too (services/keys/validity-clock.ts).
   */
  async publish(): Promise<number> {
    if (!this.enabled) return 0
    return (
      (await this.consumer.step((trx, events) =>
        DeliveryEngine.enqueue(
          trx,
          sql`SELECT ${OICP_AUTH_DATA}, ${HUBJECT_DESTINATION}::text, s.subject, max(s.seq)
                FROM (SELECT ${SUBJECT} AS subject, e.seq FROM key_events e JOIN charging_keys k ON k.id = e.key_id WHERE ${events}) s
               WHERE s.subject IS NOT NULL
               GROUP BY s.subject`,
        ),
      )) ?? 0
    )
  }

  /**
   * Asks for a fullLoad: Hubject's whole set replaced by every record that should be there now.
   * It is a delivery like the records' changes, so it never overlaps or overtakes one.
   */
  async requestFullLoad(): Promise<void> {
    await this.engine.enqueue(
      [{ kind: OICP_AUTH_DATA, destination: HUBJECT_DESTINATION, subject: FULL_LOAD_SUBJECT, version: 1 }],
      'afresh',
    )
  }

  /** Sends the waiting changes now, their backoff skipped, dead letters included. Returns how many. */
  async pushNow(): Promise<number> {
    return (await this.engine.replay(HUBJECT_DESTINATION)) + (await this.engine.hurry(HUBJECT_DESTINATION))
  }

  /** One publishing step and one delivery round; tests call it to step the pipeline. */
  async runOnce(): Promise<{ published: number; delivered: number; failed: number }> {
    const published = await this.publish()
    const { delivered, failed } = await this.engine.runOnce()
    return { published, delivered, failed }
  }

  // ----- the delivery engine's sender

  describe() {
    return { providerId: this.client?.providerId }
  }

  async open(_destination: string, _deliveries: readonly Delivery[]): Promise<DestinationSession> {
    if (!this.client) throw DeliveryFailure.retryable('no Hubject URL is configured (OPENPNC_OICP_URL)')
    const client = this.client
    return { describe: { hubject: client.url('pushAuthenticationData') }, sendAll: (deliveries) => this.sendAll(client, deliveries) }
  }

  /**
   * Sends a round: the fullLoad first when one is due, then each record's current state compared
   * with what Hubject holds, as runs of inserts and deletes in key-change order. The first failure
   * Hubject may recover from stops the round (what follows waits for the retry); a record Hubject
   * refuses for its data is found by halving its request and fails alone, for good.
   */
  private async sendAll(client: OicpClient, deliveries: readonly Delivery[]): Promise<Map<string, unknown>> {
    const failures = new Map<string, unknown>()
    const ordered = [...deliveries].sort((a, b) =>
      BigInt(a.version) < BigInt(b.version) ? -1 : BigInt(a.version) > BigInt(b.version) ? 1 : 0,
    )
    const fullLoad = ordered.find((d) => d.subject === FULL_LOAD_SUBJECT)
    const records = ordered.filter((d) => d.subject !== FULL_LOAD_SUBJECT)
    for (const d of records) {
      if (!isRecordSubject(d.subject))
        failures.set(d.subject, DeliveryFailure.permanent(`${d.subject} names no authentication data record`))
    }
    if (fullLoad) {
      try {
        await this.fullLoad(client)
      } catch (error) {
        failures.set(FULL_LOAD_SUBJECT, error)
        if (!(error instanceof DeliveryFailure && error.permanent)) {
          for (const d of records) if (!failures.has(d.subject)) failures.set(d.subject, error)
          return failures
        }
      }
    }
    const subjects = records.map((d) => d.subject).filter((s) => !failures.has(s))
    if (subjects.length === 0) return failures
    const wanted = await this.wanted(subjects)
    const held = new Set(
      (await this.db.selectFrom('oicp_auth_records').select('record').where('record', 'in', subjects).execute()).map((r) => r.record),
    )
    const changes = subjects.flatMap((subject) => {
      const action = recordAction(wanted.has(subject), held.has(subject))
      return action ? [{ subject, action, record: authRecordOf(subject) }] : []
    })
    const runs = runsOf(changes, this.options.maxRecordsPerPush ?? 1000)
    for (let i = 0; i < runs.length; i++) {
      try {
        const refused = await this.pushRecords(client, runs[i]![0]!.action, runs[i]!)
        for (const [subject, reason] of refused) failures.set(subject, DeliveryFailure.permanent(reason))
      } catch (error) {
        const failure = classifyPushFailure(error)
        for (const run of runs.slice(i)) for (const change of run) failures.set(change.subject, failure)
        break
      }
    }
    return failures
  }

  /** The subjects among `subjects` that Hubject should hold: some key carrying them may charge now. */
  private async wanted(subjects: readonly string[]): Promise<Set<string>> {
    const identities = subjects.filter((s) => s.startsWith('evco:')).map((s) => s.slice(5))
    const uids = subjects.filter((s) => s.startsWith('uid:')).map((s) => s.slice(4))
    const rows = await sql<{ subject: string }>`
      SELECT DISTINCT ${SUBJECT} AS subject
        FROM charging_keys k JOIN organizations o ON o.id = k.organization_id JOIN users u ON u.id = k.user_id
       WHERE ((k.type = 'plug_and_charge' AND k.emaid_identity = ANY(${identities}::text[]))
              OR (k.type = 'rfid' AND k.rfid_uid = ANY(${uids}::text[])))
         AND ${MAY_CHARGE}`.execute(this.db)
    return new Set(rows.rows.map((r) => r.subject))
  }

  /**
   * Pushes one action's records. A data refusal of several is halved until each refused record
   * stands alone (Hubject aborts the whole request for one bad record); returns those with the
   * reason. A record Hubject says it holds already, refused as an insert, is sent as an update.
   */
  private async pushRecords(
    client: OicpClient,
    action: 'insert' | 'delete',
    items: ReadonlyArray<{ subject: string; record: AuthenticationDataRecord }>,
  ): Promise<Map<string, string>> {
    const refused = new Map<string, string>()
    try {
      await this.push(
        client,
        action,
        items.map((i) => i.record),
      )
      await this.noteHeld(action, items)
      return refused
    } catch (error) {
      if (!(error instanceof DataRefusal)) throw error
      if (items.length > 1) {
        const half = Math.ceil(items.length / 2)
        for (const part of [items.slice(0, half), items.slice(half)]) {
          for (const [subject, reason] of await this.pushRecords(client, action, part)) refused.set(subject, reason)
        }
        return refused
      }
      const item = items[0]!
      if (action === 'insert' && error.code !== '019') {
        // Our copy said Hubject lacks it, Hubject says otherwise: it holds the record, so an update sets it.
        try {
          await this.push(client, 'update', [item.record])
          await this.noteHeld('insert', items)
          return refused
        } catch (retry) {
          if (!(retry instanceof DataRefusal)) throw retry
        }
      }
      refused.set(item.subject, `Hubject refused the ${action} of ${recordLabel(item.record)}: ${error.reason}`)
      return refused
    }
  }

  /** One push-request; resolves when Hubject acknowledged it with Result true. */
  private async push(client: OicpClient, action: AuthActionType, records: AuthenticationDataRecord[]) {
    let answer
    try {
      answer = await client.call('pushAuthenticationData', pushRequest(action, client.providerId, records))
    } catch (error) {
      if (error instanceof OicpClientError && error.httpStatus === 400) throw new DataRefusal(error.reason)
      throw error
    }
    const body = answer.body as { Result?: unknown; StatusCode?: { Code?: unknown; Description?: unknown } }
    if (body.Result === true) {
      await sql`UPDATE oicp_auth_push SET last_push_at = now(), last_push_action = ${action}, last_push_records = ${records.length}`.execute(
        this.db,
      )
      return
    }
    const code = typeof body.StatusCode?.Code === 'string' ? body.StatusCode.Code : undefined
    const said = `StatusCode ${code ?? '(none)'}${typeof body.StatusCode?.Description === 'string' ? ` ${body.StatusCode.Description.slice(0, 200)}` : ''}`
    if (code !== undefined && DATA_CODES.has(code)) throw new DataRefusal(said, code)
    // Hubject's system errors, unauthorized access (a contract or certificate an admin fixes): try again later.
    throw DeliveryFailure.retryable(`Hubject answered Result false: ${said}`)
  }

  /** Our copy of what Hubject holds, after it acknowledged `action` for `items`. */
  private async noteHeld(action: 'insert' | 'delete', items: ReadonlyArray<{ subject: string; record: AuthenticationDataRecord }>) {
    if (items.length === 0) return
    if (action === 'delete') {
      await this.db
        .deleteFrom('oicp_auth_records')
        .where(
          'record',
          'in',
          items.map((i) => i.subject),
        )
        .execute()
      return
    }
    await this.db
      .insertInto('oicp_auth_records')
      .values(items.map((i) => ({ record: i.subject, identification: JSON.stringify(i.record.Identification) })))
      .onConflict((oc) => oc.column('record').doUpdateSet({ pushed_at: sql`now()` }))
      .execute()
  }

  /**
   * Replaces Hubject's set with every record that should be there now. A million keys do not fit
   * one request (about 80 bytes a record), so the first chunk goes as fullLoad and the rest as
   * inserts, in record order; nothing else is pushed meanwhile (the destination is exclusive).
   * Hubject lacks the later chunks for the seconds this takes, which a full load implies anyway.
   * A chunk Hubject refuses for one record's data is sent again without it: the fullLoad as an
   * empty one and then inserts, halved down to the refused record, which is queued as its own
   * delivery so that it shows as a dead letter.
   */
  private async fullLoad(client: OicpClient) {
    let first = true
    let total = 0
    const refusedAll = new Set<string>()
    for await (const subjects of this.wantedChunks(this.options.fullLoadChunk ?? 5000)) {
      const items = subjects.map((subject) => ({ subject, record: authRecordOf(subject) }))
      try {
        if (first) {
          try {
            await this.push(
              client,
              'fullLoad',
              items.map((i) => i.record),
            )
            await this.db.deleteFrom('oicp_auth_records').execute()
            await this.noteHeld('insert', items)
          } catch (error) {
            if (!(error instanceof DataRefusal)) throw error
            await this.push(client, 'fullLoad', [])
            await this.db.deleteFrom('oicp_auth_records').execute()
            for (const subject of (await this.pushRecords(client, 'insert', items)).keys()) refusedAll.add(subject)
          }
          first = false
        } else {
          for (const subject of (await this.pushRecords(client, 'insert', items)).keys()) refusedAll.add(subject)
        }
      } catch (error) {
        throw classifyPushFailure(error)
      }
      total += items.length
    }
    if (refusedAll.size > 0) {
      await this.engine.enqueue(
        [...refusedAll].map((subject) => ({ kind: OICP_AUTH_DATA, destination: HUBJECT_DESTINATION, subject, version: 1 })),
        'afresh',
      )
    }
    const loaded = total - refusedAll.size
    await sql`UPDATE oicp_auth_push SET last_full_load_at = now(), last_full_load_records = ${loaded}`.execute(this.db)
    this.log.info({ records: loaded, refused: refusedAll.size }, 'OICP authentication data fullLoad pushed to Hubject')
  }

  /**
   * Every record that should be at Hubject now, in chunks of at most `size` in record order (the
   * first chunk always, empty when there is none). Each chunk is one query that walks an index
   * from where the last one stopped, so the millionth record costs what the first does.
   */
  private async *wantedChunks(size: number): AsyncGenerator<string[]> {
    let yielded = false
    const kinds = [
      {
        type: 'plug_and_charge',
        column: sql.ref('k.emaid_identity'),
        prefix: 'evco:',
        extra: sql`AND substr(k.emaid_identity, 6, 1) = 'C'`,
      },
      { type: 'rfid', column: sql.ref('k.rfid_uid'), prefix: 'uid:', extra: sql`` },
    ]
    let pending: string[] = []
    for (const kind of kinds) {
      let after = ''
      for (;;) {
        const rows = await sql<{ id: string }>`
          SELECT DISTINCT ${kind.column} AS id
            FROM charging_keys k JOIN organizations o ON o.id = k.organization_id JOIN users u ON u.id = k.user_id
           WHERE k.type = ${kind.type} ${kind.extra} AND ${kind.column} > ${after} AND ${MAY_CHARGE}
           ORDER BY 1 LIMIT ${size}`.execute(this.db)
        pending.push(...rows.rows.map((r) => kind.prefix + r.id))
        while (pending.length >= size) {
          yield pending.slice(0, size)
          pending = pending.slice(size)
          yielded = true
        }
        if (rows.rows.length < size) break
        after = rows.rows.at(-1)!.id
      }
    }
    if (pending.length > 0 || !yielded) yield pending
  }

  // ----- the admin view

  /** The push for the admin API: deliveries, what Hubject holds by our count, the last pushes. */
  async status(): Promise<AuthDataPushStatus> {
    const waiting = this.enabled
      ? sql<number>`(SELECT count(DISTINCT e.key_id) FROM key_events e WHERE ${OutboxConsumer.ahead(AUTH_DATA_CONSUMER)})`
      : undefined
    const [delivery, state, held] = await Promise.all([
      this.engine.status(HUBJECT_DESTINATION, waiting),
      this.db.selectFrom('oicp_auth_push').selectAll().executeTakeFirstOrThrow(),
      this.db
        .selectFrom('oicp_auth_records')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .executeTakeFirstOrThrow(),
    ])
    const fullLoadDue = await this.db
      .selectFrom('deliveries')
      .select('subject')
      .where('destination', '=', HUBJECT_DESTINATION)
      .where('subject', '=', FULL_LOAD_SUBJECT)
      .where(sql<boolean>`version > delivered_version AND dead_at IS NULL`)
      .executeTakeFirst()
    return {
      enabled: this.enabled,
      delivery,
      recordsAtHubject: Number(held.n),
      lastPushAt: state.last_push_at ? new Date(state.last_push_at) : null,
      lastPushAction: state.last_push_action,
      lastPushRecords: state.last_push_records,
      lastFullLoadAt: state.last_full_load_at ? new Date(state.last_full_load_at) : null,
      lastFullLoadRecords: state.last_full_load_records,
      fullLoadPending: fullLoadDue !== undefined,
    }
  }
}

export interface AuthDataPushStatus {
  enabled: boolean
  delivery: DeliveryStatus
  /** the records Hubject holds, as its acknowledgments told us */
  recordsAtHubject: number
  lastPushAt: Date | null
  lastPushAction: string | null
  lastPushRecords: number | null
  lastFullLoadAt: Date | null
  lastFullLoadRecords: number | null
  fullLoadPending: boolean
}

/**
 * A push's failure as the engine judges it. Every transport and HTTP failure may pass: Hubject is
 * our one peer, set up by the operator, and a refused certificate or a wrong URL is fixed by them,
 * after which the waiting changes must go out rather than lie parked. A data refusal that reaches
 * here concerns every record of the request.
 */
function classifyPushFailure(error: unknown): unknown {
  if (error instanceof DataRefusal) return DeliveryFailure.permanent(`Hubject refused the push: ${error.reason}`)
  if (error instanceof OicpClientError) return DeliveryFailure.retryable(error.message)
  return error
}
