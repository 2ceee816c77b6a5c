import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Signing as the Standard Webhooks specification says (standardwebhooks.com), so a partner can
 * verify our calls (webhook deliveries, authorization requests) with any of its libraries:
 * - the secret is shown as `whsec_<base64 of the key bytes>`; the key is the decoded bytes;
 * - `webhook-signature` is `v1,<base64 HMAC-SHA256 of "<webhook-id>.<webhook-timestamp>.<body>">`,
 *   several space-separated during a secret rotation;
 * - `webhook-timestamp` is whole seconds since the epoch.
 * Pure: no I/O; the caller chooses the ID and the time.
 */

export const SECRET_PREFIX = 'whsec_'

/** A new signing secret: 32 random bytes, as shown to the partner. */
export function generateWebhookSecret(): string {
  return `${SECRET_PREFIX}${randomBytes(32).toString('base64')}`
}

/** The key bytes of a secret as shown (`whsec_` optional, as the libraries accept it). */
export function secretKey(secret: string): Buffer {
  const base64 = secret.startsWith(SECRET_PREFIX) ? secret.slice(SECRET_PREFIX.length) : secret
  const key = Buffer.from(base64, 'base64')
  if (key.length === 0) throw new Error('a webhook secret must be base64 key bytes, optionally prefixed whsec_')
  return key
}

/** One `v1,<base64>` signature of a message. */
export function signature(secret: string, id: string, timestampSeconds: number, body: string): string {
  const mac = createHmac('sha256', secretKey(secret)).update(`${id}.${timestampSeconds}.${body}`).digest('base64')
  return `v1,${mac}`
}

/** The three headers of a signed message; several secrets (a rotation) give several signatures. */
export function signedHeaders(
  secrets: readonly string[],
  id: string,
  timestampSeconds: number,
  body: string,
): { 'webhook-id': string; 'webhook-timestamp': string; 'webhook-signature': string } {
  return {
    'webhook-id': id,
    'webhook-timestamp': String(timestampSeconds),
    'webhook-signature': secrets.map((s) => signature(s, id, timestampSeconds, body)).join(' '),
  }
}

/**
 * Whether a `webhook-signature` header carries a valid v1 signature of the message under the
 * secret, and the timestamp is within `toleranceSeconds` of `nowSeconds` (replay protection).
 */
export function verifySignature(
  secret: string,
  headers: { id: string; timestamp: string; signature: string },
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const timestamp = Number(headers.timestamp)
  if (!/^\d+$/.test(headers.timestamp) || Math.abs(nowSeconds - timestamp) > toleranceSeconds) return false
  const expected = Buffer.from(signature(secret, headers.id, timestamp, body).slice(3), 'base64')
  return headers.signature.split(' ').some((part) => {
    const [version, mac] = part.split(',', 2)
    if (version !== 'v1' || mac === undefined) return false
    const given = Buffer.from(mac, 'base64')
    return given.length === expected.length && timingSafeEqual(given, expected)
  })
}
