import type { Knex } from 'knex'
import { hashId } from '../../crypto/random.ts'
import { AllAccessError } from '../../errors.ts'
import type { EndedClaim } from '../../store/ended-sign-ins.ts'
import { need, type LoginContext } from '../login-state.ts'

/** The claims of a login's verified ID token that a back-channel logout names it by; null without an ID token. */
export type LogoutClaims = Record<EndedClaim, string | null>

/**
 * Ends the login when the provider already ended the session it signed in with: a back-channel
 * logout for its `sid`, or for its user (`sub`, a token without `sid`), issued no earlier than the
 * login's ID token, came while the login was between its token exchange and its commit (a login the
 * provider let in later, in a session it kept or began since, has the later ID token and goes on).
 * The session that started the login, when linking, ends here too, as the logout would have ended
 * the session made from it had it come a moment later. When so, it returns what happened, for the
 * log: the caller stores nothing and fails `login_required` with it. The first thing the login's
 * transaction does, so that it writes or locks nothing before the pairs' locks (ended-sign-ins.ts),
 * taken in one order: `sid`, then `sub`. A login without an ID token skips it.
 */
export async function endIfLoggedOut(ctx: LoginContext, claims: LogoutClaims, issuedAt: number, trx: Knex): Promise<string | null> {
  const { store } = ctx.state.runtime
  const provider = need(ctx, 'provider')
  let ended: EndedClaim | undefined
  for (const claim of ['sid', 'sub'] as const) {
    const value = claims[claim]
    if (value && !ended && (await store.endedSignIns.hasEnded(claim, provider.id, hashId(value), issuedAt, trx))) ended = claim
  }
  if (!ended) return null
  const startedBy = ctx.state.session
  if (startedBy) await store.sessions.remove(startedBy.idHash, trx)
  const what = ended === 'sid' ? 'its sid was' : 'its user was'
  return `provider=${provider.name}: ${what} logged out (back-channel logout) before the login was stored${startedBy ? '; the session that started it ended' : ''}`
}

/**
 * How long after taking its flow a login with an ID token may still be stored. Its provider calls
 * have limits of their own, well inside this; the app's hooks (`getUserId`, `getOrCreateUser`) and
 * the database's waits have none, and a login held past this could store a `sid` or `sub` that a
 * back-channel logout ended and that the BFF has since forgotten (end-provider-sessions.ts keeps
 * them this long past the flow's own time, and a minute more).
 */
export const LOGIN_STORE_LIMIT_MS = 4 * 60 * 1000

/**
 * The last step of the login's transaction, when it carries an ID token: past the limit the
 * sign-in has expired (`invalid_state`), and the transaction is rolled back.
 */
export function refuseLateStore(ctx: LoginContext, claims: LogoutClaims): void {
  if ((claims.sid || claims.sub) && Date.now() > need(ctx, 'flowTakenAt') + LOGIN_STORE_LIMIT_MS) {
    // A hook or the database stalled, which no client can cause: an error line, not a refusal's.
    ctx.state.runtime.log.error(`error req=${ctx.state.requestId} the login took over ${LOGIN_STORE_LIMIT_MS / 60_000} minutes to be stored after its callback began (a hook or the database stalled): refused as expired`)
    throw new AllAccessError('invalid_state')
  }
}
