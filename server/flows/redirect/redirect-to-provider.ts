import { need, type LoginContext } from '../login-state.ts'

/**
 * The asked `prompt` overrides the provider's own (a preset's `prompt=consent`), so that
 * `prompt=none` stays silent; the host app's `getAdditionalParameters` has the last word.
 * OAuth 1.0a has no `prompt`.
 */
export async function redirectToProvider(ctx: LoginContext): Promise<void> {
  const provider = need(ctx, 'provider')
  const { prompt } = ctx.state.login
  const asked: Record<string, string> = prompt && provider.protocol !== 'oauth1' ? { prompt } : {}
  const extra = { ...asked, ...(await ctx.state.runtime.hooks.getAdditionalParameters({ provider, ctx })) }
  ctx.redirect(await need(ctx, 'client').getRedirectUrl(need(ctx, 'flow'), need(ctx, 'callbackUrl'), extra))
}
