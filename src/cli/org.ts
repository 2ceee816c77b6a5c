import { Option, type Command } from 'commander'
import { AdminCallError, callAdmin, collect, print, withServer } from './shared.ts'

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

/** `org`: organizations and their API keys, through a running server. */
export function orgCommands(program: Command) {
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

  withServer(
    apiKey.command('list <organizationId>').description("list an organization's API keys (IDs and scopes; never the keys)"),
  ).action(async (organizationId: string, o) => {
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
  })

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
}
