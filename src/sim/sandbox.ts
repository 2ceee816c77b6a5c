import { saveOcpiLocations } from '../protocols/ocpi/locations.ts'
import type { Platform } from '../platform.ts'
import { generateLocations } from './locations.ts'

export const SANDBOX = {
  organization: 'Demo Mobility (sandbox)',
  contractIdPrefix: 'DE-8PS',
  user: { id: 'demo-driver', email: 'driver@example.com' },
  // a generated EMAID: the documentation's example contract stays free for the walk-through
  vehicle: { pcid: 'WVWZZZ1KZAW000001' },
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
    const key = await platform.apiKeys.issue(organization.id, ['users', 'charging-keys', 'geosearch', 'admin'], trx)
    return { organization, key }
  })
  await platform.users.create(organization, SANDBOX.user)
  await platform.chargingKeys.createPlugAndCharge(organization, SANDBOX.user.id, SANDBOX.vehicle)
  await saveOcpiLocations(platform.db, null, generateLocations({ count: SANDBOX.locations, seed: 2026, version: '2.3.0' }))
  return { organizationId: organization.id, apiKey: key.apiKey }
}
