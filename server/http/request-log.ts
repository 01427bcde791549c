import type { Context, Middleware } from 'koa'
import { randomBytes } from 'node:crypto'
import { STATUS_CODES } from 'node:http'
import { cutText } from '../cut-text.ts'
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

/**
 * The request's one log line: method, path without the query string (it may hold a code or state),
 * status, milliseconds, request id. The path is the client's, cut to a few hundred characters.
 */
export function logRequest(log: Logger, ctx: Context, started: number, status = ctx.status): void {
  const ms = Math.round(performance.now() - started)
  const { method } = ctx
  const path = cutText(ctx.path)
  const req = ctx.state.requestId as string
  log.info(`${method} ${path} ${status} ${ms}ms req=${req}`, { method, path, status, ms, req })
}

/** Gives each request an id and logs one line when it ends (see {@link beginRequest} and {@link logRequest}). */
export function requestLog(log: Logger): Middleware {
  return async (ctx, next) => {
    const started = beginRequest(ctx)
    let status: number | undefined
    try {
      await next()
    } catch (error) {
      status = statusAnswered(ctx, error)
      throw error
    } finally {
      logRequest(log, ctx, started, status)
    }
  }
}

/** The status Koa answers for an error a later step threw (its `ctx.onerror`), not the 404 it starts with. */
function statusAnswered(ctx: Context, error: unknown): number {
  if (ctx.headerSent) return ctx.status
  const { status, statusCode, code } = (error ?? {}) as { status?: unknown; statusCode?: unknown; code?: unknown }
  const answered = code === 'ENOENT' ? 404 : (status ?? statusCode)
  return typeof answered === 'number' && STATUS_CODES[answered] ? answered : 500
}
