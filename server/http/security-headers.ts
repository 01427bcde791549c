import type { Middleware } from 'koa'

/** `/auth` and `/api` answers are never cached; nothing is content-sniffed. */
export function securityHeaders(): Middleware {
  return async (ctx, next) => {
    try {
      await next()
    } finally {
      // Set last, so that no step (a redirect, a stream, an error answer) can leave its own in place.
      ctx.set('Cache-Control', 'no-store')
      ctx.set('X-Content-Type-Options', 'nosniff')
    }
  }
}
