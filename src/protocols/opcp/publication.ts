import { sql } from 'kysely'
import { expectedCheckCharacter, parseEmaid } from '../../core/identifiers/index.ts'
import { readPcpAnswer, readSignedContractData, signContractDataRequest } from '../../core/opcp/messages.ts'
import { FieldRuleError, OpenpncError } from '../../core/errors.ts'
import { toPem } from '../../core/pki/encoding.ts'
import type { Db } from '../../infra/db/database.ts'
import type { OpcpContractsTable, OpcpStep } from '../../infra/db/schema.ts'
import { DeliveryEngine, type DeliverySender } from '../../infra/delivery/engine.ts'
import { DeliveryFailure } from '../../infra/delivery/failure.ts'
import type { Logger } from '../../infra/logger.ts'
import { Outbox, type OutboxConsumer } from '../../infra/outbox/outbox.ts'
import type { ContractCertificates, ProvisioningInput } from '../../services/ca/contract-certificates.ts'
import type { ChargingKeyRow } from '../../services/keys/charging-key.ts'
import type { Selectable } from 'kysely'
import { OpcpError, type OpcpClient } from './client.ts'
import { ISO_15118_2_NAMESPACE } from './protocol.ts'

/** The delivery kind, destination and subject of a key's contract in the ecosystem. */
export const OPCP_CONTRACT = 'opcp-contract'
export const OPCP_DESTINATION = 'opcp'
const subjectOf = (keyId: string) => `contract:${keyId}`
const keyOf = (subject: string) => subject.slice('contract:'.length)

/** The outbox consumer that turns contract-certificate events into ecosystem deliveries. */
export const OPCP_CONSUMER = 'opcp-contracts'

type Row = Selectable<OpcpContractsTable>

/** A key's contract in the ecosystem, as partners and operators see it. */
export interface Publication {
  state: Row['state']
  step: OpcpStep | null
  emaid: string
  pcid: string
  publishedAt: Date | null
  withdrawnAt: Date | null
  /** why it failed (state failed), with Hubject's traceId */
  reason: string | null
  traceId: string | null
  /** the last failed attempt of a pending step: it is being retried */
  lastError: string | null
  /** the CPS answer: the V2G root the signed data was signed under */
  cpsRootFingerprint: string | null
  cpsRootDistinguishedName: string | null
  signedData: string | null
  oemStatus: Row['oem_status']
  oemStatusAt: Date | null
  updated: Date
}

export function toPublication(row: Row): Publication {
  const date = (v: Date | string | null) => (v === null ? null : new Date(v))
  return {
    state: row.state,
    step: row.step,
    emaid: row.emaid,
    pcid: row.pcid,
    publishedAt: date(row.published_at),
    withdrawnAt: date(row.withdrawn_at),
    reason: row.failure_reason,
    traceId: row.failure_trace_id,
    lastError: row.last_error,
    cpsRootFingerprint: row.cps_root_fingerprint,
    cpsRootDistinguishedName: row.cps_root_dn,
    signedData: row.signed_data,
    oemStatus: row.oem_status,
    oemStatusAt: date(row.oem_status_at),
    updated: new Date(row.updated_at),
  }
}

/** The EMAID of a key as its certificate names it: upper case, no separators, with the check character. */
export function certificateEmaid(row: ChargingKeyRow): string {
  return row.emaid_identity + expectedCheckCharacter(parseEmaid(row.emaid_identity)!)
}

/**
 * A key's contract in Hubject's ecosystem, kept where it is wanted by the durable delivery engine:
 * - wanted 'published': the key's active contract certificate is signed by the CPS and stored in
 *   the CCP (after fetching the vehicle's provisioning certificate from the PCP and issuing it, when
 *   there is none yet, or when Hubject said the vehicle has a new provisioning key);
 * - wanted 'withdrawn' (revoked, expired, key deleted): removed from the CCP.
 * Every change arms one delivery per key (its newest version); a send does what the key's state
 * needs now, so after an outage each contract travels once. A send that Hubject refuses for good
 * marks the publication failed (with the reason and traceId) until the partner retries.
 */
export class OpcpPublication {
  private readonly consumer: OutboxConsumer

  constructor(
    private readonly db: Db,
    private readonly client: OpcpClient,
    private readonly contracts: ContractCertificates,
    private readonly engine: DeliveryEngine,
    private readonly log: Logger,
  ) {
    this.consumer = new Outbox(db).consumer(OPCP_CONSUMER)
    const sender: DeliverySender = {
      label: 'OPCP contract',
      describe: () => ({ ecosystem: 'opcp' }),
      open: async () => ({ send: (delivery) => this.reconcile(keyOf(delivery.subject)) }),
    }
    engine.register(OPCP_CONTRACT, sender)
  }

  /**
   * Starts publishing a new key's contract, in the transaction that created the key (and, when
   * the provisioning certificate was at hand, its certificate).
   */
  static async track(trx: Db, row: ChargingKeyRow, step: 'provisioning' | 'signing'): Promise<Row> {
    const inserted = await sql<Row>`
      INSERT INTO opcp_contracts (key_id, organization_id, pcid, emaid, step, issue_requested, version)
      VALUES (${row.id}, ${row.organization_id}, ${row.pcid}, ${certificateEmaid(row)}, ${step}, ${step === 'provisioning'},
              nextval('opcp_contract_versions'))
      ON CONFLICT (key_id) DO UPDATE
        SET wanted = 'published', state = 'pending', step = EXCLUDED.step, issue_requested = EXCLUDED.issue_requested,
            failure_reason = NULL, failure_trace_id = NULL, last_error = NULL, version = EXCLUDED.version, updated_at = now()
      RETURNING *`.execute(trx)
    const tracked = inserted.rows[0]!
    await OpcpPublication.arm(trx, [tracked])
    return tracked
  }

  private static async arm(trx: Db, rows: ReadonlyArray<{ key_id: string; version: string | number | bigint }>) {
    if (rows.length === 0) return
    await DeliveryEngine.enqueue(
      trx,
      sql`SELECT ${OPCP_CONTRACT}::text, ${OPCP_DESTINATION}::text, s, v FROM unnest(${rows.map((r) => subjectOf(r.key_id))}::text[],
                  ${rows.map((r) => String(r.version))}::bigint[]) AS x (s, v)`,
    )
  }

  /**
   * One step of the outbox consumer: certificate events of tracked keys set what the ecosystem
   * should hold (a revocation or expiry: nothing; an issuance or renewal: the new contract) and
   * arm their deliveries. Returns the keys armed.
   */
  async publish(): Promise<number> {
    return (
      (await this.consumer.step(async (trx, events) => {
        const changed = await sql<{ key_id: string; version: string; state: string }>`
          UPDATE opcp_contracts c
             SET wanted = CASE WHEN ch.last_type IN ('revoked', 'expired') THEN 'withdrawn' ELSE 'published' END,
                 state = CASE
                   WHEN ch.last_type IN ('revoked', 'expired') THEN CASE WHEN c.state = 'withdrawn' THEN 'withdrawn' ELSE 'pending' END
                   WHEN c.state = 'published' AND c.published_certificate_id IS NOT DISTINCT FROM
                        (SELECT a.id FROM contract_certificates a WHERE a.key_id = c.key_id AND a.status = 'active') THEN 'published'
                   ELSE 'pending' END,
                 step = CASE
                   WHEN ch.last_type IN ('revoked', 'expired') THEN CASE WHEN c.state = 'withdrawn' THEN NULL ELSE 'withdrawing' END
                   WHEN c.state = 'published' AND c.published_certificate_id IS NOT DISTINCT FROM
                        (SELECT a.id FROM contract_certificates a WHERE a.key_id = c.key_id AND a.status = 'active') THEN NULL
                   ELSE 'signing' END,
                 -- an end of the contract cancels what was asked before it
                 issue_requested = c.issue_requested AND ch.last_type NOT IN ('revoked', 'expired'),
                 reissue_requested = c.reissue_requested AND ch.last_type NOT IN ('revoked', 'expired'),
                 failure_reason = NULL, failure_trace_id = NULL, last_error = NULL,
                 version = nextval('opcp_contract_versions'), updated_at = now()
            FROM (SELECT e.key_id, (array_agg(e.type ORDER BY e.seq DESC))[1] AS last_type
                    FROM contract_certificate_events e WHERE ${events} GROUP BY e.key_id) ch
           WHERE c.key_id = ch.key_id
          RETURNING c.key_id, c.version::text, c.state`.execute(trx)
        const due = changed.rows.filter((r) => r.state === 'pending')
        await OpcpPublication.arm(trx, due)
        return due.length
      })) ?? 0
    )
  }

  /** The vehicle's provisioning certificate from the PCP, as a partner would send it. */
  async fetchProvisioning(pcid: string): Promise<ProvisioningInput> {
    const answer = await this.client.call('provisioningCertificate', { params: { pcid } })
    try {
      const read = readPcpAnswer(answer.body)
      return {
        oemProvisioningCertificate: read.certificate.toString('base64'),
        chain: read.chain.map((der) => toPem(der)),
      }
    } catch (error) {
      if (error instanceof FieldRuleError) {
        throw new OpcpError('provisioningCertificate', `the PCP answer is unusable: ${error.message}`, false, answer.status)
      }
      throw error
    }
  }

  /** Brings one key's contract in the ecosystem where it is wanted (a delivery's send). */
  async reconcile(keyId: string): Promise<void> {
    const row = await this.db.selectFrom('opcp_contracts').selectAll().where('key_id', '=', keyId).executeTakeFirst()
    if (!row) return
    const key = await this.db.selectFrom('charging_keys').select(['deleted_at']).where('id', '=', keyId).executeTakeFirst()
    let step: OpcpStep = 'signing'
    try {
      const deleted = !key || key.deleted_at !== null
      if (row.wanted === 'withdrawn' || deleted) {
        if (row.state === 'withdrawn') return
        step = 'withdrawing'
        // A contract the CCP no longer holds (it cleans revoked and expired ones itself) is withdrawn too.
        await this.client.call('deleteContract', { params: { emaid: row.emaid }, accept: [404] })
        await this.db
          .updateTable('opcp_contracts')
          .set({
            // a deleted key's contract is gone for good, certificate or not
            ...(deleted && { wanted: 'withdrawn' as const }),
            state: 'withdrawn',
            step: null,
            withdrawn_at: new Date(),
            published_certificate_id: null,
            issue_requested: false,
            reissue_requested: false,
            last_error: null,
            updated_at: new Date(),
          })
          .where('key_id', '=', keyId)
          .$if(!deleted, (q) => q.where('wanted', '=', 'withdrawn'))
          .execute()
        this.log.info({ keyId, emaid: row.emaid }, 'OPCP: contract removed from the CCP')
        return
      }
      let active = await this.activeContract(keyId)
      if (row.reissue_requested && active) {
        step = 'provisioning'
        await this.contracts.reissueForKey(keyId, await this.fetchProvisioning(row.pcid), 'ecosystem')
        await this.db
          .updateTable('opcp_contracts')
          .set({ reissue_requested: false })
          .where('key_id', '=', keyId)
          .where('version', '=', row.version)
          .execute()
        active = await this.activeContract(keyId)
      } else if (!active && row.issue_requested) {
        step = 'provisioning'
        const provisioning = await this.fetchProvisioning(row.pcid)
        // The request is consumed in the issuing transaction: a revocation in between cancels it.
        await this.contracts.issueForKey(keyId, provisioning, 'partner', async (trx) => {
          const consumed = await trx
            .updateTable('opcp_contracts')
            // a fresh certificate from the PCP's current one also answers a pending re-issue
            .set({ issue_requested: false, reissue_requested: false })
            .where('key_id', '=', keyId)
            .where('issue_requested', '=', true)
            .where('wanted', '=', 'published')
            .executeTakeFirst()
          return Number(consumed.numUpdatedRows) > 0
        })
        active = await this.activeContract(keyId)
      }
      // Nothing to publish: the contract ended and no one asked for a new one (its withdrawal follows).
      if (!active) return
      if (row.published_certificate_id === active.certificate.id && row.state !== 'failed') {
        // Published already (an event that changed nothing for the ecosystem): only the state is set.
        await this.settle(keyId)
        return
      }
      step = 'signing'
      const answer = await this.client.call('signContractData', {
        body: signContractDataRequest(active.contractData, row.pcid, ISO_15118_2_NAMESPACE),
      })
      const signed = readSignedContractData(answer.body)
      const now = new Date()
      await this.db
        .updateTable('opcp_contracts')
        .set({
          published_certificate_id: active.certificate.id,
          signed_data: signed.signedData,
          cps_root_fingerprint: signed.rootFingerprint,
          cps_root_dn: signed.rootDistinguishedName,
          published_at: now,
          oem_status: null,
          oem_status_at: null,
          updated_at: now,
        })
        .where('key_id', '=', keyId)
        .execute()
      await this.settle(keyId)
      this.log.info({ keyId, emaid: row.emaid, pcid: row.pcid }, 'OPCP: contract signed by the CPS and stored in the CCP')
    } catch (error) {
      throw await this.failed(row, step, error)
    }
  }

  private async activeContract(keyId: string) {
    const latest = await this.contracts.latestOfKey(keyId)
    return latest?.certificate.status === 'active' ? latest : null
  }

  /** The state that follows from the row: published when the active contract is the one in the CCP. */
  private async settle(keyId: string) {
    await sql`
      UPDATE opcp_contracts c
         SET state = 'published', step = NULL, failure_reason = NULL, failure_trace_id = NULL, last_error = NULL, updated_at = now()
       WHERE c.key_id = ${keyId} AND c.wanted = 'published' AND NOT c.reissue_requested
         AND c.published_certificate_id = (SELECT a.id FROM contract_certificates a WHERE a.key_id = c.key_id AND a.status = 'active')`.execute(
      this.db,
    )
  }

  /** Records a failed attempt: retried while it may pass (state stays pending), else the publication fails. */
  private async failed(row: Row, step: OpcpStep, error: unknown): Promise<DeliveryFailure> {
    const retryable = error instanceof OpcpError ? error.retryable : !(error instanceof OpenpncError)
    let reason = error instanceof Error ? error.message : String(error)
    const traceId = error instanceof OpcpError ? (error.traceId ?? null) : null
    if (error instanceof OpcpError && error.operation === 'provisioningCertificate' && error.httpStatus === 404) {
      reason = `Hubject's Provisioning Certificate Pool has no provisioning certificate for PCID ${row.pcid}${traceId ? ` (traceId ${traceId})` : ''}`
    }
    if (error instanceof OpenpncError && step === 'provisioning') {
      reason = `the provisioning certificate the PCP holds for PCID ${row.pcid} is not usable: ${reason}`
    }
    if (retryable) {
      await this.db
        .updateTable('opcp_contracts')
        .set({ last_error: reason.slice(0, 1000), step, updated_at: new Date() })
        .where('key_id', '=', row.key_id)
        .where('state', '=', 'pending')
        .execute()
      return DeliveryFailure.retryable(reason)
    }
    await this.db
      .updateTable('opcp_contracts')
      .set({
        state: 'failed',
        step: null,
        failure_reason: reason.slice(0, 1000),
        failure_trace_id: traceId,
        last_error: null,
        updated_at: new Date(),
      })
      .where('key_id', '=', row.key_id)
      .where('version', '=', row.version)
      .execute()
    this.log.warn({ keyId: row.key_id, emaid: row.emaid, pcid: row.pcid, step, reason }, 'OPCP: publication failed')
    return DeliveryFailure.permanent(reason)
  }

  /** A key's publication, or null when its contract does not go through the ecosystem. */
  async get(keyId: string): Promise<Publication | null> {
    const row = await this.db.selectFrom('opcp_contracts').selectAll().where('key_id', '=', keyId).executeTakeFirst()
    return row ? toPublication(row) : null
  }

  /**
   * The partner's retry: a failed (or still pending) publication is tried again at once, its
   * backoff skipped. A published or withdrawn one has nothing to retry.
   */
  async retry(keyId: string): Promise<Publication | null> {
    const row = await this.db.transaction().execute(async (trx) => {
      const updated = await sql<Row>`
        UPDATE opcp_contracts c
           SET state = 'pending',
               step = CASE
                 WHEN c.wanted = 'withdrawn' THEN 'withdrawing'
                 WHEN c.reissue_requested OR NOT EXISTS (SELECT 1 FROM contract_certificates a WHERE a.key_id = c.key_id AND a.status = 'active')
                   THEN 'provisioning'
                 ELSE 'signing' END,
               -- a retry without a contract asks for one (what a failed provisioning was about)
               issue_requested = c.issue_requested OR (c.wanted = 'published' AND NOT c.reissue_requested AND NOT EXISTS
                 (SELECT 1 FROM contract_certificates a WHERE a.key_id = c.key_id AND a.status = 'active')),
               failure_reason = NULL, failure_trace_id = NULL, version = nextval('opcp_contract_versions'), updated_at = now()
         WHERE c.key_id = ${keyId} AND c.state IN ('failed', 'pending')
        RETURNING *`.execute(trx)
      const retried = updated.rows[0]
      if (retried) await OpcpPublication.arm(trx, [retried])
      return retried
    })
    if (row) return toPublication(row)
    return this.get(keyId)
  }

  /** Hubject says the vehicle has a new provisioning key: the contract is issued again for it and published. */
  async requestReissue(trx: Db, keyId: string): Promise<boolean> {
    const updated = await sql<Row>`
      UPDATE opcp_contracts
         SET reissue_requested = true, wanted = 'published', state = 'pending', step = 'provisioning',
             failure_reason = NULL, failure_trace_id = NULL, version = nextval('opcp_contract_versions'), updated_at = now()
       WHERE key_id = ${keyId}
      RETURNING *`.execute(trx)
    await OpcpPublication.arm(trx, updated.rows)
    return updated.rows.length > 0
  }

  /** What a `mo.contract.*` webhook said of the delivery to the vehicle's OEM backend. */
  async noteOemStatus(trx: Db, keyId: string, status: NonNullable<Row['oem_status']>, at: Date) {
    await trx
      .updateTable('opcp_contracts')
      .set({ oem_status: status, oem_status_at: at, updated_at: new Date() })
      .where('key_id', '=', keyId)
      .execute()
  }

  /** The ecosystem deliveries for the admin view. */
  status() {
    return this.engine.status(OPCP_DESTINATION)
  }
}

/** A provisioning certificate problem found at request time, as the Drive API answers it. */
export const pcidNotInPcp = (pcid: string, traceId?: string) =>
  new OpenpncError(
    'unprocessable',
    'pcid_not_in_pcp',
    `pcid: Hubject's Provisioning Certificate Pool has no provisioning certificate for PCID ${pcid}${traceId ? ` (traceId ${traceId})` : ''}; the car maker publishes it there`,
    { field: 'pcid' },
  )

export const opcpRefused = (error: OpcpError) => new OpenpncError('bad_gateway', 'opcp_error', error.message)
