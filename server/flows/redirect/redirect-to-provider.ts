import { need, type LoginContext } from '../login-state.ts'

export async function redirectToProvider(ctx: LoginContext): Promise<void> {
  const provider = need(ctx, 'provider')
  const extra = await ctx.state.runtime.hooks.getAdditionalParameters({ provider, ctx })
  ctx.redirect(await need(ctx, 'client').getRedirectUrl(need(ctx, 'flow'), need(ctx, 'callbackUrl'), extra))
}
