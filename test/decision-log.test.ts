import assert from 'node:assert/strict'
import { randomUUID } from 'node:crypto'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import type { KyselyPlugin } from 'kysely'
import { pino } from 'pino'
import { DecisionLog, storableDecision, storableJson, storableText, type DecisionRecord } from '../src/services/authorization/decision-log.ts'
import { backends, startTestPlatform, type TestPlatform } from './support.ts'

describe('storable text', () => {
  test('NUL and lone surrogates become U+FFFD; everything else, pairs included, is kept', () => {
    assert.equal(storableText('DE8PS\u0000C0AD21B13'), 'DE8PS\uFFFDC0AD21B13')
    assert.equal(storableText('a\uD800b'), 'a\uFFFDb', 'a high surrogate without its low one')
    assert.equal(storableText('a\uDC00'), 'a\uFFFD', 'a low surrogate without its high one')
    assert.equal(storableText('\uDBFF'), '\uFFFD', 'a high surrogate at the end')
    assert.equal(storableText('\u0000\u0000'), '\uFFFD\uFFFD')
    assert.equal(storableText('ok \uD83D\uDE97 ü \\u0000 %00'), 'ok \uD83D\uDE97 ü \\u0000 %00', 'a pair, escapes as text')
    assert.equal(storableText(''), '')
  })

  test('a JSON value is cleaned in every string and key, and returned itself when nothing needs cleaning', () => {
    const clean = { id: 'LOC1', evse_uids: ['E1', 'E2'], n: 1, ok: true, none: null }
    assert.equal(storableJson(clean), clean)
    assert.deepEqual(storableJson({ 'k\u0000': ['x\uD800', { y: 'z\u0000' }], n: 2 }), { 'k\uFFFD': ['x\uFFFD', { y: 'z\uFFFD' }], n: 2 })
  })

  test('a decision is cleaned where a partner wrote it, and kept as it is when clean', () => {
    const clean = decision()
    assert.equal(storableDecision(clean), clean)
    const cleaned = storableDecision(decision({ tokenUid: 'A\u0000', tokenType: 'R\uDC00', location: { location_id: '\u0000' } }))
    assert.deepEqual([cleaned.tokenUid, cleaned.tokenType, cleaned.location], ['A\uFFFD', 'R\uFFFD', { location_id: '\uFFFD' }])
  })
})

function decision(overrides: Partial<DecisionRecord> = {}): DecisionRecord {
  return {
    authorizationReference: randomUUID(),
    protocol: 'ocpi',
    partnerId: null,
    tokenUid: 'DE8PSC0AD21B13P',
    tokenType: 'RFID',
    emaidIdentity: 'DE8PSC0AD21B13',
    keyId: null,
    organizationId: null,
    allowed: 'UNKNOWN',
    location: null,
    latencyUs: 12,
    decidedAt: Date.now(),
    ...overrides,
  }
}

/** A real logger whose lines the test reads. */
function capturedLogger() {
  const lines: Array<Record<string, unknown>> = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(JSON.parse(String(chunk)))
      done()
    },
  })
  return { lines, log: pino({ level: 'info' }, stream) }
}

for (const backend of backends()) {
  describe(`the decision log (${backend})`, () => {
    let t: TestPlatform

    before(async () => {
      t = await startTestPlatform(backend)
    })
    after(() => t.close())

    const stored = async (references: string[]) =>
      t.platform.db.selectFrom('authorization_decisions').selectAll().where('authorization_reference', 'in', references).execute()

    test('a poisoned decision holds up no other: unstorable text is stored cleaned, a record that still fails is dropped and logged once', async () => {
      const { lines, log } = capturedLogger()
      const decisions = new DecisionLog(t.platform.db, log, { flushMs: 60_000 })
      const existing = decision()
      decisions.record(existing)
      await decisions.flush()

      const good = [decision(), decision(), decision()]
      const nul = decision({ tokenUid: 'DE8PS\u0000C0AD21B13', location: { location_id: 'L\u0000', evse_uids: ['\uD800'] } })
      const surrogate = decision({ tokenUid: 'X\uDC00Y', tokenType: 'OTHER\uD800' })
      // Fails whatever is cleaned: its reference is taken, and its latency does not fit the column.
      const duplicate = decision({ authorizationReference: existing.authorizationReference, tokenUid: 'DUPLICATE' })
      const tooSlow = decision({ latencyUs: 2 ** 40 })
      for (const d of [good[0]!, nul, duplicate, good[1]!, surrogate, tooSlow, good[2]!]) decisions.record(d)
      await decisions.flush()

      const rows = await stored([...good, nul, surrogate, tooSlow].map((d) => d.authorizationReference))
      const byReference = new Map(rows.map((r) => [r.authorization_reference, r]))
      for (const d of good)
        assert.equal(byReference.get(d.authorizationReference)?.token_uid, d.tokenUid, 'every good decision is recorded')
      assert.equal(byReference.get(nul.authorizationReference)?.token_uid, 'DE8PS\uFFFDC0AD21B13')
      assert.deepEqual(byReference.get(nul.authorizationReference)?.location, { location_id: 'L\uFFFD', evse_uids: ['\uFFFD'] })
      assert.equal(byReference.get(surrogate.authorizationReference)?.token_uid, 'X\uFFFDY')
      assert.equal(byReference.get(surrogate.authorizationReference)?.token_type, 'OTHER\uFFFD')
      assert.equal(byReference.has(tooSlow.authorizationReference), false)
      const [first] = await stored([existing.authorizationReference])
      assert.equal(first?.token_uid, existing.tokenUid, 'the duplicate did not overwrite the first')

      const dropped = lines.filter((l) => l.msg === 'authorization decision could not be recorded; dropped')
      assert.deepEqual(
        dropped.map((l) => l.authorizationReference).sort(),
        [duplicate.authorizationReference, tooSlow.authorizationReference].sort(),
      )
      assert.ok(
        lines.every((l) => !JSON.stringify(l).includes('DUPLICATE')),
        'no token value in the log',
      )
      assert.equal(lines.filter((l) => /will retry/.test(String(l.msg))).length, 0, 'nothing is kept for a retry')

      // Nothing is left to try again.
      const before = lines.length
      await decisions.flush()
      assert.equal(lines.length, before)
    })

    test('a lost connection keeps the whole batch for the next attempt', async () => {
      const { lines, log } = capturedLogger()
      let failures = 1
      const plugin: KyselyPlugin = {
        transformQuery(args) {
          if (failures-- > 0) throw Object.assign(new Error('Connection terminated unexpectedly'), { code: 'ECONNRESET' })
          return args.node
        },
        transformResult: async (args) => args.result,
      }
      const decisions = new DecisionLog(t.platform.db.withPlugin(plugin), log, { flushMs: 60_000 })
      const batch = [decision(), decision({ tokenUid: 'N\u0000' }), decision()]
      for (const d of batch) decisions.record(d)
      await decisions.flush()
      assert.equal((await stored(batch.map((d) => d.authorizationReference))).length, 0)
      assert.equal(lines.filter((l) => /will retry/.test(String(l.msg))).length, 1)
      await decisions.flush()
      assert.equal((await stored(batch.map((d) => d.authorizationReference))).length, 3, 'all of them on the next attempt')
    })
  })
}
