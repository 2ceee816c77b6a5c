import { randomUUID } from 'node:crypto'
import { emaidIdentity } from '../../core/identifiers/index.ts'
import type { KeyCard } from '../keys/roaming-key.ts'
import { decide, type Allowed } from '../../core/authorization/decision.ts'
import type { DecisionLog } from './decision-log.ts'
import type { KeyDirectory, KeyRef } from './key-directory.ts'

export interface AuthorizationRequest {
  protocol: 'ocpi' | 'oicp'
  partnerId: string | null
  /** the identifier as the station read it */
  tokenUid: string
  /** the protocol's token type as given; null when the partner sent none */
  tokenType: string | null
  location?: unknown
}

export interface AuthorizationAnswer {
  allowed: Allowed
  key: KeyCard
  authorizationReference: string
}

const RFID_UID = /^([0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$/

/**
 * Answers "may this token charge here?" for every protocol: finds the keys behind the identifier
 * (an EMAID in any spelling, or an RFID UID), decides, and records the decision off the hot path.
 * Null means the token is unknown to us.
 */
export class Authorizer {
  constructor(
    private readonly directory: KeyDirectory,
    private readonly decisions: DecisionLog,
    /** Counts each decision (metrics.ts); must not allocate, it runs on every authorization. */
    private readonly observe?: { decided(protocol: string, answer: string, seconds: number): void },
  ) {}

  /**
   * Synchronous when the directory holds the keys (the common case, so no promise is in the way),
   * otherwise once they are read.
   */
  authorize(request: AuthorizationRequest): AuthorizationAnswer | null | Promise<AuthorizationAnswer | null> {
    const started = performance.now()
    const uid = request.tokenUid.toUpperCase()
    const type = request.tokenType?.toUpperCase() ?? null
    // RFID is the protocol default for a missing type, but a car's EMAID must still be found.
    const rfidMatters = type === null || type === 'RFID'
    const isRfidUid = RFID_UID.test(uid)
    const identity = type === 'RFID' && isRfidUid ? null : emaidIdentity(uid)
    const rfidUid = rfidMatters && isRfidUid ? uid : null
    const ref = { emaidIdentity: identity, rfidUid }
    const held = this.directory.held(ref)
    if (held) return this.answer(request, ref, held, started)
    return this.directory.lookup(ref).then((keys) => this.answer(request, ref, keys, started))
  }

  private answer(request: AuthorizationRequest, ref: KeyRef, found: readonly KeyCard[], started: number): AuthorizationAnswer | null {
    const { emaidIdentity: identity, rfidUid } = ref
    let keys = found.filter((k) => (identity && k.key.emaidIdentity === identity) || (rfidUid && k.key.keyIdentifier === rfidUid))
    if (rfidUid && keys.some((k) => k.key.keyIdentifier === rfidUid)) keys = keys.filter((k) => k.key.keyIdentifier === rfidUid)
    const now = Date.now()
    const decision = decide(keys, new Date(now))
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
      emaidIdentity: identity ?? null,
      keyId: decision?.key.key.id ?? null,
      organizationId: decision?.key.key.organizationId ?? null,
      allowed,
      location: request.location,
      latencyUs: Math.round(latencyMs * 1000),
      decidedAt: now,
    })
    return decision ? { allowed: decision.allowed, key: decision.key, authorizationReference } : null
  }
}
