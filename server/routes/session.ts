import type { SessionInfo } from '../../shared/session.ts'
import type { BffContext } from '../runtime.ts'
import { sessionExpiresAt } from '../session/sessions.ts'

/**
 * `GET /auth/session`: who is signed in and with which accounts. Reading it extends the idle end,
 * unless `?slide=false` (a UI polling for the session's end must not keep it alive).
 */
export async function readSession(ctx: BffContext): Promise<void> {
  const { runtime, session } = ctx.state
  const user = session ? await runtime.store.users.get(session.userId) : null
  if (!session || !user) {
    ctx.body = { authenticated: false } satisfies SessionInfo
    return
  }
  if (ctx.query.slide !== 'false') await runtime.sessions.touch(ctx)
  const accounts = await runtime.store.accounts.listForUser(user.id)
  ctx.body = {
    authenticated: true,
    user: { id: String(user.id), displayName: user.displayName },
    accounts: accounts.map((account) => ({
      provider: account.provider,
      identifier: account.identifier,
      displayName: account.displayName,
      status: account.status,
      connectedAt: new Date(account.createdAt).toISOString(),
    })),
    expiresAt: new Date(sessionExpiresAt(session)).toISOString(),
  } satisfies SessionInfo
}

/** `POST /auth/logout`: deletes the session row, so a replayed cookie is worthless, and clears the cookie. */
export async function logout(ctx: BffContext): Promise<void> {
  await ctx.state.runtime.sessions.end(ctx)
  ctx.status = 204
}
