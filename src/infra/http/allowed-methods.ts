/**
 * Which methods a path has, from the routes as they are registered: a known path asked with
 * another method is a 405 naming them (`Allow`), not a 404. Fed by an `onRoute` hook, so every
 * route, present or future, takes part.
 */
export class RouteMethods {
  readonly #routes: Array<{ pattern: RegExp; methods: string[] }> = []

  add(methods: string | string[], url: string) {
    const list = Array.isArray(methods) ? methods : [methods]
    const source = normalizePath(url)
      .split('/')
      .map((segment) => (segment === '*' ? '.*' : segment.startsWith(':') ? '[^/]+' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/')
    this.#routes.push({ pattern: new RegExp(`^${source}$`), methods: list })
  }

  /** The methods served at this path (as requested, without the query), GET bringing HEAD. */
  allowed(path: string): string[] {
    const normalized = normalizePath(path)
    const methods = new Set<string>()
    for (const route of this.#routes) if (route.pattern.test(normalized)) for (const m of route.methods) methods.add(m)
    if (methods.has('GET')) methods.add('HEAD')
    return [...methods].sort()
  }
}

/** Duplicate and trailing slashes do not change a path, as the router is configured. */
function normalizePath(path: string): string {
  const collapsed = path.replace(/\/{2,}/g, '/')
  return collapsed.length > 1 && collapsed.endsWith('/') ? collapsed.slice(0, -1) : collapsed
}
