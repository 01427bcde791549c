import type { Context } from 'koa'
import { AllAccessError } from '../errors.ts'
import type { MatchedRoute } from './route-table.ts'

/**
 * The answer to what no route answered under `/auth` or `/api`, or null when a route did: a path a
 * route knows with a method it does not take is `405 method_not_allowed` with `Allow`; anything
 * else `404 not_found`. Never the SPA.
 */
export function unansweredRoute(ctx: Context): AllAccessError | null {
  if (ctx.status !== 404 || ctx.body != null) return null
  const allowed = [...new Set((ctx.state.route as MatchedRoute | undefined)?.allowed ?? [])]
  if (!allowed.length) return new AllAccessError('not_found')
  ctx.set('Allow', allowed.join(', '))
  return new AllAccessError('method_not_allowed')
}
