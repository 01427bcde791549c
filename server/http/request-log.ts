import type { Middleware } from 'koa'
import { randomBytes } from 'node:crypto'
import type { Logger } from '../log.ts'

/** A random prefix per process and a counter: unique across instances without random bytes per request. */
const PROCESS_PREFIX = randomBytes(4).toString('hex')
let counter = 0

function nextRequestId(): string {
  counter = (counter + 1) >>> 0
  return PROCESS_PREFIX + counter.toString(16).padStart(8, '0')
}

/**
 * Gives each request an id and logs one line when it ends: method, path without the query string
 * (it may hold a code or state), status, milliseconds, request id.
 */
export function requestLog(log: Logger): Middleware {
  return async (ctx, next) => {
    const started = performance.now()
    const requestId = nextRequestId()
    ctx.state.requestId = requestId
    ctx.set('X-Request-Id', requestId)
    try {
      await next()
    } finally {
      const ms = Math.round(performance.now() - started)
      log.info(`${ctx.method} ${ctx.path} ${ctx.status} ${ms}ms req=${requestId}`, { method: ctx.method, path: ctx.path, status: ctx.status, ms, req: requestId })
    }
  }
}
