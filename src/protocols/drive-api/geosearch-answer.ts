import { Type } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { EVSE_STATUSES, POWER_TYPES } from '../../core/locations/location.ts'
import type { SearchHit } from '../../services/locations/geosearch.ts'

const literals = <T extends string>(values: readonly T[], options: { description?: string } = {}) =>
  Type.Union(
    values.map((value) => Type.Literal(value)),
    options,
  )
const nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])
// Each object lists exactly what the search document (core/locations/search-document.ts) carries.
const closed = { additionalProperties: false } as const

const Connector = Type.Object(
  {
    id: Type.String(),
    standard: Type.String({ description: 'connector standard (OCPI ConnectorType names)' }),
    format: literals(['SOCKET', 'CABLE']),
    powerType: literals(['AC', 'DC']),
    ocpiPowerType: literals(POWER_TYPES, { description: 'the supply in OCPI PowerType terms' }),
    maxPower: Type.Number({ minimum: 0, description: 'watts' }),
    capabilities: Type.Array(Type.String(), { description: "its EVSE's, its own, and PLUG_AND_CHARGE_CAPABLE when it is" }),
  },
  closed,
)
const Evse = Type.Object(
  {
    uid: Type.String(),
    evseId: nullable(Type.String()),
    status: literals(
      EVSE_STATUSES.filter((status) => status !== 'REMOVED'),
      { description: 'removed EVSEs are never answered' },
    ),
    capabilities: Type.Array(Type.String()),
    connectors: Type.Array(Connector),
  },
  closed,
)
const Location = Type.Object(
  {
    id: Type.String({ description: 'party or operator, and location: country*party*location' }),
    name: nullable(Type.String()),
    address: Type.String(),
    city: Type.String(),
    postalCode: nullable(Type.String()),
    country: Type.String({ description: 'ISO 3166-1 alpha-3' }),
    coordinates: Type.Object(
      { latitude: Type.Number({ minimum: -90, maximum: 90 }), longitude: Type.Number({ minimum: -180, maximum: 180 }) },
      closed,
    ),
    distance: Type.Number({ minimum: 0, description: 'metres from the centre of the search' }),
    operator: Type.Object({ id: Type.String({ description: 'as in EVSE IDs, e.g. NL*SIM' }), name: nullable(Type.String()) }, closed),
    openingTimes: Type.Object(
      {
        twentyfourseven: Type.Boolean(),
        regularHours: Type.Array(
          Type.Object(
            {
              weekday: Type.Integer({ minimum: 1, maximum: 7, description: '1 Monday ... 7 Sunday' }),
              period_begin: Type.String({ description: 'local time, HH:MM' }),
              period_end: Type.String({ description: 'local time, HH:MM' }),
            },
            closed,
          ),
        ),
      },
      { ...closed, description: 'opening times as the source gave them; neither 24/7 nor regular hours: unknown' },
    ),
    timeZone: nullable(Type.String()),
    evses: Type.Array(Evse, { minItems: 1 }),
    lastUpdated: Type.String({ format: 'date-time' }),
  },
  { ...closed, title: 'GeosearchLocation' },
)
export const GeosearchAnswer = Type.Object({ locations: Type.Array(Location), cursor: Type.Optional(Type.String()) }, closed)

/** A page of search results as the handler sends it; the answer serializer writes it. */
export interface GeosearchPage {
  hits: SearchHit[]
  cursor?: string
}

/**
 * Buffers for answers, used again once an answer is out. An answer is tens of kB outside the
 * JavaScript heap; a fresh one per search (thousands a second) makes V8 collect garbage for the
 * external memory alone, and those pauses were the long tail of search latency.
 */
class AnswerBuffers {
  readonly #free: Buffer[] = []
  constructor(
    private readonly keep: number,
    private readonly minimumBytes: number,
  ) {}

  take(size: number): Buffer {
    const buffer = this.#free.pop()
    if (buffer && buffer.length >= size) return buffer
    // Too small for this answer: let it go, and make one that fits larger answers too.
    return Buffer.allocUnsafeSlow(Math.max(this.minimumBytes, 2 ** Math.ceil(Math.log2(size))))
  }

  give(buffer: Buffer) {
    if (this.#free.length < this.keep) this.#free.push(buffer)
  }
}

/**
 * Writes geosearch answers, in GeosearchAnswer's shape, as bytes: each hit's document already has
 * the location's fields, so only the distance is added. A page is tens of kB, and most documents
 * are sent as held, so it is copied together here, not parsed and serialized again; the route's
 * schema documents the result, and a test holds the bytes to it.
 */
export class GeosearchAnswerWriter {
  // As many as searches in flight on a busy server; 128 kB holds a page of 50 with room to spare.
  readonly #buffers = new AnswerBuffers(64, 128 * 1024)

  /**
   * The serializer of one reply (`reply.serializer`): the answer is written into a reused buffer,
   * which is taken back once the response is closed (the operating system has the bytes, or the
   * client is gone).
   */
  serializerFor(reply: FastifyReply): (page: GeosearchPage) => Buffer {
    return (page) => {
      const { buffer, answer } = this.#write(page)
      reply.raw.once('close', () => this.#buffers.give(buffer))
      return answer
    }
  }

  /** The answer's bytes in a buffer of their own (tests, and any caller without a reply). */
  write(page: GeosearchPage): Buffer {
    return Buffer.from(this.#write(page).answer)
  }

  #write({ hits, cursor }: GeosearchPage): { buffer: Buffer; answer: Buffer } {
    // Everything written around the documents is ASCII: one byte a character.
    const tails = hits.map(({ distance }) => `,"distance":${Math.round(distance * 10) / 10}}`)
    const end = `]${cursor === undefined ? '' : `,"cursor":${JSON.stringify(cursor)}`}}`
    const head = '{"locations":['
    let size = head.length + end.length + Math.max(hits.length - 1, 0)
    for (let i = 0; i < hits.length; i++) size += hits[i]!.bytes.length - 1 + tails[i]!.length
    const buffer = this.#buffers.take(size)
    let at = buffer.write(head, 0, 'latin1')
    for (let i = 0; i < hits.length; i++) {
      if (i > 0) at += buffer.write(',', at, 'latin1')
      const document = hits[i]!.bytes
      // The document is an object whose last character is its closing brace; the tail closes it.
      at += document.copy(buffer, at, 0, document.length - 1)
      at += buffer.write(tails[i]!, at, 'latin1')
    }
    at += buffer.write(end, at, 'latin1')
    return { buffer, answer: buffer.subarray(0, at) }
  }
}
