import { randomUUID } from 'node:crypto'
import type { KeyCard } from '../keys/roaming-key.ts'
import { decide, type Allowed } from '../../core/authorization/decision.ts'
import { presentedIdentity, presentedUid, keysNamedBy, type PresentedIdentifier } from '../../core/authorization/presented.ts'
import type { PartnerVerdict } from '../../core/authorization/partner-decision.ts'
import type { DecisionLog, DecisionRecord } from './decision-log.ts'
import type { KeyDirectory, KeyRef } from './key-directory.ts'
import type { PartnerEndpoint } from './partner-endpoints.ts'

export interface AuthorizationRequest {
  protocol: 'ocpi' | 'oicp'
  partnerId: string | null
  /** what the station presented, as its protocol adapter parsed it */
  presented: PresentedIdentifier
  /** the identifier as the station sent it, for the record */
  tokenUid: string
  /** the protocol's token type as given, for the record; null when the partner sent none */
  tokenType: string | null
  location?: unknown
  /**
   * Where and who asks, as the protocol named them, for an organization's authorization endpoint.
   * A function: read only when an endpoint is asked, so other decisions pay nothing for it.
   */
  partnerContext?: () => PartnerContext
}

export interface PartnerContext {
  /** the location and EVSEs: OCPI's LocationReferences, OICP's EvseID */
  location: { locationId: string | null; evseIds: string[] }
  /** who asks: the OCPI CPO's party (its routing headers) and our name for it, the OICP OperatorID */
  operator: { id: string | null; name: string | null }
}

/**
 * A decision about a key the identifier names, or UNKNOWN (no key carries it); every outcome is
 * recorded under its reference. `partner` is there when the key's organization has an
 * authorization endpoint and our own decision was ALLOWED: `allowed` is then its verdict.
 */
export type AuthorizationOutcome =
  | { readonly allowed: Allowed; readonly key: KeyCard; readonly authorizationReference: string; readonly partner?: PartnerVerdict }
  | { readonly allowed: 'UNKNOWN'; readonly key: null; readonly authorizationReference: string; readonly partner?: undefined }

/** What an authorization endpoint is asked about (services/authorization/partner-decision.ts). */
export interface PartnerQuestion extends PartnerContext {
  authorizationReference: string
  protocol: 'ocpi' | 'oicp'
  key: KeyCard
  identifier: { value: string; type: string | null }
}

/**
 * The one seam of partner-decided authorization. `endpointOf` is a lookup in memory, asked only
 * after an ALLOWED decision: organizations without an endpoint keep the synchronous path.
 * `ask` never rejects; a partner's failure is a verdict with the organization's fallback.
 */
export interface PartnerDecider {
  endpointOf(organizationId: string): PartnerEndpoint | undefined
  ask(endpoint: PartnerEndpoint, question: PartnerQuestion): Promise<PartnerVerdict>
}

const UNKNOWN_CONTEXT: PartnerContext = { location: { locationId: null, evseIds: [] }, operator: { id: null, name: null } }

/**
 * Answers "may this identifier charge here?" for every protocol: finds the keys behind it, decides
 * (core/authorization), and records the decision off the hot path. The platform's one authorization.
 */
export class Authorizer {
  constructor(
    private readonly directory: KeyDirectory,
    private readonly decisions: DecisionLog,
    /** Counts each decision (metrics.ts); must not allocate, it runs on every authorization. */
    private readonly observe?: { decided(protocol: string, answer: string, seconds: number): void },
    /** organizations' authorization endpoints; absent, every decision is ours alone */
    private readonly partner?: PartnerDecider,
  ) {}

  /**
   * Always a promise: already resolved when the directory holds the keys (the common case,
   * decided synchronously), otherwise settled once they are read.
   */
  authorize(request: AuthorizationRequest): Promise<AuthorizationOutcome> {
    const started = performance.now()
    const ref: KeyRef = { emaidIdentity: presentedIdentity(request.presented), rfidUid: presentedUid(request.presented) }
    const held = this.directory.held(ref)
    if (held) return Promise.resolve(this.decide(request, held, started))
    return this.directory.lookup(ref).then((keys) => this.decide(request, keys, started))
  }

  private decide(
    request: AuthorizationRequest,
    found: readonly KeyCard[],
    started: number,
  ): AuthorizationOutcome | Promise<AuthorizationOutcome> {
    const now = Date.now()
    const decision = decide(keysNamedBy(request.presented, found), new Date(now))
    const authorizationReference = randomUUID()
    if (decision?.allowed === 'ALLOWED' && this.partner) {
      const endpoint = this.partner.endpointOf(decision.key.key.organizationId)
      if (endpoint) return this.askPartner(endpoint, request, decision.key, authorizationReference, started, now)
    }
    const allowed = decision?.allowed ?? 'UNKNOWN'
    const latencyMs = performance.now() - started
    this.observe?.decided(request.protocol, allowed, latencyMs / 1000)
    this.decisions.record({
      authorizationReference,
      protocol: request.protocol,
      partnerId: request.partnerId,
      tokenUid: request.tokenUid,
      tokenType: request.tokenType,
      emaidIdentity: presentedIdentity(request.presented),
      keyId: decision?.key.key.id ?? null,
      organizationId: decision?.key.key.organizationId ?? null,
      allowed,
      location: request.location,
      latencyUs: Math.round(latencyMs * 1000),
      decidedAt: now,
    })
    return decision
      ? { allowed: decision.allowed, key: decision.key, authorizationReference }
      : { allowed: 'UNKNOWN', key: null, authorizationReference }
  }

  /** Our decision was ALLOWED and the organization has the last word: asked, answered, recorded with its part. */
  private async askPartner(
    endpoint: PartnerEndpoint,
    request: AuthorizationRequest,
    key: KeyCard,
    authorizationReference: string,
    started: number,
    now: number,
  ): Promise<AuthorizationOutcome> {
    const verdict = await this.partner!.ask(endpoint, {
      authorizationReference,
      protocol: request.protocol,
      key,
      identifier: { value: request.tokenUid, type: request.tokenType },
      ...(request.partnerContext?.() ?? UNKNOWN_CONTEXT),
    })
    const latencyMs = performance.now() - started
    this.observe?.decided(request.protocol, verdict.allowed, latencyMs / 1000)
    const record: DecisionRecord = {
      authorizationReference,
      protocol: request.protocol,
      partnerId: request.partnerId,
      tokenUid: request.tokenUid,
      tokenType: request.tokenType,
      emaidIdentity: presentedIdentity(request.presented),
      keyId: key.key.id,
      organizationId: key.key.organizationId,
      allowed: 'ALLOWED',
      location: request.location,
      latencyUs: Math.round(latencyMs * 1000),
      decidedAt: now,
      partnerOutcome: verdict.outcome,
      partnerAllowed: verdict.partnerAllowed,
      partnerLatencyUs: verdict.latencyMs === null ? null : Math.round(verdict.latencyMs * 1000),
      partnerError: verdict.error,
      finalAllowed: verdict.allowed === 'ALLOWED' ? null : verdict.allowed,
    }
    this.decisions.record(record)
    return { allowed: verdict.allowed, key, authorizationReference, partner: verdict }
  }
}
