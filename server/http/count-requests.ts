import type { Context, Middleware } from 'koa'
import type { BffMetrics } from '../metrics.ts'
import type { MatchedRoute } from './route-table.ts'

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

/** The route the route table matched (for a path it knows with another method, that path's), or `unmatched`. */
export function matchedRoute(ctx: Context): string {
  return (ctx.state.route as MatchedRoute | undefined)?.label ?? 'unmatched'
}
