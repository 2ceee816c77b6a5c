import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp } from 'node:fs/promises'
import { connect, createServer, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { ADMIN_KEY, waitFor } from './support.ts'
import { seedMigratedPglite } from './pglite-template.ts'

const ROOT = fileURLToPath(new URL('..', import.meta.url))

/** A port free at this moment, for a server in another process. */
async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

export interface ServeProcess {
  child: ChildProcess
  url: string
  dataDir: string
  /** stdout so far, one JSON log line each (other lines kept as text) */
  logs(): Array<Record<string, unknown>>
  stderr(): string
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>
}

/** `openpnc serve` as an operator runs it, in a process of its own; resolves once it is ready. */
export async function startServeProcess(env: Record<string, string>): Promise<ServeProcess> {
  const dataDir = await mkdtemp(join(tmpdir(), 'openpnc-process-'))
  if (!env.DATABASE_URL) await seedMigratedPglite(dataDir)
  const port = await freePort()
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OPENPNC_') && k !== 'DATABASE_URL'))
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', 'serve'], {
    cwd: ROOT,
    env: {
      ...clean,
      PORT: String(port),
      HOST: '127.0.0.1',
      OPENPNC_DATA_DIR: dataDir,
      OPENPNC_SANDBOX: 'false',
      OPENPNC_ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'info',
      // The tests' simulated CPOs listen on loopback.
      OPENPNC_ALLOW_PRIVATE_PARTNER_URLS: 'true',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let stdout = ''
  let stderr = ''
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk))
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk))
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    // 'close', not 'exit': the output is read to its end before anyone looks at the logs.
    child.once('close', (code, signal) => resolve({ code, signal })),
  )
  let gone = false
  void exited.then(() => (gone = true))
  const url = `http://127.0.0.1:${port}`
  await waitFor(
    async () => {
      if (gone) throw new Error(`openpnc serve exited at start: ${stderr}`)
      try {
        const response = await request(`${url}/health/ready`)
        await response.body.dump()
        return response.statusCode === 200
      } catch {
        return false
      }
    },
    120_000,
    'openpnc serve is ready',
  )
  return {
    child,
    url,
    dataDir,
    logs: () =>
      stdout
        .split('\n')
        .filter(Boolean)
        .map((line) => {
          try {
            return JSON.parse(line) as Record<string, unknown>
          } catch {
            return { text: line }
          }
        }),
    stderr: () => stderr,
    exited,
  }
}

/** A raw connection, to hold a request half-sent across a signal. Resolves `received` when the server closes it. */
export async function openConnection(url: string): Promise<{ socket: Socket; received: Promise<string> }> {
  const { hostname, port } = new URL(url)
  const socket = await new Promise<Socket>((resolve, reject) => {
    const s = connect(Number(port), hostname, () => resolve(s))
    s.once('error', reject)
  })
  let data = ''
  socket.on('data', (chunk) => (data += chunk))
  socket.on('error', () => {})
  const received = new Promise<string>((resolve) => socket.on('close', () => resolve(data)))
  return { socket, received }
}

/** True once a new TCP connection is refused. */
export const refusesConnections = (url: string) =>
  openConnection(url).then(
    (c) => (c.socket.destroy(), false),
    () => true,
  )

export const statusOf = (raw: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1])
export const bodyOf = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4))
