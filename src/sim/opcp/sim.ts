import { createHash, createHmac, randomBytes, randomInt, randomUUID, timingSafeEqual, webcrypto, X509Certificate } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import * as x509 from '@peculiar/x509'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { request } from 'undici'
import { checkCharacterMatches, parseEmaid, PCID_PATTERN } from '../../core/identifiers/index.ts'
import { decodeCertificates, toPem } from '../../core/pki/encoding.ts'
import { certificateSummary } from '../../core/pki/profiles.ts'
import { CALLED, ISO_15118_2_NAMESPACE, ROOT_TYPES, type RootType } from '../../protocols/opcp/protocol.ts'
import { errorLines, opcpRequestValidator } from '../../protocols/opcp/schemas.ts'
import { makeOemPki, oemRootCertificate } from './oem-pki.ts'

type CryptoKey = webcrypto.CryptoKey
type CryptoKeyPair = webcrypto.CryptoKeyPair
// The libraries' typings name the DOM's Crypto; node's webcrypto is that object.
const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>
const DAY = 24 * 3600 * 1000

export type SignatureHeader = 'X-Hubject-Signature' | 'X-Operator-Signature' | 'payload-signature'

export interface OpcpSimulatorOptions {
  /** default 127.0.0.1 */
  host?: string
  /** default 0 (a random free port) */
  port?: number
  /** default 'openpnc-mo' */
  clientId?: string
  /** default 'sim-secret' */
  clientSecret?: string
  /** default 'https://opcp.sim.openpnc.test' */
  audience?: string
  /** EMAID provider prefixes (country+provider, no separator, upper case, e.g. 'DE8PS') our MO may use; default ['DE8PS'] */
  providerIds?: string[]
  /** default 3600 */
  tokenTtlSeconds?: number
  /** which webhook signature header the sender uses; default 'X-Hubject-Signature' */
  signatureHeader?: SignatureHeader
  /** PCP answers with the new field names (provisioningCertificate, subCa1Certificate, subCa2Certificate) instead of the deprecated ones */
  newPcpFieldNames?: boolean
  /** webhook delivery attempts (default 5) and the first retry delay, doubling (default 200 ms) */
  webhookAttempts?: number
  webhookRetryMs?: number
}

export interface SimVehicle {
  pcid: string
  /** DER */
  provisioningCertificate: Buffer
  /** [subCa2, subCa1], DER */
  chain: Buffer[]
  /** the vehicle's provisioning ECDH key, to open contract envelopes in tests */
  privateKey: CryptoKey
}

export interface SimContract {
  emaid: string
  pcid: string
  contractData: Record<string, unknown>
  signedData: string
  storedAt: Date
}

export interface SimCall {
  method: string
  path: string
  query: Record<string, string>
  headers: Record<string, string | string[] | undefined>
  body: unknown
  status: number
  at: Date
}

export interface SimWebhookEndpoint {
  id: string
  url: string
  secret: string
  enabledEvents: string[]
  created: number
}

export interface SimEventResult {
  endpointId: string
  /** the final HTTP status, or 'error' when the last attempt got no answer */
  status: number | 'error'
  attempts: number
  eventId: string
}

interface SimRoot {
  id: string
  type: 'V2G' | 'OEM' | 'MO'
  der: Buffer
}

interface Authority {
  der: Buffer
  certificate: x509.X509Certificate
  keys: CryptoKeyPair
}

const FACTORY_RESET_NAMES = ['mo.prov.cert.factory.reset', 'mo.prov.cert.updated.factory.reset']
const PCID_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'
/** The control surface of the simulator itself: not Hubject's, so neither authenticated nor recorded nor taken down. */
const CONTROL_PREFIX = '/sim/'

const fingerprintOf = (der: Buffer) => createHash('sha256').update(der).digest('hex')
const b64 = (der: Buffer) => der.toString('base64')
const compactEmaid = (input: string) => input.replace(/-/g, '').toUpperCase()

/**
 * A real HTTP peer playing Hubject's Plug&Charge ecosystem (OPCP 1.0.0) for tests, demos and
 * `openpnc sim opcp`: OAuth2 client credentials, the Root Certificate Pool, the Provisioning
 * Certificate Pool (vehicles with provisioning certificates of its own test OEM PKI), the
 * Certificate Provisioning Service that signs contract data, the Contract Certificate Pool, and
 * webhook endpoints it sends signed events to. It serves the paths of protocols/opcp/protocol.ts
 * CALLED and checks what it receives with the reference's schemas (errata applied), so the client
 * and the simulator read the same tables.
 *
 * While `available` is false every Hubject request is answered 503. The `/sim/*` routes are a
 * control surface for the command line (add a vehicle, send an event, list the CCP): no
 * authentication, not recorded in `calls`, never taken down.
 */
export class OpcpSimulator {
  /** false: every request (incl. /oauth/token) is answered 503 */
  available = true
  /** every request received (after authentication), in order */
  readonly calls: SimCall[] = []
  /** the CCP, by EMAID (upper case, no separators) */
  readonly contracts = new Map<string, SimContract>()
  /** the PCP, by PCID */
  readonly vehicles = new Map<string, SimVehicle>()
  readonly webhookEndpoints: SimWebhookEndpoint[] = []
  private issued = 0
  private readonly tokens = new Map<string, number>() // token -> expiry (epoch ms)
  private readonly failures: Array<{ prefix: string; status: number; remaining: number }> = []
  private readonly roots: SimRoot[] = []
  private readonly options: Required<OpcpSimulatorOptions>
  private app: FastifyInstance | undefined
  private baseUrl = ''
  private v2gRoot: Authority | undefined
  private cps: Authority | undefined
  private oemRoot: Buffer | undefined
  private stopping = false

  constructor(options: OpcpSimulatorOptions = {}) {
    this.options = {
      host: options.host ?? '127.0.0.1',
      port: options.port ?? 0,
      clientId: options.clientId ?? 'openpnc-mo',
      clientSecret: options.clientSecret ?? 'sim-secret',
      audience: options.audience ?? 'https://opcp.sim.openpnc.test',
      providerIds: (options.providerIds ?? ['DE8PS']).map((p) => compactEmaid(p)),
      tokenTtlSeconds: options.tokenTtlSeconds ?? 3600,
      signatureHeader: options.signatureHeader ?? 'X-Hubject-Signature',
      newPcpFieldNames: options.newPcpFieldNames ?? false,
      webhookAttempts: Math.max(1, options.webhookAttempts ?? 5),
      webhookRetryMs: options.webhookRetryMs ?? 200,
    }
  }

  /** count of /oauth/token successes */
  get tokensIssued(): number {
    return this.issued
  }

  get url(): string {
    return this.baseUrl
  }

  get tokenUrl(): string {
    return `${this.baseUrl}${CALLED.issueToken.path}`
  }

  get clientId(): string {
    return this.options.clientId
  }

  get clientSecret(): string {
    return this.options.clientSecret
  }

  get audience(): string {
    return this.options.audience
  }

  oemRootPem(): string {
    return toPem(this.started().oemRoot)
  }

  v2gRootPem(): string {
    return toPem(this.started().v2gRoot.der)
  }

  /** Adds an MO root to the Root Certificate Pool (served for rootType=mo). */
  addMoRoot(pem: string): void {
    for (const der of decodeCertificates(pem, 'moRoot')) this.roots.push({ id: randomUUID(), type: 'MO', der })
  }

  /** A new provisioning certificate (CN = PCID, ISO 15118-2 profile) in the PCP; a random 17-character PCID when none is given. */
  async addVehicle(pcid?: string): Promise<SimVehicle> {
    const id = pcid ?? Array.from({ length: 17 }, () => PCID_ALPHABET[randomInt(PCID_ALPHABET.length)]).join('')
    if (!PCID_PATTERN.test(id)) throw new Error(`a PCID is 17 or 18 letters and digits, got ${JSON.stringify(id)}`)
    const pki = await makeOemPki({ pcid: id })
    // The test OEM key is made for ECDSA; the same key agrees keys (ECDH) for the contract envelope.
    const privateKey = await webcrypto.subtle.importKey(
      'pkcs8',
      pki.provisioningKey.export({ format: 'der', type: 'pkcs8' }),
      { name: 'ECDH', namedCurve: 'P-256' },
      true,
      ['deriveBits'],
    )
    const vehicle: SimVehicle = { pcid: id, provisioningCertificate: pki.provisioning, chain: [pki.subCa2, pki.subCa1], privateKey }
    this.vehicles.set(id, vehicle)
    return vehicle
  }

  /** A new provisioning key and certificate for the same PCID (the car got a new key). */
  async replaceVehicleKey(pcid: string): Promise<SimVehicle> {
    const existing = this.findVehicle(pcid)
    if (!existing) throw new Error(`no vehicle with PCID ${pcid} in the PCP`)
    this.vehicles.delete(existing.pcid)
    return this.addVehicle(existing.pcid)
  }

  removeVehicle(pcid: string): void {
    const existing = this.findVehicle(pcid)
    if (existing) this.vehicles.delete(existing.pcid)
  }

  /** Test hook: the next `n` requests to paths starting with `pathPrefix` are answered with `status`. */
  failNext(pathPrefix: string, status: number, n = 1): void {
    this.failures.push({ prefix: pathPrefix, status, remaining: n })
  }

  async start(): Promise<string> {
    this.stopping = false
    this.oemRoot ??= await oemRootCertificate()
    if (!this.v2gRoot) {
      this.v2gRoot = await selfSignedRoot('CN=V2G Root CA SIM, DC=V2G, O=openpnc simulated Hubject, C=DE')
      this.cps = await issueCps(this.v2gRoot)
      this.roots.unshift({ id: randomUUID(), type: 'V2G', der: this.v2gRoot.der }, { id: randomUUID(), type: 'OEM', der: this.oemRoot })
    }
    const app = Fastify()
    app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_request, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)))
    })
    app.setErrorHandler((error: { statusCode?: number; message: string }, request, reply) => {
      const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
      // The token endpoint speaks OAuth2 (RFC 6749 5.2), even about a body it cannot read.
      if (request.url.startsWith(CALLED.issueToken.path)) {
        return reply.code(status).send({ error: status === 500 ? 'server_error' : 'invalid_request', error_description: error.message })
      }
      return this.fail(reply, status, error.message)
    })
    app.setNotFoundHandler((request, reply) => this.fail(reply, 404, `no route ${request.method} ${request.url.split('?')[0]}`))
    app.addHook('onRequest', async (request, reply) => {
      if (request.url.startsWith(CONTROL_PREFIX)) return
      if (!this.available) return this.fail(reply, 503, 'simulated outage')
      if (request.url.startsWith('/v1/')) {
        const token = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '')?.[1]
        const expiry = token === undefined ? undefined : this.tokens.get(token)
        if (expiry === undefined || expiry <= Date.now()) return this.fail(reply, 401, 'a valid bearer token is required')
      }
    })
    app.addHook('preHandler', async (request, reply) => {
      if (request.url.startsWith(CONTROL_PREFIX)) return
      const path = request.url.split('?')[0]!
      const call: SimCall = {
        method: request.method,
        path,
        query: { ...(request.query as Record<string, string>) },
        headers: { ...request.headers },
        body: request.body,
        status: 0,
        at: new Date(),
      }
      this.calls.push(call)
      callOf.set(request, call)
      const failure = this.failures.find((f) => f.remaining > 0 && path.startsWith(f.prefix))
      if (failure) {
        failure.remaining--
        if (failure.remaining === 0) this.failures.splice(this.failures.indexOf(failure), 1)
        return this.fail(reply, failure.status, `simulated failure ${failure.status}`)
      }
    })
    app.addHook('onResponse', async (request, reply) => {
      const call = callOf.get(request)
      if (call) call.status = reply.statusCode
    })
    this.routes(app)
    const address = await app.listen({ host: this.options.host, port: this.options.port })
    this.app = app
    this.baseUrl = address.replace('[::1]', '127.0.0.1')
    return this.baseUrl
  }

  async stop(): Promise<void> {
    this.stopping = true
    await this.app?.close()
    this.app = undefined
  }

  /**
   * Sends one event to every registered endpoint subscribed to it (or to all endpoints when they
   * subscribed to nothing), signed with each endpoint's secret. Failures (non-2xx or no answer)
   * are retried with a doubling delay; resolves with each endpoint's final status.
   */
  async sendEvent(
    eventType: string,
    payload: Record<string, unknown>,
    options: { eventId?: string; signature?: 'valid' | 'invalid' | 'none'; header?: SignatureHeader } = {},
  ): Promise<SimEventResult[]> {
    const eventId = options.eventId ?? randomUUID()
    const body = JSON.stringify({
      timestamp: new Date().toISOString(),
      eventId,
      eventType,
      xsdMsgDefNamespace: ISO_15118_2_NAMESPACE,
      payload,
    })
    const endpoints = this.webhookEndpoints.filter((e) => e.enabledEvents.length === 0 || subscribes(e.enabledEvents, eventType))
    return Promise.all(endpoints.map((endpoint) => this.deliver(endpoint, body, eventId, options)))
  }

  private async deliver(
    endpoint: SimWebhookEndpoint,
    body: string,
    eventId: string,
    options: { signature?: 'valid' | 'invalid' | 'none'; header?: SignatureHeader },
  ): Promise<SimEventResult> {
    const signature = options.signature ?? 'valid'
    const headers: Record<string, string> = { 'content-type': 'application/json' }
    if (signature !== 'none') {
      const key = signature === 'valid' ? endpoint.secret : `not-${endpoint.secret}`
      const hex = createHmac('sha256', key).update(body, 'utf8').digest('hex')
      const header = options.header ?? this.options.signatureHeader
      headers[header] = header === 'payload-signature' ? hex : `sha256=${hex}`
    }
    let status: number | 'error' = 'error'
    let attempts = 0
    let delay = this.options.webhookRetryMs
    while (attempts < this.options.webhookAttempts) {
      attempts++
      try {
        const answer = await request(endpoint.url, { method: 'POST', headers, body, headersTimeout: 10_000, bodyTimeout: 10_000 })
        await answer.body.dump()
        status = answer.statusCode
        if (status >= 200 && status < 300) break
      } catch {
        status = 'error' // endpoint down: retried like a refusal
      }
      if (attempts >= this.options.webhookAttempts || this.stopping) break
      await sleep(delay)
      delay *= 2
    }
    return { endpointId: endpoint.id, status, attempts, eventId }
  }

  // -------------------------------------------------------------------------------------------
  // Routes

  private routes(app: FastifyInstance) {
    app.post(CALLED.issueToken.path, async (request, reply) => this.issueToken(request, reply))

    app.get(CALLED.rootCertificates.path, async (request, reply) => {
      const wanted = (request.query as { rootType?: string }).rootType
      if (wanted !== undefined && !(ROOT_TYPES as readonly string[]).includes(wanted.toLowerCase())) {
        return this.fail(reply, 400, `rootType: must be one of ${ROOT_TYPES.join(', ')}`)
      }
      const roots = this.roots.filter((r) => wanted === undefined || r.type === (wanted.toUpperCase() as Uppercase<RootType>))
      return { RootCertificateCollection: { rootCertificates: roots.map(rootCertV2) } }
    })

    app.get(fastifyPath(CALLED.provisioningCertificate.path), async (request, reply) => {
      const { pcid } = request.params as { pcid: string }
      if (!PCID_PATTERN.test(pcid)) return this.fail(reply, 400, 'pcid: must be 17 or 18 letters and digits')
      const vehicle = this.findVehicle(pcid)
      if (!vehicle) return this.fail(reply, 404, `No provisioning certificate found for PCID ${pcid}`)
      return { OEMMessage: this.oemMessage(vehicle) }
    })

    app.put(CALLED.signContractData.path, async (request, reply) => this.signContractData(request, reply))

    app.delete(fastifyPath(CALLED.deleteContract.path), async (request, reply) => {
      const emaid = compactEmaid((request.params as { emaid: string }).emaid)
      if (!this.contracts.delete(emaid)) return this.fail(reply, 404, `No signed contract data found for EMAID ${emaid}`)
      return reply.code(200).send()
    })

    app.get(fastifyPath(CALLED.lookupContract.path), async (request, reply) => {
      const emaid = compactEmaid((request.params as { emaid: string }).emaid)
      const contract = this.contracts.get(emaid)
      if (!contract) return this.fail(reply, 404, `No contract found for EMAID ${emaid}`)
      const certificate = Buffer.from(String(contract.contractData.contractCertificate), 'base64')
      const summary = certificateSummary(certificate)
      return {
        XMLContracts: [
          {
            pcid: contract.pcid,
            emaid: contract.emaid,
            xsdMsgDefNamespace: ISO_15118_2_NAMESPACE,
            contractCertificate: b64(certificate),
            defaultContract: true,
            certValidFrom: summary.notBefore.toISOString(),
            certValidTo: summary.notAfter.toISOString(),
          },
        ],
      }
    })

    app.post(CALLED.createWebhookEndpoint.path, async (request, reply) => {
      const validate = opcpRequestValidator('createWebhookEndpoint')
      if (!validate(request.body)) return this.fail(reply, 400, ...errorLines(validate.errors))
      const body = request.body as { url: string; enabledEvents: string[]; metadata?: Record<string, unknown> }
      try {
        new URL(body.url)
      } catch {
        return this.fail(reply, 400, 'url: must be an absolute URL')
      }
      const endpoint: SimWebhookEndpoint = {
        id: randomUUID(),
        url: body.url,
        secret: randomBytes(32).toString('hex'),
        enabledEvents: [...body.enabledEvents],
        created: Math.floor(Date.now() / 1000),
      }
      this.webhookEndpoints.push(endpoint)
      return reply.code(CALLED.createWebhookEndpoint.status).send({ ...endpointResponse(endpoint), secret: endpoint.secret })
    })

    app.get(CALLED.listWebhookEndpoints.path, async () => this.webhookEndpoints.map(endpointResponse))

    app.get(fastifyPath(CALLED.deleteWebhookEndpoint.path), async (request, reply) => {
      const endpoint = this.webhookEndpoints.find((e) => e.id === (request.params as { id: string }).id)
      return endpoint ? endpointResponse(endpoint) : this.fail(reply, 404, 'No webhook endpoint with this id')
    })

    app.delete(fastifyPath(CALLED.deleteWebhookEndpoint.path), async (request, reply) => {
      const index = this.webhookEndpoints.findIndex((e) => e.id === (request.params as { id: string }).id)
      if (index < 0) return this.fail(reply, 404, 'No webhook endpoint with this id')
      this.webhookEndpoints.splice(index, 1)
      return reply.code(200).send()
    })

    // The control surface (see the class comment).
    app.post(`${CONTROL_PREFIX}vehicles`, async (request, reply) => {
      const pcid = (request.body as { pcid?: unknown } | undefined)?.pcid
      if (pcid !== undefined && typeof pcid !== 'string') return this.fail(reply, 400, 'pcid: must be a string')
      if (pcid !== undefined && !PCID_PATTERN.test(pcid)) return this.fail(reply, 400, 'pcid: must be 17 or 18 letters and digits')
      const vehicle = await this.addVehicle(pcid)
      return reply.code(201).send({ pcid: vehicle.pcid })
    })
    app.post(`${CONTROL_PREFIX}events`, async (request, reply) => {
      const body = (request.body ?? {}) as { eventType?: unknown; payload?: unknown; eventId?: unknown }
      if (typeof body.eventType !== 'string') return this.fail(reply, 400, 'eventType: is required')
      if (typeof body.payload !== 'object' || body.payload === null) return this.fail(reply, 400, 'payload: must be an object')
      return this.sendEvent(body.eventType, body.payload as Record<string, unknown>, {
        ...(typeof body.eventId === 'string' && { eventId: body.eventId }),
      })
    })
    app.get(`${CONTROL_PREFIX}contracts`, async () =>
      [...this.contracts.values()].map((c) => ({ emaid: c.emaid, pcid: c.pcid, storedAt: c.storedAt.toISOString() })),
    )
  }

  private issueToken(request: FastifyRequest, reply: FastifyReply) {
    const body = (typeof request.body === 'object' && request.body !== null ? request.body : {}) as Record<string, unknown>
    const missing = ['client_id', 'client_secret', 'audience', 'grant_type'].filter((k) => typeof body[k] !== 'string' || body[k] === '')
    if (missing.length > 0) {
      return reply.code(400).send({ error: 'invalid_request', error_description: `missing ${missing.join(', ')}` })
    }
    if (body.grant_type !== 'client_credentials') {
      return reply.code(400).send({ error: 'unsupported_grant_type', error_description: 'only client_credentials is supported' })
    }
    if (!same(String(body.client_id), this.options.clientId) || !same(String(body.client_secret), this.options.clientSecret)) {
      return reply.code(401).send({ error: 'invalid_client', error_description: 'unknown client or wrong secret' })
    }
    if (body.audience !== this.options.audience) {
      return reply.code(401).send({ error: 'access_denied', error_description: `unknown audience ${String(body.audience)}` })
    }
    const token = randomBytes(32).toString('base64url')
    this.tokens.set(token, Date.now() + this.options.tokenTtlSeconds * 1000)
    this.issued++
    return reply.code(200).send({ access_token: token, scope: 'mo', expires_in: this.options.tokenTtlSeconds, token_type: 'Bearer' })
  }

  private async signContractData(request: FastifyRequest, reply: FastifyReply) {
    const validate = opcpRequestValidator('signContractData')
    if (!validate(request.body)) return this.fail(reply, 400, ...errorLines(validate.errors))
    const body = request.body as { contractData: Record<string, string>; pcid?: string; xsdMsgDefNamespace: string }
    if (body.xsdMsgDefNamespace !== ISO_15118_2_NAMESPACE) {
      return this.fail(reply, 400, `xsdMsgDefNamespace: only ${ISO_15118_2_NAMESPACE} is supported`)
    }
    const data = body.contractData
    let contract: X509Certificate, subCa2: X509Certificate, subCa1: X509Certificate
    let contractDer: Buffer
    try {
      contractDer = Buffer.from(data.contractCertificate!, 'base64')
      contract = new X509Certificate(contractDer)
      subCa2 = new X509Certificate(Buffer.from(data.contractSubCa2Certificate!, 'base64'))
      subCa1 = new X509Certificate(Buffer.from(data.contractSubCa1Certificate!, 'base64'))
    } catch {
      return this.fail(reply, 400, 'contractData: the certificates must be base64 DER X.509 certificates')
    }
    const emaid = certificateSummary(contractDer).commonName
    const parsed = /^[A-Z]{2}[A-Z0-9]{13}$/.test(emaid) ? parseEmaid(emaid) : null
    if (!parsed || !checkCharacterMatches(parsed)) {
      return this.fail(
        reply,
        400,
        `contractData.contractCertificate: the subject CN ${emaid} is not an EMAID (15 characters with check character)`,
      )
    }
    const prefix = emaid.slice(0, 5)
    if (!this.options.providerIds.includes(prefix)) return this.fail(reply, 403, `MO is not allowed to use EMAID prefix ${prefix}`)
    if (!contract.verify(subCa2.publicKey)) {
      return this.fail(reply, 400, 'contractData.contractCertificate: is not signed by contractSubCa2Certificate')
    }
    if (!subCa2.verify(subCa1.publicKey)) {
      return this.fail(reply, 400, 'contractData.contractSubCa2Certificate: is not signed by contractSubCa1Certificate')
    }
    let vehicle: SimVehicle | undefined
    if (body.pcid !== undefined) {
      const stored = this.contracts.get(emaid)
      if (stored && stored.pcid.toUpperCase() !== body.pcid.toUpperCase()) {
        return this.fail(reply, 400, 'EMAID already used by other PCID')
      }
      vehicle = this.findVehicle(body.pcid)
      if (!vehicle) return this.fail(reply, 404, `No provisioning certificate found for PCID ${body.pcid}`)
    }
    const signedData = await this.signedData(emaid, data)
    if (vehicle) {
      this.contracts.set(emaid, { emaid, pcid: vehicle.pcid, contractData: { ...data }, signedData, storedAt: new Date() })
    }
    const { v2gRoot } = this.started()
    return reply.code(CALLED.signContractData.status).send({
      ...(vehicle && { pcid: vehicle.pcid }),
      emaid,
      xsdMsgDefNamespace: ISO_15118_2_NAMESPACE,
      signedData,
      cpsV2GRootCertificateFingerprint: fingerprintOf(v2gRoot.der),
      cpsRootDistinguishedName: v2gRoot.certificate.subject,
    })
  }

  /**
   * CertificateInstallationRes as Hubject's CPS returns it (base64 of the XML): the CPS's own chain
   * as SAProvisioningCertificateChain, the contract chain, the key envelope and the eMAID, with an
   * ECDSA signature of the CPS over the body. Opaque to an MO: the car and the charger read it.
   */
  private async signedData(emaid: string, data: Record<string, string>): Promise<string> {
    const { cps } = this.started()
    const certificate = (value: string) => `<ns4:Certificate>${value}</ns4:Certificate>`
    const parts = {
      ID1:
        `<ns7:ContractSignatureCertChain ns4:Id="ID1">${certificate(data.contractCertificate!)}` +
        `<ns4:SubCertificates>${certificate(data.contractSubCa2Certificate!)}${certificate(data.contractSubCa1Certificate!)}</ns4:SubCertificates>` +
        `</ns7:ContractSignatureCertChain>`,
      ID2: `<ns7:ContractSignatureEncryptedPrivateKey ns4:Id="ID2">${data.contractSignatureEncryptedPrivateKey}</ns7:ContractSignatureEncryptedPrivateKey>`,
      ID3: `<ns7:DHpublickey ns4:Id="ID3">${data.dHpublickey}</ns7:DHpublickey>`,
      ID4: `<ns7:eMAID ns4:Id="ID4">${emaid}</ns7:eMAID>`,
    }
    const body =
      `<ns6:Body><ns7:CertificateInstallationRes><ns7:ResponseCode>OK</ns7:ResponseCode>` +
      `<ns7:SAProvisioningCertificateChain>${certificate(b64(cps.der))}</ns7:SAProvisioningCertificateChain>` +
      `${parts.ID1}${parts.ID2}${parts.ID3}${parts.ID4}</ns7:CertificateInstallationRes></ns6:Body>`
    const references = Object.entries(parts)
      .map(
        ([id, xml]) =>
          `<ns5:Reference URI="#${id}"><ns5:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>` +
          `<ns5:DigestValue>${createHash('sha256').update(xml).digest('base64')}</ns5:DigestValue></ns5:Reference>`,
      )
      .join('')
    const signedInfo =
      `<ns5:SignedInfo><ns5:CanonicalizationMethod Algorithm="http://www.w3.org/TR/canonical-exi/"/>` +
      `<ns5:SignatureMethod Algorithm="http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"/>${references}</ns5:SignedInfo>`
    const signature = Buffer.from(
      await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, cps.keys.privateKey, Buffer.from(signedInfo + body)),
    )
    const xml =
      `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
      `<ns6:V2G_Message xmlns:ns6="${ISO_15118_2_NAMESPACE}" xmlns:ns5="http://www.w3.org/2000/09/xmldsig#" ` +
      `xmlns:ns7="urn:iso:15118:2:2013:MsgBody" xmlns:ns4="urn:iso:15118:2:2013:MsgDataTypes" xmlns:ns3="urn:iso:15118:2:2013:MsgHeader">` +
      `<ns6:Header><ns5:Signature>${signedInfo}<ns5:SignatureValue>${signature.toString('base64')}</ns5:SignatureValue></ns5:Signature></ns6:Header>` +
      `${body}</ns6:V2G_Message>`
    return Buffer.from(xml, 'utf8').toString('base64')
  }

  private oemMessage(vehicle: SimVehicle): Record<string, unknown> {
    const root = certificateSummary(this.started().oemRoot)
    const [subCa2, subCa1] = vehicle.chain
    // Erratum pcp-field-renames: the deprecated names are what Hubject sends today.
    const certificates = this.options.newPcpFieldNames
      ? { provisioningCertificate: b64(vehicle.provisioningCertificate), subCa1Certificate: b64(subCa1!), subCa2Certificate: b64(subCa2!) }
      : { vehicleCertificate: b64(vehicle.provisioningCertificate), subCA1Certificate: b64(subCa1!), subCA2Certificate: b64(subCa2!) }
    return {
      ...certificates,
      xsdMsgDefNamespace: ISO_15118_2_NAMESPACE,
      rootIssuerDistinguishedName: root.subject,
      rootIssuerSerialNumber: root.serialNumber,
      rootAuthorityKeyIdentifier: root.subjectKeyId,
      fingerprint: fingerprintOf(vehicle.provisioningCertificate),
    }
  }

  private findVehicle(pcid: string): SimVehicle | undefined {
    const exact = this.vehicles.get(pcid)
    if (exact) return exact
    const upper = pcid.toUpperCase()
    for (const vehicle of this.vehicles.values()) if (vehicle.pcid.toUpperCase() === upper) return vehicle
    return undefined
  }

  private started(): { oemRoot: Buffer; v2gRoot: Authority; cps: Authority } {
    if (!this.oemRoot || !this.v2gRoot || !this.cps) throw new Error('the OPCP simulator has not been started')
    return { oemRoot: this.oemRoot, v2gRoot: this.v2gRoot, cps: this.cps }
  }

  /** An OPCP error answer: {errorMessages, traceId} (cps.v1.json Error). */
  private fail(reply: FastifyReply, status: number, ...messages: string[]) {
    return reply.code(status).send({ errorMessages: messages.length > 0 ? messages : [`HTTP ${status}`], traceId: randomUUID() })
  }
}

const callOf = new WeakMap<FastifyRequest, SimCall>()

/** `/v1/oem/provCerts/{pcid}` as Fastify writes a parameter: `/v1/oem/provCerts/:pcid`. */
function fastifyPath(path: string): string {
  return path.replace(/\{(\w+)\}/g, ':$1')
}

/** Erratum factory-reset-event-name: a subscription to either name of the factory reset receives it. */
function subscribes(enabledEvents: readonly string[], eventType: string): boolean {
  if (enabledEvents.includes(eventType)) return true
  return FACTORY_RESET_NAMES.includes(eventType) && enabledEvents.some((e) => FACTORY_RESET_NAMES.includes(e))
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

function endpointResponse(endpoint: SimWebhookEndpoint) {
  return {
    id: endpoint.id,
    apiVersion: 'v1',
    created: endpoint.created,
    enabledEvents: endpoint.enabledEvents,
    status: 'enabled',
    url: endpoint.url,
  }
}

function rootCertV2(root: SimRoot) {
  const summary = certificateSummary(root.der)
  return {
    rootCertificateId: root.id,
    distinguishedName: summary.subject,
    rootType: root.type,
    caCertificate: b64(root.der),
    commonName: summary.commonName,
    rootAuthorityKeyIdentifier: summary.subjectKeyId,
    rootIssuerSerialNumber: summary.serialNumber,
    validFrom: summary.notBefore.toISOString(),
    validTo: summary.notAfter.toISOString(),
    fingerprint: fingerprintOf(root.der),
    xsdMsgDefNamespace: ISO_15118_2_NAMESPACE,
    signatureAlgorithm: 'secp256r1',
  }
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])) as CryptoKeyPair
}

function serial(): string {
  const bytes = randomBytes(16)
  bytes[0] = (bytes[0]! & 0x7f) | 0x01
  return bytes.toString('hex')
}

async function selfSignedRoot(name: string): Promise<Authority> {
  const keys = await newKeys()
  const now = Date.now()
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name,
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + 3650 * DAY),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(true, 2, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  )
  return { der: Buffer.from(certificate.rawData), certificate, keys }
}

/** The CPS signing certificate, straight under the V2G root (real CPS chains have Sub-CAs between; nobody here follows them). */
async function issueCps(root: Authority): Promise<Authority> {
  const keys = await newKeys()
  const now = Date.now()
  const certificate = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: 'CN=CPS SIM, O=openpnc simulated Hubject, DC=CPS, C=DE',
      issuer: root.certificate.subjectName,
      notBefore: new Date(now - DAY),
      notAfter: new Date(now + 365 * DAY),
      publicKey: keys.publicKey,
      signingKey: root.keys.privateKey,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        await x509.AuthorityKeyIdentifierExtension.create(root.keys.publicKey, false, crypto),
      ],
    },
    crypto,
  )
  return { der: Buffer.from(certificate.rawData), certificate, keys }
}
