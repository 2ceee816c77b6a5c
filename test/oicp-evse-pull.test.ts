import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import pino from 'pino'
import { OicpEvsePull } from '../src/protocols/oicp/evse-pull.ts'
import { HubjectEvseData } from '../src/sim/hubject/evse.ts'
import { HubjectSimulator } from '../src/sim/hubject/sim.ts'
import { assertValidOicp, validatorFor } from './oicp-spec.ts'
import { ADMIN_KEY, backends, startTestPlatform, type TestPlatform } from './support.ts'

const PAGE_SIZE = 25

for (const backend of backends()) {
  describe(`Hubject's EVSE data pulled into geosearch (${backend})`, () => {
    const evseData = new HubjectEvseData({ count: 30, seed: 11, geoFormats: 'mixed' })
    const sim = new HubjectSimulator()
    sim.add(evseData)
    let t: TestPlatform
    let apiKey: string

    const admin = (method: 'GET' | 'POST', url: string, payload?: object) =>
      t.app.inject({ method, url, headers: { 'x-api-key': ADMIN_KEY }, ...(payload && { payload }) })
    const pull = async (full = false) => {
      const response = await admin('POST', '/admin/v1/oicp/pull-evse-data', { full })
      assert.equal(response.statusCode, 200, response.body)
      return response.json() as { data: Record<string, number | boolean>; status: Record<string, number> }
    }
    const near = async (latitude: number, longitude: number, filters: object = {}, distance = 2000) => {
      const response = await t.request(apiKey, {
        method: 'POST',
        url: `/v1/geosearch/radius?latitude=${latitude}&longitude=${longitude}&distance=${distance}`,
        payload: { filters },
      })
      assert.equal(response.statusCode, 200, response.body)
      return response.json().locations as Array<{
        id: string
        distance: number
        operator: { id: string; name: string | null }
        evses: Array<{ evseId: string | null; status: string; capabilities: string[] }>
      }>
    }
    const coordinatesOf = (record: Record<string, unknown>) => {
      const geo = (record.GeoCoordinates as { DecimalDegree: { Latitude: string; Longitude: string } }).DecimalDegree
      return [Number(geo.Latitude), Number(geo.Longitude)] as const
    }
    // a pool ID names its operator already; a station ID is prefixed with it
    const locationIdOf = (record: Record<string, unknown>) =>
      record.ChargingPoolID ? String(record.ChargingPoolID) : `${record.OperatorID}*${String(record.ChargingStationId)}`

    before(async () => {
      const url = await sim.start()
      t = await startTestPlatform(backend, {
        OPENPNC_OICP_URL: url,
        // pulls only when the test asks, so that each answer is the test's own
        OPENPNC_OICP_EVSE_PULL_MS: '0',
        OPENPNC_OICP_EVSE_PAGE_SIZE: String(PAGE_SIZE),
      })
      apiKey = (await t.createOrganization()).apiKey
    })
    after(async () => {
      await t?.close()
      await sim.stop()
    })

    test('the first pull is a full one, page by page, and every request we send is valid OICP 2.3', async () => {
      const held = evseData.evses()
      const { data, status } = await pull()
      assert.equal(data.full, true)
      assert.equal(data.received, held.length)
      assert.equal(data.stored, held.length)
      assert.equal(data.invalid, 0)
      assert.equal(data.pages, Math.ceil(held.length / PAGE_SIZE))
      assert.equal(status.received, held.length)
      const dataRequests = evseData.received.filter((r) => r.operation === 'pullEvseData')
      assert.deepEqual(
        dataRequests.map((r) => r.query.page),
        [...Array(data.pages as number).keys()].map(String),
      )
      for (const request of dataRequests) {
        assert.equal(request.query.size, String(PAGE_SIZE))
        assert.equal((request.body as { LastCall?: string }).LastCall, undefined)
        assertValidOicp(validatorFor('eRoamingPullEVSEData'), request.body, 'our PullEvseData')
      }
      for (const request of evseData.received.filter((r) => r.operation === 'pullEvseStatus'))
        assertValidOicp(validatorFor('eRoamingPullEVSEStatus'), request.body, 'our PullEvseStatus')

      const places = new Set(held.map((h) => locationIdOf(h.record)))
      const oicp = (await admin('GET', '/admin/v1/oicp')).json().evsePull
      assert.equal(oicp.enabled, true)
      assert.equal(oicp.evses, held.length)
      assert.equal(oicp.locations, places.size)
      assert.ok(oicp.plugAndChargeLocations > 0)
      assert.equal(oicp.lastFullPull.received, held.length)
      assert.equal(oicp.lastError, null)
    })

    test("geosearch finds Hubject's Plug&Charge stations with their operator, nearest first, and the Plug&Charge filter keeps only them", async () => {
      const pnc = evseData.evses().find((h) => (h.record.AuthenticationModes as string[]).includes('PnC'))!
      const [latitude, longitude] = coordinatesOf(pnc.record)
      const found = await near(latitude, longitude, { capabilities: ['PLUG_AND_CHARGE_CAPABLE'] }, 20_000)
      assert.equal(found[0]!.id, locationIdOf(pnc.record))
      // DegreeMinuteSeconds carries hundredths of a second: a few decimetres
      assert.ok(found[0]!.distance < 5, String(found[0]!.distance))
      assert.deepEqual(found[0]!.operator, { id: pnc.record.OperatorID, name: pnc.record.OperatorName })
      assert.ok(found[0]!.evses.some((e) => e.evseId === pnc.evseId && e.capabilities.includes('PLUG_AND_CHARGE_CAPABLE')))
      for (let i = 1; i < found.length; i++) assert.ok(found[i]!.distance >= found[i - 1]!.distance)
      for (const location of found) assert.ok(location.evses.every((e) => e.capabilities.includes('PLUG_AND_CHARGE_CAPABLE')))
      const withoutPnc = evseData.evses().filter((h) => !(h.record.AuthenticationModes as string[]).includes('PnC'))
      const plain = withoutPnc.find(
        (h) =>
          !evseData
            .evses()
            .some(
              (o) =>
                locationIdOf(o.record) === locationIdOf(h.record) && o !== h && (o.record.AuthenticationModes as string[]).includes('PnC'),
            ),
      )!
      const [plat, plon] = coordinatesOf(plain.record)
      const all = await near(plat, plon, {}, 50)
      assert.ok(all.some((l) => l.id === locationIdOf(plain.record)))
      const onlyPnc = await near(plat, plon, { capabilities: ['PLUG_AND_CHARGE_CAPABLE'] }, 50)
      assert.ok(!onlyPnc.some((l) => l.id === locationIdOf(plain.record)))
    })

    test('a delta since the last pull brings inserts, updates and deletes, statuses follow, and a bad record is skipped, not the pull', async () => {
      const held = evseData.evses()
      const changed = held[0]!
      const deletedLocation = locationIdOf(held[held.length - 1]!.record)
      const gone = held.filter((h) => locationIdOf(h.record) === deletedLocation)
      const added: Record<string, unknown> = {
        ...changed.record,
        EvseID: 'DE*NEW*E0000001',
        ChargingPoolID: 'DE*NEW*P0000001',
        OperatorID: 'DE*NEW',
        OperatorName: 'New Charging',
        AuthenticationModes: ['PnC'],
        GeoCoordinates: { DecimalDegree: { Latitude: '48.137154', Longitude: '11.576124' } },
      }
      await new Promise((resolve) => setTimeout(resolve, 5))
      evseData.update(changed.evseId, { ChargingStationNames: [{ lang: 'en', value: 'Renamed by its operator' }] })
      for (const h of gone) evseData.remove(h.evseId)
      evseData.insert(added)
      evseData.insert({ ...added, EvseID: 'DE*NEW*E0000002', Address: { ...(added.Address as object), Country: 'DE' } })
      evseData.setStatus(changed.evseId, 'OutOfService')
      const before = evseData.received.length

      const { data, status } = await pull()
      assert.equal(data.full, false)
      assert.equal(data.received, 2 + gone.length + 1)
      assert.equal(data.stored, 2)
      assert.equal(data.deleted, gone.length)
      assert.equal(data.invalid, 1)
      assert.ok(status.changed! >= 1)
      const sent = evseData.received.slice(before).find((r) => r.operation === 'pullEvseData')!
      assert.ok((sent.body as { LastCall?: string }).LastCall, 'a delta names LastCall')
      assertValidOicp(validatorFor('eRoamingPullEVSEData'), sent.body, 'our delta PullEvseData')

      const [lat, lon] = coordinatesOf(changed.record)
      const renamed = (await near(lat, lon, {}, 10)).find((l) => l.id === locationIdOf(changed.record))!
      assert.ok(renamed, 'the changed location is still found')
      const evse = renamed.evses.find((e) => e.evseId === changed.evseId)!
      assert.equal(evse.status, 'OUTOFORDER')
      const newOne = await near(48.137154, 11.576124, { capabilities: ['PLUG_AND_CHARGE_CAPABLE'] }, 10)
      assert.deepEqual(
        newOne.map((l) => [l.id, l.operator.name]),
        [['DE*NEW*P0000001', 'New Charging']],
      )
      const [glat, glon] = coordinatesOf(gone[0]!.record)
      assert.ok(!(await near(glat, glon, {}, 10)).some((l) => l.id === deletedLocation), 'the deleted location is gone')
    })

    test('a full pull replaces the set: what Hubject no longer lists is removed', async () => {
      // Lost from Hubject's set without a delta telling us (as when a delta was missed).
      const lost = evseData.evses().find((h) => h.record.OperatorID === 'DE*NEW')!
      evseData.remove(lost.evseId)
      const { data } = await pull(true)
      assert.equal(data.full, true)
      assert.equal(data.deleted, 1)
      assert.equal((await near(48.137154, 11.576124, {}, 10)).length, 0)
      const oicp = (await admin('GET', '/admin/v1/oicp')).json().evsePull
      // all the simulator holds but the record with an alpha-2 country
      assert.equal(oicp.evses, evseData.evses().length - 1)
    })

    test('while Hubject is down a pull fails with 502 naming it, the status keeps the error, and the next pull clears it', async () => {
      sim.available = false
      try {
        const failed = await admin('POST', '/admin/v1/oicp/pull-evse-data', {})
        assert.equal(failed.statusCode, 502, failed.body)
        assert.equal(failed.json().error.code, 'oicp_pull_failed')
        assert.match(failed.json().error.message, /HTTP 503/)
        const oicp = (await admin('GET', '/admin/v1/oicp')).json().evsePull
        assert.match(oicp.lastError, /HTTP 503/)
        assert.equal(oicp.pulling, false)
      } finally {
        sim.available = true
      }
      await pull()
      assert.equal((await admin('GET', '/admin/v1/oicp')).json().evsePull.lastError, null)
    })

    test('without a Hubject URL there is nothing to pull from, and the refusal says which setting is missing', async () => {
      const none = new OicpEvsePull(t.platform.db, pino({ level: 'silent' }), null, { intervalMs: 0 })
      assert.equal(none.enabled, false)
      await assert.rejects(none.pull(), (error: { code?: string; message?: string }) => {
        assert.equal(error.code, 'oicp_not_configured')
        assert.match(error.message!, /OPENPNC_OICP_URL/)
        return true
      })
    })
  })
}
