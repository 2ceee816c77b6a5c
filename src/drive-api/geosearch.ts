import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { OpenpncError, invalid } from '../errors.ts'
import { ErrorResponse } from '../http/errors.ts'
import { geosearch, type SearchArea, type SearchHit } from '../locations/geosearch.ts'
import { validateFilters } from '../locations/index.ts'
import type { Platform } from '../platform.ts'
import { DRIVE_API as R } from './routes.ts'

export const MAX_RADIUS_M = 50_000
export const DEFAULT_RADIUS_M = 3000
export const MAX_LIMIT = 300

const errors = { '4xx': ErrorResponse, '5xx': ErrorResponse }

const Filters = Type.Optional(
  Type.Object(
    {
      capabilities: Type.Optional(Type.Array(Type.String(), { description: 'e.g. PLUG_AND_CHARGE_CAPABLE, RESERVABLE' })),
      powerType: Type.Optional(Type.String({ description: 'AC or DC' })),
      power: Type.Optional(Type.Number({ description: 'minimum maximum power of a connector, watts' })),
      connectorTypes: Type.Optional(Type.Array(Type.String(), { description: 'OCPI ConnectorType, e.g. IEC_62196_T2_COMBO' })),
      locationStatuses: Type.Optional(Type.Array(Type.String(), { description: 'OCPI EVSE status, e.g. AVAILABLE' })),
      open247: Type.Optional(Type.Boolean()),
      operatorIds: Type.Optional(Type.Array(Type.String(), { description: 'CPO as country*party, e.g. NL*SIM' })),
    },
    { additionalProperties: true, description: 'every given filter must hold for an EVSE/connector to be returned' },
  ),
)
const Page = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_LIMIT, default: MAX_LIMIT })),
  cursor: Type.Optional(Type.String({ maxLength: 200, description: 'from the previous answer, for the next page' })),
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
 * The answer as JSON text, in the schema above: each hit's document already has the location's
 * fields, so only the distance is added. A page is tens of kB, and most documents are sent as
 * stored, so writing it here costs a fraction of parsing and serializing it again.
 */
function answerJson(hits: SearchHit[], cursor: string | undefined): string {
  let json = '{"locations":['
  for (let i = 0; i < hits.length; i++) {
    const { json: document, distance } = hits[i]!
    // The document is an object whose last character is its closing brace.
    json += `${i > 0 ? ',' : ''}${document.slice(0, -1)},"distance":${Math.round(distance * 10) / 10}}`
  }
  json += ']'
  if (cursor !== undefined) json += `,"cursor":${JSON.stringify(cursor)}`
  return `${json}}`
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
  const search = async (area: SearchArea, body: { filters?: unknown; limit?: number; cursor?: string }, reply: FastifyReply) => {
    const result = await geosearch(platform.db, area, filtersFrom(body.filters), { limit: body.limit ?? MAX_LIMIT, cursor: body.cursor })
    // Bytes are sent as they are; the schema documents them. A Buffer of the exact size: node would
    // encode a string this large into a fresh buffer of three bytes a character on every write.
    return reply.type('application/json; charset=utf-8').send(Buffer.from(answerJson(result.hits, result.cursor)))
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
        east: Type.Number({ minimum: -180, maximum: 180 }),
        west: Type.Number({ minimum: -180, maximum: 180 }),
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
