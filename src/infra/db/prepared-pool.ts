import { createHash } from 'node:crypto'
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely'
import type pg from 'pg'
import { DatabaseUnavailableError } from '../../core/errors.ts'

/**
 * A `pg` pool whose clients run every query as a named prepared statement, so PostgreSQL parses
 * and plans each query shape once per connection instead of on every request (the hot paths are
 * a handful of fixed shapes). Queries with many parameters (multi-row inserts, whose shape varies
 * with the row count) stay unnamed, so the per-connection statement set stays small.
 *
 * It is exactly what Kysely's PostgresDialect asks of a pool (PostgresPool), nothing more.
 */
export function preparedStatementPool(pool: pg.Pool, onConnectionError?: (error: Error) => void, maxParameters = 32): PostgresPool {
  const names = new Map<string, string>()
  const nameOf = (text: string) => {
    let name = names.get(text)
    if (!name) {
      name = `q${createHash('sha1').update(text).digest('hex').slice(0, 20)}`
      if (names.size < 10_000) names.set(text, name)
    }
    return name
  }
  return {
    async connect(): Promise<PostgresPoolClient> {
      let client: pg.PoolClient
      try {
        client = await pool.connect()
      } catch (error) {
        // No connection at all: whatever the cause, the database is unavailable to this request.
        throw new DatabaseUnavailableError(error)
      }
      // The pool listens for errors of idle clients only. A checked-out client whose backend is
      // terminated (a restart, a failover) emits 'error' even after failing its query; unheard,
      // that event ends the process. A client that failed so is discarded on release.
      let lost: Error | undefined
      const onError = (error: Error) => {
        lost = error
        onConnectionError?.(error)
      }
      client.on('error', onError)
      const run = async <R>(text: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>> => {
        const values = [...parameters]
        const result =
          values.length === 0 || values.length > maxParameters
            ? await client.query(text, values)
            : await client.query({ name: nameOf(text), text, values })
        return kyselyResult<R>(result)
      }
      function query<R>(sql: string, parameters: ReadonlyArray<unknown>): Promise<PostgresQueryResult<R>>
      function query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>
      function query<R>(
        sqlOrCursor: string | PostgresCursor<R>,
        parameters: ReadonlyArray<unknown> = [],
      ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
        // Kysely passes a cursor only when the dialect is given a cursor class, which ours is not.
        if (typeof sqlOrCursor !== 'string') throw new Error('streaming queries need a cursor class in the PostgreSQL dialect')
        return run<R>(sqlOrCursor, parameters)
      }
      return {
        query,
        release: (destroy?: boolean) => {
          client.removeListener('error', onError)
          client.release(lost ?? destroy)
        },
      }
    },
    end: () => pool.end(),
  }
}

const KYSELY_COMMANDS: ReadonlySet<string> = new Set<PostgresQueryResult<unknown>['command']>([
  'UPDATE',
  'DELETE',
  'INSERT',
  'SELECT',
  'MERGE',
  'COMMIT',
  'ROLLBACK',
])
const isKyselyCommand = (command: string): command is PostgresQueryResult<unknown>['command'] => KYSELY_COMMANDS.has(command)

/**
 * pg's result as Kysely reads it. Kysely looks at the command only to count affected rows (INSERT,
 * UPDATE, DELETE, MERGE) or to mark COMMIT/ROLLBACK; any other command (CREATE, SET, ...) is passed
 * as SELECT, which counts none, as Kysely did with the original. Several statements in one text
 * answer a list in pg: as before, no rows and no count.
 */
function kyselyResult<R>(result: pg.QueryResult | pg.QueryResult[]): PostgresQueryResult<R> {
  if (Array.isArray(result)) return { command: 'SELECT', rowCount: 0, rows: [] }
  return { command: isKyselyCommand(result.command) ? result.command : 'SELECT', rowCount: result.rowCount ?? 0, rows: result.rows }
}
