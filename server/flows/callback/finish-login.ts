import { errorLine } from '../../log.ts'
import { need, type LoginContext } from '../login-state.ts'
import { answerPopup } from '../popup-page.ts'
import { safeNext } from '../safe-next.ts'

/** Lets the host app act on the login (`onLogin`), then goes to `next` or where the hook says; a popup login ends on the popup page. */
export async function finishLogin(ctx: LoginContext): Promise<void> {
  const { runtime } = ctx.state
  const next = need(ctx, 'next')
  let target: string | void = next
  try {
    target = await runtime.hooks.onLogin({
      provider: need(ctx, 'provider'),
      user: need(ctx, 'user'),
      account: need(ctx, 'account'),
      isNew: need(ctx, 'isNew'),
      next,
      ctx,
    })
  } catch (error) {
    // The login is stored and the session started: a failing hook is logged, not turned into a failed login.
    runtime.log.error(...errorLine(`error req=${ctx.state.requestId} onLogin hook failed: `, error, { req: ctx.state.requestId }))
  }
  runtime.metrics.loginSucceeded(need(ctx, 'provider').name)
  if (ctx.state.login.popup) return answerPopup(ctx)
  ctx.redirect(typeof target === 'string' ? safeNext(target) : next)
}
