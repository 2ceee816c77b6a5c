/**
 * The server side of bench/keys.ts, run as a child process so that it gets its own event loop
 * (and core) apart from the load generator.
 *
 *   node --import tsx bench/server.ts platform   openpnc via startPlatform, configured from the env
 *   node --import tsx bench/server.ts bare       a bare node:http server: the baseline
 *   node --import tsx bench/server.ts partner    a bare node:http authorization endpoint answering {"allowed":"ALLOWED"}
 *
 * It tells the parent its URL over IPC and, when asked, its CPU time, event-loop utilization and
 * request and database query counts, so the parent can say where the time went.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'

export type ChildMessage =
  | { type: 'ready'; url: string; oicpUrl?: string }
  | {
      type: 'stats'
      cpuMicros: number
      /** of cpuMicros, the time spent in the kernel (socket writes and reads, mostly) */
      cpuSystemMicros: number
      eventLoop: { idle: number; active: number }
      requests: number
      queries: number
      heapUsedBytes: number
      rssBytes: number
      /** The platform's geosearch document cache (src/services/locations/document-cache.ts) */
      searchDocuments?: { entries: number; bytes: number; hits: number; misses: number }
    }

export type ParentMessage = { type: 'stats' }

const mode = process.argv[2]
if (mode !== 'platform' && mode !== 'bare' && mode !== 'partner') {
  process.stderr.write('usage: bench/server.ts platform|bare|partner\n')
  process.exit(2)
}

let requests = 0
let queries = 0
let searchDocuments: (() => { entries: number; bytes: number; hits: number; misses: number }) | undefined

// Count database round trips without touching src/: every query of either driver passes here.
function countCalls(proto: object, method: string) {
  const target = proto as Record<string, (...args: unknown[]) => unknown>
  const original = target[method]!
  target[method] = function (this: unknown, ...args: unknown[]) {
    queries++
    return original.apply(this, args)
  }
}
countCalls(pg.Client.prototype, 'query')
countCalls(PGlite.prototype, 'query')
countCalls(PGlite.prototype, 'exec')

function send(message: ChildMessage) {
  process.send?.(message)
}

process.on('message', (message: ParentMessage) => {
  if (message.type !== 'stats') return
  const cpu = process.cpuUsage()
  const elu = performance.eventLoopUtilization()
  send({
    type: 'stats',
    cpuMicros: cpu.user + cpu.system,
    cpuSystemMicros: cpu.system,
    eventLoop: { idle: elu.idle, active: elu.active },
    requests,
    queries,
    heapUsedBytes: process.memoryUsage().heapUsed,
    rssBytes: process.memoryUsage.rss(),
    ...(searchDocuments && { searchDocuments: searchDocuments() }),
  })
})
// The parent going away (even by a crash) ends this process too.
process.on('disconnect', () => process.exit(0))

const port = Number(process.env.PORT ?? 0)
const host = process.env.HOST ?? '127.0.0.1'

if (mode === 'bare' || mode === 'partner') {
  // bare: the same response shape and size as a created Plug&Charge key; partner: an organization's
  // authorization endpoint that allows every charge (partner-decided authorization).
  const answer =
    mode === 'partner'
      ? JSON.stringify({ allowed: 'ALLOWED' })
      : JSON.stringify({ contractId: 'DE-8PS-CABCDEFGH-X', pcid: 'WDBRF61J21F123456', keyId: 'DE-8PS-CABCDEFGH-X' })
  const status = mode === 'partner' ? 200 : 201
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    requests++
    // Read the whole body, as the platform must, before answering.
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      Buffer.concat(chunks)
      response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(answer) })
      response.end(answer)
    })
  })
  server.listen(port, host, () => {
    const address = server.address() as AddressInfo
    send({ type: 'ready', url: `http://${host}:${address.port}` })
  })
  process.once('SIGTERM', () => server.close(() => process.exit(0)))
} else {
  const { loadConfig } = await import('../src/config.ts')
  const { startPlatform } = await import('../src/main.ts')
  const running = await startPlatform(loadConfig())
  running.server.server.on('request', () => requests++)
  searchDocuments = () => running.platform.searchDocuments.stats()
  send({ type: 'ready', url: running.url, ...(running.oicpUrl && { oicpUrl: running.oicpUrl }) })
  process.once('SIGTERM', () => {
    running.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  })
}
