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
