import type { Next } from 'koa'
import { need, type LoginContext } from '../login-state.ts'
import { callbackInput } from './check-callback.ts'

/** Code (or verifier) for tokens; OpenID Connect clients verify the ID token here too. */
export async function exchangeCode(ctx: LoginContext, next: Next): Promise<void> {
  ctx.state.login.token = await need(ctx, 'client').getAccessToken(callbackInput(ctx))
  await next()
}
