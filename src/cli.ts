import { readFileSync } from 'node:fs'
import { constants } from 'node:os'
import { join } from 'node:path'
import { Command, Option } from 'commander'
import { request } from 'undici'
import { ConfigError, loadConfig } from './config.ts'
import { openDatabase } from './infra/db/database.ts'
import { migrate } from './infra/db/migrate.ts'
import { fillSearchDocuments } from './services/locations/store.ts'
import { ocpiRecordReader } from './protocols/ocpi/locations.ts'
import { startPlatform } from './main.ts'
import { VERSION } from './version.ts'

const program = new Command('openpnc').description('openpnc: Plug&Charge platform for e-mobility operators').version(VERSION)

/**
 * Ctrl-C or a stop signal: let `stop` finish its work, then exit (0, or 1 when it failed or ran
 * out of time). A second signal exits at once, as a process killed by it would.
 */
function stopOnSignal(stop: () => Promise<void>) {
  let stopping = false
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) {
      process.stderr.write(`openpnc: second ${signal} while stopping, exiting at once\n`)
      process.exit(128 + (constants.signals[signal] ?? 0))
    }
    stopping = true
    stop().then(
      () => process.exit(0),
      (error: Error) => {
        process.stderr.write(`openpnc: ${error.message}\n`)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
}

function config() {
  try {
    return loadConfig()
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`)
      process.exit(2)
    }
    throw error
  }
}

program
  .command('serve')
  .description('run the platform (HTTP server on HOST:PORT)')
  .action(async () => {
    const running = await startPlatform(config())
    stopOnSignal(() => running.stop())
  })

program
  .command('migrate')
  .description('apply database migrations and exit')
  .action(async () => {
    const c = config()
    const database = await openDatabase({ databaseUrl: c.databaseUrl, dataDir: c.dataDir })
    const applied = await migrate(database.db)
    const filled = await fillSearchDocuments(database.db, { ocpi: ocpiRecordReader })
    await database.close()
    process.stdout.write(applied.length ? `applied: ${applied.join(', ')}\n` : 'database is up to date\n')
    if (filled > 0) process.stdout.write(`search documents derived for ${filled} locations\n`)
  })

// ----- admin commands: they talk to a running server, because an embedded database has one owner.

interface AdminOptions {
  url: string
  json?: boolean
}

function adminKey(): string {
  const fromEnv = process.env.OPENPNC_ADMIN_API_KEY
  if (fromEnv) return fromEnv
  const path = join(process.env.OPENPNC_DATA_DIR || './data', 'admin-api-key')
  try {
    return readFileSync(path, 'utf8').trim()
  } catch {
    throw new Error(`no admin key: set OPENPNC_ADMIN_API_KEY (or run where ${path} exists)`)
  }
}

/** An admin call the server refused: its HTTP status and error code, for commands that explain them. */
class AdminCallError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message)
  }
}

async function callAdmin(options: AdminOptions, method: 'GET' | 'POST' | 'PATCH' | 'DELETE', path: string, body?: unknown) {
  if (method === 'POST' && body === undefined) body = {}
  const response = await request(new URL(path, options.url), {
    method,
    headers: { 'x-api-key': adminKey(), ...(body !== undefined && { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  const text = await response.body.text()
  const payload = text ? JSON.parse(text) : null
  if (response.statusCode >= 400) {
    const error = payload?.error
    throw new AdminCallError(
      response.statusCode,
      error?.code,
      error ? `${response.statusCode} ${error.code}: ${error.message}` : `HTTP ${response.statusCode}`,
    )
  }
  return payload
}

function print(options: AdminOptions, payload: unknown, human: () => string) {
  process.stdout.write(options.json ? `${JSON.stringify(payload, null, 2)}\n` : `${human()}\n`)
}

/** The server the admin commands talk to: OPENPNC_URL, else the local server on PORT (as `serve` would listen). */
export function defaultServerUrl(env: NodeJS.ProcessEnv = process.env): string {
  return `http://127.0.0.1:${env.PORT || '8080'}`
}

const withServer = (cmd: Command) =>
  cmd
    .addOption(
      new Option('--url <url>', 'openpnc server (default: http://127.0.0.1:$PORT, PORT 8080)')
        .env('OPENPNC_URL')
        .default(defaultServerUrl()),
    )
    .option('--json', 'print the JSON answer')

const collect = (value: string, previous: string[] = []) => [...previous, value]

function settingsFrom(o: Record<string, unknown>) {
  return {
    name: o.name as string | undefined,
    ...(o.pnc !== undefined && { plugAndCharge: { enabled: o.pnc as boolean } }),
    ...(o.prefix !== undefined && { contractIdPrefixes: o.prefix as string[] }),
    ...(o.emaidPrefix !== undefined && { emaidPrefix: o.emaidPrefix as string }),
    ...(o.duplicates !== undefined && { duplicateContractIds: o.duplicates as string }),
    ...(o.checkDigit !== undefined && { checkDigit: o.checkDigit as string }),
  }
}

const org = program.command('org').description('manage organizations (needs the admin key)')

withServer(
  org
    .command('create')
    .description('create an organization and print its first API key')
    .requiredOption('--name <name>', 'organization name')
    .option('--prefix <prefix>', 'allowed contract-ID prefix, e.g. DE-ABC (repeatable)', collect)
    .option('--pnc', 'enable Plug&Charge')
    .option('--emaid-prefix <prefix>', 'country + provider for generated EMAIDs')
    .addOption(new Option('--duplicates <policy>', 'duplicate contract IDs').choices(['reject', 'allow']))
    .addOption(new Option('--check-digit <policy>', 'wrong EMAID check characters').choices(['lenient', 'strict'])),
).action(async (o) => {
  const payload = await callAdmin(o, 'POST', '/admin/v1/organizations', settingsFrom(o))
  print(o, payload, () => `organization ${payload.organization.id} (${payload.organization.name})\nAPI key: ${payload.apiKey}`)
})

withServer(
  org
    .command('update <id>')
    .description("change an organization's settings")
    .option('--name <name>')
    .option('--prefix <prefix>', 'allowed contract-ID prefix (repeatable; replaces the list)', collect)
    .option('--pnc', 'enable Plug&Charge')
    .option('--no-pnc', 'disable Plug&Charge')
    .option('--emaid-prefix <prefix>')
    .addOption(new Option('--duplicates <policy>').choices(['reject', 'allow']))
    .addOption(new Option('--check-digit <policy>').choices(['lenient', 'strict'])),
).action(async (id: string, o) => {
  const payload = await callAdmin(o, 'PATCH', `/admin/v1/organizations/${encodeURIComponent(id)}`, settingsFrom(o))
  print(o, payload, () => `organization ${payload.id} updated`)
})

withServer(org.command('list').description('list organizations')).action(async (o) => {
  const payload = await callAdmin(o, 'GET', '/admin/v1/organizations')
  print(o, payload, () =>
    payload.organizations
      .map((x: { id: string; name: string; contractIdPrefixes: string[] }) => `${x.id}  ${x.name}  ${x.contractIdPrefixes.join(',')}`)
      .join('\n'),
  )
})

const apiKey = org.command('api-key').description("manage an organization's API keys")

withServer(
  apiKey
    .command('create <organizationId>')
    .description('create an API key (printed once)')
    .option('--scope <scope>', 'users | charging-keys | geosearch | admin (repeatable; default all)', collect),
).action(async (organizationId: string, o) => {
  const payload = await callAdmin(o, 'POST', `/admin/v1/organizations/${encodeURIComponent(organizationId)}/api-keys`, {
    ...(o.scope && { scopes: o.scope }),
  })
  print(o, payload, () => `API key ${payload.id}: ${payload.apiKey}`)
})

withServer(apiKey.command('list <organizationId>').description("list an organization's API keys (IDs and scopes; never the keys)")).action(
  async (organizationId: string, o) => {
    const payload = await callAdmin(o, 'GET', `/admin/v1/organizations/${encodeURIComponent(organizationId)}/api-keys`)
    print(o, payload, () =>
      payload.apiKeys.length === 0
        ? `organization ${organizationId} has no API keys`
        : payload.apiKeys
            .map(
              (k: { id: string; scopes: string[]; created: string; revoked: string | null }) =>
                `${k.id}  ${k.scopes.join(',')}  created ${k.created}  ${k.revoked ? `revoked ${k.revoked}` : 'active'}`,
            )
            .join('\n'),
    )
  },
)

withServer(apiKey.command('revoke <organizationId> <keyId>').description('revoke an API key')).action(
  async (organizationId: string, keyId: string, o) => {
    try {
      await callAdmin(o, 'DELETE', `/admin/v1/organizations/${encodeURIComponent(organizationId)}/api-keys/${encodeURIComponent(keyId)}`)
    } catch (error) {
      if (error instanceof AdminCallError && error.code === 'api_key_not_found') {
        throw new Error(
          `no API key ${keyId} in organization ${organizationId}, nothing revoked (\`openpnc org api-key list ${organizationId}\` lists its keys)`,
        )
      }
      throw error
    }
    print(o, { revoked: keyId }, () => `API key ${keyId} revoked`)
  },
)

// ----- OCPI partners

const ocpi = program.command('ocpi').description('OCPI roaming (needs the admin key)')
const partner = ocpi.command('partner').description('OCPI partners (CPOs)')

const collectParty = (value: string, previous: string[] = []) => [...previous, value]

withServer(
  partner
    .command('create')
    .description('create a partner and print the Token A it registers with')
    .requiredOption('--name <name>')
    .option('--party <cc*party>', 'a party it may act for, e.g. NL*CPO (repeatable; none: its first registration fixes them)', collectParty)
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
  const payload = await callAdmin(o, 'POST', `/admin/v1/ocpi/partners/${encodeURIComponent(id)}/pull-locations`, { full: o.full === true })
  print(
    o,
    payload,
    () => `${payload.full ? 'full' : 'delta'} pull: ${payload.stored} stored, ${payload.invalid} invalid, ${payload.removed} removed`,
  )
})

// ----- simulators

const sim = program.command('sim').description('simulated roaming peers for demos and tests')

sim
  .command('cpo')
  .description('run a simulated OCPI CPO; with --versions-url and --token-a it registers with openpnc')
  .option('--port <port>', 'port of the CPO', '8090')
  .option('--host <host>', 'interface', '127.0.0.1')
  .option('--country <cc>', 'country code', 'NL')
  .option('--party <id>', 'party ID', 'SIM')
  .option('--ocpi-versions <list>', 'versions the CPO speaks', '2.2.1,2.3.0')
  .option('--versions-url <url>', "openpnc's OCPI versions URL")
  .option('--token-a <token>', 'Token A from `openpnc ocpi partner create`')
  .option('--authorize <uid>', 'after registering, ask openpnc to authorize this token and print the answer')
  .action(async (o) => {
    const { CpoSimulator } = await import('./sim/cpo.ts')
    const cpo = new CpoSimulator({
      host: o.host,
      port: Number(o.port),
      countryCode: o.country,
      partyId: o.party,
      versions: String(o.ocpiVersions).split(',') as Array<'2.2.1' | '2.3.0'>,
    })
    const url = await cpo.start()
    process.stdout.write(`simulated CPO ${o.country}*${o.party} at ${url}/ocpi/cpo/versions\n`)
    if (o.versionsUrl && o.tokenA) {
      const version = await cpo.registerWith(o.versionsUrl, o.tokenA)
      process.stdout.write(`registered with openpnc on OCPI ${version}\n`)
      if (o.authorize) process.stdout.write(`${JSON.stringify(await cpo.authorize(o.authorize), null, 2)}\n`)
    } else {
      process.stdout.write(`give openpnc this Token A to register with us: ${cpo.issueTokenA()}\n`)
    }
    let seen = 0
    const report = setInterval(() => {
      for (const push of cpo.pushes.slice(seen)) {
        process.stdout.write(`${push.at.toISOString()} ${push.method} token ${push.uid} valid=${push.body.valid ?? '-'}\n`)
      }
      seen = cpo.pushes.length
    }, 500)
    stopOnSignal(async () => {
      clearInterval(report)
      await cpo.stop()
    })
  })

sim
  .command('locations')
  .description('generate an OCPI-shaped European charging network and load it: through the OCPI Receiver as a CPO, or in bulk')
  .requiredOption('--count <n>', 'number of locations')
  .option('--seed <n>', 'seed of the generator (same seed, same network)', '1')
  .option('--ocpi-version <v>', '2.2.1 or 2.3.0', '2.3.0')
  .option('--versions-url <url>', "openpnc's OCPI versions URL (with --token-a: load through the Receiver)")
  .option('--token-a <token>', 'Token A from `openpnc ocpi partner create`')
  .option('--bulk', 'write straight into the database (DATABASE_URL or the data directory; not while an embedded server runs)')
  .action(async (o) => {
    const { generateLocations } = await import('./sim/locations.ts')
    const count = Number(o.count)
    if (!Number.isInteger(count) || count < 1) throw new Error('--count must be a positive whole number')
    const version = o.ocpiVersion === '2.2.1' ? '2.2.1' : '2.3.0'
    if (o.bulk) {
      const { saveOcpiLocations } = await import('./protocols/ocpi/locations.ts')
      const c = config()
      const database = await openDatabase({ databaseUrl: c.databaseUrl, dataDir: c.dataDir })
      await migrate(database.db)
      for (let done = 0, chunk = 0; done < count; chunk++) {
        const n = Math.min(10_000, count - done)
        await saveOcpiLocations(database.db, null, generateLocations({ count: n, seed: Number(o.seed) * 1000 + chunk, version }))
        done += n
        process.stdout.write(`${done} locations stored\n`)
      }
      await database.close()
      return
    }
    if (!o.versionsUrl || !o.tokenA) throw new Error('give --versions-url and --token-a (load as a CPO), or --bulk')
    const { CpoSimulator } = await import('./sim/cpo.ts')
    const cpo = new CpoSimulator({ versions: [version] })
    await cpo.start()
    let registered = false
    try {
      await cpo.registerWith(o.versionsUrl, o.tokenA)
      registered = true
      const locations = generateLocations({
        count,
        seed: Number(o.seed),
        version,
        countryCode: cpo.party.country_code,
        partyId: cpo.party.party_id,
      })
      const sent = await cpo.putLocations(locations)
      process.stdout.write(`${sent} locations sent to openpnc as ${cpo.party.country_code}*${cpo.party.party_id} over OCPI ${version}\n`)
    } finally {
      // This CPO ends with the command: unregister, so openpnc keeps its locations but no
      // partner stays behind that every key change would then fail to reach.
      if (registered) await cpo.unregister()
      await cpo.stop()
    }
  })

program.parseAsync().catch((error: Error) => {
  process.stderr.write(`openpnc: ${error.message}\n`)
  process.exit(1)
})
