import type { Next } from 'koa'
import type { ErrorCode } from '../../shared/errors.ts'
import { AllAccessError } from '../errors.ts'
import { defaultHooks, hookAnswerInWords } from '../hooks.ts'
import { toAllAccessError } from '../http/answer-errors.ts'
import { isDatabaseUnavailable } from '../http/database-down.ts'
import { errorLine } from '../log.ts'
import { clearCookie, FLOW_COOKIE } from '../session/cookies.ts'
import type { LoginContext } from './login-state.ts'
import { answerPopup } from './popup-page.ts'

/**
 * Login failures are navigations, so they answer with a redirect carrying `auth_error` (a popup
 * login's, with the popup page), never JSON or a stack trace. An unknown provider stays a 404 (the
 * route itself does not exist), a login start over its rate limit a 429 with `Retry-After`, and one
 * another site's page made without navigating a 403 (cross-site-start.ts).
 */
export const redirectOnFailure = failureRedirect(false)

/**
 * The login start's: as {@link redirectOnFailure}, but with the database away it answers the
 * contract's `503 service_unavailable` for any route, as its row names no redirect for it (a popup
 * login's with the popup page, carrying that code, so the opener learns of it). The callback's row
 * does: every failure there is a redirect.
 */
export const redirectOnStartFailure = failureRedirect(true)

function failureRedirect(databaseDownAsJson: boolean) {
  return async (ctx: LoginContext, next: Next): Promise<void> => {
    try {
      await next()
    } catch (thrown) {
      // These answer as JSON, from the error middleware: the route or the attempt itself is refused.
      if (thrown instanceof AllAccessError && (thrown.code === 'unknown_provider' || thrown.code === 'rate_limited' || thrown.code === 'origin_not_allowed')) throw thrown
      // A raw database error only: a provider's failure (an AllAccessError, maybe caused by a refused
      // connection) stays a redirect.
      if (databaseDownAsJson && !(thrown instanceof AllAccessError) && isDatabaseUnavailable(thrown)) {
        if (!ctx.state.login?.popup) throw thrown
        // A popup's page still tells the page that opened it, which would otherwise wait for it.
        answerFailure(ctx, thrown)
        ctx.status = 503
        return
      }
      answerFailure(ctx, thrown)
    }
  }
}

function answerFailure(ctx: LoginContext, thrown: unknown): void {
  const { runtime } = ctx.state
  const error = toAllAccessError(thrown, runtime.log, ctx.state.requestId)
  runtime.metrics.loginFailed(ctx.state.login?.provider?.name, error.code)
  clearCookie(ctx, FLOW_COOKIE, runtime.cookies, 'lax')
  if (error.detail === undefined && error.status < 500) runtime.log.info(`login failed req=${ctx.state.requestId} ${error.code}`)
  if (ctx.state.login?.popup) return answerPopup(ctx, error.code)
  ctx.redirect(errorRedirect(ctx, error.code))
}

/**
 * Where the app's getErrorRedirect sends a failed login. One that answers no location (a forgotten
 * `return` sent the browser to `Location: undefined`, a 404 under /auth/callback/) or throws (a
 * navigation answered with 500 JSON) is the app's bug: logged, and the login lands where the
 * default sends it, still carrying its code.
 */
function errorRedirect(ctx: LoginContext, code: ErrorCode): string {
  const { runtime } = ctx.state
  const args = { provider: ctx.state.login?.provider ?? null, code }
  const req = ctx.state.requestId
  const fallback = `the login failed with ${code} lands where the default sends it`
  try {
    const location: unknown = runtime.hooks.getErrorRedirect(args)
    if (typeof location === 'string' && location !== '') return location
    runtime.log.error(`error req=${req} the getErrorRedirect hook returned ${hookAnswerInWords(location)}, not a location; ${fallback}`)
  } catch (thrown) {
    // The stack last, where the text format can tell its frames.
    runtime.log.error(...errorLine(`error req=${req} the getErrorRedirect hook failed, and ${fallback}: `, thrown, { req }))
  }
  return defaultHooks.getErrorRedirect(args)
}
