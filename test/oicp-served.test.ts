import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { sql } from 'kysely'
import { formatEvcoId } from '../src/protocols/oicp/evco-id.ts'
import { SERVED, type ServedOperationId } from '../src/protocols/oicp/protocol.ts'
import { driveSession, HubjectDriver, newSessionId, type CdrInput, type HubjectAnswer } from '../src/sim/hubject/driver.ts'
import { assertValidOicp, validatorFor, withoutNulls } from './oicp-spec.ts'
import { backends, startTestPlatform, waitFor, type TestPlatform } from './support.ts'

const KNOWN = formatEvcoId('DE8PSC0AD21B13')
const LOCKED = formatEvcoId('DE8PSCLOCKED01')
const EXPIRED = formatEvcoId('DE8PSCEXPIRED1')
const NOT_YET = formatEvcoId('DE8PSCNOTYET01')
const UNKNOWN = formatEvcoId('DE8PSCUNKNOWN1')
const OFFLINE = formatEvcoId('DE8PSCOFFLINE1')
const CARD = '04A1B2C3D4E5F6'

const startAnswer = validatorFor('eRoamingAuthorizationStart')
const stopAnswer = validatorFor('eRoamingAuthorizationStop')
const acknowledgment = validatorFor('eRoamingAcknowledgment')

/** The answer is a spec payload of its operation, whatever it says. */
function valid(op: ServedOperationId, answer: HubjectAnswer) {
  const validator = op === 'authorizeStart' ? startAnswer : op === 'authorizeStop' ? stopAnswer : acknowledgment
  assertValidOicp(validator, answer.body, `${op} answer`)
  return answer.body as Record<string, any>
}

const minutesAgo = (minutes: number) => new Date(Date.now() - minutes * 60_000)

for (const backend of backends()) {
  describe(`Hubject calls us, an online EMP, over OICP 2.3 (${backend})`, () => {
    let t: TestPlatform
    let hubject: HubjectDriver
    let orgKey: string
    let otherOrgKey: string
    const drive = (method: 'GET' | 'POST' | 'PATCH', url: string, payload?: object, key = orgKey) =>
      t.request(key, { method, url, ...(payload && { payload }) })

    const start = async (identification: Parameters<HubjectDriver['authorizeStart']>[0]['identification'], sessionId = newSessionId()) => {
      const answer = await hubject.authorizeStart({ sessionId, identification, cpoPartnerSessionId: 'cpo-4711' })
      assert.equal(answer.status, 200)
      return { sessionId, body: valid('authorizeStart', answer) }
    }

    before(async () => {
      t = await startTestPlatform(backend, { OPENPNC_OICP_PORT: '0', OPENPNC_KEY_DIRECTORY_POLL_MS: '100' }, { listen: true })
      assert.ok(t.oicpUrl, 'the OICP listener runs')
      hubject = new HubjectDriver({ baseUrl: t.oicpUrl!, operatorId: 'DE*ION' })
      orgKey = (await t.createOrganization({ name: 'OICP Mobility' })).apiKey
      otherOrgKey = (await t.createOrganization({ name: 'Other Mobility', contractIdPrefixes: ['DE-8PT'] })).apiKey
      await drive('POST', '/v1/users', { id: 'driver-1' })
      await drive('POST', '/v1/users', { id: 'driver-1' }, otherOrgKey)
      for (const contractId of [KNOWN, LOCKED, EXPIRED, NOT_YET, OFFLINE]) {
        const created = await drive('POST', '/v1/users/driver-1/charging-keys/plug-and-charge', { pcid: 'WDBRF61J21F123456', contractId })
        assert.equal(created.statusCode, 201, created.body)
      }
      const card = await drive('POST', '/v1/users/driver-1/charging-keys', {
        keyIdentifier: CARD,
        contractId: formatEvcoId('DE8PSCRFIDCRD1'),
        visualNumber: 'CARD-1',
      })
      assert.equal(card.statusCode, 201, card.body)
      await drive('PATCH', `/v1/users/driver-1/charging-keys/${LOCKED}`, { enabled: false })
      await sql`UPDATE charging_keys SET valid_from = now() - interval '2 days', valid_to = now() - interval '1 day'
                WHERE emaid_identity = 'DE8PSCEXPIRED1'`.execute(t.platform.db)
      await sql`UPDATE charging_keys SET valid_from = now() + interval '1 day' WHERE emaid_identity = 'DE8PSCNOTYET01'`.execute(
        t.platform.db,
      )
      // Written behind the key store's back: the directory learns it from the key events.
      await waitFor(async () => (await start({ plugAndCharge: NOT_YET })).body.StatusCode.Code === '210', 15_000, 'not yet valid')
      await waitFor(async () => (await start({ plugAndCharge: EXPIRED })).body.StatusCode.Code === '210', 15_000, 'expired')
    })
    after(async () => {
      await hubject.close()
      await t.close()
    })

    describe('AuthorizeStart', () => {
      test('a known Plug&Charge EvcoID is Authorized 000 with our ProviderID, the session IDs echoed', async () => {
        const { sessionId, body } = await start({ plugAndCharge: KNOWN })
        assert.equal(body.AuthorizationStatus, 'Authorized')
        assert.equal(body.StatusCode.Code, '000')
        assert.equal(body.ProviderID, 'DE*8PS')
        assert.equal(body.SessionID, sessionId)
        assert.equal(body.CPOPartnerSessionID, 'cpo-4711')
        assert.deepEqual(body.AuthorizationStopIdentifications, [{ PlugAndChargeIdentification: { EvcoID: KNOWN } }])
      })

      const refusals: Array<[string, Parameters<HubjectDriver['authorizeStart']>[0]['identification'], string, RegExp]> = [
        ['a disabled key', { plugAndCharge: LOCKED }, '200', /EvcoID locked/],
        ['an expired contract', { plugAndCharge: EXPIRED }, '210', /No valid contract.*expired/],
        ['a contract not valid yet', { plugAndCharge: NOT_YET }, '210', /No valid contract.*not valid yet/],
        ['an unknown Plug&Charge EvcoID', { plugAndCharge: UNKNOWN }, '105', /EvcoID unknown/],
        ['an unknown RFID UID', { rfid: '0A0B0C0D' }, '102', /RFID UID unknown/],
        ['a QR code', { qrCode: KNOWN }, '101', /QR code/],
      ]
      for (const [name, identification, code, description] of refusals) {
        test(`${name} is NotAuthorized ${code} with a description, never 000`, async () => {
          const { sessionId, body } = await start(identification)
          assert.equal(body.AuthorizationStatus, 'NotAuthorized')
          assert.equal(body.StatusCode.Code, code)
          assert.match(body.StatusCode.Description, description)
          assert.equal(body.SessionID, sessionId)
          assert.equal(body.ProviderID, 'DE*8PS')
        })
      }

      test('an RFID card of ours is Authorized, and so is a remote start with a contract of ours', async () => {
        const card = await start({ rfid: CARD.toLowerCase() })
        assert.equal(card.body.AuthorizationStatus, 'Authorized')
        assert.deepEqual(card.body.AuthorizationStopIdentifications, [{ RFIDMifareFamilyIdentification: { UID: CARD } }])
        assert.equal((await start({ remote: KNOWN })).body.AuthorizationStatus, 'Authorized')
      })

      test('a request without Identification is NotAuthorized 022 naming the field, answered 200', async () => {
        const answer = await hubject.post('authorizeStart', {
          SessionID: newSessionId(),
          OperatorID: 'DE*ION',
          EvseID: 'DE*ION*E1',
          Identification: null,
        })
        assert.equal(answer.status, 200)
        const body = valid('authorizeStart', answer)
        assert.equal(body.AuthorizationStatus, 'NotAuthorized')
        assert.equal(body.StatusCode.Code, '022')
        assert.match(body.StatusCode.Description, /Identification/)
      })

      test('every decision is in the decision log under protocol oicp, with the identifier as sent', async () => {
        await start({ plugAndCharge: KNOWN })
        await t.platform.decisions.flush()
        const rows = await t.platform.db
          .selectFrom('authorization_decisions')
          .select(['protocol', 'token_uid', 'allowed'])
          .where('token_uid', 'in', [KNOWN, LOCKED, UNKNOWN])
          .execute()
        assert.ok(rows.length >= 3)
        assert.ok(rows.every((r) => r.protocol === 'oicp'))
        assert.deepEqual(new Set(rows.map((r) => r.allowed)), new Set(['ALLOWED', 'BLOCKED', 'UNKNOWN']))
      })
    })

    describe('AuthorizeStop', () => {
      test('a session we authorized is stopped by the same identification, Authorized 000', async () => {
        const { sessionId } = await start({ plugAndCharge: KNOWN })
        const answer = await hubject.authorizeStop({ sessionId, identification: { plugAndCharge: KNOWN } })
        const body = valid('authorizeStop', answer)
        assert.equal(body.AuthorizationStatus, 'Authorized')
        assert.equal(body.StatusCode.Code, '000')
        assert.equal(body.SessionID, sessionId)
      })

      test('another identification, or a session we did not authorize, is NotAuthorized 400 "Session is invalid"', async () => {
        const { sessionId } = await start({ rfid: CARD })
        for (const [session, identification] of [
          [sessionId, { plugAndCharge: KNOWN }],
          [newSessionId(), { rfid: CARD }],
        ] as const) {
          const body = valid('authorizeStop', await hubject.authorizeStop({ sessionId: session, identification }))
          assert.equal(body.AuthorizationStatus, 'NotAuthorized')
          assert.equal(body.StatusCode.Code, '400')
          assert.match(body.StatusCode.Description, /Session is invalid/)
        }
        assert.equal(
          valid('authorizeStop', await hubject.authorizeStop({ sessionId, identification: { rfid: CARD } })).AuthorizationStatus,
          'Authorized',
        )
      })

      test('a refused start is not remembered: its stop is 400', async () => {
        const { sessionId } = await start({ plugAndCharge: LOCKED })
        const body = valid('authorizeStop', await hubject.authorizeStop({ sessionId, identification: { plugAndCharge: LOCKED } }))
        assert.equal(body.StatusCode.Code, '400')
      })
    })

    describe('charge detail records', () => {
      const cdr = (sessionId: string, energy = 21.5, identification: CdrInput['identification'] = { plugAndCharge: KNOWN }): CdrInput => ({
        sessionId,
        identification,
        sessionStart: minutesAgo(60),
        sessionEnd: minutesAgo(5),
        chargingStart: minutesAgo(59),
        chargingEnd: minutesAgo(10),
        consumedEnergy: energy,
      })
      const cdrCount = async (sessionId: string) =>
        Number(
          (
            await sql<{ n: string }>`SELECT count(*) AS n FROM charge_detail_records r JOIN charging_sessions s ON s.id = r.session_id
                                     WHERE s.external_id = ${sessionId}`.execute(t.platform.db)
          ).rows[0]!.n,
        )

      test("the simulated Hubject's CDR is a spec request once its nulls are removed", () => {
        const body = hubject.cdrBody(cdr(newSessionId()))
        assert.ok(Object.values(body).includes(null), 'it carries explicit nulls')
        assertValidOicp(validatorFor('eRoamingChargeDetailRecord'), withoutNulls(body))
      })

      test('a CDR is stored before Result true 000, and a repeat is acknowledged without a second record', async () => {
        const { sessionId } = await start({ plugAndCharge: KNOWN })
        const input = cdr(sessionId)
        const first = valid('chargeDetailRecord', await hubject.sendCdr(input))
        assert.equal(first.Result, true)
        assert.equal(first.StatusCode.Code, '000')
        assert.equal(first.SessionID, sessionId)
        assert.equal(await cdrCount(sessionId), 1)
        // Hubject's retry: the same record, keys in another order, a null turned absent
        const again = { ...hubject.cdrBody(input) }
        delete again.MeterValueInBetween
        const reordered = Object.fromEntries(Object.entries(again).reverse())
        const second = valid('chargeDetailRecord', await hubject.sendCdr(reordered))
        assert.equal(second.Result, true)
        assert.equal(second.StatusCode.Code, '000')
        assert.equal(await cdrCount(sessionId), 1)
      })

      test('twenty identical CDRs at once, for a session we never saw, are all acknowledged and stored once', async () => {
        const sessionId = newSessionId()
        const body = hubject.cdrBody(cdr(sessionId, 7.25))
        const answers = await Promise.all(Array.from({ length: 20 }, () => hubject.sendCdr(body)))
        for (const answer of answers) {
          assert.equal(answer.status, 200)
          assert.equal(valid('chargeDetailRecord', answer).Result, true)
        }
        assert.equal(await cdrCount(sessionId), 1)
        const sessions = await t.platform.db.selectFrom('charging_sessions').selectAll().where('external_id', '=', sessionId).execute()
        assert.equal(sessions.length, 1)
      })

      test('a different CDR for the same SessionID is refused with Result false and the reason; the first stays', async () => {
        const { sessionId } = await start({ plugAndCharge: KNOWN })
        assert.equal(valid('chargeDetailRecord', await hubject.sendCdr(cdr(sessionId, 10))).Result, true)
        const other = valid('chargeDetailRecord', await hubject.sendCdr(cdr(sessionId, 12)))
        assert.equal(other.Result, false)
        assert.equal(other.StatusCode.Code, '022')
        assert.match(other.StatusCode.Description, /another charge detail record/)
        const stored = await sql<{
          energy_kwh: string
        }>`SELECT r.energy_kwh FROM charge_detail_records r JOIN charging_sessions s ON s.id = r.session_id
                                                          WHERE s.external_id = ${sessionId}`.execute(t.platform.db)
        assert.equal(Number(stored.rows[0]!.energy_kwh), 10)
      })

      test("a CDR of a session no AuthorizeStart told us of is stored under the key its EvcoID names (the CPO's offline whitelist)", async () => {
        const sessionId = newSessionId()
        assert.equal(valid('chargeDetailRecord', await hubject.sendCdr(cdr(sessionId, 3, { plugAndCharge: OFFLINE }))).Result, true)
        const row = await t.platform.db
          .selectFrom('charging_sessions')
          .selectAll()
          .where('external_id', '=', sessionId)
          .executeTakeFirstOrThrow()
        assert.equal(row.status, 'COMPLETED')
        assert.equal(row.authorized_at, null)
      })

      test('a CDR of an unknown session naming no key of ours is Result false 400, and nothing is stored', async () => {
        const sessionId = newSessionId()
        const body = valid('chargeDetailRecord', await hubject.sendCdr(cdr(sessionId, 3, { plugAndCharge: UNKNOWN })))
        assert.equal(body.Result, false)
        assert.equal(body.StatusCode.Code, '400')
        assert.equal(await cdrCount(sessionId), 0)
      })

      const malformed: Array<[string, (body: Record<string, unknown>) => unknown, RegExp]> = [
        ['without SessionID', (b) => ({ ...b, SessionID: null }), /SessionID/],
        ['with a SessionID that is no GUID', (b) => ({ ...b, SessionID: 'not-a-guid' }), /SessionID/],
        ['with ConsumedEnergy as text', (b) => ({ ...b, ConsumedEnergy: '12.5' }), /ConsumedEnergy/],
        ['with a negative ConsumedEnergy', (b) => ({ ...b, ConsumedEnergy: -1 }), /ConsumedEnergy/],
        ['without ChargingEnd', (b) => ({ ...b, ChargingEnd: undefined }), /ChargingEnd/],
        ['with a SessionStart that is no date-time', (b) => ({ ...b, SessionStart: 'yesterday' }), /SessionStart/],
        ['that is an array', () => [1, 2], /body/],
      ]
      for (const [name, change, field] of malformed) {
        test(`a CDR ${name} is Result false 022 naming the field, never a 500`, async () => {
          const answer = await hubject.sendCdr(change(hubject.cdrBody(cdr(newSessionId()))) as Record<string, unknown>)
          assert.equal(answer.status, 200)
          const body = valid('chargeDetailRecord', answer)
          assert.equal(body.Result, false)
          assert.equal(body.StatusCode.Code, '022')
          assert.match(body.StatusCode.Description, field)
        })
      }
    })

    describe('charging notifications', () => {
      test('Start, Progress, End and Error are stored against their session, in order, a repeat once', async () => {
        const { sessionId } = await start({ plugAndCharge: KNOWN })
        const identification = { plugAndCharge: KNOWN }
        const chargingStart = minutesAgo(30)
        const sent = [
          { type: 'Start' as const, chargingStart },
          { type: 'Progress' as const, chargingStart, eventOccurred: minutesAgo(20), consumedEnergyProgress: 4.5 },
          { type: 'Error' as const, errorType: 'ConnectorError' as const, errorAdditionalInfo: 'plug wobbles' },
          { type: 'End' as const, chargingStart, chargingEnd: minutesAgo(10), consumedEnergy: 9.75 },
        ]
        for (const notification of sent) {
          const input = { sessionId, identification, ...notification }
          assertValidOicp(validatorFor(`eRoamingChargingNotification${notification.type}`), withoutNulls(hubject.notificationBody(input)))
          const body = valid('chargingNotification', await hubject.sendNotification(input))
          assert.equal(body.Result, true, JSON.stringify(body))
          assert.equal(body.StatusCode.Code, '000')
        }
        assert.equal(valid('chargingNotification', await hubject.sendNotification({ sessionId, identification, ...sent[0]! })).Result, true)
        const rows = await sql<{ type: string }>`SELECT n.type FROM session_notifications n JOIN charging_sessions s ON s.id = n.session_id
                                                 WHERE s.external_id = ${sessionId} ORDER BY n.received_at, n.id`.execute(t.platform.db)
        assert.deepEqual(rows.rows.map((r) => r.type).sort(), ['end', 'error', 'progress', 'start'])
        const session = await t.platform.sessions.find({ protocol: 'oicp', externalId: sessionId })
        assert.equal(session?.status, 'ACTIVE')
        assert.equal(session?.energyKwh, 9.75)
      })

      test('a notification of an unknown session naming no key of ours is Result false 400', async () => {
        const body = valid(
          'chargingNotification',
          await hubject.sendNotification({
            type: 'Start',
            sessionId: newSessionId(),
            identification: { rfid: '0A0B0C0D' },
            chargingStart: new Date(),
          }),
        )
        assert.equal(body.Result, false)
        assert.equal(body.StatusCode.Code, '400')
      })

      test('a notification of an unknown Type, or without what its Type requires, is Result false 022 naming the field', async () => {
        const sessionId = newSessionId()
        for (const [body, field] of [
          [{ Type: 'Pause', SessionID: sessionId, EvseID: 'DE*ION*E1', OperatorID: 'DE*ION' }, /Type/],
          [
            { Type: 'Progress', SessionID: sessionId, EvseID: 'DE*ION*E1', OperatorID: 'DE*ION', ChargingStart: new Date().toISOString() },
            /EventOccurred/,
          ],
          [{ Type: 'Error', SessionID: sessionId, EvseID: 'DE*ION*E1', OperatorID: 'DE*ION', ErrorType: 'Oops' }, /ErrorType/],
        ] as const) {
          const answer = valid('chargingNotification', await hubject.post('chargingNotification', body))
          assert.equal(answer.Result, false)
          assert.equal(answer.StatusCode.Code, '022')
          assert.match(answer.StatusCode.Description, field)
        }
      })
    })

    describe('a whole session', () => {
      test('driven as Hubject relays it, every step is a success and the session ends completed with its energy', async () => {
        const { sessionId, steps } = await driveSession(hubject, { identification: { rfid: CARD }, energyKwh: 18.4 })
        assert.deepEqual(
          steps.map((s) => `${s.operation}${s.detail ? ` ${s.detail}` : ''}`),
          [
            'authorizeStart',
            'chargingNotification Start',
            'chargingNotification Progress',
            'chargingNotification End',
            'authorizeStop',
            'chargeDetailRecord',
          ],
        )
        for (const s of steps) {
          assert.equal(s.status, 200)
          assert.equal(valid(s.operation, { status: s.status, body: s.body }).StatusCode.Code, '000', `${s.operation} ${s.detail ?? ''}`)
        }
        const session = await t.platform.sessions.find({ protocol: 'oicp', externalId: sessionId })
        assert.equal(session?.status, 'COMPLETED')
        assert.equal(session?.energyKwh, 18.4)
        assert.ok(session?.stoppedAt && session.authorizedAt)
      })

      test('a refused start ends the drive after the start', async () => {
        const { steps } = await driveSession(hubject, { identification: { plugAndCharge: UNKNOWN } })
        assert.deepEqual(
          steps.map((s) => s.operation),
          ['authorizeStart'],
        )
      })
    })

    describe('the listener', () => {
      test('without TLS settings it serves plain HTTP on loopback only, below the default prefix /oicp', () => {
        assert.match(t.oicpUrl!, /^http:\/\/127\.0\.0\.1:\d+\/oicp$/)
      })

      test('every served operation of the table is reachable below the prefix, with and without a trailing slash', async () => {
        for (const op of Object.keys(SERVED) as ServedOperationId[]) {
          for (const slash of ['', '/']) {
            const answer = await hubject.post(op, {}, { path: `${SERVED[op].path.replace('{operatorID}', 'DE*ION')}${slash}` })
            assert.equal(answer.status, 200, `${op}${slash}: ${JSON.stringify(answer.body)}`)
            valid(op, answer)
          }
        }
      })

      test('a body that is not JSON is a 400 acknowledgment with 022, an unknown path a 404, another method a 405', async () => {
        const broken = await hubject.post('chargeDetailRecord', '{"SessionID":')
        assert.equal(broken.status, 400)
        assert.equal(valid('chargeDetailRecord', broken).StatusCode.Code, '022')
        const unknown = await hubject.post('chargeDetailRecord', {}, { path: '/cdrmgmt/v99/operators/DE*ION/charge-detail-record' })
        assert.equal(unknown.status, 404)
        assertValidOicp(acknowledgment, unknown.body)
        const url = hubject.url('authorizeStart')
        const get = await fetch(url)
        assert.equal(get.status, 405)
        assert.equal(get.headers.get('allow'), 'POST')
      })
    })

    describe('the Drive API shows the sessions', () => {
      let sessionIds: string[]
      before(async () => {
        // Three sessions a minute apart, the newest last; the second of the card.
        sessionIds = []
        for (const identification of [{ plugAndCharge: OFFLINE }, { rfid: CARD }, { plugAndCharge: OFFLINE }] as const) {
          const { sessionId } = await start(identification)
          sessionIds.push(sessionId)
        }
        const offlineCdr = { sessionId: sessionIds[0]!, identification: { plugAndCharge: OFFLINE } }
        await hubject.sendCdr({
          ...offlineCdr,
          sessionStart: new Date('2030-01-01T10:00:00Z'),
          sessionEnd: new Date('2030-01-01T11:00:00Z'),
          consumedEnergy: 30,
        })
        await hubject.sendCdr({
          sessionId: sessionIds[1]!,
          identification: { rfid: CARD },
          sessionStart: new Date('2030-01-01T12:00:00Z'),
          sessionEnd: new Date('2030-01-01T13:00:00Z'),
          consumedEnergy: 11,
        })
        await hubject.sendCdr({
          sessionId: sessionIds[2]!,
          identification: { plugAndCharge: OFFLINE },
          sessionStart: new Date('2030-01-01T14:00:00Z'),
          sessionEnd: new Date('2030-01-01T15:00:00Z'),
          consumedEnergy: 5,
        })
      })

      test("a user's sessions come newest first, a page at a time, without a session twice", async () => {
        const seen: string[] = []
        let cursor: string | undefined
        do {
          const page = await drive('GET', `/v1/users/driver-1/sessions?limit=2${cursor ? `&cursor=${cursor}` : ''}`)
          assert.equal(page.statusCode, 200, page.body)
          const body = page.json()
          assert.ok(body.sessions.length <= 2)
          seen.push(...body.sessions.map((s: { protocolSessionId: string }) => s.protocolSessionId))
          cursor = body.cursor
        } while (cursor)
        assert.equal(new Set(seen).size, seen.length)
        assert.deepEqual(seen.slice(0, 3), [...sessionIds].reverse(), 'the 2030 sessions first, the newest first')
      })

      test('filters by key and by time window', async () => {
        const byCard = (await drive('GET', `/v1/users/driver-1/sessions?keyId=${CARD.toLowerCase()}&from=2030-01-01T00:00:00Z`)).json()
        assert.deepEqual(
          byCard.sessions.map((s: { protocolSessionId: string }) => s.protocolSessionId),
          [sessionIds[1]],
        )
        const window = (await drive('GET', '/v1/users/driver-1/sessions?from=2030-01-01T11:00:00Z&to=2030-01-01T14:00:00Z')).json()
        assert.deepEqual(
          window.sessions.map((s: { protocolSessionId: string }) => s.protocolSessionId),
          [sessionIds[1]],
        )
        const none = await drive('GET', '/v1/users/driver-1/sessions?keyId=DE8PSCNOSUCHK1')
        assert.equal(none.statusCode, 404)
        assert.equal(none.json().error.code, 'charging_key_not_found')
      })

      test('one session shows its status, EVSE, operator, start and end, energy and its CDR as received', async () => {
        const list = (await drive('GET', '/v1/users/driver-1/sessions?limit=1')).json()
        const id = list.sessions[0].id
        const response = await drive('GET', `/v1/users/driver-1/sessions/${id}`)
        assert.equal(response.statusCode, 200, response.body)
        const session = response.json()
        assert.equal(session.status, 'completed')
        assert.equal(session.protocol, 'oicp')
        assert.equal(session.protocolSessionId, sessionIds[2])
        assert.equal(session.evseId, 'DE*ION*E0001*1')
        assert.equal(session.operatorId, 'DE*ION')
        assert.equal(session.started, '2030-01-01T14:00:00.000Z')
        assert.equal(session.ended, '2030-01-01T15:00:00.000Z')
        assert.equal(session.energyKwh, 5)
        assert.equal(session.key.keyId, OFFLINE)
        assert.equal(session.cdr.record.SessionID, sessionIds[2])
        assert.equal(session.cdr.record.PartnerProductID, null, 'kept as received, nulls included')
        assert.ok(session.authorized)
      })

      test("another organization's user, or a session of another user, is a 404", async () => {
        const id = (await drive('GET', '/v1/users/driver-1/sessions?limit=1')).json().sessions[0].id
        const foreign = await drive('GET', `/v1/users/driver-1/sessions/${id}`, undefined, otherOrgKey)
        assert.equal(foreign.statusCode, 404)
        assert.equal(foreign.json().error.code, 'session_not_found')
        assert.deepEqual((await drive('GET', '/v1/users/driver-1/sessions', undefined, otherOrgKey)).json().sessions, [])
        assert.equal((await drive('GET', '/v1/users/nobody/sessions')).json().error.code, 'user_not_found')
        assert.equal((await drive('GET', '/v1/users/driver-1/sessions/not-a-uuid')).json().error.code, 'session_not_found')
      })

      test('a cursor we did not issue is a 400 invalid_cursor', async () => {
        const response = await drive('GET', '/v1/users/driver-1/sessions?cursor=bm9wZQ')
        assert.equal(response.statusCode, 400)
        assert.equal(response.json().error.code, 'invalid_cursor')
      })
    })
  })
}
