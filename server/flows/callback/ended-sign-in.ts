import type { Knex } from 'knex'
import { hashId } from '../../crypto/random.ts'
import { need, type LoginContext } from '../login-state.ts'

/**
 * Whether the provider already ended the session this login signed in with: a back-channel logout
 * for its `sid` came while the login was between its token exchange and its commit. If so the
 * session that started the login, when linking, ends here too, as the logout would have ended the
 * session made from it had it come a moment later; the caller stores nothing and fails
 * `login_required`. The first thing the login's transaction does, so that it writes or locks
 * nothing before the pair's lock (ended-sign-ins.ts); a login without `sid` skips it.
 */
export async function signInEnded(ctx: LoginContext, sid: string | null, trx: Knex): Promise<boolean> {
  if (!sid) return false
  const { store, log } = ctx.state.runtime
  const provider = need(ctx, 'provider')
  if (!(await store.endedSignIns.hasEnded(provider.id, hashId(sid), trx))) return false
  const startedBy = ctx.state.session
  if (startedBy) await store.sessions.remove(startedBy.idHash, trx)
  log.info(`login refused req=${ctx.state.requestId} provider=${provider.name}: its sid was logged out (back-channel logout) before the login was stored${startedBy ? '; the session that started it ended' : ''}`)
  return true
}
