import type { Command } from 'commander'
import { openDatabase } from '../infra/db/database.ts'
import { migrate } from '../infra/db/migrate.ts'
import { startPlatform } from '../main.ts'
import { LOCATION_RECORD_READERS } from '../protocols/location-readers.ts'
import { fillSearchDocuments } from '../services/locations/store.ts'
import { config, stopOnSignal } from './shared.ts'

/** `serve` and `migrate`: the commands that own the database. */
export function serveCommands(program: Command) {
  program
    .command('serve')
    .description('run the platform (HTTP server on HOST:PORT)')
    .action(async () => {
      const running = await startPlatform(config())
      stopOnSignal(() => running.stop())
    })

  program
    .command('migrate')
    .description('apply database migrations and exit')
    .action(async () => {
      const c = config()
      const database = await openDatabase({ databaseUrl: c.databaseUrl, dataDir: c.dataDir })
      const applied = await migrate(database.db)
      const filled = await fillSearchDocuments(database.db, LOCATION_RECORD_READERS)
      await database.close()
      process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n')
      if (filled > 0) process.stdout.write(`search documents derived for ${filled} locations\n`)
    })
}
