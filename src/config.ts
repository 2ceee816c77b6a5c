import { Type, type Static } from '@sinclair/typebox'
import { Value } from '@sinclair/typebox/value'
import { parseEmaidPrefix } from './core/identifiers/index.ts'

/**
 * Every setting, read from the environment once and validated here (README, "Configuration").
 * Each entry: environment variable, its schema (with default) and what it does.
 */
const SETTINGS = {
  port: { env: 'PORT', schema: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }) },
  host: { env: 'HOST', schema: Type.String({ minLength: 1, default: '127.0.0.1' }) },
  databaseUrl: { env: 'DATABASE_URL', schema: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })) },
  dataDir: { env: 'OPENPNC_DATA_DIR', schema: Type.String({ minLength: 1, default: './data' }) },
  adminApiKey: { env: 'OPENPNC_ADMIN_API_KEY', schema: Type.Optional(Type.String({ minLength: 24 })) },
  emaidPrefix: { env: 'OPENPNC_EMAID_PREFIX', schema: Type.String({ default: 'DE-8PS' }) },
  sandbox: { env: 'OPENPNC_SANDBOX', schema: Type.Boolean({ default: true }) },
  logLevel: {
    env: 'LOG_LEVEL',
    schema: Type.Union(
      ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l)),
      {
        default: 'info',
      },
    ),
  },
  logFormat: {
    env: 'LOG_FORMAT',
    schema: Type.Union([Type.Literal('auto'), Type.Literal('json'), Type.Literal('pretty')], { default: 'auto' }),
  },
  bodyLimit: { env: 'OPENPNC_BODY_LIMIT', schema: Type.Integer({ minimum: 1024, maximum: 10_485_760, default: 65_536 }) },
  databasePoolSize: { env: 'OPENPNC_DB_POOL_SIZE', schema: Type.Integer({ minimum: 1, maximum: 200, default: 16 }) },
  publicUrl: { env: 'OPENPNC_PUBLIC_URL', schema: Type.Optional(Type.String({ pattern: '^https?://' })) },
  secretKey: { env: 'OPENPNC_SECRET_KEY', schema: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64}$' })) },
  ocpiCountryCode: { env: 'OPENPNC_OCPI_COUNTRY_CODE', schema: Type.String({ pattern: '^[A-Z]{2}$', default: 'DE' }) },
  ocpiPartyId: { env: 'OPENPNC_OCPI_PARTY_ID', schema: Type.String({ pattern: '^[A-Z0-9]{3}$', default: '8PS' }) },
  ocpiBusinessName: { env: 'OPENPNC_OCPI_BUSINESS_NAME', schema: Type.String({ minLength: 1, maxLength: 100, default: 'openpnc' }) },
  ocpiRetryBaseMs: { env: 'OPENPNC_OCPI_RETRY_BASE_MS', schema: Type.Integer({ minimum: 10, maximum: 600_000, default: 1000 }) },
  ocpiRetryMaxMs: { env: 'OPENPNC_OCPI_RETRY_MAX_MS', schema: Type.Integer({ minimum: 10, maximum: 86_400_000, default: 300_000 }) },
  ocpiPushPollMs: { env: 'OPENPNC_OCPI_PUSH_POLL_MS', schema: Type.Integer({ minimum: 50, maximum: 60_000, default: 500 }) },
  // How often changes made elsewhere (another instance, SQL) reach the in-memory key directory;
  // changes through this instance count at once.
  keyDirectoryPollMs: { env: 'OPENPNC_KEY_DIRECTORY_POLL_MS', schema: Type.Integer({ minimum: 50, maximum: 3_600_000, default: 250 }) },
  // How soon after a key's validTo passes (or validFrom arrives) its event is written: CPOs' copies
  // say valid:false and partners hear of it within this.
  keyValidityCheckMs: {
    env: 'OPENPNC_KEY_VALIDITY_CHECK_MS',
    schema: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 10_000 }),
  },
  deliveryConcurrency: {
    env: 'OPENPNC_DELIVERY_CONCURRENCY',
    schema: Type.Integer({ minimum: 1, maximum: 64, default: 8, description: 'sends in parallel per partner' }),
  },
  deliveryBatchSize: {
    env: 'OPENPNC_DELIVERY_BATCH_SIZE',
    schema: Type.Integer({ minimum: 1, maximum: 5000, default: 200, description: 'deliveries leased per round' }),
  },
  ocpiLocationsPullMs: {
    env: 'OPENPNC_OCPI_LOCATIONS_PULL_MS',
    schema: Type.Integer({ minimum: 1000, maximum: 86_400_000, default: 900_000 }),
  },
  geosearchCacheMb: {
    env: 'OPENPNC_GEOSEARCH_CACHE_MB',
    schema: Type.Integer({ minimum: 0, maximum: 1_048_576, default: 256 }),
  },
  ocpiPageLimit: { env: 'OPENPNC_OCPI_PAGE_LIMIT', schema: Type.Integer({ minimum: 10, maximum: 10_000, default: 2000 }) },
  // A client that stalls while sending its request holds a connection; these end it (408).
  requestTimeoutMs: { env: 'OPENPNC_REQUEST_TIMEOUT_MS', schema: Type.Integer({ minimum: 10, maximum: 600_000, default: 30_000 }) },
  headersTimeoutMs: { env: 'OPENPNC_HEADERS_TIMEOUT_MS', schema: Type.Integer({ minimum: 10, maximum: 600_000, default: 10_000 }) },
  metricsPort: { env: 'OPENPNC_METRICS_PORT', schema: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })) },
  shutdownTimeoutMs: {
    env: 'OPENPNC_SHUTDOWN_TIMEOUT_MS',
    schema: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 25_000 }),
  },
  // Calls to URLs partners give us (src/infra/http/outgoing.ts).
  allowPrivatePartnerUrls: { env: 'OPENPNC_ALLOW_PRIVATE_PARTNER_URLS', schema: Type.Boolean({ default: false }) },
  // A partner webhook delivery still failing this long after its first attempt is given up (marked
  // failed) and the endpoint moves on to its next event; fractions allowed (tests).
  webhookRetryHours: { env: 'OPENPNC_WEBHOOK_RETRY_HOURS', schema: Type.Number({ minimum: 0, maximum: 8760, default: 72 }) },
  partnerAnswerMaxBytes: {
    env: 'OPENPNC_PARTNER_ANSWER_MAX_BYTES',
    schema: Type.Integer({ minimum: 1024, maximum: 1_073_741_824, default: 8_388_608 }),
  },
  // ----- OICP 2.3 (Hubject), README "Roaming over Hubject OICP"
  // Hubject calls us on a listener of its own; without TLS settings it binds to loopback over HTTP.
  oicpPort: { env: 'OPENPNC_OICP_PORT', schema: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })) },
  oicpPrefix: { env: 'OPENPNC_OICP_PREFIX', schema: Type.String({ pattern: '^(/[A-Za-z0-9._~-]+)*$', default: '/oicp' }) },
  oicpTlsCert: { env: 'OPENPNC_OICP_TLS_CERT', schema: Type.Optional(Type.String({ minLength: 1 })) },
  oicpTlsKey: { env: 'OPENPNC_OICP_TLS_KEY', schema: Type.Optional(Type.String({ minLength: 1 })) },
  oicpTlsClientCa: { env: 'OPENPNC_OICP_TLS_CLIENT_CA', schema: Type.Optional(Type.String({ minLength: 1 })) },
  // We call Hubject at this base URL (e.g. https://service-qa.hubject.com/api/oicp), with our client certificate.
  oicpUrl: { env: 'OPENPNC_OICP_URL', schema: Type.Optional(Type.String({ pattern: '^https?://' })) },
  oicpClientCert: { env: 'OPENPNC_OICP_CLIENT_CERT', schema: Type.Optional(Type.String({ minLength: 1 })) },
  oicpClientKey: { env: 'OPENPNC_OICP_CLIENT_KEY', schema: Type.Optional(Type.String({ minLength: 1 })) },
  oicpServerCa: { env: 'OPENPNC_OICP_SERVER_CA', schema: Type.Optional(Type.String({ minLength: 1 })) },
  // Our ProviderID; default: the EMAID prefix with '*' (DE-8PS: DE*8PS).
  oicpProviderId: { env: 'OPENPNC_OICP_PROVIDER_ID', schema: Type.Optional(Type.String({ pattern: '^[A-Za-z]{2}[*-]?[A-Za-z0-9]{3}$' })) },
  // An offline EMP pushes its authentication data to Hubject (PushAuthenticationData).
  oicpOffline: { env: 'OPENPNC_OICP_OFFLINE', schema: Type.Boolean({ default: false }) },
  // How often Hubject's EVSE data (a delta) and statuses are pulled; 0: only when asked (admin API, CLI).
  oicpEvsePullMs: { env: 'OPENPNC_OICP_EVSE_PULL_MS', schema: Type.Integer({ minimum: 0, maximum: 86_400_000, default: 900_000 }) },
  // EVSE records per page of a PullEvseData v2.3 (Hubject allows up to 2000).
  oicpEvsePageSize: { env: 'OPENPNC_OICP_EVSE_PAGE_SIZE', schema: Type.Integer({ minimum: 1, maximum: 2000, default: 2000 }) },
  // ----- Our MO certificate authority (ISO 15118-2 contract certificates), README "Contract certificates"
  // The vehicle provisioning certificates' trust anchors (OEM or V2G roots): PEM files, comma-separated.
  pkiTrustedRoots: { env: 'OPENPNC_PKI_TRUSTED_ROOTS', schema: Type.Optional(Type.String({ minLength: 1 })) },
  // The longest a contract certificate is issued for; the key's validTo and Sub-CA 2 may cut it shorter.
  pkiContractMaxDays: { env: 'OPENPNC_PKI_CONTRACT_MAX_DAYS', schema: Type.Integer({ minimum: 1, maximum: 3650, default: 730 }) },
  // The scheduled renewal issues a new certificate this long before the current one expires.
  pkiRenewBeforeDays: { env: 'OPENPNC_PKI_RENEW_BEFORE_DAYS', schema: Type.Integer({ minimum: 0, maximum: 365, default: 30 }) },
  // How often expiry, scheduled renewal, the OCSP signers and the CRLs are looked after.
  pkiJobIntervalMs: {
    env: 'OPENPNC_PKI_JOB_INTERVAL_MS',
    schema: Type.Integer({ minimum: 1000, maximum: 86_400_000, default: 3_600_000 }),
  },
  // The O= of our CA and contract certificates; default OPENPNC_OCPI_BUSINESS_NAME.
  pkiOrganization: { env: 'OPENPNC_PKI_ORGANIZATION', schema: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })) },
  // Without a CA chain, the platform creates a self-signed one at start (`openpnc pki init` does it by hand).
  pkiAutoInit: { env: 'OPENPNC_PKI_AUTO_INIT', schema: Type.Boolean({ default: true }) },
  // ----- Hubject's Plug&Charge ecosystem over OPCP, README "Plug&Charge ecosystem (OPCP)"
  // Base URL of the OPCP services (RCP, PCP, CPS, CCP, webhooks), e.g. https://eu.plugncharge-qa.hubject.com
  opcpUrl: { env: 'OPENPNC_OPCP_URL', schema: Type.Optional(Type.String({ pattern: '^https?://' })) },
  // OAuth2 client credentials; the token URL defaults to <OPENPNC_OPCP_URL>/oauth/token.
  opcpTokenUrl: { env: 'OPENPNC_OPCP_TOKEN_URL', schema: Type.Optional(Type.String({ pattern: '^https?://' })) },
  opcpClientId: { env: 'OPENPNC_OPCP_CLIENT_ID', schema: Type.Optional(Type.String({ minLength: 1 })) },
  opcpClientSecret: { env: 'OPENPNC_OPCP_CLIENT_SECRET', schema: Type.Optional(Type.String({ minLength: 1 })) },
  // The audience of the token: Hubject's stage and region; default OPENPNC_OPCP_URL.
  opcpAudience: { env: 'OPENPNC_OPCP_AUDIENCE', schema: Type.Optional(Type.String({ minLength: 1 })) },
  // How often the trusted roots are read from the Root Certificate Pool (also at start and on root events).
  opcpRootsRefreshMs: {
    env: 'OPENPNC_OPCP_ROOTS_REFRESH_MS',
    schema: Type.Integer({ minimum: 1000, maximum: 604_800_000, default: 21_600_000 }),
  },
  // The sandbox may start a simulated Hubject ecosystem (`openpnc sim opcp`) in the same process and
  // connect to it, unless OPENPNC_OPCP_URL names a real one.
  sandboxOpcp: { env: 'OPENPNC_SANDBOX_OPCP', schema: Type.Boolean({ default: false }) },
  sandboxOpcpPort: { env: 'OPENPNC_SANDBOX_OPCP_PORT', schema: Type.Integer({ minimum: 0, maximum: 65535, default: 8790 }) },
  partnerTimeoutMs: { env: 'OPENPNC_PARTNER_TIMEOUT_MS', schema: Type.Integer({ minimum: 100, maximum: 600_000, default: 10_000 }) },
  // Partner-decided authorization: how soon another instance's change of an organization's
  // authorization endpoint is followed here (this instance's own changes count at once).
  authorizationEndpointsPollMs: {
    env: 'OPENPNC_AUTHORIZATION_ENDPOINTS_POLL_MS',
    schema: Type.Integer({ minimum: 50, maximum: 600_000, default: 5000 }),
  },
  // An organization's authorization endpoint that fails this many times in a row is not called
  // for the cool-down (its fallback answers at once), then gets one trial call.
  authorizationBreakerFailures: {
    env: 'OPENPNC_AUTHORIZATION_BREAKER_FAILURES',
    schema: Type.Integer({ minimum: 1, maximum: 1000, default: 5 }),
  },
  authorizationBreakerCoolDownMs: {
    env: 'OPENPNC_AUTHORIZATION_BREAKER_COOLDOWN_MS',
    schema: Type.Integer({ minimum: 10, maximum: 3_600_000, default: 30_000 }),
  },
} as const

const ConfigSchema = Type.Object(
  Object.fromEntries(Object.entries(SETTINGS).map(([name, s]) => [name, s.schema])) as {
    [K in keyof typeof SETTINGS]: (typeof SETTINGS)[K]['schema']
  },
)

export type Config = Static<typeof ConfigSchema> & {
  /** The platform's EMAID prefix, parsed. */
  emaidPrefixParts: { country: string; provider: string }
  /** Our OICP ProviderID, e.g. `DE*8PS` (OPENPNC_OICP_PROVIDER_ID, else the EMAID prefix). */
  oicpProviderIdResolved: string
}

export class ConfigError extends Error {}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const raw: Record<string, unknown> = {}
  for (const [name, setting] of Object.entries(SETTINGS)) {
    const value = env[setting.env]
    if (value !== undefined && value !== '') raw[name] = value
  }
  const candidate = Value.Default(ConfigSchema, Value.Convert(ConfigSchema, raw))
  const errors = [...Value.Errors(ConfigSchema, candidate)]
  if (errors.length > 0) {
    const messages = errors.map((e) => {
      const name = e.path.slice(1) as keyof typeof SETTINGS
      return `${SETTINGS[name]?.env ?? name}: ${e.message}`
    })
    throw new ConfigError(`invalid configuration: ${messages.join('; ')}`)
  }
  const config = candidate as Static<typeof ConfigSchema>
  if (config.headersTimeoutMs > config.requestTimeoutMs) {
    throw new ConfigError('invalid configuration: OPENPNC_HEADERS_TIMEOUT_MS must not exceed OPENPNC_REQUEST_TIMEOUT_MS')
  }
  const emaidPrefixParts = parseEmaidPrefix(config.emaidPrefix)
  if (!emaidPrefixParts) {
    throw new ConfigError('invalid configuration: OPENPNC_EMAID_PREFIX must be country + provider ID, e.g. DE-8PS')
  }
  if (config.metricsPort !== undefined && config.metricsPort !== 0 && config.metricsPort === config.port) {
    throw new ConfigError('invalid configuration: OPENPNC_METRICS_PORT must differ from PORT (metrics on PORT need no port of their own)')
  }
  const tls = [config.oicpTlsCert, config.oicpTlsKey, config.oicpTlsClientCa]
  if (tls.some((v) => v !== undefined) && tls.some((v) => v === undefined)) {
    throw new ConfigError(
      'invalid configuration: OPENPNC_OICP_TLS_CERT, OPENPNC_OICP_TLS_KEY and OPENPNC_OICP_TLS_CLIENT_CA go together (mutual TLS needs all three)',
    )
  }
  if ((config.oicpClientCert === undefined) !== (config.oicpClientKey === undefined)) {
    throw new ConfigError('invalid configuration: OPENPNC_OICP_CLIENT_CERT and OPENPNC_OICP_CLIENT_KEY go together')
  }
  if (config.oicpOffline && config.oicpUrl === undefined) {
    throw new ConfigError('invalid configuration: OPENPNC_OICP_OFFLINE needs OPENPNC_OICP_URL (where authentication data is pushed)')
  }
  if (config.opcpUrl !== undefined && (config.opcpClientId === undefined || config.opcpClientSecret === undefined)) {
    throw new ConfigError(
      'invalid configuration: OPENPNC_OPCP_URL needs OPENPNC_OPCP_CLIENT_ID and OPENPNC_OPCP_CLIENT_SECRET (OAuth2 client credentials)',
    )
  }
  const provider = config.oicpProviderId
  const oicpProviderIdResolved = provider ?? `${emaidPrefixParts.country}*${emaidPrefixParts.provider}`
  return { ...config, emaidPrefixParts, oicpProviderIdResolved }
}
