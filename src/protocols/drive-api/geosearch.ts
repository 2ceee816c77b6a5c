import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from '@sinclair/typebox'
import type { FastifyReply } from 'fastify'
import { OpenpncError, invalid } from '../../core/errors.ts'
import { ErrorResponse } from '../../infra/http/errors.ts'
import { geosearch, type SearchArea } from '../../services/locations/geosearch.ts'
import { CONNECTOR_TYPES, EVSE_STATUSES, FILTER_CAPABILITIES, validateFilters } from '../../core/locations/index.ts'
import type { Platform } from '../../platform.ts'
import { GeosearchAnswer, GeosearchAnswerWriter } from './geosearch-answer.ts'
import { DRIVE_API as R } from './routes.ts'

export { GeosearchAnswer }

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
  const answers = new GeosearchAnswerWriter()
  const search = async (area: SearchArea, body: { filters?: unknown; limit?: number; cursor?: string }, reply: FastifyReply) => {
    const page = await geosearch(platform, area, filtersFrom(body.filters), { limit: body.limit ?? MAX_LIMIT, cursor: body.cursor })
    // The one place the answer's bytes are written: the reply's serializer, in the response schema's
    // shape. Fastify's types say a serializer returns a string; a Buffer it returns is sent as is.
    const serializer = answers.serializerFor(reply) as unknown as (payload: unknown) => string
    return reply.type('application/json; charset=utf-8').serializer(serializer).send(page)
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
