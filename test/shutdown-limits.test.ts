import assert from 'node:assert/strict'
import { rm } from 'node:fs/promises'
import { after, before, describe, test } from 'node:test'
import { pino } from 'pino'
import { shutDownInSteps } from '../src/shutdown.ts'
import { openConnection, refusesConnections, startServeProcess, type ServeProcess } from './process.ts'
import { ADMIN_KEY, backends, freshPostgresDatabase, waitFor } from './support.ts'

function capturingLogger() {
  const lines: Array<Record<string, unknown>> = []
  const log = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) })
  return { log, lines }
}

describe('shutdown in steps', () => {
  test('runs the steps in order and logs each with how long it took', async () => {
    const { log, lines } = capturingLogger()
    const done: string[] = []
    await shutDownInSteps(
      [
        { name: 'closed the server', run: async () => void done.push('server') },
        { name: 'closed the database', run: () => void done.push('database') },
      ],
      { timeoutMs: 60_000, log },
    )
    assert.deepEqual(done, ['server', 'database'])
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['shutting down', 'shutdown: closed the server', 'shutdown: closed the database', 'shut down'],
    )
    assert.equal(lines[0]!.timeoutMs, 60_000)
    for (const line of lines.slice(1)) assert.equal(typeof line.ms, 'number')
  })

  test('gives up at the deadline, naming the step under way, and runs no later step', async () => {
    const { log, lines } = capturingLogger()
    let later = false
    await assert.rejects(
      shutDownInSteps(
        [
          { name: 'answered the requests in flight', run: () => new Promise(() => {}) },
          { name: 'closed the database', run: () => void (later = true) },
        ],
        { timeoutMs: 100, log },
      ),
      /within 100 ms \(OPENPNC_SHUTDOWN_TIMEOUT_MS\), stuck at: answered the requests in flight/,
    )
    assert.equal(later, false)
    const deadline = lines.find((l) => l.msg === 'shutdown deadline passed; giving up on the step under way')
    assert.equal(deadline?.step, 'answered the requests in flight')
    assert.equal(deadline?.level, 50, 'logged as an error')
  })

  test('a failing step fails the shutdown with its own error', async () => {
    const { log } = capturingLogger()
    await assert.rejects(
      shutDownInSteps(
        [
          {
            name: 'closed the database',
            run: async () => {
              throw new Error('connection reset')
            },
          },
        ],
        { timeoutMs: 60_000, log },
      ),
      /connection reset/,
    )
  })
})

for (const backend of backends()) {
  describe(`a second stop signal (${backend})`, () => {
    let serve: ServeProcess
    let postgres: Awaited<ReturnType<typeof freshPostgresDatabase>> | undefined

    before(async () => {
      postgres = backend === 'postgres' ? await freshPostgresDatabase() : undefined
      serve = await startServeProcess(postgres ? { DATABASE_URL: postgres.url } : {})
    })
    after(async () => {
      serve.child.kill('SIGKILL')
      await postgres?.drop()
      await rm(serve.dataDir, { recursive: true, force: true })
    })

    test('exits at once while the first one still waits for a request in flight', async () => {
      const slow = await openConnection(serve.url)
      slow.socket.write(
        `POST /admin/v1/organizations HTTP/1.1\r\nHost: test\r\nx-api-key: ${ADMIN_KEY}\r\n` +
          'content-type: application/json\r\ncontent-length: 2\r\n\r\n{',
      )
      serve.child.kill('SIGTERM')
      await waitFor(() => refusesConnections(serve.url), 30_000, 'the first signal stopped the listener')
      assert.equal(serve.child.exitCode, null, 'the first signal waits for the request in flight')
      serve.child.kill('SIGTERM')
      assert.deepEqual(await serve.exited, { code: 128 + 15, signal: null })
      assert.match(serve.stderr(), /second SIGTERM while stopping, exiting at once/)
      slow.socket.destroy()
    })
  })
}
