import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OidcClient } from '../server/clients/oidc.ts'
import type { ParsedToken } from '../server/clients/types.ts'
import { startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { authError, login, rowCounts, session, startLogin } from './support/login.ts'
import { startRecordingServer } from './support/recording-server.ts'
import { startDocumentedProvider, type Answerer } from './support/documented-provider.ts'
import { decodeJwt, generateKeyPair, SignJWT } from 'jose'

const CSRF = { 'X-CSRF': '1' }

/** Tampers with the ID token's signature before verification: the BFF must refuse it. */
class ForgedIdTokenClient extends OidcClient {
  override parseRawToken(raw: string, contentType?: string | null): ParsedToken | null {
    const token = super.parseRawToken(raw, contentType)
    if (token?.idToken) token.idToken = token.idToken.slice(0, -4) + (token.idToken.endsWith('AAAA') ? 'BBBB' : 'AAAA')
    return token
  }
}

/** Sends the provider a nonce other than the one stored: the ID token's nonce then differs. */
class WrongNonceClient extends OidcClient {
  override async getRedirectArgs(flow: Parameters<OidcClient['getRedirectArgs']>[0], callbackUrl: string) {
    return { ...(await super.getRedirectArgs(flow, callbackUrl)), nonce: 'not-the-stored-nonce' }
  }
}

describe.each(databases)('OpenID Connect login on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let idp: RunningOidcSandbox
  let onLoginCalls: { provider: string; isNew: boolean; identifier: string }[]

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    onLoginCalls = []
    bff = await startBff(created.url, {
      clients: { forged: ForgedIdTokenClient, 'wrong-nonce': WrongNonceClient },
      hooks: {
        onLogin: ({ provider, isNew, account }) => {
          onLoginCalls.push({ provider: provider.name, isNew, identifier: account.identifier })
        },
      },
    })
    const callback = (name: string) => `${bff.url}/auth/callback/${name}`
    const names = ['idp', 'idp-post', 'forged', 'wrong-nonce', 'no-profile', 'no-id', 'nested-id', 'twice']
    idp = await startOidcSandbox({
      clients: names.map((name) => ({
        clientId: `client-${name}`,
        clientSecret: `secret-${name}-${'x'.repeat(20)}`,
        redirectUris: [callback(name)],
        tokenEndpointAuthMethod: name === 'idp-post' ? ('client_secret_post' as const) : ('client_secret_basic' as const),
      })),
      autoApprove: 'alice',
    })
    // Port 1 (tcpmux), which nothing here listens on: a port freed by a server of this file could be
    // taken by another file's server running alongside.
    const dead = 'http://127.0.0.1:1'
    for (const name of names) {
      await bff.addProvider(name, {
        issuer: idp.issuer,
        clientId: `client-${name}`,
        clientSecret: `secret-${name}-${'x'.repeat(20)}`,
        apiBaseUrl: idp.apiBaseUrl,
        scope: 'openid profile email',
        tokenAuthMethod: name === 'idp-post' ? 'client_secret_post' : 'client_secret_basic',
        profileUrl: name === 'no-profile' ? `${dead}/userinfo` : undefined,
        identifierPath: name === 'no-id' ? 'no.such.claim' : name === 'nested-id' ? 'email' : undefined,
      })
    }
    await bff.addProvider('unreachable', { issuer: dead, clientId: 'x', clientSecret: 'y' })
    await bff.addProvider('no-pkce', { issuer: idp.issuer, clientId: 'client-idp', clientSecret: 'y', pkce: false })
    await bff.addProvider('disabled', { issuer: idp.issuer, clientId: 'client-idp', clientSecret: 'y' })
    await bff.store.db('providers').where({ name: 'disabled' }).update({ client_secret: null })
  })

  afterAll(async () => {
    await bff?.close()
    await idp?.close()
    await drop?.()
  })

  it('redirects to the provider with state, PKCE S256, nonce and the openid scope', async () => {
    const browser = new BrowserSession()
    const location = await startLogin(browser, bff.url, 'idp')
    expect(location.origin + location.pathname).toBe(`${idp.url}/auth`)
    const params = location.searchParams
    expect(params.get('client_id')).toBe('client-idp')
    expect(params.get('redirect_uri')).toBe(`${bff.url}/auth/callback/idp`)
    expect(params.get('response_type')).toBe('code')
    expect(params.get('code_challenge_method')).toBe('S256')
    expect(params.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    // 32 random bytes, base64url: 256 bits of state.
    expect(params.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(params.get('nonce')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(params.get('scope')?.split(' ')).toContain('openid')
    const flowCookie = browser.setCookieHeaders.find((c) => c.header.startsWith('allaccess_flow='))?.header ?? ''
    expect(flowCookie).toMatch(/HttpOnly/i)
    expect(flowCookie).toMatch(/SameSite=Lax/i)
    expect(flowCookie).toMatch(/Path=\//i)
    expect(flowCookie).not.toMatch(/Secure/i)
  })

  it('leaves PKCE out for a provider marked --no-pkce', async () => {
    const params = (await startLogin(new BrowserSession(), bff.url, 'no-pkce')).searchParams
    expect(params.has('code_challenge')).toBe(false)
    expect(params.has('code_challenge_method')).toBe(false)
    expect(params.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('gives a different state to every login', async () => {
    const states = new Set<string>()
    for (let i = 0; i < 5; i++) states.add((await startLogin(new BrowserSession(), bff.url, 'idp')).searchParams.get('state') ?? '')
    expect(states.size).toBe(5)
  })

  it('signs a new user in, creates the user and account, and sends them to next', async () => {
    const browser = new BrowserSession()
    const before = await rowCounts(bff.store.db)
    const landed = await login(browser, bff.url, 'idp', '/welcome?tab=1')
    expect(landed.pathname + landed.search).toBe('/welcome?tab=1')
    const info = await session(browser, bff.url)
    expect(info.authenticated).toBe(true)
    if (!info.authenticated) return
    expect(info.accounts).toEqual([
      expect.objectContaining({ provider: 'idp', identifier: 'alice', status: 'active', displayName: expect.any(String) }),
    ])
    expect(info.user.displayName).toBeTruthy()
    expect(new Date(info.expiresAt).getTime()).toBeGreaterThan(Date.now())
    expect(await rowCounts(bff.store.db)).toEqual({ users: before.users + 1, accounts: before.accounts + 1, sessions: before.sessions + 1 })
    expect(onLoginCalls.at(-1)).toEqual({ provider: 'idp', isNew: true, identifier: 'alice' })
    const sessionCookie = browser.setCookieHeaders.find((c) => c.header.startsWith('allaccess_session=') && !/expires=Thu, 01 Jan 1970/i.test(c.header))?.header ?? ''
    expect(sessionCookie).toMatch(/HttpOnly/i)
    expect(sessionCookie).toMatch(/SameSite=Strict/i)
    expect(sessionCookie).toMatch(/Path=\//i)
    expect(browser.cookie('allaccess_flow')).toBeUndefined()
  })

  it('answers a signed-in session with exactly the fields of DESIGN.md: the user, each account with when it was connected, and the end', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const after = Date.now()
    const response = await browser.fetch(new URL('/auth/session', bff.url), { headers: CSRF })
    expect(response.status).toBe(200)
    const body = await response.json()
    const isoDate = expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
    expect(body).toEqual({
      authenticated: true,
      user: { id: expect.stringMatching(/^\d+$/), displayName: expect.any(String) },
      accounts: [{ provider: 'idp', identifier: 'alice', displayName: expect.any(String), status: 'active', connectedAt: isoDate }],
      expiresAt: isoDate,
    })
    // connectedAt is when this identity was first linked: at or before this login, never in the future.
    expect(Date.parse(body.accounts[0].connectedAt)).toBeLessThanOrEqual(after)
    expect(Date.parse(body.expiresAt)).toBeGreaterThan(after)
  })

  it('keeps the login flow in a short-lived cookie: it expires within minutes, not with the browser or later', async () => {
    const browser = new BrowserSession()
    await startLogin(browser, bff.url, 'idp')
    const flowCookie = browser.setCookieHeaders.find((c) => c.header.startsWith('allaccess_flow='))?.header ?? ''
    const expires = /expires=([^;]+)/i.exec(flowCookie)?.[1]
    const maxAge = /max-age=(\d+)/i.exec(flowCookie)?.[1]
    const lifetimeMs = maxAge !== undefined ? Number(maxAge) * 1000 : Date.parse(expires ?? '') - Date.now()
    expect(lifetimeMs).toBeGreaterThan(60_000)
    expect(lifetimeMs).toBeLessThanOrEqual(15 * 60_000)
  })

  it('stores the tokens encrypted and keeps them out of the log', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp-post')
    const account = await bff.store.accounts.findForUser(Number(((await session(browser, bff.url)) as { user: { id: string } }).user.id), 'idp-post')
    expect(account?.accessToken).toBeTruthy()
    expect(account?.refreshToken).toBeTruthy()
    expect(account?.idToken).toBeTruthy()
    expect(account?.expiresAt).toBeGreaterThan(Date.now())
    const raw = await bff.store.db('accounts').where({ id: account!.id }).first()
    expect(raw.access_token).not.toContain(account!.accessToken)
    expect(raw.access_token).toMatch(/^aa1\./)
    const log = bff.logs.join('\n')
    expect(log).not.toContain(account!.accessToken)
    expect(log).not.toContain(account!.refreshToken)
    expect(log).not.toContain(browser.cookie('allaccess_session')!.value)
    expect(log).not.toMatch(/code=|state=/)
  })

  it('signs a known identity in again without creating anything, with new tokens and status active', async () => {
    const first = new BrowserSession()
    await login(first, bff.url, 'idp')
    const userId = Number(((await session(first, bff.url)) as { user: { id: string } }).user.id)
    const account = await bff.store.accounts.findForUser(userId, 'idp')
    await bff.store.accounts.setStatus(account!.id, 'reauth_required')
    const before = await rowCounts(bff.store.db)

    const second = new BrowserSession()
    await login(second, bff.url, 'idp')
    const info = await session(second, bff.url)
    expect(info.authenticated && info.user.id).toBe(String(userId))
    const after = await bff.store.accounts.get(account!.id)
    expect(after?.status).toBe('active')
    expect(after?.accessToken).not.toBe(account?.accessToken)
    expect(await rowCounts(bff.store.db)).toEqual({ ...before, sessions: before.sessions + 1 })
    expect(onLoginCalls.at(-1)).toEqual({ provider: 'idp', isNew: false, identifier: 'alice' })
  })

  it('gives a new session id at login (no fixation) and ends the old one', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const before = browser.cookie('allaccess_session')!.value
    const stale = new BrowserSession()
    stale.cookies.push({ ...browser.cookie('allaccess_session')! })
    await login(browser, bff.url, 'idp')
    const after = browser.cookie('allaccess_session')!.value
    expect(after).not.toBe(before)
    expect(await session(stale, bff.url)).toEqual({ authenticated: false })
    expect((await session(browser, bff.url)).authenticated).toBe(true)
  })

  it('ignores a planted session cookie it did not sign', async () => {
    const browser = new BrowserSession()
    browser.cookies.push({ name: 'allaccess_session', value: 'planted.AAAA', host: new URL(bff.url).hostname, path: '/', attributes: '' })
    expect(await session(browser, bff.url)).toEqual({ authenticated: false })
  })

  it('refuses a replayed callback with invalid_state and writes nothing', async () => {
    const browser = new BrowserSession()
    const authorization = await startLogin(browser, bff.url, 'idp')
    const atCallback = await browser.navigate(authorization, { stopAt: (url) => url.pathname.startsWith('/auth/callback/') })
    const callbackUrl = atCallback.url
    const replay = new BrowserSession()
    replay.cookies.push(...browser.cookies.map((c) => ({ ...c })))
    const first = await browser.fetch(callbackUrl)
    expect(first.status).toBe(302)
    expect(authError(new URL(first.headers.get('location')!, bff.url))).toBeNull()
    const before = await rowCounts(bff.store.db)
    const second = await replay.fetch(callbackUrl)
    expect(second.status).toBe(302)
    expect(second.headers.get('location')).toBe('/?auth_error=invalid_state')
    expect(await rowCounts(bff.store.db)).toEqual(before)
  })

  describe('callback failures redirect with a code and write nothing', () => {
    async function callbackWith(provider: string, tweak: (params: URLSearchParams, state: string) => void) {
      const browser = new BrowserSession()
      const authorization = await startLogin(browser, bff.url, provider)
      const state = authorization.searchParams.get('state')!
      const url = new URL(`/auth/callback/${provider}`, bff.url)
      tweak(url.searchParams, state)
      const before = await rowCounts(bff.store.db)
      const response = await browser.fetch(url)
      expect(response.status).toBe(302)
      expect(await rowCounts(bff.store.db)).toEqual(before)
      expect(browser.cookie('allaccess_flow')).toBeUndefined()
      return response.headers.get('location')
    }

    /** Runs the provider's side for real and lets `tweak` change the callback the browser brings back. */
    async function realCallbackWith(provider: string, tweak: (params: URLSearchParams) => void = () => {}) {
      const browser = new BrowserSession()
      const authorization = await startLogin(browser, bff.url, provider)
      const atCallback = await browser.navigate(authorization, { stopAt: (url) => url.pathname.startsWith('/auth/callback/') })
      const url = new URL(atCallback.url)
      tweak(url.searchParams)
      const before = await rowCounts(bff.store.db)
      const response = await browser.fetch(url)
      expect(response.status).toBe(302)
      expect(await rowCounts(bff.store.db)).toEqual(before)
      return response.headers.get('location')
    }

    it('access_denied when the provider reports a refusal', async () => {
      expect(await callbackWith('idp', (p, state) => { p.set('error', 'access_denied'); p.set('state', state); p.set('iss', idp.issuer) })).toBe('/?auth_error=access_denied')
    })

    it('invalid_state for a wrong, missing or cookieless state', async () => {
      expect(await callbackWith('idp', (p) => { p.set('code', 'x'); p.set('state', 'A'.repeat(43)); p.set('iss', idp.issuer) })).toBe('/?auth_error=invalid_state')
      expect(await callbackWith('idp', (p) => { p.set('code', 'x'); p.set('iss', idp.issuer) })).toBe('/?auth_error=invalid_state')
      const response = await new BrowserSession().fetch(new URL('/auth/callback/idp?code=x&state=y', bff.url))
      expect(response.headers.get('location')).toBe('/?auth_error=invalid_state')
    })

    it('invalid_state when a flow started for one provider comes back on another', async () => {
      const browser = new BrowserSession()
      const state = (await startLogin(browser, bff.url, 'idp')).searchParams.get('state')!
      const response = await browser.fetch(new URL(`/auth/callback/idp-post?code=x&state=${state}&iss=${encodeURIComponent(idp.issuer)}`, bff.url))
      expect(response.headers.get('location')).toBe('/?auth_error=invalid_state')
    })

    it('missing_code when the code is absent', async () => {
      expect(await callbackWith('idp', (p, state) => { p.set('state', state); p.set('iss', idp.issuer) })).toBe('/?auth_error=missing_code')
    })

    it('issuer_mismatch when the RFC 9207 iss is wrong or missing although announced', async () => {
      expect(await realCallbackWith('idp', (p) => p.set('iss', 'https://evil.example'))).toBe('/?auth_error=issuer_mismatch')
      expect(await realCallbackWith('idp', (p) => p.delete('iss'))).toBe('/?auth_error=issuer_mismatch')
    })

    // RFC 6749 §3.1: no parameter twice. Each second copy here is the provider's own value or a
    // wrong one after it, where reading the first copy alone would sign in.
    it('invalid_state, missing_code or issuer_mismatch when the real callback carries state, code or iss twice', async () => {
      expect(await realCallbackWith('idp', (p) => p.append('state', p.get('state')!))).toBe('/?auth_error=invalid_state')
      expect(await realCallbackWith('idp', (p) => p.append('code', 'forged-code'))).toBe('/?auth_error=missing_code')
      expect(await realCallbackWith('idp', (p) => p.append('code', p.get('code')!))).toBe('/?auth_error=missing_code')
      expect(await realCallbackWith('idp', (p) => p.append('iss', 'https://evil.example'))).toBe('/?auth_error=issuer_mismatch')
    })

    it('access_denied when the provider reports an error, even an empty one, beside a code', async () => {
      expect(await realCallbackWith('idp', (p) => p.set('error', ''))).toBe('/?auth_error=access_denied')
      expect(await realCallbackWith('idp', (p) => { p.append('error', 'access_denied'); p.append('error', 'access_denied') })).toBe('/?auth_error=access_denied')
    })

    it('token_request_failed when the provider refuses the code', async () => {
      expect(await realCallbackWith('idp', (p) => p.set('code', 'forged-code'))).toBe('/?auth_error=token_request_failed')
    })

    it('id_token_invalid for a forged signature or a wrong nonce', async () => {
      expect(await realCallbackWith('forged')).toBe('/?auth_error=id_token_invalid')
      expect(await realCallbackWith('wrong-nonce')).toBe('/?auth_error=id_token_invalid')
    })

    it('profile_request_failed when the profile cannot be loaded', async () => {
      expect(await realCallbackWith('no-profile')).toBe('/?auth_error=profile_request_failed')
    })

    it('missing_identifier when the profile lacks the identifier path', async () => {
      expect(await realCallbackWith('no-id')).toBe('/?auth_error=missing_identifier')
    })
  })

  it('takes the identifier from a custom path', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'nested-id')
    const info = await session(browser, bff.url)
    expect(info.authenticated && info.accounts[0].identifier).toMatch(/@/)
  })

  it('redirects to /?auth_error=provider_unavailable when discovery fails', async () => {
    const response = await new BrowserSession().fetch(new URL('/auth/login/unreachable', bff.url))
    expect(response.status).toBe(302)
    expect(response.headers.get('location')).toBe('/?auth_error=provider_unavailable')
  })

  it.each([
    ['null', () => 'null'],
    ['a list', () => '[]'],
    ['no issuer', (url: string) => JSON.stringify({ authorization_endpoint: `${url}/auth`, token_endpoint: `${url}/token`, jwks_uri: `${url}/jwks` })],
    // OpenID Connect Discovery §4.3: a document naming another issuer would have ID tokens of that issuer accepted.
    ['another issuer', (url: string) => JSON.stringify({ issuer: 'https://evil.example', authorization_endpoint: `${url}/auth`, token_endpoint: `${url}/token`, jwks_uri: `${url}/jwks` })],
    ['algorithms not a list', (url: string) => JSON.stringify({ issuer: url, authorization_endpoint: `${url}/auth`, token_endpoint: `${url}/token`, jwks_uri: `${url}/jwks`, id_token_signing_alg_values_supported: 'RS256' })],
    // JSON that no String() can turn into text: it must not become a server_error.
    ['an endpoint that is an object', (url: string) => JSON.stringify({ issuer: url, authorization_endpoint: `${url}/auth`, token_endpoint: `${url}/token`, jwks_uri: `${url}/jwks`, userinfo_endpoint: { toString: null } })],
    ['an issuer that is an object', (url: string) => JSON.stringify({ issuer: { toString: null }, authorization_endpoint: `${url}/auth`, token_endpoint: `${url}/token`, jwks_uri: `${url}/jwks` })],
    // 400 kB, under the cap, nested deeper than any recursive walk of it can go.
    ['an issuer nested 200,000 lists deep', (url: string) => `{"issuer":${'['.repeat(200_000)}${']'.repeat(200_000)},"authorization_endpoint":"${url}/auth","token_endpoint":"${url}/token","jwks_uri":"${url}/jwks"}`],
    ['an endpoint that is a list', (url: string) => JSON.stringify({ issuer: url, authorization_endpoint: [`${url}/auth`], token_endpoint: `${url}/token`, jwks_uri: `${url}/jwks` })],
  ])('redirects to /?auth_error=provider_unavailable when discovery answers a document it cannot use (%s)', async (_, document) => {
    const broken = await startRecordingServer(() => ({ status: 200, body: document(broken.url), type: 'application/json' }))
    try {
      const name = `broken-${Math.random().toString(36).slice(2, 8)}`
      await bff.addProvider(name, { issuer: broken.url, clientId: 'c', clientSecret: 's' })
      const response = await new BrowserSession().fetch(new URL(`/auth/login/${name}`, bff.url))
      expect(response.status).toBe(302)
      expect(response.headers.get('location')).toBe('/?auth_error=provider_unavailable')
    } finally {
      await broken.close()
    }
  })

  it.each(['nope', 'disabled'])('answers 404 unknown_provider for the %s provider on login and callback', async (name) => {
    for (const path of [`/auth/login/${name}`, `/auth/callback/${name}?code=x&state=y`]) {
      const response = await fetch(new URL(path, bff.url), { redirect: 'manual' })
      expect(response.status).toBe(404)
      expect(await response.json()).toEqual({ error: 'unknown_provider', message: expect.any(String) })
    }
  })

  it.each([
    ['//evil.example/x', '/'],
    ['https://evil.example/', '/'],
    ['/\\evil.example', '/'],
    ['/ok/path?x=1', '/ok/path?x=1'],
  ])('sends next=%s to %s after login', async (next, expected) => {
    const landed = await login(new BrowserSession(), bff.url, 'idp', next)
    expect(landed.pathname + landed.search).toBe(expected)
    expect(landed.origin).toBe(bff.url)
  })

  it('signs both in when two first logins of one identity arrive at once, as one user', async () => {
    const browsers = [new BrowserSession(), new BrowserSession(), new BrowserSession()]
    const landed = await Promise.all(browsers.map((browser) => login(browser, bff.url, 'twice')))
    expect(landed.map((url) => authError(url))).toEqual([null, null, null])
    const users = await Promise.all(browsers.map(async (browser) => (await session(browser, bff.url)) as { user: { id: string } }))
    expect(new Set(users.map((info) => info.user.id)).size).toBe(1)
  })

  it('lists enabled providers only, without secrets', async () => {
    const response = await fetch(new URL('/auth/providers', bff.url))
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(response.headers.get('x-content-type-options')).toBe('nosniff')
    const body = (await response.json()) as { providers: { name: string }[] }
    expect(body.providers.map((p) => p.name)).toContain('idp')
    expect(body.providers.map((p) => p.name)).not.toContain('disabled')
    expect(Object.keys(body.providers[0]).sort()).toEqual(['displayName', 'name', 'protocol'])
    expect(JSON.stringify(body)).not.toContain('secret-')
  })

  describe('CSRF and Origin checks', () => {
    it('refuses session, logout and disconnect without X-CSRF, and changes nothing', async () => {
      const browser = new BrowserSession()
      await login(browser, bff.url, 'idp')
      for (const [method, path] of [['GET', '/auth/session'], ['POST', '/auth/logout'], ['DELETE', '/auth/accounts/idp'], ['GET', '/api/idp/me']]) {
        const response = await browser.fetch(new URL(path, bff.url), { method })
        expect(response.status).toBe(403)
        expect(await response.json()).toEqual({ error: 'csrf_required', message: expect.any(String) })
      }
      const info = await session(browser, bff.url)
      expect(info.authenticated && info.accounts.map((a) => a.provider)).toContain('idp')
    })

    it.each(['0', 'true', '1, 1', ''])('refuses X-CSRF: %j, which is not the contract\'s X-CSRF: 1', async (value) => {
      const browser = new BrowserSession()
      await login(browser, bff.url, 'idp')
      const response = await browser.fetch(new URL('/auth/logout', bff.url), { method: 'POST', headers: { 'X-CSRF': value } })
      expect(response.status).toBe(403)
      expect(await response.json()).toEqual({ error: 'csrf_required', message: expect.any(String) })
      expect((await session(browser, bff.url)).authenticated).toBe(true)
    })

    it('refuses a foreign Origin with origin_not_allowed', async () => {
      const browser = new BrowserSession()
      await login(browser, bff.url, 'idp')
      const response = await browser.fetch(new URL('/auth/logout', bff.url), { method: 'POST', headers: { ...CSRF, Origin: 'https://evil.example' } })
      expect(response.status).toBe(403)
      expect(await response.json()).toEqual({ error: 'origin_not_allowed', message: expect.any(String) })
      expect((await session(browser, bff.url)).authenticated).toBe(true)
      const own = await browser.fetch(new URL('/auth/session', bff.url), { headers: { ...CSRF, Origin: bff.url } })
      expect(own.status).toBe(200)
    })
  })

  it('logs out: 204, cookie cleared, and a replayed cookie is no longer a session', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const replay = new BrowserSession()
    replay.cookies.push({ ...browser.cookie('allaccess_session')! })
    const response = await browser.fetch(new URL('/auth/logout', bff.url), { method: 'POST', headers: CSRF })
    expect(response.status).toBe(204)
    expect(browser.cookie('allaccess_session')).toBeUndefined()
    expect(await session(replay, bff.url)).toEqual({ authenticated: false })
    // The browser holding the ended session's cookie is told to drop it.
    expect(replay.cookie('allaccess_session')).toBeUndefined()
  })

  it('refuses a disconnect without a session with 401 not_authenticated, and unlinks nothing', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const accounts = await bff.store.db('accounts').count({ n: '*' })
    const response = await fetch(new URL('/auth/accounts/idp', bff.url), { method: 'DELETE', headers: CSRF })
    expect(response.status).toBe(401)
    expect(await response.json()).toEqual({ error: 'not_authenticated', message: expect.any(String) })
    expect(await bff.store.db('accounts').count({ n: '*' })).toEqual(accounts)
    const info = await session(browser, bff.url)
    expect(info.authenticated && info.accounts.map((a) => a.provider)).toEqual(['idp'])
  })

  it('answers the session of nobody as unauthenticated, with no-store', async () => {
    const response = await fetch(new URL('/auth/session', bff.url), { headers: CSRF })
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(await response.json()).toEqual({ authenticated: false })
  })
})

describe.each(databases)('cookies under an https PUBLIC_URL on $kind', (database) => {
  it('uses the __Host- prefix and Secure for the flow cookie', async () => {
    const { url, drop } = await database.create()
    const bff = await startBff(url, { publicUrl: 'https://app.example' })
    try {
      await bff.addProvider('idp', { authorizationUrl: 'https://idp.example/authorize', accessTokenUrl: 'https://idp.example/token', profileUrl: 'https://idp.example/me', clientId: 'a', clientSecret: 'b' })
      const browser = new BrowserSession()
      const location = await startLogin(browser, bff.url, 'idp')
      expect(location.searchParams.get('redirect_uri')).toBe('https://app.example/auth/callback/idp')
      const header = browser.setCookieHeaders[0].header
      expect(header).toMatch(/^__Host-allaccess_flow=/)
      expect(header).toMatch(/; secure/i)
      expect(header).toMatch(/; path=\//i)
      expect(header).toMatch(/httponly/i)
      expect(header).not.toMatch(/domain=/i)
    } finally {
      await bff.close()
      await drop()
    }
  })
})

describe.each(databases)('RFC 9207 iss on a plain OAuth 2.0 login on $kind', (database) => {
  it('refuses with issuer_mismatch a callback whose iss is not the configured issuer, writing nothing, and signs in with the right one', async () => {
    const { url, drop } = await database.create()
    const bff = await startBff(url)
    const answers = { '/token': () => ({ body: { access_token: 'at', token_type: 'Bearer' } }), '/profile': () => ({ body: { id: 'u-1' } }) }
    // A mix-up attack: the callback names another authorization server than the one configured.
    const mixedUp = await startDocumentedProvider({ answers, callbackParams: { iss: 'https://evil.example' } })
    const honestParams: Record<string, string> = {}
    const honest = await startDocumentedProvider({ answers, callbackParams: honestParams })
    honestParams.iss = honest.url
    try {
      for (const [name, provider] of [['mixed-up', mixedUp], ['honest', honest]] as const) {
        await bff.addProvider(name, { protocol: 'oauth2', issuer: provider.url, authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/profile`, clientId: 'c', clientSecret: 's' })
      }
      const before = await rowCounts(bff.store.db)
      expect(authError(await login(new BrowserSession(), bff.url, 'mixed-up'))).toBe('issuer_mismatch')
      expect(mixedUp.at('/token')).toHaveLength(0)
      expect(await rowCounts(bff.store.db)).toEqual(before)
      expect(authError(await login(new BrowserSession(), bff.url, 'honest'))).toBeNull()
    } finally {
      await mixedUp.close()
      await honest.close()
      await bff.close()
      await drop()
    }
  })
})

describe.each(databases)("an OpenID Connect login whose provider cannot give the ID token's key on $kind", (database) => {
  const signed: Answerer = async (_request, p) => ({ body: { access_token: 'at', token_type: 'Bearer', id_token: await p.idToken({ sub: 'alice' }) } })
  const rotatedKey = generateKeyPair('RS256').then((pair) => pair.privateKey)
  const signedWithNewKey: Answerer = async (_request, p) => ({
    body: { access_token: 'at', token_type: 'Bearer', id_token: await new SignJWT(decodeJwt(await p.idToken({ sub: 'alice' }))).setProtectedHeader({ alg: 'RS256', kid: 'rotated' }).sign(await rotatedKey) },
  })

  it.each<[string, Record<string, Answerer>]>([
    ['its key set answers 503', { '/token': signed, '/jwks': () => ({ status: 503, body: { error: 'busy' } }) }],
    ['its key set answers without JSON', { '/token': signed, '/jwks': () => ({ body: '<html>maintenance</html>' }) }],
    ['its key set lists keys that are not objects', { '/token': signed, '/jwks': () => ({ body: { keys: [null] } }) }],
    ["its key set gives the token's key without its modulus", { '/token': signed, '/jwks': () => ({ body: { keys: [{ kty: 'RSA', kid: 'documented', alg: 'RS256', use: 'sig', e: 'AQAB' }] } }) }],
    ["its key set gives the token's key far too short", { '/token': signed, '/jwks': () => ({ body: { keys: [{ kty: 'RSA', kid: 'documented', alg: 'RS256', use: 'sig', n: 'AQAB', e: 'AQAB' }] } }) }],
    ['the key set does not show the key yet (a rotation)', { '/token': signedWithNewKey }],
  ])('fails with provider_unavailable, to be tried again, when %s, and writes nothing', async (_name, answers) => {
    const { url, drop } = await database.create()
    const bff = await startBff(url)
    const provider = await startDocumentedProvider({ discovery: {}, answers })
    try {
      await bff.addProvider('keyless', { issuer: provider.url, clientId: 'c', clientSecret: 's' })
      const before = await rowCounts(bff.store.db)
      expect(authError(await login(new BrowserSession(), bff.url, 'keyless'))).toBe('provider_unavailable')
      expect(await rowCounts(bff.store.db)).toEqual(before)
    } finally {
      await provider.close()
      await bff.close()
      await drop()
    }
  })
})

describe.each(databases)('an OpenID Connect token answer without an ID token on $kind', (database) => {
  it('fails the login with id_token_invalid and writes nothing: without it, neither nonce nor issuer would be checked', async () => {
    const { url, drop } = await database.create()
    const bff = await startBff(url)
    const provider = await startDocumentedProvider({
      discovery: {},
      answers: { '/token': () => ({ body: { access_token: 'at', token_type: 'Bearer' } }), '/userinfo': () => ({ body: { sub: 'mallory' } }) },
    })
    try {
      await bff.addProvider('no-id-token', { issuer: provider.url, profileUrl: `${provider.url}/userinfo`, clientId: 'c', clientSecret: 's' })
      const before = await rowCounts(bff.store.db)
      expect(authError(await login(new BrowserSession(), bff.url, 'no-id-token'))).toBe('id_token_invalid')
      expect(provider.at('/token')).toHaveLength(1)
      expect(await rowCounts(bff.store.db)).toEqual(before)
    } finally {
      await provider.close()
      await bff.close()
      await drop()
    }
  })
})

describe.each(databases)('an OpenID Connect login whose ID token breaks OpenID Connect Core on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let provider: Awaited<ReturnType<typeof startDocumentedProvider>>
  /** The claims the next login's ID token carries besides those the provider fills in. */
  let claims: Record<string, unknown> = {}
  const now = () => Math.floor(Date.now() / 1000)

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url)
    provider = await startDocumentedProvider({
      discovery: {},
      answers: { '/token': async (_request, p) => ({ body: { access_token: 'at', token_type: 'Bearer', id_token: await p.idToken({ email: 'alice@example.com', ...claims }) } }) },
    })
    // Named by email: only the ID token's own checks stand between a bad sub and the account.
    await bff.addProvider('op', { issuer: provider.url, clientId: 'c', clientSecret: 's', identifierPath: 'email' })
  })

  afterAll(async () => {
    await bff?.close()
    await provider?.close()
    await drop?.()
  })

  it.each<[string, () => Record<string, unknown>]>([
    // OpenID Connect Core §2: a case-sensitive string of at most 255 ASCII characters.
    ['a sub that is a number', () => ({ sub: 123 })],
    ['an empty sub', () => ({ sub: '' })],
    ['a sub longer than 255 characters', () => ({ sub: 'a'.repeat(256) })],
    // jwtVerify lets a future iat by; a back-channel logout is judged against it, and would seem older.
    ['an iat an hour from now', () => ({ sub: 'alice', iat: now() + 3600, exp: now() + 3900 })],
    // A sid read as none would store the session without it: a back-channel logout by sid could not end it.
    ['a sid that is a number', () => ({ sub: 'alice', sid: 42 })],
    ['an empty sid', () => ({ sub: 'alice', sid: '' })],
    ['a sid that is an object', () => ({ sub: 'alice', sid: { id: 'session-1' } })],
    ['a sid that is null', () => ({ sub: 'alice', sid: null })],
    ['a sid longer than 255 characters', () => ({ sub: 'alice', sid: 's'.repeat(256) })],
  ])('fails with id_token_invalid for an ID token with %s, and writes nothing', async (_name, made) => {
    claims = made()
    const before = await rowCounts(bff.store.db)
    expect(authError(await login(new BrowserSession(), bff.url, 'op'))).toBe('id_token_invalid')
    expect(await rowCounts(bff.store.db)).toEqual(before)
  })

  it("signs in with a sub of 255 characters, issued ahead of this clock by less than the clocks' 30 s tolerance", async () => {
    claims = { sub: 'a'.repeat(255), iat: now() + 20 }
    expect(authError(await login(new BrowserSession(), bff.url, 'op'))).toBeNull()
  })

  it('signs in with a sid of 255 characters, whose session a back-channel logout naming that sid then ends', async () => {
    const sid = 's'.repeat(255)
    claims = { sub: 'alice', sid }
    const browser = new BrowserSession()
    expect(authError(await login(browser, bff.url, 'op'))).toBeNull()
    expect((await session(browser, bff.url)).authenticated).toBe(true)
    const logoutToken = await provider.idToken({ sid, nonce: undefined, jti: `jti-${Date.now()}`, events: { 'http://schemas.openid.net/event/backchannel-logout': {} } })
    const answer = await fetch(new URL('/auth/backchannel-logout/op', bff.url), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: logoutToken }).toString(),
    })
    expect(answer.status).toBe(200)
    expect((await session(browser, bff.url)).authenticated).toBe(false)
  })
})

describe.each(databases)('an OpenID Connect login that asked a max_age on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let provider: Awaited<ReturnType<typeof startDocumentedProvider>>
  /** The claims the next login's ID token carries besides those the provider fills in. */
  let claims: Record<string, unknown> = {}
  const now = () => Math.floor(Date.now() / 1000)

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    // `recent` and `garbled` ask their max_age through the host's hook, `stored` through its extra authorization parameters.
    const hookMaxAge: Record<string, string> = { recent: '60', garbled: 'soon' }
    bff = await startBff(created.url, { hooks: { getAdditionalParameters: ({ provider: p }): Record<string, string> => (hookMaxAge[p.name] ? { max_age: hookMaxAge[p.name] } : {}) } })
    provider = await startDocumentedProvider({
      discovery: {},
      answers: { '/token': async (_request, p) => ({ body: { access_token: 'at', token_type: 'Bearer', id_token: await p.idToken({ sub: 'alice', ...claims }) } }) },
    })
    await bff.addProvider('stored', { issuer: provider.url, clientId: 'c', clientSecret: 's', extraAuthorizationParams: { max_age: '600' } })
    await bff.addProvider('recent', { issuer: provider.url, clientId: 'c', clientSecret: 's' })
    await bff.addProvider('any', { issuer: provider.url, clientId: 'c', clientSecret: 's' })
    await bff.addProvider('garbled', { issuer: provider.url, clientId: 'c', clientSecret: 's' })
  })

  afterAll(async () => {
    await bff?.close()
    await provider?.close()
    await drop?.()
  })

  it('asks the provider for the max_age of the provider or of the getAdditionalParameters hook', async () => {
    expect((await startLogin(new BrowserSession(), bff.url, 'stored')).searchParams.get('max_age')).toBe('600')
    expect((await startLogin(new BrowserSession(), bff.url, 'recent')).searchParams.get('max_age')).toBe('60')
    expect((await startLogin(new BrowserSession(), bff.url, 'any')).searchParams.has('max_age')).toBe(false)
  })

  it.each<[string, string, () => Record<string, unknown>]>([
    // OpenID Connect Core §3.1.2.1: asked a max_age, the provider must say when the user authenticated.
    ['without auth_time, the max_age coming from the provider', 'stored', () => ({})],
    ['without auth_time, the max_age coming from the hook', 'recent', () => ({})],
    // §3.1.3.7 item 11: 600 s and the clocks' 30 s tolerance are past.
    ['an auth_time older than the provider\'s max_age allows', 'stored', () => ({ auth_time: now() - 700 })],
    ['an auth_time older than the hook\'s max_age allows', 'recent', () => ({ auth_time: now() - 3600 })],
    ['an auth_time that is not a number', 'stored', () => ({ auth_time: String(now()) })],
    ['an auth_time that is not a number, though no max_age was asked', 'any', () => ({ auth_time: String(now()) })],
  ])('fails with id_token_invalid for an ID token %s, and writes nothing', async (_name, name, made) => {
    claims = made()
    const before = await rowCounts(bff.store.db)
    expect(authError(await login(new BrowserSession(), bff.url, name))).toBe('id_token_invalid')
    expect(await rowCounts(bff.store.db)).toEqual(before)
  })

  it.each<[string, string, () => Record<string, unknown>]>([
    ['an auth_time within the provider\'s max_age', 'stored', () => ({ auth_time: now() - 300 })],
    ['an auth_time past the hook\'s max_age by less than the clocks\' 30 s tolerance', 'recent', () => ({ auth_time: now() - 80 })],
    ['no auth_time when no max_age was asked', 'any', () => ({})],
    ['an auth_time of long ago when no max_age was asked', 'any', () => ({ auth_time: now() - 30 * 86_400 })],
  ])('signs in with an ID token with %s', async (_name, name, made) => {
    claims = made()
    const browser = new BrowserSession()
    expect(authError(await login(browser, bff.url, name))).toBeNull()
    expect((await session(browser, bff.url)).authenticated).toBe(true)
  })

  it("refuses to start a login whose hook's max_age is not a whole number of seconds, storing no login flow", async () => {
    const [{ count: before }] = await bff.store.db('login_flows').count({ count: '*' })
    expect(authError(await login(new BrowserSession(), bff.url, 'garbled'))).toBe('server_error')
    const [{ count: after }] = await bff.store.db('login_flows').count({ count: '*' })
    expect(Number(after)).toBe(Number(before))
    expect(provider.at('/authorize').some((request) => request.url.includes('max_age=soon'))).toBe(false)
  })
})
