import type { ParameterizedContext } from 'koa'
import type { ClientOverrides } from './clients/index.ts'
import type { AllAccessHooks } from './hooks.ts'
import type { Logger } from './log.ts'
import type { CookieSettings } from './session/cookies.ts'
import type { ActiveSession, Sessions } from './session/sessions.ts'
import type { Store } from './store/index.ts'
import type { AccountAccessService } from './accounts/account-access.ts'
import type { LoginLimits, LoginRateLimiter, PendingLogins } from './flows/redirect/login-rate-limit.ts'
import type { BffMetrics } from './metrics.ts'
import type { MatchedRoute } from './http/route-table.ts'

/** Everything the routes share, built once by `createAllAccess` (the composition root). */
export interface Runtime {
  store: Store
  sessions: Sessions
  cookies: CookieSettings
  hooks: AllAccessHooks
  clients: ClientOverrides
  publicUrl: URL
  log: Logger
  accounts: AccountAccessService
  proxy: { timeoutMs: number; maxBody: number }
  /** How long a started login may take before its record is void. */
  flowTtlMs: number
  loginLimits: LoginLimits
  loginLimiter: LoginRateLimiter
  pendingLogins: PendingLogins
  metrics: BffMetrics
}

export interface BffState {
  requestId: string
  runtime: Runtime
  session?: ActiveSession
  /** Set by the route table (server/http/route-table.ts). */
  route?: MatchedRoute
}

export type BffContext<T = object> = ParameterizedContext<BffState & T>
