import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { request } from 'undici'
import { OCPI_VERSIONS } from '../src/protocols/ocpi/protocol.ts'
import { CpoSimulator } from '../src/sim/cpo.ts'
import { generateLocations } from '../src/sim/locations.ts'
import type { OcpiLocation } from '../src/protocols/ocpi/locations-mapping.ts'
import { ADMIN_KEY, backends, startTestPlatform, type TestPlatform } from './support.ts'
import { assertValidOcpi, ocpiRequestValidator, ocpiResponseValidator } from './ocpi-spec.ts'

const LOCATION_PATH = '/locations/{country_code}/{party_id}/{location_id}'
const EVSE_PATH = `${LOCATION_PATH}/{evse_uid}`
const CONNECTOR_PATH = `${EVSE_PATH}/{connector_id}`

for (const backend of backends()) {
  describe(`OCPI Locations Receiver (${backend})`, () => {
    let t: TestPlatform
    let cpo: CpoSimulator
    let driveKey: string

    before(async () => {
      t = await startTestPlatform(backend, {}, { listen: true })
      driveKey = (await t.createOrganization()).apiKey
      const partner = await t.createOcpiPartner('Loc CPO')
      cpo = new CpoSimulator({ countryCode: 'NL', partyId: 'SIM' })
      await cpo.start()
      await cpo.registerWith(partner.versionsUrl, partner.tokenA)
    })
    after(async () => {
      await cpo.stop()
      await t.close()
    })

    async function call(method: 'GET' | 'PUT' | 'PATCH', path: string, version: string, body?: unknown) {
      const response = await request(`${t.platform.publicUrl()}/ocpi/emsp/${version}${path}`, {
        method,
        headers: { authorization: `Token ${cpo.emspToken}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      })
      return { status: response.statusCode, body: (await response.body.json()) as { status_code: number; data?: any } }
    }

    const search = async (latitude: string, longitude: string) =>
      (
        await t.request(driveKey, {
          method: 'POST',
          url: `/v1/geosearch/radius?latitude=${latitude}&longitude=${longitude}&distance=100`,
          payload: {},
        })
      ).json().locations as Array<{ id: string; evses: Array<{ uid: string }> }>

    for (const version of OCPI_VERSIONS) {
      test(`${version}: PUT, GET and PATCH at all three depths behave as the spec says and answer in its schemas`, async () => {
        const [generated] = generateLocations({ count: 1, seed: version === '2.3.0' ? 11 : 12, version, countryCode: 'NL', partyId: 'SIM' })
        const location = { ...generated!, publish: true } as OcpiLocation
        assertValidOcpi(
          ocpiRequestValidator(version, 'locations', 'receiver-interface', LOCATION_PATH, 'put'),
          location,
          'generated Location',
        )
        const at = `/locations/NL/SIM/${location.id}`
        const respond = (path: string, method: 'get' | 'put' | 'patch', status: number) =>
          ocpiResponseValidator(version, 'locations', 'receiver-interface', path, method, status)

        const created = await call('PUT', at, version, location)
        assert.equal(created.status, 201)
        assertValidOcpi(respond(LOCATION_PATH, 'put', 201), created.body)
        const replaced = await call('PUT', at, version, location)
        assert.equal(replaced.status, 200)
        const got = await call('GET', at, version)
        assertValidOcpi(respond(LOCATION_PATH, 'get', 200), got.body)
        assert.deepEqual(got.body.data, location, 'the original object is kept as sent')
        assert.equal((await search(location.coordinates.latitude, location.coordinates.longitude))[0]?.id, `NL*SIM*${location.id}`)

        // EVSE depth: a new EVSE, then the parents follow its last_updated
        const evse = {
          ...structuredClone(location.evses![0]!),
          uid: 'NEW-EVSE',
          status: 'AVAILABLE' as const,
          last_updated: '2030-01-01T00:00:00Z',
        }
        delete (evse as Record<string, unknown>).evse_id
        const putEvse = await call('PUT', `${at}/NEW-EVSE`, version, evse)
        assert.equal(putEvse.status, 201)
        assertValidOcpi(respond(EVSE_PATH, 'put', 201), putEvse.body)
        assert.equal((await call('GET', at, version)).body.data.last_updated, '2030-01-01T00:00:00Z')
        const gotEvse = await call('GET', `${at}/NEW-EVSE`, version)
        assertValidOcpi(respond(EVSE_PATH, 'get', 200), gotEvse.body)

        // connector depth
        const connector = { ...evse.connectors[0]!, id: '9', last_updated: '2030-02-01T00:00:00Z' }
        const putConnector = await call('PUT', `${at}/NEW-EVSE/9`, version, connector)
        assert.equal(putConnector.status, 201)
        assertValidOcpi(respond(CONNECTOR_PATH, 'put', 201), putConnector.body)
        const afterConnector = (await call('GET', at, version)).body.data as OcpiLocation
        assert.equal(afterConnector.last_updated, '2030-02-01T00:00:00Z')
        assert.equal(afterConnector.evses!.find((e) => e.uid === 'NEW-EVSE')!.last_updated, '2030-02-01T00:00:00Z')
        const patchConnector = await call('PATCH', `${at}/NEW-EVSE/9`, version, {
          max_electric_power: 7000,
          last_updated: '2030-03-01T00:00:00Z',
        })
        assert.equal(patchConnector.status, 200)
        assertValidOcpi(respond(CONNECTOR_PATH, 'patch', 200), patchConnector.body)
        assert.equal((await call('GET', `${at}/NEW-EVSE/9`, version)).body.data.max_electric_power, 7000)

        // REMOVED hides an EVSE; with no visible EVSE the location is hidden
        for (const e of afterConnector.evses!) {
          const patched = await call('PATCH', `${at}/${e.uid}`, version, { status: 'REMOVED', last_updated: '2030-04-01T00:00:00Z' })
          assert.equal(patched.status, 200)
          assertValidOcpi(respond(EVSE_PATH, 'patch', 200), patched.body)
        }
        assert.deepEqual(await search(location.coordinates.latitude, location.coordinates.longitude), [])
        await call('PATCH', `${at}/NEW-EVSE`, version, { status: 'AVAILABLE', last_updated: '2030-05-01T00:00:00Z' })
        assert.deepEqual(
          (await search(location.coordinates.latitude, location.coordinates.longitude))[0]?.evses.map((e) => e.uid),
          ['NEW-EVSE'],
        )
        // publish:false hides the location
        const unpublished = await call('PATCH', at, version, { publish: false, last_updated: '2030-06-01T00:00:00Z' })
        assertValidOcpi(respond(LOCATION_PATH, 'patch', 200), unpublished.body)
        assert.deepEqual(await search(location.coordinates.latitude, location.coordinates.longitude), [])
      })

      test(`${version}: IDs that disagree, foreign parties, missing last_updated and bad coordinates are 2001; unknown objects 2003`, async () => {
        const [generated] = generateLocations({ count: 1, seed: 21, version, countryCode: 'NL', partyId: 'SIM' })
        const location = { ...generated!, id: `ERRORS-${version}` }
        const at = `/locations/NL/SIM/${location!.id}`
        const cases: Array<[string, 'PUT' | 'PATCH', unknown, number, number]> = [
          [`/locations/NL/SIM/OTHER-ID`, 'PUT', location, 400, 2001],
          [`/locations/DE/XYZ/${location!.id}`, 'PUT', { ...location, country_code: 'DE', party_id: 'XYZ' }, 400, 2001],
          [at, 'PUT', { ...location, coordinates: { latitude: '95.000000', longitude: '4.000000' } }, 400, 2001],
          [at, 'PUT', { ...location, evses: [{ uid: 'x' }] }, 400, 2001],
          [`/locations/NL/SIM/NOPE`, 'PATCH', { publish: false, last_updated: '2030-01-01T00:00:00Z' }, 404, 2003],
          [`/locations/NL/SIM/NOPE/${location!.evses![0]!.uid}`, 'PUT', location!.evses![0], 404, 2003],
        ]
        for (const [path, method, body, http, status] of cases) {
          const answer = await call(method, path, version, body)
          assert.equal(answer.status, http, `${method} ${path}: ${JSON.stringify(answer.body)}`)
          assert.equal(answer.body.status_code, status, `${method} ${path}`)
        }
        assert.equal((await call('PUT', at, version, location)).status, 201)
        const noStamp = await call('PATCH', at, version, { publish: false })
        assert.equal(noStamp.body.status_code, 2001)
        assertValidOcpi(ocpiResponseValidator(version, 'locations', 'receiver-interface', LOCATION_PATH, 'patch', 400), noStamp.body)
      })
    }
  })
}

for (const backend of backends()) {
  describe(`pulling a CPO's locations (${backend})`, () => {
    let t: TestPlatform
    let cpo: CpoSimulator
    let partnerId: string
    let driveKey: string
    const pull = async (full?: boolean) => {
      const response = await t.app.inject({
        method: 'POST',
        url: `/admin/v1/ocpi/partners/${partnerId}/pull-locations`,
        headers: { 'x-api-key': ADMIN_KEY },
        payload: full === undefined ? {} : { full },
      })
      assert.equal(response.statusCode, 200, response.body)
      return response.json()
    }
    const stored = async () =>
      (await t.platform.db.selectFrom('locations').select('location_id').where('partner_id', '=', partnerId).execute())
        .map((r) => r.location_id)
        .sort()

    before(async () => {
      t = await startTestPlatform(backend, {}, { listen: true })
      driveKey = (await t.createOrganization()).apiKey
      const partner = await t.createOcpiPartner('Pull CPO')
      partnerId = partner.id
      cpo = new CpoSimulator({ countryCode: 'BE', partyId: 'PUL', pageLimit: 40 })
      cpo.locations = generateLocations({ count: 150, seed: 5, version: '2.3.0', countryCode: 'BE', partyId: 'PUL' })
      await cpo.start()
      await cpo.registerWith(partner.versionsUrl, partner.tokenA)
    })
    after(async () => {
      await cpo.stop()
      await t.close()
    })

    test('the first pull is full and follows the Link pages within the X-Limit', async () => {
      const result = await pull()
      assert.deepEqual(result, { received: 150, stored: 150, invalid: 0, removed: 0, full: true })
      assert.deepEqual(await stored(), cpo.locations.map((l) => l.id).sort())
      const pnc = cpo.locations.find((l) => l.publish && l.evses?.some((e) => e.status !== 'REMOVED'))!
      const found = await t.request(driveKey, {
        method: 'POST',
        url: `/v1/geosearch/radius?latitude=${pnc.coordinates.latitude}&longitude=${pnc.coordinates.longitude}&distance=10`,
        payload: {},
      })
      assert.ok(found.json().locations.some((l: { id: string }) => l.id === `BE*PUL*${pnc.id}`))
    })

    test('a delta pull asks only for changes since the last pull; a bad object is skipped, not fatal', async () => {
      const changed = { ...cpo.locations[0]!, name: 'Renamed', last_updated: new Date(Date.now() + 60_000).toISOString() }
      const broken = {
        ...cpo.locations[1]!,
        coordinates: { latitude: 'north', longitude: '4.000000' },
        last_updated: new Date(Date.now() + 60_000).toISOString(),
      }
      cpo.locations = [changed, broken, ...cpo.locations.slice(2)]
      const result = await pull()
      assert.equal(result.full, false)
      assert.equal(result.received, 2)
      assert.equal(result.stored, 1)
      assert.equal(result.invalid, 1)
      const row = await t.platform.db.selectFrom('locations').select('data').where('location_id', '=', changed.id).executeTakeFirstOrThrow()
      assert.equal((row.data as { name: string }).name, 'Renamed')
    })

    test('a full pull replaces the set: what the CPO no longer lists is gone', async () => {
      cpo.locations = cpo.locations.slice(0, 100).filter((_, i) => i !== 1)
      const result = await pull(true)
      assert.equal(result.full, true)
      assert.equal(result.removed, 51)
      assert.deepEqual(await stored(), cpo.locations.map((l) => l.id).sort())
    })
  })
}
