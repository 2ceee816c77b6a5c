// Our OPCP client against the simulator (a real HTTP peer): the OAuth2 token and its cache, the
// retry with a fresh token, and Hubject's errors as the client reports them. No platform.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { OutgoingHttp } from '../src/infra/http/outgoing.ts'
import { OpcpClient, OpcpError } from '../src/protocols/opcp/client.ts'
import { OpcpSimulator } from '../src/sim/opcp/sim.ts'

describe('the OPCP client', () => {
  let sim: OpcpSimulator
  let clock = Date.now()
  const client = (overrides: Partial<ConstructorParameters<typeof OpcpClient>[0]> = {}) =>
    new OpcpClient({
      baseUrl: sim.url,
      tokenUrl: sim.tokenUrl,
      clientId: sim.clientId,
      clientSecret: sim.clientSecret,
      audience: sim.audience,
      http: new OutgoingHttp({ allowPrivateAddresses: true, maxAnswerBytes: 1_000_000, timeoutMs: 5_000 }),
      now: () => clock,
      ...overrides,
    })

  before(async () => {
    sim = new OpcpSimulator({ tokenTtlSeconds: 3600 })
    await sim.start()
  })
  after(() => sim.stop())

  test('concurrent calls share one token request, and the token serves until shortly before it expires', async () => {
    const opcp = client()
    const issued = sim.tokensIssued
    const answers = await Promise.all(Array.from({ length: 5 }, () => opcp.call('rootCertificates', { query: { rootType: 'v2g' } })))
    assert.ok(answers.every((a) => a.status === 200))
    assert.equal(sim.tokensIssued, issued + 1)
    clock += 3000 * 1000 // 50 minutes of 60: still good
    await opcp.call('rootCertificates', { query: { rootType: 'oem' } })
    assert.equal(sim.tokensIssued, issued + 1)
    clock += 9.5 * 60 * 1000 // within the last minute of the token: a new one first
    await opcp.call('rootCertificates', { query: { rootType: 'oem' } })
    assert.equal(sim.tokensIssued, issued + 2)
    const last = sim.calls.at(-1)!
    assert.match(String(last.headers.authorization), /^Bearer \S+$/)
    await opcp.close()
  })

  test('a call refused as unauthorized is tried once more with a fresh token', async () => {
    const opcp = client()
    await opcp.call('rootCertificates')
    const issued = sim.tokensIssued
    sim.failNext('/v1/root/rootCerts', 401)
    const answer = await opcp.call('rootCertificates')
    assert.equal(answer.status, 200)
    assert.equal(sim.tokensIssued, issued + 1)
    await opcp.close()
  })

  test("Hubject's refusal carries its errorMessages and traceId and is final; a 503 may pass later", async () => {
    const opcp = client()
    const refused = await opcp.call('provisioningCertificate', { params: { pcid: 'WMIUNKNOWNCAR0001' } }).catch((e: unknown) => e)
    assert.ok(refused instanceof OpcpError)
    assert.equal(refused.httpStatus, 404)
    assert.equal(refused.retryable, false)
    assert.ok(refused.errorMessages.length > 0)
    assert.match(refused.message, /getOEMProvCert: HTTP 404: .+ \(traceId [0-9a-f-]{36}\)$/)
    sim.failNext('/v1/root', 503)
    const down = await opcp.call('rootCertificates').catch((e: unknown) => e)
    assert.ok(down instanceof OpcpError)
    assert.equal(down.retryable, true)
    await opcp.close()
  })

  test("wrong client credentials are an error naming the token endpoint's answer", async () => {
    const opcp = client({ clientSecret: 'wrong' })
    const error = await opcp.call('rootCertificates').catch((e: unknown) => e)
    assert.ok(error instanceof OpcpError)
    assert.equal(error.operation, 'issueToken')
    assert.equal(error.httpStatus, 401)
    assert.equal(error.retryable, false)
    await opcp.close()
  })

  test('an unreachable Hubject is a retryable error that says so', async () => {
    const opcp = client({ baseUrl: 'http://127.0.0.1:9', tokenUrl: 'http://127.0.0.1:9/oauth/token' })
    const error = await opcp.call('rootCertificates').catch((e: unknown) => e)
    assert.ok(error instanceof OpcpError)
    assert.equal(error.retryable, true)
    assert.match(error.message, /no answer/)
    await opcp.close()
  })
})
