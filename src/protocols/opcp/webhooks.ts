import { sql } from 'kysely'
import { readWebhookEvent } from '../../core/opcp/messages.ts'
import { verifyWebhookSignature } from '../../core/opcp/webhook-signature.ts'
import { FieldRuleError, OpenpncError } from '../../core/errors.ts'
import type { Db } from '../../infra/db/database.ts'
import type { OpcpOemStatus, OpcpWebhookEventsTable } from '../../infra/db/schema.ts'
import type { Logger } from '../../infra/logger.ts'
import type { SecretBox } from '../../infra/secrets/secret-box.ts'
import type { ContractCertificates } from '../../services/ca/contract-certificates.ts'
import { isJsonObject } from '../../core/json.ts'
import type { OpcpClient } from './client.ts'
import type { OpcpPublication } from './publication.ts'
import type { OpcpRoots } from './roots.ts'
import { SUBSCRIBED_EVENTS, webhookAction } from './protocol.ts'

/** The OEM delivery status each `mo.contract.*` event stands for. */
const OEM_STATUS: Record<string, OpcpOemStatus> = {
  'mo.contract.delivered.to.oem': 'delivered',
  'mo.contract.rejected.by.oem': 'rejected',
  'mo.contract.queued.to.oem': 'queued',
  'mo.contract.created.sent.to.oem': 'sent',
  'mo.contract.updated.sent.to.oem': 'sent',
  'mo.contract.deleted.sent.to.oem': 'deleted',
}

export interface ReceivedEvent {
  eventId: string
  eventType: string
  outcome: OpcpWebhookEventsTable['outcome']
  detail: string | null
  /** true: the eventId was seen before; nothing was done again */
  repeated: boolean
}

export interface StoredEvent {
  eventId: string
  eventType: string
  emaid: string | null
  pcid: string | null
  keyId: string | null
  outcome: OpcpWebhookEventsTable['outcome']
  detail: string | null
  signatureHeader: string
  received: Date
  body: unknown
}

const secretContext = (endpointId: string) => `opcp-webhook-secret:${endpointId}`

/**
 * Hubject's webhooks: our endpoint's registration, and the events it receives. Every event is
 * checked against the endpoints' secrets (HMAC-SHA256 over the raw body, constant time), kept once
 * per eventId and acted on in the transaction that keeps it, so a repeat is a no-op:
 * - mo.prov.cert.updated: the contract is issued again for the vehicle's new key and published;
 * - mo.prov.cert.deleted, mo.prov.cert.factory.reset: the contract is revoked and the key disabled
 *   (the revocation withdraws it from the CCP); nothing is re-created by itself;
 * - mo.contract.*.oem: the OEM delivery status of the publication;
 * - root.cert.*: the trusted roots are read again;
 * - anything else: kept and logged.
 */
export class OpcpWebhooks {
  /** the endpoints' secrets, opened once (they change only by registration) */
  private secrets: string[] | null = null

  constructor(
    private readonly db: Db,
    private readonly box: SecretBox,
    private readonly client: OpcpClient,
    private readonly publication: OpcpPublication,
    private readonly contracts: ContractCertificates,
    private readonly roots: OpcpRoots,
    private readonly log: Logger,
  ) {}

  /** Registers `url` with Hubject for the events that concern an MO and keeps the endpoint's secret. */
  async register(url: string, events: readonly string[] = SUBSCRIBED_EVENTS) {
    const answer = await this.client.call('createWebhookEndpoint', {
      body: { url, enabledEvents: events, description: 'openpnc Mobility Operator events', status: 'enabled' },
    })
    const body = isJsonObject(answer.body) ? answer.body : {}
    if (typeof body.id !== 'string' || typeof body.secret !== 'string' || body.secret === '') {
      throw new OpenpncError('bad_gateway', 'opcp_error', 'OPCP create-webhook-endpoint: the answer carries no id and secret')
    }
    const endpoint = { id: body.id, url, events: [...events] }
    await this.db
      .insertInto('opcp_webhook_endpoints')
      .values({ ...endpoint, secret_sealed: this.box.seal(body.secret, secretContext(body.id)) })
      .onConflict((oc) =>
        oc.column('id').doUpdateSet({
          url,
          events: [...events],
          secret_sealed: this.box.seal(body.secret as string, secretContext(body.id as string)),
          active: true,
        }),
      )
      .execute()
    this.secrets = null
    this.log.info({ endpointId: endpoint.id, url }, 'OPCP: webhook endpoint registered with Hubject')
    return endpoint
  }

  async endpoints() {
    const rows = await this.db
      .selectFrom('opcp_webhook_endpoints')
      .select(['id', 'url', 'events', 'active', 'created_at'])
      .orderBy('created_at')
      .execute()
    return rows.map((r) => ({ id: r.id, url: r.url, events: r.events, active: r.active, created: new Date(r.created_at) }))
  }

  private async endpointSecrets(): Promise<string[]> {
    if (this.secrets) return this.secrets
    const rows = await this.db.selectFrom('opcp_webhook_endpoints').select(['id', 'secret_sealed']).where('active', '=', true).execute()
    this.secrets = rows.map((r) => this.box.open(r.secret_sealed, secretContext(r.id)))
    return this.secrets
  }

  /**
   * One webhook delivery: the signature first (401 when no endpoint secret verifies it), then the
   * event, kept and acted on once.
   */
  async receive(raw: Buffer, headers: Record<string, string | string[] | undefined>): Promise<ReceivedEvent> {
    let verdict = verifyWebhookSignature(raw, headers, await this.endpointSecrets())
    if (!verdict.ok && verdict.reason === 'mismatch') {
      // Another instance may have registered an endpoint since our secrets were read.
      this.secrets = null
      verdict = verifyWebhookSignature(raw, headers, await this.endpointSecrets())
    }
    if (!verdict.ok) {
      const why = {
        missing: 'no signature header (X-Hubject-Signature, X-Operator-Signature or payload-signature)',
        malformed: 'the signature is not an HMAC-SHA256 in hex or base64',
        mismatch: "the signature does not match the body under any of our endpoints' secrets",
      }[verdict.reason]
      throw new OpenpncError('unauthenticated', 'invalid_signature', why)
    }
    let body: unknown
    try {
      body = JSON.parse(raw.toString('utf8'))
    } catch {
      throw new OpenpncError('invalid', 'malformed_json', 'the body is not JSON')
    }
    let event
    try {
      event = readWebhookEvent(body)
    } catch (error) {
      if (error instanceof FieldRuleError) throw new OpenpncError('invalid', 'validation_error', error.message, { field: error.field })
      throw error
    }
    const action = webhookAction(event.eventType)
    const result = await this.contracts.transaction(async (trx, revoke) => {
      // Kept first: a repeat of the eventId stops here, and nothing below runs twice.
      const kept = await sql<{ event_id: string }>`
        INSERT INTO opcp_webhook_events (event_id, event_type, emaid, pcid, body, outcome, signature_header)
        VALUES (${event.eventId}::uuid, ${event.eventType}, ${event.emaid}, ${event.pcid}, ${JSON.stringify(body)}::jsonb, 'recorded', ${verdict.header})
        ON CONFLICT (event_id) DO NOTHING RETURNING event_id`.execute(trx)
      if (kept.rows.length === 0) {
        const earlier = await trx
          .selectFrom('opcp_webhook_events')
          .select(['outcome', 'detail'])
          .where('event_id', '=', event.eventId)
          .executeTakeFirstOrThrow()
        return { outcome: earlier.outcome, detail: earlier.detail, repeated: true }
      }
      const decided = await this.apply(trx, event, action)
      if (decided.revokeKey) await revoke(decided.revokeKey, 'cessationOfOperation')
      await trx
        .updateTable('opcp_webhook_events')
        .set({ outcome: decided.outcome, detail: decided.detail, key_id: decided.keyId ?? null })
        .where('event_id', '=', event.eventId)
        .execute()
      return { outcome: decided.outcome, detail: decided.detail, repeated: false }
    })
    if (!result.repeated) {
      // Calls to Hubject wait for the commit: a root event reads the pool again.
      if (action === 'roots') {
        this.roots.refresh().catch((err: unknown) => this.log.warn({ err }, 'OPCP: refreshing the roots after a root event failed'))
      }
      const level = result.outcome === 'unknown_type' || result.outcome === 'no_contract' ? 'warn' : 'info'
      this.log[level](
        { eventId: event.eventId, eventType: event.eventType, emaid: event.emaid, outcome: result.outcome },
        `OPCP webhook: ${result.detail ?? result.outcome}`,
      )
    }
    return { eventId: event.eventId, eventType: event.eventType, ...result }
  }

  private async apply(
    trx: Db,
    event: ReturnType<typeof readWebhookEvent>,
    action: ReturnType<typeof webhookAction>,
  ): Promise<{ outcome: OpcpWebhookEventsTable['outcome']; detail: string | null; keyId?: string; revokeKey?: string }> {
    if (action === 'unknown') return { outcome: 'unknown_type', detail: `unknown event type ${event.eventType}: kept, nothing done` }
    if (action === 'roots') return { outcome: 'applied', detail: 'the trusted roots are read again from the Root Certificate Pool' }
    if (action === 'record') return { outcome: 'recorded', detail: 'an OEM-side event: kept for operators' }
    const keyId = await this.keyOf(trx, event.emaid, event.pcid)
    if (!keyId) {
      return { outcome: 'no_contract', detail: `no contract of ours for EMAID ${event.emaid ?? '-'} and PCID ${event.pcid ?? '-'}` }
    }
    if (action === 'reissue') {
      await this.publication.requestReissue(trx, keyId)
      return { outcome: 'applied', detail: 'the vehicle has a new provisioning key: the contract is issued again and published', keyId }
    }
    if (action === 'revoke') {
      return {
        outcome: 'applied',
        detail: 'the vehicle left the PCP: the contract is revoked and the key disabled',
        keyId,
        revokeKey: keyId,
      }
    }
    const status = OEM_STATUS[event.eventType]!
    await this.publication.noteOemStatus(trx, keyId, status, event.timestamp ? new Date(event.timestamp) : new Date())
    return { outcome: 'applied', detail: `OEM delivery: ${status}`, keyId }
  }

  /** The tracked key an event names: by EMAID (and PCID when given). */
  private async keyOf(trx: Db, emaid: string | null, pcid: string | null): Promise<string | null> {
    if (!emaid && !pcid) return null
    let query = trx.selectFrom('opcp_contracts').select('key_id').orderBy('created_at', 'desc').limit(1)
    if (emaid) query = query.where('emaid', '=', emaid)
    if (pcid) query = query.where('pcid', '=', pcid)
    return (await query.executeTakeFirst())?.key_id ?? null
  }

  /** Received events, newest first (admin API). */
  async events(filter: { limit?: number; eventType?: string; emaid?: string; before?: Date } = {}): Promise<StoredEvent[]> {
    let query = this.db
      .selectFrom('opcp_webhook_events')
      .selectAll()
      .orderBy('received_at', 'desc')
      .orderBy('event_id')
      .limit(filter.limit ?? 100)
    if (filter.eventType) query = query.where('event_type', '=', filter.eventType)
    if (filter.emaid) query = query.where('emaid', '=', filter.emaid.replace(/-/g, '').toUpperCase())
    if (filter.before) query = query.where('received_at', '<', filter.before)
    const rows = await query.execute()
    return rows.map((r) => ({
      eventId: r.event_id,
      eventType: r.event_type,
      emaid: r.emaid,
      pcid: r.pcid,
      keyId: r.key_id,
      outcome: r.outcome,
      detail: r.detail,
      signatureHeader: r.signature_header,
      received: new Date(r.received_at),
      body: r.body,
    }))
  }
}
