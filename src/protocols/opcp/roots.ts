import { sql } from 'kysely'
import { readRootCertificates, type PoolRoot } from '../../core/opcp/messages.ts'
import type { Db } from '../../infra/db/database.ts'
import type { Logger } from '../../infra/logger.ts'
import { Periodic } from '../../infra/periodic.ts'
import type { TrustedRoots } from '../../services/ca/trusted-roots.ts'
import type { OpcpClient } from './client.ts'
import { ROOT_TYPES } from './protocol.ts'

/** Root types whose roots anchor vehicles' provisioning certificates. */
const ANCHOR_TYPES = new Set(['V2G', 'OEM'])

/**
 * Keeps the trusted roots current from Hubject's Root Certificate Pool (RCP): all root types are
 * read and stored (opcp_roots); the V2G and OEM roots join the trust anchors of the
 * provisioning-certificate check. At start, every OPENPNC_OPCP_ROOTS_REFRESH_MS and on a root.cert.*
 * webhook. The stored roots serve a restart while Hubject is unreachable.
 */
export class OpcpRoots {
  private readonly rounds: Periodic

  constructor(
    private readonly db: Db,
    private readonly client: OpcpClient,
    private readonly trusted: TrustedRoots,
    private readonly log: Logger,
    everyMs: number,
  ) {
    this.rounds = new Periodic(() => this.refresh(), {
      everyMs,
      onError: (err) => log.warn({ err }, 'OPCP: reading the Root Certificate Pool failed; the roots known before stay trusted'),
    })
  }

  /** Loads the stored roots into the trust anchors, then refreshes from the pool periodically. */
  async start() {
    await this.loadStored()
    this.rounds.start()
  }

  async stop() {
    await this.rounds.stop()
  }

  private async loadStored() {
    const rows = await this.db.selectFrom('opcp_roots').select(['certificate', 'root_type']).where('removed_at', 'is', null).execute()
    this.trusted.setPool(rows.filter((r) => ANCHOR_TYPES.has(r.root_type)).map((r) => Buffer.from(r.certificate)))
  }

  /** Reads every root type from the pool and stores what it holds; returns the counts. */
  async refresh(): Promise<{ roots: number; added: number; removed: number }> {
    const seen: PoolRoot[] = []
    for (const rootType of ROOT_TYPES) {
      const answer = await this.client.call('rootCertificates', { query: { rootType }, accept: [404] })
      if (answer.status === 404) continue
      const { roots, skipped } = readRootCertificates(answer.body)
      if (skipped > 0) this.log.warn({ rootType, skipped }, 'OPCP: roots without a usable certificate were skipped')
      seen.push(...roots)
    }
    const unique = [...new Map(seen.map((r) => [r.fingerprint, r])).values()]
    const { added, removed } = await this.db.transaction().execute(async (trx) => {
      let added = 0
      for (const root of unique) {
        const result = await sql<{ inserted: boolean }>`
          INSERT INTO opcp_roots (fingerprint, root_type, certificate, distinguished_name, root_certificate_id)
          VALUES (${root.fingerprint}, ${root.rootType}, ${root.certificate}, ${root.distinguishedName ?? null}, ${root.rootCertificateId ?? null})
          ON CONFLICT (fingerprint) DO UPDATE SET last_seen_at = now(), removed_at = NULL, root_type = EXCLUDED.root_type
          RETURNING (xmax = 0) AS inserted`.execute(trx)
        if (result.rows[0]?.inserted) added++
      }
      const gone = await trx
        .updateTable('opcp_roots')
        .set({ removed_at: new Date() })
        .where('removed_at', 'is', null)
        .$if(unique.length > 0, (q) =>
          q.where(
            'fingerprint',
            'not in',
            unique.map((r) => r.fingerprint),
          ),
        )
        .executeTakeFirst()
      return { added, removed: Number(gone.numUpdatedRows) }
    })
    const anchors = unique.filter((r) => ANCHOR_TYPES.has(r.rootType)).map((r) => r.certificate)
    const { rejected } = this.trusted.setPool(anchors)
    if (rejected.length > 0) this.log.warn({ rejected: rejected.length }, 'OPCP: pool roots that are not certificates were left out')
    if (added > 0 || removed > 0)
      this.log.info({ roots: unique.length, added, removed }, 'OPCP: trusted roots updated from the Root Certificate Pool')
    return { roots: unique.length, added, removed }
  }
}
