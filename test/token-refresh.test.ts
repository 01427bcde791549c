import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'
import { BrowserSession } from './support/browser-session.ts'
import { cacheLapse } from './support/eventually.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { authError, login, session } from './support/login.ts'
import { startDocumentedProvider, type Answerer } from './support/documented-provider.ts'
import { forgetDiscovery } from '../server/clients/oidc-discovery.ts'
import { decodeJwt, generateKeyPair, SignJWT } from 'jose'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { openStore } from '../server/store/index.ts'

const CSRF = { 'X-CSRF': '1' }

async function accountOf(bff: TestBff, browser: BrowserSession, provider: string) {
  const info = await session(browser, bff.url)
  if (!info.authenticated) throw new Error('not signed in')
  const account = await bff.store.accounts.findForUser(Number(info.user.id), provider)
  if (!account) throw new Error('no account')
  return account
}

/**
 * A token endpoint whose refresh tokens rotate and are good once, as the OAuth 2.0 Security BCP
 * (§4.14.2) has them: the login's access token expires at once, and its refresh token `rt-1` is
 * exchanged once for `at-2` and `rt-2`. `again` is told of every refresh after the first; `held`,
 * if given, is awaited once the token is spent and before the answer.
 */
function rotatingTokenEndpoint({ again, held }: { again?: () => void; held?: Promise<void> } = {}): Answerer {
  const spent = new Set<string>()
  return async (request, p) => {
    const grant = new URLSearchParams(request.body)
    if (grant.get('grant_type') !== 'refresh_token') {
      return { body: { access_token: 'at-1', token_type: 'Bearer', expires_in: 0.001, refresh_token: 'rt-1', id_token: await p.idToken({ sub: 'alice' }) } }
    }
    const used = grant.get('refresh_token') ?? ''
    if (spent.size > 0) again?.()
    if (spent.has(used) || used !== 'rt-1') return { status: 400, body: { error: 'invalid_grant' } }
    spent.add(used)
    await held
    return { body: { access_token: 'at-2', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-2', id_token: await p.idToken({ sub: 'alice', nonce: undefined }) } }
  }
}

describe.each(databases)('token refresh and re-authentication on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let idp: RunningOidcSandbox

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url)
    idp = await startOidcSandbox({
      clients: [{ clientId: 'client-idp', clientSecret: 'secret-idp-0123456789', redirectUris: [`${bff.url}/auth/callback/idp`] }],
      autoApprove: 'alice',
    })
    await bff.addProvider('idp', { issuer: idp.issuer, apiBaseUrl: idp.apiBaseUrl, clientId: 'client-idp', clientSecret: 'secret-idp-0123456789', scope: 'openid profile email' })
  })

  afterAll(async () => {
    await bff?.close()
    await idp?.close()
    await drop?.()
  })

  it('refreshes an expired token exactly once for 50 concurrent calls, and stores the rotated refresh token', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const before = await accountOf(bff, browser, 'idp')
    expect(before.refreshToken).toBeTruthy()
    // The stored token's lifetime is over (as it is after an idle hour): the next calls must refresh it first.
    await bff.store.db('accounts').where({ id: before.id }).update({ expires_at: Date.now() - 1000 })
    await cacheLapse()
    const grantsBefore = idp.stats.refreshGrants
    const failuresBefore = idp.stats.refreshFailures

    const responses = await Promise.all(Array.from({ length: 50 }, () => browser.fetch(new URL('/api/idp/me', bff.url), { headers: CSRF })))
    expect(responses.map((r) => r.status)).toEqual(Array(50).fill(200))
    const bodies = await Promise.all(responses.map((r) => r.json() as Promise<{ sub: string }>))
    expect(new Set(bodies.map((b) => b.sub))).toEqual(new Set(['alice']))
    expect(idp.stats.refreshGrants - grantsBefore).toBe(1)
    // With rotation, a second refresh would have used the spent refresh token and failed.
    expect(idp.stats.refreshFailures - failuresBefore).toBe(0)

    const after = await bff.store.accounts.get(before.id)
    expect(after?.refreshToken).toBeTruthy()
    expect(after?.refreshToken).not.toBe(before.refreshToken)
    expect(after?.accessToken).not.toBe(before.accessToken)
    expect(after?.expiresAt).toBeGreaterThan(Date.now() + 60_000)
    const lease = await bff.store.db('accounts').where({ id: before.id }).first('refresh_lease_owner', 'refresh_lease_until')
    expect(lease).toEqual({ refresh_lease_owner: null, refresh_lease_until: null })
  })

  it('refreshes once and retries when the provider rejects the access token', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const before = await accountOf(bff, browser, 'idp')
    const stored = await idp.provider.AccessToken.find(before.accessToken!)
    await stored?.destroy()
    const grantsBefore = idp.stats.refreshGrants
    const response = await browser.fetch(new URL('/api/idp/me', bff.url), { headers: CSRF })
    expect(response.status).toBe(200)
    expect(idp.stats.refreshGrants - grantsBefore).toBe(1)
    expect((await bff.store.accounts.get(before.id))?.status).toBe('active')
  })

  it('refreshes before calling when the token expires within a minute, through account.apiClient too', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const before = await accountOf(bff, browser, 'idp')
    // An hour's token, stored an hour ago less 30 s.
    await bff.store.db('accounts').where({ id: before.id }).update({ expires_at: Date.now() + 30_000, updated_at: Date.now() - 3_570_000 })
    await cacheLapse()
    const grantsBefore = idp.stats.refreshGrants
    const account = await bff.allAccess.accountFor(before.userId, 'idp')
    const response = await account!.apiClient.request('post', `${idp.apiBaseUrl}/notes`, { json: { text: 'from the server' } })
    expect(response.status).toBe(201)
    expect(response.body).toEqual(expect.objectContaining({ text: 'from the server' }))
    expect(idp.stats.refreshGrants - grantsBefore).toBe(1)
  })

  it('marks the account reauth_required when the grant is revoked, and a new login makes it active again', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const account = await accountOf(bff, browser, 'idp')
    await idp.revokeGrantsFor('alice')
    const response = await browser.fetch(new URL('/api/idp/me', bff.url), { headers: CSRF })
    expect(response.status).toBe(401)
    expect(await response.json()).toEqual({ error: 'reauth_required', message: expect.any(String) })
    let info = await session(browser, bff.url)
    expect(info.authenticated && info.accounts.find((a) => a.provider === 'idp')?.status).toBe('reauth_required')

    await login(browser, bff.url, 'idp')
    info = await session(browser, bff.url)
    expect(info.authenticated && info.accounts.find((a) => a.provider === 'idp')?.status).toBe('active')
    const again = await browser.fetch(new URL('/api/idp/me', bff.url), { headers: CSRF })
    expect(again.status).toBe(200)
    expect((await bff.store.accounts.get(account.id))?.status).toBe('active')
  })

  it('keeps the refresh token of an account when a later login answers without one (Google, unless asked for consent)', async () => {
    let logins = 0
    const provider = await startDocumentedProvider({
      answers: {
        '/token': (request) => {
          const grant = new URLSearchParams(request.body)
          if (grant.get('grant_type') === 'refresh_token') {
            return grant.get('refresh_token') === 'refresh-1' ? { body: { access_token: 'access-refreshed', token_type: 'Bearer', expires_in: 3600 } } : { status: 400, body: { error: 'invalid_grant' } }
          }
          logins++
          return { body: logins === 1 ? { access_token: 'access-1', refresh_token: 'refresh-1', token_type: 'Bearer', expires_in: 3600 } : { access_token: 'access-2', token_type: 'Bearer', expires_in: 3600 } }
        },
        '/profile': () => ({ body: { id: 'u-1' } }),
        '/api/me': (request) => (request.headers.authorization === 'Bearer access-refreshed' ? { body: { ok: true } } : { status: 401, body: { error: 'invalid_token' } }),
      },
    })
    try {
      await bff.addProvider('offline', { authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/profile`, apiBaseUrl: `${provider.url}/api`, clientId: 'c', clientSecret: 's' })
      await login(new BrowserSession(), bff.url, 'offline')
      const browser = new BrowserSession()
      await login(browser, bff.url, 'offline')
      const account = await accountOf(bff, browser, 'offline')
      expect(account.accessToken).toBe('access-2')
      expect(account.refreshToken).toBe('refresh-1')
      // The second login's token expires: the kept refresh token renews it, the user need not sign in again.
      await bff.store.db('accounts').where({ id: account.id }).update({ expires_at: Date.now() - 1000 })
      await cacheLapse()
      const response = await browser.fetch(new URL('/api/offline/me', bff.url), { headers: CSRF })
      expect(response.status).toBe(200)
    } finally {
      await provider.close()
    }
  })

  it('writes nothing when a returning login cannot start its session: the account keeps its old tokens and status', async () => {
    const first = new BrowserSession()
    await login(first, bff.url, 'idp')
    const before = await accountOf(bff, first, 'idp')
    await bff.store.accounts.setStatus(before.id, 'reauth_required')
    // The database itself refuses the new session, after the account's tokens were renewed.
    const refuse =
      database.kind === 'sqlite'
        ? ["CREATE TRIGGER refuse_sessions BEFORE INSERT ON sessions BEGIN SELECT RAISE(ABORT, 'sessions refused'); END"]
        : [
            "CREATE FUNCTION refuse_sessions() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'sessions refused'; END $$ LANGUAGE plpgsql",
            'CREATE TRIGGER refuse_sessions BEFORE INSERT ON sessions FOR EACH ROW EXECUTE FUNCTION refuse_sessions()',
          ]
    for (const statement of refuse) await bff.store.db.raw(statement)
    try {
      const landed = await login(new BrowserSession(), bff.url, 'idp')
      expect(authError(landed)).toBe('server_error')
    } finally {
      await bff.store.db.raw(database.kind === 'sqlite' ? 'DROP TRIGGER refuse_sessions' : 'DROP TRIGGER refuse_sessions ON sessions')
      if (database.kind !== 'sqlite') await bff.store.db.raw('DROP FUNCTION refuse_sessions()')
    }
    await cacheLapse()
    const after = await bff.store.accounts.get(before.id)
    expect(after).toMatchObject({ accessToken: before.accessToken, refreshToken: before.refreshToken, status: 'reauth_required' })
  })

  it('replaces the account a signed-in user had at a provider when they link another identity there, dropping its tokens unrevoked', async () => {
    let logins = 0
    const provider = await startDocumentedProvider({
      answers: {
        '/token': () => {
          logins++
          return { body: { access_token: `access-${logins}`, refresh_token: `refresh-${logins}`, token_type: 'Bearer', expires_in: 3600 } }
        },
        // The user picks another identity at the provider the second time.
        '/profile': (request) => ({ body: { id: request.headers.authorization === 'Bearer access-1' ? 'work' : 'personal' } }),
        '/revoke': () => ({ body: '' }),
        // Which grant the call came with, named without the token, which the proxy withholds.
        '/api/me': (request) => ({ body: { grant: request.headers.authorization?.replace('Bearer access-', '') } }),
      },
    })
    try {
      await bff.addProvider('two-identities', {
        authorizationUrl: `${provider.url}/authorize`,
        accessTokenUrl: `${provider.url}/token`,
        profileUrl: `${provider.url}/profile`,
        apiBaseUrl: `${provider.url}/api`,
        revocationUrl: `${provider.url}/revoke`,
        clientId: 'c',
        clientSecret: 's',
      })
      const browser = new BrowserSession()
      await login(browser, bff.url, 'two-identities')
      const first = await session(browser, bff.url)
      await login(browser, bff.url, 'two-identities')
      const info = await session(browser, bff.url)
      expect(info.authenticated && info.user.id).toBe(first.authenticated && first.user.id)
      expect(info.authenticated && info.accounts.map((a) => a.identifier)).toEqual(['personal'])
      const response = await browser.fetch(new URL('/api/two-identities/me', bff.url), { headers: CSRF })
      expect(await response.json()).toEqual({ grant: '2' })
      // Not revoked: to the provider both identities may be one grant, which the new tokens belong to.
      expect(provider.at('/revoke')).toEqual([])
      expect(await bff.store.db('accounts').where({ identifier: 'work' }).first()).toBeUndefined()
    } finally {
      await provider.close()
    }
  })

  it('revokes the tokens at the provider when an account is disconnected', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const account = await accountOf(bff, browser, 'idp')
    const revocationsBefore = idp.stats.revocations
    const response = await browser.fetch(new URL('/auth/accounts/idp', bff.url), { method: 'DELETE', headers: CSRF })
    expect(response.status).toBe(204)
    expect(idp.stats.revocations - revocationsBefore).toBeGreaterThanOrEqual(1)
    expect(await idp.provider.RefreshToken.find(account.refreshToken!)).toBeUndefined()
    expect(await bff.store.accounts.get(account.id)).toBeNull()
    const missing = await browser.fetch(new URL('/auth/accounts/idp', bff.url), { method: 'DELETE', headers: CSRF })
    expect(missing.status).toBe(404)
    expect(await missing.json()).toEqual({ error: 'account_not_found', message: expect.any(String) })
  })
})

describe.each(databases)("an OpenID Connect refresh answering with an ID token on $kind", (database) => {
  /**
   * Signs in as alice, then lets the refresh answer with an ID token for `refreshedSub`: signed, not
   * signed, or signed with a new key the key set does not show yet (`rotated`). With `keysAnswer`,
   * the key set answers that after the login and its cached keys are forgotten. With `heldClaims`,
   * the account holds, in place of the login's, an ID token with them, as an earlier release stored it.
   */
  async function refreshAnswering(
    refreshedSub: string,
    signed: boolean | 'rotated' = true,
    keysAnswer?: { status: number; body: string | object },
    claims: Record<string, unknown> = {},
    heldClaims?: Record<string, unknown>,
  ) {
    const rotatedKey = (await generateKeyPair('RS256')).privateKey
    let keysDown = false
    const { url, drop } = await database.create()
    const bff = await startBff(url)
    const provider = await startDocumentedProvider({
      discovery: {},
      answers: {
        '/token': async (request, p) => {
          if (new URLSearchParams(request.body).get('grant_type') !== 'refresh_token') {
            // Granted for a millisecond: spent by the time of the call, which refreshes it first.
            return { body: { access_token: 'alice-token', token_type: 'Bearer', expires_in: 0.001, refresh_token: 'alice-refresh', id_token: await p.idToken({ sub: 'alice' }) } }
          }
          const signedToken = await p.idToken({ sub: refreshedSub, nonce: undefined, ...claims })
          const idToken = signed === 'rotated' ? await new SignJWT(decodeJwt(signedToken)).setProtectedHeader({ alg: 'RS256', kid: 'rotated' }).sign(rotatedKey) : signed ? signedToken : `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: refreshedSub })).toString('base64url')}.`
          return { body: { access_token: `${refreshedSub}-token-2`, token_type: 'Bearer', expires_in: 3600, refresh_token: `${refreshedSub}-refresh-2`, id_token: idToken } }
        },
        // Whose token the call came with, named without the token, which the proxy withholds.
        '/api/me': (request) => ({ body: { tokenOf: request.headers.authorization?.replace(/^Bearer (\w+)-token-2$/, '$1') } }),
        ...(keysAnswer && { '/jwks': (_request, p) => (keysDown ? keysAnswer : { body: p.keySet }) }),
      },
    })
    try {
      await bff.addProvider('op', { issuer: provider.url, apiBaseUrl: `${provider.url}/api`, clientId: 'client', clientSecret: 'secret' })
      const browser = new BrowserSession()
      expect(authError(await login(browser, bff.url, 'op'))).toBeNull()
      if (heldClaims) {
        const account = await accountOf(bff, browser, 'op')
        await bff.store.accounts.updateTokens(account.id, { ...account, idToken: await provider.idToken({ sub: 'alice', ...heldClaims }) })
      }
      if (keysAnswer) {
        keysDown = true
        forgetDiscovery()
      }
      // The token is spent: the call refreshes first.
      const answer = await browser.fetch(new URL('/api/op/me', bff.url), { headers: CSRF })
      return { status: answer.status, body: await answer.json(), account: await accountOf(bff, browser, 'op'), upstream: provider.at('/api/me') }
    } finally {
      await provider.close()
      await bff.close()
      await drop()
    }
  }

  it("refuses, as reauth_required, a refresh whose ID token names another user (OpenID Connect Core 12.2): that user's tokens are neither used nor stored", async () => {
    const { status, body, account, upstream } = await refreshAnswering('mallory')
    expect(status).toBe(401)
    expect(body).toEqual({ error: 'reauth_required', message: expect.any(String) })
    expect(upstream).toEqual([])
    expect(account.status).toBe('reauth_required')
    expect(account.accessToken).toBe('alice-token')
    expect(account.refreshToken).toBe('alice-refresh')
  })

  it('refuses a refreshed ID token that is not signed by the provider', async () => {
    const { status, account } = await refreshAnswering('alice', false)
    expect(status).toBe(401)
    expect(account.accessToken).toBe('alice-token')
  })

  const keysDown = [
    ['answers 503', { status: 503, body: { error: 'busy' } }],
    ['answers without JSON', { status: 200, body: '<html>maintenance</html>' }],
    ['answers JSON without keys', { status: 200, body: { error: 'none' } }],
    ['answers a list of keys that are not objects', { status: 200, body: { keys: [null] } }],
    // The token's own key id, with no key that can be used: WebCrypto and jose refuse it with errors of their own.
    ["answers the token's key without its modulus", { status: 200, body: { keys: [{ kty: 'RSA', kid: 'documented', alg: 'RS256', use: 'sig', e: 'AQAB' }] } }],
    ["answers the token's key far too short", { status: 200, body: { keys: [{ kty: 'RSA', kid: 'documented', alg: 'RS256', use: 'sig', n: 'AQAB', e: 'AQAB' }] } }],
  ] as const

  it.each(keysDown)(
    "stores and uses a refresh whose ID token, read without keys, names the same user, when the provider's key set %s: the refresh token sent may be spent",
    async (_name, keysAnswer) => {
      const { status, body, account, upstream } = await refreshAnswering('alice', true, keysAnswer)
      expect(status).toBe(200)
      expect(body).toEqual({ tokenOf: 'alice' })
      expect(upstream).toHaveLength(1)
      expect(account.status).toBe('active')
      expect(account.refreshToken).toBe('alice-refresh-2')
    },
  )

  it("stores a refresh whose ID token is signed with a key the provider's key set, fetched moments ago, does not show yet (a rotation): read without the key, it names the same user", async () => {
    const { status, body, account } = await refreshAnswering('alice', 'rotated')
    expect(status).toBe(200)
    expect(body).toEqual({ tokenOf: 'alice' })
    expect(account.refreshToken).toBe('alice-refresh-2')
  })

  const now = Math.floor(Date.now() / 1000)

  it('refuses a refreshed ID token issued an hour from now (iat)', async () => {
    const { status, body, account, upstream } = await refreshAnswering('alice', true, undefined, { iat: now + 3600, exp: now + 3900 })
    expect(status).toBe(401)
    expect(body).toEqual({ error: 'reauth_required', message: expect.any(String) })
    expect(upstream).toEqual([])
    expect(account.accessToken).toBe('alice-token')
  })

  it.each([
    ['another issuer', true, { iss: 'https://evil.example' }],
    ['no signature (alg none)', false, {}],
    ['an iat an hour from now', true, { iat: now + 3600, exp: now + 3900 }],
    ['an exp two minutes past', true, { iat: now - 600, exp: now - 120 }],
    ['several audiences and no azp', true, { aud: ['client', 'another-client'] }],
    ['an azp naming another client', true, { azp: 'another-client' }],
    ['an auth_time that is not a number', true, { auth_time: 'yesterday' }],
    ['a sid that is a number', true, { sid: 42 }],
    // Refused by jwtVerify once the keys can be had: read without them, they must not pass for absent.
    ['an nbf that is not a number', true, { nbf: 'tomorrow' }],
    ['an nbf an hour from now', true, { nbf: now + 3600 }],
  ] as const)("still refuses, while the provider's key set answers 503, a refreshed ID token with %s", async (_name, signed, claims) => {
    const { status, account, upstream } = await refreshAnswering('alice', signed, keysDown[0][1], claims)
    expect(status).toBe(401)
    expect(upstream).toEqual([])
    expect(account.accessToken).toBe('alice-token')
  })

  it('refuses, as reauth_required, a refreshed ID token whose auth_time is not a number', async () => {
    const { status, body, account, upstream } = await refreshAnswering('alice', true, undefined, { auth_time: String(now) })
    expect(status).toBe(401)
    expect(body).toEqual({ error: 'reauth_required', message: expect.any(String) })
    expect(upstream).toEqual([])
    expect(account.accessToken).toBe('alice-token')
  })

  it.each([
    ['a number', 42],
    ['empty', ''],
    ['an object', { id: 'session-1' }],
    ['longer than 255 characters', 's'.repeat(256)],
  ])('refuses, as reauth_required, a refreshed ID token whose sid is %s, as the login refuses it', async (_name, sid) => {
    const { status, body, account, upstream } = await refreshAnswering('alice', true, undefined, { sid })
    expect(status).toBe(401)
    expect(body).toEqual({ error: 'reauth_required', message: expect.any(String) })
    expect(upstream).toEqual([])
    expect(account.status).toBe('reauth_required')
    expect(account.accessToken).toBe('alice-token')
  })

  it('stores a refresh whose ID token carries a sid of 255 characters', async () => {
    const { status, account } = await refreshAnswering('alice', true, undefined, { sid: 's'.repeat(255) })
    expect(status).toBe(200)
    expect(account.refreshToken).toBe('alice-refresh-2')
  })

  it.each(keysDown)("still refuses a refreshed ID token naming another user when the provider's key set %s", async (_name, keysAnswer) => {
    const { status, body, account, upstream } = await refreshAnswering('mallory', true, keysAnswer)
    expect(status).toBe(401)
    expect(body).toEqual({ error: 'reauth_required', message: expect.any(String) })
    expect(upstream).toEqual([])
    expect(account.accessToken).toBe('alice-token')
  })

  it('refuses, as reauth_required, every refreshed ID token for an account whose stored ID token names its user by a number, as an earlier release let by', async () => {
    const { status, body, upstream } = await refreshAnswering('mallory', true, undefined, {}, { sub: 123 })
    expect(status).toBe(401)
    expect(body).toEqual({ error: 'reauth_required', message: expect.any(String) })
    expect(upstream).toEqual([])
  })

  it("stores a refresh whose ID token names the same user", async () => {
    const { status, body, account } = await refreshAnswering('alice')
    expect(status).toBe(200)
    expect(body).toEqual({ tokenOf: 'alice' })
    expect(account.status).toBe('active')
    expect(account.refreshToken).toBe('alice-refresh-2')
  })
})

/**
 * A BFF on a new database of `database`, a provider `revocable` answering `answers` (with an RFC 7009
 * revocation endpoint at `/revoke`), and a browser signed in through it: the set-up of the disconnect tests.
 */
async function signedInAtRevocable(database: (typeof databases)[number], answers: Record<string, Answerer>) {
  const { url, drop } = await database.create()
  const bff = await startBff(url)
  const provider = await startDocumentedProvider({ answers })
  let bffClosed: Promise<void> | undefined
  const closeBff = () => (bffClosed ??= bff.close())
  const close = async () => {
    await provider.close()
    await closeBff()
    await drop()
  }
  try {
    const endpoints = { authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me`, apiBaseUrl: `${provider.url}/api` }
    await bff.addProvider('revocable', { ...endpoints, revocationUrl: `${provider.url}/revoke`, clientId: 'client', clientSecret: 'secret' })
    const browser = new BrowserSession()
    expect(authError(await login(browser, bff.url, 'revocable'))).toBeNull()
    return { bff, provider, browser, closeBff, close }
  } catch (error) {
    await close()
    throw error
  }
}

describe.each(databases)('a disconnect while a refresh is out on $kind', (database) => {
  /**
   * Signs in with a token granted for a millisecond, calls the API (which refreshes first), and
   * disconnects while the provider holds the refresh; then lets the provider give `refreshed`.
   */
  async function disconnectDuringRefresh(refreshed: { status?: number; body: Record<string, unknown> }) {
    let release = () => {}
    let asked = () => {}
    const refreshAsked = new Promise<void>((resolve) => (asked = resolve))
    const { bff, provider, browser, close } = await signedInAtRevocable(database, {
        '/token': async (request) => {
          if (new URLSearchParams(request.body).get('grant_type') !== 'refresh_token') return { body: { access_token: 'at-1', token_type: 'Bearer', expires_in: 0.001, refresh_token: 'rt-1' } }
          asked()
          await new Promise<void>((resolve) => (release = resolve))
          return refreshed
        },
        '/me': () => ({ body: { id: 'alice' } }),
        '/revoke': () => ({ body: {} }),
        '/api/me': () => ({ body: {} }),
      })
    try {
      const call = browser.fetch(new URL('/api/revocable/me', bff.url), { headers: CSRF })
      await refreshAsked
      expect((await browser.fetch(new URL('/auth/accounts/revocable', bff.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
      release()
      const answer = await call
      return { answer: { status: answer.status, body: await answer.json() }, upstream: provider.at('/api/me'), revoked: provider.at('/revoke').map((request) => new URLSearchParams(request.body).get('token')) }
    } finally {
      release()
      await close()
    }
  }

  it('revokes the tokens the refresh brings back and does not use them: the call answers account_not_connected', async () => {
    const { answer, upstream, revoked } = await disconnectDuringRefresh({ body: { access_token: 'at-2', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-2' } })
    expect(answer).toEqual({ status: 403, body: { error: 'account_not_connected', message: expect.any(String) } })
    expect(upstream).toEqual([])
    expect(revoked.sort()).toEqual(['at-1', 'at-2', 'rt-1', 'rt-2'])
  })

  it('answers account_not_connected, not reauth_required, when the provider refuses the refresh of an account disconnected meanwhile', async () => {
    // The disconnect revoked the refresh token while it was out.
    const { answer } = await disconnectDuringRefresh({ status: 400, body: { error: 'invalid_grant' } })
    // As the proxy answers an account that is gone: the SPA offers to connect it, not to reconnect it.
    expect(answer).toEqual({ status: 403, body: { error: 'account_not_connected', message: expect.any(String) } })
  })

  it('leaves no token the provider issued unrevoked when a refresh stores new tokens while the disconnect revokes the ones it read', async () => {
    let release = () => {}
    let revoking = () => {}
    const revocationAsked = new Promise<void>((resolve) => (revoking = resolve))
    const revocationHeld = new Promise<void>((resolve) => (release = resolve))
    const { bff, provider, browser, close } = await signedInAtRevocable(database, {
        '/token': (request) =>
          new URLSearchParams(request.body).get('grant_type') !== 'refresh_token'
            ? { body: { access_token: 'at-1', token_type: 'Bearer', expires_in: 0.001, refresh_token: 'rt-1' } }
            : { body: { access_token: 'at-2', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-2' } },
        '/me': () => ({ body: { id: 'alice' } }),
        // The provider is slow to answer the disconnect's first revocation.
        '/revoke': async () => {
          revoking()
          await revocationHeld
          return { body: {} }
        },
        '/api/me': () => ({ body: {} }),
      })
    try {
      const disconnecting = browser.fetch(new URL('/auth/accounts/revocable', bff.url), { method: 'DELETE', headers: CSRF })
      await revocationAsked
      // Another tab calls the API meanwhile: the spent token (granted for a millisecond) is refreshed first.
      const call = await browser.fetch(new URL('/api/revocable/me', bff.url), { headers: CSRF })
      release()
      expect((await disconnecting).status).toBe(204)
      const issued = ['at-1', 'rt-1', ...(provider.at('/token').length > 1 ? ['at-2', 'rt-2'] : [])]
      const revoked = provider.at('/revoke').map((request) => new URLSearchParams(request.body).get('token'))
      expect(revoked.sort()).toEqual(issued.sort())
      expect(call.status).toBe(403)
      expect(await call.json()).toEqual({ error: 'account_not_connected', message: expect.any(String) })
      expect(Number((await bff.store.db('accounts').count({ n: '*' }).first())?.n)).toBe(0)
    } finally {
      release()
      await close()
    }
  })
})

describe.each(databases)('a disconnect while a call with a token that cannot be refreshed is out on $kind', (database) => {
  it('answers the call account_not_connected, not reauth_required, when the provider refuses the token the disconnect revoked', async () => {
    let release = () => {}
    let asked = () => {}
    const callAsked = new Promise<void>((resolve) => (asked = resolve))
    const revoked = new Set<string>()
    const { bff, provider, browser, close } = await signedInAtRevocable(database, {
        // No refresh token: a refused token is the end of the account's login.
        '/token': () => ({ body: { access_token: 'at-1', token_type: 'Bearer' } }),
        '/me': () => ({ body: { id: 'alice' } }),
        '/revoke': (request) => (revoked.add(new URLSearchParams(request.body).get('token') ?? ''), { body: {} }),
        // Held until the disconnect is done, then judged with the token as it is by then.
        '/api/me': async (request) => {
          asked()
          await new Promise<void>((resolve) => (release = resolve))
          return revoked.has((request.headers.authorization ?? '').replace(/^Bearer /, '')) ? { status: 401, body: { error: 'invalid_token' } } : { body: {} }
        },
      })
    try {
      const call = browser.fetch(new URL('/api/revocable/me', bff.url), { headers: CSRF })
      await callAsked
      expect((await browser.fetch(new URL('/auth/accounts/revocable', bff.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
      expect([...revoked]).toEqual(['at-1'])
      release()
      const answer = await call
      // As the proxy answers an account that is gone: the SPA offers to connect it, not to reconnect it.
      expect({ status: answer.status, body: await answer.json() }).toEqual({ status: 403, body: { error: 'account_not_connected', message: expect.any(String) } })
      expect(bff.logs.filter((line) => line.includes('needs a new login'))).toEqual([])
    } finally {
      release()
      await close()
    }
  })
})

describe.each(databases)('a disconnect whose provider does not answer the revocation on $kind', (database) => {
  it('answers 204 without waiting out the provider (two revocations of 30 s each, past a balancer\'s 60 s), goes on revoking both tokens after the answer, and is waited for by close()', async () => {
    let release = () => {}
    const revocationHeld = new Promise<void>((resolve) => (release = resolve))
    const { bff, provider, browser, closeBff, close } = await signedInAtRevocable(database, {
        '/token': () => ({ body: { access_token: 'at-1', token_type: 'Bearer', expires_in: 3600, refresh_token: 'rt-1' } }),
        '/me': () => ({ body: { id: 'alice' } }),
        // Held until the test lets it go: a provider in trouble, which the disconnect must not wait out.
        '/revoke': async () => {
          await revocationHeld
          return { body: {} }
        },
      })
    try {
      const answer = await browser.fetch(new URL('/auth/accounts/revocable', bff.url), { method: 'DELETE', headers: CSRF })
      expect(answer.status).toBe(204)
      // Answered while the provider still holds the first revocation; the account is gone all the same.
      expect(provider.at('/revoke').map((request) => new URLSearchParams(request.body).get('token'))).toEqual(['rt-1'])
      expect(Number((await bff.store.db('accounts').count({ n: '*' }).first())?.n)).toBe(0)
      expect(await session(browser, bff.url)).toMatchObject({ authenticated: true, accounts: [] })
      release()
      // A BFF closing waits for the revocation still out, the access token's included.
      await closeBff()
      expect(provider.at('/revoke').map((request) => new URLSearchParams(request.body).get('token'))).toEqual(['rt-1', 'at-1'])
      expect(bff.errors).toEqual([])
    } finally {
      release()
      await close()
    }
  }, 60_000)
})

describe.each(databases)('a refresh that outlasts its lease, with two instances on one $kind database', (database) => {
  it("is not sent again by the other instance with the refresh token it spent: the provider's key set answering slowly after the grant does not cost the account its login, and the other instance's call is served with the new tokens", async () => {
    const { url, drop } = await database.create()
    // A call waits a second for its own instance's refresh (within a lease of 1.5 s), and ten for another's.
    const settings = { keys: generateKey(), refresh: { leaseMs: 1500, waitMs: 10_000 } }
    const a = await startBff(url, settings)
    const b = await startBff(url, settings)
    let keysSlow = false
    let keysAsked = () => {}
    let releaseKeys = () => {}
    const keysStalled = new Promise<void>((resolve) => (keysAsked = resolve))
    const keysReleased = new Promise<void>((resolve) => (releaseKeys = resolve))
    let secondGrant = () => {}
    const secondGrantAsked = new Promise<void>((resolve) => (secondGrant = resolve))
    const provider = await startDocumentedProvider({
      discovery: {},
      answers: {
        '/token': rotatingTokenEndpoint({ again: secondGrant }),
        '/jwks': async (_request, p) => {
          if (keysSlow) {
            keysAsked()
            await keysReleased
          }
          return { body: p.keySet }
        },
        '/api/me': () => ({ body: { ok: true } }),
      },
    })
    try {
      await a.addProvider('op', { issuer: provider.url, apiBaseUrl: `${provider.url}/api`, clientId: 'client', clientSecret: 'secret' })
      const browser = new BrowserSession()
      expect(authError(await login(browser, a.url, 'op'))).toBeNull()
      // The provider's keys are fetched again for the refreshed ID token, and answer slowly.
      keysSlow = true
      forgetDiscovery()
      // The token is spent (granted for a millisecond): A refreshes, and is granted new tokens.
      const onA = browser.fetch(new URL('/api/op/me', a.url), { headers: CSRF })
      await keysStalled
      // B needs the account's token while A still checks the refreshed ID token.
      const onB = browser.fetch(new URL('/api/op/me', b.url), { headers: CSRF })
      // A's call stops waiting, and A's refresh goes on past the lease it took, renewing it.
      await Promise.race([secondGrantAsked, onA])
      await Promise.race([secondGrantAsked, new Promise((resolve) => setTimeout(resolve, 1000))])
      releaseKeys()
      const [answerA, answerB] = await Promise.all([onA, onB])
      expect(provider.at('/token').filter((request) => new URLSearchParams(request.body).get('grant_type') === 'refresh_token')).toHaveLength(1)
      const account = (await a.store.db('accounts').first('id'))!
      const stored = await a.store.accounts.get(account.id)
      expect({ status: stored?.status, accessToken: stored?.accessToken, refreshToken: stored?.refreshToken }).toEqual({ status: 'active', accessToken: 'at-2', refreshToken: 'rt-2' })
      // A said the provider was too slow, not reauth_required; B found A's new tokens once stored.
      expect(answerA.status).toBe(504)
      expect(await answerA.json()).toEqual({ error: 'upstream_timeout', message: expect.any(String) })
      expect(answerB.status).toBe(200)
    } finally {
      releaseKeys()
      await provider.close()
      await a.close()
      await b.close()
      await drop()
    }
  })
})

describe.each(databases)('a returning login while a refresh is out on $kind', (database) => {
  it("keeps the account usable when the provider then refuses the refresh: the call goes on with the login's token, and the lease is freed", async () => {
    const { url, drop } = await database.create()
    const bff = await startBff(url)
    let release = () => {}
    let asked = () => {}
    const refreshAsked = new Promise<void>((resolve) => (asked = resolve))
    let logins = 0
    const provider = await startDocumentedProvider({
      answers: {
        '/token': async (request) => {
          if (new URLSearchParams(request.body).get('grant_type') !== 'refresh_token') {
            logins++
            // The returning login brings no refresh token (Google, unless asked for consent).
            return { body: logins === 1 ? { access_token: 'at-1', token_type: 'Bearer', expires_in: 0.001, refresh_token: 'rt-1' } : { access_token: 'at-login', token_type: 'Bearer', expires_in: 3600 } }
          }
          asked()
          await new Promise<void>((resolve) => (release = resolve))
          // The refresh token was revoked meanwhile.
          return { status: 400, body: { error: 'invalid_grant' } }
        },
        '/me': () => ({ body: { id: 'alice' } }),
        '/api/me': (request) => (request.headers.authorization === 'Bearer at-login' ? { body: { ok: true } } : { status: 401, body: { error: 'invalid_token' } }),
      },
    })
    try {
      await bff.addProvider('google-like', { authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me`, apiBaseUrl: `${provider.url}/api`, clientId: 'client', clientSecret: 'secret' })
      const browser = new BrowserSession()
      expect(authError(await login(browser, bff.url, 'google-like'))).toBeNull()
      // The token is spent (granted for a millisecond): the call refreshes first, and the user signs in again meanwhile.
      const call = browser.fetch(new URL('/api/google-like/me', bff.url), { headers: CSRF })
      await refreshAsked
      expect(authError(await login(browser, bff.url, 'google-like'))).toBeNull()
      release()
      const answer = await call
      expect({ status: answer.status, body: await answer.json() }).toEqual({ status: 200, body: { ok: true } })
      const account = (await bff.store.db('accounts').first('id', 'refresh_lease_owner', 'refresh_lease_until'))!
      expect(account).toEqual({ id: account.id, refresh_lease_owner: null, refresh_lease_until: null })
      expect(await bff.store.accounts.get(account.id)).toEqual(expect.objectContaining({ status: 'active', accessToken: 'at-login', refreshToken: 'rt-1' }))
      const info = await session(browser, bff.url)
      expect(info.authenticated && info.accounts.map((a) => a.status)).toEqual(['active'])
    } finally {
      release()
      await provider.close()
      await bff.close()
      await drop()
    }
  })
})

describe.each(databases)('a returning login with a new grant while a refresh its call stopped waiting for is out on $kind', (database) => {
  it("keeps the new grant's refreshed tokens: the old grant's refresh, answered while this instance refreshes the new one, is not stored over them", async () => {
    const { url, drop } = await database.create()
    // A call waits a second for its own instance's refresh (within a lease of 1.5 s).
    const bff = await startBff(url, { refresh: { leaseMs: 1500, waitMs: 10_000 } })
    const held = new Map<string, () => void>()
    const asked = new Set<string>()
    const answerRefresh = (refreshToken: string) => held.get(refreshToken)?.()
    let logins = 0
    const provider = await startDocumentedProvider({
      answers: {
        '/token': async (request) => {
          const grant = new URLSearchParams(request.body)
          if (grant.get('grant_type') !== 'refresh_token') {
            logins++
            // Each login a new grant, its access token spent at once (granted for a millisecond).
            return { body: { access_token: `at-login-${logins}`, token_type: 'Bearer', expires_in: 0.001, refresh_token: `rt-login-${logins}` } }
          }
          const used = grant.get('refresh_token') ?? ''
          asked.add(used)
          await new Promise<void>((resolve) => held.set(used, resolve))
          return { body: { access_token: `at-from-${used}`, token_type: 'Bearer', expires_in: 3600, refresh_token: `rt-from-${used}` } }
        },
        '/me': () => ({ body: { id: 'alice' } }),
        '/api/me': () => ({ body: { ok: true } }),
      },
    })
    const until = async (done: () => boolean) => {
      for (let waited = 0; !done() && waited < 5_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20))
      expect(done()).toBe(true)
    }
    try {
      await bff.addProvider('rotating', { authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me`, apiBaseUrl: `${provider.url}/api`, clientId: 'client', clientSecret: 'secret' })
      const browser = new BrowserSession()
      const callApi = () => browser.fetch(new URL('/api/rotating/me', bff.url), { headers: CSRF })
      expect(authError(await login(browser, bff.url, 'rotating'))).toBeNull()
      // The first grant's refresh outlasts its call's wait, and goes on.
      const first = await callApi()
      expect(first.status).toBe(504)
      // A new grant: its refresh token frees the old refresh's lease, and its spent access token is refreshed on this same instance.
      expect(authError(await login(browser, bff.url, 'rotating'))).toBeNull()
      const second = callApi()
      await until(() => asked.has('rt-login-2'))
      answerRefresh('rt-login-1')
      await new Promise((resolve) => setTimeout(resolve, 200))
      answerRefresh('rt-login-2')
      expect((await second).status).toBe(200)
      const account = (await bff.store.db('accounts').first('id'))!
      // Its line names the request that sent it, long answered.
      await until(() => bff.logs.some((line) => line.startsWith(`account ${account.id} req=${first.headers.get('x-request-id')}: a refresh its call stopped waiting for`)))
      await cacheLapse()
      const stored = await bff.store.accounts.get(account.id)
      expect({ accessToken: stored?.accessToken, refreshToken: stored?.refreshToken }).toEqual({ accessToken: 'at-from-rt-login-2', refreshToken: 'rt-from-rt-login-2' })
    } finally {
      for (const answer of held.values()) answer()
      await provider.close()
      await bff.close()
      await drop()
    }
  })
})

describe.each(databases)('a token endpoint that answers a refresh after its call stopped waiting on $kind', (database) => {
  /**
   * A BFF whose calls wait a second for a refresh (within a lease of 1.5 s), signed in at a provider
   * whose refresh tokens rotate, which spends one as it takes the request and answers only when told.
   */
  async function slowRefresh() {
    const { url, drop } = await database.create()
    const keys = generateKey()
    const bff = await startBff(url, { keys, refresh: { leaseMs: 1500, waitMs: 10_000 } })
    let answerRefresh = () => {}
    const held = new Promise<void>((resolve) => (answerRefresh = resolve))
    const provider = await startDocumentedProvider({
      discovery: {},
      answers: {
        '/token': rotatingTokenEndpoint({ held }),
        '/api/me': () => ({ body: { name: 'Alice' } }),
      },
    })
    await bff.addProvider('op', { issuer: provider.url, apiBaseUrl: `${provider.url}/api`, clientId: 'client', clientSecret: 'secret' })
    const browser = new BrowserSession()
    expect(authError(await login(browser, bff.url, 'op'))).toBeNull()
    const account = await accountOf(bff, browser, 'op')
    const refreshGrants = () => provider.at('/token').filter((request) => new URLSearchParams(request.body).get('grant_type') === 'refresh_token')
    const callApi = () => browser.fetch(new URL('/api/op/me', bff.url), { headers: CSRF })
    let bffClosed: Promise<void> | undefined
    const closeBff = () => (bffClosed ??= bff.close())
    const close = async () => {
      answerRefresh()
      await provider.close()
      await closeBff()
      await drop()
    }
    return { url, keys, bff, provider, account, answerRefresh, refreshGrants, callApi, closeBff, close }
  }

  it('keeps the rotated tokens it answers with: the call answers upstream_timeout, and the next one, waiting on the lease, is served with them without a second grant', async () => {
    const { bff, provider, account, answerRefresh, refreshGrants, callApi, close } = await slowRefresh()
    try {
      const first = await callApi()
      expect(first.status).toBe(504)
      expect(await first.json()).toEqual({ error: 'upstream_timeout', message: expect.any(String) })
      // The next call comes while the provider still holds the refresh, and waits for it on the lease.
      const second = callApi()
      await new Promise((resolve) => setTimeout(resolve, 200))
      answerRefresh()
      const answer = await second
      expect(answer.status).toBe(200)
      expect(await answer.json()).toEqual({ name: 'Alice' })
      expect(provider.at('/api/me').map((request) => request.headers.authorization)).toEqual(['Bearer at-2'])
      expect(refreshGrants()).toHaveLength(1)
      const stored = await bff.store.accounts.get(account.id)
      expect({ status: stored?.status, accessToken: stored?.accessToken, refreshToken: stored?.refreshToken }).toEqual({ status: 'active', accessToken: 'at-2', refreshToken: 'rt-2' })
      // Named after the request that sent it, the one that stopped waiting, not the one it served.
      expect(bff.logs).toContain(`account ${account.id} req=${first.headers.get('x-request-id')}: a refresh its call stopped waiting for has ended`)
    } finally {
      await close()
    }
  })

  it('stores them before close() lets the database go when the BFF stops while the call still waits for them (a deploy whose drain ran out)', async () => {
    const { url, keys, account, answerRefresh, refreshGrants, callApi, closeBff, close } = await slowRefresh()
    try {
      const call = callApi().catch(() => null)
      for (let waited = 0; refreshGrants().length === 0 && waited < 5_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20))
      expect(refreshGrants()).toHaveLength(1)
      // Within the second the call waits: nobody has stopped waiting for this refresh yet.
      const closing = closeBff()
      await new Promise((resolve) => setTimeout(resolve, 200))
      answerRefresh()
      await closing
      await call
      const store = openStore({ databaseUrl: url, keys: parseKeys(keys) })
      try {
        const stored = await store.accounts.get(account.id)
        expect({ accessToken: stored?.accessToken, refreshToken: stored?.refreshToken }).toEqual({ accessToken: 'at-2', refreshToken: 'rt-2' })
      } finally {
        await store.close()
      }
    } finally {
      await close()
    }
  })

  it('stores them before close() lets the database go, when the BFF stops meanwhile (a deploy)', async () => {
    const { url, keys, account, answerRefresh, refreshGrants, callApi, closeBff, close } = await slowRefresh()
    try {
      expect((await callApi()).status).toBe(504)
      const closing = closeBff()
      await new Promise((resolve) => setTimeout(resolve, 200))
      answerRefresh()
      await closing
      expect(refreshGrants()).toHaveLength(1)
      const store = openStore({ databaseUrl: url, keys: parseKeys(keys) })
      try {
        const stored = await store.accounts.get(account.id)
        expect({ accessToken: stored?.accessToken, refreshToken: stored?.refreshToken, lease: (await store.db('accounts').where({ id: account.id }).first('refresh_lease_owner'))?.refresh_lease_owner }).toEqual({ accessToken: 'at-2', refreshToken: 'rt-2', lease: null })
      } finally {
        await store.close()
      }
    } finally {
      await close()
    }
  })
})
