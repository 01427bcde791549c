import { hashId, randomToken } from '../../server/crypto/random.ts'
import { SESSION_COOKIE } from '../../server/session/cookies.ts'
import type { AccountTokens } from '../../server/store/accounts.ts'
import { BrowserSession } from './browser-session.ts'
import { startBff, type TestBff } from './bff.ts'
import type { TestDatabase } from './databases.ts'
import { startEchoUpstream } from './echo-upstream.ts'

/**
 * A browser already signed in with an account on `provider` holding `tokens`, made straight in the
 * database: for proxy tests whose subject is the API call, not the login.
 */
export async function signedIn(bff: Pick<TestBff, 'store' | 'url'>, provider: string, tokens: Partial<AccountTokens>, identifier = 'user-1') {
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

/**
 * A fresh database, an echo upstream, a BFF with the provider `echo` proxying to it, and a browser
 * signed in there with `token-1`: the setting of tests whose subject is what reaches the proxy.
 */
export async function startSignedInEchoBff(database: TestDatabase) {
  const created = await database.create()
  const upstream = await startEchoUpstream()
  const bff = await startBff(created.url)
  await bff.addProvider('echo', { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', apiBaseUrl: `${upstream.url}/v1`, clientId: 'id', clientSecret: 'secret' })
  const { browser } = await signedIn(bff, 'echo', { accessToken: 'token-1' })
  return {
    bff,
    upstream,
    browser,
    async close() {
      await bff.close()
      await upstream.close()
      await created.drop()
    },
  }
}
