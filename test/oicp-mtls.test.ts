import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { after, before, describe, test } from 'node:test'
import { HubjectDriver, newSessionId } from '../src/sim/hubject/driver.ts'
import { assertValidOicp, validatorFor } from './oicp-spec.ts'
import { backends, startTestPlatform, type TestPlatform } from './support.ts'
import { ThrowawayPki, type Authority, type Issued } from './throwaway-pki.ts'

// One platform serves OICP with mutual TLS (Hubject's CA configured); the plain-HTTP fallback is
// the listener of test/oicp-served.test.ts, whose loopback binding is checked there by its URL.
const backend = backends()[0]!

describe(`the OICP listener requires Hubject's client certificate (${backend})`, () => {
  let pki: ThrowawayPki
  let hubjectCa: Authority
  let serverCa: Authority
  let hubjectClient: Issued
  let foreignClient: Issued
  let t: TestPlatform
  const logLines: string[] = []
  const drivers: HubjectDriver[] = []

  const driver = (client?: Issued) => {
    const made = new HubjectDriver({
      baseUrl: t.oicpUrl!.replace('0.0.0.0', '127.0.0.1'),
      operatorId: 'DE*ION',
      tls: { ca: serverCa.cert, ...(client && { cert: client.cert, key: client.key }) },
    })
    drivers.push(made)
    return made
  }
  const callWith = (client?: Issued) =>
    driver(client).authorizeStart({ sessionId: newSessionId(), identification: { plugAndCharge: 'DE-8PS-C0AD21B13-P' } })

  before(async () => {
    pki = new ThrowawayPki()
    hubjectCa = pki.authority('hubject-ca')
    serverCa = pki.authority('our-server-ca')
    const foreignCa = pki.authority('foreign-ca')
    const server = pki.issue(serverCa, 'oicp-server', 'server')
    hubjectClient = pki.issue(hubjectCa, 'hubject-client', 'client')
    foreignClient = pki.issue(foreignCa, 'foreign-client', 'client')
    t = await startTestPlatform(
      backend,
      {
        OPENPNC_OICP_PORT: '0',
        OPENPNC_OICP_TLS_CERT: server.certPath,
        OPENPNC_OICP_TLS_KEY: server.keyPath,
        OPENPNC_OICP_TLS_CLIENT_CA: hubjectCa.certPath,
        LOG_LEVEL: 'info',
      },
      {
        listen: true,
        logDestination: new Writable({
          write(chunk, _encoding, done) {
            logLines.push(String(chunk))
            done()
          },
        }),
      },
    )
  })
  after(async () => {
    for (const made of drivers) await made.close()
    await t?.close()
    pki?.remove()
  })

  test('it speaks HTTPS and says in the log that client certificates are required', () => {
    assert.match(t.oicpUrl!, /^https:\/\//)
    assert.ok(logLines.some((line) => /OICP served to Hubject over mutual TLS/.test(line)))
  })

  test("a client with a certificate from Hubject's CA is served: a spec answer", async () => {
    const answer = await callWith(hubjectClient)
    assert.equal(answer.status, 200)
    assertValidOicp(validatorFor('eRoamingAuthorizationStart'), answer.body)
    assert.equal((answer.body as { AuthorizationStatus: string }).AuthorizationStatus, 'NotAuthorized')
  })

  test('a client without a certificate is refused during the TLS handshake', async () => {
    await assert.rejects(callWith(), (error: Error) => {
      assert.ok(!('status' in error), 'no HTTP answer')
      return true
    })
  })

  test('a client with a certificate from another CA is refused during the TLS handshake', async () => {
    await assert.rejects(callWith(foreignClient), (error: Error) => {
      assert.ok(!('status' in error), 'no HTTP answer')
      return true
    })
  })
})
