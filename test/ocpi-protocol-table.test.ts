import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { Value } from '@sinclair/typebox/value'
import { sql } from 'kysely'
import { request } from 'undici'
import { openDatabase } from '../src/infra/db/database.ts'
import {
  AuthorizationInfoEnvelope,
  CALLED,
  CredentialsSchema,
  LocationReferencesSchema,
  OCPI_OPERATIONS,
  OCPI_VERSIONS,
  partnerEndpoint,
  partnerHasEndpoint,
  SERVED,
  type CalledOperationId,
  type CalledParams,
  type CalledQuery,
  type OcpiVersion,
  type ServedOperation,
  type ServedOperationId,
  type SpecReference,
} from '../src/protocols/ocpi/protocol.ts'
import type { OcpiHandlers } from '../src/protocols/ocpi/server.ts'
import { calledUrl } from '../src/protocols/ocpi/transport.ts'
import { CpoSimulator } from '../src/sim/cpo.ts'
import { generateLocations } from '../src/sim/locations.ts'
import { backends, startTestPlatform, type TestPlatform } from './support.ts'
import { assertValidOcpi, ocpiRequestValidator, ocpiResponseValidator, ocpiSchema } from './ocpi-spec.ts'

/** The spec path of an operation in one version (`{version}` stands for the version's own number). */
const specPath = (spec: SpecReference, version: OcpiVersion) => spec.path.replace('{version}', version)

// A table operation without a handler is a type error, not a runtime one: this never runs, tsc checks it.
export function handlersAreRequiredByType(withoutOne: Omit<OcpiHandlers, 'getTokens'>): OcpiHandlers {
  // @ts-expect-error getTokens is in the table, so a handlers object without it does not typecheck
  const handlers: OcpiHandlers = withoutOne
  return handlers
}

describe('the OCPI protocol table and the official specification', () => {
  test('every served operation is documented in the official OpenAPI of each version the table lists, with its method', () => {
    for (const op of OCPI_OPERATIONS) {
      for (const version of op.versions) {
        const status = (op.module === 'locations' && op.method === 'PUT') || op.operationId === 'postCdr' ? 201 : 200
        // Throws, naming what exists, when the spec has no such path or method.
        const validator = ocpiResponseValidator(version, op.spec.module, op.spec.file, specPath(op.spec, version), op.method, status)
        assert.equal(typeof validator, 'function', `${op.operationId} ${version}`)
        if (op.answerData !== null) ocpiSchema(version, op.spec.module, op.answerData)
      }
    }
  })

  test("every served request body is the spec's request body of that operation, under the spec's schema name", () => {
    let bodies = 0
    for (const op of OCPI_OPERATIONS) {
      if (!op.body) continue
      for (const version of op.versions) {
        ocpiRequestValidator(version, op.spec.module, op.spec.file, specPath(op.spec, version), op.method)
        ocpiSchema(version, op.spec.module, op.body.name)
        bodies++
      }
    }
    assert.ok(bodies >= 8, `${bodies} bodies`)
  })

  test("the table's served paths are the spec's paths (our parameter names aside)", () => {
    for (const op of OCPI_OPERATIONS) {
      const ours = `/${op.path}`.split('/').map((s) => (s.startsWith(':') ? '{}' : s))
      const theirs = op.spec.path.split('/').map((s) => (s.startsWith('{') ? '{}' : s))
      assert.deepEqual(ours, theirs, op.operationId)
    }
  })

  test('a body the checked schemas accept is one the spec accepts, and one they refuse the spec refuses too', () => {
    for (const version of OCPI_VERSIONS) {
      const credentials = {
        token: 'a-token-1',
        url: 'https://cpo.example/ocpi/versions',
        roles: [{ role: 'CPO', party_id: 'ABC', country_code: 'NL', business_details: { name: 'CPO' } }],
      }
      const spec = ocpiRequestValidator(version, 'credentials', 'interface', '/credentials', 'post')
      assert.ok(Value.Check(CredentialsSchema, credentials))
      assertValidOcpi(spec, credentials, 'Credentials')
      for (const bad of [
        { ...credentials, token: undefined },
        { ...credentials, token: 'x'.repeat(65) },
        { ...credentials, roles: [{ role: 'CPO' }] },
      ]) {
        assert.equal(Value.Check(CredentialsSchema, bad), false, JSON.stringify(bad))
        assert.throws(() => assertValidOcpi(spec, bad), /does not match the OCPI spec/)
      }
      const references = { location_id: 'LOC1', evse_uids: ['EVSE1'] }
      const authorize = ocpiRequestValidator(version, 'tokens', 'sender-interface', '/tokens/{token_uid}/authorize', 'post')
      assert.ok(Value.Check(LocationReferencesSchema, references))
      assertValidOcpi(authorize, references, 'LocationReferences')
      for (const bad of [{ location_id: 7 }, { evse_uids: ['E'] }, { location_id: 'x'.repeat(37) }]) {
        assert.equal(Value.Check(LocationReferencesSchema, bad), false, JSON.stringify(bad))
        assert.throws(() => assertValidOcpi(authorize, bad), /does not match the OCPI spec/)
      }
    }
  })

  test('the answer schema the authorization is serialized from keeps every field the spec requires', () => {
    const answer = {
      data: {
        allowed: 'ALLOWED',
        token: {
          country_code: 'DE',
          party_id: '8PS',
          uid: 'DE8PSA1B2C3D41',
          type: 'APP_USER',
          contract_id: 'DE-8PS-A1B2C3D4-1',
          issuer: 'openpnc',
          valid: true,
          whitelist: 'ALLOWED',
          last_updated: '2026-01-01T00:00:00.000Z',
        },
        authorization_reference: 'ref-1',
      },
      status_code: 1000,
      timestamp: '2026-01-01T00:00:00.000Z',
    }
    for (const version of OCPI_VERSIONS) {
      const spec = ocpiResponseValidator(version, 'tokens', 'sender-interface', '/tokens/{token_uid}/authorize', 'post', 200)
      assertValidOcpi(spec, answer)
      assert.ok(Value.Check(AuthorizationInfoEnvelope, answer))
      // Each field the spec requires, the schema we serialize from requires too.
      for (const field of ['allowed', 'token'] as const) {
        const { [field]: _, ...without } = answer.data
        assert.equal(Value.Check(AuthorizationInfoEnvelope, { ...answer, data: without }), false, field)
        assert.throws(() => assertValidOcpi(spec, { ...answer, data: without }), /does not match the OCPI spec/, field)
      }
      assert.throws(() => assertValidOcpi(spec, { ...answer, data: { ...answer.data, allowed: 'MAYBE' } }), /allowed/)
    }
  })

  test('every operation we call on a CPO is documented in the official OpenAPI, with its method and body', () => {
    for (const [id, op] of Object.entries(CALLED)) {
      for (const version of op.versions) {
        ocpiResponseValidator(version, op.spec.module, op.spec.file, specPath(op.spec, version), op.method, 200)
        if (op.method === 'POST' || op.method === 'PUT' || op.method === 'PATCH') {
          ocpiRequestValidator(version, op.spec.module, op.spec.file, specPath(op.spec, version), op.method)
        }
      }
      // An endpoint's URL is the module's path in the spec; what we append is the rest of it.
      if (op.target.kind === 'endpoint') {
        const theirs = op.spec.path.split('/').slice(2)
        assert.deepEqual([...op.path], theirs, id)
      }
    }
  })
})

describe('the URLs we call on a CPO, one builder for all', () => {
  const tokensEndpoint = 'https://cpo.example/ocpi/2.2.1/tokens/'
  // One case per called operation: a new operation without one does not typecheck.
  const cases: { [Op in CalledOperationId]: { target: string; params: CalledParams<Op>; query?: CalledQuery<Op>; url: string } } = {
    getVersions: { target: 'https://cpo.example/ocpi/versions/?tenant=a', params: {}, url: 'https://cpo.example/ocpi/versions/?tenant=a' },
    getVersionDetails: { target: 'https://cpo.example/ocpi/2.3.0', params: {}, url: 'https://cpo.example/ocpi/2.3.0' },
    postCredentials: {
      target: 'https://cpo.example/ocpi/2.3.0/credentials/',
      params: {},
      url: 'https://cpo.example/ocpi/2.3.0/credentials/',
    },
    getToken: {
      target: tokensEndpoint,
      params: { country_code: 'DE', party_id: '8PS', token_uid: 'UID 1/2' },
      query: { type: 'RFID' },
      url: 'https://cpo.example/ocpi/2.2.1/tokens/DE/8PS/UID%201%2F2?type=RFID',
    },
    putToken: {
      target: 'https://cpo.example//ocpi/2.2.1/tokens',
      params: { country_code: 'DE', party_id: '8PS', token_uid: 'DE8PSA1' },
      query: { type: 'APP_USER' },
      url: 'https://cpo.example/ocpi/2.2.1/tokens/DE/8PS/DE8PSA1?type=APP_USER',
    },
    patchToken: {
      target: 'https://cpo.example/ocpi/2.2.1/tokens?tenant=a',
      params: { country_code: 'DE', party_id: '8PS', token_uid: 'DE8PSA1' },
      query: { type: 'EMAID' },
      url: 'https://cpo.example/ocpi/2.2.1/tokens/DE/8PS/DE8PSA1?tenant=a&type=EMAID',
    },
    getLocations: {
      target: 'https://cpo.example/ocpi/2.2.1/locations/?tenant=a',
      params: {},
      query: { date_from: '2026-01-01T00:00:00.000Z', limit: undefined },
      url: 'https://cpo.example/ocpi/2.2.1/locations/?tenant=a&date_from=2026-01-01T00%3A00%3A00.000Z',
    },
  }

  const built = <Op extends CalledOperationId>(id: Op) => {
    const c = cases[id]
    return calledUrl(id, c.target, c.params, c.query)
  }
  for (const [id, op] of Object.entries(CALLED)) {
    test(`${id}: ${op.method} on the partner's ${op.target.kind} with the table's path shape`, () => {
      assert.ok(id in cases)
      assert.equal(built(id as CalledOperationId), cases[id as CalledOperationId].url)
    })
  }

  test('every called operation has a case above', () => {
    assert.deepEqual(Object.keys(cases).sort(), Object.keys(CALLED).sort())
  })

  test('a URL given as is is called as is, byte for byte; one with segments to append is normalised as endpointUrl does', () => {
    assert.equal(calledUrl('getVersions', 'http://[not a url', {}), 'http://[not a url')
    assert.throws(() => calledUrl('putToken', 'not a url', { country_code: 'DE', party_id: '8PS', token_uid: 'U' }), TypeError)
  })

  test('a missing path parameter is refused rather than sent as an empty segment', () => {
    assert.throws(() => calledUrl('getToken', tokensEndpoint, { country_code: 'DE', party_id: '', token_uid: 'U' }), /party_id is missing/)
  })

  test("the partner's endpoint for an operation is found by the table's module and role", () => {
    const endpoints = [
      { identifier: 'tokens', role: 'SENDER', url: 'https://cpo.example/tokens-sender' },
      { identifier: 'tokens', role: 'RECEIVER', url: 'https://cpo.example/tokens-receiver' },
      { identifier: 'credentials', role: 'SENDER', url: 'https://cpo.example/credentials' },
    ]
    assert.equal(partnerEndpoint(endpoints, 'putToken'), 'https://cpo.example/tokens-receiver')
    // Credentials is one interface for both sides: whichever role the partner lists it in.
    assert.equal(partnerEndpoint(endpoints, 'postCredentials'), 'https://cpo.example/credentials')
    assert.equal(partnerEndpoint(endpoints, 'getLocations'), undefined)
  })

  test('the SQL test of a partner listing an endpoint is built from the table and matches only that module and role', async () => {
    const handle = await openDatabase({ dataDir: 'memory://' })
    try {
      const listed = (endpoints: unknown[], op: 'putToken' | 'getLocations' | 'postCredentials') =>
        sql<{ yes: boolean }>`SELECT ${partnerHasEndpoint(op, 'e')} AS yes FROM (SELECT ${JSON.stringify(endpoints)}::jsonb AS e) AS t`
          .execute(handle.db)
          .then((r) => r.rows[0]!.yes)
      const receiver = { identifier: 'tokens', role: 'RECEIVER', url: 'https://cpo.example/t' }
      const sender = { identifier: 'locations', role: 'SENDER', url: 'https://cpo.example/l' }
      assert.equal(await listed([receiver, sender], 'putToken'), true)
      assert.equal(await listed([{ ...receiver, role: 'SENDER' }], 'putToken'), false)
      assert.equal(await listed([receiver, sender], 'getLocations'), true)
      assert.equal(await listed([receiver], 'getLocations'), false)
      assert.equal(await listed([{ identifier: 'credentials', role: 'RECEIVER', url: 'https://cpo.example/c' }], 'postCredentials'), true)
    } finally {
      await handle.close()
    }
  })
})

for (const backend of backends()) {
  describe(`every operation of the OCPI table, served (${backend})`, () => {
    let t: TestPlatform
    let cpo: CpoSimulator

    before(async () => {
      t = await startTestPlatform(backend, {}, { listen: true })
      const org = await t.createOrganization()
      await t.request(org.apiKey, { method: 'POST', url: '/v1/users', payload: { id: 'tbl' } })
      const key = await t.request(org.apiKey, {
        method: 'POST',
        url: '/v1/users/tbl/charging-keys/plug-and-charge',
        payload: { pcid: 'WDBRF61J21F654321', contractId: 'DE-8PS-TABLE0001' },
      })
      assert.equal(key.statusCode, 201, key.body)
      cpo = new CpoSimulator()
      await cpo.start()
    })
    after(async () => {
      await cpo.stop()
      await t.close()
    })

    test('every operation of the table has a route for each of its versions, and a handler (else no route)', () => {
      for (const op of OCPI_OPERATIONS) {
        for (const version of op.versions) {
          assert.ok(t.app.hasRoute({ method: op.method, url: `/ocpi/emsp/${version}/${op.path}` }), `${op.operationId} ${version}`)
        }
      }
      assert.deepEqual(OCPI_OPERATIONS.map((op) => op.operationId).sort(), Object.keys(SERVED).sort())
    })

    for (const version of OCPI_VERSIONS) {
      test(`${version}: every served operation answers in the official schema of that operation`, async () => {
        const base = `${t.platform.publicUrl()}/ocpi/emsp/${version}`
        const partyId = version === '2.2.1' ? 'TB2' : 'TB3'
        const partner = await t.createOcpiPartner(`Table ${version}`)
        let token = partner.tokenA
        let cdrUrl = ''
        const call = async (op: ServedOperationId, path: string, body?: unknown) => {
          const served: ServedOperation = SERVED[op]
          const method = served.method
          if (body !== undefined && served.body) {
            // What we send is what the spec says a CPO sends.
            assertValidOcpi(ocpiRequestValidator(version, served.spec.module, served.spec.file, served.spec.path, method), body)
          }
          const response = await request(`${base}/${path}`, {
            method,
            headers: {
              authorization: `Token ${Buffer.from(token).toString('base64')}`,
              ...(body !== undefined && { 'content-type': 'application/json' }),
            },
            body: body === undefined ? undefined : JSON.stringify(body),
          })
          const location = response.headers.location
          if (typeof location === 'string') cdrUrl = location
          return { status: response.statusCode, body: (await response.body.json()) as { status_code: number; data?: any } }
        }
        const credentials = () => ({
          token: cpo.issueTokenA(),
          url: cpo.versionsUrl,
          roles: [{ role: 'CPO', party_id: partyId, country_code: 'NL', business_details: { name: 'Table CPO' } }],
        })
        const [generated] = generateLocations({ count: 1, seed: 21, version, countryCode: 'NL', partyId })
        const location = { ...generated!, publish: true }
        const evse = location.evses![0]!
        const connector = evse.connectors[0]!
        const at = `locations/NL/${partyId}/${location.id}`
        const stamp = { last_updated: '2026-02-01T00:00:00Z' }
        const cdrToken = {
          country_code: 'DE',
          party_id: '8PS',
          uid: 'DE8PSTABLE0001',
          type: version === '2.2.1' ? 'OTHER' : 'EMAID',
          contract_id: 'DE-8PS-TABLE0001',
        }
        const place = { location_id: location.id, evse_uid: evse.uid, connector_id: connector.id }
        const session = {
          country_code: 'NL',
          party_id: partyId,
          id: 'S1',
          start_date_time: '2026-02-01T00:00:00Z',
          kwh: 0,
          cdr_token: cdrToken,
          auth_method: 'AUTH_REQUEST',
          ...place,
          currency: 'EUR',
          status: 'PENDING',
          ...stamp,
        }
        const cdr = {
          country_code: 'NL',
          party_id: partyId,
          id: 'CDR1',
          start_date_time: '2026-02-01T00:00:00Z',
          end_date_time: '2026-02-01T01:00:00Z',
          session_id: 'S1',
          cdr_token: cdrToken,
          auth_method: 'AUTH_REQUEST',
          cdr_location: {
            id: location.id,
            address: location.address,
            city: location.city,
            country: location.country,
            coordinates: location.coordinates,
            evse_uid: evse.uid,
            evse_id: evse.evse_id ?? 'NL*TBL*E1',
            connector_id: connector.id,
            connector_standard: connector.standard,
            connector_format: connector.format,
            connector_power_type: connector.power_type,
          },
          currency: 'EUR',
          charging_periods: [{ start_date_time: '2026-02-01T00:00:00Z', dimensions: [{ type: 'ENERGY', volume: 7 }] }],
          total_cost:
            version === '2.2.1' ? { excl_vat: 2.8, incl_vat: 3.39 } : { before_taxes: 2.8, taxes: [{ name: 'VAT', amount: 0.59 }] },
          total_energy: 7,
          total_time: 1,
          last_updated: '2026-02-01T01:00:00Z',
        }

        // In the order they can run: register, use, re-register, leave. Every operation is here (by type).
        const steps: { [Op in ServedOperationId]: () => Promise<{ status: number; body: { status_code: number; data?: any } }> } = {
          postCredentials: async () => {
            const answer = await call('postCredentials', 'credentials', credentials())
            token = answer.body.data.token
            return answer
          },
          getCredentials: () => call('getCredentials', 'credentials'),
          getTokens: () => call('getTokens', 'tokens'),
          authorizeToken: () => call('authorizeToken', 'tokens/DE8PSTABLE0001/authorize', { location_id: location.id }),
          putLocation: () => call('putLocation', at, location),
          getLocation: () => call('getLocation', at),
          putEvse: () => call('putEvse', `${at}/${evse.uid}`, evse),
          getEvse: () => call('getEvse', `${at}/${evse.uid}`),
          putConnector: () => call('putConnector', `${at}/${evse.uid}/${connector.id}`, connector),
          getConnector: () => call('getConnector', `${at}/${evse.uid}/${connector.id}`),
          patchLocation: () => call('patchLocation', at, { ...stamp, name: 'Renamed' }),
          patchEvse: () => call('patchEvse', `${at}/${evse.uid}`, { ...stamp, status: 'CHARGING' }),
          patchConnector: () => call('patchConnector', `${at}/${evse.uid}/${connector.id}`, { ...stamp, max_voltage: 400 }),
          putSession: () => call('putSession', `sessions/NL/${partyId}/S1`, session),
          patchSession: () => call('patchSession', `sessions/NL/${partyId}/S1`, { ...stamp, kwh: 3.5, status: 'ACTIVE' }),
          getSession: () => call('getSession', `sessions/NL/${partyId}/S1`),
          postCdr: () => call('postCdr', 'cdrs', cdr),
          getCdr: () => call('getCdr', cdrUrl.slice(`${base}/`.length)),
          putCredentials: async () => {
            const answer = await call('putCredentials', 'credentials', credentials())
            token = answer.body.data.token
            return answer
          },
          deleteCredentials: () => call('deleteCredentials', 'credentials'),
        }
        for (const [id, step] of Object.entries(steps) as Array<[ServedOperationId, () => ReturnType<(typeof steps)['getTokens']>]>) {
          const op = SERVED[id]
          const answer = await step()
          assert.ok(answer.status === 200 || answer.status === 201, `${id}: HTTP ${answer.status} ${JSON.stringify(answer.body)}`)
          assert.equal(answer.body.status_code, 1000, id)
          assertValidOcpi(
            ocpiResponseValidator(version, op.spec.module, op.spec.file, specPath(op.spec, version), op.method, answer.status),
            answer.body,
            `${version} ${id}`,
          )
          if (id === 'authorizeToken') {
            // The validator can fail: the same answer without its token is refused.
            const { token: _, ...data } = answer.body.data
            assert.throws(
              () =>
                assertValidOcpi(ocpiResponseValidator(version, op.spec.module, op.spec.file, op.spec.path, op.method, 200), {
                  ...answer.body,
                  data,
                }),
              /token/,
            )
          }
        }
      })
    }
  })
}
