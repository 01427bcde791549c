import type { Knex } from 'knex'
import { hashId } from '../../crypto/random.ts'
import { AllAccessError } from '../../errors.ts'
import { need, type LoginContext } from '../login-state.ts'

/**
 * Ends the login when the provider already ended the session it signed in with: a back-channel
 * logout for its `sid`, issued no earlier than the login's ID token, came while the login was
 * between its token exchange and its commit (a login the provider let in later, in a session it
 * kept, has the later ID token and goes on). The session that started the login, when linking,
 * ends here too, as the logout would have ended the session made from it had it come a moment
 * later. True when so: the caller stores nothing and fails `login_required`. The first thing the
 * login's transaction does, so that it writes or locks nothing before the pair's lock
 * (ended-sign-ins.ts); a login without `sid` skips it.
 */
export async function endIfLoggedOut(ctx: LoginContext, sid: string | null, issuedAt: number, trx: Knex): Promise<boolean> {
  if (!sid) return false
  const { store, log } = ctx.state.runtime
  const provider = need(ctx, 'provider')
  if (!(await store.endedSignIns.hasEnded(provider.id, hashId(sid), issuedAt, trx))) return false
  const startedBy = ctx.state.session
  if (startedBy) await store.sessions.remove(startedBy.idHash, trx)
  log.info(`login refused req=${ctx.state.requestId} provider=${provider.name}: its sid was logged out (back-channel logout) before the login was stored${startedBy ? '; the session that started it ended' : ''}`)
  return true
}

/**
 * How long after taking its flow a login with a `sid` may still be stored. Its provider calls have
 * limits of their own, well inside this; the app's hooks (`getUserId`, `getOrCreateUser`) and the
 * database's waits have none, and a login held past this could store a `sid` that a back-channel
 * logout ended and that the BFF has since forgotten (end-provider-sessions.ts keeps it this long
 * past the flow's own time, and a minute more).
 */
export const LOGIN_STORE_LIMIT_MS = 4 * 60 * 1000

/**
 * The last step of the login's transaction, when it carries a `sid`: past the limit the sign-in has
 * expired (`invalid_state`), and the transaction is rolled back.
 */
export function refuseLateStore(ctx: LoginContext, sid: string | null): void {
  if (sid && Date.now() > need(ctx, 'flowTakenAt') + LOGIN_STORE_LIMIT_MS) {
    // A hook or the database stalled, which no client can cause: an error line, not a refusal's.
    ctx.state.runtime.log.error(`error req=${ctx.state.requestId} the login took over ${LOGIN_STORE_LIMIT_MS / 60_000} minutes to be stored after its callback began (a hook or the database stalled): refused as expired`)
    throw new AllAccessError('invalid_state')
  }
}
