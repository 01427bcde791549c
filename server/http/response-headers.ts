import type { Context } from 'koa'

/**
 * `ctx.set(name, value)` for a string value, without its cost: Koa 3's `set` builds arrays and a
 * closure on every call, and each BFF answer sets four headers of its own. Like `ctx.set`, it does
 * nothing once the headers are sent.
 */
export function setHeader(ctx: Context, name: string, value: string): void {
  if (!ctx.res.headersSent) ctx.res.setHeader(name, value)
}
