import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { CircuitBreaker } from '../src/core/authorization/circuit-breaker.ts'
import { fallbackAllowed, readPartnerAnswer, type PartnerVerdict } from '../src/core/authorization/partner-decision.ts'
import type { Allowed } from '../src/core/authorization/decision.ts'
import { partnerUrlProblem } from '../src/infra/http/outgoing.ts'
import { authorizationStartAnswer, parseAuthorizeStart } from '../src/protocols/oicp/authorization.ts'

const answered = (allowed: Allowed): PartnerVerdict => ({
  outcome: 'answered',
  partnerAllowed: allowed,
  allowed,
  latencyMs: 4,
  error: null,
})

describe('partner-decided authorization, without a platform', () => {
  test('the breaker opens after the set number of consecutive failures, and a success in between starts the count again', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 3, coolDownMs: 1000 })
    breaker.failed(0)
    breaker.failed(0)
    breaker.succeeded()
    breaker.failed(0)
    breaker.failed(0)
    assert.equal(breaker.state(0), 'closed')
    assert.equal(breaker.tryCall(0), true)
    breaker.failed(10)
    assert.equal(breaker.state(10), 'open')
    assert.equal(breaker.tryCall(500), false, 'no call while open')
  })

  test('after the cool-down one trial call goes out; its success closes the breaker, its failure opens it for another cool-down', () => {
    const breaker = new CircuitBreaker({ failureThreshold: 1, coolDownMs: 1000 })
    breaker.failed(0)
    assert.equal(breaker.state(999), 'open')
    assert.equal(breaker.state(1000), 'half_open')
    assert.equal(breaker.tryCall(1000), true, 'the trial')
    assert.equal(breaker.tryCall(1001), false, 'only one trial at a time')
    breaker.failed(1500)
    assert.equal(breaker.state(2000), 'open', 'a failed trial opens it again from its own time')
    assert.equal(breaker.tryCall(2499), false)
    assert.equal(breaker.tryCall(2500), true)
    breaker.succeeded()
    assert.equal(breaker.state(2500), 'closed')
    assert.equal(breaker.tryCall(2500), true)
    assert.equal(breaker.tryCall(2500), true, 'closed lets every call through')
  })

  test("the partner's answer is read only from a 2xx JSON object whose allowed is one of the five values", () => {
    for (const allowed of ['ALLOWED', 'BLOCKED', 'EXPIRED', 'NO_CREDIT', 'NOT_ALLOWED'] as const) {
      assert.deepEqual(readPartnerAnswer(200, JSON.stringify({ allowed, extra: 1 })), { ok: true, allowed })
    }
    assert.deepEqual(readPartnerAnswer(500, '{"allowed":"ALLOWED"}'), { ok: false, reason: 'HTTP 500' })
    assert.equal(readPartnerAnswer(200, 'ALLOWED').ok, false)
    assert.equal(readPartnerAnswer(200, '{"allowed":"allowed"}').ok, false)
    assert.equal(readPartnerAnswer(200, 'null').ok, false)
    assert.equal(readPartnerAnswer(204, '').ok, false)
  })

  test('without a usable answer, allow lets the driver charge and deny answers NOT_ALLOWED', () => {
    assert.equal(fallbackAllowed('allow'), 'ALLOWED')
    assert.equal(fallbackAllowed('deny'), 'NOT_ALLOWED')
  })

  test("each partner answer becomes the OICP status of the README's table", () => {
    const parsed = parseAuthorizeStart({
      OperatorID: 'DE*ION',
      Identification: { PlugAndChargeIdentification: { EvcoID: 'DE-8PS-C0AD21B13-P' } },
    })
    const expected: Array<[Allowed, string, string]> = [
      ['ALLOWED', 'Authorized', '000'],
      ['BLOCKED', 'NotAuthorized', '200'],
      ['EXPIRED', 'NotAuthorized', '210'],
      ['NO_CREDIT', 'NotAuthorized', '210'],
      ['NOT_ALLOWED', 'NotAuthorized', '210'],
    ]
    for (const [allowed, status, code] of expected) {
      const answer = authorizationStartAnswer(parsed, allowed, 'DE*8PS', answered(allowed))
      assert.equal(answer.AuthorizationStatus, status, allowed)
      assert.equal(answer.StatusCode.Code, code, allowed)
    }
    const denied: PartnerVerdict = { outcome: 'timeout', partnerAllowed: null, allowed: 'NOT_ALLOWED', latencyMs: 100, error: 'no answer' }
    const fallback = authorizationStartAnswer(parsed, 'NOT_ALLOWED', 'DE*8PS', denied)
    assert.equal(fallback.StatusCode.Code, '106', 'no positive answer, nothing said about the contract')
    assert.match(fallback.StatusCode.Description!, /did not answer in time/)
  })

  test('a partner URL is https with a public host unless the sandbox or private partner URLs allow more', () => {
    const strict = { allowHttp: false, allowPrivateAddresses: false }
    assert.equal(partnerUrlProblem('https://auth.example.com/decide', strict), null)
    assert.match(partnerUrlProblem('http://auth.example.com/decide', strict)!, /https/)
    assert.match(partnerUrlProblem('https://127.0.0.1/decide', strict)!, /loopback/)
    assert.match(partnerUrlProblem('https://[::1]:8443/decide', strict)!, /loopback/)
    assert.match(partnerUrlProblem('https://169.254.169.254/latest', strict)!, /link-local/)
    assert.match(partnerUrlProblem('https://10.1.2.3/decide', strict)!, /private/)
    assert.match(partnerUrlProblem('https://localhost/decide', strict)!, /loopback/)
    assert.match(partnerUrlProblem('https://user:pw@auth.example.com/', strict)!, /credentials/)
    assert.match(partnerUrlProblem('auth.example.com/decide', strict)!, /absolute URL/)
    const sandbox = { allowHttp: true, allowPrivateAddresses: false }
    assert.equal(partnerUrlProblem('http://auth.example.com/decide', sandbox), null)
    assert.match(partnerUrlProblem('ftp://auth.example.com/decide', sandbox)!, /http or https/)
    const loose = { allowHttp: true, allowPrivateAddresses: true }
    assert.equal(partnerUrlProblem('http://127.0.0.1:9000/decide', loose), null)
  })
})
