import type { Context, Middleware } from 'koa'
import { randomBytes } from 'node:crypto'
import type { Logger } from '../log.ts'
import { setHeader } from './response-headers.ts'

/** A random prefix per process and a counter: unique across instances without random bytes per request. */
const PROCESS_PREFIX = randomBytes(4).toString('hex')
let counter = 0

function nextRequestId(): string {
  counter = (counter + 1) >>> 0
  return PROCESS_PREFIX + counter.toString(16).padStart(8, '0')
}

/** Gives the request its id (`ctx.state.requestId`, `X-Request-Id`); returns when it began, for {@link logRequest}. */
export function beginRequest(ctx: Context): number {
  const requestId = nextRequestId()
  ctx.state.requestId = requestId
  setHeader(ctx, 'X-Request-Id', requestId)
  return performance.now()
}

/** The request's one log line: method, path without the query string (it may hold a code or state), status, milliseconds, request id. */
export function logRequest(log: Logger, ctx: Context, started: number): void {
  const ms = Math.round(performance.now() - started)
  const { method, path, status } = ctx
  const req = ctx.state.requestId as string
  log.info(`${method} ${path} ${status} ${ms}ms req=${req}`, { method, path, status, ms, req })
}

/** Gives each request an id and logs one line when it ends (see {@link beginRequest} and {@link logRequest}). */
export function requestLog(log: Logger): Middleware {
  return async (ctx, next) => {
    const started = beginRequest(ctx)
    try {
      await next()
    } finally {
      logRequest(log, ctx, started)
    }
  }
}
