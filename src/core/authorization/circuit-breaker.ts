/**
 * A circuit breaker for one partner's authorization endpoint, pure: the caller passes the time.
 * A partner that keeps failing is not called for a while, so drivers get the fallback answer at
 * once instead of waiting out a timeout on every plug-in.
 *
 * closed --(failureThreshold consecutive failures)--> open --(coolDownMs)--> half-open
 * half-open lets ONE trial call through: success closes, failure opens again for another cool-down.
 */
export type BreakerState = 'closed' | 'open' | 'half_open'

export interface BreakerSettings {
  /** consecutive failures (timeouts or errors) that open the breaker */
  failureThreshold: number
  /** how long it stays open before one trial call is let through */
  coolDownMs: number
}

export class CircuitBreaker {
  private failures = 0
  private openedAt = 0
  private trialInFlight = false
  private opened = false

  constructor(private readonly settings: BreakerSettings) {}

  /** The state at `nowMs` (open turns half-open once the cool-down has passed). */
  state(nowMs: number): BreakerState {
    if (!this.opened) return 'closed'
    return nowMs - this.openedAt >= this.settings.coolDownMs ? 'half_open' : 'open'
  }

  get consecutiveFailures(): number {
    return this.failures
  }

  /**
   * Whether a call may go out now. In half-open only the first caller gets the trial; the others
   * are told no until it has ended.
   */
  tryCall(nowMs: number): boolean {
    const state = this.state(nowMs)
    if (state === 'closed') return true
    if (state === 'open' || this.trialInFlight) return false
    this.trialInFlight = true
    return true
  }

  succeeded(): void {
    this.failures = 0
    this.opened = false
    this.trialInFlight = false
  }

  failed(nowMs: number): void {
    this.failures++
    // A failed trial, or one failure too many: (re)open and start a new cool-down.
    if (this.trialInFlight || (!this.opened && this.failures >= this.settings.failureThreshold)) {
      this.opened = true
      this.openedAt = nowMs
    }
    this.trialInFlight = false
  }
}
