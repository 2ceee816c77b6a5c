import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import type { SecretBox } from '../../infra/secrets/secret-box.ts'

/** How long a first response is replayed for the same Idempotency-Key. */
export const IDEMPOTENCY_WINDOW_HOURS = 24
/**
 * A claim still unanswered after this long was abandoned: its server lost the database (or its
 * life) before it could store the answer or release the key. Far above any request's run time.
 */
export const ABANDONED_CLAIM_MINUTES = 5

export type IdempotencyClaim =
  | { outcome: 'claimed' }
  | { outcome: 'replay'; statusCode: number; body: string }
  | { outcome: 'in_progress' }
  | { outcome: 'mismatch' }
  // the first answer carried a secret that cannot be read back (see `complete`)
  | { outcome: 'unavailable' }

/** What a sealed answer is bound to: opened for another caller or key, it fails. */
const sealContext = (scope: string, key: string) => `idempotency-replay\n${scope}\n${key}`

/**
 * Idempotency-Key bookkeeping. The first request claims the key (a primary-key insert, so two
 * concurrent firsts cannot both win); later ones get the stored response, if it is the same request.
 */
export class IdempotencyStore {
  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
  ) {}

  async claim(scope: string, key: string, fingerprint: string): Promise<IdempotencyClaim> {
    // Claim a new key, or take over one whose window has passed or whose claim was abandoned.
    const claimed = await sql<{ scope: string }>`
      INSERT INTO idempotency_records (scope, key, request_fingerprint) VALUES (${scope}, ${key}, ${fingerprint})
      ON CONFLICT (scope, key) DO UPDATE
        SET request_fingerprint = EXCLUDED.request_fingerprint, status_code = NULL, response_body = NULL, response_sealed = false,
            created_at = now()
        WHERE idempotency_records.created_at < now() - make_interval(hours => ${IDEMPOTENCY_WINDOW_HOURS})
           OR (idempotency_records.status_code IS NULL
               AND idempotency_records.created_at < now() - make_interval(mins => ${ABANDONED_CLAIM_MINUTES}))
      RETURNING scope`.execute(this.db)
    if (claimed.rows.length > 0) return { outcome: 'claimed' }
    const record = await this.db
      .selectFrom('idempotency_records')
      .select(['request_fingerprint', 'status_code', 'response_body', 'response_sealed'])
      .where('scope', '=', scope)
      .where('key', '=', key)
      .executeTakeFirst()
    if (!record) return this.claim(scope, key, fingerprint) // released in between: try again
    if (record.request_fingerprint !== fingerprint) return { outcome: 'mismatch' }
    if (record.status_code === null) return { outcome: 'in_progress' }
    if (record.response_sealed) {
      try {
        const body = this.secrets.open(record.response_body ?? '', sealContext(scope, key))
        return { outcome: 'replay', statusCode: record.status_code, body }
      } catch {
        // Another secret key, an answer stored in clear before sealing (dropped by migration
        // 0009), or a body moved from another caller's record.
        return { outcome: 'unavailable' }
      }
    }
    if (record.response_body === null) return { outcome: 'in_progress' }
    return { outcome: 'replay', statusCode: record.status_code, body: record.response_body }
  }

  /**
   * Stores the first answer. One that carries a secret (`sealed`) is kept encrypted with the
   * platform's secret key, like partner tokens: a repeat still gets its secret, the table never
   * shows it.
   */
  async complete(scope: string, key: string, statusCode: number, body: string, sealed = false): Promise<void> {
    await this.db
      .updateTable('idempotency_records')
      .set({
        status_code: statusCode,
        response_body: sealed ? this.secrets.seal(body, sealContext(scope, key)) : body,
        response_sealed: sealed,
      })
      .where('scope', '=', scope)
      .where('key', '=', key)
      .execute()
  }

  /** After a server error the key is released, so the client's retry runs again. */
  async release(scope: string, key: string): Promise<void> {
    await this.db.deleteFrom('idempotency_records').where('scope', '=', scope).where('key', '=', key).execute()
  }

  async purgeExpired(): Promise<number> {
    const result = await this.db
      .deleteFrom('idempotency_records')
      .where('created_at', '<', sql<Date>`now() - make_interval(hours => ${IDEMPOTENCY_WINDOW_HOURS})`)
      .executeTakeFirst()
    return Number(result.numDeletedRows)
  }
}
