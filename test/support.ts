import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify'
import type { KyselyPlugin } from 'kysely'
import pg from 'pg'
import type { DestinationStream } from 'pino'
import { loadConfig } from '../src/config.ts'
import { startPlatform, type RunningPlatform } from '../src/main.ts'
import { openDatabase } from '../src/infra/db/database.ts'
import { migrate } from '../src/infra/db/migrate.ts'
import { seedMigratedPglite, templateKey } from './pglite-template.ts'

export type BackendName = 'pglite' | 'postgres'

/** PGlite always; PostgreSQL too when TEST_DATABASE_URL is set. */
export function backends(): BackendName[] {
  return process.env.TEST_DATABASE_URL ? ['pglite', 'postgres'] : ['pglite']
}

export const ADMIN_KEY = 'test-admin-key-0123456789abcdef'

/**
 * A Kysely plugin (for `db.withPlugin`) that counts every statement reaching the database through
 * the wrapped instance, and lets a test act on each result before the caller sees it.
 */
export function watchQueries(onResult: (rows: Array<Record<string, unknown>>) => Promise<void> | void = () => {}) {
  const counter = { queries: 0 }
  const plugin: KyselyPlugin = {
    transformQuery: (args) => args.node,
    transformResult: async (args) => {
      counter.queries++
      await onResult(args.result.rows as Array<Record<string, unknown>>)
      return args.result
    },
  }
  return { counter, plugin }
}

/** A fresh database on the test server for one platform, dropped afterwards. */
/**
 * A new, empty PostgreSQL database for one test (dropped by `drop`). `migrated`: a copy of a migrated
 * template instead (CREATE DATABASE ... TEMPLATE copies files; running every migration takes about a
 * second), for platforms that would migrate it anyway; tests of migrations themselves start empty.
 */
export async function freshPostgresDatabase(options: { migrated?: boolean } = {}): Promise<{ url: string; drop(): Promise<void> }> {
  const base = new URL(process.env.TEST_DATABASE_URL!)
  const name = `openpnc_t_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`
  const template = options.migrated ? await migratedPostgresTemplate(base) : undefined
  const admin = new pg.Client({ connectionString: base.toString() })
  await admin.connect()
  await admin.query(`CREATE DATABASE ${name}${template ? ` TEMPLATE ${template}` : ''}`)
  await admin.end()
  const url = new URL(base)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: base.toString() })
      await client.connect()
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await client.end()
    },
  }
}

let postgresTemplate: Promise<string> | undefined

/**
 * The migrated template database, named by its migrations (as the PGlite template is), built once:
 * under an advisory lock across test processes, and renamed into place only when complete.
 */
function migratedPostgresTemplate(base: URL): Promise<string> {
  postgresTemplate ??= (async () => {
    const name = `openpnc_template_${templateKey()}`
    const admin = new pg.Client({ connectionString: base.toString() })
    await admin.connect()
    try {
      await admin.query(`SELECT pg_advisory_lock(hashtext('openpnc test template'))`)
      const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])
      if (exists.rowCount === 0) {
        const building = `${name}_building`
        await admin.query(`DROP DATABASE IF EXISTS ${building} WITH (FORCE)`)
        await admin.query(`CREATE DATABASE ${building}`)
        const url = new URL(base)
        url.pathname = `/${building}`
        const database = await openDatabase({ databaseUrl: url.toString() })
        try {
          await migrate(database.db)
        } finally {
          await database.close()
        }
        await admin.query(`ALTER DATABASE ${building} RENAME TO ${name}`)
      }
      return name
    } finally {
      await admin.end()
    }
  })()
  return postgresTemplate
}

export interface TestPlatform extends RunningPlatform {
  app: FastifyInstance
  dataDir: string
  /** the PostgreSQL database, for a second instance to share */
  postgresUrl?: string
  /** Creates an organization through the admin API; returns its id and API key. */
  createOrganization(settings?: Record<string, unknown>): Promise<{ id: string; apiKey: string }>
  /** Creates an OCPI partner through the admin API; returns its id, Token A and our versions URL. */
  createOcpiPartner(name: string): Promise<{ id: string; tokenA: string; versionsUrl: string }>
  /** A request with this API key. */
  request(apiKey: string, options: InjectOptions): Promise<LightMyRequestResponse>
  close(): Promise<void>
}

export async function startTestPlatform(
  backend: BackendName,
  env: Record<string, string> = {},
  options: { listen?: boolean; postgresUrl?: string; dataDir?: string; logDestination?: DestinationStream } = {},
): Promise<TestPlatform> {
  const dataDir = options.dataDir ?? (await mkdtemp(join(tmpdir(), 'openpnc-test-')))
  // A fresh embedded database starts from the migrated template (what a first start would make).
  if (backend === 'pglite' && !options.dataDir) await seedMigratedPglite(dataDir)
  // A second instance may share the first one's database (options.postgresUrl).
  const postgres =
    backend === 'postgres'
      ? options.postgresUrl
        ? { url: options.postgresUrl, drop: async () => {} }
        : await freshPostgresDatabase({ migrated: true })
      : undefined
  const config = loadConfig({
    OPENPNC_DATA_DIR: dataDir,
    OPENPNC_SANDBOX: 'false',
    LOG_LEVEL: 'silent',
    OPENPNC_ADMIN_API_KEY: ADMIN_KEY,
    PORT: '0',
    // Test CPOs listen on loopback; a test of the outgoing policy itself sets 'false'.
    OPENPNC_ALLOW_PRIVATE_PARTNER_URLS: 'true',
    ...(postgres && { DATABASE_URL: postgres.url }),
    ...env,
  })
  const running = await startPlatform(config, { listen: options.listen ?? false, logDestination: options.logDestination })
  // Tests start from a settled platform: no start-up transaction in flight.
  await running.ready
  const app = running.server
  return {
    ...running,
    app,
    dataDir,
    postgresUrl: postgres?.url,
    async createOrganization(settings = {}) {
      const response = await app.inject({
        method: 'POST',
        url: '/admin/v1/organizations',
        headers: { 'x-api-key': ADMIN_KEY },
        payload: {
          name: 'Test Mobility',
          plugAndCharge: { enabled: true },
          contractIdPrefixes: ['DE-8PS'],
          ...settings,
        },
      })
      if (response.statusCode !== 201) throw new Error(`organization not created: ${response.body}`)
      const body = response.json()
      return { id: body.organization.id, apiKey: body.apiKey }
    },
    async createOcpiPartner(name) {
      const response = await app.inject({
        method: 'POST',
        url: '/admin/v1/ocpi/partners',
        headers: { 'x-api-key': ADMIN_KEY },
        payload: { name },
      })
      if (response.statusCode !== 201) throw new Error(`OCPI partner not created: ${response.body}`)
      return response.json()
    },
    request(apiKey, options) {
      return app.inject({ ...options, headers: { 'x-api-key': apiKey, ...options.headers } })
    },
    async close() {
      await running.stop()
      await postgres?.drop()
      if (!options.dataDir) await rm(dataDir, { recursive: true, force: true })
    },
  }
}

/** Polls `check` until it holds; fails naming `what` after `timeoutMs`. */
export async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string) {
  const until = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`${what}: not reached within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}
