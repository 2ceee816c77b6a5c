import type { Db } from '../../infra/db/database.ts'
import type { DeliveryEngine, DeliveryStatus } from '../../infra/delivery/engine.ts'
import type { OutgoingHttp } from '../../infra/http/outgoing.ts'
import type { Logger } from '../../infra/logger.ts'
import { Periodic } from '../../infra/periodic.ts'
import { ocpiDestination, type OcpiPartners } from './partners.ts'
import { reconcileTokens } from './reconcile.ts'
import { TokenPublisher } from './token-publisher.ts'
import { OCPI_TOKEN, OcpiTokenSender, type OurParty } from './token-sender.ts'

export { backoffMs } from '../../infra/delivery/failure.ts'

export interface PushOptions {
  /** the outgoing policy for calls to partners */
  http: OutgoingHttp
  /** how often the publisher reads the outbox */
  pollMs?: number
  timeoutMs?: number
}

/**
 * OCPI token push, as the platform runs it: the publisher (outbox -> delivery rows, first syncs)
 * and the delivery engine's OCPI token sender. Every key change reaches every registered CPO with
 * a tokens Receiver in its newest state; a CPO that was down gets it when it is back.
 */
export class TokenPush {
  readonly publisher: TokenPublisher
  private readonly publishing: Periodic

  constructor(
    private readonly db: Db,
    private readonly partners: OcpiPartners,
    private readonly party: OurParty,
    private readonly log: Logger,
    readonly engine: DeliveryEngine,
    private readonly options: PushOptions,
  ) {
    this.publisher = new TokenPublisher(db)
    this.publishing = new Periodic(() => this.publisher.publish(), {
      everyMs: options.pollMs ?? 500,
      onError: (err) => log.warn({ err }, 'OCPI token publishing failed'),
    })
    engine.register(OCPI_TOKEN, new OcpiTokenSender(db, partners, party, options.http, options.timeoutMs))
  }

  /** Starts the publisher; the delivery engine runs on its own (the platform starts it). */
  start() {
    this.publishing.start()
  }

  /** Stops the publisher after its step in flight. */
  async stop() {
    await this.publishing.stop()
  }

  /** One publish step and one delivery round; tests call it to step the pipeline. */
  async runOnce(): Promise<{ published: number; delivered: number; failed: number }> {
    const published = await this.publisher.publish()
    const { delivered, failed } = await this.engine.runOnce()
    return { published, delivered, failed }
  }

  /** A partner's token deliveries for the admin API and metrics; changes not yet published count as backlog. */
  status(partnerId: string): Promise<DeliveryStatus> {
    return this.engine.status(ocpiDestination(partnerId), TokenPublisher.waiting(partnerId))
  }

  reconcile(partnerId: string) {
    return reconcileTokens({ db: this.db, partners: this.partners, party: this.party, http: this.options.http, log: this.log }, partnerId)
  }
}
