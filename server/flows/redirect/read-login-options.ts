import type { Next } from 'koa'
import { LOGIN_PROMPTS, type LoginPrompt } from '../../../shared/routes.ts'
import type { LoginContext } from '../login-state.ts'

/**
 * `display=popup` and `prompt`, read before anything can fail, so that a popup login's failures end
 * on the popup page too. A `prompt` outside the contract's list is left out, as an unknown `next` is
 * replaced: the login goes on as if none was asked.
 */
export async function readLoginOptions(ctx: LoginContext, next: Next): Promise<void> {
  const { display, prompt } = ctx.query
  const login = (ctx.state.login ??= {})
  login.popup = display === 'popup'
  if ((LOGIN_PROMPTS as readonly unknown[]).includes(prompt)) login.prompt = prompt as LoginPrompt
  await next()
}
