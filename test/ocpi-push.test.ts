import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { backoffMs } from '../src/protocols/ocpi/push.ts'
import { CpoSimulator } from '../src/sim/cpo.ts'
import { ADMIN_KEY, backends, startTestPlatform, waitFor, type TestPlatform } from './support.ts'
import { assertValidOcpi, ocpiRequestValidator } from './ocpi-spec.ts'

describe('retry backoff', () => {
  test('doubles per attempt up to the cap, jittered within the upper half', () => {
    assert.equal(
      backoffMs(1, 1000, 60_000, () => 1),
      1000,
    )
    assert.equal(
      backoffMs(1, 1000, 60_000, () => 0),
      500,
    )
    assert.equal(
      backoffMs(4, 1000, 60_000, () => 1),
      8000,
    )
    assert.equal(
      backoffMs(30, 1000, 60_000, () => 1),
      60_000,
    )
    assert.equal(
      backoffMs(30, 1000, 60_000, () => 0),
      30_000,
    )
  })
})

for (const backend of backends()) {
  describe(`token push to CPOs (${backend})`, () => {
    let t: TestPlatform
    let orgKey: string
    let cpo: CpoSimulator
    let partnerId: string
    const drive = (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
      t.request(orgKey, { method, url, ...(payload && { payload }) })
    const cpoToken = (uid: string) => cpo.tokens.get(`DE/8PS/${uid}`)

    before(async () => {
      t = await startTestPlatform(
        backend,
        {
          OPENPNC_OCPI_RETRY_BASE_MS: '50',
          OPENPNC_OCPI_RETRY_MAX_MS: '400',
          OPENPNC_OCPI_PUSH_POLL_MS: '100',
          OPENPNC_KEY_VALIDITY_CHECK_MS: '200',
        },
        { listen: true },
      )
      orgKey = (await t.createOrganization({ name: 'Push Mobility' })).apiKey
      await drive('POST', '/v1/users', { id: 'driver' })
      const partner = await t.createOcpiPartner('Push CPO')
      partnerId = partner.id
      cpo = new CpoSimulator({ countryCode: 'NL', partyId: 'PSH' })
      await cpo.start()
      await cpo.registerWith(partner.versionsUrl, partner.tokenA)
    })
    after(async () => {
      await cpo.stop()
      await t.close()
    })

    test('a created key arrives at the CPO within seconds, as a valid token of the right shape', async () => {
      await drive('POST', '/v1/users/driver/charging-keys/plug-and-charge', { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-PUSHED001' })
      const uid = 'DE8PSPUSHED001' + (await import('../src/core/identifiers/index.ts')).emaidCheckCharacter('DE8PSPUSHED001')
      await waitFor(() => cpoToken(uid) !== undefined, 15_000, 'token at the CPO')
      const token = cpoToken(uid)!
      assert.equal(token.contract_id, 'DE-8PS-PUSHED001')
      assert.equal(token.type, 'EMAID')
      assert.equal(token.whitelist, 'NEVER')
      assert.equal(token.valid, true)
      const put = cpo.pushes.find((p) => p.uid === uid && p.method === 'PUT')!
      assert.equal(put.type, 'EMAID')
      assertValidOcpi(
        ocpiRequestValidator('2.3.0', 'tokens', 'receiver-interface', '/tokens/{country_code}/{party_id}/{token_uid}', 'put'),
        put.body,
      )
    })

    test('disabling a key sends PATCH valid:false; deleting it too', async () => {
      const uid = [...cpo.tokens.values()].find((tk) => tk.contract_id === 'DE-8PS-PUSHED001')!.uid
      // A PATCH needs the CPO to hold the token as far as we know: the PUT recorded as delivered.
      await waitFor(
        async () => (await t.platform.deliveries.status(`ocpi:${partnerId}`)).backlog === 0,
        15_000,
        'the first PUT recorded as delivered',
      )
      await drive('PATCH', '/v1/users/driver/charging-keys/DE8PSPUSHED001', { enabled: false })
      await waitFor(() => cpoToken(uid)?.valid === false, 15_000, 'valid:false at the CPO')
      const patch = cpo.pushes.findLast((p) => p.uid === uid)!
      assert.equal(patch.method, 'PATCH')
      assert.deepEqual(Object.keys(patch.body).sort(), ['last_updated', 'valid'])
      assertValidOcpi(
        ocpiRequestValidator('2.3.0', 'tokens', 'receiver-interface', '/tokens/{country_code}/{party_id}/{token_uid}', 'patch'),
        patch.body,
      )
      await drive('PATCH', '/v1/users/driver/charging-keys/DE8PSPUSHED001', { enabled: true })
      await waitFor(() => cpoToken(uid)?.valid === true, 15_000, 'valid again')
      await drive('DELETE', '/v1/users/driver/charging-keys/DE8PSPUSHED001')
      await waitFor(() => cpoToken(uid)?.valid === false, 15_000, 'deleted key invalid at the CPO')
      assert.equal(cpo.pushes.findLast((p) => p.uid === uid)!.method, 'PATCH')
    })

    test('a key whose validTo passes is pushed as valid:false by the validity clock, without any change to it', async () => {
      const validTo = new Date(Date.now() + 1500)
      await drive('POST', '/v1/users/driver/charging-keys/plug-and-charge', {
        pcid: 'WDBRF61J21F123456',
        contractId: 'DE-8PS-EXPIRING1',
        validTo: validTo.toISOString(),
      })
      const uid = 'DE8PSEXPIRING1' + (await import('../src/core/identifiers/index.ts')).emaidCheckCharacter('DE8PSEXPIRING1')
      await waitFor(() => cpoToken(uid)?.valid === true, 15_000, 'the valid token at the CPO')
      // The scheduler runs every 200 ms here; the push follows within its poll.
      await waitFor(() => cpoToken(uid)?.valid === false, 15_000, 'the token at the CPO says valid:false after validTo')
      const last = cpo.pushes.filter((p) => p.uid === uid).at(-1)!
      assert.ok(last.at.getTime() >= validTo.getTime(), 'pushed after validTo, not before')
      const events = await t.platform.db
        .selectFrom('key_events as e')
        .innerJoin('charging_keys as k', 'k.id', 'e.key_id')
        .select('e.type')
        .where('k.emaid_identity', '=', 'DE8PSEXPIRING1')
        .orderBy('e.seq')
        .execute()
      assert.deepEqual(
        events.map((e) => e.type),
        ['created', 'expired'],
      )
    })

    test('while the CPO is down 400 keys change; afterwards its copy equals ours and no older state came after a newer one', async () => {
      cpo.available = false
      const contractIds: string[] = []
      for (let i = 0; i < 400; i++) {
        const created = await drive('POST', '/v1/users/driver/charging-keys/plug-and-charge', { pcid: 'WDBRF61J21F123456' })
        contractIds.push(created.json().contractId)
      }
      for (let i = 0; i < 400; i += 2) await drive('PATCH', `/v1/users/driver/charging-keys/${contractIds[i]}`, { enabled: false })
      for (let i = 0; i < 400; i += 4)
        await drive('PATCH', `/v1/users/driver/charging-keys/${contractIds[i]}`, { enabled: true, name: 'again' })
      // The outage is visible to the operator.
      await waitFor(
        async () => {
          const status = (
            await t.app.inject({ method: 'GET', url: `/admin/v1/ocpi/partners/${partnerId}`, headers: { 'x-api-key': ADMIN_KEY } })
          ).json()
          return status.delivery.failing > 0 && status.delivery.backlog >= 400 && /503/.test(status.delivery.lastError ?? '')
        },
        30_000,
        'failing deliveries in the admin API',
      )

      cpo.available = true
      await waitFor(
        async () => {
          const status = (
            await t.app.inject({ method: 'GET', url: `/admin/v1/ocpi/partners/${partnerId}`, headers: { 'x-api-key': ADMIN_KEY } })
          ).json()
          return status.delivery.backlog === 0
        },
        60_000,
        'backlog drained',
      )

      // The CPO's copy equals ours, token by token.
      const ours = await cpo.pullTokens({ limit: 500 })
      for (const token of ours) {
        const theirs = cpoToken(token.uid)
        if (token.contract_id === 'DE-8PS-PUSHED001' || token.type === 'APP_USER') continue
        assert.ok(theirs, `${token.uid} at the CPO`)
        for (const field of ['valid', 'contract_id', 'type', 'whitelist', 'issuer', 'last_updated'] as const) {
          assert.equal(theirs[field], token[field], `${token.uid}.${field}`)
        }
      }
      // Per token, what arrived never went back in time.
      const byUid = new Map<string, string[]>()
      for (const push of cpo.pushes) byUid.set(push.uid, [...(byUid.get(push.uid) ?? []), String(push.body.last_updated)])
      for (const [uid, stamps] of byUid) {
        for (let i = 1; i < stamps.length; i++) assert.ok(stamps[i]! >= stamps[i - 1]!, `${uid}: ${stamps[i]} after ${stamps[i - 1]}`)
      }
    })

    test('reconcile finds the tokens the CPO lost or holds wrongly and pushes them again', async () => {
      const reconcile = async () =>
        (
          await t.app.inject({ method: 'POST', url: `/admin/v1/ocpi/partners/${partnerId}/reconcile`, headers: { 'x-api-key': ADMIN_KEY } })
        ).json()
      // Keys changed before the registration may never have been sent: reconcile brings them over.
      await waitFor(async () => (await reconcile()).differing === 0, 20_000, 'in sync')
      const lost = [...cpo.tokens.keys()].slice(0, 5)
      for (const key of lost) cpo.tokens.delete(key)
      const wrong = [...cpo.tokens.keys()][10]!
      cpo.tokens.set(wrong, { ...cpo.tokens.get(wrong)!, valid: !cpo.tokens.get(wrong)!.valid })
      const result = await t.app.inject({
        method: 'POST',
        url: `/admin/v1/ocpi/partners/${partnerId}/reconcile`,
        headers: { 'x-api-key': ADMIN_KEY },
      })
      assert.equal(result.statusCode, 200, result.body)
      assert.equal(result.json().differing, 6)
      await waitFor(() => lost.every((k) => cpo.tokens.has(k)), 20_000, 'lost tokens restored')
      await waitFor(async () => (await reconcile()).differing === 0, 20_000, 'nothing left to reconcile')
    })

    test('a change the publisher has not picked up yet already counts in the backlog', async () => {
      const backlog = async () =>
        (await t.app.inject({ method: 'GET', url: `/admin/v1/ocpi/partners/${partnerId}`, headers: { 'x-api-key': ADMIN_KEY } })).json()
          .delivery.backlog as number
      await waitFor(async () => (await backlog()) === 0, 20_000, 'backlog drained')
      // With the pipeline stopped, the change waits in the outbox, not in a delivery row.
      await t.platform.ocpi.push.stop()
      try {
        const created = await drive('POST', '/v1/users/driver/charging-keys/plug-and-charge', { pcid: 'WDBRF61J21F123456' })
        assert.equal(created.statusCode, 201)
        assert.equal(await backlog(), 1)
      } finally {
        t.platform.ocpi.push.start()
      }
      await waitFor(async () => (await backlog()) === 0, 20_000, 'delivered')
    })
  })
}
