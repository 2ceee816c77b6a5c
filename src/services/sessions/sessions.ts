import { sql, type Selectable, type Transaction } from 'kysely'
import { notFound } from '../../core/errors.ts'
import type { OrganizationPolicy } from '../../core/organizations/settings.ts'
import type { Db } from '../../infra/db/database.ts'
import type { ChargingSessionsTable, Database, SessionNotificationType, SessionStatus } from '../../infra/db/schema.ts'
import { userNotFound } from '../keys/charging-keys.ts'
import {
  decodeSessionCursor,
  encodeSessionCursor,
  SESSION_STATUSES,
  TERMINAL_SESSION_STATUSES,
  type ChargingSession,
  type SessionCost,
  type NewSession,
  type SessionIdentification,
  type SessionRef,
} from './model.ts'
import type { Logger } from '../../infra/logger.ts'
import { SessionOpenings } from './session-openings.ts'

export * from './model.ts'

export type SessionRow = Selectable<ChargingSessionsTable>

/**
 * A `charging_sessions` row, as read by Kysely or as a JSON snapshot of one (an outbox event, a
 * webhook payload): timestamps may be ISO strings, numerics strings or numbers, and columns added
 * after the snapshot was taken may be missing.
 */
export type SessionRowSnapshot = {
  [K in keyof SessionRow]: SessionRow[K] extends Date
    ? Date | string
    : SessionRow[K] extends Date | null
      ? Date | string | null
      : SessionRow[K]
}

const dateOrNull = (value: Date | string | null | undefined): Date | null =>
  value === null || value === undefined ? null : new Date(value)
const numberOrNull = (value: string | number | null | undefined): number | null =>
  value === null || value === undefined ? null : Number(value)

function costOf(
  currency: string | null | undefined,
  exclVat: string | number | null | undefined,
  inclVat: string | number | null | undefined,
) {
  const excl = numberOrNull(exclVat)
  return currency && excl !== null ? { currency, exclVat: excl, inclVat: numberOrNull(inclVat) } : null
}

/** A session from its row, or from a JSON snapshot of its row (see SessionRowSnapshot). */
export function sessionFromRow(row: SessionRowSnapshot | Partial<SessionRowSnapshot>): ChargingSession {
  const r = row as SessionRowSnapshot
  return {
    id: r.id,
    organizationId: r.organization_id,
    userId: r.user_id,
    keyId: r.key_id,
    protocol: r.protocol,
    issuer: r.issuer ?? '',
    externalId: r.external_id,
    authorizationReference: r.authorization_reference ?? null,
    evseId: r.evse_id ?? null,
    operatorId: r.operator_id ?? null,
    identification:
      r.identification_method != null && r.identification != null ? { method: r.identification_method, value: r.identification } : null,
    status: r.status,
    startedAt: new Date(r.started_at),
    endedAt: dateOrNull(r.ended_at),
    chargingStartedAt: dateOrNull(r.charging_started_at),
    chargingEndedAt: dateOrNull(r.charging_ended_at),
    energyKwh: numberOrNull(r.energy_kwh),
    authorizedAt: dateOrNull(r.authorized_at),
    stoppedAt: dateOrNull(r.stopped_at),
    createdAt: new Date(r.created_at),
    updatedAt: new Date(r.updated_at),
    locationId: r.location_id ?? null,
    evseUid: r.evse_uid ?? null,
    connectorId: r.connector_id ?? null,
    cost: costOf(r.currency, r.total_cost_excl_vat, r.total_cost_incl_vat),
  }
}

const toSession = sessionFromRow

/** The SQL of "the further of the current status and this one" (model.ts advancedStatus, in the database). */
const advanceTo = (next: SessionStatus) => {
  const order = sql.raw(`ARRAY[${SESSION_STATUSES.map((s) => `'${s}'`).join(', ')}]::text[]`)
  const terminal = sql.raw(TERMINAL_SESSION_STATUSES.map((s) => `'${s}'`).join(', '))
  return sql<SessionStatus>`CASE WHEN status IN (${terminal}) THEN status WHEN array_position(${order}, status) < array_position(${order}, ${next}::text) THEN ${next}::text ELSE status END`
}

export interface ChargeDetailRecordInput {
  session: SessionRef
  /** the key its identification names, to open the session when no protocol reported it before (offline authorization); null: none of ours */
  keyId: string | null
  identification: SessionIdentification | null
  /** the record as received */
  record: Record<string, unknown>
  /** model.ts contentSha256 of what identifies the record's content */
  contentSha256: string
  sessionStart: Date | null
  sessionEnd: Date | null
  chargingStart: Date | null
  chargingEnd: Date | null
  energyKwh: number | null
  evseId: string | null
  operatorId: string | null
  /** the protocol's ID of the record (OCPI CDR.id, unique per issuer); absent where records have none (OICP) */
  externalId?: string | null
  locationId?: string | null
  evseUid?: string | null
  connectorId?: string | null
  cost?: SessionCost | null
  authorizationReference?: string | null
}

export type ChargeDetailRecordOutcome =
  /** `cdrId`: our ID of the stored record */
  | { outcome: 'stored'; session: ChargingSession; cdrId: string }
  /** the same record again: acknowledged, stored once */
  | { outcome: 'repeated'; session: ChargingSession; cdrId: string }
  /** another record under the same ID (`sameId`), or for a session that has one */
  | { outcome: 'conflict'; session: ChargingSession; receivedAt: Date; sameId: boolean }
  /** no such session, and its identification names no key of ours */
  | { outcome: 'unknown_session' }

export interface NotificationInput {
  session: SessionRef
  keyId: string | null
  identification: SessionIdentification | null
  type: SessionNotificationType
  body: Record<string, unknown>
  contentSha256: string
  occurredAt: Date | null
  evseId: string | null
  operatorId: string | null
  /** what the notification tells of the session */
  chargingStartedAt?: Date | null
  chargingEndedAt?: Date | null
  energyKwh?: number | null
}

/** What a protocol says a session now is (OCPI: a Session PUT, or the stored one with a PATCH merged). */
export interface SessionReport {
  status: SessionStatus
  startedAt: Date
  endedAt: Date | null
  energyKwh: number | null
  authorizationReference: string | null
  operatorId: string | null
  locationId: string | null
  evseUid: string | null
  connectorId: string | null
  cost: SessionCost | null
  /** the protocol's whole description of the session, kept for reading it back */
  record: Record<string, unknown>
}

export type NotificationOutcome = { outcome: 'stored' | 'repeated'; session: ChargingSession } | { outcome: 'unknown_session' }

export interface ChargeDetailRecordView {
  /** our ID of the record */
  id: string
  /** the protocol's ID of it (OCPI CDR.id), null where records have none */
  externalId: string | null
  cost: SessionCost | null
  record: Record<string, unknown>
  sessionStart: Date | null
  sessionEnd: Date | null
  chargingStart: Date | null
  chargingEnd: Date | null
  energyKwh: number | null
  evseId: string | null
  operatorId: string | null
  receivedAt: Date
}

export interface NotificationView {
  type: SessionNotificationType
  occurredAt: Date | null
  receivedAt: Date
  body: Record<string, unknown>
}

/** A session as a partner reads it: with the key it charged under. */
export interface SessionListEntry extends ChargingSession {
  key: { keyId: string; type: string }
}

export interface SessionDetail extends SessionListEntry {
  cdr: ChargeDetailRecordView | null
  notifications: NotificationView[]
}

export interface SessionQuery {
  /** a charging key's row ID: only its sessions */
  keyId?: string
  /** only sessions in one of these statuses (absent or empty: any) */
  statuses?: readonly SessionStatus[]
  /** sessions that started at or after */
  from?: Date
  /** sessions that started before */
  to?: Date
  limit: number
  cursor?: string
}

const sessionNotFound = (id: string) => notFound('session_not_found', `session ${JSON.stringify(id)} not found`)
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/**
 * The store of charging sessions and their charge detail records, fed by every protocol. Each
 * write is one transaction on the session's row: a session reported twice at once is one row, a
 * record sent twice at once is stored once (the unique indexes decide, never a read before a write).
 */
export class ChargingSessions {
  private readonly openings: SessionOpenings

  constructor(
    private readonly db: Db,
    log: Logger,
    options: { openingsFlushMs?: number } = {},
  ) {
    this.openings = new SessionOpenings(db, log, { flushMs: options.openingsFlushMs })
  }

  /**
   * Remembers a session we authorized, without making the authorization wait: written within
   * moments (session-openings.ts), and every read or write of sessions here waits for it first.
   * A repeated authorization of the same session keeps the first.
   */
  authorized(session: NewSession): void {
    this.openings.add(session)
  }

  /** Writes the authorized sessions still buffered (shutdown, tests). */
  flush(): Promise<void> {
    return this.openings.flush()
  }

  /** The session a protocol names, or null. */
  async find(ref: SessionRef): Promise<ChargingSession | null> {
    await this.openings.settled()
    const row = await this.byRef(this.db, ref, false)
    return row ? sessionFromRow(row) : null
  }

  /** The driver stopped the session (its stop was authorized). */
  async stopped(ref: SessionRef, at: Date): Promise<ChargingSession | null> {
    await this.openings.settled()
    const row = await this.db
      .updateTable('charging_sessions')
      .set({ status: advanceTo('STOPPED'), stopped_at: sql`coalesce(stopped_at, ${at})`, updated_at: new Date() })
      .where('protocol', '=', ref.protocol)
      .where('issuer', '=', ref.issuer ?? '')
      .where('external_id', '=', ref.externalId)
      .returningAll()
      .executeTakeFirst()
    return row ? sessionFromRow(row) : null
  }

  /**
   * Stores a session's charge detail record, once: the same record again is `repeated`, another
   * one `conflict` (the first stays). A record of a session no protocol reported before opens it
   * under the key its identification names.
   */
  async chargeDetailRecord(input: ChargeDetailRecordInput): Promise<ChargeDetailRecordOutcome> {
    await this.openings.settled()
    return this.db.transaction().execute(async (trx) => {
      const row = await this.openOrLock(trx, input.session, input.keyId, {
        status: 'COMPLETED',
        startedAt: input.sessionStart ?? input.chargingStart ?? new Date(),
        evseId: input.evseId,
        operatorId: input.operatorId,
        identification: input.identification,
        authorizationReference: input.authorizationReference,
      })
      if (!row) return { outcome: 'unknown_session' as const }
      const issuer = input.session.issuer ?? ''
      const externalId = input.externalId ?? null
      // Both unique indexes decide at once (one record per session, one per party and ID): no read before the write.
      const inserted = await trx
        .insertInto('charge_detail_records')
        .values({
          session_id: row.id,
          protocol: input.session.protocol,
          issuer,
          external_id: externalId,
          record: JSON.stringify(input.record),
          content_sha256: input.contentSha256,
          session_start: input.sessionStart,
          session_end: input.sessionEnd,
          charging_start: input.chargingStart,
          charging_end: input.chargingEnd,
          energy_kwh: input.energyKwh,
          evse_id: input.evseId,
          operator_id: input.operatorId,
          currency: input.cost?.currency ?? null,
          total_cost_excl_vat: input.cost?.exclVat ?? null,
          total_cost_incl_vat: input.cost?.inclVat ?? null,
        })
        .onConflict((oc) => oc.doNothing())
        .returning('id')
        .executeTakeFirst()
      if (!inserted) {
        const existing = await trx
          .selectFrom('charge_detail_records')
          .select(['id', 'content_sha256', 'received_at', 'external_id', 'session_id'])
          .where((eb) =>
            externalId === null
              ? eb('session_id', '=', row.id)
              : eb.or([
                  eb('session_id', '=', row.id),
                  eb.and([eb('protocol', '=', input.session.protocol), eb('issuer', '=', issuer), eb('external_id', '=', externalId)]),
                ]),
          )
          .orderBy(sql`external_id IS NOT DISTINCT FROM ${externalId}`, 'desc')
          .executeTakeFirstOrThrow()
        const sameId = externalId !== null && existing.external_id === externalId
        if (existing.content_sha256 === input.contentSha256 && existing.session_id === row.id) {
          return { outcome: 'repeated' as const, session: toSession(row), cdrId: existing.id }
        }
        return { outcome: 'conflict' as const, session: toSession(row), receivedAt: new Date(existing.received_at), sameId }
      }
      // The record is the final word on the session: its times, energy, place and price.
      const updated = await trx
        .updateTable('charging_sessions')
        .set({
          status: advanceTo('COMPLETED'),
          started_at: input.sessionStart ?? sql`started_at`,
          ended_at: input.sessionEnd ?? sql`ended_at`,
          charging_started_at: input.chargingStart ?? sql`charging_started_at`,
          charging_ended_at: input.chargingEnd ?? sql`charging_ended_at`,
          energy_kwh: input.energyKwh ?? sql`energy_kwh`,
          evse_id: input.evseId ?? sql`evse_id`,
          operator_id: sql`coalesce(operator_id, ${input.operatorId})`,
          authorization_reference: sql`coalesce(authorization_reference, ${input.authorizationReference ?? null})`,
          location_id: input.locationId ?? sql`location_id`,
          evse_uid: input.evseUid ?? sql`evse_uid`,
          connector_id: input.connectorId ?? sql`connector_id`,
          ...(input.cost && {
            currency: input.cost.currency,
            total_cost_excl_vat: input.cost.exclVat,
            total_cost_incl_vat: input.cost.inclVat,
          }),
          updated_at: new Date(),
        })
        .where('id', '=', row.id)
        .returningAll()
        .executeTakeFirstOrThrow()
      return { outcome: 'stored' as const, session: toSession(updated), cdrId: inserted.id }
    })
  }

  /**
   * A session as the CPO describes it (OCPI PUT and PATCH of a Session): `change` receives the row
   * locked for this transaction (null: new) and returns what the session now is. A new session
   * opens under `keyId` (null: none of ours, `unknown_session`). Once the CDR is in, it alone
   * speaks for times, energy and price; the status only moves forward.
   */
  async reported(
    ref: SessionRef,
    keyId: string | null,
    change: (current: SessionRowSnapshot | null) => SessionReport,
  ): Promise<{ outcome: 'created' | 'updated'; session: ChargingSession } | { outcome: 'unknown_session' }> {
    await this.openings.settled()
    return this.db.transaction().execute(async (trx) => {
      const existing = await this.byRef(trx, ref, true)
      if (!existing && keyId === null) return { outcome: 'unknown_session' as const }
      const report = change(existing ?? null)
      const row =
        existing ??
        (await this.open(trx, {
          ...ref,
          keyId: keyId!,
          status: report.status,
          startedAt: report.startedAt,
          authorizationReference: report.authorizationReference,
          operatorId: report.operatorId,
        }))
      if (!row) return { outcome: 'unknown_session' as const }
      const beforeRecord = row.status !== 'COMPLETED'
      const updated = await trx
        .updateTable('charging_sessions')
        .set({
          status: advanceTo(report.status),
          record: JSON.stringify(report.record),
          authorization_reference: report.authorizationReference ?? sql`authorization_reference`,
          operator_id: sql`coalesce(operator_id, ${report.operatorId})`,
          location_id: report.locationId,
          evse_uid: report.evseUid,
          connector_id: report.connectorId,
          ...(beforeRecord && {
            started_at: report.startedAt,
            ended_at: report.endedAt,
            energy_kwh: report.energyKwh,
            currency: report.cost?.currency ?? null,
            total_cost_excl_vat: report.cost?.exclVat ?? null,
            total_cost_incl_vat: report.cost?.inclVat ?? null,
          }),
          updated_at: new Date(),
        })
        .where('id', '=', row.id)
        .returningAll()
        .executeTakeFirstOrThrow()
      return { outcome: existing ? ('updated' as const) : ('created' as const), session: toSession(updated) }
    })
  }

  /** The session a protocol names, with the record the protocol last gave of it (OCPI GET). */
  async record(ref: SessionRef): Promise<{ session: ChargingSession; record: Record<string, unknown> | null } | null> {
    await this.openings.settled()
    const row = await this.byRef(this.db, ref, false)
    return row ? { session: toSession(row), record: row.record } : null
  }

  /** A stored charge detail record by our ID, with its issuer (whose it is) and as received. */
  async chargeDetailRecordById(id: string): Promise<{ issuer: string; protocol: string; record: Record<string, unknown> } | null> {
    if (!UUID.test(id)) return null
    const row = await this.db
      .selectFrom('charge_detail_records')
      .select(['issuer', 'protocol', 'record'])
      .where('id', '=', id)
      .executeTakeFirst()
    return row ?? null
  }

  /** Stores what the CPO told of a running session (a notification sent again is stored once). */
  async notification(input: NotificationInput): Promise<NotificationOutcome> {
    await this.openings.settled()
    return this.db.transaction().execute(async (trx) => {
      const row = await this.openOrLock(trx, input.session, input.keyId, {
        status: input.type === 'error' ? 'AUTHORIZED' : 'ACTIVE',
        startedAt: input.chargingStartedAt ?? input.occurredAt ?? new Date(),
        evseId: input.evseId,
        operatorId: input.operatorId,
        identification: input.identification,
      })
      if (!row) return { outcome: 'unknown_session' as const }
      const inserted = await trx
        .insertInto('session_notifications')
        .values({
          session_id: row.id,
          type: input.type,
          body: JSON.stringify(input.body),
          content_sha256: input.contentSha256,
          occurred_at: input.occurredAt,
        })
        .onConflict((oc) => oc.columns(['session_id', 'content_sha256']).doNothing())
        .returning('id')
        .executeTakeFirst()
      if (!inserted) return { outcome: 'repeated' as const, session: sessionFromRow(row) }
      // Once the record is in, it alone speaks for times and energy.
      const beforeRecord = row.status !== 'COMPLETED'
      const updated = await trx
        .updateTable('charging_sessions')
        .set({
          status: input.type === 'error' ? sql`status` : advanceTo('ACTIVE'),
          ...(beforeRecord && input.chargingStartedAt && { charging_started_at: input.chargingStartedAt }),
          ...(beforeRecord && input.chargingEndedAt && { charging_ended_at: input.chargingEndedAt }),
          ...(beforeRecord && input.energyKwh !== undefined && input.energyKwh !== null && { energy_kwh: input.energyKwh }),
          evse_id: sql`coalesce(evse_id, ${input.evseId})`,
          operator_id: sql`coalesce(operator_id, ${input.operatorId})`,
          updated_at: new Date(),
        })
        .where('id', '=', row.id)
        .returningAll()
        .executeTakeFirstOrThrow()
      return { outcome: 'stored' as const, session: sessionFromRow(updated) }
    })
  }

  /** A user's sessions, newest first, a page at a time; a user not of this organization is a 404. */
  async listForUser(
    org: OrganizationPolicy,
    userExternalId: string,
    query: SessionQuery,
  ): Promise<{ sessions: SessionListEntry[]; cursor?: string }> {
    // A session authorized a moment ago is listed too.
    await this.openings.settled()
    return this.page(org, await this.liveUserId(org, userExternalId), query)
  }

  /** The organization's sessions (optionally of one user), newest first, a page at a time. */
  async listForOrganization(
    org: OrganizationPolicy,
    query: SessionQuery & { userExternalId?: string },
  ): Promise<{ sessions: SessionListEntry[]; cursor?: string }> {
    await this.openings.settled()
    const userId = query.userExternalId === undefined ? undefined : await this.liveUserId(org, query.userExternalId)
    return this.page(org, userId, query)
  }

  private async page(org: OrganizationPolicy, userId: string | undefined, query: SessionQuery) {
    const after = query.cursor === undefined ? undefined : decodeSessionCursor(query.cursor)
    let select = this.listing().where('s.organization_id', '=', org.id)
    if (userId !== undefined) select = select.where('s.user_id', '=', userId)
    if (query.keyId !== undefined) select = select.where('s.key_id', '=', query.keyId)
    if (query.statuses !== undefined && query.statuses.length > 0) select = select.where('s.status', 'in', [...query.statuses])
    if (query.from !== undefined) select = select.where('s.started_at', '>=', query.from)
    if (query.to !== undefined) select = select.where('s.started_at', '<', query.to)
    if (after) select = select.where((eb) => eb(eb.refTuple('s.started_at', 's.id'), '<', eb.tuple(after.startedAt, after.id)))
    const rows = await select
      .orderBy('s.started_at', 'desc')
      .orderBy('s.id', 'desc')
      .limit(query.limit + 1)
      .execute()
    const page = rows.slice(0, query.limit).map(toListEntry)
    const last = page.at(-1)
    return rows.length > query.limit && last ? { sessions: page, cursor: encodeSessionCursor(last) } : { sessions: page }
  }

  /** One session of a user, with its record and notifications; another user's or organization's is a 404. */
  async getForUser(org: OrganizationPolicy, userExternalId: string, sessionId: string): Promise<SessionDetail> {
    await this.openings.settled()
    const userId = await this.liveUserId(org, userExternalId)
    return this.detail(org, userId, sessionId)
  }

  /** One session of the organization, with its record and notifications; another organization's is a 404. */
  async getForOrganization(org: OrganizationPolicy, sessionId: string): Promise<SessionDetail> {
    await this.openings.settled()
    return this.detail(org, undefined, sessionId)
  }

  private async detail(org: OrganizationPolicy, userId: string | undefined, sessionId: string): Promise<SessionDetail> {
    if (!UUID.test(sessionId)) throw sessionNotFound(sessionId)
    let select = this.listing().where('s.id', '=', sessionId).where('s.organization_id', '=', org.id)
    if (userId !== undefined) select = select.where('s.user_id', '=', userId)
    const row = await select.executeTakeFirst()
    if (!row) throw sessionNotFound(sessionId)
    const [cdr, notifications] = await Promise.all([
      this.db.selectFrom('charge_detail_records').selectAll().where('session_id', '=', row.id).executeTakeFirst(),
      this.db
        .selectFrom('session_notifications')
        .selectAll()
        .where('session_id', '=', row.id)
        .orderBy('received_at')
        .orderBy('id')
        .execute(),
    ])
    return {
      ...toListEntry(row),
      cdr: cdr
        ? {
            id: cdr.id,
            externalId: cdr.external_id,
            cost: costOf(cdr.currency, cdr.total_cost_excl_vat, cdr.total_cost_incl_vat),
            record: cdr.record,
            sessionStart: dateOrNull(cdr.session_start),
            sessionEnd: dateOrNull(cdr.session_end),
            chargingStart: dateOrNull(cdr.charging_start),
            chargingEnd: dateOrNull(cdr.charging_end),
            energyKwh: numberOrNull(cdr.energy_kwh),
            evseId: cdr.evse_id,
            operatorId: cdr.operator_id,
            receivedAt: new Date(cdr.received_at),
          }
        : null,
      notifications: notifications.map((n) => ({
        type: n.type,
        occurredAt: dateOrNull(n.occurred_at),
        receivedAt: new Date(n.received_at),
        body: n.body,
      })),
    }
  }

  private listing() {
    return this.db
      .selectFrom('charging_sessions as s')
      .innerJoin('charging_keys as k', 'k.id', 's.key_id')
      .selectAll('s')
      .select(['k.type as key_type', 'k.contract_id as key_contract_id', 'k.rfid_uid as key_rfid_uid'])
  }

  private async liveUserId(org: OrganizationPolicy, userExternalId: string): Promise<string> {
    const user = await this.db
      .selectFrom('users')
      .select('id')
      .where('organization_id', '=', org.id)
      .where('external_id', '=', userExternalId)
      .where('deleted_at', 'is', null)
      .executeTakeFirst()
    if (!user) throw userNotFound(userExternalId)
    return user.id
  }

  private byRef(db: Db | Transaction<Database>, ref: SessionRef, forUpdate: boolean) {
    const query = db
      .selectFrom('charging_sessions')
      .selectAll()
      .where('protocol', '=', ref.protocol)
      .where('issuer', '=', ref.issuer ?? '')
      .where('external_id', '=', ref.externalId)
    return (forUpdate ? query.forUpdate() : query).executeTakeFirst()
  }

  /**
   * The session's row, inserted when new (its organization and user are the key's), else the
   * existing one; null when the key is unknown. ON CONFLICT: two reports of a new session at
   * once make one row, the later waiting for the first.
   */
  private async open(trx: Transaction<Database>, session: NewSession): Promise<SessionRow | undefined> {
    const inserted = await trx
      .insertInto('charging_sessions')
      .columns([
        'organization_id',
        'user_id',
        'key_id',
        'protocol',
        'issuer',
        'external_id',
        'authorization_reference',
        'evse_id',
        'operator_id',
        'identification_method',
        'identification',
        'status',
        'started_at',
        'authorized_at',
      ])
      .expression((eb) =>
        eb
          .selectFrom('charging_keys')
          .select([
            'organization_id',
            'user_id',
            'id',
            eb.val(session.protocol).as('protocol'),
            eb.val(session.issuer ?? '').as('issuer'),
            eb.val(session.externalId).as('external_id'),
            eb.val(session.authorizationReference ?? null).as('authorization_reference'),
            eb.val(session.evseId ?? null).as('evse_id'),
            eb.val(session.operatorId ?? null).as('operator_id'),
            eb.val(session.identification?.method ?? null).as('identification_method'),
            eb.val(session.identification?.value ?? null).as('identification'),
            eb.val(session.status).as('status'),
            eb.val(session.startedAt).as('started_at'),
            eb.val(session.authorizedAt ?? null).as('authorized_at'),
          ])
          .where('id', '=', session.keyId),
      )
      .onConflict((oc) => oc.columns(['protocol', 'issuer', 'external_id']).doNothing())
      .returningAll()
      .executeTakeFirst()
    return inserted ?? (await this.byRef(trx, session, true))
  }

  /** The session's row locked for this transaction, opened under `keyId` when new; undefined: unknown and no key. */
  private async openOrLock(
    trx: Transaction<Database>,
    ref: SessionRef,
    keyId: string | null,
    opening: Omit<NewSession, keyof SessionRef | 'keyId'>,
  ): Promise<SessionRow | undefined> {
    const existing = await this.byRef(trx, ref, true)
    if (existing) return existing
    if (keyId === null) return undefined
    return this.open(trx, { ...ref, keyId, ...opening })
  }
}

type ListingRow = SessionRow & { key_type: string; key_contract_id: string; key_rfid_uid: string | null }

/** A listed session with its key, from a listing row (or a JSON snapshot of one, as sessionFromRow). */
export function toListEntry(
  row: ListingRow | (SessionRowSnapshot & Pick<ListingRow, 'key_type' | 'key_contract_id' | 'key_rfid_uid'>),
): SessionListEntry {
  return {
    ...sessionFromRow(row),
    key: { keyId: row.key_type === 'rfid' && row.key_rfid_uid !== null ? row.key_rfid_uid : row.key_contract_id, type: row.key_type },
  }
}
