import type { OcpiCredentialsRole, OcpiEndpoint } from '../../infra/db/schema.ts'
import { OpenpncError } from '../../core/errors.ts'
import type { OutgoingHttp } from '../../infra/http/outgoing.ts'
import type { Logger } from '../../infra/logger.ts'
import { ocpiCall, OcpiClientError } from './client.ts'
import { claimedParties, newCredentialsToken, type OcpiPartner, type OcpiPartners } from './partners.ts'
import { CALLED, isOcpiVersion, OCPI_STATUS, OCPI_VERSIONS, partnerEndpoint, type OcpiVersion } from './protocol.ts'
import { calledUrl, OcpiError } from './transport.ts'

export interface Credentials {
  token: string
  url: string
  roles: OcpiCredentialsRole[]
}

/** Who we are in OCPI. */
export interface OcpiIdentity {
  countryCode: string
  partyId: string
  businessName: string
  /** our versions endpoint, as partners reach it */
  versionsUrl(): string
}

/**
 * What a CPO is told when the URL it gave us cannot be used: the class of the failure only. Its
 * answer is never quoted, and a refused connection, a closed port, an HTTP error or a foreign
 * service all read the same, so the exchange cannot be used to look around in a network.
 */
function reasonForCaller(error: unknown): string {
  if (error instanceof OcpiClientError && error.refusedByPolicy) {
    return error.failure === 'address_not_allowed' ? 'its address is not allowed' : 'only http and https URLs are allowed'
  }
  return 'no usable OCPI answer'
}

/** What the platform admin is told: the failure, named (still without the partner's body). */
const reasonForAdmin = (error: unknown) => (error instanceof OcpiClientError ? error.reason : (error as Error).message)

interface Discovered {
  version: OcpiVersion
  endpoints: OcpiEndpoint[]
}

/**
 * The credentials module, both directions: a CPO registering with us (POST/PUT/DELETE on our
 * credentials endpoint) and us registering with a CPO. Either way we read the other side's
 * versions and endpoints with its token before we answer or store anything.
 */
export class OcpiRegistration {
  constructor(
    private readonly partners: OcpiPartners,
    private readonly identity: OcpiIdentity,
    private readonly log: Logger,
    private readonly http: OutgoingHttp,
  ) {}

  /** Our credentials object, carrying the token the partner is to use with us. */
  ourCredentials(token: string): Credentials {
    return {
      token,
      url: this.identity.versionsUrl(),
      roles: [
        {
          role: 'EMSP',
          business_details: { name: this.identity.businessName },
          party_id: this.identity.partyId,
          country_code: this.identity.countryCode,
        },
      ],
    }
  }

  /**
   * Reads a party's versions and the details of one version: `required` when the partner
   * already chose it (it called that version of ours), else the highest both sides speak.
   */
  async discover(
    versionsUrl: string,
    token: string,
    style: 'base64' | 'raw',
    required?: OcpiVersion,
    reason: (error: unknown) => string = reasonForAdmin,
  ): Promise<Discovered> {
    const http = this.http
    let versions: Array<{ version: string; url: string }>
    try {
      const url = calledUrl('getVersions', versionsUrl, {})
      versions = (await ocpiCall<Array<{ version: string; url: string }>>(CALLED.getVersions.method, url, { http, token, style })).data
    } catch (error) {
      throw new OcpiError('invalid', OCPI_STATUS.unableToUseClientApi, `could not read versions at ${versionsUrl}: ${reason(error)}`)
    }
    if (!Array.isArray(versions)) {
      throw new OcpiError('invalid', OCPI_STATUS.unableToUseClientApi, `versions at ${versionsUrl} is not a list`)
    }
    const common = versions.filter((v) => typeof v?.version === 'string' && isOcpiVersion(v.version) && typeof v.url === 'string')
    const chosen = required
      ? common.find((v) => v.version === required)
      : common.sort((a, b) => OCPI_VERSIONS.indexOf(b.version as OcpiVersion) - OCPI_VERSIONS.indexOf(a.version as OcpiVersion))[0]
    if (!chosen) {
      throw new OcpiError(
        'invalid',
        OCPI_STATUS.unsupportedVersion,
        required
          ? `the versions at ${versionsUrl} do not include ${required}`
          : `no common OCPI version (we speak ${OCPI_VERSIONS.join(', ')})`,
      )
    }
    let details: { version?: string; endpoints?: OcpiEndpoint[] }
    try {
      const url = calledUrl('getVersionDetails', chosen.url, {})
      details = (
        await ocpiCall<{ version: string; endpoints: OcpiEndpoint[] }>(CALLED.getVersionDetails.method, url, { http, token, style })
      ).data
    } catch (error) {
      throw new OcpiError('invalid', OCPI_STATUS.unableToUseClientApi, `could not read version details at ${chosen.url}: ${reason(error)}`)
    }
    const endpoints = (details?.endpoints ?? []).filter(
      (e) => typeof e?.identifier === 'string' && (e.role === 'SENDER' || e.role === 'RECEIVER') && typeof e.url === 'string',
    )
    if (endpoints.length === 0) {
      throw new OcpiError('invalid', OCPI_STATUS.noMatchingEndpoints, `version ${chosen.version} at ${chosen.url} lists no endpoints`)
    }
    return { version: chosen.version as OcpiVersion, endpoints }
  }

  /** POST credentials: a CPO registers with the Token A we gave it. */
  async accept(partner: OcpiPartner, presented: 'token_a' | 'token', version: OcpiVersion, theirs: Credentials): Promise<Credentials> {
    if (partner.status === 'registered' || presented === 'token') {
      throw new OcpiError(
        'method_not_allowed',
        OCPI_STATUS.clientError,
        'already registered: use PUT to update the credentials, DELETE to unregister',
      )
    }
    return this.exchange(partner, version, theirs)
  }

  /** PUT credentials: a registered CPO hands us a new token and we re-read its endpoints. */
  async update(partner: OcpiPartner, presented: 'token_a' | 'token', version: OcpiVersion, theirs: Credentials): Promise<Credentials> {
    if (partner.status !== 'registered' || presented !== 'token') {
      throw new OcpiError('method_not_allowed', OCPI_STATUS.clientError, 'not registered yet: POST the credentials first')
    }
    return this.exchange(partner, version, theirs)
  }

  private async exchange(partner: OcpiPartner, version: OcpiVersion, theirs: Credentials): Promise<Credentials> {
    // A claim of parties the partner may not act for is refused before we call it back.
    await this.partners.checkClaim(partner, claimedParties(theirs.roles))
    const discovered = await this.discover(theirs.url, theirs.token, partner.authorizationStyle, version, (error) => {
      this.log.warn({ partnerId: partner.id, reason: reasonForAdmin(error) }, 'could not use the OCPI URLs a partner gave us')
      return reasonForCaller(error)
    })
    const ourToken = newCredentialsToken()
    await this.partners.register(partner.id, {
      version: discovered.version,
      versionsUrl: theirs.url,
      endpoints: discovered.endpoints,
      roles: theirs.roles,
      outgoingToken: theirs.token,
      incomingToken: ourToken,
    })
    this.log.info({ partnerId: partner.id, version: discovered.version }, 'OCPI partner registered with us')
    return this.ourCredentials(ourToken)
  }

  /** DELETE credentials. */
  async unregister(partner: OcpiPartner, presented: 'token_a' | 'token'): Promise<void> {
    if (partner.status !== 'registered' || presented !== 'token') {
      throw new OcpiError('method_not_allowed', OCPI_STATUS.clientError, 'not registered')
    }
    await this.partners.unregister(partner.id)
    this.log.info({ partnerId: partner.id }, 'OCPI partner unregistered')
  }

  /** We register with a CPO that gave us its versions URL and a Token A. */
  async registerWith(partnerId: string, versionsUrl: string, tokenA: string): Promise<OcpiPartner> {
    const partner = await this.partners.get(partnerId)
    if (partner.status === 'registered') {
      throw new OpenpncError('conflict', 'ocpi_partner_registered', 'this partner is registered already; unregister it first')
    }
    if (partner.suspendedAt) throw new OpenpncError('conflict', 'ocpi_partner_suspended', 'this partner is suspended; resume it first')
    const fail = (error: unknown): never => {
      const message = error instanceof Error ? error.message : String(error)
      throw new OpenpncError('bad_gateway', 'ocpi_registration_failed', `registration with ${versionsUrl} failed: ${message}`)
    }
    const first = await this.discover(versionsUrl, tokenA, partner.authorizationStyle).catch(fail)
    const credentialsEndpoint = partnerEndpoint(first.endpoints, 'postCredentials')
    if (credentialsEndpoint === undefined) fail(new Error(`version ${first.version} lists no credentials endpoint`))
    const ourToken = newCredentialsToken()
    // The CPO reads our versions with this token before it answers our POST.
    await this.partners.expectIncomingToken(partner.id, ourToken)
    let theirs: Credentials
    try {
      theirs = (
        await ocpiCall<Credentials>(CALLED.postCredentials.method, calledUrl('postCredentials', credentialsEndpoint!, {}), {
          http: this.http,
          token: tokenA,
          style: partner.authorizationStyle,
          body: this.ourCredentials(ourToken),
        })
      ).data
    } catch (error) {
      return fail(error instanceof OcpiClientError ? error : new Error(String(error)))
    }
    if (typeof theirs?.token !== 'string' || typeof theirs.url !== 'string') fail(new Error('their credentials lack token or url'))
    // From now on their token is the one to use; read their endpoints with it.
    const final = await this.discover(theirs.url, theirs.token, partner.authorizationStyle, first.version).catch(fail)
    const registered = await this.partners.register(partner.id, {
      version: final.version,
      versionsUrl: theirs.url,
      endpoints: final.endpoints,
      roles: Array.isArray(theirs.roles) ? theirs.roles : [],
      outgoingToken: theirs.token,
      incomingToken: ourToken,
    })
    this.log.info({ partnerId: partner.id, version: final.version }, 'registered with OCPI partner')
    return registered
  }
}
