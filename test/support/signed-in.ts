import { hashId, randomToken } from '../../server/crypto/random.ts'
import { SESSION_COOKIE } from '../../server/session/cookies.ts'
import type { AccountTokens } from '../../server/store/accounts.ts'
import { BrowserSession } from './browser-session.ts'
import type { TestBff } from './bff.ts'

/**
 * A browser already signed in with an account on `provider` holding `tokens`, made straight in the
 * database: for proxy tests whose subject is the API call, not the login.
 */
export async function signedIn(bff: TestBff, provider: string, tokens: Partial<AccountTokens>, identifier = 'user-1') {
  const { store } = bff
  const record = await store.providers.get(provider)
  if (!record) throw new Error(`no provider ${provider}`)
  const user = await store.users.create(`User of ${provider}`)
  const accountId = await store.accounts.create({
    providerId: record.id,
    identifier: `${identifier}-${randomToken(6)}`,
    userId: user.id,
    displayName: null,
    accessToken: '',
    tokenSecret: null,
    refreshToken: null,
    idToken: null,
    expiresAt: null,
    scope: null,
    ...tokens,
  })
  const id = randomToken()
  const now = Date.now()
  await store.sessions.create(hashId(id), { userId: user.id, createdAt: now, idleExpiresAt: now + 3_600_000, absoluteExpiresAt: now + 7_200_000 })
  const browser = new BrowserSession()
  browser.cookies.push({ name: SESSION_COOKIE, value: id, host: new URL(bff.url).hostname, path: '/', attributes: '' })
  return { browser, userId: user.id, accountId }
}
