import { AllAccessError } from '../errors.ts'
import type { BffContext } from '../runtime.ts'
import { providerParam } from '../http/route-table.ts'

/**
 * `DELETE /auth/accounts/:provider`: unlinks the signed-in user's account, then revokes at the
 * provider (RFC 7009, or its own call, where it has one) the tokens the account held when it went:
 * those read before may be stale (a refresh meanwhile, here or on another instance). A failed
 * revocation is logged and does not keep the account: the user asked for the link to go. A
 * provider slow to revoke is waited for only so long; its revocation goes on after the answer.
 */
export async function disconnectAccount(ctx: BffContext): Promise<void> {
  const { runtime, session } = ctx.state
  if (!session) throw new AllAccessError('not_authenticated')
  const account = await runtime.store.accounts.findForUserNow(session.userId, providerParam(ctx))
  if (!account) throw new AllAccessError('account_not_found')
  // Read before the unlink, the last use of the database: a database lost after it would answer
  // 503 for an account already gone, and an app would take the link for kept.
  const provider = await runtime.store.providers.get(account.provider)
  const unlinked = await runtime.store.accounts.unlink(account.id)
  // Unlinked meanwhile by another request, which revokes what it took.
  if (!unlinked) throw new AllAccessError('account_not_found')
  const client = provider ? runtime.accounts.client(provider, account) : null
  if (client) await runtime.accounts.revokeUnlinked(client, unlinked, ` req=${ctx.state.requestId}`)
  ctx.status = 204
}
