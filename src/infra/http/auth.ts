import type { FastifyInstance, FastifyRequest } from 'fastify'
import { OpenpncError } from '../../core/errors.ts'
import type { ApiKeys, Caller, Scope } from '../../services/organizations/api-keys.ts'
import type { Organization } from '../../services/organizations/organizations.ts'

/** Who may call a route: an organization's key or a platform key, holding `scope`. */
export interface RouteAuth {
  audience: 'organization' | 'platform'
  scope: Scope
}

declare module 'fastify' {
  interface FastifyContextConfig {
    auth?: RouteAuth
  }
  interface FastifyRequest {
    caller?: Caller
  }
}

const unauthenticated = (code: string, message: string) => new OpenpncError('unauthenticated', code, message)
const forbidden = (code: string, message: string) => new OpenpncError('forbidden', code, message)

/**
 * Every route registered in `app` must say who may call it; the API key in `X-API-Key` is checked
 * before the body is even read. A route without `config.auth` does not register at all.
 */
export function requireApiKeys(app: FastifyInstance, apiKeys: ApiKeys) {
  app.addHook('onRoute', (route) => {
    if (!route.config?.auth) throw new Error(`route ${route.method} ${route.url} declares no config.auth`)
  })
  app.addHook('onRequest', async (request) => {
    const auth = request.routeOptions.config.auth!
    const presented = request.headers['x-api-key']
    if (typeof presented !== 'string' || presented === '') {
      throw unauthenticated('missing_api_key', 'send your API key in the X-API-Key header')
    }
    const caller = await apiKeys.authenticate(presented)
    if (!caller) throw unauthenticated('invalid_api_key', 'the API key in X-API-Key is unknown or revoked')
    if (auth.audience === 'platform' && caller.kind !== 'platform') {
      throw forbidden('platform_key_required', 'this endpoint needs the platform admin key')
    }
    if (auth.audience === 'organization') {
      if (caller.kind !== 'organization') {
        throw forbidden('organization_key_required', 'this endpoint acts for an organization: use one of its API keys')
      }
      if (!caller.organization.enabled) {
        throw forbidden('organization_disabled', 'this organization is disabled; contact the platform operator')
      }
    }
    if (!caller.scopes.includes(auth.scope)) {
      throw forbidden('missing_scope', `this API key lacks the "${auth.scope}" scope`)
    }
    request.caller = caller
  })
}

/** The calling organization; only on routes with `audience: 'organization'`. */
export function organizationOf(request: FastifyRequest): Organization {
  const caller = request.caller
  if (caller?.kind !== 'organization') throw new Error('route is not an organization route')
  return caller.organization
}
