import { sql, type Selectable } from 'kysely'
import type { Db } from '../../infra/db/database.ts'
import type { AuthorizationEndpointsTable } from '../../infra/db/schema.ts'
import type { Logger } from '../../infra/logger.ts'
import { Periodic } from '../../infra/periodic.ts'
import type { SecretBox } from '../../infra/secrets/secret-box.ts'
import { partnerUrlProblem } from '../../infra/http/outgoing.ts'
import { invalid, notFound } from '../../core/errors.ts'
import { generateWebhookSecret } from '../../core/webhooks/standard-webhooks.ts'
import type { OnTimeout } from '../../core/authorization/partner-decision.ts'

/** An organization's authorization endpoint, as the partner call needs it. */
export interface PartnerEndpoint {
  organizationId: string
  url: string
  timeoutMs: number
  onTimeout: OnTimeout
  /** the signing secret in clear: kept in memory to sign each call, never logged nor answered after its creation */
  secret: string
  createdAt: Date
  updatedAt: Date
}

export interface PartnerEndpointInput {
  url: string
  timeoutMs?: number
  onTimeout?: OnTimeout
}

export const DEFAULT_TIMEOUT_MS = 3000
export const MAX_TIMEOUT_MS = 5000
/** Fail closed: without the partner's word, a driver does not charge on the partner's account. */
export const DEFAULT_ON_TIMEOUT: OnTimeout = 'deny'

type Row = Selectable<AuthorizationEndpointsTable>

const sealContext = (organizationId: string) => `authorization-endpoint:${organizationId}`

export const authorizationEndpointNotFound = () =>
  notFound('authorization_endpoint_not_found', 'the organization has no authorization endpoint (PUT /v1/authorization-endpoint)')

/**
 * Organizations' authorization endpoints: the table of truth, and a copy in memory that the
 * Authorizer reads on every ALLOWED decision without awaiting anything. This instance's changes
 * reach the copy at once; another instance's within `pollMs` (a full reload: one row per organization).
 */
export class PartnerEndpoints {
  private readonly byOrganization = new Map<string, PartnerEndpoint & { sealed: string }>()
  private readonly poller: Periodic
  /** bumped by every change made here, so a reload that read before it does not undo it */
  private generation = 0

  constructor(
    private readonly db: Db,
    private readonly secrets: SecretBox,
    private readonly log: Logger,
    private readonly options: { pollMs: number; allowHttp: boolean; allowPrivateAddresses: boolean },
  ) {
    this.poller = new Periodic(() => this.reload(), {
      everyMs: options.pollMs,
      firstAfterMs: options.pollMs,
      onError: (err) => log.warn({ err }, 'authorization endpoints could not be reloaded; the ones held are kept'),
    })
  }

  /** The organization's endpoint, from memory: the hot path's only question, so no I/O and no await. */
  of(organizationId: string): PartnerEndpoint | undefined {
    return this.byOrganization.get(organizationId)
  }

  /** Whether any organization has one (the benchmark and metrics ask; the hot path does not). */
  get size(): number {
    return this.byOrganization.size
  }

  async start(): Promise<void> {
    await this.reload()
    this.poller.start()
  }

  async stop(): Promise<void> {
    await this.poller.stop()
  }

  /** Reads every endpoint again; a secret is opened again only when its sealed text changed. */
  async reload(): Promise<void> {
    const generation = this.generation
    const rows = await this.db.selectFrom('authorization_endpoints').selectAll().execute()
    if (generation !== this.generation) return
    const seen = new Set<string>()
    for (const row of rows) {
      seen.add(row.organization_id)
      this.hold(row)
    }
    for (const id of this.byOrganization.keys()) if (!seen.has(id)) this.byOrganization.delete(id)
  }

  /**
   * Sets the organization's endpoint (PUT: omitted fields take their defaults). The signing secret
   * is made only when the endpoint is created, and then returned once; a change keeps it.
   */
  async put(organizationId: string, input: PartnerEndpointInput): Promise<{ endpoint: PartnerEndpoint; secret: string | null }> {
    const problem = partnerUrlProblem(input.url, {
      allowHttp: this.options.allowHttp,
      allowPrivateAddresses: this.options.allowPrivateAddresses,
    })
    if (problem) throw invalid('invalid_endpoint_url', `url ${problem}`, { field: 'url' })
    const timeoutMs = input.timeoutMs ?? DEFAULT_TIMEOUT_MS
    const onTimeout = input.onTimeout ?? DEFAULT_ON_TIMEOUT
    const secret = generateWebhookSecret()
    const row = await this.db
      .insertInto('authorization_endpoints')
      .values({
        organization_id: organizationId,
        url: input.url,
        timeout_ms: timeoutMs,
        on_timeout: onTimeout,
        secret_sealed: this.secrets.seal(secret, sealContext(organizationId)),
      })
      .onConflict((oc) =>
        oc.column('organization_id').doUpdateSet({ url: input.url, timeout_ms: timeoutMs, on_timeout: onTimeout, updated_at: sql`now()` }),
      )
      // xmax is 0 for a row this statement inserted, not for one it updated.
      .returning([
        'organization_id',
        'url',
        'timeout_ms',
        'on_timeout',
        'secret_sealed',
        'created_at',
        'updated_at',
        sql<boolean>`xmax = 0`.as('created'),
      ])
      .executeTakeFirstOrThrow()
    this.generation++
    const endpoint = this.hold(row)
    return { endpoint, secret: row.created ? secret : null }
  }

  async get(organizationId: string): Promise<PartnerEndpoint> {
    const row = await this.db
      .selectFrom('authorization_endpoints')
      .selectAll()
      .where('organization_id', '=', organizationId)
      .executeTakeFirst()
    if (!row) throw authorizationEndpointNotFound()
    return this.hold(row)
  }

  /** Back to our own decision alone. */
  async delete(organizationId: string): Promise<void> {
    const deleted = await this.db.deleteFrom('authorization_endpoints').where('organization_id', '=', organizationId).executeTakeFirst()
    this.generation++
    this.byOrganization.delete(organizationId)
    if (deleted.numDeletedRows === 0n) throw authorizationEndpointNotFound()
  }

  /** A new signing secret, returned once; the old one signs nothing from now on. */
  async rotateSecret(organizationId: string): Promise<{ endpoint: PartnerEndpoint; secret: string }> {
    const secret = generateWebhookSecret()
    const row = await this.db
      .updateTable('authorization_endpoints')
      .set({ secret_sealed: this.secrets.seal(secret, sealContext(organizationId)), updated_at: sql`now()` })
      .where('organization_id', '=', organizationId)
      .returningAll()
      .executeTakeFirst()
    if (!row) throw authorizationEndpointNotFound()
    this.generation++
    return { endpoint: this.hold(row), secret }
  }

  private hold(row: Row): PartnerEndpoint {
    const held = this.byOrganization.get(row.organization_id)
    const secret = held?.sealed === row.secret_sealed ? held.secret : this.secrets.open(row.secret_sealed, sealContext(row.organization_id))
    const endpoint = {
      organizationId: row.organization_id,
      url: row.url,
      timeoutMs: row.timeout_ms,
      onTimeout: row.on_timeout,
      secret,
      sealed: row.secret_sealed,
      createdAt: new Date(row.created_at),
      updatedAt: new Date(row.updated_at),
    }
    this.byOrganization.set(row.organization_id, endpoint)
    return endpoint
  }
}
