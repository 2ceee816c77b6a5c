import { invalid } from '../errors.ts'

/** Every event a partner can subscribe to (README, "Partner webhooks"); `*` subscribes to all. */
export const WEBHOOK_EVENT_TYPES = [
  'charging_key.created',
  'charging_key.updated',
  'charging_key.enabled',
  'charging_key.disabled',
  'charging_key.activated',
  'charging_key.expired',
  'charging_key.deleted',
  'contract_certificate.issued',
  'contract_certificate.renewed',
  'contract_certificate.revoked',
  'contract_certificate.expired',
  'contract_certificate.published',
  'contract_certificate.failed',
  'session.started',
  'session.updated',
  'session.stopped',
  'session.completed',
  'cdr.created',
] as const

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number]
export const ALL_EVENTS = '*'

/**
 * A subscription as given: each entry an event name or `*`, no repeats. An unknown name is a 400
 * naming `events[i]` and listing the names there are, so a typo is fixed in one round.
 */
export function webhookEventSelection(events: readonly string[]): string[] {
  const known = new Set<string>([...WEBHOOK_EVENT_TYPES, ALL_EVENTS])
  events.forEach((name, i) => {
    if (!known.has(name)) {
      throw invalid(
        'unknown_event_type',
        `events[${i}]: ${JSON.stringify(name)} is not an event type; one of ${ALL_EVENTS}, ${WEBHOOK_EVENT_TYPES.join(', ')}`,
        { field: `events[${i}]` },
      )
    }
  })
  return [...new Set(events)]
}

/** The webhook-id of an event: stable across retries and replays, so partners can dedupe. */
export function webhookEventId(eventUuid: string): string {
  return `evt_${eventUuid.replace(/-/g, '')}`
}

/** The event's UUID from its webhook-id, or null when it is not one. */
export function eventUuidOf(webhookId: string): string | null {
  const hex = /^evt_([0-9a-f]{32})$/.exec(webhookId)?.[1]
  return hex ? `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}` : null
}

/**
 * The rule of a webhook URL at registration: https (http only where private partner URLs are
 * allowed: sandboxes and tests), no credentials, and no literal loopback, private or link-local
 * address. A host name is judged when we connect (outgoing.ts), where DNS cannot fool us.
 */
export function webhookUrl(
  url: string,
  options: {
    allowPrivate: boolean
    /** why an IP literal is not a public unicast address (outgoing.ts nonPublicAddressClass), or null */
    addressClass: (ip: string) => string | null
  },
): string {
  const refuse = (rule: string) => invalid('invalid_webhook_url', `url: ${rule}`, { field: 'url' })
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw refuse('must be an absolute URL, e.g. https://partner.example.com/webhooks')
  }
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && options.allowPrivate)) {
    throw refuse(
      options.allowPrivate ? 'must be http or https' : 'must be https (http only with OPENPNC_ALLOW_PRIVATE_PARTNER_URLS, for local tests)',
    )
  }
  if (parsed.username !== '' || parsed.password !== '') throw refuse('must not carry credentials (the signature authenticates us)')
  if (parsed.hash !== '') throw refuse('must not have a fragment')
  const host = parsed.hostname.replace(/^\[|\]$/g, '').toLowerCase()
  const isIpLiteral = /^[\d.]+$/.test(host) || host.includes(':')
  const local = host === 'localhost' || host.endsWith('.localhost') ? 'loopback' : isIpLiteral ? options.addressClass(host) : null
  if (local && !options.allowPrivate) {
    throw refuse(
      `must not point at a ${local} address (a public https address; OPENPNC_ALLOW_PRIVATE_PARTNER_URLS allows others, for tests)`,
    )
  }
  return parsed.toString()
}
