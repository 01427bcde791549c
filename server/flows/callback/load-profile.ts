import type { Next } from 'koa'
import { AllAccessError } from '../../errors.ts'
import { need, type LoginContext } from '../login-state.ts'

export async function loadProfile(ctx: LoginContext, next: Next): Promise<void> {
  const profile = await need(ctx, 'client').getProfileInfo(need(ctx, 'token'))
  if (!profile || typeof profile !== 'object') throw new AllAccessError('profile_request_failed')
  ctx.state.login.profile = profile
  await next()
}
