import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import { sql } from 'kysely'
import { migrationNames } from '../db/migrate.ts'
import type { Platform } from '../../platform.ts'

/** A readiness probe that hangs is a failed probe: the database gets this long to answer. */
const DATABASE_CHECK_TIMEOUT_MS = 2000

const OK = 'ok'

const Checks = Type.Object(
  {
    database: Type.String({ description: '"ok", or why the database cannot be reached' }),
    migrations: Type.String({ description: '"ok", or which migrations are missing' }),
    keyDirectory: Type.String({ description: '"ok" once every key is in memory' }),
    shutdown: Type.String({ description: '"ok", or "shutting down" once a stop signal arrived' }),
  },
  { description: 'each check: "ok" or the reason it fails' },
)

type CheckResults = { database: string; migrations: string; keyDirectory: string; shutdown: string }

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms)
  })
  return Promise.race([work, late]).finally(() => clearTimeout(timer))
}

/**
 * Readiness (`GET /health/ready`): may this instance take traffic? The database answers, every
 * migration this code expects is applied, every key is in memory, and no shutdown has begun.
 * Liveness (`GET /health`, in server.ts) only says that the process answers.
 * Registered without encapsulation: its hook concerns every route registered after it.
 */
const healthPlugin: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  const expected = await migrationNames()

  // Once shutdown begins, every answer ends its connection: a keep-alive connection whose request
  // was in flight would otherwise hold the server's close until the keep-alive timeout.
  app.addHook('onSend', (_request, reply, payload, done) => {
    if (platform.lifecycle.shuttingDown) reply.header('connection', 'close')
    done(null, payload)
  })

  async function check(): Promise<CheckResults> {
    const checks: CheckResults = { database: OK, migrations: OK, keyDirectory: OK, shutdown: OK }
    try {
      const applied = await withTimeout(
        sql<{ name: string }>`SELECT name FROM kysely_migration`.execute(platform.db),
        DATABASE_CHECK_TIMEOUT_MS,
      )
      const names = new Set(applied.rows.map((r) => r.name))
      const missing = expected.filter((name) => !names.has(name))
      if (missing.length > 0) checks.migrations = `not applied: ${missing.join(', ')}`
    } catch (error) {
      checks.database = `unreachable: ${(error as Error).message}`
      checks.migrations = 'unknown (database unreachable)'
    }
    if (!platform.keyDirectory.loaded) checks.keyDirectory = 'not loaded yet'
    if (platform.lifecycle.shuttingDown) checks.shutdown = 'shutting down'
    return checks
  }

  app.get(
    '/health/ready',
    {
      schema: {
        summary: 'Readiness: the database answers, migrations are applied, keys are loaded, no shutdown under way',
        tags: ['Platform'],
        response: {
          200: Type.Object({ status: Type.Literal('ready'), checks: Checks }),
          503: Type.Object({
            status: Type.Literal('not_ready'),
            checks: Checks,
            error: Type.Object({ code: Type.Literal('not_ready'), message: Type.String() }),
          }),
        },
      },
    },
    async (_request, reply) => {
      const checks = await check()
      const failing = Object.entries(checks).filter(([, result]) => result !== OK)
      if (failing.length === 0) return { status: 'ready' as const, checks }
      return reply.code(503).send({
        status: 'not_ready' as const,
        checks,
        error: { code: 'not_ready' as const, message: `not ready: ${failing.map(([name, why]) => `${name} (${why})`).join('; ')}` },
      })
    },
  )
}
;(healthPlugin as unknown as Record<symbol, boolean>)[Symbol.for('skip-override')] = true
export { healthPlugin as healthApi }
