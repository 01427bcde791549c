import type { Context, Middleware } from 'koa'
import type { Logger } from '../log.ts'
import type { BffMetrics } from '../metrics.ts'
import { answerAbandoned, RequestAbandonedError } from './abandoned-request.ts'
import { answerError, toAllAccessError } from './answer-errors.ts'
import { beginRequest, logRequest } from './request-log.ts'
import { pipeAnswer } from './piped-answer.ts'
import { matchedRoute } from './route-table.ts'
import { setSecurityHeaders } from './security-headers.ts'
import { unansweredRoute } from './unknown-routes.ts'
import { readRestOfBodyAfterAnswer } from './unread-body.ts'

/**
 * What every `/auth` and `/api` request goes through around its route: an id and a log line, a
 * count in the metrics, the contract's error answer (`{"error","message"}`) for whatever the route
 * threw, `404`/`405` for what no route answered, and the security headers, set last so that no
 * answer can leave its own in place. One step rather than six middleware: each was an async
 * function with its promise and microtask turns, a fifth of a session read's CPU time. With
 * `pipeDirectly`, a streamed body is then sent at once ({@link pipeAnswer}), not by Koa.
 */
export function bffRequest(log: Logger, metrics: BffMetrics, route: (ctx: Context) => Promise<void>, pipeDirectly = false): Middleware {
  return async (ctx) => {
    const started = beginRequest(ctx)
    try {
      await route(ctx)
      const unanswered = unansweredRoute(ctx)
      if (unanswered) throw unanswered
    } catch (thrown) {
      if (thrown instanceof RequestAbandonedError) answerAbandoned(ctx, thrown, log)
      else answerError(ctx, toAllAccessError(thrown, log, ctx.state.requestId))
    } finally {
      setSecurityHeaders(ctx)
      // Answered before its body arrived whole (a 413 mid-upload, a refusal that never read it).
      readRestOfBodyAfterAnswer(ctx)
      if (pipeDirectly) pipeAnswer(ctx)
      metrics.requestEnded(matchedRoute(ctx.state), ctx.method, ctx.status, (performance.now() - started) / 1000)
      logRequest(log, ctx, started)
    }
  }
}
