import type { Middleware } from 'koa'
import { AllAccessError } from '../errors.ts'
import { answerError } from './answer-errors.ts'
import { setSecurityHeaders } from './security-headers.ts'
import type { BffMetrics } from '../metrics.ts'
import type { Store } from '../store/index.ts'
import { withTimeout } from '../time-limit.ts'

/** How long `/readyz` waits for the database before calling it away. */
const READY_TIMEOUT_MS = 2000

export const OPERATIONS_ROUTES = ['/healthz', '/readyz', '/metrics'] as const

/**
 * `GET /healthz` (liveness: the process answers, no database), `GET /readyz` (the database answers
 * `SELECT 1`; else 503 `service_unavailable`) and `GET /metrics` (Prometheus text). Anything else
 * passes on. Whoever reaches these reads the BFF's traffic figures: expose them only to operators.
 */
export function operations(options: { store: Store; metrics: BffMetrics }): Middleware {
  const { store, metrics } = options
  // Not async: every request passes here, and the others go on without a promise of this step's.
  return (ctx, next) => {
    const path = ctx.path
    const route = OPERATIONS_ROUTES.find((known) => known === path)
    return route ? answer(ctx, route) : next()
  }

  async function answer(ctx: Parameters<Middleware>[0], route: (typeof OPERATIONS_ROUTES)[number]): Promise<void> {
    const started = performance.now()
    setSecurityHeaders(ctx)
    try {
      if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
        ctx.set('Allow', 'GET, HEAD')
        answerError(ctx, new AllAccessError('method_not_allowed'))
      } else if (route === '/healthz') {
        ctx.body = { status: 'live' }
      } else if (route === '/readyz') {
        if (await databaseAnswers(store)) ctx.body = { status: 'ready' }
        else answerError(ctx, new AllAccessError('service_unavailable'))
      } else {
        ctx.type = metrics.contentType
        ctx.body = await metrics.scrape()
      }
    } finally {
      metrics.requestEnded(route, ctx.method, ctx.status, (performance.now() - started) / 1000)
    }
  }
}

function databaseAnswers(store: Store): Promise<boolean> {
  return withTimeout(Promise.resolve(store.db.raw('SELECT 1')), READY_TIMEOUT_MS).then(
    () => true,
    () => false,
  )
}
