import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import { isPgDataError, pgErrorCode } from '../../core/errors.ts'
import type { Logger } from '../../infra/logger.ts'

export interface DecisionRecord {
  authorizationReference: string
  protocol: 'ocpi' | 'oicp'
  partnerId: string | null
  tokenUid: string
  tokenType: string | null
  emaidIdentity: string | null
  keyId: string | null
  organizationId: string | null
  allowed: string
  location: unknown
  latencyUs: number
  /** epoch milliseconds: a number costs less to batch than a Date */
  decidedAt: number
  /** the partner's part, when the organization's authorization endpoint was asked (migration 0021) */
  partnerOutcome?: 'answered' | 'timeout' | 'error' | 'breaker_open'
  partnerAllowed?: string | null
  partnerLatencyUs?: number | null
  partnerError?: string | null
  /** the answer the station got, when it differs from `allowed` (ours) */
  finalAllowed?: string | null
}

/**
 * Records every authorization decision without making the driver wait: decisions are buffered
 * and written in batches shortly after the answer has gone out.
 */
export class DecisionLog {
  private buffer: DecisionRecord[] = []
  private timer: NodeJS.Timeout | undefined
  private flushing: Promise<void> | undefined

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly options: { flushMs?: number; batchSize?: number; maxBuffered?: number } = {},
  ) {}

  record(decision: DecisionRecord) {
    this.buffer.push(decision)
    if (this.buffer.length >= (this.options.batchSize ?? 500)) void this.flush()
    else if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), this.options.flushMs ?? 100)
      this.timer.unref()
    }
  }

  /** Writes what is buffered; resolves when it is stored (tests and shutdown wait for it). */
  async flush(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    while (this.flushing) await this.flushing
    if (this.buffer.length === 0) return
    const batch = this.buffer
    this.buffer = []
    this.flushing = this.write(batch).finally(() => (this.flushing = undefined))
    await this.flushing
  }

  private async write(batch: DecisionRecord[]) {
    const records = batch.map(storableDecision)
    try {
      await this.insert(records)
    } catch (err) {
      // The data, not the database, is at fault: the same batch would fail identically for ever,
      // holding every other decision back with it. Each record on its own finds the one(s).
      if (isPgDataError(err)) return this.writeOneByOne(records)
      this.retryLater(records, err)
    }
  }

  private async writeOneByOne(records: DecisionRecord[]) {
    for (let i = 0; i < records.length; i++) {
      const record = records[i]!
      try {
        await this.insert([record])
      } catch (err) {
        if (!isPgDataError(err)) return this.retryLater(records.slice(i), err)
        // Logged once and dropped; no token value in the log, and the message may quote one.
        this.log.error(
          { authorizationReference: record.authorizationReference, partnerId: record.partnerId, sqlstate: pgErrorCode(err) },
          'authorization decision could not be recorded; dropped',
        )
      }
    }
  }

  private retryLater(records: DecisionRecord[], err: unknown) {
    // Keep them for the next attempt, within bounds: the answers are already out.
    const keep = records.slice(-(this.options.maxBuffered ?? 100_000))
    this.buffer = keep.concat(this.buffer)
    this.log.error({ err, pending: this.buffer.length }, 'could not record authorization decisions; will retry')
    if (!this.timer) {
      this.timer = setTimeout(() => void this.flush(), 1000)
      this.timer.unref()
    }
  }

  private async insert(records: DecisionRecord[]) {
    // One JSON parameter, whatever the batch size: PostgreSQL prepares one statement, and
    // serializing a batch is one JSON.stringify rather than an escape per value.
    await sql`
      INSERT INTO authorization_decisions (authorization_reference, protocol, partner_id, token_uid, token_type, emaid_identity,
                                           key_id, organization_id, allowed, location, latency_us, decided_at,
                                           partner_outcome, partner_allowed, partner_latency_us, partner_error, final_allowed)
      SELECT "authorizationReference", protocol, "partnerId", "tokenUid", "tokenType", "emaidIdentity", "keyId", "organizationId",
             allowed, location, "latencyUs", to_timestamp("decidedAt" / 1000),
             "partnerOutcome", "partnerAllowed", "partnerLatencyUs", "partnerError", "finalAllowed"
        FROM json_to_recordset(${JSON.stringify(records)}::json) AS d(
        "authorizationReference" text, protocol text, "partnerId" uuid, "tokenUid" text, "tokenType" text, "emaidIdentity" text,
        "keyId" uuid, "organizationId" uuid, allowed text, location jsonb, "latencyUs" int, "decidedAt" float8,
        "partnerOutcome" text, "partnerAllowed" text, "partnerLatencyUs" int, "partnerError" text, "finalAllowed" text)`.execute(this.db)
  }
}

/**
 * Classes of SQLSTATE where the statement's data is at fault (22 data exception, 23 integrity
 * constraint violation): sending it again fails again. Anything else (a lost connection, a
 * missing table, an overloaded server) may pass on the next attempt.
 */
// NUL, and a UTF-16 surrogate without its partner: neither exists in PostgreSQL text (nor jsonb).
const UNSTORABLE = /\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g

/** The text as PostgreSQL can store it: NUL and lone surrogates become U+FFFD, the rest is kept. */
export function storableText(text: string): string {
  UNSTORABLE.lastIndex = 0
  return UNSTORABLE.test(text) ? text.replace(UNSTORABLE, '\uFFFD') : text
}

/** A JSON value with every string, keys included, made storable; the value itself when nothing needs it. */
export function storableJson(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value)
  if (Array.isArray(value)) {
    const items = value.map(storableJson)
    return items.every((item, i) => item === value[i]) ? value : items
  }
  if (value !== null && typeof value === 'object') {
    let changed = false
    const entries = Object.entries(value).map(([key, item]) => {
      const entry = [storableText(key), storableJson(item)] as const
      if (entry[0] !== key || entry[1] !== item) changed = true
      return entry
    })
    return changed ? Object.fromEntries(entries) : value
  }
  return value
}

/**
 * The decision as it can be stored: a token uid comes from a partner's URL and may hold anything
 * (a NUL, half a surrogate pair), and one such value must not stop a batch of others.
 */
export function storableDecision(record: DecisionRecord): DecisionRecord {
  const tokenUid = storableText(record.tokenUid)
  const tokenType = record.tokenType === null ? null : storableText(record.tokenType)
  const emaidIdentity = record.emaidIdentity === null ? null : storableText(record.emaidIdentity)
  const location = storableJson(record.location)
  if (
    tokenUid === record.tokenUid &&
    tokenType === record.tokenType &&
    emaidIdentity === record.emaidIdentity &&
    location === record.location
  ) {
    return record
  }
  return { ...record, tokenUid, tokenType, emaidIdentity, location }
}
