import type { Middleware } from 'koa'
import { CSRF_HEADER, CSRF_VALUE } from '../../shared/routes.ts'
import { AllAccessError } from '../errors.ts'

/**
 * The BFF's CSRF defence: a custom header, which a cross-site form or image cannot send and a
 * cross-origin fetch can only send after a CORS preflight that this BFF never grants; and an
 * `Origin`, when the browser sends one, that must be the app's own.
 */
export function requireCsrf(publicOrigin: string): Middleware {
  // Not async: a check that passes hands on the route's own promise rather than wrapping it in another.
  return (ctx, next) => {
    const origin = ctx.get('Origin')
    if (origin && origin !== publicOrigin) throw new AllAccessError('origin_not_allowed')
    if (ctx.get(CSRF_HEADER) !== CSRF_VALUE) throw new AllAccessError('csrf_required')
    return next()
  }
}
