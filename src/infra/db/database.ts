import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { btree_gist } from '@electric-sql/pglite/contrib/btree_gist'
import { cube } from '@electric-sql/pglite/contrib/cube'
import { earthdistance } from '@electric-sql/pglite/contrib/earthdistance'
import { Kysely, PostgresDialect } from 'kysely'
import pg from 'pg'
import { lockDataDir, type DataDirLock } from './data-dir-lock.ts'
import { PGliteDialect } from './pglite-dialect.ts'
import { preparedStatementPool } from './prepared-pool.ts'
import type { Database } from './schema.ts'

export type Db = Kysely<Database>

export interface DatabaseHandle {
  db: Db
  kind: 'pglite' | 'postgres'
  /** True when the embedded database did not exist before this open. */
  createdNow: boolean
  /** Connections for metrics: all, idle, and callers waiting for one. */
  poolStats(): { total: number; idle: number; waiting: number }
  close(): Promise<void>
}

export interface DatabaseOptions {
  /** postgres://... ; when absent, the embedded PGlite database in `dataDir` (or in memory). */
  databaseUrl?: string
  /** Directory of the embedded database; `memory://` for a throw-away one. */
  dataDir?: string
  poolSize?: number
  /** Errors of PostgreSQL connections, idle or in use (a server restart, a terminated backend). */
  onConnectionError?: (error: Error) => void
}

export async function openDatabase(options: DatabaseOptions): Promise<DatabaseHandle> {
  if (options.databaseUrl) {
    const pool = new pg.Pool({
      connectionString: options.databaseUrl,
      max: options.poolSize ?? 16,
      // A connection whose server vanished without closing it (a failover) is found dead by TCP
      // keepalive rather than held for ever. (No connectionTimeoutMillis: pg-pool applies it to
      // waiting for a free connection too, which under load is no sign of an outage.)
      keepAlive: true,
    })
    // Without a listener, an idle connection dropped by the server would crash the process;
    // the pool replaces it on the next checkout.
    pool.on('error', (error) => options.onConnectionError?.(error))
    // The pool's listener and the checkout's (prepared-pool.ts) report a lost connection; this one
    // only makes sure that no moment between them leaves a client's 'error' event unheard.
    pool.on('connect', (client) => client.on('error', () => {}))
    const db = new Kysely<Database>({
      dialect: new PostgresDialect({ pool: preparedStatementPool(pool, options.onConnectionError) }),
    })
    const poolStats = () => ({ total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount })
    return { db, kind: 'postgres', createdNow: false, poolStats, close: () => db.destroy() }
  }
  const dataDir = options.dataDir ?? 'memory://'
  let location = dataDir
  let createdNow = true
  // One owner per directory (serve, migrate, sim --bulk): a second one would lose writes.
  let lock: DataDirLock | undefined
  if (!dataDir.startsWith('memory://')) {
    lock = lockDataDir(dataDir)
    location = join(dataDir, 'pglite')
    createdNow = !existsSync(join(location, 'PG_VERSION'))
    mkdirSync(location, { recursive: true })
  }
  try {
    const pglite = await PGlite.create(location, { extensions: { btree_gist, cube, earthdistance } })
    const dialect = new PGliteDialect(pglite)
    const db = new Kysely<Database>({ dialect })
    const close = async () => {
      try {
        await db.destroy()
      } finally {
        lock?.release()
      }
    }
    return { db, kind: 'pglite', createdNow, poolStats: () => dialect.poolStats(), close }
  } catch (error) {
    lock?.release()
    throw error
  }
}
