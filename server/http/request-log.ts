import type { Middleware } from 'koa'
import { randomBytes } from 'node:crypto'
import type { Logger } from '../log.ts'

/**
 * Gives each request an id and logs one line when it ends: method, path without the query string
 * (it may hold a code or state), status, milliseconds, request id.
 */
export function requestLog(log: Logger): Middleware {
  return async (ctx, next) => {
    const started = performance.now()
    const requestId = randomBytes(8).toString('hex')
    ctx.state.requestId = requestId
    ctx.set('X-Request-Id', requestId)
    try {
      await next()
    } finally {
      const ms = Math.round(performance.now() - started)
      log.info(`${ctx.method} ${ctx.path} ${ctx.status} ${ms}ms req=${requestId}`)
    }
  }
}
