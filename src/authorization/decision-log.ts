import { sql } from 'kysely'
import type { Db } from '../db/database.ts'
import type { Logger } from '../logger.ts'

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
    try {
      // One JSON parameter, whatever the batch size: PostgreSQL prepares one statement, and
      // serializing a batch is one JSON.stringify rather than an escape per value.
      await sql`
        INSERT INTO authorization_decisions (authorization_reference, protocol, partner_id, token_uid, token_type, emaid_identity,
                                             key_id, organization_id, allowed, location, latency_us, decided_at)
        SELECT "authorizationReference", protocol, "partnerId", "tokenUid", "tokenType", "emaidIdentity", "keyId", "organizationId",
               allowed, location, "latencyUs", to_timestamp("decidedAt" / 1000)
          FROM json_to_recordset(${JSON.stringify(batch)}::json) AS d(
          "authorizationReference" text, protocol text, "partnerId" uuid, "tokenUid" text, "tokenType" text, "emaidIdentity" text,
          "keyId" uuid, "organizationId" uuid, allowed text, location jsonb, "latencyUs" int, "decidedAt" float8)`.execute(this.db)
    } catch (err) {
      // Keep them for the next attempt, within bounds: the answers are already out.
      const keep = batch.slice(-(this.options.maxBuffered ?? 100_000))
      this.buffer = keep.concat(this.buffer)
      this.log.error({ err, pending: this.buffer.length }, 'could not record authorization decisions; will retry')
      if (!this.timer) {
        this.timer = setTimeout(() => void this.flush(), 1000)
        this.timer.unref()
      }
    }
  }
}
