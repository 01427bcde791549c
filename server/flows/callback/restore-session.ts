import type { Next } from 'koa'
import { AllAccessError } from '../../errors.ts'
import { need, type LoginContext } from '../login-state.ts'

/**
 * Puts back the session that started the login, which the `SameSite=Strict` cookie could not carry
 * across the provider's redirect: the account is then linked to its user, if it is still live. A
 * callback that does carry a live session other than that one is refused: the login was not started
 * by this browser's session.
 */
export async function restoreSession(ctx: LoginContext, next: Next): Promise<void> {
  const { runtime, session } = ctx.state
  const startedBy = need(ctx, 'flow').sessionIdHash
  if (session && session.idHash !== startedBy) throw new AllAccessError('invalid_state', { detail: 'the callback carries another session than the one that started the login' })
  if (!session && startedBy) {
    const record = await runtime.sessions.find(startedBy)
    if (record) ctx.state.session = { idHash: startedBy, ...record }
  }
  await next()
}
