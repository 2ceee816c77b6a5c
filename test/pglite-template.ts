// A migrated embedded database to copy: starting PGlite afresh (initdb, then every migration) takes
// seconds, copying a migrated data directory a fraction of one. Each test process builds the
// template at most once per set of migrations, in the system's temporary directory.
import { createHash, randomBytes } from 'node:crypto'
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openDatabase } from '../src/infra/db/database.ts'
import { migrate } from '../src/infra/db/migrate.ts'

const MIGRATIONS = new URL('../src/infra/db/migrations/', import.meta.url)

/** Names the template by what it holds: the migrations and the PGlite release that wrote it. */
export function templateKey(): string {
  const hash = createHash('sha256')
  for (const name of readdirSync(MIGRATIONS).sort()) hash.update(name).update(readFileSync(new URL(name, MIGRATIONS)))
  const pglite = readFileSync(new URL('../node_modules/@electric-sql/pglite/package.json', import.meta.url))
  return hash.update(pglite).digest('hex').slice(0, 16)
}

let template: Promise<string> | undefined

async function build(): Promise<string> {
  const dir = join(tmpdir(), `openpnc-pglite-template-${templateKey()}`)
  if (existsSync(join(dir, 'pglite', 'PG_VERSION'))) return dir
  // Built aside and renamed into place, so a concurrent test run never copies half a template.
  const building = `${dir}.${process.pid}.${randomBytes(4).toString('hex')}`
  const database = await openDatabase({ dataDir: building })
  try {
    await migrate(database.db)
  } finally {
    await database.close()
  }
  try {
    renameSync(building, dir)
  } catch {
    rmSync(building, { recursive: true, force: true }) // another run placed it first
  }
  return dir
}

/** Puts a migrated embedded database into `dataDir` (which must not hold one yet). */
export async function seedMigratedPglite(dataDir: string): Promise<void> {
  template ??= build()
  cpSync(join(await template, 'pglite'), join(dataDir, 'pglite'), { recursive: true })
}
