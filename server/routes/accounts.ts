import { OAuth2Client } from '../clients/oauth2.ts'
import { AllAccessError } from '../errors.ts'
import type { BffContext } from '../runtime.ts'
import { providerParam } from '../http/route-table.ts'

/**
 * `DELETE /auth/accounts/:provider`: unlinks the signed-in user's account, revoking its tokens at
 * the provider first (RFC 7009) where it has a revocation endpoint. A failed revocation is logged and
 * does not keep the account: the user asked for the link to go.
 */
export async function disconnectAccount(ctx: BffContext): Promise<void> {
  const { runtime, session } = ctx.state
  if (!session) throw new AllAccessError('not_authenticated')
  const account = await runtime.store.accounts.findForUser(session.userId, providerParam(ctx))
  if (!account) throw new AllAccessError('account_not_found')
  const provider = await runtime.store.providers.get(account.provider)
  const client = provider ? runtime.accounts.client(provider, account) : null
  if (client instanceof OAuth2Client) await runtime.accounts.revokeTokens(client, account, ` req=${ctx.state.requestId}`)
  await runtime.store.accounts.remove(account.id)
  ctx.status = 204
}
