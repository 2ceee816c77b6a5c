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
