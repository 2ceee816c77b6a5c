import type { Command } from 'commander'
import type { EvseDataPullResult, EvseStatusPullResult } from '../protocols/oicp/evse-pull.ts'
import { callAdmin, print, withServer } from './shared.ts'

interface OicpStatusPayload {
  connection: { url: string | null; providerId: string; offline: boolean; clientCertificate: boolean; serverCa: boolean }
  authData: {
    enabled: boolean
    backlog: number
    failing: number
    delivered: number
    deadLetters: number
    nextAttemptAt: string | null
    lastError: string | null
    recordsAtHubject: number
    lastPush: { at: string; action: string; records: number } | null
    lastFullLoad: { at: string; records: number } | null
    fullLoadPending: boolean
    recentDeadLetters: Array<{ record: string; reason: string | null; deadAt: string }>
  }
  evsePull: {
    enabled: boolean
    lastCall: string | null
    lastFullPull: (DataPull & { at: string }) | null
    lastDeltaPull: (DataPull & { at: string }) | null
    lastStatusPull: (StatusPull & { at: string }) | null
    lastError: string | null
    lastErrorAt: string | null
    pulling: boolean
    evses: number
    locations: number
    plugAndChargeLocations: number
  }
}

type DataPull = EvseDataPullResult
type StatusPull = EvseStatusPullResult

const describeDataPull = (p: DataPull) =>
  `${p.full ? 'full' : 'delta'}: ${p.received} EVSE records in ${p.pages} page(s), ${p.stored} stored, ${p.deleted} deleted, ${p.invalid} invalid, ${p.locations} locations written or removed`
const describeStatusPull = (p: StatusPull) =>
  `${p.received} statuses, ${p.changed} changed, ${p.invalid} invalid, ${p.locations} locations rewritten`

const yesNo = (value: boolean) => (value ? 'yes' : 'no')

/** The status as lines for a terminal. */
function describeStatus(s: OicpStatusPayload): string {
  const c = s.connection
  const a = s.authData
  const lines = [
    `Hubject: ${c.url ?? 'not configured (OPENPNC_OICP_URL)'}`,
    `ProviderID: ${c.providerId}   offline EMP: ${yesNo(c.offline)}   client certificate: ${yesNo(c.clientCertificate)}   server CA: ${yesNo(c.serverCa)}`,
  ]
  if (!a.enabled) {
    lines.push('authentication data push: off (an offline EMP with a Hubject URL pushes)')
  } else {
    lines.push(
      `authentication data push: backlog ${a.backlog} (failing ${a.failing}), delivered ${a.delivered}, dead letters ${a.deadLetters}, records at Hubject ${a.recordsAtHubject}`,
      `last push: ${a.lastPush ? `${a.lastPush.at} ${a.lastPush.action} of ${a.lastPush.records}` : 'none'}   last fullLoad: ${
        a.lastFullLoad ? `${a.lastFullLoad.at} (${a.lastFullLoad.records} records)` : 'none'
      }${a.fullLoadPending ? '   (a fullLoad is pending)' : ''}`,
    )
    if (a.lastError) lines.push(`last error: ${a.lastError}`)
    for (const d of a.recentDeadLetters) lines.push(`dead letter: ${d.record}  ${d.deadAt}  ${d.reason ?? ''}`)
  }
  const e = s.evsePull
  if (!e.enabled) {
    lines.push('EVSE pull: off (needs OPENPNC_OICP_URL)')
  } else {
    lines.push(
      `EVSE pull: ${e.evses} EVSEs in ${e.locations} locations (${e.plugAndChargeLocations} with Plug&Charge)${e.pulling ? '   (pulling now)' : ''}`,
      `last full pull: ${e.lastFullPull ? `${e.lastFullPull.at} ${describeDataPull(e.lastFullPull)}` : 'none'}`,
      `last delta pull: ${e.lastDeltaPull ? `${e.lastDeltaPull.at} ${describeDataPull(e.lastDeltaPull)}` : 'none'}`,
      `last status pull: ${e.lastStatusPull ? `${e.lastStatusPull.at} ${describeStatusPull(e.lastStatusPull)}` : 'none'}`,
    )
    if (e.lastError) lines.push(`last pull error (${e.lastErrorAt}): ${e.lastError}`)
  }
  return lines.join('\n')
}

/** `oicp`: the Hubject connection, through a running server. */
export function oicpCommands(program: Command) {
  const oicp = program.command('oicp').description('Hubject roaming over OICP 2.3 (needs the admin key)')

  withServer(
    oicp.command('status').description('the Hubject connection, the authentication data push and its backlog, the EVSE pull'),
  ).action(async (o) => {
    const payload = (await callAdmin(o, 'GET', '/admin/v1/oicp')) as OicpStatusPayload
    print(o, payload, () => describeStatus(payload))
  })

  withServer(
    oicp
      .command('push-auth-data')
      .description('push the waiting authentication data changes to Hubject now (offline EMP)')
      .option('--full', "a fullLoad: replace Hubject's set with every record that should be there now"),
  ).action(async (o) => {
    const payload = await callAdmin(o, 'POST', '/admin/v1/oicp/push-auth-data', { full: o.full === true })
    print(o, payload, () =>
      payload.fullLoad
        ? 'fullLoad queued: it goes out after the push in flight (see `openpnc oicp status`)'
        : `${payload.queued} waiting change(s) due now (see \`openpnc oicp status\`)`,
    )
  })

  withServer(
    oicp
      .command('pull-evse-data')
      .description("pull Hubject's EVSE data (a delta since the last pull) and statuses now, into the locations drivers search")
      .option('--full', 'the whole set, replacing ours: EVSEs Hubject no longer lists are removed'),
  ).action(async (o) => {
    const payload = (await callAdmin(o, 'POST', '/admin/v1/oicp/pull-evse-data', { full: o.full === true })) as {
      data: DataPull
      status: StatusPull
    }
    print(o, payload, () => `EVSE data ${describeDataPull(payload.data)}\nEVSE statuses: ${describeStatusPull(payload.status)}`)
  })
}
