import type { Middleware } from 'koa'
import type { ProviderConfig } from '../shared/provider.ts'
import { isBffPath } from '../shared/routes.ts'
import { AccountAccessService, DEFAULT_REFRESH_SETTINGS, type AccountAccess, type RefreshSettings } from './accounts/account-access.ts'
import type { ClientOverrides } from './clients/index.ts'
import type { RootKey } from './crypto/keys.ts'
import { backchannelLogout } from './flows/backchannel-logout/index.ts'
import { loginCallback } from './flows/callback/index.ts'
import { loginRedirect } from './flows/redirect/index.ts'
import { DEFAULT_LOGIN_LIMITS, LoginRateLimiter, PendingLogins, type LoginLimits } from './flows/redirect/login-rate-limit.ts'
import { appHooks, callbackUrlOf, type AllAccessHooks } from './hooks.ts'
import { bffRequest } from './http/bff-request.ts'
import { RouteTable } from './http/route-table.ts'
import { requireCsrf } from './http/csrf.ts'
import { operations } from './http/operations.ts'
import { consoleLogger, withLinesCut, type Logger } from './log.ts'
import { BffMetrics } from './metrics.ts'
import { proxyRoute } from './proxy/index.ts'
import { proxyRefusalsOnly } from './proxy/refusals.ts'
import { disconnectAccount } from './routes/accounts.ts'
import { formPostCallback } from './routes/form-post-callback.ts'
import { listProviders } from './routes/providers.ts'
import { logout, readSession } from './routes/session.ts'
import type { Runtime } from './runtime.ts'
import { signedTwinOfBffCookie } from './session/cookies.ts'
import { DEFAULT_SESSION_TIMEOUTS, Sessions, type SessionTimeouts } from './session/sessions.ts'
import { DEFAULT_CACHE_MS, migrate, openStore, refusePendingMigrations, type Store } from './store/index.ts'
import { checkKeysCoverStore } from './store/key-rotation.ts'
import { publicUrlProblem } from './config.ts'
import { LONGEST_TIMER_MS } from './time-limit.ts'

// Each option left `undefined` is the default, as if left out (`log: verbose ? logger : undefined`, with
// exactOptionalPropertyTypes too), inside session, refresh and loginLimits as well.
export interface AllAccessOptions {
  /** The app's external origin; callback URLs and cookie security derive from it. */
  publicUrl: string | URL
  /** An open store, or where to open one (`DATABASE_URL` syntax) and the keys. */
  store?: Store | undefined
  databaseUrl?: string | undefined
  keys?: RootKey[] | undefined
  /** PostgreSQL connections of the store it opens (`ALLACCESS_DB_POOL_MAX`). */
  pool?: { max?: number | undefined } | undefined
  /** Each hook left out, or `undefined` (`onLogin: enabled ? fn : undefined`), is the default's. */
  hooks?: { [Name in keyof AllAccessHooks]?: AllAccessHooks[Name] | undefined } | undefined
  /** Client classes by provider name, to adapt one provider's protocol details. */
  clients?: ClientOverrides | undefined
  session?: OrUndefined<SessionTimeouts> | undefined
  /**
   * `pipeDirectly`: the BFF sends a proxied body itself, as soon as its route ends, instead of
   * leaving it to Koa's response step, whose `stream.pipeline` cost a third of a proxied call's CPU
   * time on Node 20. Middleware around `middleware` can then no longer rewrite a proxied body
   * (compression, say), so it is off by default; `all-access serve`, which has none, turns it on.
   */
  proxy?: { timeoutMs?: number | undefined; maxBody?: number | undefined; pipeDirectly?: boolean | undefined } | undefined
  refresh?: OrUndefined<RefreshSettings> | undefined
  /** `account.apiClient`: the largest answer it reads (bytes; default 10 MiB). */
  apiClient?: { maxBody?: number | undefined } | undefined
  /** How long a started login stays valid; default 10 minutes. */
  flowTtlMs?: number | undefined
  /** Login starts per client address and minute (0: no limit), and logins pending at once. */
  loginLimits?: OrUndefined<LoginLimits> | undefined
  log?: Logger | undefined
  /** Apply migrations before answering (default true); `false`: refuse to start while any is pending. */
  migrate?: boolean | undefined
  /**
   * How often ended sessions, abandoned login flows, logout tokens too old to replay and logged-out
   * `sid`s no login can still carry are deleted (default 10 minutes; 0: never, for a host that
   * calls `cleanUp` itself, from a scheduled job say).
   */
  cleanUpEveryMs?: number | undefined
}

/** Expired rows go this often unless `cleanUpEveryMs` says otherwise. */
export const CLEAN_UP_EVERY_MS = 10 * 60 * 1000

export interface AllAccess {
  /** Koa middleware answering `/auth/*` and `/api/*`; everything else passes through. */
  middleware: Middleware
  /**
   * Koa middleware answering `GET /healthz` (liveness), `GET /readyz` (the database answers) and
   * `GET /metrics` (Prometheus text); everything else passes through. Mount it where only
   * operators reach it.
   */
  operations: Middleware
  /** This BFF's metrics; `metrics.registry` is a prom-client registry, for `Registry.merge`. */
  metrics: BffMetrics
  store: Store
  runtime: Runtime
  /** An account with its API client, for host code (django's `AccountAccess.api_client`). */
  accountFor(userId: number | string, provider: string): Promise<AccountAccess | null>
  /**
   * Deletes ended sessions, abandoned login flows, logout tokens too old to replay and the logged-out
   * `sid`s and `sub`s no login can still carry; returns how many rows went.
   */
  cleanUp(): Promise<{ sessions: number; loginFlows: number; logoutTokens: number; endedSignIns: number }>
  close(): Promise<void>
}

/**
 * The numeric options, checked before anything opens. NaN (what `Number()` makes of an unset
 * variable) compares false with every limit, so a cap of NaN is no cap; a time past the longest
 * timer fires at once, so every proxied call would time out.
 */
function checkNumbers(options: AllAccessOptions): void {
  const { proxy, apiClient, refresh, session, loginLimits } = options
  const most = Number.MAX_SAFE_INTEGER
  // A session's or login's end is a date: far past a century it leaves the range a Date holds
  // (every session read failed on it), however "never" the caller meant it.
  const century = 100 * 365 * 24 * 60 * 60 * 1000
  const numbers: [string, number | undefined, number, number][] = [
    ['proxy.timeoutMs', proxy?.timeoutMs, 1, LONGEST_TIMER_MS],
    ['proxy.maxBody', proxy?.maxBody, 0, most],
    ['apiClient.maxBody', apiClient?.maxBody, 1, most],
    ['refresh.leaseMs', refresh?.leaseMs, 1, LONGEST_TIMER_MS],
    ['refresh.waitMs', refresh?.waitMs, 0, LONGEST_TIMER_MS],
    ['session.idleMs', session?.idleMs, 1, century],
    ['session.absoluteMs', session?.absoluteMs, 1, century],
    ['flowTtlMs', options.flowTtlMs, 1, century],
    ['loginLimits.perAddressPerMinute', loginLimits?.perAddressPerMinute, 0, most],
    ['loginLimits.maxPendingLogins', loginLimits?.maxPendingLogins, 1, most],
    ['cleanUpEveryMs', options.cleanUpEveryMs, 0, LONGEST_TIMER_MS],
  ]
  for (const [name, value, min, max] of numbers) {
    if (value !== undefined && !(Number.isSafeInteger(value) && value >= min && value <= max)) {
      throw new TypeError(`createAllAccess: ${name} must be a whole number from ${min} to ${max}, not ${value}`)
    }
  }
}

/** Each setting optional, and `undefined` as good as left out. */
type OrUndefined<T> = { [Name in keyof T]?: T[Name] | undefined }

/**
 * The defaults with the settings given over them. Not a spread: a setting given as `undefined`
 * (`idleMs: env.IDLE_MS ? Number(env.IDLE_MS) : undefined`) replaced its default, and a session end
 * of NaN failed every login, a login limit of NaN limited nothing.
 */
function overDefaults<T extends object>(defaults: T, given: OrUndefined<T> | undefined): T {
  const settings = { ...defaults }
  for (const [name, value] of Object.entries(given ?? {})) if (value !== undefined) (settings as Record<string, unknown>)[name] = value
  return settings
}

/** Builds the BFF: the composition root of routes, store, sessions and hooks. */
export async function createAllAccess(options: AllAccessOptions): Promise<AllAccess> {
  const publicUrl = new URL(options.publicUrl)
  const problem = publicUrlProblem(publicUrl)
  if (problem) throw new TypeError(`createAllAccess: publicUrl ${problem}`)
  checkNumbers(options)
  const ownsStore = !options.store
  let store = options.store
  if (!store) {
    if (!options.databaseUrl || !options.keys) throw new TypeError('createAllAccess needs either `store` or both `databaseUrl` and `keys`')
    store = openStore({ databaseUrl: options.databaseUrl, keys: options.keys, pool: options.pool, cacheMs: DEFAULT_CACHE_MS })
  }
  try {
    if (options.migrate !== false) await migrate(store.db)
    else await refusePendingMigrations(store.db)
    await checkKeysCoverStore(store.db, store.box)
  } catch (error) {
    if (ownsStore) await store.close().catch(() => {})
    throw error
  }
  const log = withLinesCut(options.log ?? consoleLogger)
  const cookies = { secure: publicUrl.protocol === 'https:' }
  const clients = options.clients ?? {}
  const loginLimits = overDefaults(DEFAULT_LOGIN_LIMITS, options.loginLimits)
  const metrics = new BffMetrics(store)
  const hooks = appHooks(options.hooks)
  const callbackUrl = (provider: ProviderConfig) => callbackUrlOf(hooks, provider, publicUrl)
  const runtime: Runtime = {
    store,
    cookies,
    sessions: new Sessions(store.sessions, cookies, overDefaults(DEFAULT_SESSION_TIMEOUTS, options.session)),
    hooks,
    clients,
    publicUrl,
    log,
    accounts: new AccountAccessService(store, clients, log, overDefaults(DEFAULT_REFRESH_SETTINGS, options.refresh), options.apiClient?.maxBody, metrics, callbackUrl),
    proxy: { timeoutMs: options.proxy?.timeoutMs ?? 30_000, maxBody: options.proxy?.maxBody ?? 10 * 1024 * 1024 },
    flowTtlMs: options.flowTtlMs ?? 10 * 60 * 1000,
    loginLimits,
    loginLimiter: new LoginRateLimiter(loginLimits.perAddressPerMinute),
    pendingLogins: new PendingLogins(() => store.loginFlows.countPending(), loginLimits.maxPendingLogins),
    metrics,
  }

  const csrf = requireCsrf(publicUrl.origin)
  const router = new RouteTable()
    .add('GET', '/auth/providers', [], listProviders)
    .add('GET', '/auth/login/:provider', [], loginRedirect)
    .add('GET', '/auth/callback/:provider', [], loginCallback)
    // Providers answering with the form_post response mode (Apple) post the callback.
    .add('POST', '/auth/callback/:provider', [], formPostCallback)
    .add('GET', '/auth/session', [csrf], readSession)
    .add('POST', '/auth/logout', [csrf], logout)
    // Called by the OpenID provider, server to server: no browser, so no CSRF header.
    .add('POST', '/auth/backchannel-logout/:provider', [], backchannelLogout)
    .add('DELETE', '/auth/accounts/:provider', [csrf], disconnectAccount)
    // Any method: the proxy refuses those it does not forward itself. The label is the metrics'.
    .any('/api/:provider', /^\/api\/([^/]+)(?:\/(.*))?$/, [csrf], proxyRefusalsOnly, proxyRoute)

  let cookieCollisionLogged = false
  // The end of the line: what no route answered is bffRequest's to answer, never the host app's.
  const unanswered = async () => {}
  const answer = bffRequest(log, metrics, async (ctx) => {
    ctx.state.runtime = runtime
    // ctx.state is the host app's too: what its middleware put under the names the BFF's steps read
    // (a session of its own, above all) must not be taken for theirs. Only the BFF's cookie names a
    // session here, and only its steps fill the rest.
    ctx.state.session = undefined
    ctx.state.route = undefined
    ctx.state.login = undefined
    ctx.state.logout = undefined
    // Matched before the session is read: a request that fails there (the database away) is still
    // counted under its route, not as `unmatched`.
    const route = router.match(ctx)
    try {
      await runtime.sessions.load(ctx)
      if (!ctx.state.session && !cookieCollisionLogged) {
        const twin = signedTwinOfBffCookie(ctx.req.headers.cookie, cookies)
        // Once: any client can send such a cookie, and the host's fix is one change of name.
        if (twin) {
          cookieCollisionLogged = true
          log.error(`error req=${ctx.state.requestId} a request carries the cookie ${twin}: another middleware (koa-session keyed with the BFF's cookie name?) writes signed cookies under the BFF's name, which replaces its session and signs users out; give that cookie another name`)
        }
      }
      await router.run(ctx, route, unanswered)
    } finally {
      // The runtime's caches (providers' decrypted client secrets), a login's tokens and PKCE
      // verifier, a logout's client: a host middleware around this one that prints ctx.state after
      // `await next()` must not find them. What runs on past the answer (a streamed body) took what
      // it needs before.
      ctx.state.runtime = undefined
      ctx.state.login = undefined
      ctx.state.logout = undefined
    }
  }, options.proxy?.pipeDirectly)
  const middleware: Middleware = (ctx, next) => (isBffPath(ctx.path) ? answer(ctx, next) : next())

  const cleanUp = async () => {
    const [sessions, loginFlows, logoutTokens, endedSignIns] = await Promise.all([
      store.sessions.removeExpired(),
      store.loginFlows.removeExpired(),
      store.logoutTokens.removeExpired(),
      store.endedSignIns.removeExpired(),
    ])
    return { sessions, loginFlows, logoutTokens, endedSignIns }
  }
  // Every BFF, mounted in a host's app as well as under `serve`: without it every session that ever
  // began stayed in the database. Unref'd, so that it keeps no script alive; close() stops it.
  let cleaning: Promise<unknown> = Promise.resolve()
  const everyMs = options.cleanUpEveryMs ?? CLEAN_UP_EVERY_MS
  const cleanUpTimer = everyMs > 0 ? setInterval(() => (cleaning = cleanUp().catch((error: Error) => log.error(`error clean-up failed: ${error.message}`))), everyMs).unref() : undefined

  return {
    middleware,
    operations: operations({ store, metrics }),
    metrics,
    store,
    runtime,
    accountFor: (userId, provider) => runtime.accounts.forUser(Number(userId), provider),
    cleanUp,
    close: async () => {
      clearInterval(cleanUpTimer)
      // A clean-up under way ends before the pool it uses closes, as does a token refresh.
      await cleaning
      await runtime.accounts.close()
      metrics.close()
      if (ownsStore) await store.close()
    },
  }
}
