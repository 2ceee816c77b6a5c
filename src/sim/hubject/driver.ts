import { randomUUID } from 'node:crypto'
import { Agent, request } from 'undici'
import { SERVED, type ServedOperationId } from '../../protocols/oicp/protocol.ts'

/**
 * The simulated Hubject's calling side: it calls an EMP's OICP operations (protocols/oicp
 * protocol.ts SERVED) over real HTTP(S), optionally presenting a client certificate, with
 * payloads shaped like Hubject's own traffic: explicit nulls for absent optional fields, fields
 * the spec does not name, and both `…ID` and `…Id` spellings.
 */

/** PEM material for calling an EMP that requires mutual TLS. */
export interface HubjectDriverTls {
  /** our (Hubject's) client certificate and key; none: call without one */
  cert?: string | Buffer
  key?: string | Buffer
  /** the CA the EMP's server certificate chains to */
  ca?: string | Buffer
}

export interface HubjectDriverOptions {
  /** the EMP's OICP base URL (scheme, host, port, prefix), e.g. https://emp.example:9443/oicp */
  baseUrl: string
  /** the operator the simulated CPO is, in paths and bodies */
  operatorId?: string
  tls?: HubjectDriverTls
}

export interface HubjectAnswer {
  status: number
  body: Record<string, unknown>
}

/** How the simulated station identifies the driver. */
export type DriverIdentification = { plugAndCharge: string } | { remote: string } | { rfid: string } | { qrCode: string }

export const newSessionId = () => randomUUID()

/** Identification as Hubject writes it: the option used, every other option an explicit null. */
export function hubjectIdentification(identification: DriverIdentification): Record<string, unknown> {
  return {
    RFIDMifareFamilyIdentification: 'rfid' in identification ? { UID: identification.rfid } : null,
    RFIDIdentification: null,
    QRCodeIdentification: 'qrCode' in identification ? { EvcoID: identification.qrCode, HashedPIN: null, PIN: '1234' } : null,
    PlugAndChargeIdentification: 'plugAndCharge' in identification ? { EvcoID: identification.plugAndCharge } : null,
    RemoteIdentification: 'remote' in identification ? { EvcoID: identification.remote } : null,
  }
}

export interface SessionInput {
  sessionId: string
  evseId?: string
  identification: DriverIdentification
  cpoPartnerSessionId?: string | null
}

export interface CdrInput extends SessionInput {
  sessionStart: Date
  sessionEnd: Date
  chargingStart?: Date
  chargingEnd?: Date
  consumedEnergy: number
  meterValueStart?: number
}

export type NotificationInput = SessionInput &
  (
    | { type: 'Start'; chargingStart: Date }
    | { type: 'Progress'; chargingStart: Date; eventOccurred: Date; consumedEnergyProgress: number; chargingDurationMs?: number }
    | { type: 'End'; chargingStart?: Date; chargingEnd: Date; consumedEnergy: number }
    | { type: 'Error'; errorType: 'ConnectorError' | 'CriticalError'; errorAdditionalInfo?: string }
  )

export class HubjectDriver {
  readonly operatorId: string
  private readonly agent: Agent

  constructor(readonly options: HubjectDriverOptions) {
    this.operatorId = options.operatorId ?? 'DE*SIM'
    const tls = options.tls
    this.agent = new Agent({
      connect: { ...(tls?.cert && { cert: tls.cert }), ...(tls?.key && { key: tls.key }), ...(tls?.ca && { ca: tls.ca }) },
    })
  }

  /** The URL of an operation: the spec's path below the EMP's base URL. */
  url(op: ServedOperationId, operatorId = this.operatorId): string {
    const path = SERVED[op].path.replace('{operatorID}', encodeURIComponent(operatorId))
    return `${this.options.baseUrl.replace(/\/+$/, '')}${path}`
  }

  /** POSTs any body (a string is sent as is) to an operation; the answer's status and JSON. */
  async post(op: ServedOperationId, body: unknown, options: { operatorId?: string; path?: string } = {}): Promise<HubjectAnswer> {
    const url = options.path === undefined ? this.url(op, options.operatorId) : `${this.options.baseUrl.replace(/\/+$/, '')}${options.path}`
    const answer = await request(url, {
      method: 'POST',
      dispatcher: this.agent,
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
    const text = await answer.body.text()
    let parsed: Record<string, unknown>
    try {
      parsed = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>)
    } catch {
      parsed = { unparsable: text }
    }
    return { status: answer.statusCode, body: parsed }
  }

  private sessionFields(input: SessionInput) {
    return {
      SessionID: input.sessionId,
      CPOPartnerSessionID: input.cpoPartnerSessionId ?? null,
      EMPPartnerSessionID: null,
      EvseID: input.evseId ?? `${this.operatorId}*E0001*1`,
      Identification: hubjectIdentification(input.identification),
    }
  }

  /** eRoamingAuthorizeStart, as Hubject forwards a CPO's: `HubProviderId` lower-case, PartnerProductID null, a field the spec lacks. */
  authorizeStart(input: SessionInput): Promise<HubjectAnswer> {
    return this.post('authorizeStart', {
      ...this.sessionFields(input),
      OperatorID: this.operatorId,
      PartnerProductID: null,
      HubProviderId: null,
      HubOperatorId: null,
      ChargingStationId: null,
      RequestTimestamp: new Date().toISOString(),
    })
  }

  /** eRoamingAuthorizeStop of a session. */
  authorizeStop(input: SessionInput): Promise<HubjectAnswer> {
    const { EvseID, ...rest } = this.sessionFields(input)
    return this.post('authorizeStop', { ...rest, EvseID, OperatorID: this.operatorId, HubProviderID: null })
  }

  /** The eRoamingChargeDetailRecord Hubject forwards at a session's end. */
  cdrBody(input: CdrInput): Record<string, unknown> {
    const meterStart = input.meterValueStart ?? 0
    return {
      ...this.sessionFields(input),
      PartnerProductID: null,
      ChargingStart: (input.chargingStart ?? input.sessionStart).toISOString(),
      ChargingEnd: (input.chargingEnd ?? input.sessionEnd).toISOString(),
      SessionStart: input.sessionStart.toISOString(),
      SessionEnd: input.sessionEnd.toISOString(),
      MeterValueStart: meterStart,
      MeterValueEnd: meterStart + input.consumedEnergy,
      MeterValueInBetween: null,
      ConsumedEnergy: input.consumedEnergy,
      SignedMeteringValues: null,
      CalibrationLawVerificationInfo: null,
      HubOperatorID: this.operatorId,
      HubProviderId: null,
      CdrTransferTimestamp: new Date().toISOString(),
    }
  }

  sendCdr(input: CdrInput | Record<string, unknown>): Promise<HubjectAnswer> {
    const body = 'sessionId' in input && 'identification' in input ? this.cdrBody(input as CdrInput) : input
    return this.post('chargeDetailRecord', body)
  }

  /** An eRoamingChargingNotification of the given type. */
  notificationBody(input: NotificationInput): Record<string, unknown> {
    const base = { Type: input.type, ...this.sessionFields(input), OperatorID: this.operatorId, PartnerProductID: null }
    switch (input.type) {
      case 'Start':
        return { ...base, ChargingStart: input.chargingStart.toISOString(), SessionStart: null, MeterValueStart: 0 }
      case 'Progress':
        return {
          ...base,
          ChargingStart: input.chargingStart.toISOString(),
          EventOccurred: input.eventOccurred.toISOString(),
          ChargingDuration: input.chargingDurationMs ?? input.eventOccurred.getTime() - input.chargingStart.getTime(),
          ConsumedEnergyProgress: input.consumedEnergyProgress,
          MeterValueInBetween: null,
        }
      case 'End':
        return {
          ...base,
          ChargingStart: input.chargingStart?.toISOString() ?? null,
          ChargingEnd: input.chargingEnd.toISOString(),
          ConsumedEnergy: input.consumedEnergy,
          PenaltyTimeStart: null,
        }
      case 'Error':
        return { ...base, ErrorType: input.errorType, ErrorAdditionalInfo: input.errorAdditionalInfo ?? null }
    }
  }

  sendNotification(input: NotificationInput): Promise<HubjectAnswer> {
    return this.post('chargingNotification', this.notificationBody(input))
  }

  async close(): Promise<void> {
    await this.agent.close()
  }
}

export interface DrivenStep {
  operation: ServedOperationId
  /** Start, Progress, End for notifications */
  detail?: string
  status: number
  body: Record<string, unknown>
}

/**
 * One charging session as Hubject relays it to an EMP, end to end: AuthorizeStart, the charging
 * notifications Start, Progress and End, AuthorizeStop, then the charge detail record. It stops
 * after a refused start (as a station would); every answer is returned for the caller to show or check.
 */
export async function driveSession(
  driver: HubjectDriver,
  options: { identification: DriverIdentification; evseId?: string; energyKwh?: number; sessionId?: string },
): Promise<{ sessionId: string; steps: DrivenStep[] }> {
  const sessionId = options.sessionId ?? newSessionId()
  const session = { sessionId, identification: options.identification, evseId: options.evseId }
  const energy = options.energyKwh ?? 12.5
  const steps: DrivenStep[] = []
  const step = async (operation: ServedOperationId, call: Promise<HubjectAnswer>, detail?: string) => {
    const answer = await call
    steps.push({ operation, ...(detail && { detail }), status: answer.status, body: answer.body })
    return answer
  }
  const sessionStart = new Date()
  const started = await step('authorizeStart', driver.authorizeStart(session))
  if (started.body.AuthorizationStatus !== 'Authorized') return { sessionId, steps }
  const chargingStart = new Date(sessionStart.getTime() + 5_000)
  const progressAt = new Date(chargingStart.getTime() + 600_000)
  const chargingEnd = new Date(chargingStart.getTime() + 1_200_000)
  const sessionEnd = new Date(chargingEnd.getTime() + 60_000)
  await step('chargingNotification', driver.sendNotification({ ...session, type: 'Start', chargingStart }), 'Start')
  await step(
    'chargingNotification',
    driver.sendNotification({ ...session, type: 'Progress', chargingStart, eventOccurred: progressAt, consumedEnergyProgress: energy / 2 }),
    'Progress',
  )
  await step(
    'chargingNotification',
    driver.sendNotification({ ...session, type: 'End', chargingStart, chargingEnd, consumedEnergy: energy }),
    'End',
  )
  await step('authorizeStop', driver.authorizeStop(session))
  await step(
    'chargeDetailRecord',
    driver.sendCdr({ ...session, sessionStart, sessionEnd, chargingStart, chargingEnd, consumedEnergy: energy }),
  )
  return { sessionId, steps }
}
