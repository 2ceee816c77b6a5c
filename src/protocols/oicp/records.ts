import { isRealInstant } from '../../core/date-time.ts'
import type { PresentedIdentifier } from '../../core/authorization/presented.ts'
import { oicpField, readIdentification, readSession, type IdentificationMethod, type Refusal, type SessionEcho } from './authorization.ts'
import { OICP_STATUS, type OicpStatusCode } from './protocol.ts'
import { isJsonObject } from '../../core/json.ts'

/**
 * OICP 2.3 eRoamingChargeDetailRecord and eRoamingChargingNotification (Start, Progress, End,
 * Error), pure: read tolerantly (explicit nulls absent, extra fields ignored, `ID`/`Id` both),
 * checked against the spec's required fields and types with errors naming the field, and
 * answered with an eRoamingAcknowledgment that holds only spec fields and spec status codes.
 */

type Json = Record<string, unknown>
const dataError = (field: string, rule: string): Refusal => ({ code: OICP_STATUS.dataError.code, description: `${field}: ${rule}` })

/** The Identification of a record, when it names something we can look up (a QR code cannot be). */
export interface RecordIdentification {
  method: IdentificationMethod
  presented: PresentedIdentifier
  /** the identifier as sent */
  value: string
}

class FieldError extends Error {
  constructor(readonly refusal: Refusal) {
    super(refusal.description)
  }
}

function dateTime(body: Json, name: string, required: boolean): Date | null {
  const value = oicpField(body, name)
  if (value === undefined) {
    if (required) throw new FieldError(dataError(name, 'is required (an RFC 3339 date-time)'))
    return null
  }
  // Hubject's timestamps carry an offset; one without is read as UTC rather than refused.
  if (typeof value !== 'string' || !isRealInstant(value, { offsetRequired: false })) {
    throw new FieldError(dataError(name, 'must be an RFC 3339 date-time such as 2020-09-23T14:17:53.038Z'))
  }
  return new Date(/([Zz]|[+-]\d{2}:\d{2})$/.test(value) ? value : `${value}Z`)
}

function kwh(body: Json, name: string, required: boolean): number | null {
  const value = oicpField(body, name)
  if (value === undefined) {
    if (required) throw new FieldError(dataError(name, 'is required (kWh, a number)'))
    return null
  }
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0)
    throw new FieldError(dataError(name, 'must be a number of kWh, not negative'))
  return value
}

function text(body: Json, name: string, required: boolean, maxLength = 100): string | null {
  const value = oicpField(body, name)
  if (value === undefined) {
    if (required) throw new FieldError(dataError(name, 'is required'))
    return null
  }
  if (typeof value !== 'string' || value.trim() === '' || value.length > maxLength) {
    throw new FieldError(dataError(name, `must be a string of 1-${maxLength} characters`))
  }
  return value
}

/** The identification a record names, or null (none given, or one we could never look up, as a QR code). */
function identificationOf(body: Json, required: boolean): RecordIdentification | null {
  const given = oicpField(body, 'Identification')
  if (given === undefined) {
    if (required) throw new FieldError(dataError('Identification', 'is required and must be an object'))
    return null
  }
  if (!isJsonObject(given)) throw new FieldError(dataError('Identification', 'must be an object'))
  const read = readIdentification(given)
  if (read.ok) return { method: read.method, presented: read.presented, value: read.tokenUid }
  // A QR code names nothing we can look up (we hold no PINs), but the session it started may still be ours.
  if (read.refusal.code === OICP_STATUS.qrCodeFailed.code) return null
  throw new FieldError(read.refusal)
}

/** The fields of a record that make its content: what a repeat must carry unchanged (not extra or null fields). */
const CDR_FIELDS = [
  'SessionID',
  'CPOPartnerSessionID',
  'EMPPartnerSessionID',
  'PartnerProductID',
  'EvseID',
  'Identification',
  'ChargingStart',
  'ChargingEnd',
  'SessionStart',
  'SessionEnd',
  'MeterValueStart',
  'MeterValueEnd',
  'MeterValueInBetween',
  'ConsumedEnergy',
  'SignedMeteringValues',
  'CalibrationLawVerificationInfo',
  'HubOperatorID',
  'HubProviderID',
] as const

/** The spec's fields of a record under their spec names (an `…Id` spelling read as `…ID`), the rest left out. */
export function specContent(body: Json, fields: readonly string[]): Json {
  const content: Json = {}
  for (const name of fields) {
    const value = oicpField(body, name)
    if (value !== undefined) content[name] = value
  }
  return content
}

export type ParsedCdr =
  | {
      ok: true
      sessionId: string
      session: SessionEcho
      evseId: string
      identification: RecordIdentification | null
      chargingStart: Date
      chargingEnd: Date
      sessionStart: Date
      sessionEnd: Date
      consumedEnergy: number
      hubOperatorId: string | null
      /** the record's spec fields: what a repeat must carry unchanged */
      content: Json
    }
  | { ok: false; refusal: Refusal; session: SessionEcho }

/** An eRoamingChargeDetailRecord body, read and checked. */
export function parseChargeDetailRecord(body: unknown): ParsedCdr {
  if (!isJsonObject(body)) return { ok: false, refusal: dataError('body', 'must be a JSON object'), session: {} }
  const { session, error } = readSession(body)
  if (error) return { ok: false, refusal: error, session: {} }
  if (session.SessionID === undefined) return { ok: false, refusal: dataError('SessionID', 'is required'), session }
  try {
    const chargingStart = dateTime(body, 'ChargingStart', true)!
    const chargingEnd = dateTime(body, 'ChargingEnd', true)!
    const sessionStart = dateTime(body, 'SessionStart', true)!
    const sessionEnd = dateTime(body, 'SessionEnd', true)!
    if (chargingEnd < chargingStart) throw new FieldError(dataError('ChargingEnd', 'must not be before ChargingStart'))
    if (sessionEnd < sessionStart) throw new FieldError(dataError('SessionEnd', 'must not be before SessionStart'))
    for (const name of ['MeterValueStart', 'MeterValueEnd']) {
      const value = oicpField(body, name)
      if (value !== undefined && (typeof value !== 'number' || !Number.isFinite(value)))
        throw new FieldError(dataError(name, 'must be a number (kWh)'))
    }
    return {
      ok: true,
      sessionId: session.SessionID,
      session,
      evseId: text(body, 'EvseID', true)!,
      identification: identificationOf(body, true),
      chargingStart,
      chargingEnd,
      sessionStart,
      sessionEnd,
      consumedEnergy: kwh(body, 'ConsumedEnergy', true)!,
      hubOperatorId: text(body, 'HubOperatorID', false),
      content: specContent(body, CDR_FIELDS),
    }
  } catch (error) {
    if (error instanceof FieldError) return { ok: false, refusal: error.refusal, session }
    throw error
  }
}

export type NotificationType = 'Start' | 'Progress' | 'End' | 'Error'
const NOTIFICATION_TYPES: readonly NotificationType[] = ['Start', 'Progress', 'End', 'Error']
const ERROR_TYPES = ['ConnectorError', 'CriticalError']

export type ParsedNotification =
  | {
      ok: true
      type: NotificationType
      sessionId: string
      session: SessionEcho
      evseId: string
      operatorId: string
      identification: RecordIdentification | null
      /** when it happened: Start its ChargingStart, Progress its EventOccurred, End its ChargingEnd */
      occurredAt: Date | null
      chargingStart: Date | null
      chargingEnd: Date | null
      /** the energy so far (Progress) or in all (End) */
      energyKwh: number | null
    }
  | { ok: false; refusal: Refusal; session: SessionEcho }

/** An eRoamingChargingNotification body of any type, read and checked against its type's required fields. */
export function parseChargingNotification(body: unknown): ParsedNotification {
  if (!isJsonObject(body)) return { ok: false, refusal: dataError('body', 'must be a JSON object'), session: {} }
  const { session, error } = readSession(body)
  if (error) return { ok: false, refusal: error, session: {} }
  const type = oicpField(body, 'Type')
  if (typeof type !== 'string' || !NOTIFICATION_TYPES.includes(type as NotificationType)) {
    return { ok: false, refusal: dataError('Type', `must be one of ${NOTIFICATION_TYPES.join(', ')}`), session }
  }
  if (session.SessionID === undefined) return { ok: false, refusal: dataError('SessionID', 'is required'), session }
  try {
    const evseId = text(body, 'EvseID', true)!
    const operatorId = text(body, 'OperatorID', true)!
    const identification = identificationOf(body, false)
    const common = { ok: true as const, sessionId: session.SessionID, session, evseId, operatorId, identification }
    switch (type as NotificationType) {
      case 'Start': {
        const chargingStart = dateTime(body, 'ChargingStart', true)
        dateTime(body, 'SessionStart', false)
        return { ...common, type: 'Start', occurredAt: chargingStart, chargingStart, chargingEnd: null, energyKwh: null }
      }
      case 'Progress': {
        const chargingStart = dateTime(body, 'ChargingStart', true)
        const occurredAt = dateTime(body, 'EventOccurred', true)
        const duration = oicpField(body, 'ChargingDuration')
        if (duration !== undefined && (typeof duration !== 'number' || !Number.isInteger(duration) || duration < 0)) {
          throw new FieldError(dataError('ChargingDuration', 'must be a whole number of milliseconds'))
        }
        const energyKwh = kwh(body, 'ConsumedEnergyProgress', false)
        return { ...common, type: 'Progress', occurredAt, chargingStart, chargingEnd: null, energyKwh }
      }
      case 'End': {
        const chargingEnd = dateTime(body, 'ChargingEnd', true)
        const chargingStart = dateTime(body, 'ChargingStart', false)
        const energyKwh = kwh(body, 'ConsumedEnergy', false)
        return { ...common, type: 'End', occurredAt: chargingEnd, chargingStart, chargingEnd, energyKwh }
      }
      case 'Error': {
        const errorType = oicpField(body, 'ErrorType')
        if (typeof errorType !== 'string' || !ERROR_TYPES.includes(errorType)) {
          throw new FieldError(dataError('ErrorType', `is required and must be one of ${ERROR_TYPES.join(', ')}`))
        }
        text(body, 'ErrorAdditionalInfo', false, 250)
        return { ...common, type: 'Error', occurredAt: null, chargingStart: null, chargingEnd: null, energyKwh: null }
      }
    }
  } catch (error) {
    if (error instanceof FieldError) return { ok: false, refusal: error.refusal, session }
    throw error
  }
}

/** An eRoamingAcknowledgment (schemas/eRoamingAcknowledgment.yaml). */
export interface Acknowledgment extends SessionEcho {
  Result: boolean
  StatusCode: { Code: OicpStatusCode; Description?: string; AdditionalInfo?: string }
}

/** Description is String(200) and AdditionalInfo String(1000) in the spec: longer text is cut, never sent. */
const cut = (value: string, max: number) => (value.length <= max ? value : `${value.slice(0, max - 1)}…`)

export function acknowledged(session: SessionEcho, additionalInfo?: string): Acknowledgment {
  return {
    Result: true,
    StatusCode: {
      Code: OICP_STATUS.success.code,
      Description: 'Success',
      ...(additionalInfo && { AdditionalInfo: cut(additionalInfo, 1000) }),
    },
    ...session,
  }
}

export function refused(session: SessionEcho, refusal: Refusal): Acknowledgment {
  return { Result: false, StatusCode: { Code: refusal.code, Description: cut(refusal.description, 200) }, ...session }
}
