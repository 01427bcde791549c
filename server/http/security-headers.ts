import type { Context } from 'koa'
import { setHeader } from './response-headers.ts'

/** BFF and operations answers (`/auth`, `/api`, `/healthz`, `/readyz`, `/metrics`) are never cached; nothing is content-sniffed. */
export function setSecurityHeaders(ctx: Context): void {
  setHeader(ctx, 'Cache-Control', 'no-store')
  setHeader(ctx, 'X-Content-Type-Options', 'nosniff')
}
