import type { Context } from 'koa'
import { setHeader } from './response-headers.ts'

/** `/auth` and `/api` answers are never cached; nothing is content-sniffed. */
export function setSecurityHeaders(ctx: Context): void {
  setHeader(ctx, 'Cache-Control', 'no-store')
  setHeader(ctx, 'X-Content-Type-Options', 'nosniff')
}
