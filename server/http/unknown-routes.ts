import type { Middleware } from 'koa'
import { AllAccessError } from '../errors.ts'
import type { MatchedRoute } from './route-table.ts'

/**
 * What no route answered under `/auth` or `/api`: a path a route knows with a method it does not
 * take is `405 method_not_allowed` with `Allow`; anything else `404 not_found`. Never the SPA.
 */
export function unknownRoutes(): Middleware {
  return async (ctx, next) => {
    await next()
    if (ctx.status !== 404 || ctx.body != null) return
    const allowed = [...new Set((ctx.state.route as MatchedRoute | undefined)?.allowed ?? [])]
    if (allowed.length) {
      ctx.set('Allow', allowed.join(', '))
      throw new AllAccessError('method_not_allowed')
    }
    throw new AllAccessError('not_found')
  }
}
