import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { OpenpncError, invalid } from '../../core/errors.ts'
import type { IdempotencyStore } from '../../services/idempotency/idempotency.ts'

declare module 'fastify' {
  interface FastifyRequest {
    idempotency?: { scope: string; key: string }
  }
  interface FastifyContextConfig {
    /** set from the route table: the answer carries a secret shown once */
    secretBearing?: boolean
  }
}

const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/

/**
 * `Idempotency-Key` on a POST: the first response (status and body) is stored and replayed for
 * 24 hours to the same caller sending the same key with the same request. Runs after
 * authentication and validation, so only accepted requests claim a key. Answers of routes that
 * carry a secret (`secretBearing` in the route table) are stored encrypted.
 */
export function replayIdempotentPosts(app: FastifyInstance, store: IdempotencyStore) {
  app.addHook('preHandler', async (request, reply) => {
    const key = request.headers['idempotency-key']
    if (request.method !== 'POST' || key === undefined) return
    if (typeof key !== 'string' || !IDEMPOTENCY_KEY.test(key)) {
      throw invalid('invalid_idempotency_key', 'header Idempotency-Key must be 1-255 visible ASCII characters')
    }
    const caller = request.caller!
    const scope = caller.kind === 'organization' ? caller.organization.id : `platform:${caller.apiKeyId}`
    const fingerprint = createHash('sha256')
      .update(`${request.method} ${request.url}\n${JSON.stringify(request.body ?? null)}`)
      .digest('hex')
    const claim = await store.claim(scope, key, fingerprint)
    switch (claim.outcome) {
      case 'claimed':
        request.idempotency = { scope, key }
        return
      case 'mismatch':
        throw new OpenpncError(
          'unprocessable',
          'idempotency_key_reused',
          'this Idempotency-Key was used for a different request in the last 24 hours',
        )
      case 'unavailable':
        throw new OpenpncError(
          'conflict',
          'idempotent_replay_unavailable',
          'this Idempotency-Key was used for this request and its answer carried a secret (an API key or token), which cannot ' +
            'be shown again (it was stored under another secret key, or before such answers were kept); the request was ' +
            'carried out: look up what it created instead of sending it again',
        )
      case 'in_progress':
        throw new OpenpncError(
          'conflict',
          'idempotency_request_in_progress',
          'a request with this Idempotency-Key is still running; retry shortly',
        )
      case 'replay':
        return reply
          .code(claim.statusCode)
          .header('content-type', 'application/json; charset=utf-8')
          .header('idempotent-replayed', 'true')
          .send(claim.body)
    }
  })
  app.addHook('onSend', async (request, reply, payload) => {
    const claim = request.idempotency
    if (!claim) return payload
    request.idempotency = undefined
    try {
      if (reply.statusCode >= 500) await store.release(claim.scope, claim.key)
      else {
        const body = typeof payload === 'string' ? payload : ''
        await store.complete(claim.scope, claim.key, reply.statusCode, body, request.routeOptions.config.secretBearing === true)
      }
    } catch (err) {
      // The answer stands (what happened, happened); the unfinished claim is taken over once
      // abandoned (ABANDONED_CLAIM_MINUTES), until then a repeat hears "in progress".
      request.log.warn({ err, idempotencyKey: claim.key }, 'could not record the Idempotency-Key outcome')
    }
    return payload
  })
}
