import type { Command } from 'commander'
import { callAdmin, print, withServer } from './shared.ts'

/** `ocpi partner`: OCPI partners (CPOs), through a running server. */
export function ocpiCommands(program: Command) {
  // ----- OCPI partners

  const ocpi = program.command('ocpi').description('OCPI roaming (needs the admin key)')
  const partner = ocpi.command('partner').description('OCPI partners (CPOs)')

  const collectParty = (value: string, previous: string[] = []) => [...previous, value]

  withServer(
    partner
      .command('create')
      .description('create a partner and print the Token A it registers with')
      .requiredOption('--name <name>')
      .option(
        '--party <cc*party>',
        'a party it may act for, e.g. NL*CPO (repeatable; none: its first registration fixes them)',
        collectParty,
      )
      .option('--no-push-all-tokens', 'once registered, send it only later changes, not every existing token'),
  ).action(async (o) => {
    const payload = await callAdmin(o, 'POST', '/admin/v1/ocpi/partners', {
      name: o.name,
      ...(o.party && { parties: o.party }),
      ...(o.pushAllTokens === false && { pushAllTokens: false }),
    })
    print(o, payload, () => `partner ${payload.id}\nversions URL: ${payload.versionsUrl}\nToken A: ${payload.tokenA}`)
  })

  withServer(
    partner
      .command('parties <id>')
      .description('set the parties a partner may act for (replaces its grants)')
      .requiredOption('--party <cc*party>', 'a party, e.g. NL*CPO (repeatable)', collectParty),
  ).action(async (id: string, o) => {
    const payload = await callAdmin(o, 'PATCH', `/admin/v1/ocpi/partners/${encodeURIComponent(id)}`, { parties: o.party })
    print(o, payload, () => `partner ${payload.id} may act for ${payload.parties.join(', ')}`)
  })

  withServer(partner.command('list').description('list partners with their status and delivery backlog')).action(async (o) => {
    const payload = await callAdmin(o, 'GET', '/admin/v1/ocpi/partners')
    print(o, payload, () =>
      payload.partners
        .map(
          (p: {
            id: string
            name: string
            status: string
            suspended: string | null
            version: string | null
            delivery: { backlog: number; failing: number }
          }) =>
            `${p.id}  ${p.name}  ${p.status}${p.suspended ? ' (suspended)' : ''}  ${p.version ?? '-'}  backlog ${p.delivery.backlog} (failing ${p.delivery.failing})`,
        )
        .join('\n'),
    )
  })

  for (const [action, description] of [
    ['suspend', 'suspend a partner: its tokens are refused, nothing is pushed to or pulled from it (deliveries wait)'],
    ['resume', 'resume a suspended partner: the deliveries that waited go out'],
  ] as const) {
    withServer(partner.command(`${action} <id>`).description(description)).action(async (id: string, o) => {
      const payload = await callAdmin(o, 'POST', `/admin/v1/ocpi/partners/${encodeURIComponent(id)}/${action}`)
      print(o, payload, () => `partner ${payload.id} ${payload.suspended ? `suspended since ${payload.suspended}` : 'active'}`)
    })
  }

  withServer(
    partner.command('delete <id>').description('delete a partner for good, with its credentials, pending deliveries and locations'),
  ).action(async (id: string, o) => {
    await callAdmin(o, 'DELETE', `/admin/v1/ocpi/partners/${encodeURIComponent(id)}`)
    print(o, { deleted: id }, () => `partner ${id} deleted`)
  })

  withServer(
    partner
      .command('register <id>')
      .description('register with a CPO, given its versions URL and the Token A it gave us')
      .requiredOption('--versions-url <url>')
      .requiredOption('--token-a <token>'),
  ).action(async (id: string, o) => {
    const payload = await callAdmin(o, 'POST', `/admin/v1/ocpi/partners/${encodeURIComponent(id)}/register`, {
      versionsUrl: o.versionsUrl,
      tokenA: o.tokenA,
    })
    print(o, payload, () => `registered with ${payload.name} on OCPI ${payload.version}`)
  })

  withServer(
    partner.command('reconcile <id>').description("compare the CPO's copies of our tokens with ours and re-push differences"),
  ).action(async (id: string, o) => {
    const payload = await callAdmin(o, 'POST', `/admin/v1/ocpi/partners/${encodeURIComponent(id)}/reconcile`)
    print(o, payload, () => `checked ${payload.checked} tokens, ${payload.differing} queued for re-push, ${payload.unreadable} unreadable`)
  })

  withServer(
    partner.command('dead-letters <id>').description("list a partner's token deliveries that failed for good (parked until replayed)"),
  ).action(async (id: string, o) => {
    const payload = await callAdmin(o, 'GET', `/admin/v1/ocpi/partners/${encodeURIComponent(id)}/dead-letters`)
    print(o, payload, () =>
      payload.deadLetters.length === 0
        ? 'no dead letters'
        : payload.deadLetters
            .map(
              (d: { keyId: string; attempts: number; reason: string; deadAt: string }) =>
                `${d.keyId}  ${d.deadAt}  after ${d.attempts} attempt(s): ${d.reason}`,
            )
            .join('\n'),
    )
  })

  withServer(
    partner
      .command('replay <id>')
      .description("send a partner's dead letters again, in each token's current state")
      .option('--key <keyId>', 'only this charging key (default: all)'),
  ).action(async (id: string, o) => {
    const payload = await callAdmin(
      o,
      'POST',
      `/admin/v1/ocpi/partners/${encodeURIComponent(id)}/dead-letters/replay`,
      o.key ? { keyId: o.key } : {},
    )
    print(o, payload, () => `${payload.replayed} deliveries queued again`)
  })

  withServer(
    partner
      .command('pull-locations <id>')
      .description("pull a CPO's locations now (a delta since the last pull; --full replaces its set)")
      .option('--full', 'full pull: what the CPO no longer lists is removed'),
  ).action(async (id: string, o) => {
    const payload = await callAdmin(o, 'POST', `/admin/v1/ocpi/partners/${encodeURIComponent(id)}/pull-locations`, {
      full: o.full === true,
    })
    print(
      o,
      payload,
      () => `${payload.full ? 'full' : 'delta'} pull: ${payload.stored} stored, ${payload.invalid} invalid, ${payload.removed} removed`,
    )
  })
}
