import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { MAX_CERTIFICATE_BASE64, OPCP_ERRATA, type OpcpErratumId } from '../src/core/opcp/errata.ts'
import { CALLED, type CalledOperation } from '../src/protocols/opcp/protocol.ts'
import {
  describeErrors,
  FINGERPRINT_PATTERN,
  OPCP_SPEC_FILES,
  opcpAnswerValidator,
  opcpExamples,
  opcpRequestValidator,
  opcpValidator,
  schemasFailingWithoutErrata,
  webhookPayloadExamples,
  webhookPayloadValidator,
  type OpcpValidator,
} from '../src/protocols/opcp/schemas.ts'

// Valid payloads come from Hubject's own x-examples where they fit; every refusal must name the
// field, so a validator that refuses everything (or accepts everything) fails these tests.

const SRC = fileURLToPath(new URL('../src', import.meta.url))
const SPEC = fileURLToPath(new URL('../spec/opcp/1.0.0', import.meta.url))

type Payload = Record<string, unknown>

function example(file: string, schema: string): Payload {
  const [first] = opcpExamples(file, schema)
  assert.ok(first, `${file} ${schema} has an x-example`)
  return first[1] as Payload
}

/** Asserts a payload matches the schema, listing the violations when not (a plain call, no type narrowing). */
function assertValid(validate: OpcpValidator, payload: unknown): void {
  assert.ok(validate(payload), describeErrors(validate.errors))
}

/** The errata the schema loader reads; the others are cited by the client, the receiver and the simulator. */
const SCHEMA_ERRATA: OpcpErratumId[] = [
  'unicode-pattern-escapes',
  'certificate-max-length',
  'contract-data-sub-ca-required',
  'fingerprint-patterns',
  'root-cert-property-count',
  'contract-cert-pattern-prose',
]

const HEX_FINGERPRINT = 'a76ae4c5d00e06a967554511865bfa89e79590e8a61b5a71f9ce22e039d6c370'

describe('the OPCP 1.0.0 reference', () => {
  test('all eight reference files are in the repository and every component schema compiles with the errata read', () => {
    assert.deepEqual(readdirSync(SPEC).sort(), [...OPCP_SPEC_FILES].sort())
    for (const file of OPCP_SPEC_FILES) {
      const doc = JSON.parse(readFileSync(join(SPEC, file), 'utf8')) as { components?: { schemas?: Payload } }
      for (const name of Object.keys(doc.components?.schemas ?? {})) {
        assert.equal(typeof opcpValidator(file, name), 'function', `${file} ${name}`)
      }
    }
    for (const kind of ['root', 'pcidEmaid'] as const) assert.equal(typeof webhookPayloadValidator(kind), 'function')
  })

  test('every operation we call has the request and answer validators its CALLED entry names', () => {
    for (const [op, operation] of Object.entries(CALLED) as Array<[CalledOperation, (typeof CALLED)[CalledOperation]]>) {
      if ('request' in operation) assert.equal(typeof opcpRequestValidator(op), 'function', op)
      if ('answer' in operation) assert.equal(typeof opcpAnswerValidator(op), 'function', op)
    }
    // The token call's bodies are written inline in accessToken.v1.json; they are found there.
    const token = opcpRequestValidator('issueToken')
    assert.ok(token({ client_id: 'a', client_secret: 'b', audience: 'https://x.example', grant_type: 'client_credentials' }))
    assert.ok(!token({ client_id: 'a' }))
    assert.match(describeErrors(token.errors), /client_secret: is required/)
  })

  test('an unknown schema name is refused with the file named', () => {
    assert.throws(() => opcpValidator('cps.v1.json', 'NoSuchSchema'), /cps\.v1\.json/)
    assert.throws(
      () => opcpValidator('nope.v1.json', 'Error'),
      (err: Error) => /nope\.v1\.json/.test(err.message) && /no reference file/.test(String((err.cause as Error).message)),
    )
  })

  test('most schemas do not even compile as published, because of the "\\-" escapes', () => {
    const effects = schemasFailingWithoutErrata()
    const notCompiling = effects.filter((e) => e.difference.startsWith('does not compile'))
    assert.ok(notCompiling.length >= 10, `${notCompiling.length} schemas fail to compile as published`)
    assert.ok(notCompiling.every((e) => /Invalid escape|Invalid regular expression/.test(e.difference)))
    for (const name of ['SignedContractDataRequest', 'SignedContractDataResponse']) {
      assert.ok(
        notCompiling.some((e) => e.file === 'cps.v1.json' && e.schema === name),
        name,
      )
    }
    assert.ok(notCompiling.some((e) => e.file === 'rcp.v1.json' && e.schema === 'RootCertV2'))
    assert.ok(notCompiling.some((e) => e.file === 'webhook.payload.v1.json' && e.schema === 'pcidEmaid'))
  })

  test("Hubject's own ContractData example is refused by the published 800-character limit and accepted with the errata", () => {
    const contractData = example('cps.v1.json', 'ContractData')
    const lengths = ['contractSubCa1Certificate', 'contractSubCa2Certificate'].map((k) => String(contractData[k]).length)
    assert.ok(
      lengths.every((n) => n > 800 && n <= MAX_CERTIFICATE_BASE64),
      `certificate lengths ${lengths}`,
    )
    const effect = schemasFailingWithoutErrata().find((e) => e.file === 'cps.v1.json' && e.schema === 'ContractData')
    assert.ok(effect, 'ContractData is judged differently as published')
    assert.match(effect.difference, /invalid as published .*must NOT have more than 800 characters.* and valid with the errata/)
    const validate = opcpValidator('cps.v1.json', 'ContractData')
    assertValid(validate, contractData)
  })

  test("Hubject's SignedContractDataRequest example carries the deprecated contract-data shape and is refused, naming the fields", () => {
    const request = example('cps.v1.json', 'SignedContractDataRequest')
    const validate = opcpRequestValidator('signContractData')
    assert.equal(validate(request), false)
    const described = describeErrors(validate.errors)
    assert.match(described, /contractData\.contractCertificate: is required/)
    assert.match(described, /contractData\.contractSubCa2Certificate: is required/)
    // The same request with the ContractData example inside is what the CPS takes.
    const fixed = { ...request, contractData: example('cps.v1.json', 'ContractData') }
    assertValid(validate, fixed)
  })

  test('contract data without the Sub-CA 2 certificate is refused (erratum contract-data-sub-ca-required)', () => {
    const { contractSubCa2Certificate: _, ...withoutSubCa2 } = example('cps.v1.json', 'ContractData')
    const validate = opcpValidator('cps.v1.json', 'ContractData')
    assert.ok(!validate(withoutSubCa2))
    assert.equal(describeErrors(validate.errors), 'contractSubCa2Certificate: is required')
  })

  test('contract data without dHpublickey and a PCID of five characters are refused, each field named', () => {
    const { dHpublickey: _, ...contractData } = example('cps.v1.json', 'ContractData')
    const validate = opcpRequestValidator('signContractData')
    assert.ok(!validate({ contractData, pcid: 'ABCDE', xsdMsgDefNamespace: 'urn:iso:15118:2:2013:MsgDef' }))
    const described = describeErrors(validate.errors)
    assert.match(described, /contractData\.dHpublickey: is required/)
    assert.match(described, /pcid: must match pattern/)
  })

  test('a certificate longer than 800 bytes of DER is still refused', () => {
    const contractData = example('cps.v1.json', 'ContractData')
    const validate = opcpValidator('cps.v1.json', 'ContractData')
    assert.ok(!validate({ ...contractData, contractCertificate: 'A'.repeat(MAX_CERTIFICATE_BASE64 + 4) }))
    assert.match(describeErrors(validate.errors), /^contractCertificate: must NOT have more than 1068 characters$/)
  })

  test('a CPS answer names its V2G root by SHA-256 fingerprint, hex with or without colons (erratum fingerprint-patterns)', () => {
    const validate = opcpAnswerValidator('signContractData')
    const answer = {
      pcid: 'HUBOEMPROVCQA0615',
      emaid: 'DE8PSC0AD21B13P',
      xsdMsgDefNamespace: 'urn:iso:15118:2:2013:MsgDef',
      signedData: 'PD94bWw=',
      cpsV2GRootCertificateFingerprint: HEX_FINGERPRINT,
      cpsRootDistinguishedName: 'CN=V2G Root CA G2, DC=V2G, O=Hubject GmbH, C=DE',
    }
    assertValid(validate, answer)
    const colons = HEX_FINGERPRINT.match(/../g)!.join(':')
    assertValid(validate, { ...answer, cpsV2GRootCertificateFingerprint: colons })
    assert.ok(!validate({ ...answer, cpsV2GRootCertificateFingerprint: '896b6655-180e-4304-b642-606bb00df8f0' }))
    assert.match(describeErrors(validate.errors), /^cpsV2GRootCertificateFingerprint: must match pattern/)
    assert.ok(new RegExp(FINGERPRINT_PATTERN, 'u').test(HEX_FINGERPRINT.toUpperCase()))
    // pcid is `nullable` in the reference: null is an answer without a stored contract.
    assertValid(validate, { ...answer, pcid: null })
  })

  test('a contract lookup answer takes a DN as DN and a fingerprint as fingerprint (the swapped patterns)', () => {
    const validate = opcpAnswerValidator('lookupContract')
    const contract = {
      pcid: 'HUBOEMPROVCQA0615',
      emaid: 'DE8PSC0AD21B13P',
      cpsRootCertificateDN: 'CN=V2G Root CA QA G1, DC=V2G, O=Hubject GmbH, C=DE',
      cpsV2GRootCertificateFingerprint: HEX_FINGERPRINT,
    }
    assertValid(validate, { XMLContracts: [contract] })
  })

  test('a root certificate with its type and certificate is valid (erratum root-cert-property-count)', () => {
    const validate = opcpValidator('rcp.v1.json', 'RootCertV2')
    assertValid(validate, { rootType: 'V2G', caCertificate: 'MIICWTCCAAAAAA' })
    assert.ok(!validate({ rootType: 'V2G' }))
    assert.equal(describeErrors(validate.errors), 'caCertificate: is required')
  })

  test('webhook bodies: the root example passes; a contract event with a certificate passes (erratum contract-cert-pattern-prose)', () => {
    const root = webhookPayloadValidator('root')
    for (const [name, body] of webhookPayloadExamples('root')) assert.ok(root(body), `${name}: ${describeErrors(root.errors)}`)
    const pcidEmaid = webhookPayloadValidator('pcidEmaid')
    const body = {
      timestamp: '2026-02-03T00:00:00Z',
      eventId: 'b1b86334-7c74-4ccc-b78d-d4f773d3b559',
      eventType: 'mo.contract.created.sent.to.oem',
      xsdMsgDefNamespace: 'urn:iso:15118:2:2013:MsgDef',
      payload: {
        emaid: 'DE8PSC0AD21B13P',
        pcid: 'WMI123456712345678',
        contractCert: 'MIICXjCCAeS',
        cpsSignerRootFingerprint: HEX_FINGERPRINT,
      },
    }
    assertValid(pcidEmaid, body)
    // Erratum factory-reset-event-name: both names of the factory reset are events.
    for (const eventType of ['mo.prov.cert.factory.reset', 'mo.prov.cert.updated.factory.reset']) {
      assert.ok(pcidEmaid({ ...body, eventType }), `${eventType}: ${describeErrors(pcidEmaid.errors)}`)
    }
    assert.ok(!pcidEmaid({ ...body, payload: { emaid: 'DE8PSC0AD21B13P' } }))
    assert.equal(describeErrors(pcidEmaid.errors), 'payload.pcid: is required')
  })

  test('the published PCID/EMAID webhook examples carry a 16-character EMAID, which the pattern refuses', () => {
    const validate = webhookPayloadValidator('pcidEmaid')
    for (const [name, body] of webhookPayloadExamples('pcidEmaid')) {
      assert.ok(!validate(body), name)
      assert.match(describeErrors(validate.errors), /^payload\.emaid: must match pattern/)
    }
  })

  test('every schema-level erratum is cited by its ID in the source', () => {
    const sources = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
        entry.isDirectory() ? sources(join(dir, entry.name)) : entry.name.endsWith('.ts') ? [join(dir, entry.name)] : [],
      )
    const text = sources(SRC)
      .filter((file) => !file.endsWith(join('core', 'opcp', 'errata.ts')))
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n')
    const ids = OPCP_ERRATA.map((e) => e.id)
    for (const id of SCHEMA_ERRATA) {
      assert.ok(ids.includes(id), `${id} is in OPCP_ERRATA`)
      assert.ok(text.includes(`Erratum ${id}`), `no "Erratum ${id}" in src/`)
    }
  })
})
