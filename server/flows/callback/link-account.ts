import type { Next } from 'koa'
import type { Knex } from 'knex'
import { displayNameOf } from '../../clients/identifier.ts'
import { hookAnswerInWords } from '../../hooks.ts'
import { AllAccessError } from '../../errors.ts'
import { isUniqueViolation } from '../../store/database.ts'
import type { StartedSession } from '../../session/sessions.ts'
import type { AccountRecord } from '../../store/accounts.ts'
import type { UserRecord } from '../../store/users.ts'
import { storeOn, type Store } from '../../store/index.ts'
import type { ParsedToken } from '../../clients/types.ts'
import { need, type LoginContext } from '../login-state.ts'
import { endIfLoggedOut, refuseLateStore } from './ended-sign-in.ts'

/**
 * A claim of the verified ID token that back-channel logout names a session or a user by: the
 * OpenID provider's session id (`sid`), or its subject (`sub`).
 */
const claimOf = (token: ParsedToken, name: 'sid' | 'sub'): string | null => {
  const value = (token.raw.idTokenClaims as Record<string, unknown> | undefined)?.[name]
  return typeof value === 'string' && value ? value : null
}

/**
 * The store handed to getOrCreateUser, every part of it on the login's transaction: a hook that
 * writes with it and leaves out `trx` (`store.users.create(name)`) writes inside the login. Outside
 * it, on SQLite's one connection, which the transaction holds, the write waited for the pool's limit
 * with every other request, and on PostgreSQL its user stayed when the login failed.
 */
function storeInLogin(store: Store, trx: Knex.Transaction): Store {
  return {
    ...storeOn(trx, store.box),
    close: () => Promise.reject(new TypeError("getOrCreateUser's store is the login's transaction: the BFF closes its store itself")),
  }
}

/**
 * Stores the login in one transaction: the user (found, created, or the signed-in one when linking
 * a second provider), the account with its new tokens, and a new session. Nothing is written when
 * any part fails; an identity linked to another user than the signed-in one is `account_conflict`.
 * A signed-in user linking another identity of a provider they had replaces the old account. Its
 * tokens are dropped, not revoked: the provider may count both identities as one grant (the same
 * person under a new identifier path), and revoking would end the tokens just stored. A login whose
 * `sid` the provider logged out meanwhile stores nothing and is `login_required` (ended-sign-in.ts).
 */
export async function linkAccount(ctx: LoginContext, next: Next): Promise<void> {
  const { runtime } = ctx.state
  const { store } = runtime
  const provider = need(ctx, 'provider')
  const profile = need(ctx, 'profile')
  const identifier = need(ctx, 'identifier')
  const token = need(ctx, 'token')
  const signedIn = ctx.state.session?.userId ?? null
  const tokens = {
    accessToken: token.accessToken,
    tokenSecret: token.tokenSecret,
    refreshToken: token.refreshToken,
    idToken: token.idToken,
    expiresAt: token.expiresAt,
    scope: token.scope,
  }
  const displayName = displayNameOf(profile, provider.displayNamePath ?? null)
  const subject = claimOf(token, 'sub')
  const sid = claimOf(token, 'sid')
  const logoutClaims = { sid, sub: subject }
  // Required of every ID token (oidc.ts); a login without one is taken as issued before any logout.
  const issuedAt = Number((token.raw.idTokenClaims as Record<string, unknown> | undefined)?.iat ?? 0) * 1000

  const storeLogin = () => store.db.transaction(async (trx) => {
    const loggedOut = await endIfLoggedOut(ctx, logoutClaims, issuedAt, trx)
    if (loggedOut) return { loggedOut }
    const renewed = await store.accounts.renewAfterLogin(provider.id, identifier, { displayName, subject, ...tokens }, trx)
    let user: UserRecord | null
    let accountId: number
    let createdAt = Date.now()
    let isNew = false
    let refreshToken = tokens.refreshToken
    if (renewed) {
      // Thrown inside the transaction: the tokens just written are rolled back.
      if (signedIn !== null && renewed.user.id !== signedIn) throw new AllAccessError('account_conflict')
      user = renewed.user
      accountId = renewed.id
      createdAt = renewed.createdAt
      refreshToken = renewed.refreshToken
    } else {
      if (signedIn !== null) {
        user = await store.users.get(signedIn, trx)
        // Another identity of this provider replaces the one the user had: one account per provider.
        if (user) await store.accounts.removeForUserAt(user.id, provider.id, trx)
      } else {
        user = await runtime.hooks.getOrCreateUser({ provider, profile, identifier, trx, store: storeInLogin(store, trx) })
        // A hook that forgot its `return` failed the login as not_authenticated, with no error line.
        if (user === null || typeof user !== 'object' || !Number.isSafeInteger(user.id)) {
          throw new AllAccessError('server_error', { detail: `the getOrCreateUser hook returned ${user === null || typeof user !== 'object' ? hookAnswerInWords(user) : `an object whose id is ${hookAnswerInWords(user.id)}`}, not a user (what store.users.create answers)` })
        }
        isNew = true
      }
      if (!user) throw new AllAccessError('not_authenticated')
      accountId = await store.accounts.create({ providerId: provider.id, identifier, userId: user.id, displayName, subject, ...tokens }, trx)
    }
    if (!user) throw new TypeError(`account ${accountId} has no user`)
    const session: StartedSession = await runtime.sessions.start(user.id, ctx.state.session, trx, { providerId: provider.id, sid })
    refuseLateStore(ctx, logoutClaims)
    return { user, accountId, createdAt, isNew, refreshToken, session }
  })
  // Two first logins of one identity at once: the one that lost the insert finds the account the
  // other made, and signs in as its user.
  const stored = await storeLogin().catch((error: unknown) => {
    if (!isUniqueViolation(error)) throw error
    return storeLogin()
  })
  if ('loggedOut' in stored) throw new AllAccessError('login_required', { detail: stored.loggedOut })
  const { user, accountId, createdAt, isNew, refreshToken, session } = stored

  runtime.sessions.writeCookie(ctx, session)
  // The account as just written: no read needed to hand it to onLogin.
  const account: AccountRecord = { id: accountId, providerId: provider.id, provider: provider.name, identifier, userId: user.id, displayName, ...tokens, refreshToken, status: 'active', createdAt, updatedAt: Date.now() }
  Object.assign(ctx.state.login, { user, isNew, account: runtime.accounts.withApiClient(account, ctx.state.requestId) })
  await next()
}
