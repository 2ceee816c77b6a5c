import type { Config } from '../../config.ts'
import type { OrganizationPolicy } from '../../core/organizations/settings.ts'
import { invalid, OpenpncError } from '../../core/errors.ts'
import type { Db } from '../../infra/db/database.ts'
import type { DeliveryEngine } from '../../infra/delivery/engine.ts'
import type { Logger } from '../../infra/logger.ts'
import { Periodic } from '../../infra/periodic.ts'
import type { SecretBox } from '../../infra/secrets/secret-box.ts'
import type { ContractCertificates, IssuedContract, ProvisioningInput } from '../../services/ca/contract-certificates.ts'
import type { TrustedRoots } from '../../services/ca/trusted-roots.ts'
import type { ChargingKey } from '../../services/keys/charging-key.ts'
import { keyNotFound, type ChargingKeys } from '../../services/keys/charging-keys.ts'
import { OpcpClient, OpcpError } from './client.ts'
import { OpcpPublication, opcpRefused, pcidNotInPcp, toPublication, type Publication } from './publication.ts'
import { OpcpRoots } from './roots.ts'
import { ISO_15118_2_NAMESPACE } from './protocol.ts'
import { isJsonObject } from '../../core/json.ts'
import { OpcpWebhooks } from './webhooks.ts'

export interface OpcpContext {
  db: Db
  log: Logger
  config: Config
  secrets: SecretBox
  contracts: ContractCertificates
  chargingKeys: ChargingKeys
  deliveries: DeliveryEngine
  trusted: TrustedRoots
}

/** The answer to a Plug&Charge key made from a PCID alone. */
export interface PcpKeyCreated {
  key: ChargingKey
  /** the contract, when the provisioning certificate could be fetched at once */
  contract: IssuedContract | null
  publication: Publication
}

export const opcpNotConfigured = () =>
  new OpenpncError(
    'conflict',
    'opcp_not_configured',
    'certificate.source "pcp" needs Hubject\'s Plug&Charge ecosystem, which this platform is not connected to (OPENPNC_OPCP_URL)',
    { field: 'certificate.source' },
  )

/**
 * Hubject's Plug&Charge ecosystem over OPCP, as the platform runs it: the client, the trusted
 * roots from the RCP, the publication of contracts (PCP -> our CA -> CPS -> CCP, through the
 * delivery engine), and the webhooks Hubject sends. The Drive API's `certificate: {source: "pcp"}`
 * comes here.
 */
export class Opcp {
  readonly client: OpcpClient
  readonly roots: OpcpRoots
  readonly publication: OpcpPublication
  readonly webhooks: OpcpWebhooks
  private readonly publishing: Periodic

  constructor(
    private readonly ctx: OpcpContext,
    client: OpcpClient,
  ) {
    this.client = client
    this.roots = new OpcpRoots(ctx.db, client, ctx.trusted, ctx.log, ctx.config.opcpRootsRefreshMs)
    this.publication = new OpcpPublication(ctx.db, client, ctx.contracts, ctx.deliveries, ctx.log)
    this.webhooks = new OpcpWebhooks(ctx.db, ctx.secrets, client, this.publication, ctx.contracts, this.roots, ctx.log)
    this.publishing = new Periodic(() => this.publication.publish(), {
      everyMs: ctx.config.ocpiPushPollMs,
      onError: (err) => ctx.log.warn({ err }, 'OPCP: publishing contract changes failed'),
    })
  }

  static fromConfig(ctx: OpcpContext): Opcp | null {
    const client = OpcpClient.fromConfig(ctx.config)
    return client ? new Opcp(ctx, client) : null
  }

  async start() {
    await this.roots.start()
    this.publishing.start()
  }

  /** Stops the rounds after the ones in flight (the delivery engine stops on its own). */
  async stop() {
    await this.publishing.stop()
    await this.roots.stop()
  }

  async close() {
    await this.client.close()
  }

  /** The provisioning certificate from the PCP now; null when Hubject cannot be reached (it is fetched later). */
  private async provisioningNow(pcid: string): Promise<ProvisioningInput | null> {
    try {
      return await this.publication.fetchProvisioning(pcid)
    } catch (error) {
      if (!(error instanceof OpcpError)) throw error
      if (error.operation === 'provisioningCertificate' && error.httpStatus === 404) throw pcidNotInPcp(pcid, error.traceId)
      if (error.retryable) {
        this.ctx.log.warn({ pcid, reason: error.message }, 'OPCP: the PCP cannot be reached; the contract follows when it can')
        return null
      }
      throw opcpRefused(error)
    }
  }

  /**
   * A Plug&Charge key from the vehicle's PCID alone: its provisioning certificate comes from the
   * PCP, our CA issues the contract, and the CPS signs it into the CCP. An unknown PCID is refused
   * at once; while Hubject is unreachable the key is made and the contract follows (pending).
   */
  async createKeyFromPcp(
    org: OrganizationPolicy,
    userExternalId: string,
    input: { pcid: string; contractId?: string; validTo?: Date | null },
  ): Promise<PcpKeyCreated> {
    const pcid = this.ctx.chargingKeys.checkPlugAndCharge(org, input)
    await this.ctx.chargingKeys.liveUserId(org, userExternalId)
    const provisioning = await this.provisioningNow(pcid)
    if (provisioning) {
      let publication: Publication | undefined
      const { key, contract } = await this.ctx.contracts
        .createKeyWithContract(org, userExternalId, { ...input, pcid, certificate: provisioning }, async (trx, row) => {
          publication = toPublication(await OpcpPublication.track(trx, row, 'signing'))
        })
        .catch((error: unknown) => {
          throw fromPcp(error, pcid)
        })
      return { key, contract, publication: publication! }
    }
    let publication: Publication | undefined
    const { key } = await this.ctx.chargingKeys.createPlugAndCharge(org, userExternalId, { ...input, pcid }, async (_keys, trx, row) => {
      publication = toPublication(await OpcpPublication.track(trx, row, 'provisioning'))
    })
    return { key, contract: null, publication: publication! }
  }

  /**
   * POST .../contract-certificate/publication: an existing key's contract through the ecosystem
   * (also again, after a revocation). Without an active contract the provisioning certificate
   * comes from the PCP (an unknown PCID is refused at once); the rest follows through the
   * delivery engine.
   */
  async publish(org: OrganizationPolicy, userExternalId: string, ref: string): Promise<Publication> {
    const row = await this.keyRow(org, userExternalId, ref)
    if (row.type !== 'plug_and_charge') {
      throw invalid(
        'not_a_plug_and_charge_key',
        `charging key ${JSON.stringify(ref)} is a ${row.type} key: contract certificates belong to Plug&Charge keys`,
      )
    }
    const current = await this.ctx.contracts.latestOfKey(row.id)
    const active = current?.certificate.status === 'active'
    const provisioning = active ? null : await this.provisioningNow(row.pcid!)
    let issued = false
    if (provisioning) {
      const result = await this.ctx.contracts.issueForKey(row.id, provisioning, 'partner').catch((error: unknown) => {
        throw fromPcp(error, row.pcid!)
      })
      issued = result !== null
    }
    const tracked = await this.ctx.db
      .transaction()
      .execute((trx) => OpcpPublication.track(trx, row, active || issued ? 'signing' : 'provisioning'))
    return toPublication(tracked)
  }

  /** A key's publication in the ecosystem (404 publication_not_found when its contract does not go through it). */
  async publicationOf(org: OrganizationPolicy, userExternalId: string, ref: string): Promise<Publication> {
    const row = await this.keyRow(org, userExternalId, ref)
    const publication = await this.publication.get(row.id)
    if (!publication) throw publicationNotFound(ref)
    return publication
  }

  /**
   * What Hubject's Contract Certificate Pool holds for the key's EMAID now (lookupContract): every
   * contract stored for it, and whether one of them is our current certificate.
   */
  async lookup(org: OrganizationPolicy, userExternalId: string, ref: string): Promise<PoolLookup> {
    const row = await this.keyRow(org, userExternalId, ref)
    const publication = await this.publication.get(row.id)
    if (!publication) throw publicationNotFound(ref)
    const answer = await this.client
      .call('lookupContract', { params: { emaid: publication.emaid }, query: { xsdMsgDefNamespace: ISO_15118_2_NAMESPACE }, accept: [404] })
      .catch((error: unknown) => {
        throw error instanceof OpcpError ? opcpRefused(error) : error
      })
    const current = await this.ctx.contracts.latestOfKey(row.id)
    const ours = current?.certificate.status === 'active' ? current.contractData.contractCertificate : null
    const contracts = answer.status === 404 ? [] : readLookup(answer.body)
    return {
      emaid: publication.emaid,
      inPool: contracts.length > 0,
      current: ours !== null && contracts.some((c) => c.contractCertificate === ours),
      contracts: contracts.map(({ contractCertificate, ...rest }) => ({ ...rest, ours: ours !== null && contractCertificate === ours })),
    }
  }

  /** The partner's retry of a failed (or pending) publication. */
  async retry(org: OrganizationPolicy, userExternalId: string, ref: string): Promise<Publication> {
    const row = await this.keyRow(org, userExternalId, ref)
    const before = await this.publication.get(row.id)
    if (!before) throw publicationNotFound(ref)
    if (before.state === 'published' || before.state === 'withdrawn') {
      throw new OpenpncError('conflict', 'publication_not_retryable', `the contract is ${before.state}: there is nothing to retry`)
    }
    return (await this.publication.retry(row.id))!
  }

  private async keyRow(org: OrganizationPolicy, userExternalId: string, ref: string) {
    const userId = await this.ctx.chargingKeys.liveUserId(org, userExternalId)
    const row = await this.ctx.chargingKeys.findByRef(this.ctx.db, userId, ref, false)
    if (!row) throw keyNotFound(ref)
    return row
  }
}

/** What the CCP holds for an EMAID, as partners see it. */
export interface PoolLookup {
  emaid: string
  inPool: boolean
  /** the pool holds our current contract certificate */
  current: boolean
  contracts: Array<{
    pcid: string | null
    defaultContract: boolean | null
    validFrom: string | null
    validTo: string | null
    ours: boolean
  }>
}

/** Reads a LookupContractResponse (XMLContracts). */
function readLookup(body: unknown) {
  const list = isJsonObject(body) && Array.isArray(body.XMLContracts) ? body.XMLContracts : []
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : null)
  return list.filter(isJsonObject).map((c) => ({
    pcid: text(c.pcid),
    defaultContract: typeof c.defaultContract === 'boolean' ? c.defaultContract : null,
    validFrom: text(c.certValidFrom),
    validTo: text(c.certValidTo),
    contractCertificate: text(c.contractCertificate),
  }))
}

export const publicationNotFound = (ref: string) =>
  new OpenpncError(
    'not_found',
    'publication_not_found',
    `charging key ${JSON.stringify(ref)}: its contract does not go through Hubject's ecosystem (create it with certificate.source "pcp")`,
  )

/** The PCP's certificate failing our check is the ecosystem's problem, said so. */
function fromPcp(error: unknown, pcid: string): unknown {
  if (error instanceof OpenpncError && (error.code === 'invalid_provisioning_certificate' || error.code === 'pcid_mismatch')) {
    return new OpenpncError(
      'bad_gateway',
      'invalid_pcp_certificate',
      `the provisioning certificate Hubject's PCP holds for PCID ${pcid} is not usable: ${error.message}`,
    )
  }
  return error
}
