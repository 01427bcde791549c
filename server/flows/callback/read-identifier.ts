import type { Next } from 'koa'
import { AllAccessError } from '../../errors.ts'
import { need, type LoginContext } from '../login-state.ts'

export async function readIdentifier(ctx: LoginContext, next: Next): Promise<void> {
  const identifier = await ctx.state.runtime.hooks.getUserId({ provider: need(ctx, 'provider'), profile: need(ctx, 'profile') })
  if (!identifier) throw new AllAccessError('missing_identifier')
  ctx.state.login.identifier = String(identifier).slice(0, 255)
  await next()
}
