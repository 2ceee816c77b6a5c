import { saveOcpiLocations } from '../protocols/ocpi/locations.ts'
import type { Platform } from '../platform.ts'
import type { Config } from '../config.ts'
import type { OpcpSimulator } from './opcp/sim.ts'
import { generateLocations } from './locations.ts'

export const SANDBOX = {
  organization: 'Demo Mobility (sandbox)',
  contractIdPrefix: 'DE-8PS',
  user: { id: 'demo-driver', email: 'driver@example.com' },
  // a generated EMAID: the documentation's example contract stays free for the walk-through
  vehicle: { pcid: 'WVWZZZ1KZAW000001' },
  /** with OPENPNC_SANDBOX_OPCP: a vehicle whose provisioning certificate is in the simulated PCP */
  ecosystemVehicle: { pcid: 'WVWZZZ1KZAW000002' },
  /** a European charging network to search, about one EVSE in five Plug&Charge capable */
  locations: 5000,
}

/**
 * Demo data for a new embedded database: an organization with Plug&Charge under DE-8PS, its API
 * key, one driver with a registered vehicle, and charging locations to search, so the README
 * walk-through works at once.
 */
export async function createSandbox(platform: Platform): Promise<{ organizationId: string; apiKey: string }> {
  const { organization, key } = await platform.db.transaction().execute(async (trx) => {
    const organization = await platform.organizations.create(
      {
        name: SANDBOX.organization,
        plugAndCharge: { enabled: true },
        contractIdPrefixes: [SANDBOX.contractIdPrefix],
        emaidPrefix: SANDBOX.contractIdPrefix,
      },
      trx,
    )
    const key = await platform.apiKeys.issue(organization.id, ['users', 'charging-keys', 'geosearch', 'admin', 'webhooks'], trx)
    return { organization, key }
  })
  await platform.users.create(organization, SANDBOX.user)
  await platform.chargingKeys.createPlugAndCharge(organization, SANDBOX.user.id, SANDBOX.vehicle)
  await saveOcpiLocations(platform.db, null, generateLocations({ count: SANDBOX.locations, seed: 2026, version: '2.3.0' }))
  return { organizationId: organization.id, apiKey: key.apiKey }
}

/**
 * OPENPNC_SANDBOX_OPCP: a simulated Hubject ecosystem in this process, and the platform's OPCP
 * settings pointing at it. Its OEM root reaches the trust anchors through its Root Certificate Pool.
 */
export async function startSandboxEcosystem(config: Config): Promise<{ config: Config; simulator: OpcpSimulator }> {
  const { OpcpSimulator } = await import('./opcp/sim.ts')
  const simulator = new OpcpSimulator({
    host: '127.0.0.1',
    port: config.sandboxOpcpPort,
    providerIds: [`${config.emaidPrefixParts.country}${config.emaidPrefixParts.provider}`, SANDBOX.contractIdPrefix.replace('-', '')],
  })
  const url = await simulator.start()
  await simulator.addVehicle(SANDBOX.ecosystemVehicle.pcid)
  return {
    simulator,
    config: {
      ...config,
      opcpUrl: url,
      opcpTokenUrl: simulator.tokenUrl,
      opcpClientId: simulator.clientId,
      opcpClientSecret: simulator.clientSecret,
      opcpAudience: simulator.audience,
    },
  }
}
