import type { Context } from 'koa'

/** `/auth` and `/api` answers are never cached; nothing is content-sniffed. */
export function setSecurityHeaders(ctx: Context): void {
  ctx.set('Cache-Control', 'no-store')
  ctx.set('X-Content-Type-Options', 'nosniff')
}
