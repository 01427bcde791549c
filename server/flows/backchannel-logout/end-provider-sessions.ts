import { hashId } from '../../crypto/random.ts'
import { AllAccessError } from '../../errors.ts'
import { need, type LogoutContext } from './logout-state.ts'

/**
 * Ends the sessions the token names, and records its `jti` in the same transaction: a replayed
 * token changes nothing, and a failure leaves the token unused, for the provider to send again.
 * With `sid`, the sessions that signed in with it; without, every session of the user linked to
 * `sub`. Other instances stop honouring them once their short read cache lapses (under a second).
 */
export async function endProviderSessions(ctx: LogoutContext): Promise<void> {
  const { store, log } = ctx.state.runtime
  const provider = need(ctx, 'provider')
  const { jti, sid, sub, refusedAfter } = need(ctx, 'claims')
  const ended = await store.db.transaction(async (trx) => {
    if (!(await store.logoutTokens.remember(provider.id, jti, refusedAfter, trx))) {
      throw new AllAccessError('invalid_request', { detail: 'logout token replayed (jti seen before)' })
    }
    if (sid) return store.sessions.removeBySid(provider.id, hashId(sid), trx)
    return store.sessions.removeForIdentity(provider.id, sub ?? '', trx)
  })
  log.info(`back-channel logout req=${ctx.state.requestId} provider=${provider.name} ended=${ended}`)
  ctx.status = 200
  ctx.body = ''
}
