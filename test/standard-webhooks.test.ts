import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Webhook } from 'standardwebhooks'
import { generateWebhookSecret, signedHeaders, verifySignature } from '../src/core/webhooks/standard-webhooks.ts'

const body = JSON.stringify({ type: 'session.started', timestamp: '2026-12-02T10:00:00Z', data: { id: 'x' } })

test('a message we sign verifies with the Standard Webhooks reference library', () => {
  const secret = generateWebhookSecret()
  assert.match(secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
  const now = Math.floor(Date.now() / 1000)
  const headers = signedHeaders([secret], 'msg_2Lh9KTbGmC1qA5ZmrTAtPZqNbyB', now, body)
  assert.deepEqual(new Webhook(secret).verify(body, headers), JSON.parse(body))
})

test('the reference library refuses our signature under another secret or a changed body', () => {
  const now = Math.floor(Date.now() / 1000)
  const headers = signedHeaders([generateWebhookSecret()], 'msg_1', now, body)
  assert.throws(() => new Webhook(generateWebhookSecret()).verify(body, headers))
  const secret = generateWebhookSecret()
  assert.throws(() => new Webhook(secret).verify(`${body} `, signedHeaders([secret], 'msg_1', now, body)))
})

test('during a rotation both secrets sign, and either verifies', () => {
  const [old, fresh] = [generateWebhookSecret(), generateWebhookSecret()]
  const now = Math.floor(Date.now() / 1000)
  const headers = signedHeaders([old, fresh], 'msg_2', now, body)
  assert.equal(headers['webhook-signature'].split(' ').length, 2)
  for (const secret of [old, fresh]) new Webhook(secret).verify(body, headers)
})

test('our verifier accepts what the reference library signs and refuses an old timestamp', () => {
  const secret = generateWebhookSecret()
  const at = new Date()
  const sig = new Webhook(secret).sign('msg_3', at, body)
  const seconds = Math.floor(at.getTime() / 1000)
  assert.equal(verifySignature(secret, { id: 'msg_3', timestamp: String(seconds), signature: sig }, body, seconds), true)
  assert.equal(verifySignature(secret, { id: 'msg_3', timestamp: String(seconds), signature: sig }, body, seconds + 3600), false)
  assert.equal(verifySignature(secret, { id: 'msg_4', timestamp: String(seconds), signature: sig }, body, seconds), false)
})
