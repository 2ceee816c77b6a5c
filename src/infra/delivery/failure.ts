/**
 * Why a delivery failed, and whether trying again can help. A sender throws this; any other
 * error counts as retryable (a network error, a timeout, a bug that a restart may fix).
 * `reason` is logged and shown to the admin: it names the failure, never a secret or the
 * partner's own words.
 */
export class DeliveryFailure extends Error {
  constructor(
    readonly reason: string,
    readonly permanent: boolean,
  ) {
    super(reason)
    this.name = 'DeliveryFailure'
  }

  /** Trying again later may work: the other side is down, slow, overloaded. */
  static retryable(reason: string) {
    return new DeliveryFailure(reason, false)
  }

  /** Trying again cannot work until someone changes something: parked as a dead letter. */
  static permanent(reason: string) {
    return new DeliveryFailure(reason, true)
  }
}

/**
 * HTTP status classes: 5xx, 429 (too many requests) and 408 (request timeout) pass; every other
 * 4xx says the request itself is wrong (validation, unknown endpoint, refused credentials).
 */
export function isRetryableHttpStatus(status: number): boolean {
  return status >= 500 || status === 429 || status === 408 || status < 400
}

/** The failure of an error thrown by a sender: its own classification, else retryable. */
export function classify(error: unknown): DeliveryFailure {
  if (error instanceof DeliveryFailure) return error
  const message = error instanceof Error ? error.message : String(error)
  return DeliveryFailure.retryable(message)
}

/** Backoff before retry `attempts` (1 = first retry): exponential, capped, with full jitter on the upper half. */
export function backoffMs(attempts: number, base: number, max: number, random = Math.random): number {
  const ceiling = Math.min(max, base * 2 ** Math.max(0, attempts - 1))
  return Math.round(ceiling / 2 + (random() * ceiling) / 2)
}
