import { createHmac, timingSafeEqual } from 'node:crypto'

/**
 * Erratum webhook-signature-headers: Hubject's webhook signature (HMAC-SHA256 over the raw body,
 * keyed with the endpoint's secret) arrives under one of three names.
 */
export const SIGNATURE_HEADERS = ['x-hubject-signature', 'x-operator-signature', 'payload-signature'] as const

/** The signature of `body` with `secret`, as hex (what X-Hubject-Signature carries after "sha256="). */
export function webhookSignature(body: Buffer | string, secret: string): string {
  return createHmac('sha256', secret).update(body).digest('hex')
}

/**
 * The 32-byte MACs a header value may carry: hex or base64, with or without "sha256=", several
 * separated by commas (a sender rotating its secret). Anything else carries none.
 */
function macsIn(value: string): Buffer[] {
  const macs: Buffer[] = []
  for (const part of value.split(',')) {
    const text = part.trim().replace(/^sha256[=:]/i, '')
    if (/^[0-9a-fA-F]{64}$/.test(text)) macs.push(Buffer.from(text, 'hex'))
    else if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
      const bytes = Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64')
      if (bytes.length === 32) macs.push(bytes)
    }
  }
  return macs
}

export type SignatureVerdict =
  { ok: true; secretIndex: number; header: string } | { ok: false; reason: 'missing' | 'malformed' | 'mismatch' }

/**
 * Checks a webhook's signature: any of the three headers, against any of the endpoint secrets
 * (an endpoint registered again has a new one). Comparisons take constant time per candidate.
 */
export function verifyWebhookSignature(
  body: Buffer,
  headers: Record<string, string | string[] | undefined>,
  secrets: readonly string[],
): SignatureVerdict {
  const present = SIGNATURE_HEADERS.map((name) => [name, headers[name]] as const).filter(([, v]) => v !== undefined)
  if (present.length === 0) return { ok: false, reason: 'missing' }
  const candidates = present.flatMap(([name, value]) =>
    (Array.isArray(value) ? value : [value!]).flatMap((v) => macsIn(v).map((mac) => ({ name, mac }))),
  )
  if (candidates.length === 0) return { ok: false, reason: 'malformed' }
  for (let i = 0; i < secrets.length; i++) {
    const expected = createHmac('sha256', secrets[i]!).update(body).digest()
    for (const { name, mac } of candidates) {
      if (timingSafeEqual(expected, mac)) return { ok: true, secretIndex: i, header: name }
    }
  }
  return { ok: false, reason: 'mismatch' }
}
