import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Value } from '@sinclair/typebox/value'
import { request } from 'undici'
import { CdrSchema, SessionPatchSchema, SessionSchema, type OcpiVersion } from '../src/protocols/ocpi/protocol.ts'
import { costOfOcpi, mergeSessionPatch, statusOfOcpiSession, type OcpiSession } from '../src/protocols/ocpi/sessions.ts'
import { advancedStatus, sessionFromRow, SESSION_STATUSES } from '../src/services/sessions/sessions.ts'
import { presentSession } from '../src/protocols/drive-api/schemas.ts'
import { CpoSimulator, type SentRequest } from '../src/sim/cpo.ts'
import { assertValidOcpi, ocpiRequestValidator, ocpiResponseValidator } from './ocpi-spec.ts'
import { backends, startTestPlatform, type TestPlatform } from './support.ts'

const SESSION_PATH = '/sessions/{country_code}/{party_id}/{session_id}'

/** The official schema of what a CPO sends to, and what we answer on, our Sessions and CDRs Receivers. */
function specOf(version: OcpiVersion, sent: { method: SentRequest['method'] | 'GET'; url: string }) {
  const module = sent.url.includes('/cdrs') ? 'cdrs' : 'sessions'
  const path = module === 'cdrs' ? (sent.method === 'GET' ? '/cdrs/{cdr_id}' : '/cdrs') : SESSION_PATH
  return {
    request: () => ocpiRequestValidator(version, module, 'receiver-interface', path, sent.method),
    answer: (status: number) => ocpiResponseValidator(version, module, 'receiver-interface', path, sent.method, status),
  }
}

const TOKEN = { country_code: 'DE', party_id: '8PS', uid: '04A2B3C4D5E6F7', type: 'RFID', contract_id: 'DE-8PS-RFID00001' }

const session: OcpiSession = {
  country_code: 'NL',
  party_id: 'S21',
  id: 'S-1',
  start_date_time: '2026-02-01T10:00:00Z',
  kwh: 0,
  cdr_token: TOKEN,
  auth_method: 'AUTH_REQUEST',
  location_id: 'LOC-1',
  evse_uid: 'EVSE-1',
  connector_id: '1',
  currency: 'EUR',
  status: 'PENDING',
  last_updated: '2026-02-01T10:00:00Z',
}

const cdrOf = (version: OcpiVersion, overrides: Record<string, unknown> = {}) => ({
  country_code: 'NL',
  party_id: 'S21',
  id: 'CDR-1',
  start_date_time: '2026-02-01T10:00:00Z',
  end_date_time: '2026-02-01T11:00:00Z',
  session_id: 'S-1',
  cdr_token: TOKEN,
  auth_method: 'AUTH_REQUEST',
  cdr_location: {
    id: 'LOC-1',
    address: 'Stationsplein 1',
    city: 'Amsterdam',
    country: 'NLD',
    coordinates: { latitude: '52.378900', longitude: '4.900300' },
    evse_uid: 'EVSE-1',
    evse_id: 'NL*S21*E1*1',
    connector_id: '1',
    connector_standard: 'IEC_62196_T2',
    connector_format: 'SOCKET',
    connector_power_type: 'AC_3_PHASE',
  },
  currency: 'EUR',
  charging_periods: [{ start_date_time: '2026-02-01T10:00:00Z', dimensions: [{ type: 'ENERGY', volume: 11 }] }],
  total_cost: version === '2.2.1' ? { excl_vat: 4.29, incl_vat: 5.19 } : { before_taxes: 4.29, taxes: [{ name: 'VAT', amount: 0.9 }] },
  total_energy: 11,
  total_time: 1,
  last_updated: '2026-02-01T11:00:00Z',
  ...overrides,
})

describe('OCPI sessions and CDRs, their rules', () => {
  test("OCPI's statuses map onto the store: pending and reservation are authorized, completed is stopped until the CDR", () => {
    assert.equal(statusOfOcpiSession('PENDING'), 'AUTHORIZED')
    assert.equal(statusOfOcpiSession('RESERVATION'), 'AUTHORIZED')
    assert.equal(statusOfOcpiSession('ACTIVE'), 'ACTIVE')
    assert.equal(statusOfOcpiSession('COMPLETED'), 'STOPPED')
    assert.equal(statusOfOcpiSession('INVALID'), 'INVALID')
  })

  test('a status only moves forward, and completed and invalid are both final', () => {
    assert.equal(advancedStatus('AUTHORIZED', 'INVALID'), 'INVALID')
    assert.equal(advancedStatus('STOPPED', 'INVALID'), 'INVALID')
    assert.equal(advancedStatus('STOPPED', 'COMPLETED'), 'COMPLETED')
    assert.equal(advancedStatus('INVALID', 'COMPLETED'), 'INVALID', 'a late CDR does not undo INVALID')
    assert.equal(advancedStatus('COMPLETED', 'INVALID'), 'COMPLETED')
    assert.equal(advancedStatus('INVALID', 'ACTIVE'), 'INVALID')
    for (const status of SESSION_STATUSES) assert.equal(advancedStatus(status, 'AUTHORIZED'), status)
  })

  test('a PATCH adds its charging periods to the stored ones; an empty list changes nothing; other fields replace theirs', () => {
    const period = (at: string) => ({ start_date_time: at, dimensions: [{ type: 'ENERGY', volume: 1 }] })
    const once = mergeSessionPatch(session, { kwh: 1, charging_periods: [period('2026-02-01T10:00:00Z')], last_updated: 'x' })
    const twice = mergeSessionPatch(once, { charging_periods: [period('2026-02-01T10:30:00Z')], last_updated: 'y' })
    assert.equal(twice.charging_periods?.length, 2)
    assert.equal(twice.kwh, 1)
    assert.equal(twice.last_updated, 'y')
    assert.equal(mergeSessionPatch(twice, { charging_periods: [], last_updated: 'z' }).charging_periods?.length, 2)
  })

  test("a Price is read as its version spells it, and the other version's Price is refused naming the field", () => {
    assert.deepEqual(costOfOcpi('2.2.1', 'EUR', { excl_vat: 10, incl_vat: 12.1 }, 'total_cost'), {
      currency: 'EUR',
      exclVat: 10,
      inclVat: 12.1,
    })
    assert.deepEqual(costOfOcpi('2.3.0', 'EUR', { before_taxes: 10, taxes: [{ name: 'VAT', amount: 2.1 }] }, 'total_cost'), {
      currency: 'EUR',
      exclVat: 10,
      inclVat: 12.1,
    })
    assert.deepEqual(costOfOcpi('2.3.0', 'EUR', { before_taxes: 10 }, 'total_cost'), { currency: 'EUR', exclVat: 10, inclVat: null })
    assert.throws(() => costOfOcpi('2.2.1', 'EUR', { before_taxes: 10 }, 'total_cost'), /total_cost must be an OCPI 2.2.1 Price/)
    assert.throws(() => costOfOcpi('2.3.0', 'EUR', { excl_vat: 10 }, 'total_cost'), /total_cost must be an OCPI 2.3.0 Price/)
  })

  test('what the checked Session and CDR schemas accept the official schemas accept, and what they refuse the spec refuses', () => {
    for (const version of ['2.2.1', '2.3.0'] as const) {
      const put = specOf(version, { method: 'PUT', url: '/sessions/x' }).request()
      const patch = specOf(version, { method: 'PATCH', url: '/sessions/x' }).request()
      const post = specOf(version, { method: 'POST', url: '/cdrs' }).request()
      assert.ok(Value.Check(SessionSchema, session))
      assertValidOcpi(put, session, 'Session')
      assert.ok(Value.Check(SessionPatchSchema, { kwh: 2, last_updated: '2026-02-01T10:05:00Z' }))
      assertValidOcpi(patch, { kwh: 2, last_updated: '2026-02-01T10:05:00Z' }, 'SessionPatch')
      const cdr = cdrOf(version)
      assert.ok(Value.Check(CdrSchema, cdr))
      assertValidOcpi(post, cdr, 'CDR')
      // Each validator can fail: the same invalid payloads are refused by ours and by the spec's.
      for (const bad of [
        { ...session, cdr_token: undefined },
        { ...session, kwh: 'lots' },
        { ...session, status: 'CHARGING' },
        { ...session, location_id: 'L'.repeat(37) },
      ]) {
        assert.equal(Value.Check(SessionSchema, bad), false, JSON.stringify(bad))
        assert.throws(() => assertValidOcpi(put, bad), /does not match the OCPI spec/)
      }
      assert.equal(Value.Check(SessionPatchSchema, { kwh: 2 }), false, 'a PATCH without last_updated')
      assert.throws(() => assertValidOcpi(patch, { kwh: 2 }), /last_updated/)
      for (const bad of [cdrOf(version, { total_energy: undefined }), cdrOf(version, { charging_periods: [] })]) {
        assert.equal(Value.Check(CdrSchema, bad), false)
        assert.throws(() => assertValidOcpi(post, bad), /does not match the OCPI spec/)
      }
    }
  })

  test('a session is read alike from its row and from a JSON snapshot of the row, and presented alike', () => {
    const row = {
      id: '5a7c1e90-2b3d-4f6a-8c9e-0d1f2a3b4c5d',
      organization_id: 'o',
      user_id: 'u',
      key_id: 'k',
      protocol: 'ocpi' as const,
      issuer: 'NL*S21',
      external_id: 'S-1',
      authorization_reference: 'ref',
      evse_id: 'NL*S21*E1*1',
      operator_id: 'NL*S21',
      identification_method: 'RFID',
      identification: '04A2B3C4D5E6F7',
      status: 'COMPLETED' as const,
      started_at: new Date('2026-02-01T10:00:00Z'),
      ended_at: new Date('2026-02-01T11:00:00Z'),
      charging_started_at: null,
      charging_ended_at: null,
      energy_kwh: '11.000',
      authorized_at: new Date('2026-02-01T09:59:59Z'),
      stopped_at: null,
      created_at: new Date('2026-02-01T09:59:59Z'),
      updated_at: new Date('2026-02-01T11:00:01Z'),
      location_id: 'LOC-1',
      evse_uid: 'EVSE-1',
      connector_id: '1',
      currency: 'EUR',
      total_cost_excl_vat: '4.29',
      total_cost_incl_vat: 5.19,
      record: null,
    }
    const fromRow = sessionFromRow(row)
    const fromSnapshot = sessionFromRow(JSON.parse(JSON.stringify(row)))
    assert.deepEqual(fromSnapshot, fromRow)
    assert.equal(fromRow.energyKwh, 11)
    assert.deepEqual(fromRow.cost, { currency: 'EUR', exclVat: 4.29, inclVat: 5.19 })
    const key = { keyId: '04A2B3C4D5E6F7', type: 'rfid' }
    const presented = presentSession({ ...fromSnapshot, key })
    assert.deepEqual(presented, presentSession({ ...fromRow, key }))
    assert.equal(presented.status, 'completed')
    assert.deepEqual(presented.cost, { currency: 'EUR', totalExclVat: 4.29, totalInclVat: 5.19 })
    // A snapshot taken before the OCPI columns existed still reads.
    const { location_id: _l, currency: _c, total_cost_excl_vat: _e, ...older } = JSON.parse(JSON.stringify(row))
    assert.equal(sessionFromRow(older).cost, null)
    assert.equal(sessionFromRow(older).locationId, null)
  })
})

for (const backend of backends()) {
  describe(`OCPI Sessions and CDRs from a simulated CPO, seen through the Drive API (${backend})`, () => {
    let t: TestPlatform
    let orgKey: string
    let otherOrgKey: string
    const cpos = {} as Record<OcpiVersion, CpoSimulator>
    const PARTIES = { '2.2.1': 'S21', '2.3.0': 'S23' } as const
    const completed = {} as Record<OcpiVersion, { sessionId: string; cdrLocation: string }>

    const drive = (url: string, key = orgKey) => t.request(key, { method: 'GET', url })
    const ocpi = async (cpo: CpoSimulator, method: 'GET' | 'PUT' | 'PATCH' | 'POST', url: string, body?: unknown) => {
      const response = await request(url, {
        method,
        headers: {
          authorization: `Token ${Buffer.from(cpo.emspToken!).toString('base64')}`,
          ...(body !== undefined && { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      return { status: response.statusCode, headers: response.headers, body: (await response.body.json()) as any }
    }
    const base = (version: OcpiVersion) => `${t.platform.publicUrl()}/ocpi/emsp/${version}`
    const sessionUrl = (version: OcpiVersion, party: string, id: string) => `${base(version)}/sessions/NL/${party}/${id}`
    const cdrCount = async () =>
      Number(
        (
          await t.platform.db
            .selectFrom('charge_detail_records')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      )
    const sessionCount = async () =>
      Number(
        (
          await t.platform.db
            .selectFrom('charging_sessions')
            .select((eb) => eb.fn.countAll<string>().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      )

    before(async () => {
      t = await startTestPlatform(backend, {}, { listen: true })
      orgKey = (await t.createOrganization({ name: 'Fleet Mobility' })).apiKey
      otherOrgKey = (await t.createOrganization({ name: 'Other Mobility', contractIdPrefixes: ['DE-9XX'] })).apiKey
      await t.request(orgKey, { method: 'POST', url: '/v1/users', payload: { id: 'driver-1' } })
      await t.request(orgKey, { method: 'POST', url: '/v1/users', payload: { id: 'driver-2' } })
      await t.request(otherOrgKey, { method: 'POST', url: '/v1/users', payload: { id: 'driver-1' } })
      const rfid = await t.request(orgKey, {
        method: 'POST',
        url: '/v1/users/driver-1/charging-keys',
        payload: { keyIdentifier: '04A2B3C4D5E6F7', contractId: 'DE-8PS-RFID00001', visualNumber: 'DE-8PS-000042' },
      })
      assert.equal(rfid.statusCode, 201, rfid.body)
      const pnc = await t.request(orgKey, {
        method: 'POST',
        url: '/v1/users/driver-2/charging-keys/plug-and-charge',
        payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-C0AD21B13-Q' },
      })
      assert.equal(pnc.statusCode, 201, pnc.body)
      for (const version of ['2.2.1', '2.3.0'] as const) {
        const cpo = new CpoSimulator({ countryCode: 'NL', partyId: PARTIES[version], versions: [version] })
        await cpo.start()
        const partner = await t.createOcpiPartner(`CPO ${version}`)
        assert.equal(await cpo.registerWith(partner.versionsUrl, partner.tokenA), version)
        cpos[version] = cpo
      }
    })
    after(async () => {
      for (const cpo of Object.values(cpos)) await cpo.stop()
      await t.close()
    })

    for (const [version, uid, type, user] of [
      ['2.2.1', '04A2B3C4D5E6F7', 'RFID', 'driver-1'],
      ['2.3.0', 'DE8PSC0AD21B13Q', 'EMAID', 'driver-2'],
    ] as const) {
      test(`${version}: a session is authorized, reported, completed and billed, every request and answer as the spec says, and the Drive API shows it`, async () => {
        const cpo = cpos[version]
        const charged = await cpo.charge(uid, { type, kwh: 30 })
        assert.equal(charged.authorization.data?.allowed, 'ALLOWED')
        assert.ok(charged.sessionId && charged.cdr && charged.cdrLocation)
        assert.deepEqual(
          charged.sent.map((s) => `${s.method} ${s.httpStatus}`),
          ['PUT 201', 'PATCH 200', 'PATCH 200', 'PATCH 200', 'PATCH 200', 'POST 201'],
        )
        for (const sent of charged.sent) {
          const spec = specOf(version, sent)
          assertValidOcpi(spec.request(), sent.body, `${sent.method} ${sent.url}`)
          assertValidOcpi(spec.answer(sent.httpStatus), sent.answer, `answer to ${sent.method} ${sent.url}`)
        }
        // The Location is absolute, on our public URL, and reads the CDR back as sent.
        assert.ok(charged.cdrLocation.startsWith(`${base(version)}/cdrs/`), charged.cdrLocation)
        const cdr = await ocpi(cpo, 'GET', charged.cdrLocation)
        assert.equal(cdr.status, 200)
        assertValidOcpi(specOf(version, { method: 'GET', url: '/cdrs' }).answer(200), cdr.body, 'GET CDR')
        assert.deepEqual(cdr.body.data, charged.cdr)
        const stored = await ocpi(cpo, 'GET', sessionUrl(version, PARTIES[version], charged.sessionId))
        assertValidOcpi(specOf(version, { method: 'GET', url: '/sessions' }).answer(200), stored.body, 'GET Session')
        assert.equal(stored.body.data.status, 'COMPLETED')
        assert.equal(stored.body.data.charging_periods.length, 2, 'PATCHed periods are added up')

        const listed = await drive(`/v1/users/${user}/sessions?status=completed`)
        assert.equal(listed.statusCode, 200, listed.body)
        const entry = listed.json().sessions.find((s: { protocolSessionId: string }) => s.protocolSessionId === charged.sessionId)
        assert.ok(entry, 'listed as completed')
        assert.equal(entry.protocol, 'ocpi')
        assert.equal(entry.status, 'completed')
        assert.equal(entry.energyKwh, 30)
        assert.deepEqual(entry.cost, { currency: 'EUR', totalExclVat: 11.7, totalInclVat: 14.16 })
        assert.equal(entry.operatorId, `NL*${PARTIES[version]}`)
        assert.equal(entry.locationId, 'SIM-LOC-1')
        assert.equal(entry.evseUid, 'SIM-EVSE-1')
        assert.equal(entry.evseId, `NL*${PARTIES[version]}*E1*1`)
        assert.equal(entry.connectorId, '1')
        assert.equal(entry.key.type, type === 'RFID' ? 'rfid' : 'plug_and_charge')
        const detail = await drive(`/v1/users/${user}/sessions/${entry.id}`)
        assert.equal(detail.statusCode, 200, detail.body)
        assert.equal(detail.json().cdr.protocolCdrId, charged.cdr.id)
        assert.deepEqual(detail.json().cdr.cost, entry.cost)
        assert.deepEqual(detail.json().cdr.record, charged.cdr)
        // Tied to our decision: the session carries the authorization_reference we gave.
        const row = await t.platform.db
          .selectFrom('charging_sessions')
          .select('authorization_reference')
          .where('id', '=', entry.id)
          .executeTakeFirstOrThrow()
        assert.equal(row.authorization_reference, charged.authorization.data!.authorization_reference)
        completed[version] = { sessionId: entry.id, cdrLocation: charged.cdrLocation }
      })
    }

    test('a CDR sent 20 times at once is stored once and each is acknowledged; another CDR under its ID is refused with 2001', async () => {
      const cpo = cpos['2.2.1']
      const cdr = cdrOf('2.2.1', { id: 'CDR-RACE', session_id: 'S-RACE' })
      const before = await cdrCount()
      const answers = await Promise.all(Array.from({ length: 20 }, () => cpo.postCdr(cdr)))
      for (const answer of answers) assert.equal(answer.statusCode, 1000, JSON.stringify(answer))
      assert.equal(new Set(answers.map((a) => a.location)).size, 1, 'every repeat is pointed at the one record')
      assert.equal((await cdrCount()) - before, 1)
      const changed = await cpo.postCdr({ ...cdr, total_energy: 12 })
      assert.equal(changed.statusCode, 2001)
      assert.equal(changed.httpStatus, 400)
      assert.match(changed.message ?? '', /CDR-RACE/)
      assert.equal((await cdrCount()) - before, 1)
      // The same ID under another party of ours is another CDR: IDs are unique per party only.
      const other = await cpos['2.3.0'].postCdr(cdrOf('2.3.0', { party_id: 'S23', id: 'CDR-RACE', session_id: 'S-RACE' }))
      assert.equal(other.statusCode, 1000)
    })

    test("a session or CDR of a party the CPO does not act for is refused with 2001 and nothing is stored; another party's reads as unknown", async () => {
      const cpo = cpos['2.2.1']
      const sessions = await sessionCount()
      const foreign = await ocpi(cpo, 'PUT', sessionUrl('2.2.1', 'S23', 'S-FOREIGN'), { ...session, party_id: 'S23', id: 'S-FOREIGN' })
      assert.equal(foreign.status, 400)
      assert.equal(foreign.body.status_code, 2001)
      assert.match(foreign.body.status_message, /NL\*S23 is not a party of this CPO/)
      const cdr = await cpo.postCdr(cdrOf('2.2.1', { party_id: 'S23', id: 'CDR-FOREIGN' }))
      assert.equal(cdr.statusCode, 2001)
      assert.equal(await sessionCount(), sessions)
      // The 2.3.0 CPO's own session and CDR are, to the 2.2.1 CPO, ones that do not exist.
      const theirs = await ocpi(cpo, 'GET', completed['2.3.0'].cdrLocation.replace('/2.3.0/', '/2.2.1/'))
      assert.equal(theirs.status, 404)
      assert.equal(theirs.body.status_code, 2003)
      const theirSession = await ocpi(cpo, 'GET', sessionUrl('2.2.1', 'S23', 'anything'))
      assert.equal(theirSession.status, 404)
    })

    test('a session or CDR of a token that is not ours is refused with 2001 naming the uid, and nothing is stored', async () => {
      const cpo = cpos['2.2.1']
      const sessions = await sessionCount()
      const cdrs = await cdrCount()
      const strangers = { ...TOKEN, uid: 'DEADBEEF0001' }
      const put = await ocpi(cpo, 'PUT', sessionUrl('2.2.1', 'S21', 'S-STRANGER'), { ...session, id: 'S-STRANGER', cdr_token: strangers })
      assert.equal(put.status, 400)
      assert.equal(put.body.status_code, 2001)
      assert.match(put.body.status_message, /cdr_token\.uid "DEADBEEF0001"/)
      const otherIssuer = await cpo.postCdr(cdrOf('2.2.1', { id: 'CDR-STRANGER', cdr_token: { ...TOKEN, party_id: 'XYZ' } }))
      assert.equal(otherIssuer.statusCode, 2001)
      assert.match(otherIssuer.message ?? '', /04A2B3C4D5E6F7/)
      assert.equal(await sessionCount(), sessions)
      assert.equal(await cdrCount(), cdrs)
    })

    test('a PATCH of a session we never got is 2003 / 404; an invalid body is 2001 naming the field', async () => {
      const cpo = cpos['2.3.0']
      const unknown = await ocpi(cpo, 'PATCH', sessionUrl('2.3.0', 'S23', 'NEVER'), { kwh: 1, last_updated: '2026-02-01T10:00:00Z' })
      assert.equal(unknown.status, 404)
      assert.equal(unknown.body.status_code, 2003)
      const invalid = await ocpi(cpo, 'PUT', sessionUrl('2.3.0', 'S23', 'S-1'), { ...session, party_id: 'S23', kwh: 'lots' })
      assert.equal(invalid.status, 400)
      assert.equal(invalid.body.status_code, 2001)
      assert.match(invalid.body.status_message, /kwh/)
      const otherPrice = await cpo.postCdr(cdrOf('2.2.1', { party_id: 'S23', id: 'CDR-PRICE' }))
      assert.equal(otherPrice.statusCode, 2001)
      assert.match(otherPrice.message ?? '', /total_cost must be an OCPI 2.3.0 Price/)
    })

    test('a session the CPO declares INVALID is listed as invalid and stays so when a late update comes', async () => {
      const cpo = cpos['2.2.1']
      const charged = await cpo.charge('04A2B3C4D5E6F7', { type: 'RFID', end: 'INVALID', sessionId: 'S-INVALID' })
      assert.equal(charged.cdr, undefined)
      const late = await ocpi(cpo, 'PATCH', sessionUrl('2.2.1', 'S21', 'S-INVALID'), {
        status: 'ACTIVE',
        last_updated: '2026-02-01T12:00:00Z',
      })
      assert.equal(late.status, 200)
      const listed = (await drive('/v1/users/driver-1/sessions?status=invalid')).json().sessions
      assert.deepEqual(
        listed.map((s: { protocolSessionId: string; status: string }) => [s.protocolSessionId, s.status]),
        [['S-INVALID', 'invalid']],
      )
    })

    test('the status filter takes a list, repeated or comma-separated, and refuses an unknown status naming the field', async () => {
      const both = (await drive('/v1/users/driver-1/sessions?status=invalid,completed')).json().sessions
      const repeated = (await drive('/v1/users/driver-1/sessions?status=invalid&status=completed')).json().sessions
      assert.deepEqual(repeated, both)
      assert.deepEqual(new Set(both.map((s: { status: string }) => s.status)), new Set(['invalid', 'completed']))
      assert.equal((await drive('/v1/users/driver-1/sessions?status=active')).json().sessions.length, 0)
      const wrong = await drive('/v1/users/driver-1/sessions?status=charging')
      assert.equal(wrong.statusCode, 400)
      assert.match(wrong.body, /status/)
    })

    test("the organization lists all its users' sessions and reads any of them; another organization's session is a 404", async () => {
      const all = await drive('/v1/sessions?limit=2')
      assert.equal(all.statusCode, 200, all.body)
      const first = all.json()
      assert.equal(first.sessions.length, 2)
      const next = (await drive(`/v1/sessions?limit=50&cursor=${first.cursor}`)).json().sessions
      const ids = [...first.sessions, ...next].map((s: { id: string }) => s.id)
      assert.equal(new Set(ids).size, ids.length, 'pages do not overlap')
      assert.ok(ids.includes(completed['2.2.1'].sessionId) && ids.includes(completed['2.3.0'].sessionId))
      const ofDriver2 = (await drive('/v1/sessions?userId=driver-2&status=completed')).json().sessions
      assert.deepEqual(
        ofDriver2.map((s: { id: string }) => s.id),
        [completed['2.3.0'].sessionId],
      )
      const byKey = (await drive('/v1/sessions?keyId=04A2B3C4D5E6F7&status=completed')).json().sessions
      assert.ok(byKey.every((s: { key: { keyId: string } }) => s.key.keyId === '04A2B3C4D5E6F7'))
      const one = await drive(`/v1/sessions/${completed['2.3.0'].sessionId}`)
      assert.equal(one.statusCode, 200)
      assert.equal(one.json().cdr.energyKwh, 30)
      const foreign = await drive(`/v1/sessions/${completed['2.3.0'].sessionId}`, otherOrgKey)
      assert.equal(foreign.statusCode, 404)
      assert.equal(foreign.json().error.code, 'session_not_found')
      assert.equal((await drive('/v1/sessions', otherOrgKey)).json().sessions.length, 0)
      assert.equal((await drive('/v1/sessions?userId=nobody')).statusCode, 404)
    })
  })
}
