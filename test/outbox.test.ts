import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import pg from 'pg'
import { Outbox } from '../src/infra/outbox/outbox.ts'
import { backends, startTestPlatform, type TestPlatform } from './support.ts'

for (const backend of backends()) {
  describe(`key-event outbox reader (${backend})`, () => {
    let t: TestPlatform
    let outbox: Outbox
    let user: { id: string; organization_id: string }
    let n = 0
    const insertKey = async (db: { query(text: string, values: unknown[]): Promise<unknown> } | null = null) => {
      n++
      const identity = `DE8PSO${String(n).padStart(8, '0')}`
      const text = `INSERT INTO charging_keys (organization_id, user_id, type, contract_id, emaid_identity) VALUES ($1, $2, 'virtual', $3, $3)`
      if (db) await db.query(text, [user.organization_id, user.id, identity])
      else
        await sql`INSERT INTO charging_keys (organization_id, user_id, type, contract_id, emaid_identity)
                      VALUES (${user.organization_id}, ${user.id}, 'virtual', ${identity}, ${identity})`.execute(t.platform.db)
      return identity
    }
    /**
     * Steps a named consumer until it has been handed `count` events (another transaction of the
     * platform in flight may hold an event back for a step): the contract IDs, in the order handed.
     */
    const drain = async (name: string, count: number) => {
      const handed: string[] = []
      for (let i = 0; i < 200 && handed.length < count; i++) {
        handed.push(...(await step(name)))
        if (handed.length < count) await new Promise((resolve) => setTimeout(resolve, 10))
      }
      return handed
    }
    /** One step of a named consumer: the contract IDs of the keys whose events it was handed. */
    const step = async (name: string) =>
      (await outbox.consumer(name).step(async (trx, events) =>
        (
          await sql<{ contract_id: string }>`SELECT k.contract_id FROM key_events e JOIN charging_keys k ON k.id = e.key_id
                                             WHERE ${events} ORDER BY e.seq`.execute(trx)
        ).rows.map((r) => r.contract_id),
      )) ?? []

    before(async () => {
      t = await startTestPlatform(backend)
      const org = await t.createOrganization({ name: 'Outbox Mobility' })
      await t.request(org.apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'reader' } })
      user = await t.platform.db
        .selectFrom('users')
        .select(['id', 'organization_id'])
        .where('organization_id', '=', org.id)
        .executeTakeFirstOrThrow()
      outbox = new Outbox(t.platform.db)
    })
    after(() => t.close())

    test('named consumers each get every event exactly once, in order, at their own pace', async () => {
      // Start both past what exists now.
      await step('first')
      await step('second')
      const a = await insertKey()
      const b = await insertKey()
      assert.deepEqual(await drain('first', 2), [a, b])
      const c = await insertKey()
      assert.deepEqual(await drain('first', 1), [c])
      assert.deepEqual(await step('first'), [], 'nothing twice')
      assert.deepEqual(await drain('second', 3), [a, b, c], 'the other consumer has its own position')
      assert.equal(await outbox.consumer('second').pending(), 0)
      await insertKey()
      assert.equal(await outbox.consumer('second').pending(), 1)
    })

    test('a step whose handler fails moves nothing: the same events come again', async () => {
      await step('retrying')
      const a = await insertKey()
      let failed = 0
      for (let i = 0; i < 200 && failed === 0; i++) {
        await outbox
          .consumer('retrying')
          .step(async () => {
            throw new Error('the consumer failed')
          })
          .catch((error: Error) => {
            assert.match(error.message, /the consumer failed/)
            failed++
          })
      }
      assert.equal(failed, 1, 'the handler ran and failed')
      assert.deepEqual(await drain('retrying', 1), [a])
    })

    if (backend === 'postgres') {
      test('an event of a transaction still in flight is not skipped: it waits, and a follower sees later commits at once', async () => {
        await step('patient')
        const follower = outbox.follower()
        await follower.step(async () => undefined)
        const open = new pg.Client({ connectionString: t.postgresUrl })
        await open.connect()
        try {
          await open.query('BEGIN')
          const early = await insertKey(open)
          // A later transaction commits first.
          const late = await insertKey()
          const seen = await follower.step(async (events) =>
            (
              await sql<{ contract_id: string }>`SELECT k.contract_id FROM key_events e JOIN charging_keys k ON k.id = e.key_id
                                                 WHERE ${events!}`.execute(t.platform.db)
            ).rows.map((r) => r.contract_id),
          )
          assert.deepEqual(seen, [late], 'a cache learns of the committed change without waiting')
          assert.deepEqual(await step('patient'), [], 'the named consumer waits for the older transaction')
          await open.query('COMMIT')
          assert.deepEqual((await drain('patient', 2)).sort(), [early, late].sort(), 'then both, once')
          assert.deepEqual(await step('patient'), [])
        } finally {
          await open.end()
        }
      })
    }
  })
}
