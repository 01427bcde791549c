import type { Next } from 'koa'
import { toAllAccessError } from '../http/answer-errors.ts'
import { clearCookie, FLOW_COOKIE } from '../session/cookies.ts'
import type { LoginContext } from './login-state.ts'

/**
 * Login failures are navigations, so they answer with a redirect carrying `auth_error`, never JSON
 * or a stack trace. Only an unknown provider stays a 404 (the route itself does not exist).
 */
export async function redirectOnFailure(ctx: LoginContext, next: Next): Promise<void> {
  try {
    await next()
  } catch (thrown) {
    const { runtime } = ctx.state
    const error = toAllAccessError(thrown, runtime.log, ctx.state.requestId)
    if (error.code === 'unknown_provider') throw error
    clearCookie(ctx, FLOW_COOKIE, runtime.cookies, 'lax')
    if (error.detail === undefined && error.status < 500) runtime.log.info(`login failed req=${ctx.state.requestId} ${error.code}`)
    ctx.redirect(runtime.hooks.getErrorRedirect({ provider: ctx.state.login?.provider ?? null, code: error.code }))
  }
}
