import { Periodic } from '../../infra/periodic.ts'
import type { Logger } from '../../infra/logger.ts'
import type { CertificateAuthorities } from './authorities.ts'
import type { ContractCertificates } from './contract-certificates.ts'
import type { RevocationServices } from './revocation.ts'

/**
 * The CA's clockwork, every OPENPNC_PKI_JOB_INTERVAL_MS: OCSP signers re-issued before they end,
 * certificates past their end expired (their keys disabled), certificates near their end renewed,
 * and CRLs made anew when a day old. Each step is safe with several instances running it.
 */
export class CaJobs {
  private readonly schedule: Periodic

  constructor(
    private readonly parts: { authorities: CertificateAuthorities; contracts: ContractCertificates; revocation: RevocationServices },
    private readonly log: Logger,
    everyMs: number,
  ) {
    this.schedule = new Periodic(() => this.runOnce(), {
      everyMs,
      firstAfterMs: Math.min(everyMs, 5_000),
      onError: (err) => this.log.warn({ err }, 'certificate authority round failed; the next one runs as planned'),
    })
  }

  /** One round; returns what it did. */
  async runOnce(now = new Date()) {
    const { authorities, contracts, revocation } = this.parts
    // Another instance may have changed the chain: read it afresh.
    authorities.reload()
    revocation.invalidate()
    if (!(await authorities.currentChain())) return { signers: 0, expired: 0, renewed: 0, crls: 0 }
    const signers = await authorities.refreshOcspSigners(now)
    if (signers > 0) revocation.invalidate()
    const expired = await contracts.expireDue(now)
    const renewed = await contracts.renewDue(now)
    const crls = await revocation.refreshCrls(now)
    return { signers, expired, renewed, crls }
  }

  start(): void {
    this.schedule.start()
  }

  stop(): Promise<void> {
    return this.schedule.stop()
  }
}
