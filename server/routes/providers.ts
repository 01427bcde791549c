import type { PublicProvider } from '../../shared/provider.ts'
import type { BffContext } from '../runtime.ts'

/** `GET /auth/providers`: enabled providers, public fields only. */
export async function listProviders(ctx: BffContext): Promise<void> {
  const providers = await ctx.state.runtime.store.providers.listed()
  ctx.body = {
    providers: providers.filter((provider) => provider.enabled).map(({ name, displayName, protocol }): PublicProvider => ({ name, displayName, protocol })),
  }
}
