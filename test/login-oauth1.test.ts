import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AllAccessHooks } from '../server/hooks.ts'
import { getClient } from '../server/clients/index.ts'
import { hashId } from '../server/crypto/random.ts'
import { startOAuth1Provider, type RunningOAuth1Provider } from './support/oauth1-sandbox.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { authError, login, rowCounts, session, startLogin } from './support/login.ts'

const consumer = { key: 'consumer-key', secret: 'consumer-secret-abcdefghijklmnop' }

/** A provider record for the test provider, identified like Twitter by `id_str`. */
const twitterAt = (provider: RunningOAuth1Provider) => ({
  requestTokenUrl: provider.requestTokenUrl,
  authorizationUrl: provider.authorizationUrl,
  accessTokenUrl: provider.accessTokenUrl,
  profileUrl: provider.profileUrl,
  identifierPath: 'id_str',
  clientId: consumer.key,
  clientSecret: consumer.secret,
})

describe.each(databases)('OAuth 1.0a login on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let provider: RunningOAuth1Provider
  let bobProvider: RunningOAuth1Provider
  let postResults: { status: number; body: unknown }[]

  // The seed's example: post a status for new users, from the login hook, through account.apiClient.
  const onLogin: AllAccessHooks['onLogin'] = async ({ provider: p, account, isNew }) => {
    if (isNew && p.name === 'twitter') {
      const response = await account.apiClient.request('post', `${provider.apiBaseUrl}/statuses/update.json`, {
        body: { status: 'I just joined an awesome new site! 100% + ~tilde & more' },
      })
      postResults.push({ status: response.status, body: response.body })
    }
  }

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    postResults = []
    provider = await startOAuth1Provider({ consumers: [consumer], autoApprove: 'alice' })
    bobProvider = await startOAuth1Provider({ consumers: [consumer], autoApprove: 'bob' })
    bff = await startBff(created.url, { hooks: { onLogin } })
    await bff.addProvider('bob-provider', {
      requestTokenUrl: bobProvider.requestTokenUrl,
      authorizationUrl: bobProvider.authorizationUrl,
      accessTokenUrl: bobProvider.accessTokenUrl,
      profileUrl: bobProvider.profileUrl,
      identifierPath: 'id_str',
      clientId: consumer.key,
      clientSecret: consumer.secret,
    })
    const urls = {
      requestTokenUrl: provider.requestTokenUrl,
      authorizationUrl: provider.authorizationUrl,
      accessTokenUrl: provider.accessTokenUrl,
      profileUrl: provider.profileUrl,
      apiBaseUrl: provider.apiBaseUrl,
    }
    await bff.addProvider('twitter', { ...urls, identifierPath: 'id_str', clientId: consumer.key, clientSecret: consumer.secret })
    await bff.addProvider('by-name', { ...urls, identifierPath: 'screen_name', clientId: consumer.key, clientSecret: consumer.secret })
    await bff.addProvider('linkable', { ...urls, identifierPath: 'id_str', clientId: consumer.key, clientSecret: consumer.secret })
    await bff.addProvider('wrong-secret', { ...urls, clientId: consumer.key, clientSecret: 'not-the-secret' })
  })

  afterAll(async () => {
    await bff?.close()
    await provider?.close()
    await bobProvider?.close()
    await drop?.()
  })

  it('redirects to the provider with a fresh request token obtained for the absolute callback', async () => {
    const location = await startLogin(new BrowserSession(), bff.url, 'twitter')
    expect(location.origin + location.pathname).toBe(provider.authorizationUrl)
    expect(location.searchParams.get('oauth_token')).toBeTruthy()
    expect(provider.requests.filter((r) => r.path === '/oauth/request_token').at(-1)?.ok).toBe(true)
  })

  it('signs a new user in, and the onLogin hook posts a status the provider verified', async () => {
    const browser = new BrowserSession()
    const landed = await login(browser, bff.url, 'twitter', '/home')
    expect(landed.pathname).toBe('/home')
    const info = await session(browser, bff.url)
    expect(info.authenticated && info.accounts).toEqual([expect.objectContaining({ provider: 'twitter', status: 'active' })])
    expect(postResults).toEqual([{ status: 200, body: expect.objectContaining({ text: 'I just joined an awesome new site! 100% + ~tilde & more' }) }])
    expect(provider.statuses.at(-1)?.text).toBe('I just joined an awesome new site! 100% + ~tilde & more')
    // A second login of the same identity is not new: no second post.
    await login(new BrowserSession(), bff.url, 'twitter')
    expect(postResults).toHaveLength(1)
  })

  it('stores the token and token secret encrypted', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'twitter')
    const info = await session(browser, bff.url)
    const account = await bff.store.accounts.findForUser(Number(info.authenticated && info.user.id), 'twitter')
    expect(account?.accessToken).toBeTruthy()
    expect(account?.tokenSecret).toBeTruthy()
    const raw = await bff.store.db('accounts').where({ id: account!.id }).first()
    expect(raw.token_secret).not.toContain(account!.tokenSecret)
  })

  it('takes a custom identifier path', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'by-name')
    const info = await session(browser, bff.url)
    expect(info.authenticated && info.accounts[0].identifier).toBe('alice')
  })

  it('links a second provider to the signed-in user', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'twitter')
    const first = await session(browser, bff.url)
    await login(browser, bff.url, 'linkable')
    const second = await session(browser, bff.url)
    expect(second.authenticated && second.user.id).toBe(first.authenticated && first.user.id)
    expect(second.authenticated && second.accounts.map((a) => a.provider).sort()).toEqual(['linkable', 'twitter'])
  })

  it('links across sites, where the callback carries no session cookie, and ends the session that started it', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'twitter')
    const first = await session(browser, bff.url)
    const startedWith = new BrowserSession()
    startedWith.cookies.push({ ...browser.cookie('allaccess_session')! })
    // The provider is on 127.0.0.1, the app on localhost: the Strict session cookie stays behind.
    expect(new URL(bff.url).hostname).not.toBe(new URL(provider.apiBaseUrl).hostname)
    await login(browser, bff.url, 'linkable')
    const linked = await session(browser, bff.url)
    expect(linked.authenticated && linked.user.id).toBe(first.authenticated && first.user.id)
    expect(browser.cookie('allaccess_session')!.value).not.toBe(startedWith.cookie('allaccess_session')!.value)
    expect(await session(startedWith, bff.url)).toEqual({ authenticated: false })
  })

  it('links to the session that started the login only while it is live: once it ended, the login signs the identity in on its own', async () => {
    await bff.addProvider('link-after-logout', { requestTokenUrl: provider.requestTokenUrl, authorizationUrl: provider.authorizationUrl, accessTokenUrl: provider.accessTokenUrl, profileUrl: provider.profileUrl, identifierPath: 'id_str', clientId: consumer.key, clientSecret: consumer.secret })
    const browser = new BrowserSession()
    await login(browser, bff.url, 'bob-provider')
    const bob = await session(browser, bff.url)
    if (!bob.authenticated) throw new Error('not signed in')
    const authorize = await browser.navigate(new URL('/auth/login/link-after-logout', bff.url), { stopAt: (location) => location.pathname.startsWith('/auth/callback/') })
    // The session that started the login ends (signed out in another tab) while the user is at the provider.
    const otherTab = new BrowserSession()
    otherTab.cookies.push({ ...browser.cookie('allaccess_session')! })
    expect((await otherTab.fetch(new URL('/auth/logout', bff.url), { method: 'POST', headers: { 'X-CSRF': '1' } })).status).toBe(204)
    // The provider's redirect back is cross-site: no Strict session cookie goes along.
    const callback = await browser.fetch(authorize.url, {}, { navigation: true, crossSite: true })
    expect(callback.status).toBe(302)
    expect(authError(new URL(callback.headers.get('location')!, bff.url))).toBeNull()
    const info = await session(browser, bff.url)
    expect(info.authenticated && info.user.id).not.toBe(bob.user.id)
    expect(info.authenticated && info.accounts.map((a) => a.provider)).toEqual(['link-after-logout'])
    expect((await bff.store.accounts.findForUser(Number(bob.user.id), 'link-after-logout'))).toBeNull()
  })

  it('refuses with invalid_state a callback that carries another live session than the one that started the login', async () => {
    const victim = new BrowserSession()
    await login(victim, bff.url, 'twitter')
    const other = new BrowserSession()
    await login(other, bff.url, 'bob-provider')
    const before = await rowCounts(bff.store.db)
    const authorize = await victim.navigate(new URL('/auth/login/linkable', bff.url), { stopAt: (location) => location.pathname.startsWith('/auth/callback/') })
    // The callback arrives in a browser that now holds another live session.
    victim.cookies.splice(victim.cookies.findIndex((c) => c.name === 'allaccess_session'), 1, { ...other.cookie('allaccess_session')! })
    const callback = await victim.fetch(authorize.url)
    expect(callback.status).toBe(302)
    expect(callback.headers.get('location')).toBe('/?auth_error=invalid_state')
    expect(await rowCounts(bff.store.db)).toEqual(before)
    const info = await session(other, bff.url)
    expect(info.authenticated && info.accounts.map((a) => a.provider)).toEqual(['bob-provider'])
  })

  it('refuses with account_conflict an identity linked to another user than the signed-in one', async () => {
    // alice (on the first provider) belongs to one user; bob signs in on a second provider, then tries alice.
    await login(new BrowserSession(), bff.url, 'twitter')
    const bob = new BrowserSession()
    await login(bob, bff.url, 'bob-provider')
    const before = await rowCounts(bff.store.db)
    const accountsBefore = await bff.store.db('accounts').orderBy('id')
    const landed = await login(bob, bff.url, 'twitter')
    expect(authError(landed)).toBe('account_conflict')
    expect(await rowCounts(bff.store.db)).toEqual(before)
    // alice's tokens, written by the refused login before the conflict showed, were rolled back.
    expect(await bff.store.db('accounts').orderBy('id')).toEqual(accountsBefore)
    const info = await session(bob, bff.url)
    expect(info.authenticated && info.accounts.map((a) => a.provider)).toEqual(['bob-provider'])
  })

  /** Where a login start leads when the provider's request token endpoint answers `body`. */
  async function loginStartWithRequestTokenAnswer(name: string, body: string): Promise<{ location: string | null; base: string }> {
    const { createServer } = await import('node:http')
    const provider = createServer((req, res) => {
      res.setHeader('Content-Type', 'application/x-www-form-urlencoded')
      res.end(body)
    })
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve))
    const base = `http://127.0.0.1:${(provider.address() as { port: number }).port}`
    try {
      await bff.addProvider(name, { requestTokenUrl: `${base}/rt`, authorizationUrl: `${base}/a`, accessTokenUrl: `${base}/at`, profileUrl: `${base}/me`, clientId: 'k', clientSecret: 's' })
      const response = await new BrowserSession().fetch(new URL(`/auth/login/${name}`, bff.url))
      return { location: response.headers.get('location'), base }
    } finally {
      await new Promise<void>((resolve) => provider.close(() => resolve()))
    }
  }

  it('refuses with request_token_failed a provider that does not confirm the callback (OAuth 1.0, not 1.0a)', async () => {
    const { location } = await loginStartWithRequestTokenAnswer('legacy', 'oauth_token=t&oauth_token_secret=s')
    expect(location).toBe('/?auth_error=request_token_failed')
  })

  it('takes a request token answer that ends with a line break, as its access token answer is taken', async () => {
    const { location, base } = await loginStartWithRequestTokenAnswer('newline', 'oauth_token=t&oauth_token_secret=s&oauth_callback_confirmed=true\r\n')
    expect(location).toBe(`${base}/a?oauth_token=t`)
  })

  it('redirects to /?auth_error=request_token_failed when the provider refuses the request token', async () => {
    const response = await new BrowserSession().fetch(new URL('/auth/login/wrong-secret', bff.url))
    expect(response.status).toBe(302)
    expect(response.headers.get('location')).toBe('/?auth_error=request_token_failed')
  })

  describe('callback failures', () => {
    async function callback(tweak: (params: URLSearchParams, requestToken: string) => void) {
      const browser = new BrowserSession()
      const authorization = await startLogin(browser, bff.url, 'twitter')
      const token = authorization.searchParams.get('oauth_token')!
      const url = new URL('/auth/callback/twitter', bff.url)
      tweak(url.searchParams, token)
      const before = await rowCounts(bff.store.db)
      const response = await browser.fetch(url)
      expect(response.status).toBe(302)
      expect(await rowCounts(bff.store.db)).toEqual(before)
      return response.headers.get('location')
    }

    it('access_denied when the user denied', async () => {
      expect(await callback((p, token) => p.set('denied', token))).toBe('/?auth_error=access_denied')
    })

    // OAuth Problem Reporting's way (LinkedIn's 1.0a, Xero): the provider's refusal is not a token mismatch.
    it('access_denied when the provider reports the refusal as an oauth_problem, with or without the request token', async () => {
      expect(await callback((p, token) => { p.set('oauth_token', token); p.set('oauth_problem', 'user_refused') })).toBe('/?auth_error=access_denied')
      expect(await callback((p) => p.set('oauth_problem', 'permission_denied'))).toBe('/?auth_error=access_denied')
    })

    it('invalid_state when the returned token is not the stored request token', async () => {
      expect(await callback((p) => { p.set('oauth_token', 'other'); p.set('oauth_verifier', 'v') })).toBe('/?auth_error=invalid_state')
    })

    it('missing_code without oauth_verifier', async () => {
      expect(await callback((p, token) => p.set('oauth_token', token))).toBe('/?auth_error=missing_code')
    })

    it('token_request_failed with a wrong verifier', async () => {
      expect(await callback((p, token) => { p.set('oauth_token', token); p.set('oauth_verifier', 'wrong') })).toBe('/?auth_error=token_request_failed')
    })

    // RFC 6749 §3.1's rule, which OAuth 1.0a providers keep too: a copy added after the provider's
    // own must not be the one checked while the other is used, nor the reverse.
    it('invalid_state or missing_code when the provider\'s real callback carries oauth_token or oauth_verifier twice', async () => {
      for (const [name, code] of [['oauth_token', 'invalid_state'], ['oauth_verifier', 'missing_code']]) {
        const browser = new BrowserSession()
        const authorization = await startLogin(browser, bff.url, 'twitter')
        const atCallback = new URL((await browser.navigate(authorization, { stopAt: (url) => url.pathname.startsWith('/auth/callback/') })).url)
        atCallback.searchParams.append(name, atCallback.searchParams.get(name)!)
        const before = await rowCounts(bff.store.db)
        const response = await browser.fetch(atCallback)
        expect(response.headers.get('location'), name).toBe(`/?auth_error=${code}`)
        expect(await rowCounts(bff.store.db)).toEqual(before)
      }
    })

    it('invalid_state for a replayed callback: request tokens are single use', async () => {
      const browser = new BrowserSession()
      const authorization = await startLogin(browser, bff.url, 'twitter')
      const atCallback = await browser.navigate(authorization, { stopAt: (url) => url.pathname.startsWith('/auth/callback/') })
      const replay = new BrowserSession()
      replay.cookies.push(...browser.cookies.map((c) => ({ ...c })))
      expect((await browser.fetch(atCallback.url)).headers.get('location')).toBe('/')
      expect((await replay.fetch(atCallback.url)).headers.get('location')).toBe('/?auth_error=invalid_state')
    })
  })

  describe('through the proxy', () => {
    const CSRF = { 'X-CSRF': '1' }

    it('signs a GET with query parameters, verified by the strict provider', async () => {
      const browser = new BrowserSession()
      await login(browser, bff.url, 'twitter')
      const response = await browser.fetch(new URL('/api/twitter/echo.json?count=5&q=a%20b%2Bc&q=second&empty=', bff.url), { headers: CSRF })
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ method: 'GET', query: { count: '5', q: 'second', empty: '' }, form: {}, userId: '1001' })
      expect(provider.requests.at(-1)).toEqual({ method: 'GET', path: '/1.1/echo.json', ok: true })
    })

    it('signs a POST with a form body, verified by the strict provider', async () => {
      const browser = new BrowserSession()
      await login(browser, bff.url, 'twitter')
      const response = await browser.fetch(new URL('/api/twitter/statuses/update.json', bff.url), {
        method: 'POST',
        headers: { ...CSRF, 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ status: 'Posted through the proxy: 50% off & more!' }).toString(),
      })
      expect(response.status).toBe(200)
      expect(provider.statuses.at(-1)).toEqual({ userId: '1001', text: 'Posted through the proxy: 50% off & more!' })
      const timeline = await browser.fetch(new URL('/api/twitter/statuses/home_timeline.json?count=1', bff.url), { headers: CSRF })
      expect(await timeline.json()).toEqual([{ text: 'Posted through the proxy: 50% off & more!' }])
    })

    // RFC 5849 §3.4.1.3.1 counts a body only under the media type application/x-www-form-urlencoded,
    // as servers parse it (type-is, Rack): a type that merely starts with its name is not a form.
    it('signs a form body whatever its charset parameter or case, and only a body of that media type', async () => {
      const browser = new BrowserSession()
      await login(browser, bff.url, 'twitter')
      const post = async (contentType: string) => {
        const response = await browser.fetch(new URL('/api/twitter/echo.json', bff.url), { method: 'POST', headers: { ...CSRF, 'Content-Type': contentType }, body: 'a=1+2&b=%20' })
        return [response.status, ((await response.json()) as { form?: unknown }).form]
      }
      expect(await post('application/x-www-form-urlencoded;charset=UTF-8')).toEqual([200, { a: '1 2', b: ' ' }])
      expect(await post('Application/X-WWW-Form-Urlencoded ; charset=utf-8')).toEqual([200, { a: '1 2', b: ' ' }])
      expect(await post('application/x-www-form-urlencoded-v2')).toEqual([200, {}])
      expect(await post('text/plain; x=application/x-www-form-urlencoded')).toEqual([200, {}])
    })

    // RFC 5849 §3.4.1.2 signs the path as the request carries it: escapes are neither decoded nor
    // re-cased, and the strict provider checks the path it received, not one it rebuilt.
    it('signs a percent-encoded path once, as it is sent, verified by the strict provider', async () => {
      const browser = new BrowserSession()
      await login(browser, bff.url, 'twitter')
      const path = "echo/caf%C3%A9/caf%c3%a9/~!*'()$,;=+&:%20%3F%23%7E"
      const response = await browser.fetch(new URL(`/api/twitter/${path}?q=%E2%82%AC+x`, bff.url), { headers: CSRF })
      expect([response.status, await response.json()]).toEqual([200, { method: 'GET', query: { q: '€ x' }, form: {}, userId: '1001' }])
      expect(provider.requests.at(-1)).toEqual({ method: 'GET', path: `/1.1/${path}`, ok: true })
    })

    // §3.4.1.3.1 counts a form body whatever the method; a GET's body goes nowhere, so nothing of it is signed.
    it('signs a form body on PUT, PATCH and DELETE as on POST, verified by the strict provider', async () => {
      const browser = new BrowserSession()
      await login(browser, bff.url, 'twitter')
      for (const method of ['PUT', 'PATCH', 'DELETE']) {
        const response = await browser.fetch(new URL('/api/twitter/echo.json?q=1', bff.url), { method, headers: { ...CSRF, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'a=1+2&b=%20&a=' })
        expect([response.status, await response.json()], method).toEqual([200, { method, query: { q: '1' }, form: { a: '', b: ' ' }, userId: '1001' }])
        expect(provider.requests.at(-1), method).toEqual({ method, path: '/1.1/echo.json', ok: true })
      }
    })

    it('signs a form of 10,000 parameters, and refuses one more with 413 payload_too_large before anything reaches the provider', async () => {
      const browser = new BrowserSession()
      await login(browser, bff.url, 'twitter')
      const post = (parameters: number) =>
        browser.fetch(new URL('/api/twitter/echo.json', bff.url), {
          method: 'POST',
          headers: { ...CSRF, 'Content-Type': 'application/x-www-form-urlencoded' },
          body: Array.from({ length: parameters }, (_, i) => `${i.toString(36)}=`).join('&'),
        })
      const signed = await post(10_000)
      expect(signed.status).toBe(200)
      expect(Object.keys(((await signed.json()) as { form: Record<string, string> }).form)).toHaveLength(10_000)
      const before = provider.requests.length
      const refused = await post(10_001)
      expect([refused.status, await refused.json()]).toEqual([413, { error: 'payload_too_large', message: expect.any(String) }])
      expect(provider.requests).toHaveLength(before)
    })

    // OAuth 1.0a defines no revocation: disconnecting an account of a provider without a call of its own forgets the token and secret, and asks nothing of the provider.
    it('disconnects an OAuth 1.0a account: 204, nothing sent to the provider, its tokens gone, the API refused with 403 account_not_connected', async () => {
      const browser = new BrowserSession()
      await login(browser, bff.url, 'linkable')
      const info = await session(browser, bff.url)
      const account = await bff.store.accounts.findForUser(Number(info.authenticated && info.user.id), 'linkable')
      const requests = provider.requests.length
      const disconnect = () => browser.fetch(new URL('/auth/accounts/linkable', bff.url), { method: 'DELETE', headers: CSRF })
      expect((await disconnect()).status).toBe(204)
      expect(provider.requests).toHaveLength(requests)
      expect(await bff.store.db('accounts').where({ id: account!.id }).first()).toBeUndefined()
      const api = await browser.fetch(new URL('/api/linkable/account/verify_credentials.json', bff.url), { headers: CSRF })
      expect([api.status, (await api.json()).error]).toEqual([403, 'account_not_connected'])
      const again = await disconnect()
      expect([again.status, (await again.json()).error]).toEqual([404, 'account_not_found'])
      expect(provider.requests).toHaveLength(requests)
      expect(bff.logs.join('\n')).not.toContain(account!.tokenSecret!)
    })

    // X API v1.1: POST oauth/invalidate_token, signed with the access token it invalidates, answers 200 {"access_token": …}.
    it("disconnects an account of the twitter preset: X's invalidate_token is called, signed with the account's token, which then stops working; a refusal is logged and the account goes all the same", async () => {
      await bff.addProvider('x-preset', {
        preset: 'twitter',
        requestTokenUrl: provider.requestTokenUrl,
        authorizationUrl: provider.authorizationUrl,
        accessTokenUrl: provider.accessTokenUrl,
        profileUrl: provider.profileUrl,
        apiBaseUrl: provider.apiBaseUrl,
        revocationUrl: `${provider.apiBaseUrl}/oauth/invalidate_token`,
        clientId: consumer.key,
        clientSecret: consumer.secret,
      })
      const disconnect = (browser: BrowserSession) => browser.fetch(new URL('/auth/accounts/x-preset', bff.url), { method: 'DELETE', headers: CSRF })
      const browser = new BrowserSession()
      await login(browser, bff.url, 'x-preset')
      const info = await session(browser, bff.url)
      const account = await bff.store.accounts.findForUser(Number(info.authenticated && info.user.id), 'x-preset')
      const before = provider.requests.length
      expect((await disconnect(browser)).status).toBe(204)
      expect(provider.requests.slice(before)).toEqual([{ method: 'POST', path: '/1.1/oauth/invalidate_token', ok: true }])
      expect(bff.logs.some((line) => /revocation/.test(line))).toBe(false)
      // The token no longer works at the provider.
      const config = await bff.store.providers.get('x-preset')
      const oldToken = getClient(config!, { accessToken: account!.accessToken, tokenSecret: account!.tokenSecret })
      expect((await oldToken.request('GET', provider.profileUrl)).status).toBe(401)

      // The user revoked the app at X first: the call is refused, the disconnect still done and logged.
      await login(browser, bff.url, 'x-preset')
      provider.revokeUserTokens('1001')
      const refusedAt = provider.requests.length
      expect((await disconnect(browser)).status).toBe(204)
      expect(provider.requests.slice(refusedAt)).toEqual([{ method: 'POST', path: '/1.1/oauth/invalidate_token', ok: false, reason: 'invalid access token' }])
      expect(bff.logs.filter((line) => /revocation/.test(line))).toEqual([expect.stringMatching(/revocation of an account \d+ access_token was refused req=/)])
      bff.logs.length = 0
      const after = await session(browser, bff.url)
      expect(after.authenticated && after.accounts.map((a) => a.provider)).not.toContain('x-preset')
    })

    it('answers 401 reauth_required when the provider revoked the token', async () => {
      const browser = new BrowserSession()
      await login(browser, bff.url, 'by-name')
      provider.revokeUserTokens('1001')
      const response = await browser.fetch(new URL('/api/by-name/account/verify_credentials.json', bff.url), { headers: CSRF })
      expect(response.status).toBe(401)
      expect((await response.json()).error).toBe('reauth_required')
      const info = await session(browser, bff.url)
      expect(info.authenticated && info.accounts.find((a) => a.provider === 'by-name')?.status).toBe('reauth_required')
      await login(browser, bff.url, 'by-name')
      const again = await browser.fetch(new URL('/api/by-name/account/verify_credentials.json', bff.url), { headers: CSRF })
      expect(again.status).toBe(200)
    })
  })
})

describe.each(databases)('cookies behind a TLS proxy (https PUBLIC_URL) on $kind', (database) => {
  it('sets the session cookie as __Host-, Secure, HttpOnly, SameSite=Strict, Path=/', async () => {
    const { url, drop } = await database.create()
    const provider = await startOAuth1Provider({ consumers: [consumer], autoApprove: 'alice' })
    const bff = await startBff(url, { publicUrl: 'https://app.example' })
    try {
      await bff.addProvider('twitter', twitterAt(provider))
      const browser = new BrowserSession()
      const authorization = await startLogin(browser, bff.url, 'twitter')
      const atCallback = await browser.navigate(authorization, { stopAt: (u) => u.hostname === 'app.example' })
      expect(atCallback.url.origin + atCallback.url.pathname).toBe('https://app.example/auth/callback/twitter')
      // The TLS proxy forwards https://app.example/… to the BFF as plain http.
      const forwarded = new URL(atCallback.url.pathname + atCallback.url.search, bff.url)
      const flowCookie = browser.cookies.find((c) => c.name === '__Host-allaccess_flow')!
      browser.cookies.push({ ...flowCookie, host: forwarded.hostname })
      const response = await browser.fetch(forwarded)
      expect(response.status).toBe(302)
      expect(response.headers.get('location')).toBe('/')
      const header = response.headers.getSetCookie().find((c) => c.startsWith('__Host-allaccess_session='))!
      expect(header).toMatch(/; path=\//i)
      expect(header).toMatch(/; secure/i)
      expect(header).toMatch(/; samesite=strict/i)
      expect(header).toMatch(/; httponly/i)
      expect(header).not.toMatch(/domain=/i)
      expect(response.headers.getSetCookie().find((c) => c.startsWith('__Host-allaccess_flow='))).toMatch(/expires=Thu, 01 Jan 1970/i)
    } finally {
      await bff.close()
      await provider.close()
      await drop()
    }
  })
})

describe.each(databases)('session lifetime on $kind', (database) => {
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

  async function withBff(session: { idleMs: number; absoluteMs: number }, run: (bff: TestBff) => Promise<void>) {
    const { url, drop } = await database.create()
    const provider = await startOAuth1Provider({ consumers: [consumer], autoApprove: 'alice' })
    const bff = await startBff(url, { session })
    try {
      await bff.addProvider('twitter', twitterAt(provider))
      await run(bff)
    } finally {
      await bff.close()
      await provider.close()
      await drop()
    }
  }

  async function read(bff: TestBff, browser: BrowserSession, slide = true) {
    const response = await browser.fetch(new URL(`/auth/session${slide ? '' : '?slide=false'}`, bff.url), { headers: { 'X-CSRF': '1' } })
    return (await response.json()) as { authenticated: boolean; expiresAt?: string }
  }

  it('ends a session left idle, slides one in use, and does not slide on ?slide=false', async () => {
    await withBff({ idleMs: 3000, absoluteMs: 60_000 }, async (bff) => {
      const idle = new BrowserSession()
      await login(idle, bff.url, 'twitter')
      const used = new BrowserSession()
      await login(used, bff.url, 'twitter')
      const loggedInAt = Date.now()
      // The end each read of the used session gave: a read answered before it was read before it, and
      // must find the session held and slide it on (a machine that stalls past it finds it rightly ended).
      let end = Date.parse((await read(bff, used)).expiresAt!)
      expect(end).toBeLessThanOrEqual(loggedInAt + 3000)
      for (let i = 0; i < 4; i++) {
        await wait(850)
        const info = await read(bff, used)
        // Held, and slid on: its end moved by the time since the last read.
        if (Date.now() < end) expect([info.authenticated, Date.parse(info.expiresAt!) > end]).toEqual([true, true])
        end = info.authenticated ? Date.parse(info.expiresAt!) : 0
      }
      // Over 3 s after login: the idle session ended, the used one slid on.
      expect((await read(bff, idle)).authenticated).toBe(false)
      await wait(800)
      const unslid = await read(bff, used, false)
      if (Date.now() < end) expect(unslid.authenticated).toBe(true)
      await wait(3000)
      // Only a ?slide=false read since the last use, 3.8 s ago: the session ended.
      expect((await read(bff, used)).authenticated).toBe(false)
    })
  })

  it('ends a session at its absolute end however much it is used', async () => {
    await withBff({ idleMs: 3000, absoluteMs: 4000 }, async (bff) => {
      const busy = new BrowserSession()
      await login(busy, bff.url, 'twitter')
      // The session's own end, 4 s after it began: counted from when login() returned instead, it had
      // left the login's last steps 800 ms, however loaded the machine.
      const { absoluteExpiresAt } = (await bff.store.sessions.find(hashId(busy.cookie('allaccess_session')!.value)))!
      while (Date.now() < absoluteExpiresAt + 500) {
        await wait(400)
        const info = await read(bff, busy)
        // Answered before the end, so read before it: the session still held, used past its idle time.
        if (Date.now() < absoluteExpiresAt) expect(info.authenticated).toBe(true)
      }
      expect((await read(bff, busy)).authenticated).toBe(false)
    })
  })
})
