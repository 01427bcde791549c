import type { Next } from 'koa'
import { randomToken } from '../../crypto/random.ts'
import { FLOW_COOKIE, writeIdCookie } from '../../session/cookies.ts'
import { need, type LoginContext } from '../login-state.ts'
import { safeNext } from '../safe-next.ts'
import { noRoom } from './login-rate-limit.ts'
import { maxAgeAsked, redirectUrl } from './redirect-to-provider.ts'

/**
 * Creates the flow's secrets (request token, or state, PKCE verifier and nonce) and keeps them in a
 * single-use database record named by a short-lived `SameSite=Lax` cookie: Lax, because the
 * callback arrives as a cross-site navigation from the provider. The record also names the session
 * that started the login: the `SameSite=Strict` session cookie does not come back with the callback,
 * and the `max_age` the redirect asks for, which the callback holds the ID token's `auth_time` to.
 */
export async function startFlow(ctx: LoginContext, next: Next): Promise<void> {
  const { runtime } = ctx.state
  const provider = need(ctx, 'provider')
  const secrets = await need(ctx, 'client').startFlow(need(ctx, 'callbackUrl'))
  const url = await redirectUrl(ctx, secrets)
  const flow = { ...secrets, provider: provider.name, next: safeNext(ctx.query.next), sessionIdHash: ctx.state.session?.idHash, popup: ctx.state.login.popup || undefined, maxAge: provider.protocol === 'oidc' ? maxAgeAsked(url) : undefined }
  const { room } = ctx.state.login
  // Others arriving at once may have taken what that client had to spare.
  if (room && !(await runtime.store.loginFlows.makeRoom(room))) throw noRoom(ctx)
  const id = randomToken()
  await runtime.store.loginFlows.create(id, provider.id, flow, runtime.flowTtlMs, ctx.state.login.startedBy)
  writeIdCookie(ctx, FLOW_COOKIE, id, runtime.cookies, { sameSite: 'lax', maxAgeMs: runtime.flowTtlMs })
  ctx.state.login.flow = flow
  ctx.state.login.redirectUrl = url
  await next()
}
