import { compactEmaid, parseEmaid } from '../../core/identifiers/index.ts'
import { CircuitBreaker, type BreakerSettings, type BreakerState } from '../../core/authorization/circuit-breaker.ts'
import {
  fallbackAllowed,
  readPartnerAnswer,
  type PartnerAuthorizationRequest,
  type PartnerOutcome,
  type PartnerVerdict,
} from '../../core/authorization/partner-decision.ts'
import { signedHeaders } from '../../core/webhooks/standard-webhooks.ts'
import { OutgoingHttp, OutgoingHttpError } from '../../infra/http/outgoing.ts'
import type { Logger } from '../../infra/logger.ts'
import type { PartnerDecider, PartnerQuestion } from './authorizer.ts'
import type { PartnerEndpoint, PartnerEndpoints } from './partner-endpoints.ts'

/** What this instance has seen of an organization's endpoint since it started (or the URL changed). */
export interface PartnerEndpointHealth {
  breaker: BreakerState
  consecutiveFailures: number
  counts: Record<PartnerOutcome, number>
  /** the last answered or failed call's latency */
  lastLatencyMs: number | null
}

interface Health {
  url: string
  breaker: CircuitBreaker
  counts: Record<PartnerOutcome, number>
  lastLatencyMs: number | null
}

// `{"allowed":"NOT_ALLOWED"}` is 25 bytes; a partner has no reason to send a page.
const MAX_ANSWER_BYTES = 16 * 1024

/**
 * Asks an organization's authorization endpoint whether a key our own decision allowed may charge
 * (services/authorization/authorizer.ts calls it, only then). Signed as a Standard Webhook;
 * connections are kept alive per origin (one undici Agent, the outgoing policy's connector);
 * each organization has a circuit breaker. Never rejects: every failure becomes the fallback answer.
 */
export class PartnerDecisions implements PartnerDecider {
  private readonly http: OutgoingHttp
  private readonly health = new Map<string, Health>()

  constructor(
    private readonly endpoints: PartnerEndpoints,
    private readonly log: Logger,
    private readonly options: { breaker: BreakerSettings; allowPrivateAddresses: boolean; now?: () => number },
  ) {
    this.http = new OutgoingHttp({
      allowPrivateAddresses: options.allowPrivateAddresses,
      maxAnswerBytes: MAX_ANSWER_BYTES,
      timeoutMs: 5000,
    })
  }

  endpointOf(organizationId: string): PartnerEndpoint | undefined {
    return this.endpoints.of(organizationId)
  }

  async ask(endpoint: PartnerEndpoint, question: PartnerQuestion): Promise<PartnerVerdict> {
    const health = this.healthOf(endpoint)
    const fallback = fallbackAllowed(endpoint.onTimeout)
    if (!health.breaker.tryCall(this.now())) {
      health.counts.breaker_open++
      return { outcome: 'breaker_open', partnerAllowed: null, allowed: fallback, latencyMs: null, error: null }
    }
    const body = JSON.stringify(this.requestBody(question))
    const headers = {
      'content-type': 'application/json',
      ...signedHeaders([endpoint.secret], question.authorizationReference, Math.floor(Date.now() / 1000), body),
    }
    const started = performance.now()
    let verdict: PartnerVerdict
    try {
      const answer = await this.http.request(endpoint.url, { method: 'POST', headers, body, timeoutMs: endpoint.timeoutMs })
      const latencyMs = performance.now() - started
      const read = readPartnerAnswer(answer.statusCode, answer.body.toString('utf8'))
      verdict = read.ok
        ? { outcome: 'answered', partnerAllowed: read.allowed, allowed: read.allowed, latencyMs, error: null }
        : { outcome: 'error', partnerAllowed: null, allowed: fallback, latencyMs, error: read.reason }
    } catch (err) {
      const latencyMs = performance.now() - started
      const timedOut = err instanceof OutgoingHttpError && err.failure === 'timeout'
      const reason = err instanceof OutgoingHttpError ? err.message : 'call failed'
      verdict = { outcome: timedOut ? 'timeout' : 'error', partnerAllowed: null, allowed: fallback, latencyMs, error: reason.slice(0, 300) }
    }
    this.settle(endpoint, health, verdict)
    return verdict
  }

  /** The breaker and figures of this instance for the organization's endpoint (GET /v1/authorization-endpoint). */
  status(endpoint: PartnerEndpoint): PartnerEndpointHealth {
    const health = this.healthOf(endpoint)
    return {
      breaker: health.breaker.state(this.now()),
      consecutiveFailures: health.breaker.consecutiveFailures,
      counts: { ...health.counts },
      lastLatencyMs: health.lastLatencyMs === null ? null : Math.round(health.lastLatencyMs * 10) / 10,
    }
  }

  async close(): Promise<void> {
    await this.http.close()
  }

  private healthOf(endpoint: PartnerEndpoint): Health {
    let health = this.health.get(endpoint.organizationId)
    // Another URL is another partner service: it starts with a closed breaker.
    if (!health || health.url !== endpoint.url) {
      health = {
        url: endpoint.url,
        breaker: new CircuitBreaker(this.options.breaker),
        counts: { answered: 0, timeout: 0, error: 0, breaker_open: 0 },
        lastLatencyMs: null,
      }
      this.health.set(endpoint.organizationId, health)
    }
    return health
  }

  private settle(endpoint: PartnerEndpoint, health: Health, verdict: PartnerVerdict) {
    health.counts[verdict.outcome]++
    health.lastLatencyMs = verdict.latencyMs
    const before = health.breaker.state(this.now())
    if (verdict.outcome === 'answered') health.breaker.succeeded()
    else health.breaker.failed(this.now())
    const after = health.breaker.state(this.now())
    if (before !== after && after === 'open') {
      this.log.warn(
        { organizationId: endpoint.organizationId, outcome: verdict.outcome, reason: verdict.error },
        `authorization endpoint failing: not called for ${this.options.breaker.coolDownMs} ms, its fallback (${endpoint.onTimeout}) applies`,
      )
    } else if (before !== 'closed' && after === 'closed') {
      this.log.info({ organizationId: endpoint.organizationId }, 'authorization endpoint answers again: called again')
    }
  }

  private now(): number {
    return this.options.now?.() ?? Date.now()
  }

  /**
   * Built from what the in-memory decision already holds: the partner's call is the only wait on
   * this path, never a database read (the partner knows its keys by keyId and contractId).
   */
  private requestBody(question: PartnerQuestion): PartnerAuthorizationRequest {
    const { key } = question.key
    const emaid = parseEmaid(key.contractId)
    return {
      type: 'authorization.requested',
      authorizationReference: question.authorizationReference,
      protocol: question.protocol,
      key: {
        keyId: key.type === 'rfid' ? (key.keyIdentifier ?? key.contractId) : key.contractId,
        type: key.type,
        contractId: key.contractId,
      },
      emaid: emaid ? compactEmaid(emaid) : null,
      identifier: question.identifier,
      location: question.location,
      operator: question.operator,
      requestedAt: new Date().toISOString(),
    }
  }
}
