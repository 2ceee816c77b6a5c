// Sample charging locations shared by the tests: OCPI Locations as a CPO sends them, and pieces of
// the neutral model as a non-OCPI source (Hubject) gives them.
import type { Evse } from '../src/core/locations/index.ts'
import type { OcpiLocation } from '../src/protocols/ocpi/locations-mapping.ts'

/** A 150 kW CCS connector, as OCPI writes it. */
export const ocpiConnector = (id: string, extra: Record<string, unknown> = {}) => ({
  id,
  standard: 'IEC_62196_T2_COMBO',
  format: 'CABLE',
  power_type: 'DC',
  max_voltage: 920,
  max_amperage: 400,
  max_electric_power: 150000,
  last_updated: '2026-01-01T00:00:00Z',
  ...extra,
})

/** An OCPI Location of party NL*SIM in Amsterdam's address, open around the clock. */
export function ocpiLocation(
  id: string,
  latitude: string,
  longitude: string,
  evses: unknown[],
  extra: Record<string, unknown> = {},
): OcpiLocation {
  return {
    country_code: 'NL',
    party_id: 'SIM',
    id,
    publish: true,
    name: `Site ${id}`,
    address: 'Damrak 1',
    city: 'Amsterdam',
    postal_code: '1012 LG',
    country: 'NLD',
    coordinates: { latitude, longitude },
    time_zone: 'Europe/Amsterdam',
    operator: { name: 'Sim Charging' },
    opening_times: { twentyfourseven: true },
    evses: evses as OcpiLocation['evses'],
    last_updated: '2026-01-01T00:00:00Z',
    ...extra,
  } as OcpiLocation
}

/** A Plug&Charge EVSE with one 1 MW MCS connector, in the neutral model (no voltage or current given). */
export const neutralMcsEvse = (uid: string, evseId: string | null, status: Evse['status']): Evse => ({
  uid,
  evseId,
  status,
  capabilities: ['PLUG_AND_CHARGE_CAPABLE'],
  connectors: [
    {
      id: '1',
      standard: 'MCS',
      format: 'CABLE',
      powerType: 'DC',
      maxPower: 1_000_000,
      maxVoltage: null,
      maxAmperage: null,
      capabilities: [],
    },
  ],
})
