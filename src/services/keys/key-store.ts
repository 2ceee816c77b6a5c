import { sql } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import type { ChargingKeyType } from '../../infra/db/schema.ts'
import type { ChargingKeyRow } from './charging-key.ts'

export interface NewKey {
  type: ChargingKeyType
  contractId: string
  emaidIdentity: string
  pcid?: string | null
  rfidUid?: string | null
  visualNumber?: string | null
  name?: string | null
  enabled?: boolean
  validTo?: Date | null
  /** validTo is the contract certificate's notAfter, and follows its renewals */
  validToFromCertificate?: boolean
  duplicatesAllowed: boolean
}

/** Who holds keys in memory (the key directory) and must hear of every change. */
export interface KeyChangeListener {
  /** Keys carrying these EMAID identities / RFID UIDs changed. */
  invalidate(identifiers: Iterable<string | null | undefined>): void
  /** An organization's name or standing changed: every key of it answers differently. */
  organizationChanged(organization: { id: string; name: string; enabled: boolean }): void
}

/** Advisory-lock class of contract identities (any int4 no other lock of ours uses). */
const EMAID_LOCK_CLASS = 15118

/**
 * The writes to charging keys, each remembering which identifiers it touched. Made only by
 * KeyStore, so no write escapes its report.
 */
export class KeyWrites {
  /** @internal */
  constructor(
    private readonly db: Db,
    private readonly touched: Array<string | null>,
  ) {}

  private touch(row: Pick<ChargingKeyRow, 'emaid_identity' | 'rfid_uid'>) {
    this.touched.push(row.emaid_identity, row.rfid_uid)
  }

  /**
   * Inserts a key for a live user of the organization in one statement (the trigger writes its
   * event). The user row is share-locked, so a concurrent user deletion either waits for this key
   * and then disables it, or wins and this insert finds no user. Undefined when there is no user.
   *
   * Inserts of one contract identity first queue on a transaction-level advisory lock: two
   * concurrent inserts into an exclusion constraint each find the other's uncommitted row and wait
   * for each other (a deadlock PostgreSQL breaks only after deadlock_timeout, one pair at a time).
   * Queued, the next insert finds the committed row and fails with the constraint at once.
   */
  async insert(organizationId: string, userExternalId: string, key: NewKey): Promise<ChargingKeyRow | undefined> {
    const result = await sql<ChargingKeyRow>`
      WITH claim AS (
        SELECT pg_advisory_xact_lock(${EMAID_LOCK_CLASS}::int4, hashtext(${key.emaidIdentity}))
      ), owner AS (
        SELECT users.id FROM claim, users
        WHERE organization_id = ${organizationId} AND external_id = ${userExternalId} AND deleted_at IS NULL
        FOR SHARE OF users
      )
      INSERT INTO charging_keys (organization_id, user_id, type, contract_id, emaid_identity, pcid, rfid_uid,
                                 visual_number, name, enabled, valid_to, valid_to_from_certificate, duplicates_allowed)
      SELECT ${organizationId}::uuid, owner.id, ${key.type}, ${key.contractId}, ${key.emaidIdentity}, ${key.pcid ?? null},
             ${key.rfidUid ?? null}, ${key.visualNumber ?? null}, ${key.name ?? null}, ${key.enabled ?? true}::boolean,
             ${key.validTo ?? null}::timestamptz, ${key.validToFromCertificate ?? false}::boolean, ${key.duplicatesAllowed}::boolean
      FROM owner
      RETURNING *`.execute(this.db)
    const row = result.rows[0]
    if (row) this.touch(row)
    return row
  }

  /** Sets the given fields (undefined ones stay) and the change time. */
  async update(
    keyId: string,
    changes: { enabled?: boolean; name?: string | null; validTo?: Date | null; validToFromCertificate?: boolean },
  ): Promise<ChargingKeyRow> {
    const row = await this.db
      .updateTable('charging_keys')
      .set({
        enabled: changes.enabled,
        name: changes.name,
        valid_to: changes.validTo,
        valid_to_from_certificate: changes.validToFromCertificate,
        updated_at: new Date(),
      })
      .where('id', '=', keyId)
      .returningAll()
      .executeTakeFirstOrThrow()
    this.touch(row)
    return row
  }

  /** The key is disabled and tombstoned, never removed: CPOs learn that it is no longer valid. */
  async tombstone(keyId: string): Promise<void> {
    const now = new Date()
    const row = await this.db
      .updateTable('charging_keys')
      .set({ enabled: false, deleted_at: now, updated_at: now })
      .where('id', '=', keyId)
      .returning(['emaid_identity', 'rfid_uid'])
      .executeTakeFirstOrThrow()
    this.touch(row)
  }

  /** Every live key of the user, as `tombstone` does, at the user's deletion time. */
  async tombstoneKeysOfUser(userId: string, at: Date): Promise<void> {
    const rows = await this.db
      .updateTable('charging_keys')
      .set({ enabled: false, deleted_at: at, updated_at: at })
      .where('user_id', '=', userId)
      .where('deleted_at', 'is', null)
      .returning(['emaid_identity', 'rfid_uid'])
      .execute()
    for (const row of rows) this.touch(row)
  }
}

/**
 * The one way to write charging keys (creation, enabling and disabling, deletion, a user's
 * virtual key and a user's deletion), and the one place that reports changes to the key directory
 * of this instance. The report comes when the work ends, before the caller answers: the very next
 * authorization here sees the change, whatever the directory's outbox poll interval.
 *
 * It is made whether or not the transaction committed: forgetting an unchanged key costs one read,
 * keeping a changed one would answer wrongly (and a commit whose acknowledgement was lost did change).
 */
export class KeyStore {
  constructor(
    /** for reads; writes to charging keys go through `transaction` and `write` */
    readonly db: Db,
    private readonly listener?: KeyChangeListener,
  ) {}

  /** `work` in one transaction; `trx` is for what else the transaction writes (a user row). */
  async transaction<T>(work: (keys: KeyWrites, trx: Db) => Promise<T>): Promise<T> {
    const touched: Array<string | null> = []
    try {
      return await this.db.transaction().execute((trx) => work(new KeyWrites(trx, touched), trx))
    } finally {
      this.report(touched)
    }
  }

  /** Writes without a transaction of their own (each statement is one). */
  async write<T>(work: (keys: KeyWrites) => Promise<T>): Promise<T> {
    const touched: Array<string | null> = []
    try {
      return await work(new KeyWrites(this.db, touched))
    } finally {
      this.report(touched)
    }
  }

  /**
   * An organization was changed (enabled or disabled, renamed): its keys answer accordingly at
   * once. Its row is the organizations service's to write; the keys' standing is reported here.
   */
  organizationChanged(organization: { id: string; name: string; enabled: boolean }) {
    this.listener?.organizationChanged(organization)
  }

  private report(touched: Array<string | null>) {
    if (touched.length > 0) this.listener?.invalidate(touched)
  }
}
