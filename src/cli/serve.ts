import type { Command } from 'commander'
import { config, stopOnSignal } from './shared.ts'

// The platform, the database and their dependencies are loaded by the commands that use them, so
// every other command (and --help) starts in a fraction of the time.

/** `serve` and `migrate`: the commands that own the database. */
export function serveCommands(program: Command) {
  program
    .command('serve')
    .description('run the platform (HTTP server on HOST:PORT)')
    .action(async () => {
      const { startPlatform } = await import('../main.ts')
      const running = await startPlatform(config())
      stopOnSignal(() => running.stop())
    })

  program
    .command('migrate')
    .description('apply database migrations and exit')
    .action(async () => {
      const c = config()
      const { openDatabase } = await import('../infra/db/database.ts')
      const { migrate } = await import('../infra/db/migrate.ts')
      const { fillSearchDocuments } = await import('../services/locations/store.ts')
      const { LOCATION_RECORD_READERS } = await import('../protocols/location-readers.ts')
      const database = await openDatabase({ databaseUrl: c.databaseUrl, dataDir: c.dataDir })
      const applied = await migrate(database.db)
      const filled = await fillSearchDocuments(database.db, LOCATION_RECORD_READERS)
      await database.close()
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n')
      if (filled > 0) process.stdout.write(`search documents derived for ${filled} locations\n`)
    })
}
