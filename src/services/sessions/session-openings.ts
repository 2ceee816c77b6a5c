import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import type { Logger } from '../../infra/logger.ts'
import { isPgDataError, pgErrorCode } from '../../core/errors.ts'
import type { NewSession } from './model.ts'

/**
 * Sessions opened by an authorization, written in batches off the hot path: the station waits for
 * the decision, not for a row. An authorization answers in microseconds from memory; one INSERT
 * per authorization would make the database the limit of every authorization (as the decision
 * log's batches avoid too).
 *
 * - A buffered opening is written within `flushMs` (or at `batchSize`), one statement per batch,
 *   ON CONFLICT DO NOTHING: an opening reported again keeps the first row.
 * - Every other write or read of sessions on this instance first waits for the openings buffered
 *   before it (`settled`), so a stop, a record or a notification always finds its session here.
 * - A batch the database refuses for a passing reason (connection lost) is kept and tried again;
 *   a process that dies loses at most the openings of its last `flushMs`, and a later record or
 *   notification still opens the session from the key its identification names.
 */
export class SessionOpenings {
  private buffer: NewSession[] = []
  private timer: NodeJS.Timeout | undefined
  private writing: Promise<void> = Promise.resolve()

  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly options: { flushMs?: number; batchSize?: number; maxBuffered?: number; retryMs?: number } = {},
  ) {}

  /** Buffers an opening; it is written within flushMs. */
  add(session: NewSession): void {
    const max = this.options.maxBuffered ?? 100_000
    if (this.buffer.length >= max) {
      // The database has been away for long: keep memory bounded, the newest openings matter most.
      const dropped = this.buffer.shift()!
      this.log.error({ sessionId: dropped.externalId }, 'session opening dropped: the database has not taken openings for too long')
    }
    this.buffer.push(session)
    if (this.buffer.length >= (this.options.batchSize ?? 500)) void this.flush()
    else this.schedule(this.options.flushMs ?? 50)
  }

  /** Resolves once every opening buffered so far is written (or has failed and waits for a retry). */
  async settled(): Promise<void> {
    if (this.buffer.length > 0) await this.flush()
    else await this.writing
  }

  /** Writes what is buffered now; resolves when it is stored or has failed (it is then retried). */
  flush(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    const batch = this.buffer
    this.buffer = []
    // One batch at a time, in order: an opening is never overtaken by a later one.
    this.writing = this.writing.then(() => (batch.length > 0 ? this.write(batch) : undefined))
    return this.writing
  }

  private schedule(ms: number) {
    if (this.timer) return
    this.timer = setTimeout(() => void this.flush(), ms)
    this.timer.unref()
  }

  private async writeOneByOne(batch: NewSession[]) {
    for (let i = 0; i < batch.length; i++) {
      try {
        await insertOpenings(this.db, [batch[i]!])
      } catch (err) {
        if (!isPgDataError(err)) return this.write(batch.slice(i))
        this.log.error({ sessionId: batch[i]!.externalId, sqlstate: pgErrorCode(err) }, 'session opening refused by the database; dropped')
      }
    }
  }

  private async write(batch: NewSession[]): Promise<void> {
    try {
      await insertOpenings(this.db, batch)
    } catch (err) {
      // A value the database refuses would fail its whole batch for ever: each opening on its own finds it.
      if (isPgDataError(err)) return this.writeOneByOne(batch)
      this.log.warn({ err, sessions: batch.length }, 'session openings not written yet; trying again')
      this.buffer = [...batch, ...this.buffer]
      this.schedule(this.options.retryMs ?? 1000)
    }
  }
}

/**
 * One statement for a batch: each opening takes its organization and user from its key; an opening
 * of a session already stored (or twice in the batch) is skipped.
 */
async function insertOpenings(db: Db, batch: NewSession[]) {
  const column = <T>(pick: (s: NewSession) => T) => batch.map(pick)
  await sql`
    INSERT INTO charging_sessions (organization_id, user_id, key_id, protocol, issuer, external_id, authorization_reference,
                                   evse_id, operator_id, identification_method, identification, status, started_at, authorized_at)
    SELECT k.organization_id, k.user_id, k.id, s.protocol, s.issuer, s.external_id, s.authorization_reference,
           s.evse_id, s.operator_id, s.identification_method, s.identification, s.status, s.started_at, s.authorized_at
      FROM unnest(${column((s) => s.keyId)}::uuid[], ${column((s) => s.protocol)}::text[], ${column((s) => s.issuer ?? '')}::text[],
                  ${column((s) => s.externalId)}::text[], ${column((s) => s.authorizationReference ?? null)}::text[],
                  ${column((s) => s.evseId ?? null)}::text[], ${column((s) => s.operatorId ?? null)}::text[],
                  ${column((s) => s.identification?.method ?? null)}::text[], ${column((s) => s.identification?.value ?? null)}::text[],
                  ${column((s) => s.status)}::text[], ${column((s) => s.startedAt.toISOString())}::timestamptz[],
                  ${column((s) => s.authorizedAt?.toISOString() ?? null)}::timestamptz[])
           WITH ORDINALITY AS s(key_id, protocol, issuer, external_id, authorization_reference, evse_id, operator_id,
                                identification_method, identification, status, started_at, authorized_at, position)
      JOIN charging_keys k ON k.id = s.key_id
     ORDER BY s.position
    ON CONFLICT (protocol, issuer, external_id) DO NOTHING`.execute(db)
}
