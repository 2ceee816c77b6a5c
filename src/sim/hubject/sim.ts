import Fastify, { type FastifyInstance } from 'fastify'

/** PEM material for the simulator's HTTPS listener: its certificate, and the CA our client certificate must chain to. */
export interface HubjectSimTls {
  cert: string | Buffer
  key: string | Buffer
  /** when set, a client certificate signed by this CA is required (as Hubject requires ours) */
  clientCa?: string | Buffer
}

export interface HubjectSimulatorOptions {
  host?: string
  port?: number
  /** the path Hubject's operations are served below, as in https://service.hubject.com/api/oicp */
  basePath?: string
  /** HTTPS with (optionally) mutual TLS; plain HTTP without */
  tls?: HubjectSimTls
}

/**
 * One part of the simulated Hubject: the routes of the operations it serves, registered below the
 * base path, and the state they keep (received authentication data, EVSE data to hand out).
 */
export interface HubjectSimPart {
  register(app: FastifyInstance): void
}

/**
 * A real HTTP(S) peer playing Hubject for tests, demos and the benchmark (`openpnc sim hubject`):
 * it serves the Hubject-side operations an EMP calls (protocols/oicp/protocol.ts CALLED). While
 * `available` is false every request is answered 503, as by a Hubject that is down.
 */
export class HubjectSimulator {
  /** false: every request is answered 503 */
  available = true
  readonly basePath: string
  private app: FastifyInstance | undefined
  private baseUrl = ''
  private readonly parts: HubjectSimPart[] = []

  constructor(readonly options: HubjectSimulatorOptions = {}) {
    this.basePath = (options.basePath ?? '/api/oicp').replace(/\/+$/, '')
  }

  /** Adds a part (its routes are registered when the simulator starts). */
  add<P extends HubjectSimPart>(part: P): P {
    this.parts.push(part)
    return part
  }

  /** Where an EMP reaches this Hubject: the base URL its OPENPNC_OICP_URL names. */
  get url() {
    return this.baseUrl
  }

  async start(): Promise<string> {
    const tls = this.options.tls
    const app = Fastify({
      bodyLimit: 64 * 1024 * 1024,
      ...(tls
        ? {
            https: {
              cert: tls.cert,
              key: tls.key,
              ...(tls.clientCa ? { ca: tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
            },
          }
        : {}),
    } as Parameters<typeof Fastify>[0]) as unknown as FastifyInstance
    app.addHook('onRequest', async (_request, reply) => {
      if (!this.available) return reply.code(503).send({ message: 'simulated outage' })
    })
    await app.register(
      async (scope) => {
        for (const part of this.parts) part.register(scope)
      },
      { prefix: this.basePath },
    )
    const address = await app.listen({ host: this.options.host ?? '127.0.0.1', port: this.options.port ?? 0 })
    this.app = app
    this.baseUrl = `${address.replace('[::1]', '127.0.0.1')}${this.basePath}`
    return this.baseUrl
  }

  async stop(): Promise<void> {
    await this.app?.close()
    this.app = undefined
  }
}

