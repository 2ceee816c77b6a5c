import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { setTimeout as sleep } from 'node:timers/promises'
import { Periodic } from '../src/infra/periodic.ts'

describe('periodic background work', () => {
  test('steps never overlap, a failed step is told and the next one still runs, and stop waits for the step in flight', async () => {
    let inFlight = 0
    let most = 0
    let runs = 0
    const errors: unknown[] = []
    let release: (() => void) | undefined
    const periodic = new Periodic(
      async () => {
        runs++
        inFlight++
        most = Math.max(most, inFlight)
        try {
          if (runs === 2) throw new Error('second step fails')
          if (runs === 4) await new Promise<void>((resolve) => (release = resolve))
          else await sleep(2)
        } finally {
          inFlight--
        }
      },
      { everyMs: 1, onError: (err) => errors.push(err) },
    )
    periodic.start()
    while (runs < 4 || release === undefined) await sleep(1)
    let stopped = false
    const stopping = periodic.stop().then(() => (stopped = true))
    await sleep(10)
    assert.equal(stopped, false, 'stop waits for the step in flight')
    release()
    await stopping
    const after = runs
    await sleep(20)
    assert.equal(runs, after, 'no step runs after stop')
    assert.equal(most, 1)
    assert.equal(errors.length, 1)
    assert.match(String(errors[0]), /second step fails/)
    assert.equal(periodic.stopped, true)
  })

  test('the first step waits firstAfterMs, and a schedule stopped before it never runs', async () => {
    let runs = 0
    const periodic = new Periodic(async () => void runs++, { everyMs: 1, firstAfterMs: 60_000, onError: () => {} })
    periodic.start()
    await sleep(20)
    await periodic.stop()
    assert.equal(runs, 0)
  })
})
