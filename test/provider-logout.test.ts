import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashId, randomToken } from '../server/crypto/random.ts'
import { SESSION_COOKIE } from '../server/session/cookies.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { login, session } from './support/login.ts'
import { startOAuth1Provider, type RunningOAuth1Provider } from './support/oauth1-sandbox.ts'
import { startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'
import { signOutAtProvider } from './support/provider-sign-out.ts'
import { startRecordingServer } from './support/recording-server.ts'

const CSRF = { 'X-CSRF': '1' }
const SECRET = 'rp-secret-0123456789abcdef'

describe.each(databases)('POST /auth/logout?provider_logout=1 on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let idp: RunningOidcSandbox
  let oauth1: RunningOAuth1Provider

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url)
    idp = await startOidcSandbox({
      clients: [{ clientId: 'rp', clientSecret: SECRET, redirectUris: [`${bff.url}/auth/callback/idp`], backchannelLogoutUri: `${bff.url}/auth/backchannel-logout/idp`, postLogoutRedirectUris: [`${bff.url}/`] }],
      autoApprove: 'alice',
    })
    await bff.addProvider('idp', { issuer: idp.issuer, apiBaseUrl: idp.apiBaseUrl, clientId: 'rp', clientSecret: SECRET, scope: 'openid profile' })
    const consumer = { key: 'rp-key', secret: 'rp-consumer-secret' }
    oauth1 = await startOAuth1Provider({ consumers: [consumer], autoApprove: 'alice' })
    const oauth1Provider = {
      requestTokenUrl: oauth1.requestTokenUrl,
      authorizationUrl: oauth1.authorizationUrl,
      accessTokenUrl: oauth1.accessTokenUrl,
      profileUrl: oauth1.profileUrl,
      identifierPath: 'id_str',
      clientId: consumer.key,
      clientSecret: consumer.secret,
    }
    await bff.addProvider('twitter', oauth1Provider)
    // The same OAuth 1.0a identity under a second name, free to be linked to the OpenID user.
    await bff.addProvider('linkable', oauth1Provider)
  })

  afterAll(async () => {
    await bff?.close()
    await idp?.close()
    await oauth1?.close()
    await drop?.()
  })

  const logout = (browser: BrowserSession, query = '?provider_logout=1') => browser.fetch(new URL(`/auth/logout${query}`, bff.url), { method: 'POST', headers: CSRF })

  async function idTokenOf(browser: BrowserSession): Promise<string> {
    const info = await session(browser, bff.url)
    if (!info.authenticated) throw new Error('not signed in')
    return (await bff.store.accounts.findForUser(Number(info.user.id), 'idp'))!.idToken!
  }

  it("answers an OpenID session with the provider's end-session URL, and ends the session here", async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const idToken = await idTokenOf(browser)
    const sessions = await bff.store.db('sessions').count({ n: '*' })

    const answer = await logout(browser)
    expect(answer.status).toBe(200)
    const { logoutUrl } = (await answer.json()) as { logoutUrl: string }
    const url = new URL(logoutUrl)
    expect(`${url.origin}${url.pathname}`).toBe(`${idp.url}/session/end`)
    expect(Object.fromEntries(url.searchParams)).toEqual({ id_token_hint: idToken, client_id: 'rp', post_logout_redirect_uri: `${bff.url}/` })
    expect(browser.cookie(SESSION_COOKIE)).toBeUndefined()
    expect(await session(browser, bff.url)).toEqual({ authenticated: false })
    expect(Number((await bff.store.db('sessions').count({ n: '*' }))[0].n)).toBe(Number(sessions[0].n) - 1)

    // The provider accepts it: it signs the user out there and sends the browser back to the app.
    expect(browser.cookies.some((c) => c.host === '127.0.0.1' && c.name === '_session')).toBe(true)
    const back = await signOutAtProvider(browser, logoutUrl)
    expect(back.toString()).toBe(`${bff.url}/`)
    expect(browser.cookies.some((c) => c.host === '127.0.0.1' && c.name === '_session')).toBe(false)
  })

  it('answers 204 for a session signed in with OAuth 1.0a, which has no provider sign-out, and ends it', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'twitter')
    expect((await session(browser, bff.url)).authenticated).toBe(true)
    const answer = await logout(browser)
    expect(answer.status).toBe(204)
    expect(await answer.text()).toBe('')
    expect(await session(browser, bff.url)).toEqual({ authenticated: false })
  })

  it('keeps the OpenID sign-in of a session that linked an OAuth 1.0a account afterwards', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    await login(browser, bff.url, 'linkable')
    const info = await session(browser, bff.url)
    expect(info.authenticated && info.accounts.map((a) => a.provider).sort()).toEqual(['idp', 'linkable'])
    const answer = await logout(browser)
    expect(answer.status).toBe(200)
    expect(new URL(((await answer.json()) as { logoutUrl: string }).logoutUrl).origin).toBe(idp.url)
  })

  // Left out, or written `null` as some servers write what they lack.
  it.each([
    ['no-end-session', {}],
    ['null-end-session', { end_session_endpoint: null, userinfo_endpoint: null, revocation_endpoint: null }],
  ])('answers 204 for a session signed in with an OpenID provider that announces no end_session_endpoint (%s), and ends it', async (name, absent) => {
    const discovery = await startRecordingServer((request) =>
      request.url === '/.well-known/openid-configuration'
        ? { status: 200, type: 'application/json', body: JSON.stringify({ issuer: discovery.url, authorization_endpoint: `${discovery.url}/auth`, token_endpoint: `${discovery.url}/token`, jwks_uri: `${discovery.url}/jwks`, response_types_supported: ['code'], ...absent }) }
        : { status: 404 },
    )
    try {
      await bff.addProvider(name, { issuer: discovery.url, clientId: 'rp', clientSecret: SECRET })
      // The provider is usable: a login starts at its authorization endpoint.
      const start = await fetch(new URL(`/auth/login/${name}`, bff.url), { redirect: 'manual' })
      expect([start.status, new URL(start.headers.get('location') ?? '', bff.url).pathname]).toEqual([302, '/auth'])
      const provider = await bff.store.providers.get(name)
      const user = await bff.store.users.create('Signed in without a sign-out page')
      await bff.store.accounts.create({ providerId: provider!.id, identifier: 'carol', userId: user.id, displayName: null, accessToken: 'a', tokenSecret: null, refreshToken: null, idToken: 'header.payload.signature', expiresAt: null, scope: null })
      const sessionId = randomToken()
      await bff.store.sessions.create(hashId(sessionId), { userId: user.id, providerId: provider!.id, createdAt: Date.now(), idleExpiresAt: Date.now() + 3_600_000, absoluteExpiresAt: Date.now() + 3_600_000 })
      const browser = new BrowserSession()
      browser.cookies.push({ name: SESSION_COOKIE, value: sessionId, host: new URL(bff.url).hostname, path: '/', attributes: '' })
      expect((await session(browser, bff.url)).authenticated).toBe(true)

      const answer = await logout(browser)
      expect([answer.status, await answer.text()]).toEqual([204, ''])
      // The BFF did ask the provider: the 204 is its answer to a provider without a sign-out page, not a skipped look.
      expect(discovery.received.map((r) => r.url)).toContain('/.well-known/openid-configuration')
      expect(browser.cookie(SESSION_COOKIE)).toBeUndefined()
      expect(await bff.store.sessions.find(hashId(sessionId))).toBeNull()
    } finally {
      await discovery.close()
    }
  })

  it('answers 204 without provider_logout, as before, and 204 when no one is signed in', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const plain = await logout(browser, '')
    expect(plain.status).toBe(204)
    expect(await session(browser, bff.url)).toEqual({ authenticated: false })
    expect((await logout(browser)).status).toBe(204)
  })
})
