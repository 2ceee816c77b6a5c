import type { Command } from 'commander'
import { callAdmin, print, withServer } from './shared.ts'

interface Endpoint {
  id: string
  url: string
  events: string[]
  active: boolean
  created: string
}

interface StatusPayload {
  connection: { url: string; tokenUrl: string; clientId: string; audience: string }
  publication: {
    backlog: number
    failing: number
    delivered: number
    deadLetters: number
    lastError: string | null
    states: Record<string, number>
  }
  roots: { trusted: number; stored: number }
  webhookEndpoints: Endpoint[]
}

interface EventPayload {
  eventId: string
  eventType: string
  emaid: string | null
  outcome: string
  detail: string | null
  received: string
}

/** `opcp`: the connection to Hubject's Plug&Charge ecosystem, on a running server. */
export function opcpCommands(program: Command) {
  const opcp = program.command('opcp').description("Hubject's Plug&Charge ecosystem (OPCP) on a running openpnc server")

  withServer(
    opcp.command('status').description('the connection, the publication backlog, the trusted roots and the webhook endpoints'),
  ).action(async (o) => {
    const s = (await callAdmin(o, 'GET', '/admin/v1/opcp')) as StatusPayload
    print(o, s, () =>
      [
        `OPCP: ${s.connection.url} (token ${s.connection.tokenUrl}, client ${s.connection.clientId}, audience ${s.connection.audience})`,
        `contracts: ${
          Object.entries(s.publication.states)
            .map(([state, n]) => `${state} ${n}`)
            .join(', ') || 'none'
        }`,
        `publication: backlog ${s.publication.backlog} (failing ${s.publication.failing}), delivered ${s.publication.delivered}, failed for good ${s.publication.deadLetters}${s.publication.lastError ? `; last error: ${s.publication.lastError}` : ''}`,
        `roots from the RCP: ${s.roots.stored} stored, ${s.roots.trusted} trusted as provisioning anchors`,
        `webhook endpoints: ${s.webhookEndpoints.map((e) => `${e.id} ${e.url}`).join(', ') || 'none (openpnc opcp webhook register)'}`,
      ].join('\n'),
    )
  })

  const webhook = opcp.command('webhook').description('our webhook endpoint at Hubject')
  withServer(
    webhook
      .command('register')
      .description('register our webhook endpoint with Hubject; its secret is kept encrypted by the server')
      .option('--endpoint <url>', 'where Hubject sends events (default: <public URL>/opcp/webhooks)')
      .option('--events <list>', 'comma-separated event types (default: those that concern an MO)'),
  ).action(async (o) => {
    const body = {
      ...(o.endpoint && { url: o.endpoint }),
      ...(o.events && {
        events: String(o.events)
          .split(',')
          .map((e: string) => e.trim())
          .filter(Boolean),
      }),
    }
    const endpoint = (await callAdmin(o, 'POST', '/admin/v1/opcp/webhook-endpoints', body)) as Endpoint
    print(o, endpoint, () => `registered webhook endpoint ${endpoint.id}: ${endpoint.url}\nevents: ${endpoint.events.join(', ')}`)
  })
  withServer(webhook.command('list').description('our webhook endpoints')).action(async (o) => {
    const { endpoints } = (await callAdmin(o, 'GET', '/admin/v1/opcp/webhook-endpoints')) as { endpoints: Endpoint[] }
    print(o, { endpoints }, () => endpoints.map((e) => `${e.id} ${e.url} (${e.events.length} events)`).join('\n') || 'none')
  })

  withServer(
    opcp
      .command('events')
      .description('the webhook events Hubject sent, newest first')
      .option('--limit <n>', 'how many', '20')
      .option('--type <eventType>', 'only this event type')
      .option('--emaid <emaid>', 'only this EMAID'),
  ).action(async (o) => {
    const query = new URLSearchParams({ limit: String(o.limit) })
    if (o.type) query.set('eventType', o.type)
    if (o.emaid) query.set('emaid', o.emaid)
    const { events } = (await callAdmin(o, 'GET', `/admin/v1/opcp/events?${query}`)) as { events: EventPayload[] }
    print(
      o,
      { events },
      () =>
        events.map((e) => `${e.received} ${e.eventType} ${e.emaid ?? '-'} ${e.outcome}${e.detail ? `: ${e.detail}` : ''}`).join('\n') ||
        'none',
    )
  })

  withServer(opcp.command('refresh-roots').description('read the trusted roots from the Root Certificate Pool now')).action(async (o) => {
    const r = (await callAdmin(o, 'POST', '/admin/v1/opcp/roots/refresh')) as { roots: number; added: number; removed: number }
    print(o, r, () => `${r.roots} roots in the pool: ${r.added} added, ${r.removed} removed`)
  })
}
