import { randomUUID } from 'node:crypto'
import type { KeyCard } from '../keys/roaming-key.ts'
import { decide, type Allowed } from '../../core/authorization/decision.ts'
import { presentedIdentity, presentedUid, keysNamedBy, type PresentedIdentifier } from '../../core/authorization/presented.ts'
import type { DecisionLog } from './decision-log.ts'
import type { KeyDirectory, KeyRef } from './key-directory.ts'

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
}

/** A decision about a key the identifier names, or UNKNOWN (no key carries it); every outcome is recorded under its reference. */
export type AuthorizationOutcome =
  | { readonly allowed: Allowed; readonly key: KeyCard; readonly authorizationReference: string }
  | { readonly allowed: 'UNKNOWN'; readonly key: null; readonly authorizationReference: string }

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

  private decide(request: AuthorizationRequest, found: readonly KeyCard[], started: number): AuthorizationOutcome {
    const now = Date.now()
    const decision = decide(keysNamedBy(request.presented, found), new Date(now))
    const authorizationReference = randomUUID()
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
}
