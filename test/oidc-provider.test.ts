import { createHash, randomBytes } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { createRemoteJWKSet, jwtVerify } from 'jose'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { startOidcSandbox, type OidcSandboxClient, type RunningOidcSandbox } from './support/oidc-sandbox.ts'

const BASIC: OidcSandboxClient = {
  clientId: 'client-basic',
  clientSecret: 'secret-basic-0123456789abcdef',
  redirectUris: ['http://127.0.0.1:1/callback/basic'],
}
const POST: OidcSandboxClient = {
  clientId: 'client-post',
  clientSecret: 'secret-post-0123456789abcdef',
  redirectUris: ['http://127.0.0.1:1/callback/post'],
  tokenEndpointAuthMethod: 'client_secret_post',
}
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' }

interface Tokens {
  access_token: string
  refresh_token: string
  id_token: string
  token_type: string
  expires_in: number
  scope: string
}

/** Cookies by name and path, the way a browser keeps them for one host. */
class CookieJar {
  private readonly cookies = new Map<string, { name: string; value: string; path: string }>()

  header(url: URL): string {
    return [...this.cookies.values()]
      .filter((c) => url.pathname.startsWith(c.path))
      .map((c) => `${c.name}=${c.value}`)
      .join('; ')
  }

  store(response: Response): void {
    for (const header of response.headers.getSetCookie()) {
      const [pair, ...attributes] = header.split(';').map((part) => part.trim())
      const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)]
      const path = attributes.find((a) => /^path=/i.test(a))?.slice(5) ?? '/'
      const gone = attributes.some((a) => /^expires=/i.test(a) && new Date(a.slice(8)).getTime() <= Date.now())
      if (gone) this.cookies.delete(`${name} ${path}`)
      else this.cookies.set(`${name} ${path}`, { name, value, path })
    }
  }

  async fetch(url: URL, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers)
    const cookie = this.header(url)
    if (cookie) headers.set('Cookie', cookie)
    const response = await fetch(url, { ...init, headers, redirect: 'manual' })
    this.store(response)
    return response
  }
}

interface Hop {
  method: string
  path: string
  status: number
}

/** Follows redirects by hand until one leaves for the client's redirect_uri, or a page answers. */
async function follow(jar: CookieJar, start: URL, redirectUri: string, init?: RequestInit) {
  const hops: Hop[] = []
  let url = start
  let request = init
  for (let i = 0; i < 10; i++) {
    const response = await jar.fetch(url, request)
    hops.push({ method: request?.method ?? 'GET', path: url.pathname, status: response.status })
    const location = response.headers.get('location')
    if (!location) return { hops, response, url }
    await response.body?.cancel()
    const next = new URL(location, url)
    if (next.href.startsWith(redirectUri)) return { hops, response, url: next }
    url = next
    request = undefined
  }
  throw new Error('too many redirects')
}

function pkcePair() {
  const verifier = randomBytes(32).toString('base64url')
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') }
}

function authorizationRequest(idp: RunningOidcSandbox, client: OidcSandboxClient, extra: Record<string, string | undefined> = {}) {
  const { verifier, challenge } = pkcePair()
  const state = randomBytes(16).toString('base64url')
  const nonce = randomBytes(16).toString('base64url')
  const params: Record<string, string | undefined> = {
    client_id: client.clientId,
    redirect_uri: client.redirectUris[0],
    response_type: 'code',
    scope: 'openid profile email',
    state,
    nonce,
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...extra,
  }
  const url = new URL('/auth', idp.url)
  for (const [key, value] of Object.entries(params)) if (value !== undefined) url.searchParams.set(key, value)
  return { url, state, nonce, verifier }
}

/** RFC 6749 §2.3.1: both parts form-encoded before the Basic credentials are built. */
function basicAuth(client: OidcSandboxClient): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}`
}

function tokenRequest(idp: RunningOidcSandbox, client: OidcSandboxClient, params: Record<string, string>): Promise<Response> {
  const body = new URLSearchParams(params)
  const headers: Record<string, string> = { ...FORM }
  if (client.tokenEndpointAuthMethod === 'client_secret_post') {
    body.set('client_id', client.clientId)
    body.set('client_secret', client.clientSecret)
  } else {
    headers.Authorization = basicAuth(client)
  }
  return fetch(new URL('/token', idp.url), { method: 'POST', headers, body })
}

async function authorize(idp: RunningOidcSandbox, client: OidcSandboxClient, jar = new CookieJar()) {
  const request = authorizationRequest(idp, client)
  const { url, hops } = await follow(jar, request.url, client.redirectUris[0])
  return { ...request, callback: url, hops, jar }
}

async function signIn(idp: RunningOidcSandbox, client: OidcSandboxClient): Promise<Tokens & { nonce: string }> {
  const { callback, verifier, nonce } = await authorize(idp, client)
  const code = callback.searchParams.get('code') ?? ''
  const response = await tokenRequest(idp, client, { grant_type: 'authorization_code', code, redirect_uri: client.redirectUris[0], code_verifier: verifier })
  expect(response.status).toBe(200)
  return { ...((await response.json()) as Tokens), nonce }
}

/** The whole page flow with a fresh browser: login form, consent, code exchange; returns the access token. */
async function signInThroughPages(idp: RunningOidcSandbox, username: string): Promise<string> {
  const jar = new CookieJar()
  const request = authorizationRequest(idp, BASIC)
  const login = await follow(jar, request.url, BASIC.redirectUris[0])
  const body = new URLSearchParams({ username })
  const consent = await follow(jar, new URL(`${login.url.pathname}/login`, idp.url), BASIC.redirectUris[0], { method: 'POST', headers: FORM, body })
  const done = await follow(jar, new URL(`${consent.url.pathname}/confirm`, idp.url), BASIC.redirectUris[0], { method: 'POST', headers: FORM, body: '' })
  const response = await tokenRequest(idp, BASIC, {
    grant_type: 'authorization_code',
    code: done.url.searchParams.get('code') ?? '',
    redirect_uri: BASIC.redirectUris[0],
    code_verifier: request.verifier,
  })
  return ((await response.json()) as Tokens).access_token
}

function refresh(idp: RunningOidcSandbox, client: OidcSandboxClient, refreshToken: string): Promise<Response> {
  return tokenRequest(idp, client, { grant_type: 'refresh_token', refresh_token: refreshToken })
}

function api(idp: RunningOidcSandbox, path: string, accessToken?: string, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers)
  if (accessToken) headers.set('Authorization', `Bearer ${accessToken}`)
  return fetch(`${idp.apiBaseUrl}${path}`, { ...init, headers })
}

describe('the OpenID Connect sandbox', () => {
  let idp: RunningOidcSandbox
  let shortLived: RunningOidcSandbox
  let withPages: RunningOidcSandbox

  beforeAll(async () => {
    idp = await startOidcSandbox({ clients: [BASIC, POST], autoApprove: 'alice' })
    shortLived = await startOidcSandbox({ clients: [BASIC], autoApprove: 'alice', accessTokenTtl: 2 })
    withPages = await startOidcSandbox({ clients: [BASIC] })
  })

  afterAll(async () => {
    await Promise.all([idp?.close(), shortLived?.close(), withPages?.close()])
  })

  describe('discovery', () => {
    it('publishes a code-only, S256-only provider with iss in authorization responses and revocation', async () => {
      const response = await fetch(`${idp.issuer}/.well-known/openid-configuration`)
      expect(response.status).toBe(200)
      const metadata = (await response.json()) as Record<string, unknown>
      expect(metadata).toMatchObject({
        issuer: idp.issuer,
        authorization_endpoint: `${idp.url}/auth`,
        token_endpoint: `${idp.url}/token`,
        jwks_uri: `${idp.url}/jwks`,
        userinfo_endpoint: `${idp.url}/me`,
        revocation_endpoint: `${idp.url}/token/revocation`,
        introspection_endpoint: `${idp.url}/token/introspection`,
        response_types_supported: ['code'],
        code_challenge_methods_supported: ['S256'],
        authorization_response_iss_parameter_supported: true,
        token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
        id_token_signing_alg_values_supported: ['RS256'],
      })
      expect(metadata.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'offline_access']))
      expect(metadata.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token']))
      expect(metadata.claims_supported).toEqual(expect.arrayContaining(['sub', 'name', 'email']))
    })

    it('serves only public signing keys', async () => {
      const { keys } = (await (await fetch(`${idp.url}/jwks`)).json()) as { keys: Record<string, string>[] }
      expect(keys).toHaveLength(1)
      expect(keys[0]).toMatchObject({ kty: 'RSA', alg: 'RS256', use: 'sig', kid: expect.any(String) })
      expect(keys[0].d).toBeUndefined()
    })
  })

  describe('authorization code flow with autoApprove', () => {
    it('redirects to the redirect_uri with code, state and iss after signing in and consenting without a page', async () => {
      const { callback, state, hops } = await authorize(idp, BASIC)
      expect(hops.map((hop) => `${hop.path.replace(/\/[\w-]{20,}$/, '/:uid')} ${hop.status}`)).toEqual([
        '/auth 303',
        '/interaction/:uid 303',
        '/auth/:uid 303',
        '/interaction/:uid 303',
        '/auth/:uid 303',
      ])
      expect(callback.origin + callback.pathname).toBe(BASIC.redirectUris[0])
      expect(callback.searchParams.get('code')).toMatch(/^[\w-]{43}$/)
      expect(callback.searchParams.get('state')).toBe(state)
      expect(callback.searchParams.get('iss')).toBe(idp.issuer)
    })

    it.each([
      ['client_secret_basic', BASIC],
      ['client_secret_post', POST],
    ])('exchanges the code and verifier for access, refresh and id tokens with %s', async (_method, client) => {
      const before = idp.stats.authorizationCodeGrants
      const tokens = await signIn(idp, client)
      expect(tokens).toMatchObject({ token_type: 'Bearer', expires_in: 3600, scope: 'openid profile email' })
      expect(tokens.access_token).toBeTruthy()
      expect(tokens.refresh_token).toBeTruthy()
      expect(idp.stats.authorizationCodeGrants - before).toBe(1)

      const jwks = createRemoteJWKSet(new URL(`${idp.url}/jwks`))
      const { payload, protectedHeader } = await jwtVerify(tokens.id_token, jwks, { issuer: idp.issuer, audience: client.clientId })
      expect(protectedHeader.alg).toBe('RS256')
      expect(payload).toMatchObject({ sub: 'alice', nonce: tokens.nonce })

      const me = await api(idp, '/me', tokens.access_token)
      expect(me.status).toBe(200)
      expect(await me.json()).toEqual({ sub: 'alice', name: 'Alice Liddell', email: 'alice@sandbox.example' })
    })

    it('answers the standard userinfo endpoint with the profile and email claims', async () => {
      const tokens = await signIn(idp, BASIC)
      const response = await fetch(`${idp.url}/me`, { headers: { Authorization: `Bearer ${tokens.access_token}` } })
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ sub: 'alice', name: 'Alice Liddell', email: 'alice@sandbox.example' })
    })

    it('refuses an authorization request without PKCE, back at the redirect_uri with invalid_request', async () => {
      const { url, state } = authorizationRequest(idp, BASIC, { code_challenge: undefined, code_challenge_method: undefined })
      const response = await fetch(url, { redirect: 'manual' })
      expect(response.status).toBe(303)
      const location = new URL(response.headers.get('location') ?? '')
      expect(location.origin + location.pathname).toBe(BASIC.redirectUris[0])
      expect(location.searchParams.get('error')).toBe('invalid_request')
      expect(location.searchParams.get('error_description')).toMatch(/PKCE/)
      expect(location.searchParams.get('state')).toBe(state)
      expect(location.searchParams.get('iss')).toBe(idp.issuer)
      expect(location.searchParams.get('code')).toBeNull()
    })

    it('refuses the plain PKCE method', async () => {
      const { url } = authorizationRequest(idp, BASIC, { code_challenge: 'a'.repeat(43), code_challenge_method: 'plain' })
      const response = await fetch(url, { redirect: 'manual' })
      expect(response.status).toBe(303)
      expect(new URL(response.headers.get('location') ?? '').searchParams.get('error')).toBe('invalid_request')
    })

    it('refuses a code exchanged with the wrong verifier, or without one', async () => {
      for (const verifier of [pkcePair().verifier, undefined]) {
        const { callback } = await authorize(idp, BASIC)
        const params: Record<string, string> = { grant_type: 'authorization_code', code: callback.searchParams.get('code') ?? '', redirect_uri: BASIC.redirectUris[0] }
        if (verifier) params.code_verifier = verifier
        const response = await tokenRequest(idp, BASIC, params)
        expect(response.status).toBe(400)
        expect(await response.json()).toMatchObject({ error: 'invalid_grant' })
      }
    })
  })

  describe('refresh tokens', () => {
    it('rotates the refresh token, refuses the spent one with invalid_grant, and counts both', async () => {
      const tokens = await signIn(idp, BASIC)
      const grants = idp.stats.refreshGrants
      const failures = idp.stats.refreshFailures

      const first = await refresh(idp, BASIC, tokens.refresh_token)
      expect(first.status).toBe(200)
      const rotated = (await first.json()) as Tokens
      expect(rotated.refresh_token).toBeTruthy()
      expect(rotated.refresh_token).not.toBe(tokens.refresh_token)
      expect(rotated.access_token).not.toBe(tokens.access_token)
      expect(rotated.id_token).toBeTruthy()
      expect(idp.stats.refreshGrants - grants).toBe(1)

      const replay = await refresh(idp, BASIC, tokens.refresh_token)
      expect(replay.status).toBe(400)
      expect(await replay.json()).toMatchObject({ error: 'invalid_grant' })
      expect(idp.stats.refreshFailures - failures).toBe(1)
      expect(idp.stats.refreshGrants - grants).toBe(1)

      // OAuth 2.1 §4.3.1: a replayed refresh token may be stolen, so the whole grant goes with it.
      const afterReplay = await refresh(idp, BASIC, rotated.refresh_token)
      expect(afterReplay.status).toBe(400)
      expect(await afterReplay.json()).toMatchObject({ error: 'invalid_grant' })
      expect((await api(idp, '/me', rotated.access_token)).status).toBe(401)
    })

    it('refuses a refresh token presented by another client', async () => {
      const tokens = await signIn(idp, BASIC)
      const response = await refresh(idp, POST, tokens.refresh_token)
      expect(response.status).toBe(400)
      expect(await response.json()).toMatchObject({ error: 'invalid_grant' })
    })
  })

  describe('access token lifetime', () => {
    it('answers 401 invalid_token once the access token has expired, and a refresh gives a working one', async () => {
      const tokens = await signIn(shortLived, BASIC)
      expect(tokens.expires_in).toBe(2)
      expect((await api(shortLived, '/me', tokens.access_token)).status).toBe(200)
      await new Promise((resolve) => setTimeout(resolve, 2100))

      const expired = await api(shortLived, '/me', tokens.access_token)
      expect(expired.status).toBe(401)
      expect(expired.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
      expect(await expired.json()).toEqual({ error: 'invalid_token' })

      const refreshed = await refresh(shortLived, BASIC, tokens.refresh_token)
      expect(refreshed.status).toBe(200)
      const { access_token } = (await refreshed.json()) as Tokens
      expect((await api(shortLived, '/me', access_token)).status).toBe(200)
    })
  })

  describe('revocation', () => {
    it('revokeGrantsFor makes both the API and the refresh fail', async () => {
      const tokens = await signIn(idp, BASIC)
      const other = await signIn(idp, POST)
      const failures = idp.stats.refreshFailures
      await idp.revokeGrantsFor('alice')

      const me = await api(idp, '/me', tokens.access_token)
      expect(me.status).toBe(401)
      expect(me.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
      const response = await refresh(idp, BASIC, tokens.refresh_token)
      expect(response.status).toBe(400)
      expect(await response.json()).toMatchObject({ error: 'invalid_grant' })
      expect(idp.stats.refreshFailures - failures).toBe(1)
      expect((await api(idp, '/me', other.access_token)).status).toBe(401)
    })

    it('lets the user sign in again after revokeGrantsFor, with a fresh consent', async () => {
      const jar = new CookieJar()
      await authorize(idp, BASIC, jar)
      await idp.revokeGrantsFor('alice')
      const again = await authorize(idp, BASIC, jar)
      // Still signed in at the provider, so only the consent step runs again.
      expect(again.hops.map((hop) => hop.status)).toEqual([303, 303, 303])
      const response = await tokenRequest(idp, BASIC, {
        grant_type: 'authorization_code',
        code: again.callback.searchParams.get('code') ?? '',
        redirect_uri: BASIC.redirectUris[0],
        code_verifier: again.verifier,
      })
      expect(response.status).toBe(200)
      const { access_token } = (await response.json()) as Tokens
      expect((await api(idp, '/me', access_token)).status).toBe(200)
    })

    it('revokes a refresh token and its grant at the revocation endpoint (RFC 7009)', async () => {
      const tokens = await signIn(idp, BASIC)
      const before = idp.stats.revocations
      const response = await fetch(`${idp.url}/token/revocation`, {
        method: 'POST',
        headers: { ...FORM, Authorization: basicAuth(BASIC) },
        body: new URLSearchParams({ token: tokens.refresh_token, token_type_hint: 'refresh_token' }),
      })
      expect(response.status).toBe(200)
      expect(idp.stats.revocations - before).toBe(1)
      expect(await idp.provider.RefreshToken.find(tokens.refresh_token)).toBeUndefined()
      expect((await refresh(idp, BASIC, tokens.refresh_token)).status).toBe(400)
      expect((await api(idp, '/me', tokens.access_token)).status).toBe(401)
    })

    it('revokes every token of the grant when the client revokes its access token', async () => {
      const tokens = await signIn(idp, POST)
      const response = await fetch(`${idp.url}/token/revocation`, {
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({ token: tokens.access_token, client_id: POST.clientId, client_secret: POST.clientSecret }),
      })
      expect(response.status).toBe(200)
      expect((await api(idp, '/me', tokens.access_token)).status).toBe(401)
      // oidc-provider keeps the grant but revokes every token issued from it, refresh tokens included.
      const again = await refresh(idp, POST, tokens.refresh_token)
      expect(again.status).toBe(400)
      expect(await again.json()).toMatchObject({ error: 'invalid_grant' })
    })

    it('accepts either secret method from a client registered for one, as oidc-provider does', async () => {
      const { callback, verifier } = await authorize(idp, BASIC)
      const response = await tokenRequest(idp, { ...BASIC, tokenEndpointAuthMethod: 'client_secret_post' }, {
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code') ?? '',
        redirect_uri: BASIC.redirectUris[0],
        code_verifier: verifier,
      })
      expect(response.status).toBe(200)
    })

    it('refuses a wrong client secret with invalid_client', async () => {
      const { callback, verifier } = await authorize(idp, BASIC)
      const response = await tokenRequest(idp, { ...BASIC, clientSecret: 'wrong' }, {
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code') ?? '',
        redirect_uri: BASIC.redirectUris[0],
        code_verifier: verifier,
      })
      expect(response.status).toBe(401)
      expect(await response.json()).toMatchObject({ error: 'invalid_client' })
    })

    it('refuses to revoke another client’s token', async () => {
      const tokens = await signIn(idp, BASIC)
      const response = await fetch(`${idp.url}/token/revocation`, {
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({ token: tokens.refresh_token, client_id: POST.clientId, client_secret: POST.clientSecret }),
      })
      expect(response.status).toBe(400)
      expect(await response.json()).toMatchObject({ error: 'invalid_request' })
      expect((await refresh(idp, BASIC, tokens.refresh_token)).status).toBe(200)
    })
  })

  describe('sign-in and consent pages (no autoApprove)', () => {
    it('shows a login page, then a consent page, and ends at the redirect_uri with a code', async () => {
      const jar = new CookieJar()
      const request = authorizationRequest(withPages, BASIC)
      const login = await follow(jar, request.url, BASIC.redirectUris[0])
      expect(login.hops.map((hop) => hop.status)).toEqual([303, 200])
      expect(login.response.headers.get('content-type')).toMatch(/^text\/html/)
      expect(login.response.headers.get('cache-control')).toBe('no-store')
      const loginHtml = await login.response.text()
      expect(loginHtml).toContain('<label for="username">User</label>')
      expect(loginHtml).toContain('<option value="bob">')
      expect(loginHtml).toContain('<button type="submit">Sign in</button>')

      const consent = await follow(jar, new URL(`${login.url.pathname}/login`, withPages.url), BASIC.redirectUris[0], {
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({ username: 'bob' }),
      })
      expect(consent.hops.map((hop) => `${hop.method} ${hop.status}`)).toEqual(['POST 303', 'GET 303', 'GET 200'])
      const consentHtml = await consent.response.text()
      expect(consentHtml).toContain('Bob Builder')
      expect(consentHtml).toContain('<button type="submit">Allow</button>')
      expect(consentHtml).toContain('<button type="submit">Deny</button>')

      const done = await follow(jar, new URL(`${consent.url.pathname}/confirm`, withPages.url), BASIC.redirectUris[0], { method: 'POST', headers: FORM, body: '' })
      expect(done.hops.map((hop) => `${hop.method} ${hop.status}`)).toEqual(['POST 303', 'GET 303'])
      expect(done.url.origin + done.url.pathname).toBe(BASIC.redirectUris[0])
      expect(done.url.searchParams.get('state')).toBe(request.state)
      expect(done.url.searchParams.get('iss')).toBe(withPages.issuer)

      const response = await tokenRequest(withPages, BASIC, {
        grant_type: 'authorization_code',
        code: done.url.searchParams.get('code') ?? '',
        redirect_uri: BASIC.redirectUris[0],
        code_verifier: request.verifier,
      })
      expect(response.status).toBe(200)
      const { access_token } = (await response.json()) as Tokens
      expect(await (await api(withPages, '/me', access_token)).json()).toMatchObject({ sub: 'bob' })
    })

    it('sends access_denied back to the client when the user denies consent', async () => {
      const jar = new CookieJar()
      const request = authorizationRequest(withPages, BASIC)
      const login = await follow(jar, request.url, BASIC.redirectUris[0])
      const consent = await follow(jar, new URL(`${login.url.pathname}/login`, withPages.url), BASIC.redirectUris[0], {
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({ username: 'alice' }),
      })
      const denied = await follow(jar, new URL(`${consent.url.pathname}/abort`, withPages.url), BASIC.redirectUris[0], { method: 'POST', headers: FORM, body: '' })
      expect(denied.hops.map((hop) => `${hop.method} ${hop.status}`)).toEqual(['POST 303', 'GET 303'])
      expect(denied.url.searchParams.get('error')).toBe('access_denied')
      expect(denied.url.searchParams.get('state')).toBe(request.state)
      expect(denied.url.searchParams.get('iss')).toBe(withPages.issuer)
      expect(denied.url.searchParams.get('code')).toBeNull()
    })

    it('shows the login page again with 400 for an unknown user', async () => {
      const jar = new CookieJar()
      const login = await follow(jar, authorizationRequest(withPages, BASIC).url, BASIC.redirectUris[0])
      const response = await jar.fetch(new URL(`${login.url.pathname}/login`, withPages.url), {
        method: 'POST',
        headers: FORM,
        body: new URLSearchParams({ username: 'mallory' }),
      })
      expect(response.status).toBe(400)
      expect(await response.text()).toContain('role="alert"')
    })

    it('answers 400 to an interaction without its cookie', async () => {
      const jar = new CookieJar()
      const login = await follow(jar, authorizationRequest(withPages, BASIC).url, BASIC.redirectUris[0])
      const response = await fetch(login.url)
      expect(response.status).toBe(400)
      expect(response.headers.get('content-type')).toMatch(/^text\/html/)
    })
  })

  describe('the API', () => {
    let token: string

    beforeAll(async () => {
      token = (await signIn(idp, BASIC)).access_token
    })

    it('answers 401 without a token, naming no error (RFC 6750 §3.1)', async () => {
      const response = await api(idp, '/me')
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="sandbox"')
    })

    it('answers 401 invalid_token for an unknown token', async () => {
      const response = await api(idp, '/me', 'not-a-token')
      expect(response.status).toBe(401)
      expect(response.headers.get('www-authenticate')).toBe('Bearer error="invalid_token"')
    })

    it('accepts the token in the access_token query parameter, but not in both places', async () => {
      const query = await fetch(`${idp.apiBaseUrl}/me?access_token=${encodeURIComponent(token)}`)
      expect(query.status).toBe(200)
      const both = await fetch(`${idp.apiBaseUrl}/me?access_token=${encodeURIComponent(token)}`, { headers: { Authorization: `Bearer ${token}` } })
      expect(both.status).toBe(400)
      expect(await both.json()).toEqual({ error: 'invalid_request' })
    })

    it('stores notes per user and answers 201 with the new note', async () => {
      const calls = idp.stats.apiCalls
      const created = await api(idp, '/notes', token, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'buy milk' }) })
      expect(created.status).toBe(201)
      const note = (await created.json()) as { id: string; text: string; createdAt: string }
      expect(note).toEqual({ id: expect.any(String), text: 'buy milk', createdAt: expect.any(String) })

      const listed = await api(idp, '/notes', token)
      expect(listed.status).toBe(200)
      expect(((await listed.json()) as { notes: unknown[] }).notes).toContainEqual(note)
      expect(idp.stats.apiCalls - calls).toBe(2)
    })

    it('keeps each user’s notes apart', async () => {
      const alice = await signInThroughPages(withPages, 'alice')
      const bob = await signInThroughPages(withPages, 'bob')
      const created = await api(withPages, '/notes', alice, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ text: 'secret' }) })
      expect(created.status).toBe(201)
      expect(await (await api(withPages, '/notes', bob)).json()).toEqual({ notes: [] })
      expect(await (await api(withPages, '/notes', alice)).json()).toEqual({ notes: [await created.json()] })
    })

    it('refuses a note that is not JSON, has no text, or is too large', async () => {
      const post = (body: string, type = 'application/json') => api(idp, '/notes', token, { method: 'POST', headers: { 'Content-Type': type }, body })
      const notJson = await post('{')
      expect(notJson.status).toBe(400)
      expect(await notJson.json()).toEqual({ error: 'invalid_json' })
      const noText = await post('{"title":"x"}')
      expect(noText.status).toBe(400)
      expect(await noText.json()).toEqual({ error: 'invalid_note' })
      expect((await post('text=x', 'application/x-www-form-urlencoded')).status).toBe(415)
      const huge = await post(JSON.stringify({ text: 'x'.repeat(100_000) }))
      expect(huge.status).toBe(413)
      expect(await huge.json()).toEqual({ error: 'payload_too_large' })
    })

    it('takes a note cut off mid-body as the caller leaving: nothing stored, nothing logged as its own failure', async () => {
      const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
      try {
        const url = new URL(`${idp.apiBaseUrl}/notes`)
        const before = await (await api(idp, '/notes', token)).json()
        const cut = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Content-Length': '100' } })
        cut.on('error', () => {})
        // Cut once the first piece has left, not after a fixed 100 ms: cut before the connection is made, it
        // sends nothing at all. Whether the server already reads the body or not, the outcome is the same.
        await new Promise((resolve) => cut.write('{"text":"half', resolve))
        cut.destroy()
        await new Promise((resolve) => setTimeout(resolve, 200))
        expect(await (await api(idp, '/notes', token)).json()).toEqual(before)
        expect(logged).not.toHaveBeenCalled()
      } finally {
        logged.mockRestore()
      }
    })

    it('echoes method, query and headers, with the token redacted', async () => {
      const response = await api(idp, '/echo?a=1&a=2&b=x', token, { headers: { 'X-Custom': 'yes' } })
      expect(response.status).toBe(200)
      expect(response.headers.get('cache-control')).toBe('no-store')
      const echo = (await response.json()) as { method: string; query: Record<string, unknown>; headers: Record<string, string> }
      expect(echo.method).toBe('GET')
      expect(echo.query).toEqual({ a: ['1', '2'], b: 'x' })
      expect(echo.headers['x-custom']).toBe('yes')
      expect(echo.headers.authorization).toBe('Bearer [redacted]')
      expect(JSON.stringify(echo)).not.toContain(token)
    })

    it('answers 404 for an unknown path and 405 for a wrong method', async () => {
      const missing = await api(idp, '/nothing', token)
      expect(missing.status).toBe(404)
      expect(await missing.json()).toEqual({ error: 'not_found' })
      const wrong = await api(idp, '/me', token, { method: 'DELETE' })
      expect(wrong.status).toBe(405)
      expect(wrong.headers.get('allow')).toBe('GET, HEAD')
    })

    it('answers HEAD as GET without the body, as the proxy forwards it', async () => {
      const head = await api(idp, '/me', token, { method: 'HEAD' })
      expect(head.status).toBe(200)
      expect(head.headers.get('content-type')).toMatch(/^application\/json/)
      expect(await head.text()).toBe('')
      const unsigned = await api(idp, '/me', undefined, { method: 'HEAD' })
      expect(unsigned.status).toBe(401)
    })
  })
})
