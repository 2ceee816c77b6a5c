import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { OpenpncError, invalid } from '../../core/errors.ts'
import { ErrorResponse } from '../../infra/http/errors.ts'
import { geosearch, type SearchArea, type SearchHit } from '../../services/locations/geosearch.ts'
import { CONNECTOR_TYPES, EVSE_STATUSES, FILTER_CAPABILITIES, validateFilters } from '../../core/locations/index.ts'
import type { Platform } from '../../platform.ts'
import { DRIVE_API as R } from './routes.ts'

export const MAX_RADIUS_M = 50_000
export const DEFAULT_RADIUS_M = 3000
export const MAX_LIMIT = 300

const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse }

const Filters = Type.Optional(
  Type.Object(
    {
      capabilities: Type.Optional(
        Type.Array(Type.String(), { description: `each connector kept has all of them; one of ${FILTER_CAPABILITIES.join(', ')}` }),
      ),
      powerType: Type.Optional(Type.String({ description: 'AC or DC' })),
      power: Type.Optional(Type.Number({ description: 'minimum maximum power of a connector, watts' })),
      connectorTypes: Type.Optional(
        Type.Array(Type.String(), { description: `OCPI ConnectorType, any of them; one of ${CONNECTOR_TYPES.join(', ')}` }),
      ),
      locationStatuses: Type.Optional(
        Type.Array(Type.String(), {
          description: `OCPI EVSE status, any of them; one of ${EVSE_STATUSES.filter((s) => s !== 'REMOVED').join(', ')}`,
        }),
      ),
      open247: Type.Optional(Type.Boolean()),
      operatorIds: Type.Optional(Type.Array(Type.String(), { description: 'CPO as country*party, e.g. NL*SIM' })),
    },
    { additionalProperties: true, description: 'every given filter must hold for an EVSE/connector to be returned' },
  ),
)
const Page = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: MAX_LIMIT })),
  cursor: Type.Optional(
    Type.String({
      maxLength: 200,
      description: 'from the previous answer, for the next page; only with the same area and filters (the limit may change)',
    }),
  ),
}

const Connector = Type.Object({
  id: Type.String(),
  standard: Type.String(),
  format: Type.String(),
  powerType: Type.String({ description: 'AC or DC' }),
  ocpiPowerType: Type.String(),
  maxPower: Type.Number({ description: 'watts' }),
  capabilities: Type.Array(Type.String()),
})
const Evse = Type.Object({
  uid: Type.String(),
  evseId: Type.Union([Type.String(), Type.Null()]),
  status: Type.String(),
  capabilities: Type.Array(Type.String()),
  connectors: Type.Array(Connector),
})
const Location = Type.Object(
  {
    id: Type.String({ description: 'country*party*location' }),
    name: Type.Union([Type.String(), Type.Null()]),
    address: Type.String(),
    city: Type.String(),
    postalCode: Type.Union([Type.String(), Type.Null()]),
    country: Type.String(),
    coordinates: Type.Object({ latitude: Type.Number(), longitude: Type.Number() }),
    distance: Type.Number({ description: 'metres from the centre of the search' }),
    operator: Type.Object({ id: Type.String(), name: Type.Union([Type.String(), Type.Null()]) }),
    openingTimes: Type.Object(
      { twentyfourseven: Type.Boolean(), regularHours: Type.Array(Type.Object({}, { additionalProperties: true })) },
      { description: 'OCPI opening times' },
    ),
    timeZone: Type.Union([Type.String(), Type.Null()]),
    evses: Type.Array(Evse),
    lastUpdated: Type.String({ format: 'date-time' }),
  },
  { title: 'GeosearchLocation' },
)
export const GeosearchAnswer = Type.Object({ locations: Type.Array(Location), cursor: Type.Optional(Type.String()) })

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
 * The answer as JSON bytes, in the schema above, written into `buffer`: each hit's document
 * already has the location's fields, so only the distance is added. A page is tens of kB, and
 * most documents are sent as held, so it is copied together here, not parsed and serialized again.
 */
function writeAnswer(hits: SearchHit[], cursor: string | undefined, buffers: AnswerBuffers): { buffer: Buffer; answer: Buffer } {
  // Everything written around the documents is ASCII: one byte a character.
  const tails = hits.map(({ distance }) => `,"distance":${Math.round(distance * 10) / 10}}`)
  const end = `]${cursor === undefined ? '' : `,"cursor":${JSON.stringify(cursor)}`}}`
  const head = '{"locations":['
  let size = head.length + end.length + Math.max(hits.length - 1, 0)
  for (let i = 0; i < hits.length; i++) size += hits[i]!.bytes.length - 1 + tails[i]!.length
  const buffer = buffers.take(size)
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

/** Filter errors name the field inside `filters`. */
function filtersFrom(input: unknown) {
  try {
    return validateFilters(input)
  } catch (error) {
    if (error instanceof OpenpncError && error.kind === 'invalid') throw invalid(error.code, `filters.${error.message}`)
    throw error
  }
}

/** Chargers near a point or in a map view, for drivers looking for Plug&Charge. */
export const geosearchApi: FastifyPluginAsyncTypebox<{ platform: Platform }> = async (app, { platform }) => {
  // As many as searches in flight on a busy server; 128 kB holds a page of 50 with room to spare.
  const buffers = new AnswerBuffers(64, 128 * 1024)
  const search = async (area: SearchArea, body: { filters?: unknown; limit?: number; cursor?: string }, reply: FastifyReply) => {
    const result = await geosearch(platform, area, filtersFrom(body.filters), { limit: body.limit ?? MAX_LIMIT, cursor: body.cursor })
    const { buffer, answer } = writeAnswer(result.hits, result.cursor, buffers)
    // Once the response is closed the operating system has the bytes (or the client is gone).
    reply.raw.once('close', () => buffers.give(buffer))
    // Bytes are sent as they are; the schema documents them.
    return reply.type('application/json; charset=utf-8').send(answer)
  }

  app.route({
    ...R.geosearchRadius.route,
    schema: {
      ...R.geosearchRadius.doc,
      querystring: Type.Object({
        latitude: Type.Number({ minimum: -90, maximum: 90 }),
        longitude: Type.Number({ minimum: -180, maximum: 180 }),
        distance: Type.Optional(
          Type.Number({ exclusiveMinimum: 0, maximum: MAX_RADIUS_M, default: DEFAULT_RADIUS_M, description: 'metres' }),
        ),
      }),
      body: Type.Object({ filters: Filters, ...Page }),
      response: { 200: GeosearchAnswer, ...errors },
    },
    handler: async (request, reply) => {
      const { latitude, longitude, distance } = request.query
      return search({ kind: 'radius', center: { latitude, longitude }, distance: distance ?? DEFAULT_RADIUS_M }, request.body, reply)
    },
  })

  app.route({
    ...R.geosearchBbox.route,
    schema: {
      ...R.geosearchBbox.doc,
      body: Type.Object({
        north: Type.Number({ minimum: -90, maximum: 90 }),
        south: Type.Number({ minimum: -90, maximum: 90 }),
        east: Type.Number({
          minimum: -180,
          maximum: 180,
          description: 'eastern edge; less than west when the box crosses the antimeridian',
        }),
        west: Type.Number({ minimum: -180, maximum: 180, description: 'western edge: the box spans eastwards from here to east' }),
        filters: Filters,
        ...Page,
      }),
      response: { 200: GeosearchAnswer, ...errors },
    },
    handler: async (request, reply) => {
      const { north, south, east, west } = request.body
      if (north <= south) throw invalid('validation_error', `north must be greater than south (got north ${north}, south ${south})`)
      return search({ kind: 'bbox', north, south, east, west }, request.body, reply)
    },
  })
}
