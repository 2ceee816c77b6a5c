/**
 * The seeding the authorization benchmarks share (bench:authorize over OCPI, bench:oicp-authorize
 * over OICP): an organization and a few thousand users through the APIs (real API key, settings
 * and virtual keys), then `keys` Plug&Charge keys bulk-inserted in SQL with the schema's trigger
 * and constraints on, and a database brought to the state of one that has been in service.
 */
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import pg from 'pg'
import { formatEmaid, generateEmaid, type Emaid } from '../src/core/identifiers/index.ts'
import { call } from './harness.ts'

export interface Seeded {
  organizationId: string
  /** the organization's API key (all scopes) */
  apiKey: string
  /** Compact EMAIDs (identity + check character), as a car sends them. */
  known: string[]
  /** Well-formed EMAIDs under the same prefix that no key carries. */
  unknown: string[]
  usersSeconds: number
  keysSeconds: number
  maintenanceSeconds: number
  /** Every key in the database: the seeded ones and the users' virtual keys. */
  totalKeys: number
}

export interface SeedOptions {
  keys: number
  /** drivers owning the keys; each also gets the virtual key the Drive API gives a user */
  users: number
  progress: (text: string) => void
}

export const PREFIX = { country: 'DE', provider: '8PS' }
/** Rows per INSERT: large enough that per-statement costs vanish, small enough to keep each statement a few MB. */
export const SEED_BATCH = 10_000
/** Two inserting connections keep PostgreSQL busy while this process generates the next batch. */
const SEED_CONNECTIONS = 2
/** Unknown EMAIDs are drawn from a pool this large, so few repeat (the platform caches misses too). */
const UNKNOWN_POOL = 200_000

/** POST /v1/users `count` times, a few at a time, as a partner's backend would. */
async function createUsers(url: string, apiKey: string, count: number) {
  let next = 0
  const worker = async () => {
    // Bounded: each worker takes indexes until all users are taken.
    while (next < count) {
      const i = next++
      await call(url, apiKey, 'POST', '/v1/users', { id: `driver-${i}`, email: `driver-${i}@example.com` }, 201)
    }
  }
  await Promise.all(Array.from({ length: 16 }, worker))
}

// VIN-like: no I, O or Q.
const PCID_ALPHABET = 'ABCDEFGHJKLMNPRSTUVWXYZ0123456789'

function pcids(count: number): string[] {
  const bytes = randomBytes(count * 17)
  const result = new Array<string>(count)
  for (let i = 0; i < count; i++) {
    let pcid = ''
    for (let j = 0; j < 17; j++) pcid += PCID_ALPHABET[bytes[i * 17 + j]! % PCID_ALPHABET.length]
    result[i] = pcid
  }
  return result
}

/** A generated EMAID whose identity is not in `taken` (which it joins). */
function freshEmaid(taken: Set<string>): Emaid {
  // 36^8 instances per prefix: a repeat is a one-in-millions event, so a few draws always suffice.
  for (let attempt = 0; attempt < 100; attempt++) {
    const emaid = generateEmaid(PREFIX)
    if (!taken.has(emaid.identity)) {
      taken.add(emaid.identity)
      return emaid
    }
  }
  throw new Error('could not draw an unused EMAID in 100 attempts')
}

export async function seedKeys(platformUrl: string, adminKey: string, databaseUrl: string, options: SeedOptions): Promise<Seeded> {
  const { keys, users: userCount, progress } = options
  const created = (await call(
    platformUrl,
    adminKey,
    'POST',
    '/admin/v1/organizations',
    { name: 'Bench Mobility', plugAndCharge: { enabled: true }, contractIdPrefixes: ['DE-8PS'], emaidPrefix: 'DE-8PS' },
    201,
  )) as { organization: { id: string }; apiKey: string }
  const organizationId = created.organization.id

  progress(`creating ${userCount} users through the Drive API`)
  let started = performance.now()
  await createUsers(platformUrl, created.apiKey, userCount)
  const usersSeconds = (performance.now() - started) / 1000

  // Bounded: no statement of the seeding (VACUUM of a million rows included) takes ten minutes.
  const pool = new pg.Pool({ connectionString: databaseUrl, max: SEED_CONNECTIONS, statement_timeout: 600_000 })
  try {
    const users = (
      await pool.query<{ id: string }>('SELECT id FROM users WHERE organization_id = $1 ORDER BY external_id', [organizationId])
    ).rows.map((r) => r.id)
    if (users.length !== userCount) throw new Error(`expected ${userCount} users, found ${users.length}`)
    // The users' virtual keys hold EMAIDs of this prefix too: never draw one of theirs.
    const taken = new Set(
      (await pool.query<{ emaid_identity: string }>('SELECT emaid_identity FROM charging_keys')).rows.map((r) => r.emaid_identity),
    )

    progress(`inserting ${keys} Plug&Charge keys, ${SEED_BATCH} per statement`)
    const known = new Array<string>(keys)
    const batches = Math.ceil(keys / SEED_BATCH)
    let nextBatch = 0
    let inserted = 0
    let reported = 0
    started = performance.now()
    const worker = async () => {
      while (nextBatch < batches) {
        const batch = nextBatch++
        const from = batch * SEED_BATCH
        const count = Math.min(SEED_BATCH, keys - from)
        const owners = new Array<string>(count)
        const contractIds = new Array<string>(count)
        const identities = new Array<string>(count)
        for (let i = 0; i < count; i++) {
          const emaid = freshEmaid(taken)
          owners[i] = users[(from + i) % users.length]!
          // As the API stores a generated EMAID: printed form with its check character.
          contractIds[i] = formatEmaid(emaid)
          identities[i] = emaid.identity
          known[from + i] = emaid.identity + emaid.checkCharacter!
        }
        // One statement per batch; the key_events trigger and the exclusion constraints run per row.
        await pool.query(
          `INSERT INTO charging_keys (organization_id, user_id, type, contract_id, emaid_identity, pcid, duplicates_allowed)
           SELECT $1::uuid, owner, 'plug_and_charge', contract_id, emaid_identity, pcid, false
             FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[]) AS t(owner, contract_id, emaid_identity, pcid)`,
          [organizationId, owners, contractIds, identities, pcids(count)],
        )
        inserted += count
        if (inserted - reported >= keys / 10 || inserted === keys) {
          reported = inserted
          const seconds = (performance.now() - started) / 1000
          progress(`  ${inserted} keys in ${seconds.toFixed(1)} s (${(inserted / seconds).toFixed(0)} keys/s)`)
        }
      }
    }
    await Promise.all(Array.from({ length: SEED_CONNECTIONS }, worker))
    const keysSeconds = (performance.now() - started) / 1000

    const unknown = Array.from({ length: Math.min(UNKNOWN_POOL, Math.max(1000, keys)) }, () => {
      const emaid = freshEmaid(taken)
      return emaid.identity + emaid.checkCharacter!
    })

    // A database that has been in service for a while has been vacuumed and checkpointed; without
    // this, autovacuum (a million fresh rows) and the checkpoint of the seeding's writes would fall
    // into the measured run. VACUUM ANALYZE also gives the planner its statistics.
    progress('VACUUM ANALYZE and CHECKPOINT')
    started = performance.now()
    await pool.query('VACUUM (ANALYZE)')
    await pool.query('CHECKPOINT')
    const maintenanceSeconds = (performance.now() - started) / 1000
    const totalKeys = Number((await pool.query<{ n: string }>('SELECT count(*) AS n FROM charging_keys')).rows[0]!.n)
    return { organizationId, apiKey: created.apiKey, known, unknown, usersSeconds, keysSeconds, maintenanceSeconds, totalKeys }
  } finally {
    await pool.end()
  }
}
