// The OPCP simulator as an MO meets it over HTTP: tokens, the root and provisioning certificate
// pools, the CPS signing real contract data (an MO CA built here with openpnc's own profiles and
// key envelope), the CCP, and signed webhook deliveries. Every body sent to the CPS that is meant
// to pass is checked against the reference schema first, so the tests cannot drift from it.
import assert from 'node:assert/strict'
import { createHash, createHmac, webcrypto } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { request } from 'undici'
import { emaidCheckCharacter } from '../src/core/identifiers/index.ts'
import { openContractKey } from '../src/core/pki/key-envelope.ts'
import {
  certificateSummary,
  crlUrlOf,
  issueAuthorityCertificate,
  issueContractCertificate,
  ocspUrlOf,
  type Issuer,
} from '../src/core/pki/profiles.ts'
import { decodeCertificates } from '../src/core/pki/encoding.ts'
import { sealContractKey } from '../src/core/pki/key-envelope.ts'
import { checkProvisioningCertificate, pointOf, TrustStore } from '../src/core/pki/provisioning.ts'
import { ISO_15118_2_NAMESPACE, opcpPath } from '../src/protocols/opcp/protocol.ts'
import {
  describeErrors,
  opcpAnswerValidator,
  opcpRequestValidator,
  webhookPayloadValidator,
  type OpcpValidator,
} from '../src/protocols/opcp/schemas.ts'
import { OpcpSimulator, type SimVehicle } from '../src/sim/opcp/sim.ts'

type CryptoKey = webcrypto.CryptoKey
type KeyPair = { publicKey: CryptoKey; privateKey: CryptoKey }

const DAY = 86_400_000
const PUBLIC_URL = 'https://mo.example.com'
const newKeys = () => webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']) as Promise<KeyPair>

/** An MO CA (root, Sub-CA 1, Sub-CA 2) issuing contract certificates as openpnc's does. */
async function moCa(name: string) {
  const now = new Date()
  const days = (n: number) => new Date(now.getTime() + n * DAY)
  const subject = (commonName: string) => ({ commonName, organization: name, country: 'DE', domainComponent: 'MO' })
  const [rootKeys, sub1Keys, sub2Keys] = await Promise.all([newKeys(), newKeys(), newKeys()])
  const root = await issueAuthorityCertificate({
    role: 'root',
    subject: subject(`${name} MO Root CA`),
    publicKey: rootKeys.publicKey,
    selfSigningKey: rootKeys.privateKey,
    notBefore: now,
    notAfter: days(3650),
  })
  const urls = (issuer: Buffer) => ({
    ocspUrl: ocspUrlOf(PUBLIC_URL),
    crlUrl: crlUrlOf(PUBLIC_URL, certificateSummary(issuer).subjectKeyId),
  })
  const sub1 = await issueAuthorityCertificate({
    role: 'sub_ca_1',
    subject: subject(`${name} MO Sub-CA 1`),
    publicKey: sub1Keys.publicKey,
    issuer: { certificateDer: root, privateKey: rootKeys.privateKey },
    notBefore: now,
    notAfter: days(1460),
    urls: urls(root),
  })
  const sub2 = await issueAuthorityCertificate({
    role: 'sub_ca_2',
    subject: subject(`${name} MO Sub-CA 2`),
    publicKey: sub2Keys.publicKey,
    issuer: { certificateDer: sub1, privateKey: sub1Keys.privateKey },
    notBefore: now,
    notAfter: days(1000),
    urls: urls(sub1),
  })
  const sub2Issuer: Issuer = { certificateDer: sub2, privateKey: sub2Keys.privateKey }
  return { root, sub1, sub2, sub2Issuer, urls: urls(sub2) }
}
type MoCa = Awaited<ReturnType<typeof moCa>>
// Answers are read field by field and checked against the reference schemas: loosely typed on purpose.
type Answer = { status: number; body: any }

/** Asserts a payload matches the schema, listing the violations when not (a plain call, no type narrowing). */
function assertValid(validate: OpcpValidator, payload: unknown): void {
  assert.ok(validate(payload), describeErrors(validate.errors))
}

let instance = 0
/** A fresh EMAID with its check character: `prefix` (country + provider) and a counter-made instance. */
function newEmaid(prefix = 'DE8PS'): string {
  const identity = `${prefix}T${String(Date.now() % 1e5).padStart(5, '0')}${String(instance++).padStart(3, '0')}`
  return identity + emaidCheckCharacter(identity)
}

/** ContractData as the CPS takes it: a contract for `emaid` whose key is sealed for the vehicle's provisioning key. */
async function contractData(ca: MoCa, emaid: string, vehicle: SimVehicle, signer: Issuer = ca.sub2Issuer) {
  const keys = await newKeys()
  const now = new Date()
  const certificate = await issueContractCertificate({
    emaid,
    organization: 'Example Mobility',
    publicKey: keys.publicKey,
    issuer: signer,
    notBefore: now,
    notAfter: new Date(now.getTime() + 365 * DAY),
    urls: ca.urls,
  })
  const d = Buffer.from((await webcrypto.subtle.exportKey('jwk', keys.privateKey)).d!, 'base64url')
  const envelope = sealContractKey({ contractPrivateKey: d, peerPublicKey: pointOf(vehicle.provisioningCertificate) })
  return {
    data: {
      contractCertificate: certificate.toString('base64'),
      contractSubCa2Certificate: ca.sub2.toString('base64'),
      contractSubCa1Certificate: ca.sub1.toString('base64'),
      contractSignatureEncryptedPrivateKey: envelope.encryptedPrivateKey.toString('base64'),
      dHpublickey: envelope.dhPublicKey.toString('base64'),
    },
    privateScalar: d,
  }
}

describe('the OPCP simulator', () => {
  const sim = new OpcpSimulator({ providerIds: ['DE8PS', 'de-abc'], webhookAttempts: 3, webhookRetryMs: 20 })
  let token: string
  let ca: MoCa

  async function call(
    method: 'GET' | 'PUT' | 'POST' | 'DELETE',
    path: string,
    body?: unknown,
    bearer: string | null = token,
  ): Promise<Answer> {
    const answer = await request(`${sim.url}${path}`, {
      method,
      headers: {
        ...(bearer !== null && { authorization: `Bearer ${bearer}` }),
        ...(body !== undefined && { 'content-type': 'application/json' }),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await answer.body.text()
    return { status: answer.statusCode, body: text === '' ? undefined : JSON.parse(text) }
  }

  /** PUT to the CPS a body that is meant to pass the schema: asserted first. */
  async function putContract(body: Record<string, unknown>): Promise<Answer> {
    const validate = opcpRequestValidator('signContractData')
    assert.ok(validate(body), `the test sends a schema-valid body: ${describeErrors(validate.errors)}`)
    return call('PUT', opcpPath('signContractData'), body)
  }

  function assertOpcpError(answer: Answer, status: number, message: RegExp) {
    assert.equal(answer.status, status, JSON.stringify(answer.body))
    assert.ok(Array.isArray(answer.body.errorMessages) && answer.body.errorMessages.length > 0)
    assert.match(answer.body.traceId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    assert.ok(
      answer.body.errorMessages.some((m: string) => message.test(m)),
      answer.body.errorMessages.join('\n'),
    )
  }

  before(async () => {
    ;[ca] = await Promise.all([moCa('Example Mobility'), sim.start()])
    const answer = await call(
      'POST',
      '/oauth/token',
      { client_id: 'openpnc-mo', client_secret: 'sim-secret', audience: sim.audience, grant_type: 'client_credentials' },
      null,
    )
    token = answer.body.access_token
  })

  after(() => sim.stop())

  test('a token is issued for the configured client credentials only', async () => {
    const good = {
      client_id: 'openpnc-mo',
      client_secret: 'sim-secret',
      audience: 'https://opcp.sim.openpnc.test',
      grant_type: 'client_credentials',
    }
    const before = sim.tokensIssued
    const json = await call('POST', '/oauth/token', good, null)
    assert.equal(json.status, 200)
    assertValid(opcpAnswerValidator('issueToken'), json.body)
    assert.equal(json.body.token_type, 'Bearer')
    assert.equal(json.body.expires_in, 3600)

    const form = await request(sim.tokenUrl, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(good).toString(),
    })
    assert.equal(form.statusCode, 200)
    assert.ok(((await form.body.json()) as { access_token: string }).access_token)

    const wrongSecret = await call('POST', '/oauth/token', { ...good, client_secret: 'guess' }, null)
    assert.equal(wrongSecret.status, 401)
    assert.equal(wrongSecret.body.error, 'invalid_client')
    assert.equal((await call('POST', '/oauth/token', { ...good, audience: 'https://elsewhere.example' }, null)).status, 401)
    const missing = await call('POST', '/oauth/token', { client_id: 'openpnc-mo' }, null)
    assert.equal(missing.status, 400)
    assert.match(missing.body.error_description, /client_secret/)
    const unreadable = await request(sim.tokenUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' })
    assert.equal(unreadable.statusCode, 400)
    assert.equal(((await unreadable.body.json()) as { error: string }).error, 'invalid_request')
    assert.equal(sim.tokensIssued, before + 2)

    assert.equal((await call('GET', opcpPath('rootCertificates'), undefined, null)).status, 401)
    assert.equal((await call('GET', opcpPath('rootCertificates'), undefined, 'made-up')).status, 401)
    assert.equal((await call('GET', opcpPath('rootCertificates'), undefined, json.body.access_token)).status, 200)
  })

  test('the root certificate pool serves the V2G and OEM roots, and an MO root once added', async () => {
    const all = await call('GET', opcpPath('rootCertificates'))
    assert.equal(all.status, 200)
    const validate = opcpAnswerValidator('rootCertificates')
    assertValid(validate, all.body)
    const roots = all.body.RootCertificateCollection.rootCertificates as Array<Record<string, string>>
    assert.deepEqual(roots.map((r) => r.rootType).sort(), ['OEM', 'V2G'])
    const v2g = roots.find((r) => r.rootType === 'V2G')!
    const der = decodeCertificates(sim.v2gRootPem(), 'v2g')[0]!
    assert.equal(v2g.caCertificate, der.toString('base64'))
    assert.equal(v2g.fingerprint, createHash('sha256').update(der).digest('hex'))
    assert.equal(v2g.signatureAlgorithm, 'secp256r1')

    assert.equal(
      (await call('GET', `${opcpPath('rootCertificates')}?rootType=mo`)).body.RootCertificateCollection.rootCertificates.length,
      0,
    )
    sim.addMoRoot(`-----BEGIN CERTIFICATE-----\n${ca.root.toString('base64')}\n-----END CERTIFICATE-----\n`)
    const mo = await call('GET', `${opcpPath('rootCertificates')}?rootType=mo`)
    assertValid(validate, mo.body)
    assert.equal(mo.body.RootCertificateCollection.rootCertificates[0].caCertificate, ca.root.toString('base64'))
    const oem = await call('GET', `${opcpPath('rootCertificates')}?rootType=oem`)
    assert.deepEqual(
      oem.body.RootCertificateCollection.rootCertificates.map((r: { caCertificate: string }) => r.caCertificate),
      [decodeCertificates(sim.oemRootPem(), 'oem')[0]!.toString('base64')],
    )
    assertOpcpError(await call('GET', `${opcpPath('rootCertificates')}?rootType=pe`), 400, /rootType/)
  })

  test("the PCP serves a provisioning certificate that passes openpnc's provisioning check", async () => {
    const vehicle = await sim.addVehicle()
    assert.match(vehicle.pcid, /^[A-Z0-9]{17}$/)
    const answer = await call('GET', opcpPath('provisioningCertificate', { pcid: vehicle.pcid }))
    assert.equal(answer.status, 200)
    const validate = opcpAnswerValidator('provisioningCertificate')
    assertValid(validate, answer.body)
    const message = answer.body.OEMMessage
    assert.equal(message.xsdMsgDefNamespace, ISO_15118_2_NAMESPACE)
    const checked = checkProvisioningCertificate({
      certificate: Buffer.from(message.vehicleCertificate, 'base64'),
      chain: [Buffer.from(message.subCA2Certificate, 'base64'), Buffer.from(message.subCA1Certificate, 'base64')],
      pcid: vehicle.pcid,
      trusted: new TrustStore(decodeCertificates(sim.oemRootPem(), 'oem')),
      now: new Date(),
    })
    assert.deepEqual(checked.publicKey, pointOf(vehicle.provisioningCertificate))

    // A new key for the same car: a new certificate under the same PCID.
    const renewed = await sim.replaceVehicleKey(vehicle.pcid)
    assert.notDeepEqual(renewed.provisioningCertificate, vehicle.provisioningCertificate)
    const again = await call('GET', opcpPath('provisioningCertificate', { pcid: vehicle.pcid }))
    assert.equal(again.body.OEMMessage.vehicleCertificate, renewed.provisioningCertificate.toString('base64'))
    sim.removeVehicle(vehicle.pcid)
    assert.equal((await call('GET', opcpPath('provisioningCertificate', { pcid: vehicle.pcid }))).status, 404)
  })

  test('an unknown PCID is a 404 with errorMessages and a traceId', async () => {
    const answer = await call('GET', opcpPath('provisioningCertificate', { pcid: 'UNKNOWNVEHICLE0001' }))
    assertOpcpError(answer, 404, /^No provisioning certificate found for PCID UNKNOWNVEHICLE0001$/)
  })

  test('the CPS refuses contract data that fails the schema, naming the field', async () => {
    const vehicle = await sim.addVehicle()
    const { data } = await contractData(ca, newEmaid(), vehicle)
    const { dHpublickey: _, ...withoutDh } = data
    const answer = await call('PUT', opcpPath('signContractData'), {
      contractData: withoutDh,
      pcid: 'ABCDE',
      xsdMsgDefNamespace: ISO_15118_2_NAMESPACE,
    })
    assertOpcpError(answer, 400, /^contractData\.dHpublickey: is required$/)
    assert.ok(answer.body.errorMessages.some((m: string) => /^pcid: must match pattern/.test(m)))
    assert.equal(sim.contracts.size, 0)
  })

  test("the CPS refuses an EMAID outside the MO's provider IDs", async () => {
    const vehicle = await sim.addVehicle()
    const { data } = await contractData(ca, newEmaid('NLXYZ'), vehicle)
    const answer = await putContract({ contractData: data, pcid: vehicle.pcid, xsdMsgDefNamespace: ISO_15118_2_NAMESPACE })
    assertOpcpError(answer, 403, /^MO is not allowed to use EMAID prefix NLXYZ/)
    // A provider ID given with a separator and in lower case ('de-abc') is one the MO may use.
    const allowed = await contractData(ca, newEmaid('DEABC'), vehicle)
    assert.equal((await putContract({ contractData: allowed.data, xsdMsgDefNamespace: ISO_15118_2_NAMESPACE })).status, 201)
  })

  test('the CPS refuses a contract certificate that the Sub-CA 2 sent with it did not sign', async () => {
    const vehicle = await sim.addVehicle()
    const other = await moCa('Other Mobility')
    const { data } = await contractData(ca, newEmaid(), vehicle, other.sub2Issuer)
    const answer = await putContract({ contractData: data, pcid: vehicle.pcid, xsdMsgDefNamespace: ISO_15118_2_NAMESPACE })
    assertOpcpError(answer, 400, /not signed by contractSubCa2Certificate/)
  })

  test('the CPS refuses an EMAID already stored for another PCID', async () => {
    const [first, second] = await Promise.all([sim.addVehicle(), sim.addVehicle()])
    const emaid = newEmaid()
    const forFirst = await contractData(ca, emaid, first)
    assert.equal(
      (await putContract({ contractData: forFirst.data, pcid: first.pcid, xsdMsgDefNamespace: ISO_15118_2_NAMESPACE })).status,
      201,
    )
    const forSecond = await contractData(ca, emaid, second)
    const answer = await putContract({ contractData: forSecond.data, pcid: second.pcid, xsdMsgDefNamespace: ISO_15118_2_NAMESPACE })
    assertOpcpError(answer, 400, /^EMAID already used by other PCID$/)
    assert.equal(sim.contracts.get(emaid)!.pcid, first.pcid)
    // The same EMAID again for the same PCID replaces the stored contract.
    const renewed = await contractData(ca, emaid, first)
    assert.equal(
      (await putContract({ contractData: renewed.data, pcid: first.pcid, xsdMsgDefNamespace: ISO_15118_2_NAMESPACE })).status,
      201,
    )
    assert.equal(sim.contracts.get(emaid)!.contractData.contractCertificate, renewed.data.contractCertificate)
    // A PCID the PCP does not know is refused too.
    const unknown = await putContract({ contractData: renewed.data, pcid: 'UNKNOWNVEHICLE0002', xsdMsgDefNamespace: ISO_15118_2_NAMESPACE })
    assert.equal(unknown.status, 400) // the EMAID is stored for `first`
    const fresh = await contractData(ca, newEmaid(), first)
    assertOpcpError(
      await putContract({ contractData: fresh.data, pcid: 'UNKNOWNVEHICLE0002', xsdMsgDefNamespace: ISO_15118_2_NAMESPACE }),
      404,
      /PCID UNKNOWNVEHICLE0002/,
    )
  })

  test('signed contract data is stored in the CCP, looked up and deleted', async () => {
    const vehicle = await sim.addVehicle()
    const emaid = newEmaid()
    const { data, privateScalar } = await contractData(ca, emaid, vehicle)
    const answer = await putContract({ contractData: data, pcid: vehicle.pcid, xsdMsgDefNamespace: ISO_15118_2_NAMESPACE })
    assert.equal(answer.status, 201, JSON.stringify(answer.body))
    const validate = opcpAnswerValidator('signContractData')
    assertValid(validate, answer.body)
    assert.equal(answer.body.emaid, emaid)
    assert.equal(answer.body.pcid, vehicle.pcid)
    const v2g = decodeCertificates(sim.v2gRootPem(), 'v2g')[0]!
    assert.equal(answer.body.cpsV2GRootCertificateFingerprint, createHash('sha256').update(v2g).digest('hex'))

    // The signed data is a CertificateInstallationRes the car can open with its provisioning key.
    const xml = Buffer.from(answer.body.signedData, 'base64').toString('utf8')
    assert.match(xml, /<ns7:CertificateInstallationRes>/)
    assert.match(xml, new RegExp(`<ns7:eMAID ns4:Id="ID4">${emaid}</ns7:eMAID>`))
    assert.ok(xml.includes(data.contractCertificate) && xml.includes(data.contractSubCa2Certificate))
    assert.match(xml, /<ns5:SignatureValue>[A-Za-z0-9+/=]+<\/ns5:SignatureValue>/)
    const recipient = Buffer.from((await webcrypto.subtle.exportKey('jwk', vehicle.privateKey)).d!, 'base64url')
    const opened = openContractKey(
      {
        encryptedPrivateKey: Buffer.from(/ContractSignatureEncryptedPrivateKey ns4:Id="ID2">([^<]+)</.exec(xml)![1]!, 'base64'),
        dhPublicKey: Buffer.from(/DHpublickey ns4:Id="ID3">([^<]+)</.exec(xml)![1]!, 'base64'),
      },
      recipient,
    )
    assert.deepEqual(opened, privateScalar)

    const stored = sim.contracts.get(emaid)!
    assert.equal(stored.pcid, vehicle.pcid)
    assert.equal(stored.signedData, answer.body.signedData)

    const lookup = await call('GET', opcpPath('lookupContract', { emaid }))
    assert.equal(lookup.status, 200)
    const validateLookup = opcpAnswerValidator('lookupContract')
    assertValid(validateLookup, lookup.body)
    assert.deepEqual(
      lookup.body.XMLContracts.map((c: Record<string, unknown>) => [c.pcid, c.emaid, c.contractCertificate, c.defaultContract]),
      [[vehicle.pcid, emaid, data.contractCertificate, true]],
    )

    const removed = await call('DELETE', opcpPath('deleteContract', { emaid }))
    assert.equal(removed.status, 200)
    assert.equal(sim.contracts.has(emaid), false)
    assertOpcpError(await call('GET', opcpPath('lookupContract', { emaid })), 404, new RegExp(emaid))
    assertOpcpError(await call('DELETE', opcpPath('deleteContract', { emaid })), 404, new RegExp(emaid))

    // Without a PCID the data is signed and not stored.
    const unstored = await contractData(ca, newEmaid(), vehicle)
    const signedOnly = await putContract({ contractData: unstored.data, xsdMsgDefNamespace: ISO_15118_2_NAMESPACE })
    assert.equal(signedOnly.status, 201)
    assertValid(validate, signedOnly.body)
    assert.equal(sim.contracts.has(signedOnly.body.emaid), false)
  })

  test('webhook events are signed with the endpoint secret and retried until the endpoint answers 2xx', async () => {
    const received: Array<{ body: Buffer; headers: Record<string, string | string[] | undefined> }> = []
    let refusals = 2
    const receiver: Server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => {
        received.push({ body: Buffer.concat(chunks), headers: req.headers })
        res.statusCode = refusals-- > 0 ? 500 : 204
        res.end()
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    try {
      const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/opcp/webhook`
      const created = await call('POST', opcpPath('createWebhookEndpoint'), { url, enabledEvents: ['mo.prov.cert.updated.factory.reset'] })
      assert.equal(created.status, 201)
      const validate = opcpAnswerValidator('createWebhookEndpoint')
      assertValid(validate, created.body)
      assert.match(created.body.secret, /^[0-9a-f]{64}$/)
      const listed = await call('GET', opcpPath('listWebhookEndpoints'))
      assert.deepEqual(
        listed.body.map((e: { id: string }) => e.id),
        [created.body.id],
      )
      assertOpcpError(await call('POST', opcpPath('createWebhookEndpoint'), { url }), 400, /^enabledEvents: is required$/)

      // The other name of the factory reset reaches a subscriber of the first (erratum factory-reset-event-name).
      const payload = { emaid: 'DE8PSC0AD21B13P', pcid: 'WMI123456712345678' }
      const [result] = await sim.sendEvent('mo.prov.cert.factory.reset', payload)
      assert.deepEqual({ ...result, eventId: undefined }, { endpointId: created.body.id, status: 204, attempts: 3, eventId: undefined })
      assert.equal(received.length, 3)
      const { body, headers } = received[2]!
      const expected = createHmac('sha256', created.body.secret).update(body).digest('hex')
      assert.equal(headers['x-hubject-signature'], `sha256=${expected}`)
      const event = JSON.parse(body.toString('utf8'))
      assert.equal(event.eventId, result!.eventId)
      assert.ok(
        received.every((r) => JSON.parse(r.body.toString('utf8')).eventId === result!.eventId),
        'a retry is the same event',
      )
      const validateBody = webhookPayloadValidator('pcidEmaid')
      assertValid(validateBody, event)

      // Another header, a wrong signature, no signature.
      await sim.sendEvent('mo.prov.cert.factory.reset', payload, { header: 'payload-signature' })
      const last = received.at(-1)!
      assert.equal(last.headers['payload-signature'], createHmac('sha256', created.body.secret).update(last.body).digest('hex'))
      await sim.sendEvent('mo.prov.cert.factory.reset', payload, { signature: 'invalid' })
      assert.notEqual(
        received.at(-1)!.headers['x-hubject-signature'],
        `sha256=${createHmac('sha256', created.body.secret).update(received.at(-1)!.body).digest('hex')}`,
      )
      await sim.sendEvent('mo.prov.cert.factory.reset', payload, { signature: 'none' })
      assert.equal(received.at(-1)!.headers['x-hubject-signature'], undefined)
      // An event nobody subscribed to goes nowhere.
      assert.deepEqual(await sim.sendEvent('root.cert.added', {}), [])
    } finally {
      await new Promise((resolve) => receiver.close(resolve))
    }

    // A receiver that is down: the sender gives up after its attempts without throwing.
    const [down] = await sim.sendEvent('mo.prov.cert.factory.reset', { emaid: 'DE8PSC0AD21B13P', pcid: 'WMI123456712345678' })
    assert.equal(down!.status, 'error')
    assert.equal(down!.attempts, 3)
    const id = sim.webhookEndpoints[0]!.id
    assert.equal((await call('DELETE', opcpPath('deleteWebhookEndpoint', { id }))).status, 200)
    assert.equal(sim.webhookEndpoints.length, 0)
    assertOpcpError(await call('DELETE', opcpPath('deleteWebhookEndpoint', { id })), 404, /webhook endpoint/)
  })

  test('the next requests to a path can be made to fail, and every request is recorded', async () => {
    sim.failNext('/v1/root/', 502, 2)
    const seen = sim.calls.length
    assertOpcpError(await call('GET', opcpPath('rootCertificates')), 502, /simulated/)
    assert.equal((await call('GET', opcpPath('rootCertificates'))).status, 502)
    assert.equal((await call('GET', opcpPath('rootCertificates'))).status, 200)
    assert.deepEqual(
      sim.calls.slice(seen).map((c) => [c.method, c.path, c.status]),
      [
        ['GET', '/v1/root/rootCerts', 502],
        ['GET', '/v1/root/rootCerts', 502],
        ['GET', '/v1/root/rootCerts', 200],
      ],
    )
    assert.equal(sim.calls.at(-1)!.headers.authorization, `Bearer ${token}`)
  })

  test('the control surface adds vehicles and lists the CCP', async () => {
    const added = await request(`${sim.url}/sim/vehicles`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    assert.equal(added.statusCode, 201)
    const { pcid } = (await added.body.json()) as { pcid: string }
    assert.ok(sim.vehicles.has(pcid))
    const listed = await request(`${sim.url}/sim/contracts`)
    assert.equal(((await listed.body.json()) as unknown[]).length, sim.contracts.size)
  })

  test('while unavailable every call is a 503', async () => {
    sim.available = false
    try {
      assertOpcpError(await call('GET', opcpPath('rootCertificates')), 503, /outage/)
      assertOpcpError(await call('GET', opcpPath('provisioningCertificate', { pcid: 'UNKNOWNVEHICLE0001' })), 503, /outage/)
      const tokenAnswer = await call(
        'POST',
        '/oauth/token',
        { client_id: 'openpnc-mo', client_secret: 'sim-secret', audience: sim.audience, grant_type: 'client_credentials' },
        null,
      )
      assertOpcpError(tokenAnswer, 503, /outage/)
      assert.equal((await call('GET', opcpPath('rootCertificates'), undefined, null)).status, 503)
    } finally {
      sim.available = true
    }
    assert.equal((await call('GET', opcpPath('rootCertificates'))).status, 200)
  })
})
