import type { Next } from 'koa'
import { isEnabled } from '../../shared/provider.ts'
import { getClient } from '../clients/index.ts'
import { AllAccessError } from '../errors.ts'
import { callbackUrlOf } from '../hooks.ts'
import type { LoginContext } from './login-state.ts'
import { providerParam } from '../http/route-table.ts'

/** Finds the route's provider; unknown and disabled providers are the same 404 (as in django-all-access). */
export async function loadProvider(ctx: LoginContext, next: Next): Promise<void> {
  const { runtime } = ctx.state
  const provider = await runtime.store.providers.get(providerParam(ctx))
  if (!provider || !isEnabled(provider)) throw new AllAccessError('unknown_provider')
  // Merged: a login start has read its options (popup or not) already.
  ctx.state.login = {
    ...ctx.state.login,
    provider,
    client: getClient(provider, null, runtime.clients),
    callbackUrl: callbackUrlOf(runtime.hooks, provider, runtime.publicUrl),
  }
  await next()
}
