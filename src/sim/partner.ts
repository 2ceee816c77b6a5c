import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'

/** A request as a route of the simulated partner sees it. */
export interface PartnerRequest {
  method: string
  path: string
  headers: IncomingHttpHeaders
  body: string
}

export interface PartnerAnswer {
  status: number
  body?: unknown
}

/** One operation the partner serves, e.g. the webhook receiver (later: authorization requests). */
export type PartnerRoute = (request: PartnerRequest) => Promise<PartnerAnswer> | PartnerAnswer

/** An event as the receiver printed it. */
export interface ReceivedEvent {
  id: string
  type: string
  timestamp: string
  data: unknown
}

export interface PartnerSimulatorOptions {
  host?: string
  port?: number
  /** the endpoint's signing secret (whsec_...) */
  secret: string
  /** where webhooks are received */
  webhookPath?: string
  /** answer webhooks with this status instead of 204 (a failing receiver, to watch retries) */
  failWith?: number
  /** told of each verified event (the CLI prints a JSON line) */
  onEvent?: (event: ReceivedEvent) => void
  /** told of each refused call (a bad signature) */
  onRefused?: (reason: string) => void
}

/**
 * A simulated e-mobility partner: the server a partner runs beside openpnc. Its operations are a
 * route map ("METHOD /path" to a handler), so another one (an authorization request) is a new
 * entry. The webhook receiver verifies every call with the standardwebhooks library, as a partner
 * would, and answers 401 to a call it cannot verify.
 */
export class PartnerSimulator {
  readonly routes = new Map<string, PartnerRoute>()
  readonly events: ReceivedEvent[] = []
  failWith: number | undefined
  private server: Server | undefined

  constructor(private readonly options: PartnerSimulatorOptions) {
    this.failWith = options.failWith
    const webhook = new Webhook(options.secret)
    this.routes.set(`POST ${options.webhookPath ?? '/webhooks'}`, ({ headers, body }) => {
      let payload: { type: string; timestamp: string; data: unknown }
      try {
        payload = webhook.verify(body, headers as Record<string, string>) as typeof payload
      } catch (error) {
        options.onRefused?.((error as Error).message)
        return { status: 401, body: { error: 'signature not verified' } }
      }
      const event = { id: String(headers['webhook-id']), type: payload.type, timestamp: payload.timestamp, data: payload.data }
      if (this.failWith !== undefined) return { status: this.failWith, body: { error: 'told to fail' } }
      this.events.push(event)
      options.onEvent?.(event)
      return { status: 204 }
    })
  }

  /** Listens; returns the base URL. */
  async start(): Promise<string> {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', async () => {
        const path = (request.url ?? '/').split('?')[0]!
        const route = this.routes.get(`${request.method} ${path}`)
        const answer: PartnerAnswer = route
          ? await Promise.resolve(
              route({ method: request.method ?? 'GET', path, headers: request.headers, body: Buffer.concat(chunks).toString('utf8') }),
            ).catch((error: unknown) => ({ status: 500, body: { error: (error as Error).message } }))
          : { status: 404, body: { error: `no route ${request.method} ${path}` } }
        const text = answer.body === undefined ? '' : JSON.stringify(answer.body)
        response.writeHead(answer.status, text ? { 'content-type': 'application/json' } : {}).end(text)
      })
    })
    await new Promise<void>((resolve) => this.server!.listen(this.options.port ?? 0, this.options.host ?? '127.0.0.1', resolve))
    const { address, port } = this.server.address() as AddressInfo
    return `http://${address.includes(':') ? `[${address}]` : address}:${port}`
  }

  async stop(): Promise<void> {
    await new Promise((resolve) => this.server?.close(resolve))
  }
}
