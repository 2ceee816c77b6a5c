import { randomUUID } from 'node:crypto'
import { sql, type Kysely, type Selectable } from 'kysely'
import { invalid, notFound } from '../../core/errors.ts'
import { generateWebhookSecret } from '../../core/webhooks/standard-webhooks.ts'
import { webhookEventId, webhookEventSelection } from '../../core/webhooks/events.ts'
import type { OrganizationPolicy } from '../../core/organizations/settings.ts'
import type { Db } from '../../infra/db/database.ts'
import type { Database, WebhookDeliveriesTable, WebhookDeliveryStatus, WebhookEndpointsTable } from '../../infra/db/schema.ts'
import { DeliveryEngine, type EnqueueMode } from '../../infra/delivery/engine.ts'
import { partnerUrlProblem } from '../../infra/http/outgoing.ts'
import type { SecretBox } from '../../infra/secrets/secret-box.ts'

/** The delivery kind of partner webhooks; one engine row per endpoint, its subject `events`. */
export const WEBHOOK = 'webhook'
export const WEBHOOK_SUBJECT = 'events'
export const destinationOf = (endpointId: string) => `webhook:${endpointId}`
export const endpointOf = (destination: string) => destination.slice('webhook:'.length)
/** Where the secret is sealed: bound to its endpoint, so a sealed text copied to another row fails to open. */
export const secretContext = (endpointId: string) => `webhook-endpoint:${endpointId}`

/** After a rotation the previous secret still signs this long, so partners can roll over. */
export const ROTATION_GRACE_MS = 24 * 3600_000
/** The most deliveries one time-range replay re-arms. */
export const MAX_REPLAY = 10_000

type EndpointRow = Selectable<WebhookEndpointsTable>
type Executor = Kysely<Database>

export interface WebhookEndpoint {
  id: string
  url: string
  events: string[]
  description: string | null
  enabled: boolean
  /** during a rotation's grace: until when the previous secret still signs */
  previousSecretUntil: Date | null
  createdAt: Date
  updatedAt: Date
}

export interface WebhookDelivery {
  id: string
  eventId: string
  type: string
  status: WebhookDeliveryStatus
  attempts: number
  firstAttemptAt: Date | null
  lastAttemptAt: Date | null
  lastStatusCode: number | null
  lastError: string | null
  deliveredAt: Date | null
  occurredAt: Date
  createdAt: Date
}

const date = (v: Date | string | null) => (v === null ? null : new Date(v))
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export const webhookNotFound = (id: string) => notFound('webhook_not_found', `webhook ${JSON.stringify(id)} not found`)
const deliveryNotFound = (id: string) => notFound('webhook_delivery_not_found', `delivery ${JSON.stringify(id)} not found`)

function toEndpoint(row: EndpointRow): WebhookEndpoint {
  const until = date(row.previous_secret_until)
  return {
    id: row.id,
    url: row.url,
    events: row.events,
    description: row.description,
    enabled: row.enabled,
    previousSecretUntil: until && until > new Date() ? until : null,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  }
}

/**
 * Arms the engine for endpoints with pending deliveries: one row per endpoint, its version the
 * newest pending position, so a newer delivery re-arms it (in the caller's transaction).
 */
export async function armEndpoints(trx: Executor, endpointIds: readonly string[], mode: EnqueueMode = 'change'): Promise<void> {
  if (endpointIds.length === 0) return
  await DeliveryEngine.enqueue(
    trx,
    sql`SELECT ${WEBHOOK}::text, 'webhook:' || d.endpoint_id::text, ${WEBHOOK_SUBJECT}::text, max(d.position)
          FROM webhook_deliveries d
         WHERE d.status = 'pending' AND d.endpoint_id = ANY(${endpointIds}::uuid[])
         GROUP BY d.endpoint_id`,
    mode,
  )
}

/**
 * An organization's webhook endpoints and their deliveries (Drive API `/v1/webhooks`). The
 * signing secret is shown once and stored sealed; another organization's endpoint is not found.
 */
export class WebhookEndpoints {
  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
    /** the one rule of partner-given URLs (outgoing.ts partnerUrlProblem): http in the sandbox or where private URLs are allowed */
    private readonly options: { allowHttp: boolean; allowPrivateUrls: boolean },
  ) {}

  private url(url: string) {
    const problem = partnerUrlProblem(url, { allowHttp: this.options.allowHttp, allowPrivateAddresses: this.options.allowPrivateUrls })
    if (problem) throw invalid('invalid_webhook_url', `url ${problem}`, { field: 'url' })
    return url
  }

  async create(
    org: OrganizationPolicy,
    input: { url: string; events: string[]; description?: string | null },
  ): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const url = this.url(input.url)
    const events = webhookEventSelection(input.events)
    const id = randomUUID()
    const secret = generateWebhookSecret()
    const row = await this.db
      .insertInto('webhook_endpoints')
      .values({
        id,
        organization_id: org.id,
        url,
        events,
        description: input.description ?? null,
        secret_sealed: this.secrets.seal(secret, secretContext(id)),
      })
      .returningAll()
      .executeTakeFirstOrThrow()
    return { endpoint: toEndpoint(row), secret }
  }

  async list(org: OrganizationPolicy): Promise<WebhookEndpoint[]> {
    const rows = await this.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('organization_id', '=', org.id)
      .orderBy('created_at')
      .orderBy('id')
      .execute()
    return rows.map(toEndpoint)
  }

  private async row(db: Executor, org: OrganizationPolicy, id: string, forUpdate = false): Promise<EndpointRow> {
    if (!UUID.test(id)) throw webhookNotFound(id)
    const query = db.selectFrom('webhook_endpoints').selectAll().where('id', '=', id).where('organization_id', '=', org.id)
    const row = await (forUpdate ? query.forUpdate() : query).executeTakeFirst()
    if (!row) throw webhookNotFound(id)
    return row
  }

  async get(org: OrganizationPolicy, id: string): Promise<WebhookEndpoint> {
    return toEndpoint(await this.row(this.db, org, id))
  }

  async update(
    org: OrganizationPolicy,
    id: string,
    changes: { url?: string; events?: string[]; description?: string | null; enabled?: boolean },
  ): Promise<WebhookEndpoint> {
    const url = changes.url === undefined ? undefined : this.url(changes.url)
    const events = changes.events === undefined ? undefined : webhookEventSelection(changes.events)
    return this.db.transaction().execute(async (trx) => {
      const before = await this.row(trx, org, id, true)
      const row = await trx
        .updateTable('webhook_endpoints')
        .set({
          ...(url !== undefined && { url }),
          ...(events !== undefined && { events }),
          ...(changes.description !== undefined && { description: changes.description }),
          ...(changes.enabled !== undefined && { enabled: changes.enabled }),
          updated_at: new Date(),
        })
        .where('id', '=', before.id)
        .returningAll()
        .executeTakeFirstOrThrow()
      // Enabled again: what waited while it was off goes out now.
      if (row.enabled && !before.enabled) await armEndpoints(trx, [row.id], 'afresh')
      return toEndpoint(row)
    })
  }

  /** Removes the endpoint, its deliveries and its engine row: nothing more is sent to it. */
  async delete(org: OrganizationPolicy, id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const row = await this.row(trx, org, id, true)
      await trx.deleteFrom('webhook_endpoints').where('id', '=', row.id).execute()
      await DeliveryEngine.forget(trx, destinationOf(row.id))
    })
  }

  /** A new secret, shown once; the previous one keeps signing for ROTATION_GRACE_MS beside it. */
  async rotateSecret(org: OrganizationPolicy, id: string): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const secret = generateWebhookSecret()
    const row = await this.db.transaction().execute(async (trx) => {
      const before = await this.row(trx, org, id, true)
      return trx
        .updateTable('webhook_endpoints')
        .set({
          secret_sealed: this.secrets.seal(secret, secretContext(before.id)),
          previous_secret_sealed: before.secret_sealed,
          previous_secret_until: new Date(Date.now() + ROTATION_GRACE_MS),
          updated_at: new Date(),
        })
        .where('id', '=', before.id)
        .returningAll()
        .executeTakeFirstOrThrow()
    })
    return { endpoint: toEndpoint(row), secret }
  }

  /** An endpoint's deliveries, newest first, a page at a time. */
  async deliveries(
    org: OrganizationPolicy,
    id: string,
    query: { status?: WebhookDeliveryStatus; from?: Date; to?: Date; limit: number; cursor?: string },
  ): Promise<{ deliveries: WebhookDelivery[]; cursor?: string }> {
    const endpoint = await this.row(this.db, org, id)
    const before = query.cursor === undefined ? undefined : decodeDeliveryCursor(query.cursor)
    let select = this.deliveryListing().where('d.endpoint_id', '=', endpoint.id)
    if (query.status !== undefined) select = select.where('d.status', '=', query.status)
    if (query.from !== undefined) select = select.where('e.occurred_at', '>=', query.from)
    if (query.to !== undefined) select = select.where('e.occurred_at', '<', query.to)
    if (before !== undefined) select = select.where('d.position', '<', before)
    const rows = await select
      .orderBy('d.position', 'desc')
      .limit(query.limit + 1)
      .execute()
    const page = rows.slice(0, query.limit)
    const last = page.at(-1)
    return {
      deliveries: page.map(toDelivery),
      ...(rows.length > query.limit && last && { cursor: Buffer.from(String(last.position), 'utf8').toString('base64url') }),
    }
  }

  private deliveryListing(db: Executor = this.db) {
    return db
      .selectFrom('webhook_deliveries as d')
      .innerJoin('partner_events as e', 'e.seq', 'd.event_seq')
      .selectAll('d')
      .select(['e.id as event_id', 'e.type as event_type', 'e.occurred_at as event_occurred_at'])
  }

  /** Sends one delivery again (delivered, failed or pending), after what is queued; same webhook-id. */
  async replay(org: OrganizationPolicy, id: string, deliveryId: string): Promise<WebhookDelivery> {
    return this.db.transaction().execute(async (trx) => {
      const endpoint = await this.row(trx, org, id, true)
      if (!UUID.test(deliveryId)) throw deliveryNotFound(deliveryId)
      const found = await trx
        .selectFrom('webhook_deliveries')
        .select('id')
        .where('id', '=', deliveryId)
        .where('endpoint_id', '=', endpoint.id)
        .executeTakeFirst()
      if (!found) throw deliveryNotFound(deliveryId)
      await rearm(trx, [found.id])
      await armEndpoints(trx, [endpoint.id])
      return toDelivery(await this.deliveryListing(trx).where('d.id', '=', found.id).executeTakeFirstOrThrow())
    })
  }

  /** Sends again every delivery of events that happened in [from, to), in their order; returns how many. */
  async replayRange(org: OrganizationPolicy, id: string, range: { from: Date; to: Date }): Promise<number> {
    if (!(range.from < range.to)) throw invalid('validation_error', 'to: must be after from', { field: 'to' })
    return this.db.transaction().execute(async (trx) => {
      const endpoint = await this.row(trx, org, id, true)
      const chosen = await trx
        .selectFrom('webhook_deliveries as d')
        .innerJoin('partner_events as e', 'e.seq', 'd.event_seq')
        .select('d.id')
        .where('d.endpoint_id', '=', endpoint.id)
        .where('e.occurred_at', '>=', range.from)
        .where('e.occurred_at', '<', range.to)
        .orderBy('e.seq')
        .limit(MAX_REPLAY + 1)
        .execute()
      if (chosen.length > MAX_REPLAY) {
        throw invalid('replay_too_large', `from, to: the range holds more than ${MAX_REPLAY} deliveries; replay a shorter range`, {
          field: 'from',
        })
      }
      await rearm(
        trx,
        chosen.map((c) => c.id),
      )
      await armEndpoints(trx, [endpoint.id])
      return chosen.length
    })
  }
}

/** Deliveries made pending again, with new positions in the order given (after what is queued). */
async function rearm(trx: Executor, deliveryIds: readonly string[]) {
  if (deliveryIds.length === 0) return
  // Positions drawn one by one, in order: each later than every position taken before.
  const positions = await sql<{ p: string }>`
    SELECT nextval('webhook_delivery_positions')::text AS p FROM generate_series(1, ${deliveryIds.length}::int)`.execute(trx)
  const ordered = positions.rows.map((r) => BigInt(r.p)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
  await sql`
    UPDATE webhook_deliveries d
       SET position = x.position, status = 'pending', attempts = 0, first_attempt_at = NULL, last_attempt_at = NULL,
           last_status_code = NULL, last_error = NULL, delivered_at = NULL
      FROM unnest(${deliveryIds}::uuid[], ${ordered.map(String)}::bigint[]) AS x (id, position)
     WHERE d.id = x.id`.execute(trx)
}

function decodeDeliveryCursor(text: string): string {
  const position = Buffer.from(text, 'base64url').toString('utf8')
  if (!/^[1-9]\d{0,18}$/.test(position)) {
    throw invalid('invalid_cursor', 'cursor is not one we issued; pass back the cursor of the previous answer as given', {
      field: 'cursor',
    })
  }
  return position
}

type DeliveryRow = Selectable<WebhookDeliveriesTable> & { event_id: string; event_type: string; event_occurred_at: Date | string }

function toDelivery(row: DeliveryRow): WebhookDelivery {
  return {
    id: row.id,
    eventId: webhookEventId(row.event_id),
    type: row.event_type,
    status: row.status,
    attempts: row.attempts,
    firstAttemptAt: date(row.first_attempt_at),
    lastAttemptAt: date(row.last_attempt_at),
    lastStatusCode: row.last_status_code,
    lastError: row.last_error,
    deliveredAt: date(row.delivered_at),
    occurredAt: new Date(row.event_occurred_at),
    createdAt: new Date(row.created_at),
  }
}
