import type { TLSSocket } from 'node:tls'
import type { FastifyInstance } from 'fastify'
import { isEvcoId } from '../../protocols/oicp/evco-id.ts'
import { CALLED } from '../../protocols/oicp/protocol.ts'
import type { HubjectSimPart } from './sim.ts'
import { isJsonObject } from '../../core/json.ts'

/** One push-request as the simulated Hubject received it, in arrival order. */
export interface ReceivedPush {
  providerId: string
  /** the request body as sent */
  body: unknown
  /** what the simulator answered: HTTP status and StatusCode */
  httpStatus: number
  code: string
  /** the common name of the client certificate the caller presented (over mutual TLS), else null */
  clientCertificate: string | null
  receivedAt: Date
}

type Ack = { httpStatus: number; Result: boolean; code: string; description: string; info?: string }

const ACTION_TYPES = new Set(['fullLoad', 'update', 'insert', 'delete'])
const UID_PATTERN = /^([0-9A-F]{8}|[0-9A-F]{14}|[0-9A-F]{20})$/
const PROVIDER_ID_PATTERN = /^([A-Za-z]{2}\-?[A-Za-z0-9]{3}|[A-Za-z]{2}[\*|-]?[A-Za-z0-9]{3})$/

/** A ProviderID or an EvcoID's provider part without separators, upper-case: `DE*8PS` and `de-8ps` are `DE8PS`. */
const providerKey = (text: string) => text.replace(/[*-]/g, '').slice(0, 5).toUpperCase()

/**
 * The identity of a record as Hubject compares them: an EvcoID without separators and check
 * character (ISO: 14 characters, DIN: 11), a UID as it is.
 */
function recordKey(identification: Record<string, unknown>): string {
  const pnc = identification.PlugAndChargeIdentification as { EvcoID: string } | undefined
  if (pnc) {
    const compact = pnc.EvcoID.replace(/[*-]/g, '').toUpperCase()
    return `evco:${compact.slice(0, compact.charAt(5) === 'C' && compact.length >= 14 ? 14 : 11)}`
  }
  return `uid:${(identification.RFIDMifareFamilyIdentification as { UID: string }).UID}`
}

/**
 * The simulated Hubject's eRoamingPushAuthenticationData (`POST {base}/authdata/v21/providers/
 * {providerID}/push-request`), with Hubject's rules as the spec states them:
 * - the body is checked (ActionType, ProviderID equal to the path's, every record's
 *   identification: an EvcoID matching the EvcoID pattern, a UID the UID pattern); a bad one is
 *   answered HTTP 400 with StatusCode 022 naming the field;
 * - every EvcoID must belong to the pushing provider, else the whole upload is refused with 019;
 * - fullLoad replaces the provider's set; insert refuses (022, nothing applied) a record it holds,
 *   update one it lacks; delete removes.
 * Answers eRoamingAcknowledgment; every request is kept, in order, for tests and the demo log.
 */
export class HubjectAuthData implements HubjectSimPart {
  /** every push-request received, in order */
  readonly received: ReceivedPush[] = []
  /** each provider's records by identity (see recordKey), with the record as pushed */
  private readonly data = new Map<string, Map<string, unknown>>()
  /** called after each request (the CLI prints it) */
  onPush?: (push: ReceivedPush) => void

  register(app: FastifyInstance) {
    app.route({
      method: CALLED.pushAuthenticationData.method,
      // the spec writes parameters as {name}, Fastify as :name
      url: CALLED.pushAuthenticationData.path.replace(/\{(\w+)\}/g, ':$1'),
      handler: async (request, reply) => {
        const providerId = (request.params as { providerID: string }).providerID
        const ack = this.handle(providerId, request.body)
        const socket = request.raw.socket as Partial<TLSSocket>
        const subject = socket.getPeerCertificate?.()?.subject as { CN?: string } | undefined
        const push: ReceivedPush = {
          providerId,
          body: request.body,
          httpStatus: ack.httpStatus,
          code: ack.code,
          clientCertificate: subject?.CN ?? null,
          receivedAt: new Date(),
        }
        this.received.push(push)
        this.onPush?.(push)
        return reply.code(ack.httpStatus).send({
          Result: ack.Result,
          StatusCode: { Code: ack.code, Description: ack.description, ...(ack.info && { AdditionalInfo: ack.info.slice(0, 1000) }) },
        })
      },
    })
  }

  /** The identities (evco:<14 characters> / uid:<UID>) a provider's set holds now. */
  records(providerId: string): Set<string> {
    return new Set(this.data.get(providerKey(providerId))?.keys() ?? [])
  }

  /** The EvcoIDs and UIDs a provider's set holds now, as pushed. */
  identifiers(providerId: string): string[] {
    return [...(this.data.get(providerKey(providerId))?.values() ?? [])].map((identification) => {
      const id = identification as Record<string, { EvcoID?: string; UID?: string }>
      return id.PlugAndChargeIdentification?.EvcoID ?? id.RFIDMifareFamilyIdentification!.UID!
    })
  }

  private handle(providerId: string, body: unknown): Ack {
    const invalid = (info: string): Ack => ({ httpStatus: 400, Result: false, code: '022', description: 'Data error.', info })
    if (!PROVIDER_ID_PATTERN.test(providerId)) return invalid(`path providerID ${JSON.stringify(providerId)} is not a ProviderID`)
    if (!isJsonObject(body)) return invalid('the body must be an eRoamingPushAuthenticationData object')
    const action = body.ActionType
    if (typeof action !== 'string' || !ACTION_TYPES.has(action))
      return invalid('ActionType must be one of fullLoad, update, insert, delete')
    const data = body.ProviderAuthenticationData
    if (!isJsonObject(data)) return invalid('ProviderAuthenticationData is required')
    if (typeof data.ProviderID !== 'string' || !PROVIDER_ID_PATTERN.test(data.ProviderID)) {
      return invalid('ProviderAuthenticationData.ProviderID must match the ProviderID pattern')
    }
    if (providerKey(data.ProviderID) !== providerKey(providerId)) {
      return invalid(`ProviderAuthenticationData.ProviderID ${data.ProviderID} is not the path's providerID ${providerId}`)
    }
    const list = data.AuthenticationDataRecord
    if (!Array.isArray(list)) return invalid('ProviderAuthenticationData.AuthenticationDataRecord must be an array')
    const records = new Map<string, Record<string, unknown>>()
    for (const [i, record] of list.entries()) {
      const at = `AuthenticationDataRecord[${i}]`
      if (!isJsonObject(record) || !isJsonObject(record.Identification)) return invalid(`${at}.Identification is required`)
      const id = record.Identification
      if (isJsonObject(id.PlugAndChargeIdentification)) {
        const evcoId = id.PlugAndChargeIdentification.EvcoID
        if (typeof evcoId !== 'string' || !isEvcoId(evcoId))
          return invalid(`${at}.Identification.PlugAndChargeIdentification.EvcoID must match the EvcoID pattern`)
      } else if (isJsonObject(id.RFIDMifareFamilyIdentification)) {
        const uid = id.RFIDMifareFamilyIdentification.UID
        if (typeof uid !== 'string' || !UID_PATTERN.test(uid))
          return invalid(`${at}.Identification.RFIDMifareFamilyIdentification.UID must match the UID pattern`)
      } else {
        return invalid(`${at}.Identification: this simulator knows PlugAndChargeIdentification and RFIDMifareFamilyIdentification`)
      }
      records.set(recordKey(id), id)
    }
    // EVCO consistency: one EvcoID of another provider refuses the whole upload.
    for (const id of records.values()) {
      const evcoId = (id.PlugAndChargeIdentification as { EvcoID: string } | undefined)?.EvcoID
      if (evcoId !== undefined && providerKey(evcoId) !== providerKey(providerId)) {
        return {
          httpStatus: 200,
          Result: false,
          code: '019',
          description: 'Inconsistent EvcoID.',
          info: `${evcoId} is not of provider ${providerId}`,
        }
      }
    }
    const key = providerKey(providerId)
    const held = this.data.get(key) ?? new Map<string, unknown>()
    if (action === 'fullLoad') {
      this.data.set(key, new Map(records))
    } else if (action === 'insert') {
      const present = [...records.keys()].find((k) => held.has(k))
      if (present)
        return {
          httpStatus: 200,
          Result: false,
          code: '022',
          description: 'Data error.',
          info: `${present} exists already: nothing inserted`,
        }
      for (const [k, id] of records) held.set(k, id)
      this.data.set(key, held)
    } else if (action === 'update') {
      const missing = [...records.keys()].find((k) => !held.has(k))
      if (missing)
        return {
          httpStatus: 200,
          Result: false,
          code: '022',
          description: 'Data error.',
          info: `${missing} does not exist: nothing updated`,
        }
      for (const [k, id] of records) held.set(k, id)
    } else {
      for (const k of records.keys()) held.delete(k)
    }
    return { httpStatus: 200, Result: true, code: '000', description: 'Success.' }
  }
}
