import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import { parse as parseYaml } from 'yaml'
import {
  assertValidOcpi,
  isOcpiDateTime,
  ocpiRequestValidator,
  ocpiResponseValidator,
  ocpiSchema,
  type OcpiInterfaceFile,
  type OcpiValidator,
  type OcpiVersion,
} from './ocpi-spec.ts'

// Payloads below are written by hand from the spec YAML, not generated from it, so a validator that
// accepted everything (or rejected everything) would fail these tests.

const NOW = '2025-03-14T09:26:53Z'

function token(version: OcpiVersion, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    country_code: 'DE',
    party_id: 'OPN',
    uid: '04A1B2C3D4E5F6',
    type: 'RFID',
    contract_id: 'DE-OPN-C00012345-6',
    visual_number: 'DE-OPN-C00012345-6',
    issuer: 'OpenPnC',
    group_id: 'DE-OPN-G0001',
    valid: true,
    whitelist: 'ALLOWED',
    language: 'de',
    default_profile_type: 'GREEN', // ProfileType lives in ../sessions/schema.yaml: proves cross-module refs
    energy_contract: { supplier_name: 'Stadtwerke Musterstadt', contract_id: 'SW-0815' },
    last_updated: version === '2.2.1' ? NOW : '2025-03-14T09:26:53.123Z',
    ...overrides,
  }
}

function envelope(data: unknown): Record<string, unknown> {
  return { data, status_code: 1000, status_message: 'Success', timestamp: NOW }
}

function connector(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    id: '1',
    standard: 'IEC_62196_T2_COMBO',
    format: 'CABLE',
    power_type: 'DC',
    max_voltage: 920,
    max_amperage: 500,
    max_electric_power: 350000,
    tariff_ids: ['DC-FAST'],
    terms_and_conditions: 'https://cpo.example.com/terms',
    last_updated: NOW,
    ...overrides,
  }
}

function location(connectors: Record<string, unknown>[], overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    country_code: 'NL',
    party_id: 'CPO',
    id: 'LOC-0001',
    publish: true,
    name: 'Hub Amsterdam Zuid',
    address: 'Parnassusweg 1',
    city: 'Amsterdam',
    postal_code: '1077 DC',
    country: 'NLD',
    coordinates: { latitude: '52.338530', longitude: '4.872660' },
    parking_type: 'PARKING_GARAGE',
    evses: [
      {
        uid: 'EVSE-0001',
        evse_id: 'NL*CPO*E0001*1',
        status: 'AVAILABLE',
        capabilities: ['REMOTE_START_STOP_CAPABLE', 'RFID_READER'],
        connectors,
        coordinates: { latitude: '52.338531', longitude: '4.872661' },
        parking_restrictions: ['EV_ONLY'],
        last_updated: NOW,
      },
    ],
    operator: { name: 'Example CPO', website: 'https://cpo.example.com' },
    facilities: ['CAFE'],
    time_zone: 'Europe/Amsterdam',
    opening_times: { twentyfourseven: true },
    charging_when_closed: true,
    last_updated: NOW,
    ...overrides,
  }
}

function credentials(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    token: 'ebf3b399-779f-4497-9b9d-ac6ad3cc44d2',
    url: 'https://emsp.example.com/ocpi/versions',
    roles: [
      {
        role: 'EMSP',
        business_details: { name: 'OpenPnC', website: 'https://openpnc.example.com' },
        party_id: 'OPN',
        country_code: 'DE',
      },
    ],
    ...overrides,
  }
}

/** Runs the validator and returns its error messages as "instancePath message" lines. */
function errorsOf(validate: OcpiValidator, payload: unknown): string[] {
  assert.equal(validate(payload), false, 'expected the payload to be rejected')
  return (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message ?? ''}`)
}

describe('Token', () => {
  test('a complete 2.2.1 Token is valid', () => {
    assertValidOcpi(ocpiSchema('2.2.1', 'tokens', 'Token'), token('2.2.1'))
  })

  test('a Token without uid is rejected and the error names uid', () => {
    const { uid: _uid, ...withoutUid } = token('2.2.1')
    const validate = ocpiSchema('2.2.1', 'tokens', 'Token')
    assert.throws(() => assertValidOcpi(validate, withoutUid, 'Token'), /Token does not match[\s\S]*required property 'uid'/)
    assert.deepEqual(errorsOf(validate, withoutUid), [" must have required property 'uid'"])
  })

  test('TokenType is an open enum in 2.2.1, so the 2.3.0-only value EMAID still passes the 2.2.1 schema', () => {
    // The 2.2.1 YAML declares TokenType `format: open-enum` with AD_HOC_USER/APP_USER/OTHER/RFID.
    // An open enum must accept unknown strings, so the schema cannot tell a 2.2.1 partner that EMAID
    // is not theirs; sending OTHER to 2.2.1 partners is a rule our code must enforce itself.
    assertValidOcpi(ocpiSchema('2.2.1', 'tokens', 'Token'), token('2.2.1', { type: 'EMAID' }))
  })

  test('a 2.3.0 Token with type EMAID is valid (TokenType is an open enum that lists EMAID)', () => {
    assertValidOcpi(ocpiSchema('2.3.0', 'tokens', 'Token'), token('2.3.0', { type: 'EMAID', uid: 'DEOPNC000123456' }))
  })

  test('an open enum still has to be a string', () => {
    assert.deepEqual(errorsOf(ocpiSchema('2.2.1', 'tokens', 'Token'), token('2.2.1', { type: 7 })), ['/type must be string'])
  })

  test('a closed enum (WhitelistType) rejects a value it does not list', () => {
    const errors = errorsOf(ocpiSchema('2.3.0', 'tokens', 'Token'), token('2.3.0', { whitelist: 'SOMETIMES' }))
    assert.deepEqual(errors, ['/whitelist must be equal to one of the allowed values'])
  })

  test('a closed enum referenced from another module (sessions ProfileType) is enforced', () => {
    const errors = errorsOf(ocpiSchema('2.2.1', 'tokens', 'Token'), token('2.2.1', { default_profile_type: 'TURBO' }))
    assert.deepEqual(errors, ['/default_profile_type must be equal to one of the allowed values'])
  })

  test('length limits from the spec are enforced (uid is at most 36 characters)', () => {
    const errors = errorsOf(ocpiSchema('2.2.1', 'tokens', 'Token'), token('2.2.1', { uid: 'x'.repeat(37) }))
    assert.deepEqual(errors, ['/uid must NOT have more than 36 characters'])
  })

  test('2.2.1 requires a two-letter country_code but the 2.3.0 YAML only caps it at two', () => {
    // Spec quirk: 2.3.0 dropped minLength on country_code/party_id (Token, Location, Credentials).
    assert.deepEqual(errorsOf(ocpiSchema('2.2.1', 'tokens', 'Token'), token('2.2.1', { country_code: 'D' })), [
      '/country_code must NOT have fewer than 2 characters',
    ])
    assertValidOcpi(ocpiSchema('2.3.0', 'tokens', 'Token'), token('2.3.0', { country_code: 'D' }))
  })

  test('a TokenPatch needs only last_updated', () => {
    const validate = ocpiSchema('2.2.1', 'tokens', 'TokenPatch')
    assertValidOcpi(validate, { valid: false, last_updated: NOW })
    assert.deepEqual(errorsOf(validate, { valid: false }), [" must have required property 'last_updated'"])
  })
})

describe('AuthorizationInfo', () => {
  for (const version of ['2.2.1', '2.3.0'] as const) {
    test(`a ${version} AuthorizationInfo with allowed ALLOWED and a full token is valid`, () => {
      assertValidOcpi(ocpiSchema(version, 'tokens', 'AuthorizationInfo'), {
        allowed: 'ALLOWED',
        token: token(version),
        location: { location_id: 'LOC-0001', evse_uids: ['EVSE-0001'] },
        authorization_reference: 'AUTH-0001',
        info: { language: 'en', text: 'Happy charging' },
      })
    })
  }

  test('an AuthorizationInfo with an unlisted allowed value is rejected because AllowedType is closed', () => {
    const errors = errorsOf(ocpiSchema('2.3.0', 'tokens', 'AuthorizationInfo'), { allowed: 'MAYBE', token: token('2.3.0') })
    assert.deepEqual(errors, ['/allowed must be equal to one of the allowed values'])
  })

  test('an AuthorizationInfo whose token is incomplete is rejected with the nested path', () => {
    const { contract_id: _c, ...partial } = token('2.3.0')
    const errors = errorsOf(ocpiSchema('2.3.0', 'tokens', 'AuthorizationInfo'), { allowed: 'ALLOWED', token: partial })
    assert.deepEqual(errors, ["/token must have required property 'contract_id'"])
  })
})

describe('Credentials', () => {
  test('a 2.2.1 Credentials object is valid', () => {
    assertValidOcpi(ocpiSchema('2.2.1', 'credentials', 'Credentials'), credentials())
  })

  test('a 2.3.0 Credentials object with hub_party_id is valid', () => {
    assertValidOcpi(ocpiSchema('2.3.0', 'credentials', 'Credentials'), credentials({ hub_party_id: 'NLHUB' }))
  })

  test('a Credentials role must be a listed Role (closed enum from the hubclientinfo module)', () => {
    const body = credentials()
    ;(body.roles as Record<string, unknown>[])[0]!.role = 'eMSP'
    assert.deepEqual(errorsOf(ocpiSchema('2.2.1', 'credentials', 'Credentials'), body), [
      '/roles/0/role must be equal to one of the allowed values',
    ])
  })

  test('the 2.3.0 Role enum lists no HUB, so a 2.3.0 Credentials role HUB is rejected', () => {
    // Spec quirk worth knowing before talking to a 2.3.0 hub; 2.2.1 does list HUB.
    const body = credentials()
    ;(body.roles as Record<string, unknown>[])[0]!.role = 'HUB'
    assertValidOcpi(ocpiSchema('2.2.1', 'credentials', 'Credentials'), body)
    assert.deepEqual(errorsOf(ocpiSchema('2.3.0', 'credentials', 'Credentials'), body), [
      '/roles/0/role must be equal to one of the allowed values',
    ])
  })

  test('a credentials token longer than 64 characters is rejected', () => {
    assert.deepEqual(errorsOf(ocpiSchema('2.3.0', 'credentials', 'Credentials'), credentials({ token: 'a'.repeat(65) })), [
      '/token must NOT have more than 64 characters',
    ])
  })
})

describe('Location', () => {
  test('a 2.2.1 Location with an EVSE and a connector is valid', () => {
    assertValidOcpi(ocpiSchema('2.2.1', 'locations', 'Location'), location([connector()]))
  })

  test('a 2.3.0 Location whose connector declares ISO 15118 Plug&Charge capabilities is valid', () => {
    const validate = ocpiSchema('2.3.0', 'locations', 'Location')
    assertValidOcpi(
      validate,
      location([connector({ capabilities: ['ISO_15118_2_PLUG_AND_CHARGE', 'ISO_15118_20_PLUG_AND_CHARGE'] })], {
        help_phone: '+31201234567',
      }),
    )
  })

  test('2.3.0 connector capabilities are an open enum of strings', () => {
    const validate = ocpiSchema('2.3.0', 'locations', 'Connector')
    assertValidOcpi(validate, connector({ capabilities: ['SOME_FUTURE_CAPABILITY'] }))
    assert.deepEqual(errorsOf(validate, connector({ capabilities: [15118] })), ['/capabilities/0 must be string'])
  })

  test('unknown fields pass because the spec never sets additionalProperties: false', () => {
    // So a 2.2.1 Connector carrying 2.3.0 `capabilities` is accepted and its items are not checked;
    // schema validation cannot catch version-mixing of optional fields.
    assertValidOcpi(ocpiSchema('2.2.1', 'locations', 'Connector'), connector({ capabilities: [15118] }))
  })

  test('an EVSE without connectors is rejected (connectors has minItems 1)', () => {
    const loc = location([])
    assert.deepEqual(errorsOf(ocpiSchema('2.2.1', 'locations', 'Location'), loc), ['/evses/0/connectors must NOT have fewer than 1 items'])
  })

  test('a connector missing max_amperage is rejected with its full path', () => {
    const { max_amperage: _a, ...partial } = connector()
    assert.deepEqual(errorsOf(ocpiSchema('2.3.0', 'locations', 'Location'), location([partial])), [
      "/evses/0/connectors/0 must have required property 'max_amperage'",
    ])
  })

  test('coordinates need at least five decimals', () => {
    const loc = location([connector()], { coordinates: { latitude: '52.34', longitude: '4.872660' } })
    assert.match(errorsOf(ocpiSchema('2.2.1', 'locations', 'Location'), loc).join('\n'), /\/coordinates\/latitude must match pattern/)
  })
})

describe('OCPI timestamps (format: date-time)', () => {
  test('OCPI DateTime forms are accepted: Z, no designator (implies UTC), fractional seconds', () => {
    for (const value of [
      '2015-06-29T20:39:09Z',
      '2015-06-29T20:39:09',
      '2016-12-29T17:45:09.2Z',
      '2018-01-01T01:08:01.123',
      '2024-02-29T00:00:00+00:00',
    ]) {
      assert.equal(isOcpiDateTime(value), true, value)
    }
  })

  test('non-UTC offsets, impossible dates, over-long and non-timestamp strings are rejected', () => {
    for (const value of [
      '2015-06-29T22:39:09+02:00',
      '2023-02-29T00:00:00Z',
      '2015-06-29T24:00:00Z',
      '2015-06-29 20:39:09Z',
      '2015-06-29',
      '2016-12-29T17:45:09.123456Z',
      'yesterday',
    ]) {
      assert.equal(isOcpiDateTime(value), false, value)
    }
  })

  test('the validators apply the OCPI DateTime rule to date-time fields', () => {
    const validate = ocpiSchema('2.2.1', 'tokens', 'Token')
    assertValidOcpi(validate, token('2.2.1', { last_updated: '2025-03-14T09:26:53' }))
    assert.deepEqual(errorsOf(validate, token('2.2.1', { last_updated: '2025-03-14T10:26:53+01:00' })), [
      '/last_updated must match format "date-time"',
    ])
  })
})

describe('response envelopes', () => {
  const versionsList = (version: OcpiVersion) => [
    { version: '2.2.1', url: 'https://emsp.example.com/ocpi/2.2.1' },
    ...(version === '2.3.0' ? [{ version: '2.3.0', url: 'https://emsp.example.com/ocpi/2.3.0' }] : []),
  ]

  for (const version of ['2.2.1', '2.3.0'] as const) {
    test(`a ${version} versions list response envelope is valid`, () => {
      assertValidOcpi(ocpiResponseValidator(version, 'versions', 'interface', '/versions', 'get', 200), envelope(versionsList(version)))
    })
  }

  test('a 2.3.0 versions list response without status_code is rejected', () => {
    const { status_code: _s, ...body } = envelope(versionsList('2.3.0'))
    const validate = ocpiResponseValidator('2.3.0', 'versions', 'interface', '/versions', 'get', 200)
    assert.deepEqual(errorsOf(validate, body), [" must have required property 'status_code'"])
  })

  test('the published 2.2.1 OCPIResponse requires neither status_code nor timestamp (2.3.0 requires both)', () => {
    // Spec quirk: the OCPI 2.2.1 text makes status_code and timestamp mandatory, but the 2.2.1 YAML
    // has no `required` on OCPIResponse, so these validators cannot catch a missing status_code in
    // 2.2.1 responses. If the YAML is fixed this test will fail and can be flipped.
    const validate = ocpiResponseValidator('2.2.1', 'versions', 'interface', '/versions', 'get', 200)
    assertValidOcpi(validate, { data: versionsList('2.2.1') })
    assert.deepEqual(errorsOf(ocpiSchema('2.3.0', 'components', 'OCPIResponse'), {}), [
      " must have required property 'status_code'",
      " must have required property 'timestamp'",
    ])
  })

  test('data is optional in the envelope but typed when present', () => {
    const validate = ocpiResponseValidator('2.3.0', 'versions', 'interface', '/versions', 'get', 200)
    assertValidOcpi(validate, { status_code: 1000, timestamp: NOW })
    assert.deepEqual(errorsOf(validate, envelope([{ version: '2.3.0' }])), ["/data/0 must have required property 'url'"])
    assert.deepEqual(errorsOf(validate, { ...envelope(versionsList('2.3.0')), status_code: '1000' }), ['/status_code must be integer'])
  })

  test('version details responses live at /versions/<version> and carry endpoints', () => {
    for (const version of ['2.2.1', '2.3.0'] as const) {
      const validate = ocpiResponseValidator(version, 'versions', 'interface', `/versions/${version}`, 'get', 200)
      assertValidOcpi(
        validate,
        envelope({
          version,
          endpoints: [
            { identifier: 'credentials', role: 'SENDER', url: `https://emsp.example.com/ocpi/${version}/credentials` },
            { identifier: 'tokens', role: 'SENDER', url: `https://emsp.example.com/ocpi/${version}/tokens` },
            { identifier: 'locations', role: 'RECEIVER', url: `https://emsp.example.com/ocpi/${version}/locations` },
          ],
        }),
      )
      // InterfaceRole is closed: only SENDER and RECEIVER.
      assert.deepEqual(
        errorsOf(validate, envelope({ version, endpoints: [{ identifier: 'tokens', role: 'BOTH', url: 'https://x.example' }] })),
        ['/data/endpoints/0/role must be equal to one of the allowed values'],
      )
    }
  })

  test('a real-time authorization response wraps AuthorizationInfo and reports nested errors under /data', () => {
    const validate = ocpiResponseValidator('2.2.1', 'tokens', 'sender-interface', '/tokens/{token_uid}/authorize', 'post', 200)
    assertValidOcpi(validate, envelope({ allowed: 'ALLOWED', token: token('2.2.1') }))
    assert.deepEqual(errorsOf(validate, envelope({ allowed: 'ALLOWED', token: { uid: '1' } })).slice(0, 2), [
      "/data/token must have required property 'country_code'",
      "/data/token must have required property 'party_id'",
    ])
  })

  test('the token list response is an array of Tokens', () => {
    const validate = ocpiResponseValidator('2.3.0', 'tokens', 'sender-interface', '/tokens', 'GET', 200)
    assertValidOcpi(validate, envelope([token('2.3.0'), token('2.3.0', { uid: 'APP-USER-1', type: 'APP_USER' })]))
    assert.deepEqual(errorsOf(validate, envelope([token('2.3.0', { valid: 'yes' })])), ['/data/0/valid must be boolean'])
  })

  test('documented error responses validate the OCPI error envelope', () => {
    // 404 reuses OCPIResponse; 400 and 401 are inline envelopes without `required` in both versions.
    assertValidOcpi(ocpiResponseValidator('2.3.0', 'tokens', 'sender-interface', '/tokens/{token_uid}/authorize', 'post', 404), {
      status_code: 2004,
      status_message: 'Unknown Token',
      timestamp: NOW,
    })
    const unauthorized = ocpiResponseValidator('2.2.1', 'credentials', 'interface', '/credentials', 'get', 401)
    assertValidOcpi(unauthorized, { status_code: 2000, status_message: 'Unauthorized', timestamp: NOW })
    assert.deepEqual(errorsOf(unauthorized, { status_code: 2000, timestamp: 'now' }), ['/timestamp must match format "date-time"'])
    const alreadyRegistered = ocpiResponseValidator('2.2.1', 'credentials', 'interface', '/credentials', 'post', 405)
    assertValidOcpi(alreadyRegistered, { status_code: 2000, status_message: 'Already registered', timestamp: NOW })
  })

  test('the credentials responses carry the Credentials object', () => {
    for (const method of ['get', 'post', 'put']) {
      assertValidOcpi(ocpiResponseValidator('2.3.0', 'credentials', 'interface', '/credentials', method, 200), envelope(credentials()))
    }
    assertValidOcpi(ocpiResponseValidator('2.3.0', 'credentials', 'interface', '/credentials', 'delete', 200), {
      status_code: 1000,
      timestamp: NOW,
    })
  })
})

describe('request bodies', () => {
  test('the credentials POST and PUT bodies are Credentials objects', () => {
    for (const method of ['post', 'put']) {
      const validate = ocpiRequestValidator('2.2.1', 'credentials', 'interface', '/credentials', method)
      assertValidOcpi(validate, credentials())
      assert.deepEqual(errorsOf(validate, credentials({ url: undefined })), [" must have required property 'url'"])
    }
  })

  test('the tokens receiver PUT body is a Token and PATCH is a TokenPatch', () => {
    const path = '/tokens/{country_code}/{party_id}/{token_uid}'
    assertValidOcpi(ocpiRequestValidator('2.3.0', 'tokens', 'receiver-interface', path, 'put'), token('2.3.0', { type: 'EMAID' }))
    const patch = ocpiRequestValidator('2.3.0', 'tokens', 'receiver-interface', path, 'patch')
    assertValidOcpi(patch, { valid: false, last_updated: NOW })
    assert.deepEqual(errorsOf(patch, { valid: false }), [" must have required property 'last_updated'"])
  })

  test('the locations receiver PUT body is a Location and PATCH is a LocationPatch', () => {
    for (const version of ['2.2.1', '2.3.0'] as const) {
      const path = '/locations/{country_code}/{party_id}/{location_id}'
      assertValidOcpi(ocpiRequestValidator(version, 'locations', 'receiver-interface', path, 'put'), location([connector()]))
      assertValidOcpi(ocpiRequestValidator(version, 'locations', 'receiver-interface', path, 'patch'), {
        publish: false,
        last_updated: NOW,
      })
      const connectorPath = '/locations/{country_code}/{party_id}/{location_id}/{evse_uid}/{connector_id}'
      assertValidOcpi(ocpiRequestValidator(version, 'locations', 'receiver-interface', connectorPath, 'put'), connector())
    }
  })

  test('the optional authorize body is LocationReferences', () => {
    const validate = ocpiRequestValidator('2.2.1', 'tokens', 'sender-interface', '/tokens/{token_uid}/authorize', 'post')
    assertValidOcpi(validate, { location_id: 'LOC-0001', evse_uids: ['EVSE-0001'] })
    assert.deepEqual(errorsOf(validate, { evse_uids: ['EVSE-0001'] }), [" must have required property 'location_id'"])
  })
})

describe('lookup errors and caching', () => {
  test('asking for an operation or schema the spec does not have explains what exists', () => {
    assert.throws(() => ocpiSchema('2.2.1', 'tokens', 'Tokn'), /no schema 'Tokn'\. Known: Token, TokenPatch, AuthorizationInfo/)
    assert.throws(
      () => ocpiResponseValidator('2.2.1', 'versions', 'interface', '/versions/2.3.0', 'get', 200),
      /no path '\/versions\/2\.3\.0'\. Known: \/versions, \/versions\/2\.2\.1/,
    )
    assert.throws(
      () => ocpiResponseValidator('2.2.1', 'versions', 'interface', '/versions', 'post', 200),
      /no 'post' operation\. Known: get/,
    )
    assert.throws(
      () => ocpiResponseValidator('2.2.1', 'tokens', 'sender-interface', '/tokens', 'get', 404),
      /response 404: not documented\. Documented: 200, 400, 401/,
    )
    assert.throws(() => ocpiRequestValidator('2.2.1', 'tokens', 'sender-interface', '/tokens', 'get'), /request body: not documented/)
    assert.throws(() => ocpiSchema('2.2.1', 'bookings', 'Booking'), /spec file not found/)
  })

  test('validators are compiled once and reused', () => {
    assert.equal(ocpiSchema('2.3.0', 'locations', 'Location'), ocpiSchema('2.3.0', 'locations', 'Location'))
    const path = '/tokens/{token_uid}/authorize'
    assert.equal(
      ocpiResponseValidator('2.3.0', 'tokens', 'sender-interface', path, 'post', 200),
      ocpiResponseValidator('2.3.0', 'tokens', 'sender-interface', path, 'POST', 200),
    )
    const validate = ocpiSchema('2.3.0', 'locations', 'Location')
    const payload = location([connector({ capabilities: ['ISO_15118_2_PLUG_AND_CHARGE'] })])
    const started = performance.now()
    for (let i = 0; i < 5000; i++) assert.equal(validate(payload), true)
    assert.ok(performance.now() - started < 2000, 'validating 5000 Locations should take well under 2 s')
  })

  test('assertValidOcpi is silent for valid payloads and throws an AssertionError listing every violation', () => {
    const validate = ocpiSchema('2.2.1', 'tokens', 'Token')
    assertValidOcpi(validate, token('2.2.1'))
    const err = (() => {
      try {
        assertValidOcpi(validate, token('2.2.1', { uid: undefined, whitelist: 'SOMETIMES' }), 'PUT /tokens body')
      } catch (e) {
        return e
      }
      assert.fail('expected an AssertionError')
    })()
    assert.ok(err instanceof assert.AssertionError)
    assert.equal(
      err.message,
      [
        'PUT /tokens body does not match the OCPI spec:',
        "  (root) must have required property 'uid'",
        '  /whitelist must be equal to one of the allowed values: ["ALWAYS","ALLOWED","ALLOWED_OFFLINE","NEVER"]',
      ].join('\n'),
    )
  })
})

describe('whole specification', () => {
  const specsRoot = new URL('../spec/ocpi/', import.meta.url)
  const interfaceFiles: OcpiInterfaceFile[] = ['sender-interface', 'receiver-interface', 'interface']

  type YamlDoc = {
    components?: { schemas?: Record<string, unknown> }
    paths?: Record<string, Record<string, { requestBody?: unknown; responses?: Record<string, unknown> }>>
  }
  const readYaml = (version: OcpiVersion, relative: string): YamlDoc | undefined => {
    try {
      return parseYaml(readFileSync(new URL(`${version}/${relative}`, specsRoot), 'utf8')) as YamlDoc
    } catch {
      return undefined
    }
  }

  for (const version of ['2.2.1', '2.3.0'] as const) {
    test(`every ${version} schema and every documented JSON request and response body compiles (all $refs resolve)`, () => {
      const modules = readdirSync(new URL(`${version}/modules/`, specsRoot))
      let compiled = 0
      for (const module of ['components', ...modules]) {
        const schemaFile = module === 'components' ? 'components/schema.yaml' : `modules/${module}/schema.yaml`
        for (const name of Object.keys(readYaml(version, schemaFile)?.components?.schemas ?? {})) {
          assert.equal(typeof ocpiSchema(version, module, name), 'function')
          compiled++
        }
        for (const file of interfaceFiles) {
          for (const [path, item] of Object.entries(readYaml(version, `modules/${module}/${file}.yaml`)?.paths ?? {})) {
            for (const [method, op] of Object.entries(item)) {
              if (op.requestBody) {
                ocpiRequestValidator(version, module, file, path, method)
                compiled++
              }
              for (const status of Object.keys(op.responses ?? {})) {
                ocpiResponseValidator(version, module, file, path, method, Number(status))
                compiled++
              }
            }
          }
        }
      }
      // Guards against the loop silently finding nothing (e.g. a moved specs directory).
      assert.ok(compiled > 200, `expected the whole spec, compiled ${compiled}`)
    })
  }
})
