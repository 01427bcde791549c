import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { deflateRawSync, deflateSync, gzipSync } from 'node:zlib'
import { decodeProtectedHeader, exportPKCS8, generateKeyPair, jwtVerify, SignJWT } from 'jose'
import { generateKey } from '../server/crypto/keys.ts'
import type { ProviderInput } from '../server/providers/provider-input.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startDocumentedProvider, type DocumentedProvider } from './support/documented-provider.ts'
import { authError, login, session, startLogin } from './support/login.ts'
import { signedIn } from './support/signed-in.ts'
import { within } from './support/eventually.ts'

const CSRF = { 'X-CSRF': '1' }
const credentials = { clientId: 'client-id', clientSecret: 'client-secret' }
const BASIC = `Basic ${Buffer.from('client-id:client-secret').toString('base64')}`
const profileOf = (preset: string) => (JSON.parse(readFileSync(`test/fixtures/presets/${preset}.json`, 'utf8')) as { profile: Record<string, unknown> }).profile
const form = (body: string) => Object.fromEntries(new URLSearchParams(body))
/** An answer sent whole, with its length, as most providers send a short one (the test of chunked answers sends none). */
const sentWhole = (status: number, body: string, type: string) => ({ status, body, type, headers: { 'Content-Length': String(Buffer.byteLength(body)) } })

/** `preset` with its endpoints on `provider`: authorization at /authorize, token at /token, profile at /profile, its API at its root. */
const presetOn = (preset: string, provider: DocumentedProvider): ProviderInput => ({
  preset,
  authorizationUrl: `${provider.url}/authorize`,
  accessTokenUrl: `${provider.url}/token`,
  profileUrl: `${provider.url}/profile`,
  apiBaseUrl: provider.url,
  ...credentials,
})

async function accountsOf(browser: BrowserSession, bffUrl: string) {
  const info = await session(browser, bffUrl)
  if (!info.authenticated) throw new Error('not signed in')
  return info.accounts.map(({ provider, identifier, displayName }) => ({ provider, identifier, displayName }))
}

describe.each(databases)('provider quirks handled by presets, against providers answering as documented, on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let databaseUrl: string
  // Named, so that a second BFF on the same database reads its secrets.
  const keys = generateKey()
  const providers: DocumentedProvider[] = []

  async function documented(options: Parameters<typeof startDocumentedProvider>[0]) {
    const provider = await startDocumentedProvider(options)
    providers.push(provider)
    return provider
  }

  /** A call refused as the account's token died: 401 `reauth_required`, and the session shows the account so. */
  async function expectAccountEnded(browser: BrowserSession, refused: Response, label: string) {
    expect([refused.status, await refused.json()], label).toEqual([401, { error: 'reauth_required', message: expect.any(String) }])
    const info = await session(browser, bff.url)
    expect(info.authenticated && info.accounts.map((a) => a.status), label).toEqual(['reauth_required'])
  }

  /** Adds `preset` as `name` with its endpoints on `provider` (see {@link presetOn}), and signs in. */
  async function presetLogin(name: string, preset: string, provider: DocumentedProvider, input: ProviderInput = {}) {
    await bff.addProvider(name, { ...presetOn(preset, provider), ...input })
    const browser = new BrowserSession()
    await login(browser, bff.url, name)
    return browser
  }

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    databaseUrl = created.url
    bff = await startBff(databaseUrl, { keys })
  })

  afterEach(async () => {
    for (const provider of providers.splice(0)) await provider.close()
  })

  afterAll(async () => {
    await bff?.close()
    await drop?.()
  })

  describe('apple', () => {
    it("signs its client secret as a JWT with the app's key, takes the form_post answer, and names the user from it", async () => {
      const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true })
      const profile = profileOf('apple')
      const apple = await documented({
        discovery: {},
        answers: {
          '/token': async (_request, provider) => ({
            body: { access_token: 'a1b2c3', token_type: 'Bearer', expires_in: 3600, refresh_token: 'r1b2c3', id_token: await provider.idToken({ sub: profile.sub, email: profile.email, email_verified: true }) },
          }),
        },
      })
      await bff.addProvider('apple', { preset: 'apple', params: { team_id: 'ABCDE12345', key_id: 'XYZ987WVUT' }, issuer: apple.url, clientId: 'com.example.web', clientSecret: await exportPKCS8(privateKey) })
      const browser = new BrowserSession()
      const authorization = await startLogin(browser, bff.url, 'apple')
      expect(authorization.searchParams.get('response_mode')).toBe('form_post')
      expect(authorization.searchParams.has('code_challenge')).toBe(false)
      // The user approves at Apple, which posts the answer to the callback.
      await fetch(authorization, { redirect: 'manual' })
      const user = { name: { firstName: 'John', lastName: 'Appleseed' }, email: profile.email }
      const posted = await browser.fetch(new URL('/auth/callback/apple', bff.url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ state: authorization.searchParams.get('state') ?? '', code: 'code-1', user: JSON.stringify(user) }),
      })
      expect(posted.status).toBe(303)
      const landed = await browser.navigate(new URL(posted.headers.get('location') ?? '', bff.url), { stopAt: (url) => url.origin === bff.url && !url.pathname.startsWith('/auth/') })
      expect(landed.url.pathname + landed.url.search).toBe('/')

      const exchange = form(apple.at('/token')[0].body)
      expect(exchange).toEqual(expect.objectContaining({ grant_type: 'authorization_code', code: 'code-1', client_id: 'com.example.web' }))
      expect(exchange.code_verifier).toBeUndefined()
      expect(decodeProtectedHeader(exchange.client_secret)).toEqual({ alg: 'ES256', kid: 'XYZ987WVUT' })
      const { payload } = await jwtVerify(exchange.client_secret, publicKey, { issuer: 'ABCDE12345', subject: 'com.example.web', audience: 'https://appleid.apple.com' })
      expect(payload.exp! - payload.iat!).toBeLessThanOrEqual(300)
      expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'apple', identifier: profile.sub, displayName: 'John Appleseed' }])
    })

    it('sends a form_post answer that cannot be read on to the callback with nothing, which fails as invalid_state', async () => {
      const browser = new BrowserSession()
      const posted = await browser.fetch(new URL('/auth/callback/apple', bff.url), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"code":"c"}' })
      expect(posted.status).toBe(303)
      expect(posted.headers.get('location')).toBe('/auth/callback/apple')
      const landed = await browser.navigate(new URL('/auth/callback/apple', bff.url), { stopAt: (url) => url.origin === bff.url && !url.pathname.startsWith('/auth/') })
      expect(authError(landed.url)).toBe('invalid_state')
    })
  })

  it("microsoft: signs in through the consumers tenant, whose discovery names the personal-accounts tenant as issuer", async () => {
    const profile = profileOf('microsoft')
    const ms = await documented({
      answers: {
        // What https://login.microsoftonline.com/consumers/v2.0/.well-known/openid-configuration answers.
        '/consumers/v2.0/.well-known/openid-configuration': (_request, provider) => ({
          body: {
            issuer: `${provider.url}/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0`,
            authorization_endpoint: `${provider.url}/authorize`,
            token_endpoint: `${provider.url}/token`,
            jwks_uri: `${provider.url}/jwks`,
            id_token_signing_alg_values_supported: ['RS256'],
          },
        }),
        '/token': async (_request, provider) => ({
          body: {
            token_type: 'Bearer',
            scope: 'openid profile email User.Read',
            expires_in: 3599,
            access_token: 'EwBwA8l6BAAU',
            refresh_token: 'M.C105_BAY.-CUj',
            id_token: await provider.idToken({ iss: `${provider.url}/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0`, tid: '9188040d-6c67-4c5b-b112-36a304b66dad', sub: profile.sub, name: profile.name }),
          },
        }),
        '/profile': () => ({ body: profile }),
      },
    })
    await bff.addProvider('microsoft', { preset: 'microsoft', params: { tenant: 'consumers' }, issuer: `${ms.url}/consumers/v2.0`, profileUrl: `${ms.url}/profile`, ...credentials })
    const browser = new BrowserSession()
    await login(browser, bff.url, 'microsoft')
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'microsoft', identifier: profile.sub, displayName: 'Mikah Ollenburg' }])
  })

  it('line: takes the ID token of a web login, signed with HS256 and the channel secret although discovery announces ES256, and revokes with access_token on disconnect', async () => {
    const profile = profileOf('line')
    const line = await documented({
      discovery: { id_token_signing_alg_values_supported: ['ES256'] },
      answers: {
        '/revoke': () => ({ status: 200 }),
        '/token': (_request, provider) => {
          const nonce = new URL(provider.at('/authorize').at(-1)!.url, provider.url).searchParams.get('nonce')
          const idToken = new SignJWT({ nonce, amr: ['pwd'], name: profile.name })
            .setProtectedHeader({ typ: 'JWT', alg: 'HS256' })
            .setIssuer(provider.url)
            .setSubject(String(profile.sub))
            .setAudience('client-id')
            .setIssuedAt()
            .setExpirationTime('1h')
            .sign(new TextEncoder().encode('client-secret'))
          return idToken.then((id_token) => ({ body: { access_token: 'bNl4YEFPI/hjFWhTqexp4MuEw5YPs', expires_in: 2592000, id_token, refresh_token: 'Aa1FdeggRhTnPNNpxr8p', scope: 'openid profile', token_type: 'Bearer' } }))
        },
        '/profile': () => ({ body: profile }),
      },
    })
    await bff.addProvider('line', { preset: 'line', issuer: line.url, profileUrl: `${line.url}/profile`, revocationUrl: `${line.url}/revoke`, ...credentials })
    const browser = new BrowserSession()
    await login(browser, bff.url, 'line')
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'line', identifier: profile.sub, displayName: 'Taro Line' }])
    // LINE Login v2.1 reference, "Revoke access token": access_token, client_id and client_secret in the form.
    expect((await browser.fetch(new URL('/auth/accounts/line', bff.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
    expect(line.at('/revoke').map((r) => Object.fromEntries(new URLSearchParams(r.body)))).toEqual([{ access_token: 'bNl4YEFPI/hjFWhTqexp4MuEw5YPs', client_id: 'client-id', client_secret: 'client-secret' }])
  })

  it('line: refuses an HS256 ID token signed with anything but the channel secret', async () => {
    const line = await documented({
      discovery: { id_token_signing_alg_values_supported: ['ES256'] },
      answers: {
        '/token': async (_request, provider) => {
          const nonce = new URL(provider.at('/authorize').at(-1)!.url, provider.url).searchParams.get('nonce')
          const idToken = await new SignJWT({ nonce }).setProtectedHeader({ alg: 'HS256' }).setIssuer(provider.url).setSubject('U1').setAudience('client-id').setIssuedAt().setExpirationTime('1h').sign(new TextEncoder().encode('another-secret'))
          return { body: { access_token: 'a', expires_in: 2592000, id_token: idToken, token_type: 'Bearer' } }
        },
        '/profile': () => ({ body: { sub: 'U1' } }),
      },
    })
    await bff.addProvider('line-forged', { preset: 'line', issuer: line.url, profileUrl: `${line.url}/profile`, ...credentials })
    const browser = new BrowserSession()
    expect(authError(await login(browser, bff.url, 'line-forged'))).toBe('id_token_invalid')
  })

  it('linkedin: sends no nonce and takes its ID token, which never carries one', async () => {
    const profile = profileOf('linkedin')
    const linkedin = await documented({
      discovery: {},
      answers: {
        '/token': async (_request, provider) => ({
          body: { access_token: 'AQUvlL_DYEzvT2wz1QJiEPeLioeA', expires_in: 5184000, scope: 'email,openid,profile', token_type: 'Bearer', id_token: await provider.idToken({ nonce: undefined, sub: profile.sub, name: profile.name }) },
        }),
        '/profile': () => ({ body: profile }),
      },
    })
    await bff.addProvider('linkedin', { preset: 'linkedin', issuer: linkedin.url, profileUrl: `${linkedin.url}/profile`, ...credentials })
    const browser = new BrowserSession()
    await login(browser, bff.url, 'linkedin')
    expect(new URL(linkedin.at('/authorize')[0].url, linkedin.url).searchParams.has('nonce')).toBe(false)
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'linkedin', identifier: profile.sub, displayName: 'John Doe' }])
  })

  it("yahoo: names its logins' redirect_uri again when it refreshes, as Yahoo's guide lists it among a refresh's parameters", async () => {
    const yahoo = await documented({
      discovery: {},
      answers: {
        // https://developer.yahoo.com/oauth2/guide/flows_authcode/ step 5: the answer to a refresh.
        '/token': () => ({ body: { access_token: 'Jzxbkqqcvjqik2IMxGFEE1cuaos--', token_type: 'bearer', expires_in: 3600, refresh_token: 'AOiRUlJn_qOmByVGTmUpwcMKW3XDcipToOoHx2wRoyLgJC_RFlA-', xoauth_yahoo_guid: 'JT4FACLQZI2OCE' } }),
        '/api/me': (request) => (request.headers.authorization === 'Bearer Jzxbkqqcvjqik2IMxGFEE1cuaos--' ? { body: { ok: true } } : { status: 401, body: {} }),
      },
    })
    await bff.addProvider('yahoo', { preset: 'yahoo', issuer: yahoo.url, profileUrl: `${yahoo.url}/userinfo`, apiBaseUrl: `${yahoo.url}/api`, ...credentials })
    const { browser } = await signedIn(bff, 'yahoo', { accessToken: 'yahoo-stale', refreshToken: 'a_qOmByVGTm', expiresAt: Date.now() - 1000 })
    expect((await browser.fetch(new URL('/api/yahoo/me', bff.url), { headers: CSRF })).status).toBe(200)
    expect(yahoo.at('/token').map((r) => [r.headers.authorization, form(r.body)])).toEqual([
      [BASIC, { grant_type: 'refresh_token', refresh_token: 'a_qOmByVGTm', redirect_uri: `${bff.url}/auth/callback/yahoo` }],
    ])
  })

  it("cognito: signs out at the provider with logout_uri, which its /logout endpoint needs instead of post_logout_redirect_uri", async () => {
    const cognito = await documented({
      // Cognito's discovery names its /logout endpoint since 2024.
      discovery: { end_session_endpoint: 'https://my-domain.auth.eu-west-1.amazoncognito.com/logout' },
      answers: {
        '/token': async (_request, provider) => ({ body: { access_token: 'eyJraWQiOiJ', refresh_token: 'eyJjdHkiOiJ', expires_in: 3600, token_type: 'Bearer', id_token: await provider.idToken({ sub: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', username: 'janedoe' }) } }),
        '/profile': () => ({ body: { sub: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee', username: 'janedoe' } }),
      },
    })
    await bff.addProvider('cognito', { preset: 'cognito', params: { region: 'eu-west-1', user_pool_id: 'eu-west-1_AbCdEf123' }, issuer: cognito.url, profileUrl: `${cognito.url}/profile`, ...credentials })
    const browser = new BrowserSession()
    await login(browser, bff.url, 'cognito')
    const answer = await browser.fetch(new URL('/auth/logout?provider_logout=1', bff.url), { method: 'POST', headers: CSRF })
    expect(answer.status).toBe(200)
    const logoutUrl = new URL(((await answer.json()) as { logoutUrl: string }).logoutUrl)
    expect([logoutUrl.searchParams.get('client_id'), logoutUrl.searchParams.get('logout_uri')]).toEqual(['client-id', `${bff.url}/`])
  })

  it('reddit: asks for a permanent token, authenticates with Basic only, and revokes with it on disconnect', async () => {
    const reddit = await documented({
      answers: {
        '/token': () => ({ body: { access_token: 'eyJhbGciOiJSUzI1NiIsImtpZCI6IlNIQTI1NjpzS3dsMnlsV0VtMjVmcXhwTU40cWY4MXE2OWFFdWFyMnpLMUdhVGxjdWNZIiwidHlwIjoiSldUIn0', token_type: 'bearer', expires_in: 86400, scope: 'identity', refresh_token: '1234567890-refresh' } }),
        '/profile': () => ({ body: profileOf('reddit') }),
        '/revoke': () => ({ status: 204 }),
      },
    })
    await bff.addProvider('reddit', { preset: 'reddit', authorizationUrl: `${reddit.url}/authorize`, accessTokenUrl: `${reddit.url}/token`, profileUrl: `${reddit.url}/profile`, revocationUrl: `${reddit.url}/revoke`, ...credentials })
    const authorization = await startLogin(new BrowserSession(), bff.url, 'reddit')
    expect(authorization.searchParams.get('duration')).toBe('permanent')
    expect(authorization.searchParams.has('code_challenge')).toBe(false)
    const browser = new BrowserSession()
    await login(browser, bff.url, 'reddit')
    const exchange = reddit.at('/token').at(-1)!
    expect(exchange.headers.authorization).toBe(BASIC)
    expect(form(exchange.body)).toEqual({ grant_type: 'authorization_code', code: 'code-1', redirect_uri: `${bff.url}/auth/callback/reddit` })
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'reddit', identifier: '1w72', displayName: 'spez' }])
    expect((await browser.fetch(new URL('/auth/accounts/reddit', bff.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
    expect(reddit.at('/revoke').map((r) => [r.headers.authorization, form(r.body).token_type_hint])).toEqual([
      [BASIC, 'refresh_token'],
      [BASIC, 'access_token'],
    ])
  })

  it('notion: sends the token request as JSON with Basic authentication, and names the API version when reading the owner', async () => {
    const notion = await documented({
      answers: {
        '/token': () => ({
          body: {
            access_token: 'secret_e_token',
            token_type: 'bearer',
            refresh_token: 'nrt_refresh',
            bot_id: '16d84278-ab0e-484c-9bdd-b35da3bd8905',
            workspace_name: 'Pied Piper',
            workspace_icon: null,
            workspace_id: 'b4a5d8a9-3e1c-4f1e-9c1a-2b4e5f6a7b8c',
            owner: { type: 'user', user: profileOf('notion').bot },
            duplicated_template_id: null,
            request_id: '9c2f1a3b-8f43-4f7e-9a2d-1b2c3d4e5f6a',
          },
        }),
        '/profile': () => ({ body: profileOf('notion') }),
      },
    })
    const browser = await presetLogin('notion', 'notion', notion)
    const exchange = notion.at('/token')[0]
    expect(exchange.headers['content-type']).toBe('application/json')
    expect(exchange.headers.authorization).toBe(BASIC)
    expect(JSON.parse(exchange.body)).toEqual({ grant_type: 'authorization_code', code: 'code-1', redirect_uri: `${bff.url}/auth/callback/notion` })
    expect(notion.at('/profile')[0].headers['notion-version']).toBe('2022-06-28')
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'notion', identifier: '5389a034-eb5c-47b5-8a9e-f79c99ef166c', displayName: 'christine makenotion' }])
  })

  it('tiktok: calls the client id client_key, joins scopes with commas, sends a hex PKCE challenge, and reads the nested user', async () => {
    const tiktok = await documented({
      answers: {
        '/token': (request, provider) => {
          // TikTok's Login Kit: "You must use hex encoding of SHA256 to generate the code challenge from the code verifier."
          const challenge = new URL(provider.at('/authorize').at(-1)!.url, provider.url).searchParams.get('code_challenge')
          const verifier = form(request.body).code_verifier ?? ''
          if (challenge !== createHash('sha256').update(verifier).digest('hex')) {
            return { body: { error: 'invalid_request', error_description: 'Code verifier or code challenge is invalid.', log_id: '20240131103425A8B2D' } }
          }
          return { body: { access_token: 'act.example12345Example12345Example', expires_in: 86400, open_id: '723f24d7-e717-40f8-a2b6-cb8464cd23b4', refresh_expires_in: 31536000, refresh_token: 'rft.example12345Example12345Example', scope: 'user.info.basic,video.list', token_type: 'Bearer' } }
        },
        '/profile': () => ({ body: profileOf('tiktok') }),
      },
    })
    await bff.addProvider('tiktok', { preset: 'tiktok', authorizationUrl: `${tiktok.url}/authorize`, accessTokenUrl: `${tiktok.url}/token`, profileUrl: `${tiktok.url}/profile?fields=open_id,union_id,avatar_url,display_name`, scope: 'user.info.basic video.list', ...credentials })
    const authorization = await startLogin(new BrowserSession(), bff.url, 'tiktok')
    expect(authorization.searchParams.get('client_key')).toBe('client-id')
    expect(authorization.searchParams.has('client_id')).toBe(false)
    expect(authorization.searchParams.get('scope')).toBe('user.info.basic,video.list')
    expect([authorization.searchParams.get('code_challenge'), authorization.searchParams.get('code_challenge_method')]).toEqual([expect.stringMatching(/^[0-9a-f]{64}$/), 'S256'])
    const browser = new BrowserSession()
    await login(browser, bff.url, 'tiktok')
    const exchange = form(tiktok.at('/token').at(-1)!.body)
    expect(exchange).toEqual(expect.objectContaining({ client_key: 'client-id', client_secret: 'client-secret', grant_type: 'authorization_code', code_verifier: expect.any(String) }))
    expect(exchange.client_id).toBeUndefined()
    expect(tiktok.at('/profile').at(-1)!.url).toBe('/profile?fields=open_id,union_id,avatar_url,display_name')
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'tiktok', identifier: '723f24d7-e717-40f8-a2b6-cb8464cd23b4', displayName: 'Tik Toker' }])
  })

  it("slack-app: asks for user scopes as user_scope, and keeps the user's token from authed_user, not the bot's", async () => {
    const slack = await documented({
      answers: {
        '/token': () => ({
          body: {
            ok: true,
            access_token: 'xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy',
            token_type: 'bot',
            scope: 'commands,incoming-webhook',
            bot_user_id: 'U0KRQLJ9H',
            app_id: 'A0KRD7HC3',
            team: { name: 'Slack Softball Team', id: 'T9TK3CUKW' },
            enterprise: { name: 'slack-sports', id: 'E12345678' },
            authed_user: { id: 'W12345678', scope: 'users:read', access_token: 'xoxp-1234', token_type: 'user' },
          },
        }),
        '/profile': (request) => ({ body: request.headers.authorization === 'Bearer xoxp-1234' ? profileOf('slack-app') : { ok: false, error: 'invalid_auth' } }),
      },
    })
    await bff.addProvider('slack-app', { preset: 'slack-app', authorizationUrl: `${slack.url}/authorize`, accessTokenUrl: `${slack.url}/token`, profileUrl: `${slack.url}/profile`, ...credentials })
    const authorization = await startLogin(new BrowserSession(), bff.url, 'slack-app')
    expect(authorization.searchParams.get('user_scope')).toBe('users:read')
    expect(authorization.searchParams.has('scope')).toBe(false)
    const browser = new BrowserSession()
    await login(browser, bff.url, 'slack-app')
    const [account] = await accountsOf(browser, bff.url)
    expect(account).toEqual({ provider: 'slack-app', identifier: 'W12345678', displayName: 'grace' })
    const info = await session(browser, bff.url)
    const stored = await bff.store.accounts.findForUser(Number(info.authenticated && info.user.id), 'slack-app')
    expect(stored?.accessToken).toBe('xoxp-1234')
  })

  describe('slack-app, with an authed_user nested deeper than the stack (200 kB, under the cap: no recursive walk of it gets to the end)', () => {
    const nested = `${'['.repeat(100_000)}${']'.repeat(100_000)}`

    async function slackAnswering(name: string, token: string) {
      const slack = await documented({ answers: { '/token': () => ({ body: token, type: 'application/json' }), '/profile': () => ({ body: profileOf('slack-app') }) } })
      await bff.addProvider(name, { preset: 'slack-app', authorizationUrl: `${slack.url}/authorize`, accessTokenUrl: `${slack.url}/token`, profileUrl: `${slack.url}/profile`, ...credentials })
      return slack
    }

    it('fails the login with token_request_failed when authed_user itself is the nesting, and signs nobody in', async () => {
      const slack = await slackAnswering('slack-app-nested-user', `{"ok":true,"access_token":"xoxb-1","authed_user":${nested}}`)
      const browser = new BrowserSession()
      expect(authError(await login(browser, bff.url, 'slack-app-nested-user'))).toBe('token_request_failed')
      expect(slack.at('/profile')).toEqual([])
      expect(await session(browser, bff.url)).toEqual({ authenticated: false })
    })

    it("signs in with the user's token when only its scope is the nesting, keeping no scope, as for a scope that is not text anywhere", async () => {
      await slackAnswering('slack-app-nested-scope', `{"ok":true,"authed_user":{"id":"W12345678","access_token":"xoxp-1234","scope":${nested}}}`)
      const browser = new BrowserSession()
      expect(authError(await login(browser, bff.url, 'slack-app-nested-scope'))).toBeNull()
      const info = await session(browser, bff.url)
      const stored = await bff.store.accounts.findForUser(Number(info.authenticated && info.user.id), 'slack-app-nested-scope')
      expect(stored).toMatchObject({ identifier: 'W12345678', accessToken: 'xoxp-1234', scope: null })
    })
  })

  // Trello names a dead token in a plain-text 401 body, no oauth_problem: "expired token" (its OAuth
  // 1.0a tokens last 30 days unless asked otherwise) or "invalid token" once revoked, as ruby-trello
  // (`InvalidAccessToken`) and py-trello read it. Any other 401 is passed on.
  it('trello: a 401 saying "expired token" or "invalid token" ends the account with reauth_required; another 401 is passed on', async () => {
    let refusal = 'unauthorized permission requested'
    const trello = await documented({
      answers: {
        '/access_token': () => ({ body: 'oauth_token=trello-token&oauth_token_secret=trello-secret', type: 'text/plain' }),
        '/members/me': () => ({ body: profileOf('trello') }),
        '/boards': () => ({ status: 401, body: refusal, type: 'text/plain; charset=utf-8' }),
      },
    })
    await bff.addProvider('trello', { preset: 'trello', requestTokenUrl: `${trello.url}/request_token`, authorizationUrl: `${trello.url}/authorize`, accessTokenUrl: `${trello.url}/access_token`, profileUrl: `${trello.url}/members/me`, apiBaseUrl: trello.url, ...credentials })
    for (const dead of ['expired token', 'invalid token']) {
      const browser = new BrowserSession()
      await login(browser, bff.url, 'trello')
      refusal = 'unauthorized permission requested'
      const other = await browser.fetch(new URL('/api/trello/boards', bff.url), { headers: CSRF })
      expect([other.status, await other.text()]).toEqual([401, 'unauthorized permission requested'])
      refusal = dead
      const refused = await browser.fetch(new URL('/api/trello/boards', bff.url), { headers: CSRF })
      await expectAccountEnded(browser, refused, dead)
    }
  })

  // Flickr answers every API failure with HTTP 200 and stat "fail": `{"stat":"fail","code":98,"message":"Invalid auth token"}`
  // in JSON, `<rsp stat="fail"><err code="98" msg="Invalid auth token" /></rsp>` in its default REST format
  // (flickr.com/services/api/response.json.html and response.rest.html; error 98, "Login failed / Invalid auth
  // token", of the methods that need a login), which is what a revoked OAuth token meets (snarfed/granary#35).
  // Other failures, and successes however long, are passed on.
  it('flickr: a 200 answer of stat "fail" with error 98 (invalid auth token), in JSON, JSONP or XML, ends the account with reauth_required; other answers are passed on', async () => {
    const JSON_TYPE = 'text/javascript; charset=utf-8'
    const XML_TYPE = 'text/xml; charset=utf-8'
    let answer = { body: '', type: JSON_TYPE }
    const photos = JSON.stringify({ photos: { page: 1, pages: 1, perpage: 500, total: 500, photo: Array.from({ length: 500 }, (_, i) => ({ id: String(5_000_000_000 + i), owner: '12037949754@N01', secret: 'a1b2c3d4e5', server: '65535', farm: 66, title: `photo ${i}`, ispublic: 1, isfriend: 0, isfamily: 0 })) }, stat: 'ok' })
    const flickr = await documented({
      answers: {
        // https://www.flickr.com/services/api/auth.oauth.html#access_token
        '/access_token': () => ({ body: 'fullname=Jamal%20Fanaian&oauth_token=72157626737672178-022bbd2f4c2f3432&oauth_token_secret=fccb68c4e6103197&user_nsid=21207597%40N07&username=jamalfanaian', type: 'text/plain' }),
        // Sent whole, with its length, as Flickr sends its answers.
        '/rest': (request) =>
          new URL(request.url, 'http://x').searchParams.get('method') === 'flickr.test.login'
            ? { body: profileOf('flickr') }
            : sentWhole(200, answer.body, answer.type),
      },
    })
    await bff.addProvider('flickr', { preset: 'flickr', requestTokenUrl: `${flickr.url}/request_token`, authorizationUrl: `${flickr.url}/authorize`, accessTokenUrl: `${flickr.url}/access_token`, profileUrl: `${flickr.url}/rest?method=flickr.test.login&format=json&nojsoncallback=1`, apiBaseUrl: flickr.url, ...credentials })
    const call = (browser: BrowserSession) => browser.fetch(new URL('/api/flickr/rest?method=flickr.photos.search&user_id=me&format=json&nojsoncallback=1', bff.url), { headers: CSRF })
    const passedOn = [
      { body: photos, type: JSON_TYPE },
      { body: '{"stat":"fail","code":99,"message":"Insufficient permissions. Method requires read privileges; none granted."}', type: JSON_TYPE },
      { body: '<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="fail">\n\t<err code="2" msg="Unknown user" />\n</rsp>\n', type: XML_TYPE },
    ]
    const dead = {
      json: { body: '{"stat":"fail","code":98,"message":"Invalid auth token"}', type: JSON_TYPE },
      jsonp: { body: 'jsonFlickrApi({"stat":"fail","code":98,"message":"Invalid auth token"})', type: JSON_TYPE },
      xml: { body: '<?xml version="1.0" encoding="utf-8" ?>\n<rsp stat="fail">\n\t<err code="98" msg="Invalid auth token" />\n</rsp>\n', type: XML_TYPE },
    }
    for (const [format, refusal] of Object.entries(dead)) {
      const browser = new BrowserSession()
      await login(browser, bff.url, 'flickr')
      for (const passed of passedOn) {
        answer = passed
        const other = await call(browser)
        expect([other.status, await other.text()], format).toEqual([200, passed.body])
      }
      answer = refusal
      const refused = await call(browser)
      await expectAccountEnded(browser, refused, format)
    }
    // Longer than the proxy reads of an answer it judges: passed on whole all the same.
    expect(photos.length).toBeGreaterThan(64 * 1024)
  })

  // Slack's Web API answers every failure with HTTP 200 and `{"ok":false,"error":…}` (slackhq/slack-api-docs
  // index_web.md; each method's "Errors" on docs.slack.dev): token_revoked ("for a deleted user or workspace or
  // the app has been removed"), token_expired ("Authentication token has expired"), account_inactive and
  // invalid_auth name a token that no longer works. Other failures, and successes however long, are passed on.
  describe.each([
    ['slack', 'Sign in with Slack'],
    ['slack-app', 'a Slack app acting for its user'],
  ])('%s (%s)', (preset) => {
    const JSON_TYPE = 'application/json; charset=utf-8'
    const channels = JSON.stringify({ ok: true, channels: Array.from({ length: 40 }, (_, i) => ({ id: `C0${1_000_000 + i}`, name: `channel-${i}`, is_channel: true, is_member: true, topic: { value: 'Company-wide announcements and work-based matters', creator: 'U012A3CDE', last_set: 1449252889 } })), response_metadata: { next_cursor: '' } })

    async function slackProvider(answer: () => { status?: number; body: string }) {
      return documented({
        ...(preset === 'slack' ? { discovery: {} } : {}),
        answers: {
          '/token': async (_request, provider) =>
            preset === 'slack'
              ? { body: { ok: true, access_token: 'xoxp-1234', token_type: 'Bearer', id_token: await provider.idToken({ sub: 'U0R7JM', name: 'krane' }) } }
              : { body: { ok: true, access_token: 'xoxb-17653672481', token_type: 'bot', authed_user: { id: 'W12345678', scope: 'users:read', access_token: 'xoxp-1234', token_type: 'user' } } },
          '/profile': () => ({ body: profileOf(preset) }),
          // Sent whole, with its length.
          '/conversations.list': () => {
            const { status = 200, body } = answer()
            return sentWhole(status, body, JSON_TYPE)
          },
        },
      })
    }

    it('a 200 answer of "ok": false naming the token revoked, expired, inactive or invalid ends the account with reauth_required; other answers are passed on', async () => {
      let answer: { status?: number; body: string } = { body: channels }
      const slack = await slackProvider(() => answer)
      const name = `${preset}-dead-token`
      await bff.addProvider(name, preset === 'slack' ? { preset, issuer: slack.url, profileUrl: `${slack.url}/profile`, apiBaseUrl: slack.url, ...credentials } : presetOn(preset, slack))
      const call = (browser: BrowserSession) => browser.fetch(new URL(`/api/${name}/conversations.list`, bff.url), { headers: CSRF })
      const passedOn = [
        { body: channels },
        { body: '{"ok":false,"error":"missing_scope","needed":"channels:read","provided":"users:read"}' },
        { body: '{"ok":false,"error":"not_authed"}' },
        { body: '{"ok":false,"error":"internal_error"}' },
        { status: 429, body: '{"ok":false,"error":"ratelimited"}' },
      ]
      for (const dead of ['token_revoked', 'token_expired', 'account_inactive', 'invalid_auth']) {
        const browser = new BrowserSession()
        expect(authError(await login(browser, bff.url, name)), dead).toBeNull()
        for (const passed of passedOn) {
          answer = passed
          const other = await call(browser)
          expect([other.status, await other.text()], dead).toEqual([passed.status ?? 200, passed.body])
        }
        // A HEAD of a short answer: its empty body read to judge the token, and no length named, as for any HEAD.
        answer = { body: '{"ok":false,"error":"not_authed"}' }
        const head = await browser.fetch(new URL(`/api/${name}/conversations.list`, bff.url), { method: 'HEAD', headers: CSRF })
        expect([head.status, head.headers.get('content-length'), await head.text()], dead).toEqual([200, null, ''])
        answer = { body: JSON.stringify({ ok: false, error: dead }) }
        const refused = await call(browser)
        await expectAccountEnded(browser, refused, dead)
      }
      expect(slack.at('/conversations.list').every((request) => request.headers.authorization === 'Bearer xoxp-1234')).toBe(true)
      // Longer than an answer read to be judged: passed on whole without being read.
      expect(channels.length).toBeGreaterThan(1024)
    })
  })

  // A provider may send a short answer chunked, without its length: the proxy reads it to its end within the limit
  // of what it judges, and a longer one no further than that, putting back what it read so the answer passes on whole.
  it('judges a short answer sent chunked as one sent whole, passes a long chunked one on whole, and answers 504 for one that stalls within the limit', async () => {
    const JSON_TYPE = 'application/json; charset=utf-8'
    const channels = JSON.stringify({ ok: true, channels: Array.from({ length: 40 }, (_, i) => ({ id: `C0${1_000_000 + i}`, name: `channel-${i}`, topic: { value: 'Company-wide announcements and work-based matters' } })) })
    let answer: { body: string; unfinished?: boolean } = { body: channels }
    const slack = await documented({
      answers: {
        '/token': () => ({ body: { ok: true, access_token: 'xoxb-17653672481', token_type: 'bot', authed_user: { id: 'W12345678', scope: 'users:read', access_token: 'xoxp-1234', token_type: 'user' } } }),
        '/profile': () => ({ body: profileOf('slack-app') }),
        // No Content-Length: Node sends these chunked.
        '/conversations.list': () => ({ ...answer, type: JSON_TYPE }),
      },
    })
    const browser = await presetLogin('slack-chunked', 'slack-app', slack)
    const call = () => browser.fetch(new URL('/api/slack-chunked/conversations.list', bff.url), { headers: CSRF })
    for (const passed of [channels, '{"ok":false,"error":"not_authed"}', '']) {
      answer = { body: passed }
      const response = await call()
      expect([response.status, response.headers.get('transfer-encoding') ?? response.headers.get('content-length'), await response.text()]).toEqual([200, passed === channels ? 'chunked' : String(Buffer.byteLength(passed)), passed])
    }
    expect(slack.at('/conversations.list').map((request) => request.headers.authorization)).toEqual(Array(3).fill('Bearer xoxp-1234'))
    answer = { body: '{"ok":false,"error":"token_revoked"}' }
    await expectAccountEnded(browser, await call(), 'token_revoked, sent chunked')

    // A provider that sends part of a short answer and stalls: no answer to pass on, and the browser is told so in time.
    const impatient = await startBff(databaseUrl, { keys, proxy: { timeoutMs: 500 } })
    try {
      await impatient.addProvider('slack-stalled', presetOn('slack-app', slack))
      const stalled = new BrowserSession()
      expect(authError(await login(stalled, impatient.url, 'slack-stalled'))).toBeNull()
      answer = { body: '{"ok":false,', unfinished: true }
      const response = await stalled.fetch(new URL('/api/slack-stalled/conversations.list', impatient.url), { headers: CSRF })
      expect([response.status, (await response.json()).error]).toEqual([504, 'upstream_timeout'])
    } finally {
      await impatient.close()
    }
  })

  // A provider may gzip its answer unasked. One declared short is judged by a decoded copy; the answer passes on whole
  // whatever its decoded length, though a decoder cannot give back the bytes it took.
  it('judges a short gzipped answer by its decoded text, and passes on whole one that decodes past what is read to judge it', async () => {
    const JSON_TYPE = 'application/json; charset=utf-8'
    const members = JSON.stringify({ ok: true, members: Array.from({ length: 1500 }, () => ({ deleted: false, is_bot: false, tz: 'America/Los_Angeles', tz_label: 'Pacific Standard Time' })) })
    let answer = members
    const gzipped = () => {
      const body = gzipSync(answer)
      return { body, type: JSON_TYPE, headers: { 'Content-Encoding': 'gzip', 'Content-Length': String(body.length) } }
    }
    const slack = await documented({
      answers: {
        '/token': () => ({ body: { ok: true, access_token: 'xoxb-17653672481', token_type: 'bot', authed_user: { id: 'W12345678', scope: 'users:read', access_token: 'xoxp-1234', token_type: 'user' } } }),
        '/profile': () => ({ body: profileOf('slack-app') }),
        '/users.list': gzipped,
      },
    })
    const browser = await presetLogin('slack-gzipped', 'slack-app', slack)
    const call = () => browser.fetch(new URL('/api/slack-gzipped/users.list', bff.url), { headers: CSRF })
    // Under Slack's limit of what it judges (1 KiB) as sent, far over everything read to judge an answer (64 KiB) once decoded.
    expect([gzipSync(members).length < 1024, members.length > 64 * 1024]).toEqual([true, true])
    const passed = await call()
    const text = await passed.text()
    expect([passed.status, passed.headers.get('content-encoding'), text.length, text === members]).toEqual([200, null, members.length, true])
    answer = '{"ok":false,"error":"token_revoked"}'
    await expectAccountEnded(browser, await call(), 'token_revoked, gzipped')
  })

  // `deflate` names zlib data (RFC 9110 8.4.1.2), but some servers send raw deflate under it, which browsers, curl and
  // undici's fetch read all the same.
  it('reads answers sent as deflate in either form browsers read, zlib-wrapped or raw: a login, and a short answer judged', async () => {
    for (const [coding, deflate] of [['zlib', deflateSync], ['raw', deflateRawSync]] as const) {
      const deflated = (body: object) => () => {
        const bytes = deflate(JSON.stringify(body))
        return { body: bytes, type: 'application/json', headers: { 'Content-Encoding': 'deflate', 'Content-Length': String(bytes.length) } }
      }
      let answer: object = { ok: true, channels: [] }
      const slack = await documented({
        answers: {
          '/token': deflated({ ok: true, access_token: 'xoxb-17653672481', token_type: 'bot', authed_user: { id: 'W12345678', scope: 'users:read', access_token: 'xoxp-1234', token_type: 'user' } }),
          '/profile': deflated(profileOf('slack-app')),
          '/conversations.list': () => deflated(answer)(),
        },
      })
      const browser = await presetLogin(`slack-deflated-${coding}`, 'slack-app', slack)
      expect(await accountsOf(browser, bff.url), coding).toEqual([expect.objectContaining({ provider: `slack-deflated-${coding}` })])
      const call = () => browser.fetch(new URL(`/api/slack-deflated-${coding}/conversations.list`, bff.url), { headers: CSRF })
      const passed = await call()
      expect([passed.status, passed.headers.get('content-encoding'), await passed.json()], coding).toEqual([200, null, answer])
      answer = { ok: false, error: 'token_revoked' }
      await expectAccountEnded(browser, await call(), `token_revoked, ${coding} deflate`)
    }
  })

  // The short answer is read before it is passed on: a browser that leaves meanwhile ends the call then, as before the
  // provider's headers, rather than leave one of the provider's pooled connections held for nobody until the time limit.
  it("lets go of a short answer sent chunked that stalls when the browser goes away while it is read, logged as abandoned (499)", async () => {
    const slack = await documented({
      answers: {
        '/token': () => ({ body: { ok: true, access_token: 'xoxb-17653672481', token_type: 'bot', authed_user: { id: 'W12345678', scope: 'users:read', access_token: 'xoxp-1234', token_type: 'user' } } }),
        '/profile': () => ({ body: profileOf('slack-app') }),
        '/conversations.list': () => ({ body: '{"ok":false,', type: 'application/json; charset=utf-8', unfinished: true }),
      },
    })
    const browser = await presetLogin('slack-left', 'slack-app', slack)
    const leaving = new AbortController()
    const asked = browser.fetch(new URL('/api/slack-left/conversations.list', bff.url), { headers: CSRF, signal: leaving.signal }).catch(() => 'gone')
    expect(await within(10_000, async () => slack.at('/conversations.list').length, (n) => n > 0)).toBe(1)
    leaving.abort()
    expect(await asked).toBe('gone')
    // Long before the BFF's time limit (30 s): the browser's leaving, not the limit, ended the call.
    const abandoned = () => bff.logs.filter((line) => / \/api\/slack-left\/conversations\.list (\d+) /.test(line))
    expect(await within(10_000, async () => abandoned(), (lines) => lines.length > 0)).toEqual([expect.stringMatching(/^GET \/api\/slack-left\/conversations\.list 499 /)])
  })

  it('dropbox: reads the account with a POST, and revokes by calling with the access token on disconnect', async () => {
    const dropbox = await documented({
      answers: {
        '/token': () => ({ body: { access_token: 'sl.u.AbX9y6Fe3AuH5o66', expires_in: 14400, token_type: 'bearer', scope: 'account_info.read', refresh_token: 'nBiM85CZALsAAAAAAAAAAQ', account_id: 'dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc', uid: '12345' } }),
        '/profile': (request) => (request.method === 'POST' ? { body: profileOf('dropbox') } : { status: 405, body: 'POST only' }),
        '/revoke': (request) => (request.headers.authorization === 'Bearer sl.u.AbX9y6Fe3AuH5o66' ? { body: 'null' } : { status: 401, body: {} }),
      },
    })
    const browser = await presetLogin('dropbox', 'dropbox', dropbox, { revocationUrl: `${dropbox.url}/revoke` })
    expect(dropbox.at('/profile')[0].body).toBe('')
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'dropbox', identifier: 'dbid:AAH4f99T0taONIb-OurWxbNQ6ywGRopQngc', displayName: 'Franz Ferdinand (Personal)' }])
    expect((await browser.fetch(new URL('/auth/accounts/dropbox', bff.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
    expect(dropbox.at('/revoke').map((r) => [r.method, r.headers.authorization, r.body])).toEqual([['POST', 'Bearer sl.u.AbX9y6Fe3AuH5o66', '']])
    expect(bff.logs.some((line) => /revocation/.test(line))).toBe(false)
  })

  it("github: a GitHub Enterprise provider made from the preset with its own API base sends its secret to no other GitHub's revocation URL", async () => {
    const elsewhere = await documented({ answers: { '/applications/client-id/grant': () => ({ status: 204 }) } })
    const enterprise = await documented({ answers: {} })
    await bff.addProvider('ghe', { preset: 'github', authorizationUrl: `${enterprise.url}/login/oauth/authorize`, accessTokenUrl: `${enterprise.url}/login/oauth/access_token`, profileUrl: `${enterprise.url}/api/v3/user`, apiBaseUrl: `${enterprise.url}/api/v3`, revocationUrl: `${elsewhere.url}/applications`, ...credentials })
    const { browser } = await signedIn(bff, 'ghe', { accessToken: 'gho_enterprise' })
    expect((await browser.fetch(new URL('/auth/accounts/ghe', bff.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
    expect(elsewhere.received).toEqual([])
    expect(enterprise.received).toEqual([])
    // Not revoked, and the log says so.
    expect(bff.logs.filter((line) => /revocation/.test(line))).toEqual([expect.stringMatching(/revocation of an account \d+ access_token was refused/)])
    bff.logs.length = 0
  })

  it("facebook: de-authorizes the app on disconnect with DELETE /me/permissions, made with the user's token", async () => {
    const facebook = await documented({
      answers: {
        // https://developers.facebook.com/docs/facebook-login/guides/permissions/request-revoke/
        '/v23.0/me/permissions': (request) =>
          request.method === 'DELETE' && request.headers.authorization === 'Bearer EAAGm0PX4ZCpsBA' ? { body: { success: true } } : { status: 400, body: { error: { type: 'OAuthException', code: 190 } } },
      },
    })
    await bff.addProvider('facebook', { preset: 'facebook', authorizationUrl: `${facebook.url}/authorize`, accessTokenUrl: `${facebook.url}/token`, profileUrl: `${facebook.url}/me`, revocationUrl: `${facebook.url}/v23.0/me/permissions`, ...credentials })
    const { browser } = await signedIn(bff, 'facebook', { accessToken: 'EAAGm0PX4ZCpsBA' })
    expect((await browser.fetch(new URL('/auth/accounts/facebook', bff.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
    expect(facebook.received.map((r) => [r.method, r.url, r.headers.authorization, r.body])).toEqual([['DELETE', '/v23.0/me/permissions', 'Bearer EAAGm0PX4ZCpsBA', '']])
    expect(bff.logs.some((line) => /revocation/.test(line))).toBe(false)
  })

  // The Graph API answers a dead token with HTTP 400 and an OAuthException, code 190 (or 102) with no subcode or
  // with 458 (app not installed), 460 (password changed), 463 (expired) or 467 (invalid access token): "Handling
  // Errors", developers.facebook.com/docs/graph-api/guides/error-handling. 459 (checkpointed) and 464 (unconfirmed
  // user) are mended by the user at facebook.com; other errors, and successes however long, are passed on.
  it('facebook: a 400 OAuthException of code 190 with no subcode or 458, 460, 463 or 467 ends the account with reauth_required; other answers are passed on', async () => {
    const JSON_TYPE = 'application/json; charset=UTF-8'
    const oauthError = (code: number, subcode: number | undefined, message: string) => ({
      status: 400,
      body: JSON.stringify({ error: { message, type: 'OAuthException', code, ...(subcode === undefined ? {} : { error_subcode: subcode }), fbtrace_id: 'EJplcsCHuLu' } }),
    })
    const friends = JSON.stringify({ data: Array.from({ length: 200 }, (_, i) => ({ name: `Friend ${i}`, id: String(10_215_241_773_831_025 + i) })), paging: { cursors: { before: 'QVFIUk1', after: 'QVFIUjZA' } }, summary: { total_count: 200 } })
    let answer: { status?: number; body: string } = { body: friends }
    const facebook = await documented({
      answers: {
        '/token': () => ({ body: { access_token: 'EAAGm0PX4ZCpsBA', token_type: 'bearer', expires_in: 5183944 } }),
        '/profile': () => ({ body: profileOf('facebook') }),
        // Sent whole, with its length, as the Graph API sends its answers.
        '/me/friends': () => sentWhole(answer.status ?? 200, answer.body, JSON_TYPE),
      },
    })
    await bff.addProvider('facebook-dead-token', presetOn('facebook', facebook))
    const call = (browser: BrowserSession) => browser.fetch(new URL('/api/facebook-dead-token/me/friends', bff.url), { headers: CSRF })
    const passedOn: { status?: number; body: string }[] = [
      { body: friends },
      oauthError(190, 459, 'Error validating access token: You cannot access the app till you log in to www.facebook.com and follow the instructions given.'),
      oauthError(190, 464, 'Error validating access token: Sessions for the user are not allowed because the user is not a confirmed user.'),
      { status: 400, body: JSON.stringify({ error: { message: '(#200) Requires user_friends permission', type: 'OAuthException', code: 200, fbtrace_id: 'EJplcsCHuLu' } }) },
      { status: 400, body: JSON.stringify({ error: { message: "(#100) Tried accessing nonexisting field (frends) on node type (User)", type: 'OAuthException', code: 100, fbtrace_id: 'EJplcsCHuLu' } }) },
    ]
    const dead = {
      'no subcode': oauthError(190, undefined, 'Invalid OAuth access token - Cannot parse access token'),
      '458': oauthError(190, 458, 'Error validating access token: User 10215241773831025 has not authorized application 1436428276645325.'),
      '460': oauthError(190, 460, 'Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.'),
      '463': oauthError(190, 463, 'Error validating access token: Session has expired on Thursday, 07-Aug-14 10:00:00 PDT. The current time is Thursday, 07-Aug-14 11:09:59 PDT.'),
      '467': oauthError(190, 467, 'Error validating access token: The session is invalid because the user logged out.'),
    }
    for (const [subcode, refusal] of Object.entries(dead)) {
      const browser = new BrowserSession()
      expect(authError(await login(browser, bff.url, 'facebook-dead-token')), subcode).toBeNull()
      for (const passed of passedOn) {
        answer = passed
        const other = await call(browser)
        expect([other.status, await other.text()], subcode).toEqual([passed.status ?? 200, passed.body])
      }
      answer = refusal
      const refused = await call(browser)
      await expectAccountEnded(browser, refused, subcode)
    }
    expect(friends.length).toBeGreaterThan(4096)
  })

  it.each([
    ['still valid', 'strava', Date.now() + 3_600_000],
    ['expired, as it is six hours after its last use', 'strava-later', Date.now() - 60_000],
  ])('strava: deauthorizes on disconnect with POST /oauth/deauthorize and a working access token in the query, the access token %s', async (_state, name, expiresAt) => {
    const strava = await documented({
      answers: {
        // https://developers.strava.com/docs/authentication/#refreshing-expired-access-tokens
        '/token': (request) =>
          form(request.body).grant_type === 'refresh_token' && form(request.body).refresh_token === 'e5n567567'
            ? { body: { token_type: 'Bearer', access_token: 'a9b723', expires_at: 1568775134, expires_in: 20566, refresh_token: 'b5c569' } }
            : { status: 400, body: { message: 'Bad Request' } },
        // https://developers.strava.com/docs/authentication/#deauthorization: only the refreshed token still works.
        '/oauth/deauthorize': (request) =>
          request.method === 'POST' && new URL(request.url, 'http://x').searchParams.get('access_token') === 'a9b723' ? { body: { access_token: 'a9b723' } } : { status: 401, body: { message: 'Authorization Error' } },
      },
    })
    await bff.addProvider(name, { preset: 'strava', authorizationUrl: `${strava.url}/authorize`, accessTokenUrl: `${strava.url}/token`, profileUrl: `${strava.url}/athlete`, revocationUrl: `${strava.url}/oauth/deauthorize`, ...credentials })
    const { browser } = await signedIn(bff, name, { accessToken: 'a4b945687g', refreshToken: 'e5n567567', expiresAt })
    expect((await browser.fetch(new URL(`/auth/accounts/${name}`, bff.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
    expect(strava.received.map((r) => [r.method, r.url.split('?')[0], r.method === 'POST' && r.url === '/token' ? form(r.body).grant_type : r.url.split('?')[1]])).toEqual([
      ['POST', '/token', 'refresh_token'],
      ['POST', '/oauth/deauthorize', 'access_token=a9b723'],
      ['POST', '/oauth/deauthorize', 'access_token=a4b945687g'],
    ])
    expect(bff.logs.some((line) => /revocation/.test(line))).toBe(false)
  })

  it.each([
    ['still valid', 'garmin', Date.now() + 3_600_000],
    ['expired, as it is a day after its last refresh', 'garmin-later', Date.now() - 60_000],
  ])('garmin: deregisters the user on disconnect with DELETE /user/registration and a working access token, the access token %s', async (_state, name, expiresAt) => {
    let registered = true
    const garmin = await documented({
      answers: {
        // Garmin's OAuth2.0 PKCE Specification, the refresh token request: the client secret in the body, a new refresh token back.
        '/token': (request) =>
          form(request.body).grant_type === 'refresh_token' && form(request.body).refresh_token === 'xUEA805jTCcGd4b7rs' && form(request.body).client_secret === 'client-secret'
            ? { body: { access_token: 'Zk3LqM0ee9x', expires_in: 86400, token_type: 'bearer', refresh_token: 'yVFB916kUDdHe5c8', scope: 'CONNECT_READ CONNECT_WRITE', jti: 'a0c7d1e2', refresh_token_expires_in: 7775998 } }
            : { status: 400, body: { error: 'invalid_grant' } },
        // Start Guide, "Delete User Access Token": only a working token deletes it, and once it is gone every token is refused.
        '/wellness-api/rest/user/registration': (request) =>
          request.method === 'DELETE' && registered && request.headers.authorization === 'Bearer Zk3LqM0ee9x' ? ((registered = false), { status: 204 }) : { status: 401, body: '' },
      },
    })
    await bff.addProvider(name, { ...presetOn('garmin', garmin), revocationUrl: `${garmin.url}/wellness-api/rest/user/registration` })
    const { browser } = await signedIn(bff, name, { accessToken: 'VTkc5JilK0dd8w', refreshToken: 'xUEA805jTCcGd4b7rs', expiresAt })
    expect((await browser.fetch(new URL(`/auth/accounts/${name}`, bff.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
    expect(garmin.received.map((r) => [r.method, r.url, r.method === 'POST' ? form(r.body).grant_type : r.headers.authorization])).toEqual([
      ['POST', '/token', 'refresh_token'],
      ['DELETE', '/wellness-api/rest/user/registration', 'Bearer Zk3LqM0ee9x'],
      ['DELETE', '/wellness-api/rest/user/registration', 'Bearer VTkc5JilK0dd8w'],
    ])
    expect(registered).toBe(false)
    expect(bff.logs.some((line) => /revocation/.test(line))).toBe(false)
  })

  it('linear: asks for the viewer through GraphQL, with comma-joined scopes', async () => {
    const linear = await documented({
      answers: {
        '/token': () => ({ body: { access_token: 'lin_oauth_8f8f8f', token_type: 'Bearer', expires_in: 86399, scope: 'read,write', refresh_token: 'lin_refresh_1' } }),
        '/profile': () => ({ body: profileOf('linear') }),
      },
    })
    const browser = await presetLogin('linear', 'linear', linear, { scope: 'read write' })
    const query = linear.at('/profile')[0]
    expect([query.method, query.headers['content-type'], JSON.parse(query.body)]).toEqual(['POST', 'application/json', { query: '{ viewer { id name email } }' }])
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'linear', identifier: '2e9ff6a4-5f37-4c2c-9a58-8f2f0d3c1b7e', displayName: 'Ada Lovelace' }])
    expect(new URLSearchParams(linear.at('/authorize')[0].url.split('?')[1]).get('scope')).toBe('read,write')
  })

  // Linear refuses a token it no longer knows with a GraphQL "authentication error" (code AUTHENTICATION_ERROR,
  // "Authentication required, not authenticated"), met under status 400 as well as 401, and answers other GraphQL
  // errors with 200: Linear's own SDK
  // (linear/linear packages/sdk/src/error.ts, parseLinearError) types an answer by its first error whatever the
  // status, and the Go, C# and Swift clients that captured the 400 read it as an authentication failure. The
  // refresh a revoked grant asks for is refused too. Other errors, and successes however long, are passed on.
  it('linear: a GraphQL authentication error under status 400 or 200 ends the account with reauth_required once the refresh is refused; other answers are passed on', async () => {
    const JSON_TYPE = 'application/json; charset=utf-8'
    const authenticationError = JSON.stringify({ errors: [{ message: 'Authentication required, not authenticated', extensions: { type: 'authentication error', code: 'AUTHENTICATION_ERROR', statusCode: 401, userError: true, userPresentableMessage: 'You need to authenticate to access this operation.' } }] })
    const issues = JSON.stringify({ data: { issues: { nodes: Array.from({ length: 50 }, (_, i) => ({ id: `9cfb482a-81e3-4154-b5b9-2c805e70a${String(i).padStart(3, '0')}`, identifier: `ENG-${100 + i}`, title: `Issue ${i}`, state: { name: 'In Progress' } })), pageInfo: { hasNextPage: false, endCursor: null } } } })
    let answer: { status?: number; body: string } = { body: issues }
    const linear = await documented({
      answers: {
        '/token': (request) =>
          form(request.body).grant_type === 'refresh_token'
            ? { status: 400, body: { error: 'invalid_grant', error_description: 'Invalid grant: refresh token is invalid' } }
            : { body: { access_token: 'lin_oauth_8f8f8f', token_type: 'Bearer', expires_in: 86399, scope: 'read', refresh_token: 'lin_refresh_1' } },
        '/profile': () => ({ body: profileOf('linear') }),
        // Sent whole, with its length.
        '/graphql': () => sentWhole(answer.status ?? 200, answer.body, JSON_TYPE),
      },
    })
    await bff.addProvider('linear-dead-token', presetOn('linear', linear))
    const refreshes = () => linear.at('/token').filter((request) => form(request.body).grant_type === 'refresh_token')
    const call = (browser: BrowserSession) => browser.fetch(new URL('/api/linear-dead-token/graphql', bff.url), { method: 'POST', headers: { ...CSRF, 'Content-Type': 'application/json' }, body: JSON.stringify({ query: '{ issues { nodes { id identifier title state { name } } } }' }) })
    const passedOn: { status?: number; body: string }[] = [
      { body: issues },
      { body: JSON.stringify({ errors: [{ message: 'Entity not found: Issue', path: ['issue'], locations: [{ line: 1, column: 9 }], extensions: { type: 'invalid input', code: 'INPUT_ERROR', statusCode: 400, userError: true, userPresentableMessage: 'Could not find referenced Issue.' } }], data: null }) },
      { status: 400, body: JSON.stringify({ errors: [{ message: 'Cannot query field "nosuchfield" on type "Issue".', locations: [{ line: 1, column: 27 }], extensions: { code: 'GRAPHQL_VALIDATION_FAILED', type: 'graphql error', userError: true } }] }) },
      { status: 400, body: JSON.stringify({ errors: [{ message: 'Rate limit exceeded', extensions: { type: 'ratelimited', code: 'RATELIMITED' } }] }) },
    ]
    for (const status of [400, 200]) {
      const browser = new BrowserSession()
      expect(authError(await login(browser, bff.url, 'linear-dead-token')), String(status)).toBeNull()
      const refreshed = refreshes().length
      for (const passed of passedOn) {
        answer = passed
        const other = await call(browser)
        expect([other.status, await other.text()], String(status)).toEqual([passed.status ?? 200, passed.body])
      }
      expect(refreshes(), String(status)).toHaveLength(refreshed)
      answer = { status, body: authenticationError }
      const refused = await call(browser)
      await expectAccountEnded(browser, refused, String(status))
    }
    // Refreshed once for each dead token, never for the answers passed on.
    expect(refreshes().map((request) => form(request.body).refresh_token)).toEqual(['lin_refresh_1', 'lin_refresh_1'])
    expect(linear.at('/graphql').every((request) => request.headers.authorization === 'Bearer lin_oauth_8f8f8f')).toBe(true)
    // Longer than an answer read to be judged: passed on whole without being read.
    expect(issues.length).toBeGreaterThan(2048)
  })

  it('yandex: sends the token as Authorization: OAuth', async () => {
    const yandex = await documented({
      answers: {
        '/token': () => ({ body: { token_type: 'bearer', access_token: 'AQAAAACy1C6ZAAAAfa6vDLuItEy8pg-iIpnDxIs', expires_in: 124234123534, refresh_token: '1:GN686QVt0mmakDd9:A4pYuW9LGk0_UnlrMIWklkAuJkUWbq27loFekJVmSYrdfzdePBy7:A-2dHOmBxiXgajnD-kYOwQ', scope: 'login:info login:email' } }),
        '/profile': () => ({ body: profileOf('yandex') }),
      },
    })
    const browser = await presetLogin('yandex', 'yandex', yandex)
    expect(yandex.at('/profile')[0].headers.authorization).toBe('OAuth AQAAAACy1C6ZAAAAfa6vDLuItEy8pg-iIpnDxIs')
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'yandex', identifier: '1000034426', displayName: 'Ivan' }])
  })

  it('vk: sends back the device_id of the authorization answer with the code, and reads the user by POSTing the token', async () => {
    const vk = await documented({
      callbackParams: { device_id: 'device-42', type: 'code_v2' },
      answers: {
        '/token': () => ({ body: { refresh_token: 'vk2.a.refresh', access_token: 'vk2.a.access', id_token: 'eyJ0eXAi', token_type: 'Bearer', expires_in: 3600, user_id: 1234567890, state: 'x', scope: 'vkid.personal_info email' } }),
        '/profile': () => ({ body: profileOf('vk') }),
      },
    })
    const browser = await presetLogin('vk', 'vk', vk)
    expect(form(vk.at('/token')[0].body)).toEqual(
      expect.objectContaining({ grant_type: 'authorization_code', code: 'code-1', device_id: 'device-42', state: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), code_verifier: expect.any(String), client_id: 'client-id' }),
    )
    const userInfo = vk.at('/profile')[0]
    expect([userInfo.method, userInfo.headers.authorization, form(userInfo.body)]).toEqual(['POST', undefined, { client_id: 'client-id', access_token: 'vk2.a.access' }])
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'vk', identifier: '1234567890', displayName: 'Ivan Ivanov' }])
  })

  // VK ID's access tokens last an hour; its refresh (POST /oauth2/auth, grant_type=refresh_token) must send back the
  // device_id the login's authorization answer carried, and answers a new refresh token each time.
  it('vk: refreshes a token the API refuses with the device_id of the login, and again with the rotated refresh token', async () => {
    const JSON_TYPE = 'application/json; charset=utf-8'
    const users = JSON.stringify({ response: [{ id: 1234567890, first_name: 'Ivan', last_name: 'Ivanov', can_access_closed: true, is_closed: false }] })
    const dead = JSON.stringify({ error: { error_code: 5, error_msg: 'User authorization failed: access_token has expired.', request_params: [{ key: 'v', value: '5.199' }] } })
    let live = 'vk2.a.access'
    let refreshes = 0
    const vk = await documented({
      callbackParams: { device_id: 'device-42', type: 'code_v2' },
      answers: {
        '/token': (request) => {
          if (form(request.body).grant_type !== 'refresh_token') return { body: { refresh_token: 'vk2.a.refresh', access_token: 'vk2.a.access', token_type: 'Bearer', expires_in: 3600, user_id: 1234567890, state: 'x', scope: 'vkid.personal_info email' } }
          live = `vk2.a.fresh-${++refreshes}`
          return { body: { refresh_token: `vk2.a.refresh-${refreshes}`, access_token: live, token_type: 'Bearer', expires_in: 3600, user_id: 1234567890, state: form(request.body).state, scope: 'vkid.personal_info email' } }
        },
        '/profile': () => ({ body: profileOf('vk') }),
        '/users.get': (request) => sentWhole(200, request.headers.authorization === `Bearer ${live}` ? users : dead, JSON_TYPE),
      },
    })
    const browser = await presetLogin('vk-refresh', 'vk', vk)
    for (const turn of [1, 2]) {
      // The token dies (an hour on): the call is refreshed and retried, and answers.
      live = 'dead'
      const response = await browser.fetch(new URL('/api/vk-refresh/users.get?v=5.199', bff.url), { headers: CSRF })
      expect([response.status, await response.text()], `turn ${turn}`).toEqual([200, users])
    }
    const sent = vk.at('/token').map((request) => form(request.body)).filter((grant) => grant.grant_type === 'refresh_token')
    expect(sent).toEqual([
      { grant_type: 'refresh_token', refresh_token: 'vk2.a.refresh', device_id: 'device-42', state: expect.stringMatching(/^[A-Za-z0-9_-]{16,}$/), client_id: 'client-id', client_secret: 'client-secret' },
      { grant_type: 'refresh_token', refresh_token: 'vk2.a.refresh-1', device_id: 'device-42', state: expect.stringMatching(/^[A-Za-z0-9_-]{16,}$/), client_id: 'client-id', client_secret: 'client-secret' },
    ])
    const info = await session(browser, bff.url)
    expect(info.authenticated && info.accounts.map((a) => a.status)).toEqual(['active'])
  })

  // VK ID's POST /oauth2/revoke takes the client id and an access token, takes back the app's permissions, and
  // answers {"response": 1}. The access token kept has most often expired by the time of a disconnect (an hour).
  it("vk: takes back the app's permissions on disconnect with POST /oauth2/revoke, made with an access token refreshed first", async () => {
    const vk = await documented({
      callbackParams: { device_id: 'device-42' },
      answers: {
        '/token': (request) =>
          form(request.body).grant_type === 'refresh_token'
            ? { body: { refresh_token: 'vk2.a.refresh-1', access_token: 'vk2.a.fresh', token_type: 'Bearer', expires_in: 3600, user_id: 1234567890 } }
            : { body: { refresh_token: 'vk2.a.refresh', access_token: 'vk2.a.expired', token_type: 'Bearer', expires_in: 3600, user_id: 1234567890 } },
        '/profile': () => ({ body: profileOf('vk') }),
        '/oauth2/revoke': (request) => (form(request.body).access_token === 'vk2.a.fresh' ? { body: { response: 1 } } : { status: 401, body: { error: 'invalid_token', error_description: 'access_token is expired' } }),
      },
    })
    const browser = await presetLogin('vk-revoked', 'vk', vk, { revocationUrl: `${vk.url}/oauth2/revoke` })
    expect((await browser.fetch(new URL('/auth/accounts/vk-revoked', bff.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
    expect(vk.at('/token').map((request) => [form(request.body).grant_type, form(request.body).refresh_token, form(request.body).device_id])).toEqual([
      ['authorization_code', undefined, 'device-42'],
      ['refresh_token', 'vk2.a.refresh', 'device-42'],
    ])
    expect(vk.at('/oauth2/revoke').map((request) => [request.method, form(request.body)])).toEqual([['POST', { client_id: 'client-id', access_token: 'vk2.a.fresh' }]])
    expect(bff.logs.filter((line) => /revocation/.test(line))).toEqual([])
  })

  it('vk: a disconnect of an account whose refresh token was kept without its device_id (by an older version) revokes with the access token kept, and logs no error', async () => {
    const vk = await documented({
      callbackParams: { device_id: 'device-42' },
      answers: {
        '/token': () => ({ body: { refresh_token: 'vk2.a.refresh', access_token: 'vk2.a.access', token_type: 'Bearer', expires_in: 3600, user_id: 1234567890 } }),
        '/profile': () => ({ body: profileOf('vk') }),
        '/oauth2/revoke': () => ({ body: { response: 1 } }),
      },
    })
    const browser = await presetLogin('vk-older', 'vk', vk, { revocationUrl: `${vk.url}/oauth2/revoke` })
    const info = await session(browser, bff.url)
    const account = info.authenticated ? await bff.store.accounts.findForUser(Number(info.user.id), 'vk-older') : null
    await bff.store.accounts.updateTokens(account!.id, { accessToken: 'vk2.a.access', tokenSecret: null, refreshToken: 'vk2.a.refresh', idToken: null, expiresAt: Date.now() + 3_600_000, scope: null })
    expect((await browser.fetch(new URL('/auth/accounts/vk-older', bff.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
    expect(vk.at('/token').map((request) => form(request.body).grant_type)).toEqual(['authorization_code'])
    expect(vk.at('/oauth2/revoke').map((request) => form(request.body))).toEqual([{ client_id: 'client-id', access_token: 'vk2.a.access' }])
    expect(bff.logs.filter((line) => /revocation/.test(line))).toEqual([])
  })

  // VK's API reads the token from Authorization: Bearer ("Формат запросов", dev.vk.com/api/api-requests) and answers
  // every failure with HTTP 200 and an error object; 5 is "User authorization failed" (an expired, revoked or invalid
  // token). A login that gave no refresh token cannot be refreshed: the account must sign in again.
  it('vk: a 200 answer of error 5 (user authorization failed) ends the account with reauth_required; other answers are passed on', async () => {
    const JSON_TYPE = 'application/json; charset=utf-8'
    const params = [{ key: 'user_ids', value: '1234567890' }, { key: 'v', value: '5.199' }, { key: 'method', value: 'users.get' }, { key: 'oauth', value: '1' }]
    const vkError = (code: number, message: string) => JSON.stringify({ error: { error_code: code, error_msg: message, request_params: params } })
    const users = JSON.stringify({ response: Array.from({ length: 60 }, (_, i) => ({ id: 1_234_567_890 + i, first_name: 'Ivan', last_name: 'Ivanov', can_access_closed: true, is_closed: false, photo_100: `https://sun1-20.userapi.com/s/v1/ig2/${i}.jpg?size=100x100&quality=95&crop=0,0,200,200&ava=1` })) })
    let answer = users
    const vk = await documented({
      answers: {
        '/token': () => ({ body: { access_token: 'vk2.a.access', token_type: 'Bearer', expires_in: 3600, user_id: 1234567890, scope: 'vkid.personal_info email' } }),
        '/profile': () => ({ body: profileOf('vk') }),
        // Sent whole, with its length.
        '/users.get': () => sentWhole(200, answer, JSON_TYPE),
      },
    })
    const name = 'vk-dead-token'
    const call = (browser: BrowserSession) => browser.fetch(new URL(`/api/${name}/users.get?v=5.199`, bff.url), { headers: CSRF })
    const passedOn = [
      users,
      vkError(6, 'Too many requests per second'),
      vkError(15, 'Access denied: no access to call this method'),
      vkError(100, 'One of the parameters specified was missing or invalid: user_ids is undefined'),
      JSON.stringify({ error: { error_code: '5', error_msg: 'not a number' } }),
    ]
    await bff.addProvider(name, presetOn('vk', vk))
    for (const refusal of ['User authorization failed: invalid access_token (4).', 'User authorization failed: access_token has expired.']) {
      const browser = new BrowserSession()
      expect(authError(await login(browser, bff.url, name)), refusal).toBeNull()
      for (const passed of passedOn) {
        answer = passed
        const other = await call(browser)
        expect([other.status, await other.text()], refusal).toEqual([200, passed])
      }
      answer = vkError(5, refusal)
      const refused = await call(browser)
      await expectAccountEnded(browser, refused, refusal)
    }
    expect(vk.at('/users.get').every((request) => request.headers.authorization === 'Bearer vk2.a.access')).toBe(true)
    expect(users.length).toBeGreaterThan(4096)
  })

  it('hubspot: reads the user by introspecting the access token, credentials and token in the form, and keeps the token out of the profile', async () => {
    const token = 'CNye4dqFMBICAAEYhOKlDZZ_z6IVKI_xMjIUgmFs'
    let profile: Record<string, unknown> | undefined
    const hubspot = await documented({
      answers: {
        '/oauth/2026-03/token': () => ({ body: { token_type: 'bearer', refresh_token: '1e8fbfb1-8e96-4826-8b8d-c8af73715', access_token: token, expires_in: 1800 } }),
        // https://developers.hubspot.com/docs/api-reference/latest/authentication/oauth-tokens/token-introspect
        '/oauth/2026-03/token/introspect': () => ({ body: { token_use: 'access_token', active: true, ...profileOf('hubspot'), token } }),
      },
    })
    // The profile as the hooks see it: a BFF of its own, whose getUserId hook keeps it.
    const ownDatabase = await database.create()
    const own = await startBff(ownDatabase.url, { hooks: { getUserId: ({ profile: given }) => ((profile = given), String(given.user_id)) } })
    try {
      await own.addProvider('hubspot', { preset: 'hubspot', authorizationUrl: `${hubspot.url}/authorize`, accessTokenUrl: `${hubspot.url}/oauth/2026-03/token`, profileUrl: `${hubspot.url}/oauth/2026-03/token/introspect`, ...credentials })
      const browser = new BrowserSession()
      await login(browser, own.url, 'hubspot')
      expect(await accountsOf(browser, own.url)).toEqual([{ provider: 'hubspot', identifier: '123', displayName: 'test@hubspot.com' }])
    } finally {
      await own.close()
      await ownDatabase.drop()
    }
    expect(hubspot.at('/oauth/2026-03/token/introspect').map((r) => [r.method, r.headers.authorization, form(r.body)])).toEqual([
      ['POST', undefined, { token, token_type_hint: 'access_token', client_id: 'client-id', client_secret: 'client-secret' }],
    ])
    expect(profile).toMatchObject({ user_id: 123, user: 'test@hubspot.com' })
    expect(JSON.stringify(profile)).not.toContain(token)
  })

  it('hubspot: refuses a login whose token introspection says it is not active', async () => {
    const hubspot = await documented({
      answers: {
        '/oauth/2026-03/token': () => ({ body: { token_type: 'bearer', access_token: 'inactive', expires_in: 1800 } }),
        '/oauth/2026-03/token/introspect': () => ({ body: { active: false, user_id: 123, user: 'test@hubspot.com' } }),
      },
    })
    await bff.addProvider('hubspot-inactive', { preset: 'hubspot', authorizationUrl: `${hubspot.url}/authorize`, accessTokenUrl: `${hubspot.url}/oauth/2026-03/token`, profileUrl: `${hubspot.url}/oauth/2026-03/token/introspect`, ...credentials })
    expect(authError(await login(new BrowserSession(), bff.url, 'hubspot-inactive'))).toBe('profile_request_failed')
  })

  it('hubspot: a provider added with the v1 endpoints still reads the user at a URL ending with the token', async () => {
    const token = 'CNye4dqFMBICAAEYhOKlDZZ_z6IVKI_xMjIUgmFs'
    const hubspot = await documented({
      answers: {
        '/token': () => ({ body: { token_type: 'bearer', refresh_token: '1e8fbfb1-8e96-4826-8b8d-c8af73715', access_token: token, expires_in: 1800 } }),
        [`/oauth/v1/access-tokens/${token}`]: () => ({ body: { ...profileOf('hubspot'), token } }),
      },
    })
    const browser = await presetLogin('hubspot-v1', 'hubspot', hubspot, { profileUrl: `${hubspot.url}/oauth/v1/access-tokens` })
    expect(await accountsOf(browser, bff.url)).toEqual([{ provider: 'hubspot-v1', identifier: '123', displayName: 'test@hubspot.com' }])
  })

  it('hubspot: a v1 token that fails at its metadata URL is kept out of the log, as sent and as percent-encoded in the URL', async () => {
    const token = 'CNye4dqF/MBICAAE+YhOKlDZZ=='
    const hubspot = await documented({
      answers: {
        '/token': () => ({ body: { token_type: 'bearer', access_token: token, expires_in: 1800 } }),
        // Past the limit of a provider's answer: the failure's detail names the URL it was read from.
        [`/oauth/v1/access-tokens/${encodeURIComponent(token)}`]: () => ({ body: 'x'.repeat(1024 * 1024 + 1) }),
      },
    })
    bff.logs.length = 0
    await bff.addProvider('hubspot-v1-fails', { ...presetOn('hubspot', hubspot), profileUrl: `${hubspot.url}/oauth/v1/access-tokens` })
    expect(authError(await login(new BrowserSession(), bff.url, 'hubspot-v1-fails'))).toBe('profile_request_failed')
    expect(hubspot.at(`/oauth/v1/access-tokens/${encodeURIComponent(token)}`)).toHaveLength(1)
    const failure = bff.logs.filter((line) => line.includes('/oauth/v1/access-tokens/'))
    expect(failure).toEqual([expect.stringContaining('/oauth/v1/access-tokens/…')])
    expect(bff.logs.join('\n')).not.toContain(encodeURIComponent(token))
    expect(bff.logs.join('\n')).not.toContain(token)
  })

  it('figma: signs in with PKCE (S256) and Basic client authentication, as its OAuth apps guide describes', async () => {
    const figma = await documented({
      answers: {
        // https://developers.figma.com/docs/rest-api/oauth-apps/: the token answer.
        '/v1/oauth/token': () => ({ body: { user_id_string: '1234', access_token: 'figu_access', token_type: 'bearer', expires_in: 7776000, refresh_token: 'figur_refresh' } }),
        '/v1/me': () => ({ body: profileOf('figma') }),
      },
    })
    await bff.addProvider('figma-login', { preset: 'figma', authorizationUrl: `${figma.url}/authorize`, accessTokenUrl: `${figma.url}/v1/oauth/token`, profileUrl: `${figma.url}/v1/me`, apiBaseUrl: `${figma.url}/v1`, ...credentials })
    const browser = new BrowserSession()
    await login(browser, bff.url, 'figma-login')
    const authorization = new URL(figma.at('/authorize')[0].url, figma.url).searchParams
    expect([authorization.get('code_challenge'), authorization.get('code_challenge_method')]).toEqual([expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), 'S256'])
    const exchange = figma.at('/v1/oauth/token')[0]
    expect(exchange.headers.authorization).toBe(BASIC)
    const verifier = form(exchange.body).code_verifier ?? ''
    expect(form(exchange.body)).toEqual({ grant_type: 'authorization_code', code: 'code-1', redirect_uri: `${bff.url}/auth/callback/figma-login`, code_verifier: verifier })
    expect(createHash('sha256').update(verifier).digest('base64url')).toBe(authorization.get('code_challenge'))
    expect((await accountsOf(browser, bff.url))[0]).toEqual(expect.objectContaining({ provider: 'figma-login' }))
  })

  it('figma: refreshes at its own refresh endpoint, and keeps the refresh token it does not send again', async () => {
    const figma = await documented({
      answers: {
        '/v1/oauth/refresh': () => ({ body: { access_token: 'figma-fresh', expires_in: 7776000 } }),
        '/v1/me': (request) => (request.headers.authorization === 'Bearer figma-fresh' ? { body: profileOf('figma') } : { status: 403, body: { status: 403, err: 'Invalid token' } }),
      },
    })
    await bff.addProvider('figma', { preset: 'figma', authorizationUrl: `${figma.url}/oauth`, accessTokenUrl: `${figma.url}/v1/oauth/token`, profileUrl: `${figma.url}/v1/me`, apiBaseUrl: `${figma.url}/v1`, ...credentials })
    const { browser, accountId } = await signedIn(bff, 'figma', { accessToken: 'figma-stale', refreshToken: 'figma-refresh', expiresAt: Date.now() - 1000 })
    const response = await browser.fetch(new URL('/api/figma/me', bff.url), { headers: CSRF })
    expect(response.status).toBe(200)
    const refresh = figma.at('/v1/oauth/refresh')
    expect(refresh.map((r) => [r.headers.authorization, form(r.body)])).toEqual([[BASIC, { refresh_token: 'figma-refresh' }]])
    expect(figma.at('/v1/oauth/token')).toEqual([])
    expect(await bff.store.accounts.get(accountId)).toEqual(expect.objectContaining({ accessToken: 'figma-fresh', refreshToken: 'figma-refresh' }))
  })

  // Figma's REST API refuses a token it does not know with 403 and "Invalid token", in either of its error
  // shapes (figma/rest-api-spec openapi.yaml, ErrorResponsePayloadWithErrMessage and …WithErrorBoolean):
  // `{"status":403,"err":"Invalid token"}` on the files and images endpoints, `{"status":403,"error":true,
  // "message":"Invalid token"}` on the variables ones, as clients captured it and take it for a dead token
  // ("revoked, mistyped, or past its expiry"). A refresh is tried first; once refused too, the account needs a
  // new login. Other 403s (a plan, an account type), other errors, and successes however long, are passed on.
  it('figma: a 403 of "Invalid token", in err or message, ends the account with reauth_required once the refresh is refused; other answers are passed on', async () => {
    const JSON_TYPE = 'application/json; charset=utf-8'
    const file = JSON.stringify({ name: 'Design System', lastModified: '2026-11-30T09:12:44Z', version: '2104475637', role: 'editor', editorType: 'figma', document: { id: '0:0', name: 'Document', type: 'DOCUMENT', children: Array.from({ length: 40 }, (_, i) => ({ id: `0:${i + 1}`, name: `Page ${i + 1}`, type: 'CANVAS', backgroundColor: { r: 0.96, g: 0.96, b: 0.96, a: 1 }, children: [] })) }, components: {}, styles: {}, schemaVersion: 0 })
    let answer: { status?: number; body: string } = { body: file }
    const figma = await documented({
      answers: {
        // https://developers.figma.com/docs/rest-api/oauth-apps/: the token answer.
        '/token': () => ({ body: { user_id_string: '1234', access_token: 'figu_access', token_type: 'bearer', expires_in: 7776000, refresh_token: 'figur_refresh' } }),
        '/refresh': () => ({ status: 400, body: { error: 'invalid_grant' } }),
        '/profile': () => ({ body: profileOf('figma') }),
        // Sent whole, with its length.
        '/files/Rk4QZ0b2': () => sentWhole(answer.status ?? 200, answer.body, JSON_TYPE),
      },
    })
    await bff.addProvider('figma-dead-token', presetOn('figma', figma))
    const call = (browser: BrowserSession) => browser.fetch(new URL('/api/figma-dead-token/files/Rk4QZ0b2', bff.url), { headers: CSRF })
    const passedOn: { status?: number; body: string }[] = [
      { body: file },
      { status: 403, body: JSON.stringify({ status: 403, err: 'Limited by Figma plan' }) },
      { status: 403, body: JSON.stringify({ status: 403, err: 'Incorrect account type' }) },
      { status: 404, body: JSON.stringify({ status: 404, err: 'Not found' }) },
      { status: 429, body: JSON.stringify({ status: 429, err: 'Rate limit exceeded' }) },
    ]
    const dead = {
      err: { status: 403, body: JSON.stringify({ status: 403, err: 'Invalid token' }) },
      message: { status: 403, body: JSON.stringify({ status: 403, error: true, message: 'Invalid token' }) },
    }
    for (const [shape, refusal] of Object.entries(dead)) {
      const browser = new BrowserSession()
      expect(authError(await login(browser, bff.url, 'figma-dead-token')), shape).toBeNull()
      const refreshed = figma.at('/refresh').length
      for (const passed of passedOn) {
        answer = passed
        const other = await call(browser)
        expect([other.status, await other.text()], shape).toEqual([passed.status ?? 200, passed.body])
      }
      expect(figma.at('/refresh'), shape).toHaveLength(refreshed)
      answer = refusal
      const refused = await call(browser)
      await expectAccountEnded(browser, refused, shape)
    }
    // Refreshed once for each dead token, never for the answers passed on.
    expect(figma.at('/refresh').map((request) => form(request.body))).toEqual([{ refresh_token: 'figur_refresh' }, { refresh_token: 'figur_refresh' }])
    expect(figma.at('/files/Rk4QZ0b2').every((request) => request.headers.authorization === 'Bearer figu_access')).toBe(true)
    // Longer than an answer read to be judged: passed on whole without being read.
    expect(file.length).toBeGreaterThan(1024)
  })
})
