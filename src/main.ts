import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { DestinationStream } from 'pino'
import type { Config } from './config.ts'
import { openDatabase, type DatabaseHandle } from './infra/db/database.ts'
import { migrate } from './infra/db/migrate.ts'
import { buildMetricsServer } from './infra/http/metrics.ts'
import { buildServer } from './server.ts'
import { fillSearchDocuments } from './services/locations/store.ts'
import { LOCATION_RECORD_READERS } from './protocols/location-readers.ts'
import { startOicpListener, type OicpListener } from './protocols/oicp/server.ts'
import { createLogger } from './infra/logger.ts'
import { createPlatform, type Platform } from './platform.ts'
import { createSandbox, startSandboxEcosystem } from './sim/sandbox.ts'
import type { OpcpSimulator } from './sim/opcp/sim.ts'
import { shutDownInSteps } from './shutdown.ts'
import { VERSION } from './version.ts'
import { OPCP_WEBHOOK_PATH } from './protocols/opcp/server.ts'

export interface RunningPlatform {
  platform: Platform
  server: FastifyInstance
  database: DatabaseHandle
  /** http://host:port */
  url: string
  /** http://host:port of the metrics server, when OPENPNC_METRICS_PORT is set */
  metricsUrl?: string
  /** where Hubject reaches our OICP operations (scheme, host, port, prefix), when OPENPNC_OICP_PORT is set */
  oicpUrl?: string
  /** Start-up work done in the background (the CA chain at the first start) has ended. */
  ready: Promise<void>
  /**
   * Graceful shutdown: readiness turns 503, the server stops accepting and answers the requests
   * in flight, the pollers stop after their round, decisions are written, the database closes.
   * Rejects when that takes longer than OPENPNC_SHUTDOWN_TIMEOUT_MS. Calling it again waits for the first call.
   */
  stop(): Promise<void>
}

function writeSecretFile(path: string, secret: string) {
  mkdirSync(resolve(path, '..'), { recursive: true })
  writeFileSync(path, `${secret}\n`, { mode: 0o600 })
}

/** Composition root: config -> database -> services -> HTTP server -> background work. */
export interface StartOptions {
  /** false: build the server without listening (tests inject requests). */
  listen?: boolean
  /** Where log lines go instead of stdout (tests read them). */
  logDestination?: DestinationStream
}

export async function startPlatform(given: Config, options: StartOptions = {}): Promise<RunningPlatform> {
  const log = createLogger(given.logLevel, given.logFormat, options.logDestination)
  let config = given
  let sandboxEcosystem: OpcpSimulator | undefined
  if (config.sandbox && config.sandboxOpcp && !config.opcpUrl) {
    ;({ config, simulator: sandboxEcosystem } = await startSandboxEcosystem(config))
    log.info(
      { opcpUrl: config.opcpUrl },
      `sandbox: a simulated Hubject ecosystem runs at ${config.opcpUrl} (add vehicles with: openpnc sim opcp add-vehicle --url ${config.opcpUrl})`,
    )
  }
  const database = await openDatabase({
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    poolSize: config.databasePoolSize,
    onConnectionError: (err) => log.warn({ err }, 'database connection lost'),
  })
  const applied = await migrate(database.db)
  if (applied.length > 0) log.info({ migrations: applied }, 'database migrated')
  const filled = await fillSearchDocuments(database.db, LOCATION_RECORD_READERS)
  if (filled > 0) log.info({ locations: filled }, 'search documents derived for locations stored before migration 0005')
  const platform = createPlatform(database.db, config, log)
  if (config.allowPrivatePartnerUrls) {
    log.warn('partner URLs may point at loopback and private addresses (OPENPNC_ALLOW_PRIVATE_PARTNER_URLS): for sandboxes and tests only')
  }

  if (!config.adminApiKey && !(await platform.apiKeys.platformKeyExists())) {
    const admin = await platform.apiKeys.issue(null, ['admin'])
    const path = join(config.dataDir, 'admin-api-key')
    writeSecretFile(path, admin.apiKey)
    log.info({ path }, 'generated the platform admin API key')
  }

  if (database.kind === 'pglite' && database.createdNow && config.sandbox) {
    const sandbox = await createSandbox(platform)
    const path = join(config.dataDir, 'demo-api-key')
    writeSecretFile(path, sandbox.apiKey)
    // The key goes to the file only: logs are collected and kept where keys must not be.
    log.info({ demoApiKeyFile: path }, `sandbox organization created (Plug&Charge, prefix DE-8PS); its API key is in ${path}`)
  }

  platform.metrics.watch(
    {
      keyDirectory: platform.keyDirectory,
      searchDocuments: platform.searchDocuments,
      databasePool: database.poolStats,
      deliveries: async () =>
        Promise.all(
          (await platform.ocpi.partners.list()).map(async (p) => ({ partnerId: p.id, ...(await platform.ocpi.push.status(p.id)) })),
        ),
      destinations: () => platform.deliveries.backlogs(),
    },
    log,
  )
  await platform.keyDirectory.start()
  await platform.authorizationEndpoints.start()
  const server = await buildServer(platform)
  let url = ''
  if (options.listen !== false) {
    url = await server.listen({ port: config.port, host: config.host })
    if (!config.publicUrl) platform.setPublicUrl(url)
  }
  let metricsServer: FastifyInstance | undefined
  let metricsUrl: string | undefined
  if (config.metricsPort !== undefined && options.listen !== false) {
    metricsServer = await buildMetricsServer(platform)
    metricsUrl = await metricsServer.listen({ port: config.metricsPort, host: config.host })
    log.info({ url: metricsUrl }, 'metrics served without a key on their own port')
  }
  let oicp: OicpListener | undefined
  if (config.oicpPort !== undefined && options.listen !== false) oicp = await startOicpListener(platform)
  log.info(
    {
      url: url || null,
      database: database.kind,
      ...(database.kind === 'pglite' && { dataDir: resolve(config.dataDir) }),
      version: VERSION,
    },
    url ? `openpnc ${VERSION} listening at ${url} (${database.kind})` : `openpnc ${VERSION} started (${database.kind})`,
  )

  // After listening: the CA certificates carry the public URL of our OCSP responder and CRLs. In
  // the background, so signals are handled at once; whoever needs the chain waits for it.
  const caReady = config.pkiAutoInit ? platform.ca.authorities.autoInitialize() : Promise.resolve()

  platform.keyValidity.start()
  platform.ocpi.push.start()
  platform.oicp.authData.start()
  platform.webhooks.delivery.start()
  platform.ca.jobs.start()
  platform.deliveries.start()
  platform.ocpi.locationPull.start()
  platform.oicp.evsePull.start()
  await platform.opcp?.start()
  if (sandboxEcosystem && platform.opcp && url && (await platform.opcp.webhooks.endpoints()).length === 0) {
    await platform.opcp.webhooks.register(`${platform.publicUrl()}${OPCP_WEBHOOK_PATH}`)
  }

  // Replays are kept 24 hours; sweep the older ones now and then.
  const sweep = setInterval(() => {
    platform.idempotency.purgeExpired().catch((err) => log.warn({ err }, 'idempotency sweep failed'))
  }, 3_600_000)
  sweep.unref()

  async function shutdown() {
    platform.lifecycle.shuttingDown = true
    clearInterval(sweep)
    await shutDownInSteps(
      [
        { name: 'stopped accepting connections and answered the requests in flight', run: () => server.close() },
        ...(metricsServer ? [{ name: 'closed the metrics server', run: () => metricsServer.close() }] : []),
        ...(oicp ? [{ name: 'closed the OICP listener after the requests in flight', run: () => oicp.close() }] : []),
        {
          // the publisher first (no new rows), then the delivery engine after its round
          name: 'stopped the token push after its round in flight',
          run: async () => {
            await platform.keyValidity.stop()
            await platform.ocpi.push.stop()
            await platform.oicp.authData.stop()
            await platform.opcp?.stop()
            await platform.webhooks.delivery.stop()
            await platform.deliveries.stop()
          },
        },
        {
          name: 'stopped the certificate authority round after its run in flight',
          run: async () => {
            await caReady
            await platform.ca.jobs.stop()
          },
        },
        {
          name: 'stopped the location pull',
          run: async () => {
            await platform.ocpi.locationPull.stop()
            await platform.oicp.evsePull.stop()
          },
        },
        {
          name: 'closed the connections to partners',
          run: async () => {
            await platform.outgoing.close()
            await platform.partnerDecisions.close()
            await platform.oicp.client?.close()
            await platform.opcp?.close()
          },
        },
        {
          // both are in-memory followers of the database that the authorization reads
          name: 'stopped the key directory',
          run: async () => {
            await platform.keyDirectory.stop()
            await platform.authorizationEndpoints.stop()
          },
        },
        { name: 'wrote the buffered authorization decisions', run: () => platform.decisions.flush() },
        { name: 'wrote the buffered authorized sessions', run: () => platform.sessions.flush() },
        { name: 'closed the database', run: () => database.close() },
        ...(sandboxEcosystem ? [{ name: 'stopped the simulated Hubject ecosystem', run: () => sandboxEcosystem.stop() }] : []),
      ],
      { timeoutMs: config.shutdownTimeoutMs, log },
    )
  }
  let stopping: Promise<void> | undefined

  return {
    platform,
    server,
    database,
    url,
    metricsUrl,
    oicpUrl: oicp?.url,
    ready: caReady,
    stop: () => (stopping ??= shutdown()),
  }
}
