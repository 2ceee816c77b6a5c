import { join } from 'node:path'
import { Authorizer } from './services/authorization/authorizer.ts'
import { DecisionLog } from './services/authorization/decision-log.ts'
import { KeyDirectory } from './services/authorization/key-directory.ts'
import { PartnerDecisions } from './services/authorization/partner-decision.ts'
import { PartnerEndpoints } from './services/authorization/partner-endpoints.ts'
import type { Config } from './config.ts'
import type { Db } from './infra/db/database.ts'
import { OutgoingHttp } from './infra/http/outgoing.ts'
import { IdempotencyStore } from './services/idempotency/idempotency.ts'
import { ChargingKeys } from './services/keys/charging-keys.ts'
import { KeyStore } from './services/keys/key-store.ts'
import type { Logger } from './infra/logger.ts'
import { OcpiRegistration } from './protocols/ocpi/credentials.ts'
import { OcpiPartners } from './protocols/ocpi/partners.ts'
import { TokenPush } from './protocols/ocpi/push.ts'
import { partnerOfDestination } from './protocols/ocpi/partners.ts'
import { OCPI_TOKEN } from './protocols/ocpi/token-sender.ts'
import { DeliveryEngine } from './infra/delivery/engine.ts'
import { LocationPull } from './protocols/ocpi/location-pull.ts'
import { SearchDocumentCache } from './services/locations/document-cache.ts'
import { PlatformMetrics } from './infra/metrics.ts'
import { ApiKeys } from './services/organizations/api-keys.ts'
import { Organizations } from './services/organizations/organizations.ts'
import { SecretBox } from './infra/secrets/secret-box.ts'
import { Users } from './services/users/users.ts'
import { OicpClient } from './protocols/oicp/client.ts'
import { OicpAuthDataPush } from './protocols/oicp/auth-data-push.ts'
import { OicpEvsePull } from './protocols/oicp/evse-pull.ts'
import { ChargingSessions } from './services/sessions/sessions.ts'
import { readFileSync } from 'node:fs'
import { decodeCertificates } from './core/pki/encoding.ts'
import { TrustedRoots } from './services/ca/trusted-roots.ts'
import { Opcp } from './protocols/opcp/ecosystem.ts'
import { CertificateAuthorities } from './services/ca/authorities.ts'
import { ContractCertificates } from './services/ca/contract-certificates.ts'
import { CaJobs } from './services/ca/jobs.ts'
import { RevocationServices } from './services/ca/revocation.ts'
import { ConfigError } from './config.ts'
import { KeyValidityClock } from './services/keys/validity-clock.ts'
import { WebhookEndpoints } from './services/webhooks/webhook-endpoints.ts'
import { PartnerWebhooks } from './protocols/webhooks/partner-webhooks.ts'

/** The domain services, wired once; every protocol adapter works through these. */
export interface Platform {
  db: Db
  log: Logger
  config: Config
  organizations: Organizations
  apiKeys: ApiKeys
  users: Users
  chargingKeys: ChargingKeys
  /** every write to charging keys, reported to the key directory before the API answers */
  keyStore: KeyStore
  /** writes a key's event when its validFrom arrives or its validTo passes */
  keyValidity: KeyValidityClock
  /** "may this identifier charge?" for every protocol, each decision recorded */
  authorization: Authorizer
  /** organizations' authorization endpoints (partner-decided authorization), held in memory for the Authorizer */
  authorizationEndpoints: PartnerEndpoints
  /** the calls to those endpoints: signed, kept alive, each organization behind its circuit breaker */
  partnerDecisions: PartnerDecisions
  idempotency: IdempotencyStore
  keyDirectory: KeyDirectory
  decisions: DecisionLog
  /** Geosearch's copies of search documents, by version */
  searchDocuments: SearchDocumentCache
  /** every call to a URL a partner gave us goes through this policy (closed when the platform stops) */
  outgoing: OutgoingHttp
  /** the durable delivery engine: every push to a partner (OCPI tokens first) goes through it */
  deliveries: DeliveryEngine
  ocpi: {
    partners: OcpiPartners
    registration: OcpiRegistration
    push: TokenPush
    locationPull: LocationPull
  }
  /** Hubject OICP 2.3, we as EMP */
  oicp: {
    /** our client of Hubject (OPENPNC_OICP_URL); null when none is configured */
    client: OicpClient | null
    /** PushAuthenticationData as an offline EMP (OPENPNC_OICP_OFFLINE): key changes to Hubject */
    authData: OicpAuthDataPush
    /** PullEvseData and PullEvseStatus: Hubject's chargers into the location store */
    evsePull: OicpEvsePull
  }
  /** charging sessions and their charge detail records, from every protocol */
  sessions: ChargingSessions
  /** our MO certificate authority: its chain, contract certificates, OCSP and CRLs, and their clockwork */
  ca: {
    authorities: CertificateAuthorities
    contracts: ContractCertificates
    revocation: RevocationServices
    jobs: CaJobs
    /** the trust anchors of vehicles' provisioning certificates (configured, and Hubject's RCP with OPCP) */
    trusted: TrustedRoots
  }
  /** Hubject's Plug&Charge ecosystem over OPCP (OPENPNC_OPCP_URL); null when none is configured */
  opcp: Opcp | null
  /** partner webhooks: an organization's endpoints, and the events fanned out and sent to them */
  webhooks: {
    endpoints: WebhookEndpoints
    delivery: PartnerWebhooks
  }
  /** Prometheus metrics of this platform (its own registry) */
  metrics: PlatformMetrics
  /** Set when shutdown begins: readiness answers 503 from then on. */
  lifecycle: { shuttingDown: boolean }
  /** Where partners reach us (OPENPNC_PUBLIC_URL, else the address we listen on). */
  publicUrl(): string
  setPublicUrl(url: string): void
}

export function createPlatform(db: Db, config: Config, log: Logger): Platform {
  const keyDirectory = new KeyDirectory(db, log, { pollMs: config.keyDirectoryPollMs })
  const keyStore = new KeyStore(db, keyDirectory)
  const chargingKeys = new ChargingKeys({ db, log, platformEmaidPrefix: config.emaidPrefixParts, store: keyStore })
  const decisions = new DecisionLog(db, log)
  const metrics = new PlatformMetrics()
  const secrets = SecretBox.load(config.secretKey, join(config.dataDir, 'secret-key'))
  const partners = new OcpiPartners(db, secrets)
  const outgoing = new OutgoingHttp({
    allowPrivateAddresses: config.allowPrivatePartnerUrls,
    maxAnswerBytes: config.partnerAnswerMaxBytes,
    timeoutMs: config.partnerTimeoutMs,
  })
  const deliveries = new DeliveryEngine(db, log, {
    pollMs: config.ocpiPushPollMs,
    batchSize: config.deliveryBatchSize,
    concurrency: config.deliveryConcurrency,
    baseBackoffMs: config.ocpiRetryBaseMs,
    maxBackoffMs: config.ocpiRetryMaxMs,
    // A lease outlives the longest send, so a row is never sent by two workers at once.
    leaseMs: Math.max(60_000, 2 * config.partnerTimeoutMs),
    onFailure: (delivery) => {
      if (delivery.kind === OCPI_TOKEN) metrics.deliveryFailed(partnerOfDestination(delivery.destination))
    },
  })
  const authorizationEndpoints = new PartnerEndpoints(db, secrets, log, {
    pollMs: config.authorizationEndpointsPollMs,
    allowHttp: config.sandbox || config.allowPrivatePartnerUrls,
    allowPrivateAddresses: config.allowPrivatePartnerUrls,
  })
  const partnerDecisions = new PartnerDecisions(authorizationEndpoints, log, {
    breaker: { failureThreshold: config.authorizationBreakerFailures, coolDownMs: config.authorizationBreakerCoolDownMs },
    allowPrivateAddresses: config.allowPrivatePartnerUrls,
  })
  const oicpClient = OicpClient.fromConfig(config)
  let publicUrl = config.publicUrl ?? `http://${config.host}:${config.port}`
  const identity = {
    countryCode: config.ocpiCountryCode,
    partyId: config.ocpiPartyId,
    businessName: config.ocpiBusinessName,
    versionsUrl: () => `${publicUrl}/ocpi/emsp/versions`,
  }
  const organization = config.pkiOrganization ?? config.ocpiBusinessName
  const authorities = new CertificateAuthorities(db, secrets, log, {
    organization,
    country: config.emaidPrefixParts.country,
    publicUrl: () => publicUrl,
  })
  const revocation = new RevocationServices(db, authorities, log)
  const trusted = new TrustedRoots(readTrustedRoots(config.pkiTrustedRoots))
  const contracts = new ContractCertificates({
    db,
    log,
    store: keyStore,
    chargingKeys,
    authorities,
    secrets,
    trust: () => trusted.current(),
    settings: { organization, maxDays: config.pkiContractMaxDays, renewBeforeDays: config.pkiRenewBeforeDays },
    onRevoked: (issuers) => {
      revocation.revoked(issuers).catch((err: unknown) => log.warn({ err }, 'CRL after a revocation failed; it is made on the next fetch'))
    },
  })
  const opcp = Opcp.fromConfig({ db, log, config, secrets, contracts, chargingKeys, deliveries, trusted })
  return {
    db,
    log,
    config,
    organizations: new Organizations(db, keyStore),
    apiKeys: new ApiKeys(db, config.adminApiKey),
    users: new Users(chargingKeys, keyStore),
    chargingKeys,
    keyStore,
    keyValidity: new KeyValidityClock(db, log, config.keyValidityCheckMs),
    authorization: new Authorizer(keyDirectory, decisions, metrics, partnerDecisions),
    authorizationEndpoints,
    partnerDecisions,
    idempotency: new IdempotencyStore(db, secrets),
    keyDirectory,
    decisions,
    searchDocuments: new SearchDocumentCache(config.geosearchCacheMb * 1024 * 1024),
    outgoing,
    deliveries,
    ocpi: {
      partners,
      registration: new OcpiRegistration(partners, identity, log, outgoing),
      push: new TokenPush(db, partners, { countryCode: config.ocpiCountryCode, partyId: config.ocpiPartyId }, log, deliveries, {
        http: outgoing,
        pollMs: config.ocpiPushPollMs,
      }),
      locationPull: new LocationPull(db, partners, log, { intervalMs: config.ocpiLocationsPullMs, http: outgoing }),
    },
    oicp: {
      client: oicpClient,
      authData: new OicpAuthDataPush(db, log, deliveries, oicpClient, config.oicpOffline, { pollMs: config.ocpiPushPollMs }),
      evsePull: new OicpEvsePull(db, log, oicpClient, { intervalMs: config.oicpEvsePullMs, pageSize: config.oicpEvsePageSize }),
    },
    sessions: new ChargingSessions(db, log),
    ca: {
      authorities,
      contracts,
      revocation,
      jobs: new CaJobs({ authorities, contracts, revocation }, log, config.pkiJobIntervalMs),
      trusted,
    },
    opcp,
    webhooks: {
      endpoints: new WebhookEndpoints(db, secrets, {
        allowHttp: config.sandbox || config.allowPrivatePartnerUrls,
        allowPrivateUrls: config.allowPrivatePartnerUrls,
      }),
      delivery: new PartnerWebhooks(db, secrets, outgoing, deliveries, log, {
        pollMs: config.ocpiPushPollMs,
        retryWindowMs: config.webhookRetryHours * 3600_000,
        // with one call's deadline on top, a send stays inside its lease (2 x the deadline, at least 60 s)
        sendBudgetMs: config.partnerTimeoutMs,
      }),
    },
    metrics,
    lifecycle: { shuttingDown: false },
    publicUrl: () => publicUrl,
    setPublicUrl(url) {
      publicUrl = url.replace(/\/$/, '')
    },
  }
}

/** OPENPNC_PKI_TRUSTED_ROOTS: PEM files (comma-separated), each with one or more certificates. */
function readTrustedRoots(setting: string | undefined): Buffer[] {
  if (!setting) return []
  return setting
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '')
    .flatMap((path) => {
      let text: string
      try {
        text = readFileSync(path, 'utf8')
      } catch (error) {
        throw new ConfigError(`invalid configuration: OPENPNC_PKI_TRUSTED_ROOTS: cannot read ${path}: ${(error as Error).message}`)
      }
      try {
        return decodeCertificates(text, 'OPENPNC_PKI_TRUSTED_ROOTS')
      } catch (error) {
        throw new ConfigError(`invalid configuration: OPENPNC_PKI_TRUSTED_ROOTS: ${path}: ${(error as Error).message}`)
      }
    })
}
