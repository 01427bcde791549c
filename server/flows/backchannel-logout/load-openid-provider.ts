import type { Next } from 'koa'
import { isEnabled } from '../../../shared/provider.ts'
import { getClient } from '../../clients/index.ts'
import { OidcClient } from '../../clients/oidc.ts'
import { AllAccessError } from '../../errors.ts'
import type { LogoutContext } from './logout-state.ts'
import { providerParam } from '../../http/route-table.ts'

/** Only an enabled OpenID provider sends logout tokens: any other name is `unknown_provider`. */
export async function loadOpenIdProvider(ctx: LogoutContext, next: Next): Promise<void> {
  const { runtime } = ctx.state
  const provider = await runtime.store.providers.get(providerParam(ctx))
  const client = provider && isEnabled(provider) ? getClient(provider, null, runtime.clients) : null
  if (!provider || !(client instanceof OidcClient)) throw new AllAccessError('unknown_provider')
  ctx.state.logout = { provider, client }
  await next()
}
