import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { after, before, describe, test } from 'node:test'
import { Ajv } from 'ajv'
import addFormats from 'ajv-formats'
import type { InjectOptions } from 'fastify'
import { ADMIN_API } from '../src/protocols/admin-api/routes.ts'
import { DRIVE_API } from '../src/protocols/drive-api/routes.ts'
import { statusOf, type ErrorCode } from '../src/infra/http/error-codes.ts'
import { OCPI_ADMIN_API } from '../src/protocols/ocpi/admin-api.ts'
import { OICP_ADMIN_API } from '../src/protocols/oicp/admin-api.ts'
import { OPCP_ADMIN_API } from '../src/protocols/opcp/admin-api.ts'
import { makeOemPki } from './oem-pki.ts'
import { ADMIN_KEY, backends, startTestPlatform, type TestPlatform } from './support.ts'

type Operation = {
  operationId?: string
  summary?: string
  parameters?: unknown[]
  requestBody?: { content: Record<string, { schema: object; example?: unknown }> }
  security?: unknown[]
  responses: Record<string, { description: string; content?: Record<string, { schema: any; example?: unknown }> }>
}
type Spec = { method: string; url: string; errors?: readonly ErrorCode[]; errorCodes: readonly ErrorCode[]; doc: { operationId: string } }

const TABLES: Spec[] = [
  ...Object.values(DRIVE_API),
  ...Object.values(ADMIN_API),
  ...Object.values(OCPI_ADMIN_API),
  ...Object.values(OICP_ADMIN_API),
  ...Object.values(OPCP_ADMIN_API),
]
const pathOf = (spec: Spec) => spec.url.replace(/:(\w+)/g, '{$1}')

for (const backend of backends()) {
  describe(`the OpenAPI document (${backend})`, () => {
    let t: TestPlatform
    let doc: { info: { version: string }; paths: Record<string, Record<string, Operation>> }
    let apiKey: string
    let strictKey: string

    const operations = () =>
      Object.entries(doc.paths).flatMap(([path, methods]) => Object.entries(methods).map(([method, op]) => ({ path, method, op })))
    const operationOf = (spec: Spec) => doc.paths[pathOf(spec)]![spec.method.toLowerCase()]!
    const documentedCodes = (op: Operation, status: number | string): string[] =>
      op.responses[String(status)]?.content?.['application/json']?.schema.properties.error.properties.code.enum ?? []

    before(async () => {
      t = await startTestPlatform(backend, { OPENPNC_BODY_LIMIT: '2048' })
      doc = (await t.app.inject({ method: 'GET', url: '/openapi.json' })).json()
      apiKey = (await t.createOrganization()).apiKey
      strictKey = (await t.createOrganization({ checkDigit: 'strict' })).apiKey
      for (const key of [apiKey, strictKey]) await t.request(key, { method: 'POST', url: '/v1/users', payload: { id: 'driver-1' } })
    })
    after(() => t.close())

    test("states the package's version", () => {
      const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'))
      assert.equal(doc.info.version, version)
    })

    test('every operation has a summary, an operationId, a success response with a schema, and its error responses', () => {
      const all = operations()
      assert.ok(all.length >= TABLES.length)
      for (const { path, method, op } of all) {
        const label = `${method} ${path}`
        assert.ok(op.summary, `${label}: summary`)
        assert.ok(op.operationId, `${label}: operationId`)
        const success = Object.keys(op.responses).filter((s) => /^2\d\d$/.test(s))
        assert.equal(success.length, 1, `${label}: one success response`)
        // 204 No Content has no body to describe.
        if (success[0] !== '204') assert.ok(op.responses[success[0]!]!.content?.['application/json']?.schema, `${label}: success schema`)
        if (op.parameters?.length || op.requestBody) assert.ok(op.responses['400'], `${label}: takes input, so 400`)
        if (op.security?.length) {
          for (const status of ['401', '403', '500']) assert.ok(op.responses[status], `${label}: ${status}`)
        }
        for (const [status, response] of Object.entries(op.responses)) {
          if (!/^[45]/.test(status)) continue
          assert.doesNotMatch(status, /xx$/i, `${label}: errors by status, not ${status}`)
          const codes = documentedCodes(op, status)
          if (!op.security?.length && codes.length === 0) continue
          assert.ok(codes.length > 0, `${label} ${status}: lists its codes`)
          for (const code of codes) {
            assert.ok(response.description.includes(`\`${code}\``), `${label} ${status}: the description names ${code}`)
            assert.equal(statusOf(code as ErrorCode), Number(status), `${label}: ${code} is a ${status}`)
          }
        }
      }
    })

    test('every operation of the route tables documents exactly the codes of its table, each under its status', () => {
      for (const spec of TABLES) {
        const op = operationOf(spec)
        const documented = Object.keys(op.responses)
          .filter((s) => /^[45]/.test(s))
          .flatMap((status) => documentedCodes(op, status))
        assert.deepEqual([...documented].sort(), [...spec.errorCodes].sort(), spec.doc.operationId)
      }
    })

    test('every operation with a body has a request example and a success example, both valid against their schemas', () => {
      const ajv = new Ajv({ strict: false })
      addFormats.default(ajv)
      for (const { path, method, op } of operations()) {
        if (!op.requestBody) continue
        const label = `${method} ${path}`
        const request = op.requestBody.content['application/json']!
        assert.notEqual(request.example, undefined, `${label}: request example`)
        const validRequest = ajv.compile(request.schema)
        assert.ok(validRequest(request.example), `${label}: request example: ${ajv.errorsText(validRequest.errors)}`)
        const [, success] = Object.entries(op.responses).find(([status]) => /^2\d\d$/.test(status))!
        const answer = success.content?.['application/json']
        if (!answer) continue
        assert.notEqual(answer.example, undefined, `${label}: success example`)
        const validAnswer = ajv.compile(answer.schema)
        assert.ok(validAnswer(answer.example), `${label}: success example: ${ajv.errorsText(validAnswer.errors)}`)
      }
    })

    test('each error code of creating a Plug&Charge key is answered with its documented status, and each documented one is answered', async () => {
      const spec = DRIVE_API.createPlugAndChargeKey
      const op = operationOf(spec)
      const url = '/v1/users/driver-1/charging-keys/plug-and-charge'
      const otherVehicle = (await makeOemPki({ pcid: 'WDBRF61J21F999999' })).provisioning
      const noPnc = (await t.createOrganization({ plugAndCharge: { enabled: false } })).apiKey
      await t.request(noPnc, { method: 'POST', url: '/v1/users', payload: { id: 'driver-1' } })
      await t.request(apiKey, { method: 'POST', url, payload: { pcid: 'WDBRF61J21F000001', contractId: 'DE-8PS-C0AD21B13' } })
      const cases: Array<[ErrorCode, string, InjectOptions]> = [
        ['user_not_found', apiKey, { url: '/v1/users/nobody/charging-keys/plug-and-charge', payload: { pcid: 'WDBRF61J21F123456' } }],
        ['invalid_pcid', apiKey, { url, payload: { pcid: 'WDB-1' } }],
        ['invalid_contract_id', apiKey, { url, payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS' } }],
        ['contract_id_prefix_not_allowed', apiKey, { url, payload: { pcid: 'WDBRF61J21F123456', contractId: 'FR-ABC-C0AD21B13' } }],
        ['check_digit_mismatch', strictKey, { url, payload: { pcid: 'WDBRF61J21F123456', contractId: 'DE-8PS-C0AD21B13-Q' } }],
        ['plug_and_charge_not_enabled', noPnc, { url, payload: { pcid: 'WDBRF61J21F123456' } }],
        ['contract_id_exists', apiKey, { url, payload: { pcid: 'WDBRF61J21F000002', contractId: 'DE8PSC0AD21B13P' } }],
        ['invalid_valid_to', apiKey, { url, payload: { pcid: 'WDBRF61J21F123456', validTo: '2001-01-01T00:00:00Z' } }],
        [
          'invalid_provisioning_certificate',
          apiKey,
          { url, payload: { pcid: 'WDBRF61J21F123456', certificate: { oemProvisioningCertificate: 'not a certificate' } } },
        ],
        [
          'pcid_mismatch',
          apiKey,
          { url, payload: { pcid: 'WDBRF61J21F123456', certificate: { oemProvisioningCertificate: otherVehicle.toString('base64') } } },
        ],
        ['opcp_not_configured', apiKey, { url, payload: { pcid: 'WDBRF61J21F123456', certificate: { source: 'pcp' } } }],
      ]
      for (const [code, key, request] of cases) {
        const response = await t.request(key, { method: 'POST', ...request })
        assert.equal(response.json().error?.code, code, `${code}: ${response.body}`)
        assert.equal(response.statusCode, statusOf(code), code)
        assert.ok(documentedCodes(op, response.statusCode).includes(code), `${code} is documented under ${response.statusCode}`)
        if (code === 'check_digit_mismatch') assert.equal(response.json().error.expected, 'P')
      }
      // Answered where the setting they need is made: a trusted OEM root for a second vehicle, and a
      // connection to Hubject's ecosystem (its simulator).
      const elsewhere = {
        emaid_bound_to_other_pcid: 'test/contract-certificates.test.ts',
        pcid_not_in_pcp: 'test/opcp-ecosystem.test.ts',
        invalid_pcp_certificate: 'test/opcp-ecosystem.test.ts',
        opcp_error: 'test/opcp-ecosystem.test.ts',
      }
      assert.deepEqual(
        [...cases.map(([code]) => code), ...Object.keys(elsewhere)].sort(),
        [...(spec.errors ?? [])].sort(),
        "every code of the operation's own is answered above",
      )
    })

    test('errors answered across the API are the codes documented for their operation and status', async () => {
      const partner = await t.createOcpiPartner('Unregistered CPO')
      const holder = await t.app.inject({
        method: 'POST',
        url: '/admin/v1/ocpi/partners',
        headers: { 'x-api-key': ADMIN_KEY },
        payload: { name: 'Party holder', parties: ['NL*DOC'] },
      })
      assert.equal(holder.statusCode, 201, holder.body)
      const suspended = await t.createOcpiPartner('Suspended CPO')
      const suspending = await t.app.inject({
        method: 'POST',
        url: `/admin/v1/ocpi/partners/${suspended.id}/suspend`,
        headers: { 'x-api-key': ADMIN_KEY },
      })
      assert.equal(suspending.statusCode, 200, suspending.body)
      const scoped = (
        await t.app.inject({
          method: 'POST',
          url: '/v1/api-keys',
          headers: { 'x-api-key': apiKey },
          payload: { scopes: ['users'] },
        })
      ).json().apiKey as string
      const disabled = await t.createOrganization()
      await t.app.inject({
        method: 'PATCH',
        url: `/admin/v1/organizations/${disabled.id}`,
        headers: { 'x-api-key': ADMIN_KEY },
        payload: { enabled: false },
      })
      const R = DRIVE_API
      const A = { ...ADMIN_API, ...OCPI_ADMIN_API, ...OICP_ADMIN_API, ...OPCP_ADMIN_API }
      const pnc = '/v1/users/driver-1/charging-keys/plug-and-charge'
      const cases: Array<[Spec, ErrorCode, InjectOptions & { key?: string | null }]> = [
        [R.getUser, 'missing_api_key', { url: '/v1/users/driver-1', key: null }],
        [R.getUser, 'invalid_api_key', { url: '/v1/users/driver-1', key: 'opk_nope' }],
        [R.listChargingKeys, 'missing_scope', { url: '/v1/users/driver-1/charging-keys', key: scoped }],
        [R.getUser, 'organization_key_required', { url: '/v1/users/driver-1', key: ADMIN_KEY }],
        [R.getUser, 'organization_disabled', { url: '/v1/users/driver-1', key: disabled.apiKey }],
        [A.listOrganizations, 'platform_key_required', { url: '/admin/v1/organizations' }],
        [R.getUser, 'validation_error', { url: '/v1/users/not%20valid' }],
        [R.getUser, 'user_not_found', { url: '/v1/users/nobody' }],
        [R.createUser, 'user_exists', { method: 'POST', url: '/v1/users', payload: { id: 'driver-1' } }],
        [
          R.createUser,
          'malformed_json',
          { method: 'POST', url: '/v1/users', payload: '{"id":', headers: { 'content-type': 'application/json' } },
        ],
        [
          R.createUser,
          'unsupported_media_type',
          { method: 'POST', url: '/v1/users', payload: 'id=x', headers: { 'content-type': 'text/plain' } },
        ],
        [
          R.createUser,
          'payload_too_large',
          { method: 'POST', url: '/v1/users', payload: { id: 'big', email: `${'a'.repeat(3000)}@x.org` } },
        ],
        [
          R.createUser,
          'invalid_idempotency_key',
          { method: 'POST', url: '/v1/users', payload: { id: 'i' }, headers: { 'idempotency-key': 'a b' } },
        ],
        [R.getChargingKey, 'charging_key_not_found', { url: '/v1/users/driver-1/charging-keys/DE8PSZZZZZZZZZ' }],
        [
          R.createRfidKey,
          'invalid_key_identifier',
          {
            method: 'POST',
            url: '/v1/users/driver-1/charging-keys',
            payload: { keyIdentifier: 'XYZ', contractId: 'DE-8PS-C0AD21B13', visualNumber: '1' },
          },
        ],
        [
          R.updateChargingKey,
          'invalid_valid_to',
          { method: 'PATCH', url: '/v1/users/driver-1/charging-keys/DE8PSC0AD21B13', payload: { validTo: '2001-01-01T00:00:00Z' } },
        ],
        [R.revokeApiKey, 'api_key_not_found', { method: 'DELETE', url: '/v1/api-keys/0000000000000000' }],
        [
          R.geosearchRadius,
          'invalid_filter',
          { method: 'POST', url: '/v1/geosearch/radius?latitude=52&longitude=13', payload: { filters: { capabilities: ['PNC'] } } },
        ],
        [
          R.geosearchRadius,
          'invalid_cursor',
          { method: 'POST', url: '/v1/geosearch/radius?latitude=52&longitude=13', payload: { cursor: 'x' } },
        ],
        [
          R.geosearchBbox,
          'validation_error',
          { method: 'POST', url: '/v1/geosearch/bbox', payload: { north: 1, south: 2, east: 3, west: 4 } },
        ],
        [A.getOrganization, 'organization_not_found', { url: '/admin/v1/organizations/nope', key: ADMIN_KEY }],
        [
          A.createOrganization,
          'invalid_scope',
          { method: 'POST', url: '/admin/v1/organizations', payload: { name: 'X', scopes: ['root'] }, key: ADMIN_KEY },
        ],
        [
          A.createOrganization,
          'invalid_contract_id_prefix',
          { method: 'POST', url: '/admin/v1/organizations', payload: { name: 'X', contractIdPrefixes: ['12-ABC'] }, key: ADMIN_KEY },
        ],
        [A.getOcpiPartner, 'ocpi_partner_not_found', { url: '/admin/v1/ocpi/partners/nope', key: ADMIN_KEY }],
        [
          A.reconcileOcpiPartner,
          'ocpi_partner_not_registered',
          { method: 'POST', url: `/admin/v1/ocpi/partners/${partner.id}/reconcile`, key: ADMIN_KEY },
        ],
        [R.createUser, 'unknown_field', { method: 'POST', url: '/v1/users', payload: { id: 'u-1', emial: 'a@b.org' } }],
        [R.createUser, 'nul_character', { method: 'POST', url: '/v1/users', payload: { id: 'u\u0000' } }],
        [R.getUser, 'nul_character', { url: '/v1/users/a%00b' }],
        [
          R.createUser,
          'forbidden_key',
          { method: 'POST', url: '/v1/users', payload: '{"id":"u-2","__proto__":{}}', headers: { 'content-type': 'application/json' } },
        ],
        [
          R.createUser,
          'nesting_too_deep',
          {
            method: 'POST',
            url: '/v1/users',
            payload: `${'['.repeat(40)}${']'.repeat(40)}`,
            headers: { 'content-type': 'application/json' },
          },
        ],
        [
          A.createOcpiPartner,
          'ocpi_party_taken',
          { method: 'POST', url: '/admin/v1/ocpi/partners', payload: { name: 'Second', parties: ['NL*DOC'] }, key: ADMIN_KEY },
        ],
        [
          A.pullOcpiPartnerLocations,
          'ocpi_partner_suspended',
          { method: 'POST', url: `/admin/v1/ocpi/partners/${suspended.id}/pull-locations`, key: ADMIN_KEY },
        ],
      ]
      for (const [spec, code, { key, ...request }] of cases) {
        const headers = { ...request.headers, ...(key !== null && { 'x-api-key': key ?? apiKey }) }
        const response = await t.app.inject({ method: 'GET', ...request, headers })
        const label = `${spec.doc.operationId} ${code}: ${response.body.slice(0, 300)}`
        assert.equal(response.json().error?.code, code, label)
        assert.ok(documentedCodes(operationOf(spec), response.statusCode).includes(code), `documented: ${label}`)
      }
      // The idempotency conflict of a POST: the same key with another request.
      const send = (id: string) =>
        t.request(apiKey, { method: 'POST', url: pnc, headers: { 'idempotency-key': 'doc-1' }, payload: { pcid: `WDBRF61J21F00000${id}` } })
      await send('3')
      const reused = await send('4')
      assert.equal(reused.json().error.code, 'idempotency_key_reused')
      assert.ok(documentedCodes(operationOf(DRIVE_API.createPlugAndChargeKey), reused.statusCode).includes('idempotency_key_reused'))
    })
  })
}
