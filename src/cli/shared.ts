// What every command shares: the configuration, stopping on signals, and calls to a running server's admin API.
import { readFileSync } from 'node:fs'
import { constants } from 'node:os'
import { join } from 'node:path'
import { Option, type Command } from 'commander'
import { request } from 'undici'
import { ConfigError, loadConfig } from '../config.ts'

/**
 * Ctrl-C or a stop signal: let `stop` finish its work, then exit (0, or 1 when it failed or ran
 * out of time). A second signal exits at once, as a process killed by it would.
 */
export function stopOnSignal(stop: () => Promise<void>) {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`openpnc: second ${signal} while stopping, exiting at once\n`)
      process.exit(128 + (constants.signals[signal] ?? 0))
    }
    stopping = true
    stop().then(
      () => process.exit(0),
      (error: Error) => {
        process.stderr.write(`openpnc: ${error.message}\n`)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

export function config() {
  try {
    return loadConfig()
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`)
      process.exit(2)
    }
    throw error
  }
}

// ----- admin commands: they talk to a running server, because an embedded database has one owner.

export interface AdminOptions {
  url: string
  json?: boolean
}

function adminKey(): string {
  const fromEnv = process.env.OPENPNC_ADMIN_API_KEY
  if (fromEnv) return fromEnv
  const path = join(process.env.OPENPNC_DATA_DIR || './data', 'admin-api-key')
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    throw new Error(`no admin key: set OPENPNC_ADMIN_API_KEY (or run where ${path} exists)`)
  }
}

/** An admin call the server refused: its HTTP status and error code, for commands that explain them. */
export class AdminCallError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message)
  }
}

export async function callAdmin(options: AdminOptions, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown) {
  if (method === 'POST' && body === undefined) body = {}
  const response = await request(new URL(path, options.url), {
    method,
    headers: { 'x-api-key': adminKey(), ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.body.text()
  const payload = text ? JSON.parse(text) : null
  if (response.statusCode >= 400) {
    const error = payload?.error
    throw new AdminCallError(
      response.statusCode,
      error?.code,
      error ? `${response.statusCode} ${error.code}: ${error.message}` : `HTTP ${response.statusCode}`,
    )
  }
  return payload
}

export function print(options: AdminOptions, payload: unknown, human: () => string) {
  process.stdout.write(options.json ? `${JSON.stringify(payload, null, 2)}\n` : `${human()}\n`)
}

/** The server the admin commands talk to: OPENPNC_URL, else the local server on PORT (as `serve` would listen). */
export function defaultServerUrl(env: NodeJS.ProcessEnv = process.env): string {
  return `http://127.0.0.1:${env.PORT || '8080'}`
}

export const withServer = (cmd: Command) =>
  cmd
    .addOption(
      new Option('--url <url>', 'openpnc server (default: http://127.0.0.1:$PORT, PORT 8080)')
        .env('OPENPNC_URL')
        .default(defaultServerUrl()),
    )
    .option('--json', 'print the JSON answer')

export const collect = (value: string, previous: string[] = []) => [...previous, value]
