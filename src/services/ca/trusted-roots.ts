import { TrustStore } from '../../core/pki/provisioning.ts'

/**
 * The trust anchors of vehicles' provisioning certificates: the operator's own
 * (OPENPNC_PKI_TRUSTED_ROOTS) and, with OPCP, the V2G and OEM roots of Hubject's Root Certificate
 * Pool, which change while the platform runs. Checks read `current()` each time.
 */
export class TrustedRoots {
  private store: TrustStore
  private pool: Buffer[] = []

  constructor(private readonly configured: Buffer[]) {
    this.store = new TrustStore(configured, 'OPENPNC_PKI_TRUSTED_ROOTS')
  }

  current(): TrustStore {
    return this.store
  }

  /** Replaces the pool's roots; one that does not parse as a certificate is left out and returned. */
  setPool(roots: Buffer[]): { accepted: number; rejected: Buffer[] } {
    const accepted: Buffer[] = []
    const rejected: Buffer[] = []
    for (const der of roots) {
      try {
        new TrustStore([der])
        accepted.push(der)
      } catch {
        rejected.push(der)
      }
    }
    this.pool = accepted
    this.store = new TrustStore([...this.configured, ...accepted], 'trustedRoots')
    return { accepted: accepted.length, rejected }
  }

  get poolSize(): number {
    return this.pool.length
  }
}
