import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { KeyDirectory } from '../src/services/authorization/key-directory.ts'
import { ADMIN_KEY, backends, startTestPlatform, watchQueries, type TestPlatform } from './support.ts'

for (const backend of backends()) {
  describe(`key directory (${backend})`, () => {
    let t: TestPlatform
    let apiKey: string
    let organizationId: string
    const { counter, plugin } = watchQueries()
    // Polled by hand in these tests, so each one decides when changes arrive.
    const directoryOf = (options: { reloadAfter?: number } = {}) =>
      new KeyDirectory(t.platform.db.withPlugin(plugin), t.platform.log, { pollMs: 3_600_000, ...options })
    const createKey = (contractId: string) =>
      t.request(apiKey, {
        method: 'POST',
        url: '/v1/users/driver/charging-keys/plug-and-charge',
        payload: { pcid: 'WDBRF61J21F123456', contractId },
      })
    const patchKey = (uid: string, payload: Record<string, unknown>) =>
      t.request(apiKey, { method: 'PATCH', url: `/v1/users/driver/charging-keys/${uid}`, payload })

    before(async () => {
      t = await startTestPlatform(backend)
      const organization = await t.createOrganization()
      apiKey = organization.apiKey
      organizationId = organization.id
      await t.request(apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'driver' } })
      for (let i = 0; i < 5; i++) assert.equal((await createKey(`DE-8PS-DIRLOAD0${i}`)).statusCode, 201)
    })
    after(() => t.close())

    test('once loaded, known and unknown EMAIDs are answered from memory, without a query', async () => {
      const directory = directoryOf()
      await directory.start()
      try {
        assert.equal(directory.state.complete, true)
        const before = counter.queries
        for (let i = 0; i < 5; i++) {
          const [key] = await directory.lookup({ emaidIdentity: `DE8PSDIRLOAD0${i}` })
          assert.equal(key?.key.contractId, `DE-8PS-DIRLOAD0${i}`)
          assert.equal(key?.organizationName, 'Test Mobility')
        }
        assert.deepEqual(await directory.lookup({ emaidIdentity: 'DE8PSUNKNOWN01' }), [])
        assert.equal(counter.queries, before)
      } finally {
        directory.stop()
      }
    })

    test('a change made elsewhere counts from the next poll of the outbox', async () => {
      const directory = directoryOf()
      await directory.start()
      try {
        // The platform's own directory is told at once; this one learns only from the outbox.
        assert.equal((await createKey('DE-8PS-DIRPOLL01')).statusCode, 201)
        assert.deepEqual(await directory.lookup({ emaidIdentity: 'DE8PSDIRPOLL01' }), [])
        await directory.poll()
        assert.equal((await directory.lookup({ emaidIdentity: 'DE8PSDIRPOLL01' }))[0]?.enabled, true)

        assert.equal((await patchKey('DE8PSDIRPOLL01', { enabled: false })).statusCode, 200)
        await directory.poll()
        assert.equal((await directory.lookup({ emaidIdentity: 'DE8PSDIRPOLL01' }))[0]?.enabled, false)
        // Read again once, then held: the next lookups need no query.
        const before = counter.queries
        await directory.lookup({ emaidIdentity: 'DE8PSDIRPOLL01' })
        assert.equal(counter.queries, before)
      } finally {
        directory.stop()
      }
    })

    test('an organization disabled elsewhere blocks its keys from the next poll', async () => {
      const directory = directoryOf()
      await directory.start()
      const setEnabled = (enabled: boolean) =>
        t.app.inject({
          method: 'PATCH',
          url: `/admin/v1/organizations/${organizationId}`,
          headers: { 'x-api-key': ADMIN_KEY },
          payload: { enabled },
        })
      try {
        assert.equal((await directory.lookup({ emaidIdentity: 'DE8PSDIRLOAD01' }))[0]?.organizationEnabled, true)
        assert.equal((await setEnabled(false)).statusCode, 200)
        await directory.poll()
        assert.equal((await directory.lookup({ emaidIdentity: 'DE8PSDIRLOAD01' }))[0]?.organizationEnabled, false)
      } finally {
        assert.equal((await setEnabled(true)).statusCode, 200)
        directory.stop()
      }
    })

    test('a read that a change overtakes is answered but not kept', async () => {
      const directory = directoryOf()
      await directory.start()
      try {
        directory.invalidate(['DE8PSDIRLOAD02'])
        // While the read is on its way, the outbox reports a change of the key (made just below).
        const reading = directory.lookup({ emaidIdentity: 'DE8PSDIRLOAD02' })
        directory.invalidate(['DE8PSDIRLOAD02'])
        assert.equal((await reading)[0]?.enabled, true)
        await sql`UPDATE charging_keys SET enabled = false WHERE emaid_identity = 'DE8PSDIRLOAD02'`.execute(t.platform.db)
        assert.equal((await directory.lookup({ emaidIdentity: 'DE8PSDIRLOAD02' }))[0]?.enabled, false)
      } finally {
        await sql`UPDATE charging_keys SET enabled = true WHERE emaid_identity = 'DE8PSDIRLOAD02'`.execute(t.platform.db)
        directory.stop()
      }
    })

    test('a burst of changes is read again in one sweep', async () => {
      const directory = directoryOf({ reloadAfter: 3 })
      await directory.start()
      try {
        for (let i = 0; i < 4; i++) assert.equal((await createKey(`DE-8PS-DIRBURST${i}`)).statusCode, 201)
        await directory.poll()
        await directory.reload()
        assert.equal(directory.state.pending, 0)
        const before = counter.queries
        for (let i = 0; i < 4; i++) assert.equal((await directory.lookup({ emaidIdentity: `DE8PSDIRBURST${i}` })).length, 1)
        assert.equal(counter.queries, before)
      } finally {
        directory.stop()
      }
    })
  })
}
