import { hashId } from '../../crypto/random.ts'
import { AllAccessError } from '../../errors.ts'
import { LOGIN_STORE_LIMIT_MS } from '../callback/ended-sign-in.ts'
import { need, type LogoutContext } from './logout-state.ts'

/**
 * How long an ended `sid` or `sub` is remembered past the logout's arrival, beyond the login flow's
 * own time (`flowTtlMs`; instances sharing a database share their options): as long as a login
 * carrying it may still be stored. Such a login was authorized before the provider ended that
 * session, so its flow began before the logout token's `iat`, at most 30 s ahead of this clock (the
 * token's checks). Its callback took the flow before the flow's time ran out, and a login with an
 * ID token not stored within LOGIN_STORE_LIMIT_MS of that is refused; a minute more covers the
 * clocks of the instances and the commit itself. Counted from the arrival, not from `iat`: a token
 * delivered late (accepted up to five minutes after `iat`) still leaves the whole time. Not the
 * `jti`'s `refusedAfter`, which bounds replays, not logins.
 */
const LOGIN_COMMIT_ALLOWANCE_MS = LOGIN_STORE_LIMIT_MS + 60 * 1000

/**
 * Ends the sessions the token names, and records its `jti` in the same transaction: a replayed
 * token changes nothing, and a failure leaves the token unused, for the provider to send again.
 * With `sid`, the sessions that signed in with it; without, every session of the user linked to
 * `sub`. Either is remembered as ended, with the token's `iat`, for a login carrying it that has
 * yet to commit (ended-sign-ins.ts): only a login whose ID token is no newer is refused, so the
 * user's next login goes on. Other instances stop honouring the sessions once their short read
 * cache lapses (under a second).
 */
export async function endProviderSessions(ctx: LogoutContext): Promise<void> {
  const { store, log, flowTtlMs } = ctx.state.runtime
  const provider = need(ctx, 'provider')
  const { jti, sid, sub, refusedAfter, issuedAt } = need(ctx, 'claims')
  const ended = await store.db.transaction(async (trx) => {
    if (!(await store.logoutTokens.remember(provider.id, jti, refusedAfter, trx))) {
      throw new AllAccessError('invalid_request', { detail: 'logout token replayed (jti seen before)' })
    }
    const keepUntil = Date.now() + flowTtlMs + LOGIN_COMMIT_ALLOWANCE_MS
    if (!sid) {
      // The checks let no token through without one of the two.
      if (!sub) throw new TypeError('a logout token with neither sid nor sub')
      await store.endedSignIns.remember('sub', provider.id, hashId(sub), issuedAt, keepUntil, trx)
      return store.sessions.removeForIdentity(provider.id, sub, trx)
    }
    const sidHash = hashId(sid)
    await store.endedSignIns.remember('sid', provider.id, sidHash, issuedAt, keepUntil, trx)
    return store.sessions.removeBySid(provider.id, sidHash, trx)
  })
  log.info(`back-channel logout req=${ctx.state.requestId} provider=${provider.name} ended=${ended}`)
  ctx.status = 200
  ctx.body = ''
}
