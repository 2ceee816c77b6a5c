import type { FastifyPluginAsync } from 'fastify'
import { OpenpncError } from '../../core/errors.ts'
import type { Platform } from '../../platform.ts'

/** Where Hubject's webhooks reach us (registered with `openpnc opcp webhook register`). */
export const OPCP_WEBHOOK_PATH = '/opcp/webhooks'

/** Webhook bodies are small JSON documents. */
const WEBHOOK_BODY_LIMIT = 256 * 1024

/**
 * The public route of Hubject's webhooks: no API key, the HMAC-SHA256 signature over the raw body
 * authenticates each event (so the body is kept as bytes, exactly as signed). Answered 200 once
 * the event is kept (a repeat too), 401 for a bad signature, 400 for a body that is not an event.
 */
export const opcpWebhookServer: FastifyPluginAsync<{ platform: Platform }> = async (app, { platform }) => {
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'buffer', bodyLimit: WEBHOOK_BODY_LIMIT }, (_request, body, done) =>
    done(null, body),
  )

  app.route({
    method: 'POST',
    url: OPCP_WEBHOOK_PATH,
    schema: {
      summary: "Hubject's Plug&Charge ecosystem webhooks (OPCP), signed with our endpoint's secret",
      hide: true,
      operationId: 'opcpWebhook',
    },
    handler: async (request, reply) => {
      if (!platform.opcp) {
        throw new OpenpncError(
          'conflict',
          'opcp_not_configured',
          "there is no connection to Hubject's Plug&Charge ecosystem (OPENPNC_OPCP_URL)",
        )
      }
      if (!Buffer.isBuffer(request.body)) {
        throw new OpenpncError('unsupported_media_type', 'unsupported_media_type', 'send the event as application/json')
      }
      const received = await platform.opcp.webhooks.receive(request.body, request.headers)
      return reply.code(200).send({ received: true, eventId: received.eventId, outcome: received.outcome, repeated: received.repeated })
    },
  })
}
