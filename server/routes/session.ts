import { isEnabled } from '../../shared/provider.ts'
import type { AccountSummary, LogoutAnswer, SessionInfo } from '../../shared/session.ts'
import { getClient } from '../clients/index.ts'
import { answerJson } from '../http/json-answer.ts'
import type { BffContext } from '../runtime.ts'
import type { UserRecord } from '../store/users.ts'
import { sessionExpiresAt } from '../session/sessions.ts'

/**
 * `GET /auth/session`: who is signed in and with which accounts. Reading it extends the idle end,
 * unless `?slide=false` (a UI polling for the session's end must not keep it alive).
 */
export async function readSession(ctx: BffContext): Promise<void> {
  const { runtime, session } = ctx.state
  const user = session ? await runtime.store.users.get(session.userId) : null
  if (!session || !user) {
    answerJson(ctx, SIGNED_OUT)
    return
  }
  if (ctx.query.slide !== 'false') await runtime.sessions.touch(ctx)
  const accounts = await runtime.store.accounts.summariesForUser(user.id)
  answerJson(ctx, signedInJson(user, accounts, sessionExpiresAt(session)))
}

const SIGNED_OUT = JSON.stringify({ authenticated: false } satisfies SessionInfo)

interface SignedInAnswer {
  user: UserRecord
  expiresAt: number
  json: string
}

/**
 * The last answer made from each account list, with what else it was made from. The store hands
 * back the same list, never changed, for as long as it caches it, and a session's end moves at
 * most once a minute (touch): most reads find their answer here, and serialising it (a date and
 * the JSON) was a sixth of a session read's CPU time.
 */
const answers = new WeakMap<readonly Readonly<AccountSummary>[], SignedInAnswer>()

function signedInJson(user: UserRecord, accounts: readonly Readonly<AccountSummary>[], expiresAt: number): string {
  const last = answers.get(accounts)
  if (last && last.expiresAt === expiresAt && last.user.id === user.id && last.user.displayName === user.displayName) return last.json
  const json = JSON.stringify({
    authenticated: true,
    user: { id: String(user.id), displayName: user.displayName },
    accounts: accounts as AccountSummary[],
    expiresAt: new Date(expiresAt).toISOString(),
  } satisfies SessionInfo)
  answers.set(accounts, { user: { id: user.id, displayName: user.displayName }, expiresAt, json })
  return json
}

/**
 * `POST /auth/logout`: deletes the session row, so a replayed cookie is worthless, and clears the
 * cookie. With `?provider_logout=1`, a session that signed in through an OpenID provider announcing
 * an end-session page is answered `{logoutUrl}`: the page where the SPA sends the user to sign out
 * there too (RP-Initiated Logout 1.0). The session ends either way.
 */
export async function logout(ctx: BffContext): Promise<void> {
  const logoutUrl = ctx.query.provider_logout === '1' ? await providerLogoutUrl(ctx) : null
  await ctx.state.runtime.sessions.end(ctx)
  if (logoutUrl) ctx.body = { logoutUrl } satisfies LogoutAnswer
  else ctx.status = 204
}

/** The end-session page of the provider the session signed in with, with the ID token as hint; null when there is none. */
async function providerLogoutUrl(ctx: BffContext): Promise<string | null> {
  const { runtime, session } = ctx.state
  if (!session?.providerId) return null
  const provider = await runtime.store.providers.getById(session.providerId)
  if (!provider || !isEnabled(provider)) return null
  const account = await runtime.store.accounts.findForUser(session.userId, provider.name)
  const client = getClient(provider, null, runtime.clients)
  // A provider whose discovery fails now must not keep the user signed in here: the sign-out goes on without it.
  return client.getLogoutUrl({ idToken: account?.idToken ?? null, postLogoutRedirectUri: new URL('/', runtime.publicUrl).toString() }).catch((error: unknown) => {
    runtime.log.error(`error req=${ctx.state.requestId} provider logout of ${provider.name} unavailable: ${(error as Error)?.message ?? String(error)}`)
    return null
  })
}
