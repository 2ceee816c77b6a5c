import type { SwaggerTransform } from '@fastify/swagger'
import type { HTTPMethods } from 'fastify'
import type { Scope } from '../../services/organizations/api-keys.ts'
import type { RouteAuth } from './auth.ts'
import { commonErrorCodes, errorResponses, type ErrorCode } from './error-codes.ts'

export interface RouteSpec {
  method: HTTPMethods
  url: string
  auth: RouteAuth
  summary: string
  tag: string
  /** The codes this operation's own logic answers with, beyond those of its shape (commonErrorCodes). */
  errors?: readonly ErrorCode[]
  /** A request body (when the operation takes one) and the success answer to it, for the documentation. */
  example?: { request?: unknown; response?: unknown }
  /** The answer carries a secret shown once (an API key, a token): never stored in clear. */
  secretBearing?: true
}

/**
 * Builds a protocol's route table: each operation once, with its method, path, who may call it,
 * the error codes it answers with and an example. The server registers from it, a test holds the
 * server to it, and the OpenAPI document describes each operation's errors and examples from it.
 */
export function routeTable<T extends Record<string, RouteSpec>>(table: T) {
  const entries = Object.entries(table).map(([operationId, spec]) => {
    // Its own codes first: they are what a reader of this operation looks for.
    const errorCodes = [...(spec.errors ?? []), ...commonErrorCodes(spec)]
    return [
      operationId,
      {
        ...spec,
        /** Every code the operation answers with: its shape's and its own. */
        errorCodes,
        /** Spread into `app.route({...})`. */
        route: {
          method: spec.method,
          url: spec.url,
          config: {
            auth: spec.auth,
            secretBearing: spec.secretBearing === true,
            swaggerTransform: documentOperation(errorCodes, spec.example),
          },
        },
        /** Spread into the route's `schema`. */
        doc: {
          operationId,
          summary: spec.summary,
          tags: [spec.tag],
          security: [{ [spec.auth.audience === 'platform' ? 'adminApiKey' : 'apiKey']: [] }],
        },
      },
    ]
  })
  return Object.fromEntries(entries) as {
    [K in keyof T]: T[K] & {
      errorCodes: ErrorCode[]
      route: { method: HTTPMethods; url: string; config: { auth: RouteAuth; secretBearing: boolean; swaggerTransform: SwaggerTransform } }
      doc: { operationId: string; summary: string; tags: string[]; security: Array<Record<string, string[]>> }
    }
  }
}

/**
 * The operation as documented: its generic 4xx/5xx error schema replaced by one response per
 * status with the codes of the route table, and its example attached to the body and to the
 * success response. Only the document changes; validation and serialization keep the route's schema.
 */
function documentOperation(codes: readonly ErrorCode[], example: RouteSpec['example']): SwaggerTransform {
  return ({ schema, url }) => {
    const response: Record<string, unknown> = {}
    for (const [status, answer] of Object.entries((schema.response ?? {}) as Record<string, object>)) {
      if (/^[45]xx$/i.test(status)) continue
      response[status] = example?.response !== undefined && /^2\d\d$/.test(status) ? { ...answer, examples: [example.response] } : answer
    }
    Object.assign(response, errorResponses(codes))
    const body = schema.body && example?.request !== undefined ? { ...(schema.body as object), examples: [example.request] } : schema.body
    return { url, schema: { ...schema, ...(body !== undefined && { body }), response } }
  }
}

export const org = (scope: Scope): RouteAuth => ({ audience: 'organization', scope })
export const platform: RouteAuth = { audience: 'platform', scope: 'admin' }
