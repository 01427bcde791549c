import type { Middleware } from 'koa'

/** `/auth` and `/api` answers are never cached; nothing is content-sniffed. */
export function securityHeaders(): Middleware {
  return async (ctx, next) => {
    ctx.set('X-Content-Type-Options', 'nosniff')
    ctx.set('Cache-Control', 'no-store')
    try {
      await next()
    } finally {
      // Middleware that answers (a redirect, a stream) may have set its own; no-store wins here.
      ctx.set('Cache-Control', 'no-store')
      ctx.set('X-Content-Type-Options', 'nosniff')
    }
  }
}
