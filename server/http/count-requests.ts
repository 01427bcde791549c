import type { Context, Middleware } from 'koa'
import type { BffMetrics } from '../metrics.ts'

/** A request's route as its template (`/api/:provider`), never the path asked for: paths carry ids. */
export type RouteOf = (ctx: Context) => string

/** Counts each answered request by route template, method and status, and times it. */
export function countRequests(metrics: BffMetrics, routeOf: RouteOf): Middleware {
  return async (ctx, next) => {
    const started = performance.now()
    try {
      await next()
    } finally {
      metrics.requestEnded(routeOf(ctx), ctx.method, ctx.status, (performance.now() - started) / 1000)
    }
  }
}

/** The template of the first route whose path matches (any method: a 405 still names its route), or `unmatched`. */
export function routeTemplate(layers: { name?: string; path: string | RegExp }[]): string {
  const [layer] = layers
  if (!layer) return 'unmatched'
  return layer.name ?? (typeof layer.path === 'string' ? layer.path : 'unmatched')
}

/**
 * The route the router matched, read from what it left on the context (no second matching pass on
 * every request); for a path it knows with another method, its first layer; else `unmatched`.
 */
export function matchedRoute(ctx: Context): string {
  const routed = ctx as Context & { _matchedRouteName?: string; _matchedRoute?: string | RegExp; matched?: { name?: string; path: string | RegExp }[] }
  if (routed._matchedRouteName) return routed._matchedRouteName
  if (typeof routed._matchedRoute === 'string') return routed._matchedRoute
  return routeTemplate(routed.matched ?? [])
}
