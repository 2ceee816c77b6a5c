import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { describe, test } from 'node:test'
import type { FastifyBaseLogger } from 'fastify'
import { requestLogger } from '../src/infra/http/per-request.ts'
import { createLogger } from '../src/infra/logger.ts'

/** A logger writing JSON lines into an array, the lines without their time. */
function capture(level: string) {
  const lines: Array<Record<string, unknown>> = []
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) {
        const { time: _time, ...rest } = JSON.parse(line) as Record<string, unknown>
        lines.push(rest)
      }
      done()
    },
  })
  const log = createLogger(level, 'json', destination as unknown as Parameters<typeof createLogger>[2])
  return { log: log as unknown as FastifyBaseLogger, lines }
}

describe('a request logger', () => {
  test('writes the same lines as a pino child with the request ID, credentials redacted', () => {
    const lazy = capture('info')
    const eager = capture('info')
    for (const [log, make] of [
      [lazy.log, requestLogger],
      [eager.log, (parent: FastifyBaseLogger, bindings: Record<string, unknown>) => parent.child(bindings)],
    ] as const) {
      const request = make(log, { reqId: 'req-1' }, {})
      request.info({ apiKey: 'secret-key', status: 400 }, 'request %s', 'refused')
      request.debug('not at this level')
      request.child({ partner: 'p1' }).warn('from a child')
      request.error(new Error('boom'), 'request failed')
    }
    assert.equal(lazy.lines.length, 3)
    assert.deepEqual(
      lazy.lines.map((l) => ({ ...l, stack: undefined })),
      eager.lines.map((l) => ({ ...l, stack: undefined })),
    )
    assert.equal(lazy.lines[0]!.reqId, 'req-1')
    assert.equal(lazy.lines[0]!.apiKey, '[redacted]')
    assert.equal(lazy.lines[1]!.partner, 'p1')
  })

  test('tells its level and bindings as the child would', () => {
    const { log } = capture('warn')
    const request = requestLogger(log, { reqId: 'req-2' }, {}) as FastifyBaseLogger & {
      isLevelEnabled(level: string): boolean
      bindings(): Record<string, unknown>
    }
    assert.equal(request.level, 'warn')
    assert.equal(request.isLevelEnabled('info'), false)
    assert.equal(request.isLevelEnabled('error'), true)
    assert.deepEqual(request.bindings(), { reqId: 'req-2' })
  })

  test('of a route with its own log level logs at that level', () => {
    const { log, lines } = capture('warn')
    requestLogger(log, { reqId: 'req-3' }, { level: 'debug' }).debug('shown')
    assert.deepEqual(
      lines.map((l) => l.msg),
      ['shown'],
    )
  })
})
