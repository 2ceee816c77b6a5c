import { createHash } from 'node:crypto'
import type pg from 'pg'
import { DatabaseUnavailableError } from '../../core/errors.ts'

/**
 * A `pg` pool whose clients run every query as a named prepared statement, so PostgreSQL parses
 * and plans each query shape once per connection instead of on every request (the hot paths are
 * a handful of fixed shapes). Queries with many parameters (multi-row inserts, whose shape varies
 * with the row count) stay unnamed, so the per-connection statement set stays small.
 */
export function preparedStatementPool(pool: pg.Pool, onConnectionError?: (error: Error) => void, maxParameters = 32) {
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
    async connect() {
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
      return {
        query(text: string, values?: unknown[]) {
          if (!values || values.length === 0 || values.length > maxParameters) return client.query(text, values)
          return client.query({ name: nameOf(text), text, values })
        },
        release: (destroy?: boolean) => {
          client.removeListener('error', onError)
          client.release(lost ?? destroy)
        },
      }
    },
    end: () => pool.end(),
  }
}
