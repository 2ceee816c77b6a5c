import { readdir, readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import { Migrator, sql, type Migration, type MigrationProvider } from 'kysely'
import type { Db } from './database.ts'

const MIGRATIONS_DIR = fileURLToPath(new URL('./migrations/', import.meta.url))

/** Plain SQL files, applied in name order; Kysely's migrator keeps the ledger and the lock. */
class SqlFileMigrationProvider implements MigrationProvider {
  async getMigrations(): Promise<Record<string, Migration>> {
    const files = (await readdir(MIGRATIONS_DIR)).filter((f) => f.endsWith('.sql')).sort()
    const migrations: Record<string, Migration> = {}
    for (const file of files) {
      const script = await readFile(MIGRATIONS_DIR + file, 'utf8')
      migrations[file.replace(/\.sql$/, '')] = {
        up: (db) =>
          sql
            .raw(script)
            .execute(db)
            .then(() => undefined),
      }
    }
    return migrations
  }
}

/**
 * Brings the schema up to date, or up to the migration named `upTo` (tests of upgrades); returns
 * the names of the migrations it applied.
 */
export async function migrate(db: Db, upTo?: string): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new SqlFileMigrationProvider() })
  const { error, results } = upTo ? await migrator.migrateTo(upTo) : await migrator.migrateToLatest()
  if (error) {
    const failed = results?.find((r) => r.status === 'Error')
    throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${(error as Error).message ?? error}`, {
      cause: error,
    })
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName)
}

/** The names of the migrations this version of the code expects to be applied, in order. */
export async function migrationNames(): Promise<string[]> {
  return Object.keys(await new SqlFileMigrationProvider().getMigrations())
}
