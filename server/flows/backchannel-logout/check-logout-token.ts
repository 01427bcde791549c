import type { Next } from 'koa'
import { need, type LogoutContext } from './logout-state.ts'

/** Signature (the provider's JWKS), `iss`, `aud`, `iat`, the logout event, `sid`/`sub`, no `nonce`. */
export async function checkLogoutToken(ctx: LogoutContext, next: Next): Promise<void> {
  ctx.state.logout.claims = await need(ctx, 'client').verifyLogoutToken(need(ctx, 'logoutToken'))
  await next()
}
