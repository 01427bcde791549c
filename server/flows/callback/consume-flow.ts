import type { Next } from 'koa'
import { AllAccessError } from '../../errors.ts'
import { clearCookie, FLOW_COOKIE, readIdCookie } from '../../session/cookies.ts'
import { need, type LoginContext } from '../login-state.ts'

/**
 * Takes the flow record named by the flow cookie and deletes it in the same step, so a replayed
 * callback finds nothing: `invalid_state`. A flow started for another provider is refused too.
 */
export async function consumeFlow(ctx: LoginContext, next: Next): Promise<void> {
  const { runtime } = ctx.state
  const id = readIdCookie(ctx, FLOW_COOKIE, runtime.cookies)
  clearCookie(ctx, FLOW_COOKIE, runtime.cookies, 'lax')
  const flow = id ? await runtime.store.loginFlows.consume(id) : null
  if (!flow || flow.provider !== need(ctx, 'provider').name) throw new AllAccessError('invalid_state')
  Object.assign(ctx.state.login, { flow, next: flow.next, popup: flow.popup === true, flowTakenAt: Date.now() })
  await next()
}
