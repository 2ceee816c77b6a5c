import assert from 'node:assert/strict'
import { createServer, type Server } from 'node:http'
import { createServer as createTcpServer } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { DeliveryEngine, type Delivery, type DeliverySender, type DestinationSession } from '../src/infra/delivery/engine.ts'
import { DeliveryFailure, isRetryableHttpStatus } from '../src/infra/delivery/failure.ts'
import { createLogger } from '../src/infra/logger.ts'
import { ADMIN_KEY, backends, startTestPlatform, waitFor, type TestPlatform } from './support.ts'

const KIND = 'test-webhook'

interface LogLine {
  level: number
  msg: string
  destination?: string
  subject?: string
  reason?: string
}

/**
 * A webhook-like sender with no protocol behind it: it POSTs a subject's current state to a local
 * listener at /<destination>/<subject>, and classifies the answer by its HTTP status.
 */
class TestSender implements DeliverySender {
  readonly label = 'test webhook'
  /** the subjects' current states: read at send time, as a real sender reads its store */
  readonly states = new Map<string, string>()
  /** a send of a subject waits for this gate when one is set */
  readonly gates = new Map<string, Promise<void>>()
  readonly entered = new Map<string, () => void>()

  constructor(private readonly base: () => string) {}

  describe(destination: string) {
    return { target: destination }
  }

  async open(destination: string): Promise<DestinationSession> {
    return { send: (delivery) => this.send(destination, delivery) }
  }

  private async send(destination: string, delivery: Delivery) {
    const state = this.states.get(delivery.subject) ?? 'none'
    this.entered.get(delivery.subject)?.()
    await this.gates.get(delivery.subject)
    let status: number
    try {
      const response = await fetch(`${this.base()}/${destination}/${delivery.subject}`, {
        method: 'POST',
        body: JSON.stringify({ state, afresh: delivery.deliveredVersion === '0' }),
        signal: AbortSignal.timeout(5000),
      })
      status = response.status
      await response.arrayBuffer()
    } catch (error) {
      // network errors and timeouts: the engine counts a plain error as retryable
      throw new Error(`no answer (${(error as Error).name})`)
    }
    if (status >= 300) throw new DeliveryFailure(`HTTP ${status}`, !isRetryableHttpStatus(status))
  }
}

for (const backend of backends()) {
  describe(`delivery engine on its own (${backend})`, () => {
    let t: TestPlatform
    let listener: Server
    let base = ''
    /** per destination, the HTTP status the listener answers with */
    const answers = new Map<string, number>()
    /** what arrived, in order: destination, subject, state */
    const received: Array<{ destination: string; subject: string; state: string }> = []
    const inFlight = new Map<string, number>()
    let overlapping = 0
    const logs: LogLine[] = []
    let sender: TestSender
    let engine: DeliveryEngine
    const newEngine = () => {
      const e = new DeliveryEngine(
        t.platform.db,
        createLogger('info', 'json', { write: (line: string) => void logs.push(JSON.parse(line)) }),
        {
          baseBackoffMs: 20,
          maxBackoffMs: 40,
          batchSize: 50,
        },
      )
      e.register(KIND, sender)
      return e
    }
    const row = async (destination: string, subject: string) =>
      t.platform.db
        .selectFrom('deliveries')
        .selectAll()
        .where('destination', '=', destination)
        .where('subject', '=', subject)
        .executeTakeFirstOrThrow()
    const change = async (destination: string, subject: string, version: number, state: string) => {
      sender.states.set(subject, state)
      await engine.enqueue([{ kind: KIND, destination, subject, version }])
    }
    const sentTo = (destination: string, subject: string) =>
      received.filter((r) => r.destination === destination && r.subject === subject).map((r) => r.state)

    before(async () => {
      t = await startTestPlatform(backend)
      listener = createServer((request, response) => {
        const [, destination = '', subject = ''] = (request.url ?? '').split('/')
        const key = `${destination}/${subject}`
        inFlight.set(key, (inFlight.get(key) ?? 0) + 1)
        if (inFlight.get(key)! > 1) overlapping++
        let body = ''
        request.on('data', (chunk) => (body += chunk))
        request.on('end', () => {
          // a little latency, so that parallel workers would overlap if they could
          setTimeout(() => {
            inFlight.set(key, inFlight.get(key)! - 1)
            const status = answers.get(destination) ?? 200
            if (status < 300) received.push({ destination, subject, state: JSON.parse(body).state })
            response.writeHead(status).end()
          }, 2)
        })
      })
      await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve))
      base = `http://127.0.0.1:${(listener.address() as { port: number }).port}`
      sender = new TestSender(() => base)
      engine = newEngine()
    })
    after(async () => {
      listener.closeAllConnections()
      await new Promise((resolve) => listener.close(resolve))
      await t.close()
    })

    test('changes that piled up travel once, in the newest state; a later change re-arms the delivered row', async () => {
      for (let v = 1; v <= 3; v++) await change('hook-a', 's1', v, `state ${v}`)
      await engine.runOnce()
      assert.deepEqual(sentTo('hook-a', 's1'), ['state 3'])
      assert.deepEqual(await engine.status('hook-a'), {
        backlog: 0,
        failing: 0,
        delivered: 1,
        deadLetters: 0,
        nextAttemptAt: null,
        lastError: null,
      })
      // An older version arriving late changes nothing; a newer one is sent.
      await engine.enqueue([{ kind: KIND, destination: 'hook-a', subject: 's1', version: 2 }])
      assert.equal((await engine.status('hook-a')).backlog, 0)
      await change('hook-a', 's1', 4, 'state 4')
      assert.equal((await engine.status('hook-a')).backlog, 1)
      await engine.runOnce()
      assert.deepEqual(sentTo('hook-a', 's1'), ['state 3', 'state 4'])
    })

    test('a change arriving while its subject is being sent is sent after that send, never before it', async () => {
      await change('hook-a', 's2', 1, 'first')
      let release!: () => void
      sender.gates.set('s2', new Promise<void>((resolve) => (release = resolve)))
      const entered = new Promise<void>((resolve) => sender.entered.set('s2', resolve))
      const round = engine.runOnce()
      await entered
      // The row is leased: another round does not send it meanwhile.
      await change('hook-a', 's2', 2, 'second')
      await newEngine().runOnce()
      sender.gates.delete('s2')
      sender.entered.delete('s2')
      release()
      await round
      // 'second' was read after the first send began: the send of 'first' must not mark it delivered.
      assert.equal((await engine.status('hook-a')).backlog, 1, 'the newer change is still due')
      await engine.runOnce()
      assert.deepEqual(sentTo('hook-a', 's2'), ['first', 'second'])
      const delivered = await row('hook-a', 's2')
      assert.equal(delivered.delivered_version, delivered.version)
    })

    test('5xx, 429 and network errors are retried with backoff; 4xx answers are parked as dead letters, logged once with the reason', async () => {
      answers.set('hook-down', 503)
      answers.set('hook-busy', 429)
      answers.set('hook-strict', 400)
      answers.set('hook-missing', 404)
      for (const destination of ['hook-down', 'hook-busy', 'hook-strict', 'hook-missing']) await change(destination, 'r1', 1, 'payload')
      await engine.runOnce()
      for (const destination of ['hook-down', 'hook-busy']) {
        const retried = await row(destination, 'r1')
        assert.equal(retried.attempts, 1, destination)
        assert.equal(retried.dead_at, null, destination)
        assert.ok(
          new Date(retried.next_attempt_at).getTime() > new Date(retried.updated_at).getTime(),
          `${destination} waits before its retry`,
        )
        const status = await engine.status(destination)
        assert.equal(status.failing, 1)
        assert.equal(status.backlog, 1)
      }
      assert.match((await row('hook-down', 'r1')).last_error!, /HTTP 503/)
      for (const [destination, status] of [
        ['hook-strict', 400],
        ['hook-missing', 404],
      ] as const) {
        const parked = await row(destination, 'r1')
        assert.ok(parked.dead_at, `${destination} parked`)
        assert.equal((await engine.status(destination)).backlog, 0, 'a dead letter is not backlog')
        assert.equal((await engine.status(destination)).deadLetters, 1)
        const logged = logs.filter((l) => l.destination === destination && /dead letter/.test(l.msg))
        assert.equal(logged.length, 1, `${destination}: one log line`)
        assert.equal(logged[0]!.reason, `HTTP ${status}`)
        assert.equal(logged[0]!.subject, 'r1')
      }
      // Retried until the destination answers again; a dead letter is not tried again by itself.
      answers.delete('hook-down')
      answers.delete('hook-busy')
      await waitFor(
        async () => {
          await engine.runOnce()
          return sentTo('hook-down', 'r1').length === 1 && sentTo('hook-busy', 'r1').length === 1
        },
        10_000,
        'the retried deliveries arrive',
      )
      assert.deepEqual(sentTo('hook-strict', 'r1'), [])
      assert.equal((await row('hook-strict', 'r1')).attempts, 1, 'tried once')

      // A closed port: a network error is retryable too.
      const probe = createTcpServer()
      await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve))
      const closed = `http://127.0.0.1:${(probe.address() as { port: number }).port}`
      await new Promise((resolve) => probe.close(resolve))
      const unreachable = new DeliveryEngine(t.platform.db, createLogger('silent'), { baseBackoffMs: 20, maxBackoffMs: 40 })
      unreachable.register(KIND, new TestSender(() => closed))
      await change('hook-gone', 'r1', 1, 'payload')
      await unreachable.runOnce()
      const failed = await row('hook-gone', 'r1')
      assert.equal(failed.dead_at, null)
      assert.equal(failed.attempts, 1)
      assert.match(failed.last_error!, /no answer/)
    })

    test('dead letters are listed by destination and replayed one at a time or all of a destination', async () => {
      answers.set('hook-strict', 400)
      await change('hook-strict', 'r2', 1, 'second payload')
      await change('hook-strict', 'r3', 1, 'third payload')
      await engine.runOnce()
      const dead = await engine.deadLetters({ destination: 'hook-strict' })
      assert.deepEqual(dead.map((d) => d.subject).sort(), ['r1', 'r2', 'r3'])
      assert.ok(dead.every((d) => d.reason === 'HTTP 400' && d.destination === 'hook-strict' && d.kind === KIND))
      assert.ok(
        (await engine.deadLetters()).some((d) => d.destination === 'hook-missing'),
        'unfiltered: every destination',
      )

      answers.delete('hook-strict')
      assert.equal(await engine.replay('hook-strict', 'r1'), 1)
      await engine.runOnce()
      assert.deepEqual(sentTo('hook-strict', 'r1'), ['payload'])
      assert.deepEqual((await engine.deadLetters({ destination: 'hook-strict' })).map((d) => d.subject).sort(), ['r2', 'r3'])
      assert.equal(await engine.replay('hook-strict'), 2)
      await engine.runOnce()
      assert.deepEqual(sentTo('hook-strict', 'r2'), ['second payload'])
      assert.deepEqual(sentTo('hook-strict', 'r3'), ['third payload'])
      assert.equal((await engine.status('hook-strict')).deadLetters, 0)
      assert.equal(await engine.replay('hook-strict'), 0, 'nothing left to replay')

      // A newer change of a parked subject re-arms it too: the newest state gets its chance.
      answers.set('hook-missing', 200)
      await change('hook-missing', 'r1', 2, 'fixed payload')
      await engine.runOnce()
      assert.deepEqual(sentTo('hook-missing', 'r1'), ['fixed payload'])
    })

    test('the admin API shows the backlog per destination, lists dead letters by destination and replays them', async () => {
      const admin = (method: 'GET' | 'POST', url: string, payload?: object) =>
        t.app.inject({ method, url, headers: { 'x-api-key': ADMIN_KEY }, ...(payload && { payload }) })
      answers.set('hook-admin', 422)
      answers.set('hook-waiting', 503)
      await change('hook-admin', 'a1', 1, 'one')
      await change('hook-admin', 'a2', 1, 'two')
      await change('hook-waiting', 'w1', 1, 'waiting')
      await engine.runOnce()
      const backlogs = (await admin('GET', '/admin/v1/deliveries')).json().destinations
      assert.deepEqual(
        backlogs.find((d: { destination: string }) => d.destination === 'hook-admin'),
        { destination: 'hook-admin', kind: KIND, backlog: 0, failing: 0, deadLetters: 2 },
      )
      assert.deepEqual(
        backlogs.find((d: { destination: string }) => d.destination === 'hook-waiting'),
        { destination: 'hook-waiting', kind: KIND, backlog: 1, failing: 1, deadLetters: 0 },
      )
      const listed = await admin('GET', '/admin/v1/deliveries/dead-letters?destination=hook-admin')
      assert.equal(listed.statusCode, 200, listed.body)
      assert.deepEqual(
        listed
          .json()
          .deadLetters.map((d: { subject: string; reason: string }) => [d.subject, d.reason])
          .sort(),
        [
          ['a1', 'HTTP 422'],
          ['a2', 'HTTP 422'],
        ],
      )
      answers.delete('hook-admin')
      assert.deepEqual(
        (await admin('POST', '/admin/v1/deliveries/dead-letters/replay', { destination: 'hook-admin', subject: 'a2' })).json(),
        {
          replayed: 1,
        },
      )
      assert.deepEqual((await admin('POST', '/admin/v1/deliveries/dead-letters/replay', { destination: 'hook-admin' })).json(), {
        replayed: 1,
      })
      await engine.runOnce()
      assert.deepEqual(sentTo('hook-admin', 'a1'), ['one'])
      assert.deepEqual(sentTo('hook-admin', 'a2'), ['two'])
      const missing = await admin('POST', '/admin/v1/deliveries/dead-letters/replay', {})
      assert.equal(missing.statusCode, 400)
      assert.match(missing.body, /destination/)
      answers.delete('hook-waiting')
    })

    test('two engines over one database never send the same row at once, and every row exactly once', async () => {
      const subjects = Array.from({ length: 300 }, (_, i) => `bulk-${i}`)
      for (const s of subjects) sender.states.set(s, `state of ${s}`)
      await engine.enqueue(
        subjects.flatMap((subject) => ['hook-x', 'hook-y'].map((destination) => ({ kind: KIND, destination, subject, version: 1 }))),
      )
      const before = overlapping
      const workers = [newEngine(), newEngine()]
      const drain = async (worker: DeliveryEngine) => {
        for (;;) {
          const round = await worker.runOnce()
          // nothing claimable: the other worker holds the rest; give its sends a turn
          if (round.delivered === 0) await new Promise((resolve) => setTimeout(resolve, 10))
          if ((await engine.status('hook-x')).backlog + (await engine.status('hook-y')).backlog === 0) return
        }
      }
      await Promise.all(workers.map(drain))
      assert.equal(overlapping, before, 'no subject was in flight twice at once')
      for (const destination of ['hook-x', 'hook-y']) {
        const arrived = received.filter((r) => r.destination === destination && r.subject.startsWith('bulk-'))
        assert.equal(arrived.length, subjects.length, `${destination}: each subject once`)
        assert.equal(new Set(arrived.map((r) => r.subject)).size, subjects.length)
      }
    })

    test('an exclusive sender that sends a round at once never has two rounds in flight for one destination, across engines', async () => {
      const BATCH = 'test-batch'
      let inFlight = 0
      let overlaps = 0
      const rounds: string[][] = []
      const batchSender: DeliverySender = {
        label: 'test batch',
        exclusive: true,
        describe: (destination) => ({ target: destination }),
        open: async () => ({
          sendAll: async (deliveries) => {
            if (++inFlight > 1) overlaps++
            await new Promise((resolve) => setTimeout(resolve, 5))
            inFlight--
            rounds.push(deliveries.map((d) => d.subject))
            // one subject refused for good, the others delivered
            return new Map(deliveries.filter((d) => d.subject === 'batch-7').map((d) => [d.subject, DeliveryFailure.permanent('refused')]))
          },
        }),
      }
      const engines = [0, 1].map(() => {
        const e = new DeliveryEngine(t.platform.db, createLogger('silent'), { batchSize: 10 })
        e.register(BATCH, batchSender)
        return e
      })
      await engines[0]!.enqueue(
        Array.from({ length: 60 }, (_, i) => ({ kind: BATCH, destination: 'batch-dest', subject: `batch-${i}`, version: 1 })),
      )
      await Promise.all(
        engines.map(async (e) => {
          while ((await e.status('batch-dest')).backlog > 0) {
            const round = await e.runOnce()
            if (round.delivered === 0) await new Promise((resolve) => setTimeout(resolve, 5))
          }
        }),
      )
      assert.equal(overlaps, 0, 'no two rounds of the destination overlapped')
      assert.equal(rounds.flat().length, 60, 'each subject was sent once')
      assert.ok(rounds.every((r) => r.length <= 10))
      const status = await engines[0]!.status('batch-dest')
      assert.deepEqual([status.delivered, status.deadLetters, status.backlog], [59, 1, 0])
    })
  })
}
