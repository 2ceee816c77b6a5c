import type { HTTPMethods } from 'fastify'
import type { Scope } from '../organizations/api-keys.ts'
import type { RouteAuth } from './auth.ts'

export interface RouteSpec {
  method: HTTPMethods
  url: string
  auth: RouteAuth
  summary: string
  tag: string
  /** The answer carries a secret shown once (an API key, a token): never stored in clear. */
  secretBearing?: true
}

/**
 * Builds a protocol's route table: each operation once, with its method, path and who may call
 * it. The server registers from it and a test holds the server to it.
 */
export function routeTable<T extends Record<string, RouteSpec>>(table: T) {
  const entries = Object.entries(table).map(([operationId, spec]) => [
    operationId,
    {
      ...spec,
      /** Spread into `app.route({...})`. */
      route: { method: spec.method, url: spec.url, config: { auth: spec.auth, secretBearing: spec.secretBearing === true } },
      /** Spread into the route's `schema`. */
      doc: {
        operationId,
        summary: spec.summary,
        tags: [spec.tag],
        security: [{ [spec.auth.audience === 'platform' ? 'adminApiKey' : 'apiKey']: [] }],
      },
    },
  ])
  return Object.fromEntries(entries) as {
    [K in keyof T]: T[K] & {
      route: { method: HTTPMethods; url: string; config: { auth: RouteAuth; secretBearing: boolean } }
      doc: { operationId: string; summary: string; tags: string[]; security: Array<Record<string, string[]>> }
    }
  }
}

export const org = (scope: Scope): RouteAuth => ({ audience: 'organization', scope })
export const platform: RouteAuth = { audience: 'platform', scope: 'admin' }
