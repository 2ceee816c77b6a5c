import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type, type Static } from '@sinclair/typebox'
import { OpenpncError } from '../../core/errors.ts'
import { ErrorResponse } from '../../infra/http/errors.ts'
import { platform as platformAuth, routeTable } from '../../infra/http/route-table.ts'
import type { Platform } from '../../platform.ts'
import { authRecordOf, HUBJECT_DESTINATION, isRecordSubject, recordLabel } from './auth-data.ts'

const statusExample = {
  connection: {
    url: 'https://service-qa.hubject.com/api/oicp',
    providerId: 'DE*8PS',
    offline: true,
    clientCertificate: true,
    serverCa: true,
  },
  authData: {
    enabled: true,
    backlog: 0,
    failing: 0,
    delivered: 1250,
    deadLetters: 1,
    nextAttemptAt: null,
    lastError: 'Hubject refused the insert of DE-ABC-C12345678-9: StatusCode 019 Inconsistent EvcoID.',
    recordsAtHubject: 1248,
    lastPush: { at: '2026-01-15T09:20:00.000Z', action: 'insert', records: 3 },
    lastFullLoad: { at: '2026-01-15T09:00:00.000Z', records: 1245 },
    fullLoadPending: false,
    recentDeadLetters: [
      {
        record: 'DE-ABC-C12345678-9',
        reason: 'Hubject refused the insert of DE-ABC-C12345678-9: StatusCode 019 Inconsistent EvcoID.',
        deadAt: '2026-01-15T09:20:00.000Z',
      },
    ],
  },
  evsePull: {
    enabled: true,
    intervalMs: 900000,
    lastCall: '2026-01-15T09:15:00.000Z',
    lastFullPull: {
      at: '2026-01-15T03:00:00.000Z',
      full: true,
      pages: 12,
      received: 23140,
      stored: 23138,
      deleted: 15,
      invalid: 2,
      locations: 6120,
    },
    lastDeltaPull: {
      at: '2026-01-15T09:15:04.000Z',
      full: false,
      pages: 1,
      received: 41,
      stored: 40,
      deleted: 1,
      invalid: 0,
      locations: 38,
    },
    lastStatusPull: { at: '2026-01-15T09:15:06.000Z', received: 23138, changed: 912, invalid: 0, locations: 700 },
    lastError: null,
    lastErrorAt: null,
    pulling: false,
    evses: 23137,
    locations: 6118,
    plugAndChargeLocations: 1402,
  },
}

/** Admin operations on the Hubject (OICP 2.3) connection (platform admin key). */
export const OICP_ADMIN_API = routeTable({
  getOicpStatus: {
    method: 'GET',
    url: '/admin/v1/oicp',
    auth: platformAuth,
    tag: 'Admin: OICP',
    summary: 'The Hubject connection: its settings, the authentication data push (backlog, last error, last push) and the EVSE pull',
    example: { response: statusExample },
  },
  pushOicpAuthData: {
    method: 'POST',
    url: '/admin/v1/oicp/push-auth-data',
    auth: platformAuth,
    tag: 'Admin: OICP',
    summary:
      "Push authentication data to Hubject now: the waiting changes (backoff skipped, dead letters sent again), or with full a fullLoad replacing Hubject's set",
    errors: ['oicp_push_not_enabled'],
    example: { request: { full: true }, response: { fullLoad: true, queued: 1 } },
  },
  pullOicpEvseData: {
    method: 'POST',
    url: '/admin/v1/oicp/pull-evse-data',
    auth: platformAuth,
    tag: 'Admin: OICP',
    summary:
      "Pull Hubject's EVSE data now (a delta since the last pull, or with full the whole set, replacing ours) and then the EVSE statuses; answers when done",
    errors: ['oicp_not_configured', 'oicp_pull_in_progress', 'oicp_pull_failed'],
    example: {
      request: { full: true },
      response: { data: statusExample.evsePull.lastFullPull, status: statusExample.evsePull.lastStatusPull },
    },
  },
})

const R = OICP_ADMIN_API
const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse }
const Time = Type.Union([Type.String({ format: 'date-time' }), Type.Null()])

const DataPullResult = Type.Object({
  at: Type.Optional(Type.String({ format: 'date-time' })),
  full: Type.Boolean(),
  pages: Type.Integer(),
  received: Type.Integer({ description: 'EVSE records Hubject listed' }),
  stored: Type.Integer({ description: 'inserted or updated' }),
  deleted: Type.Integer({ description: "by a delta's delete, or no longer listed in a full pull" }),
  invalid: Type.Integer({ description: 'records that could not be read (logged, skipped)' }),
  locations: Type.Integer({ description: 'locations written or removed' }),
})
const StatusPullResult = Type.Object({
  at: Type.Optional(Type.String({ format: 'date-time' })),
  received: Type.Integer(),
  changed: Type.Integer({ description: 'statuses that differed from the ones we had' }),
  invalid: Type.Integer(),
  locations: Type.Integer(),
})

const StatusResponse = Type.Object(
  {
    connection: Type.Object({
      url: Type.Union([Type.String(), Type.Null()], { description: "Hubject's base URL (OPENPNC_OICP_URL); null: no Hubject connection" }),
      providerId: Type.String({ description: 'our ProviderID' }),
      offline: Type.Boolean({ description: 'set up as an offline EMP: authentication data is pushed to Hubject' }),
      clientCertificate: Type.Boolean({ description: 'our calls present a client certificate (OPENPNC_OICP_CLIENT_CERT)' }),
      serverCa: Type.Boolean({ description: "Hubject's certificate is checked against a configured CA (OPENPNC_OICP_SERVER_CA)" }),
    }),
    authData: Type.Object({
      enabled: Type.Boolean({ description: 'key changes are pushed (offline EMP with a Hubject URL)' }),
      backlog: Type.Integer({ description: 'records with a change not yet at Hubject' }),
      failing: Type.Integer({ description: 'of those, records whose last attempt failed' }),
      delivered: Type.Integer(),
      deadLetters: Type.Integer({ description: 'records Hubject refused for good (e.g. 019 for an EvcoID of another provider)' }),
      nextAttemptAt: Time,
      lastError: Type.Union([Type.String(), Type.Null()]),
      recordsAtHubject: Type.Integer({ description: 'the records Hubject holds, as its acknowledgments told us' }),
      lastPush: Type.Union([
        Type.Object({ at: Type.String({ format: 'date-time' }), action: Type.String(), records: Type.Integer() }),
        Type.Null(),
      ]),
      lastFullLoad: Type.Union([Type.Object({ at: Type.String({ format: 'date-time' }), records: Type.Integer() }), Type.Null()]),
      fullLoadPending: Type.Boolean({ description: 'a requested fullLoad has not reached Hubject yet' }),
      recentDeadLetters: Type.Array(
        Type.Object({
          record: Type.String({ description: 'the EvcoID or RFID UID' }),
          reason: Type.Union([Type.String(), Type.Null()]),
          deadAt: Type.String({ format: 'date-time' }),
        }),
        { description: 'the newest ten' },
      ),
    }),
    evsePull: Type.Object(
      {
        enabled: Type.Boolean({ description: 'there is a Hubject to pull from (OPENPNC_OICP_URL)' }),
        intervalMs: Type.Integer({ description: 'a delta and a status pull this often (OPENPNC_OICP_EVSE_PULL_MS)' }),
        lastCall: Type.Union([Type.String({ format: 'date-time' }), Type.Null()], {
          description: 'when the last data pull began: the next delta asks for changes since then',
        }),
        lastFullPull: Type.Union([DataPullResult, Type.Null()]),
        lastDeltaPull: Type.Union([DataPullResult, Type.Null()]),
        lastStatusPull: Type.Union([StatusPullResult, Type.Null()]),
        lastError: Type.Union([Type.String(), Type.Null()], { description: 'why the last pull failed; null once one succeeds' }),
        lastErrorAt: Time,
        pulling: Type.Boolean({ description: 'an instance is pulling now' }),
        evses: Type.Integer({ description: "Hubject's EVSEs we hold" }),
        locations: Type.Integer({ description: 'the locations they make (per operator and charging pool or station)' }),
        plugAndChargeLocations: Type.Integer({ description: 'of those, with a Plug&Charge capable EVSE' }),
      },
      { description: "Hubject's EVSE data and status pull" },
    ),
  },
  { title: 'OicpStatus' },
)

/** The connection's status as the admin API shows it; settings only, never file contents. */
export async function oicpStatus(platform: Platform): Promise<Static<typeof StatusResponse>> {
  const { config } = platform
  const push = await platform.oicp.authData.status()
  const dead = await platform.deliveries.deadLetters({ destination: HUBJECT_DESTINATION, limit: 10 })
  return {
    connection: {
      url: config.oicpUrl ?? null,
      providerId: config.oicpProviderIdResolved,
      offline: config.oicpOffline,
      clientCertificate: config.oicpClientCert !== undefined,
      serverCa: config.oicpServerCa !== undefined,
    },
    authData: {
      enabled: push.enabled,
      backlog: push.delivery.backlog,
      failing: push.delivery.failing,
      delivered: push.delivery.delivered,
      deadLetters: push.delivery.deadLetters,
      nextAttemptAt: push.delivery.nextAttemptAt?.toISOString() ?? null,
      lastError: push.delivery.lastError,
      recordsAtHubject: push.recordsAtHubject,
      lastPush:
        push.lastPushAt && push.lastPushAction
          ? { at: push.lastPushAt.toISOString(), action: push.lastPushAction, records: push.lastPushRecords ?? 0 }
          : null,
      lastFullLoad: push.lastFullLoadAt ? { at: push.lastFullLoadAt.toISOString(), records: push.lastFullLoadRecords ?? 0 } : null,
      fullLoadPending: push.fullLoadPending,
      recentDeadLetters: dead.map((d) => ({
        record: isRecordSubject(d.subject) ? recordLabel(authRecordOf(d.subject)) : d.subject,
        reason: d.reason,
        deadAt: d.deadAt.toISOString(),
      })),
    },
    evsePull: (await platform.oicp.evsePull.status()) as Static<typeof StatusResponse>['evsePull'],
  }
}

export const oicpAdminApi: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  app.route({
    ...R.getOicpStatus.route,
    schema: { ...R.getOicpStatus.doc, response: { 200: StatusResponse, ...errors } },
    handler: async () => oicpStatus(platform),
  })

  app.route({
    ...R.pushOicpAuthData.route,
    schema: {
      ...R.pushOicpAuthData.doc,
      body: Type.Optional(
        Type.Object({
          full: Type.Optional(Type.Boolean({ description: "a fullLoad: Hubject's set replaced by every record that should be there now" })),
        }),
      ),
      response: {
        202: Type.Object({
          fullLoad: Type.Boolean(),
          queued: Type.Integer({ description: 'deliveries made due now (the fullLoad counts as one)' }),
        }),
        ...errors,
      },
    },
    handler: async (request, reply) => {
      const push = platform.oicp.authData
      if (!push.enabled) {
        throw new OpenpncError(
          'conflict',
          'oicp_push_not_enabled',
          'authentication data is pushed only by an offline EMP: set OPENPNC_OICP_OFFLINE=true and OPENPNC_OICP_URL',
        )
      }
      const full = request.body?.full === true
      if (full) await push.requestFullLoad()
      const queued = (full ? 1 : 0) + (await push.pushNow())
      return reply.code(202).send({ fullLoad: full, queued })
    },
  })

  app.route({
    ...R.pullOicpEvseData.route,
    schema: {
      ...R.pullOicpEvseData.doc,
      body: Type.Optional(
        Type.Object({
          full: Type.Optional(Type.Boolean({ description: 'the whole set, replacing ours: EVSEs Hubject no longer lists are removed' })),
        }),
      ),
      response: { 200: Type.Object({ data: DataPullResult, status: StatusPullResult }), ...errors },
    },
    handler: async (request) => {
      try {
        return await platform.oicp.evsePull.pull({ full: request.body?.full === true })
      } catch (error) {
        if (error instanceof OpenpncError) throw error
        // Hubject's failure, not ours: say what it was (it is also kept as the pull's last error).
        throw new OpenpncError(
          'bad_gateway',
          'oicp_pull_failed',
          `the pull from Hubject failed: ${error instanceof Error ? error.message : String(error)}`,
        )
      }
    },
  })
}
