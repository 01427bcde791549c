import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { readFileSync } from 'node:fs'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startDocumentedProvider, type DocumentedProvider } from './support/documented-provider.ts'
import { login, session, startLogin } from './support/login.ts'
import { signedIn } from './support/signed-in.ts'

const CSRF = { 'X-CSRF': '1' }
const credentials = { clientId: 'client-id', clientSecret: 'client-secret' }
const profileOf = (preset: string) => (JSON.parse(readFileSync(`test/fixtures/presets/${preset}.json`, 'utf8')) as { profile: Record<string, unknown> }).profile
const form = (body: string) => Object.fromEntries(new URLSearchParams(body))

/** The accounts of a signed-in browser, as the SPA sees them. */
async function accountsOf(browser: BrowserSession, bffUrl: string) {
  const info = await session(browser, bffUrl)
  if (!info.authenticated) throw new Error('not signed in')
  return info.accounts.map(({ provider, identifier, displayName, status }) => ({ provider, identifier, displayName, status }))
}

describe.each(databases)('logins through presets, against providers answering as documented, on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  const providers: DocumentedProvider[] = []

  async function documented(options: Parameters<typeof startDocumentedProvider>[0]) {
    const provider = await startDocumentedProvider(options)
    providers.push(provider)
    return provider
  }

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url)
  })

  afterEach(async () => {
    for (const provider of providers.splice(0)) await provider.close()
  })

  afterAll(async () => {
    await bff?.close()
    await drop?.()
  })

  it('OAuth 1.0a (discogs): the request token by GET, the documented access token answer, the identity read by the preset', async () => {
    const discogs = await documented({
      answers: {
        '/access_token': () => ({ body: 'oauth_token=abc123&oauth_token_secret=xyz789', type: 'application/x-www-form-urlencoded' }),
        '/identity': () => ({ body: profileOf('discogs') }),
      },
    })
    await bff.addProvider('discogs', {
      preset: 'discogs',
      requestTokenUrl: `${discogs.url}/request_token`,
      authorizationUrl: `${discogs.url}/authorize`,
      accessTokenUrl: `${discogs.url}/access_token`,
      profileUrl: `${discogs.url}/identity`,
      ...credentials,
    })
    const browser = new BrowserSession()
    expect((await login(browser, bff.url, 'discogs')).pathname).toBe('/')
    expect(discogs.at('/request_token').map((r) => r.method)).toEqual(['GET'])
    expect(discogs.at('/access_token').map((r) => r.method)).toEqual(['POST'])
    expect(discogs.at('/access_token')[0].headers.authorization).toMatch(/oauth_verifier="verifier-1"/)
    expect(discogs.at('/identity')[0].headers.authorization).toMatch(/oauth_token="abc123"/)
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'discogs', identifier: '1', displayName: 'example', status: 'active' }])
  })

  it('OAuth 1.0a (trello): the scope in the authorization request, and the member read by the preset', async () => {
    const trello = await documented({
      answers: {
        '/access_token': () => ({ body: 'oauth_token=trello-token&oauth_token_secret=trello-secret', type: 'text/plain' }),
        '/members/me': () => ({ body: profileOf('trello') }),
      },
    })
    await bff.addProvider('trello', {
      preset: 'trello',
      requestTokenUrl: `${trello.url}/request_token`,
      authorizationUrl: `${trello.url}/authorize`,
      accessTokenUrl: `${trello.url}/access_token`,
      profileUrl: `${trello.url}/members/me`,
      scope: 'read write',
      ...credentials,
    })
    const browser = new BrowserSession()
    await login(browser, bff.url, 'trello')
    expect(trello.at('/request_token').map((r) => r.method)).toEqual(['POST'])
    expect(new URLSearchParams(trello.at('/authorize')[0].url.split('?')[1]).get('scope')).toBe('read,write')
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'trello', identifier: '5abbe4b7ddc1b351ef961414', displayName: 'Bentley Cook', status: 'active' }])
  })

  it('OAuth 2.0 (github): PKCE, the client secret in the body, the documented token answer, and the grant deleted on disconnect', async () => {
    const github = await documented({
      answers: {
        '/token': () => ({ body: { access_token: 'gho_16C7e42F292c6912E7710c838347Ae178B4a', scope: 'repo,gist', token_type: 'bearer' } }),
        '/user': () => ({ body: profileOf('github') }),
        // https://docs.github.com/en/rest/apps/oauth-applications#delete-an-app-authorization
        '/applications/client-id/grant': () => ({ status: 204 }),
      },
    })
    await bff.addProvider('github', { preset: 'github', authorizationUrl: `${github.url}/authorize`, accessTokenUrl: `${github.url}/token`, profileUrl: `${github.url}/user`, apiBaseUrl: github.url, revocationUrl: `${github.url}/applications`, ...credentials })
    const redirect = await startLogin(new BrowserSession(), bff.url, 'github')
    expect(redirect.searchParams.get('code_challenge_method')).toBe('S256')
    expect(redirect.searchParams.get('scope')).toBe('read:user user:email')

    const browser = new BrowserSession()
    await login(browser, bff.url, 'github')
    const exchange = github.at('/token').at(-1)!
    expect(exchange.headers.accept).toBe('application/json')
    expect(exchange.headers.authorization).toBeUndefined()
    expect(form(exchange.body)).toEqual(expect.objectContaining({ grant_type: 'authorization_code', code: 'code-1', client_id: 'client-id', client_secret: 'client-secret', code_verifier: expect.any(String) }))
    expect(github.at('/user')[0].headers.authorization).toBe('Bearer gho_16C7e42F292c6912E7710c838347Ae178B4a')
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'github', identifier: '1', displayName: 'monalisa octocat', status: 'active' }])

    const requests = github.received.length
    const response = await browser.fetch(new URL('/auth/accounts/github', bff.url), { method: 'DELETE', headers: CSRF })
    expect(response.status).toBe(204)
    // The app's credentials as Basic, the user's token in a JSON body: one call ends every token of the grant.
    expect(github.received.slice(requests).map((r) => [r.method, r.url, r.headers.authorization, r.headers['content-type'], r.headers.accept, JSON.parse(r.body)])).toEqual([
      ['DELETE', '/applications/client-id/grant', `Basic ${Buffer.from('client-id:client-secret').toString('base64')}`, 'application/json', 'application/vnd.github+json', { access_token: 'gho_16C7e42F292c6912E7710c838347Ae178B4a' }],
    ])
    expect(bff.logs.some((line) => /revocation/.test(line))).toBe(false)
  })

  it('OAuth 2.0 with PKCE (garmin): S256 and no scope, the client secret in the body, the user id read with the token, and the user deregistered on disconnect', async () => {
    let registered = true
    const garmin = await documented({
      answers: {
        // Garmin's OAuth2.0 PKCE Specification: a day-long access token, and a new refresh token at each refresh.
        '/di-oauth2-service/oauth/token': (request) => {
          const grant = form(request.body)
          const answer = (access: string, refresh: string) => ({ body: { access_token: access, expires_in: 86400, token_type: 'bearer', refresh_token: refresh, scope: 'PARTNER_WRITE PARTNER_READ CONNECT_READ CONNECT_WRITE', jti: 'f9eb2316-9b9d-495a-8732-e16c4b5bcafd', refresh_token_expires_in: 7775998 } })
          if (grant.grant_type === 'authorization_code') return answer('VTkc5JilK0dd8w_s0FJGabMq', 'xUEA805jTCcGd4b7rs-SkOJP==')
          if (grant.grant_type === 'refresh_token' && grant.refresh_token === 'xUEA805jTCcGd4b7rs-SkOJP==') return answer('Zk3LqM0ee9x_t1GKHbcNr', 'yVFB916kUDdHe5c8st-TlPKQ==')
          return { status: 400, body: { error: 'invalid_grant' } }
        },
        '/wellness-api/rest/user/id': () => ({ body: profileOf('garmin') }),
        // Start Guide, "Delete User Access Token": 204 and no body; the registration gone, its tokens are refused.
        '/wellness-api/rest/user/registration': (request) =>
          request.method === 'DELETE' && registered && request.headers.authorization === 'Bearer Zk3LqM0ee9x_t1GKHbcNr' ? ((registered = false), { status: 204 }) : { status: 401, body: '' },
      },
    })
    const at = (path: string) => `${garmin.url}${path}`
    await bff.addProvider('garmin', { preset: 'garmin', authorizationUrl: at('/authorize'), accessTokenUrl: at('/di-oauth2-service/oauth/token'), profileUrl: at('/wellness-api/rest/user/id'), apiBaseUrl: garmin.url, revocationUrl: at('/wellness-api/rest/user/registration'), ...credentials })
    const redirect = await startLogin(new BrowserSession(), bff.url, 'garmin')
    expect(redirect.searchParams.get('code_challenge_method')).toBe('S256')
    expect(redirect.searchParams.has('scope')).toBe(false)

    const browser = new BrowserSession()
    await login(browser, bff.url, 'garmin')
    const exchange = garmin.at('/di-oauth2-service/oauth/token').at(-1)!
    expect(exchange.headers.authorization).toBeUndefined()
    expect(form(exchange.body)).toEqual(expect.objectContaining({ grant_type: 'authorization_code', code: 'code-1', client_id: 'client-id', client_secret: 'client-secret', code_verifier: expect.any(String) }))
    expect(garmin.at('/wellness-api/rest/user/id')[0].headers.authorization).toBe('Bearer VTkc5JilK0dd8w_s0FJGabMq')
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'garmin', identifier: 'd3315b1072421d0dd7c8f6b8e1de4df8', displayName: null, status: 'active' }])

    const requests = garmin.received.length
    const response = await browser.fetch(new URL('/auth/accounts/garmin', bff.url), { method: 'DELETE', headers: CSRF })
    expect(response.status).toBe(204)
    // The refresh token buys an access token that works, with which the registration is deleted.
    expect(garmin.received.slice(requests).map((r) => [r.method, r.url, r.method === 'POST' ? form(r.body) : r.headers.authorization])).toEqual([
      ['POST', '/di-oauth2-service/oauth/token', { grant_type: 'refresh_token', refresh_token: 'xUEA805jTCcGd4b7rs-SkOJP==', client_id: 'client-id', client_secret: 'client-secret' }],
      ['DELETE', '/wellness-api/rest/user/registration', 'Bearer Zk3LqM0ee9x_t1GKHbcNr'],
      ['DELETE', '/wellness-api/rest/user/registration', 'Bearer VTkc5JilK0dd8w_s0FJGabMq'],
    ])
    expect(registered).toBe(false)
    expect(bff.logs.some((line) => /revocation/.test(line))).toBe(false)
  })

  it('OpenID Connect (google): the documented token answer with its ID token, userinfo, and both tokens revoked on disconnect', async () => {
    const profile = profileOf('google')
    const google = await documented({
      discovery: { revocation_endpoint: 'https://wrong.example/revoke' },
      answers: {
        '/token': async (_request, provider) => ({
          body: {
            access_token: 'ya29.a0AfH6SMBx',
            expires_in: 3599,
            scope: 'openid https://www.googleapis.com/auth/userinfo.email https://www.googleapis.com/auth/userinfo.profile',
            token_type: 'Bearer',
            id_token: await provider.idToken({ sub: profile.sub, email: profile.email, email_verified: true }),
            refresh_token: '1//0gLxRefresh',
          },
        }),
        '/userinfo': () => ({ body: profile }),
        '/revoke': () => ({ body: '' }),
      },
    })
    await bff.addProvider('google', { preset: 'google', issuer: google.url, profileUrl: `${google.url}/userinfo`, revocationUrl: `${google.url}/revoke`, ...credentials })
    const redirect = await startLogin(new BrowserSession(), bff.url, 'google')
    expect(Object.fromEntries(redirect.searchParams)).toEqual(expect.objectContaining({ access_type: 'offline', prompt: 'consent', code_challenge_method: 'S256', scope: 'openid email profile' }))

    const browser = new BrowserSession()
    await login(browser, bff.url, 'google')
    expect(form(google.at('/token').at(-1)!.body)).toEqual(expect.objectContaining({ client_id: 'client-id', client_secret: 'client-secret', code_verifier: expect.any(String) }))
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'google', identifier: '10769150350006150715113082367', displayName: 'John Smith', status: 'active' }])

    const response = await browser.fetch(new URL('/auth/accounts/google', bff.url), { method: 'DELETE', headers: CSRF })
    expect(response.status).toBe(204)
    expect(google.at('/revoke').map((r) => form(r.body))).toEqual([
      { token: '1//0gLxRefresh', token_type_hint: 'refresh_token', client_id: 'client-id', client_secret: 'client-secret' },
      { token: 'ya29.a0AfH6SMBx', token_type_hint: 'access_token', client_id: 'client-id', client_secret: 'client-secret' },
    ])
  })

  describe('refresh follows the preset', () => {
    const expired = { accessToken: 'expired-token', refreshToken: 'refresh-1', expiresAt: Date.now() - 60_000 }

    async function providerFor(preset: string) {
      const provider = await documented({
        answers: {
          '/token': () => ({ body: { access_token: 'fresh-token', token_type: 'bearer', expires_in: 3600, refresh_token: 'refresh-2' } }),
          '/api/me': (request) => (request.headers.authorization === 'Bearer fresh-token' ? { body: { ok: true } } : { status: 401, body: { message: 'Bad credentials' } }),
        },
      })
      await bff.addProvider(`refresh-${preset}`, { preset, authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/api/me`, apiBaseUrl: `${provider.url}/api`, ...credentials })
      return provider
    }

    it('never asks a provider that gives no refresh token (github) for one, even with an expired token and a refresh token at hand', async () => {
      const github = await providerFor('github')
      const { browser } = await signedIn(bff, 'refresh-github', expired)
      const response = await browser.fetch(new URL('/api/refresh-github/me', bff.url), { headers: CSRF })
      expect(response.status).toBe(401)
      expect(await response.json()).toEqual(expect.objectContaining({ error: 'reauth_required' }))
      expect(github.at('/token')).toEqual([])
      expect(github.at('/api/me').map((r) => r.headers.authorization)).toEqual(['Bearer expired-token'])
    })

    it('refreshes for a provider whose preset rotates refresh tokens (discord), and calls with the new token', async () => {
      const discord = await providerFor('discord')
      const { browser } = await signedIn(bff, 'refresh-discord', expired)
      const response = await browser.fetch(new URL('/api/refresh-discord/me', bff.url), { headers: CSRF })
      expect(response.status).toBe(200)
      expect(discord.at('/token').map((r) => form(r.body))).toEqual([expect.objectContaining({ grant_type: 'refresh_token', refresh_token: 'refresh-1' })])
      // Discord authenticates the client with Basic, as its preset says.
      expect(discord.at('/token')[0].headers.authorization).toBe(`Basic ${Buffer.from('client-id:client-secret').toString('base64')}`)
    })

    it("refreshes garmin's day-long access token with the client secret in the form body, and keeps the new refresh token Garmin gives at each refresh", async () => {
      const garmin = await providerFor('garmin')
      const { browser, accountId } = await signedIn(bff, 'refresh-garmin', expired)
      const response = await browser.fetch(new URL('/api/refresh-garmin/me', bff.url), { headers: CSRF })
      expect(response.status).toBe(200)
      expect(garmin.at('/token').map((r) => [r.headers.authorization, form(r.body)])).toEqual([[undefined, { grant_type: 'refresh_token', refresh_token: 'refresh-1', client_id: 'client-id', client_secret: 'client-secret' }]])
      expect((await bff.store.accounts.get(accountId))?.refreshToken).toBe('refresh-2')
    })
  })
})
