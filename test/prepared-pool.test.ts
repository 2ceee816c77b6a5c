import assert from 'node:assert/strict'
import { test } from 'node:test'
import { sql } from 'kysely'
import { openDatabase } from '../src/infra/db/database.ts'

const url = process.env.TEST_DATABASE_URL

test(
  'on PostgreSQL, a query with a few parameters is prepared once per connection under a name; one without, or with many, is not',
  { skip: url === undefined && 'PostgreSQL only (TEST_DATABASE_URL)' },
  async () => {
    const handle = await openDatabase({ databaseUrl: url, poolSize: 1 })
    try {
      await handle.db.connection().execute(async (db) => {
        await sql`SELECT ${1}::int AS one`.execute(db)
        await sql`SELECT ${2}::int AS one`.execute(db)
        const many = Array.from({ length: 40 }, (_, i) => sql`${i}::int`)
        await sql`SELECT ${sql.join(many)}`.execute(db)
        const { rows } = await sql<{ name: string; statement: string }>`SELECT name, statement FROM pg_prepared_statements`.execute(db)
        assert.equal(rows.length, 1, JSON.stringify(rows))
        assert.match(rows[0]!.name, /^q[0-9a-f]{20}$/)
        assert.match(rows[0]!.statement, /SELECT \$1::int AS one/)
      })
    } finally {
      await handle.close()
    }
  },
)

test(
  'on PostgreSQL, Kysely reads rows and affected-row counts through the prepared-statement pool',
  { skip: url === undefined && 'PostgreSQL only (TEST_DATABASE_URL)' },
  async () => {
    const handle = await openDatabase({ databaseUrl: url, poolSize: 1 })
    try {
      await handle.db.connection().execute(async (db) => {
        assert.deepEqual((await sql`SELECT ${5}::int AS five`.execute(db)).rows, [{ five: 5 }])
        await sql`CREATE TEMP TABLE prepared_pool_probe (x int)`.execute(db)
        const inserted = await sql`INSERT INTO prepared_pool_probe SELECT generate_series(1, ${3}::int)`.execute(db)
        assert.equal(inserted.numAffectedRows, 3n)
        const updated = await sql`UPDATE prepared_pool_probe SET x = x + ${1}::int WHERE x > ${1}::int`.execute(db)
        assert.equal(updated.numAffectedRows, 2n)
        // Several statements in one text: as Kysely always had them, no rows.
        assert.deepEqual((await sql`SELECT 1; SELECT 2`.execute(db)).rows, [])
      })
      await handle.db.transaction().execute(async (trx) => {
        assert.deepEqual((await sql`SELECT ${'in a transaction'}::text AS t`.execute(trx)).rows, [{ t: 'in a transaction' }])
      })
    } finally {
      await handle.close()
    }
  },
)
