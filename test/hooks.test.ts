import { inspect } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OAuth2Client } from '../server/clients/oauth2.ts'
import type { AllAccessHooks } from '../server/hooks.ts'
import { startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { login, session, startLogin } from './support/login.ts'

describe.each(databases)('hooks passed to createAllAccess on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let idp: RunningOidcSandbox
  const seen: Record<string, unknown[]> = { onLogin: [], errors: [], users: [], printed: [], readable: [] }
  /** What onLogin returns when a test sets it, as a host app might (say, a return address it kept). */
  let onLoginTarget: string | undefined

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url, {
      hooks: {
        getCallbackUrl: ({ provider, publicUrl }) => new URL(`/auth/callback/${provider.name}?via=hook`, publicUrl).toString(),
        getAdditionalParameters: ({ ctx }) => ({ prompt: 'login', ui_locales: String(ctx.query.lang ?? 'en'), scope: 'openid email profile', state: 'attacker-chosen', code_challenge: 'x' }),
        getErrorRedirect: ({ provider, code }) => {
          seen.errors.push({ provider: provider?.name ?? null, code })
          return `/sign-in/failed?reason=${code}`
        },
        getUserId: ({ profile }) => (typeof profile.email === 'string' ? `mail:${profile.email}` : null),
        getOrCreateUser: async ({ profile, trx, store }) => {
          const user = await store.users.create(`Member ${String(profile.name)}`, trx)
          seen.users.push(user.id)
          return user
        },
        onLogin: (args) => {
          const { isNew, user, provider, account } = args
          seen.onLogin.push({ isNew, user: user.displayName })
          // What a host app's `console.log(args)` would print, and what it can still read.
          seen.printed.push(inspect({ provider, account }, { depth: Infinity }) + JSON.stringify({ provider, account }))
          seen.readable.push([provider.clientSecret, account.accessToken.length > 0])
          return onLoginTarget ?? (isNew ? '/welcome' : undefined)
        },
      },
    })
    idp = await startOidcSandbox({ clients: [{ clientId: 'h', clientSecret: 'hook-secret-0123456789', redirectUris: [`${bff.url}/auth/callback/idp?via=hook`] }], autoApprove: 'alice' })
    await bff.addProvider('idp', { issuer: idp.issuer, clientId: 'h', clientSecret: 'hook-secret-0123456789', scope: 'openid profile email', extraAuthorizationParams: { prompt: 'consent', claims_locales: 'en' } })
  })

  afterAll(async () => {
    await bff?.close()
    await idp?.close()
    await drop?.()
  })

  it('getCallbackUrl and getAdditionalParameters shape the redirect; hook parameters override the provider\'s', async () => {
    const location = await startLogin(new BrowserSession(), `${bff.url}`, 'idp')
    expect(location.searchParams.get('redirect_uri')).toBe(`${bff.url}/auth/callback/idp?via=hook`)
    expect(location.searchParams.get('prompt')).toBe('login')
    expect(location.searchParams.get('claims_locales')).toBe('en')
    expect(location.searchParams.get('ui_locales')).toBe('en')
    // Defaults such as scope may change; what binds the flow may not.
    expect(location.searchParams.get('scope')).toBe('openid email profile')
    expect(location.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(location.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('getUserId, getOrCreateUser and onLogin decide the identity, the user and where a new user lands', async () => {
    const browser = new BrowserSession()
    const first = await login(browser, bff.url, 'idp', '/next')
    expect(first.pathname).toBe('/welcome')
    const info = await session(browser, bff.url)
    expect(info.authenticated && info.accounts[0].identifier).toBe('mail:alice@sandbox.example')
    expect(info.authenticated && info.user.displayName).toBe('Member Alice Liddell')
    const again = await login(new BrowserSession(), bff.url, 'idp', '/next')
    expect(again.pathname).toBe('/next')
    expect(seen.onLogin).toEqual([{ isNew: true, user: 'Member Alice Liddell' }, { isNew: false, user: 'Member Alice Liddell' }])
    expect(seen.users).toHaveLength(1)
  })

  it('getErrorRedirect decides where a failed login lands', async () => {
    const response = await new BrowserSession().fetch(new URL('/auth/callback/idp?state=x&code=y', bff.url))
    expect(response.status).toBe(302)
    expect(response.headers.get('location')).toBe('/sign-in/failed?reason=invalid_state')
    expect(seen.errors.at(-1)).toEqual({ provider: 'idp', code: 'invalid_state' })
  })

  it("hands onLogin a provider and an account whose client secret and tokens it can read but does not print or serialise", async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp', '/next')
    expect(seen.readable.at(-1)).toEqual(['hook-secret-0123456789', true])
    const printed = seen.printed.at(-1) as string
    expect(printed).toContain('idp')
    expect(printed).not.toContain('hook-secret-0123456789')
    const info = await session(browser, bff.url)
    const account = await bff.allAccess.accountFor(info.authenticated ? info.user.id : '', 'idp')
    expect(printed).not.toContain(account!.accessToken)
  })

  it.each(['//evil.example/phish', 'https://evil.example/phish', '/./%2F%2Fevil.example'])('keeps an onLogin target of %s on this site: the browser lands on /', async (target) => {
    onLoginTarget = target
    try {
      // Followed as a browser would, but stopped at the first address off the provider and off /auth.
      const { url: landed } = await new BrowserSession().navigate(new URL('/auth/login/idp?next=/next', bff.url), {
        stopAt: (url) => url.origin !== new URL(idp.url).origin && !(url.origin === bff.url && url.pathname.startsWith('/auth/')),
      })
      expect(landed.origin).toBe(bff.url)
      expect(landed.pathname + landed.search).toBe('/')
    } finally {
      onLoginTarget = undefined
    }
  })
})

describe.each(databases)('hooks written as methods of one object on $kind', (database) => {
  it('are called on the object they were given with, so that one reads its other members through this', async () => {
    const { url, drop } = await database.create()
    const secretsSeen: (string | null)[] = []
    // As a host app may write them: one object, a hook reading a setting and a helper beside it.
    const hooks = {
      signInPage: '/sign-in',
      failurePage(code: string) {
        return `${this.signInPage}?reason=${code}`
      },
      getErrorRedirect({ code }: { code: string }) {
        return this.failurePage(code)
      },
      // A hook handing its provider on to another: the secret stays readable through both.
      getAdditionalParameters({ provider }: Parameters<AllAccessHooks['getAdditionalParameters']>[0]) {
        return { login_hint: this.getCallbackUrl({ provider, publicUrl: new URL('https://app.example') }) }
      },
      getCallbackUrl({ provider, publicUrl }: Parameters<AllAccessHooks['getCallbackUrl']>[0]) {
        secretsSeen.push(provider.clientSecret)
        return new URL(`/auth/callback/${provider.name}`, publicUrl).toString()
      },
    }
    const bff = await startBff(url, { hooks })
    try {
      await bff.addProvider('p', { authorizationUrl: 'https://p.example/a', accessTokenUrl: 'https://p.example/t', profileUrl: 'https://p.example/me', clientId: 'c', clientSecret: 's' })
      const response = await new BrowserSession().fetch(new URL('/auth/callback/p?state=x&code=y', bff.url))
      expect([response.status, response.headers.get('location')]).toEqual([302, '/sign-in?reason=invalid_state'])
      const login = await new BrowserSession().fetch(new URL('/auth/login/p', bff.url))
      expect(new URL(login.headers.get('location')!).searchParams.get('login_hint')).toBe('https://app.example/auth/callback/p')
      expect(secretsSeen.length).toBeGreaterThan(1)
      expect(new Set(secretsSeen)).toEqual(new Set(['s']))
    } finally {
      await bff.close()
      await drop()
    }
  })

  it('uses the default of a hook given as undefined (switched off by configuration)', async () => {
    const { url, drop } = await database.create()
    const bff = await startBff(url, { hooks: { getAdditionalParameters: undefined, getCallbackUrl: undefined } })
    try {
      await bff.addProvider('p', { authorizationUrl: 'https://p.example/a', accessTokenUrl: 'https://p.example/t', profileUrl: 'https://p.example/me', clientId: 'c', clientSecret: 's' })
      const login = await new BrowserSession().fetch(new URL('/auth/login/p', bff.url))
      expect([login.status, new URL(login.headers.get('location')!).searchParams.get('redirect_uri')]).toEqual([302, `${bff.url}/auth/callback/p`])
    } finally {
      await bff.close()
      await drop()
    }
  })
})

describe('OAuth2Client.parseRawToken', () => {
  const client = new OAuth2Client({
    name: 'p', displayName: 'P', protocol: 'oauth2', requestTokenUrl: null, authorizationUrl: 'https://p.example/a', accessTokenUrl: 'https://p.example/t',
    profileUrl: 'https://p.example/me', apiBaseUrl: null, issuer: null, revocationUrl: null, scope: null, identifierPath: 'id', clientId: 'c', clientSecret: 's',
    pkce: true, tokenAuthMethod: 'client_secret_basic', tokenPlacement: 'header', extraAuthorizationParams: {},
  })

  it('reads a JSON token response with its lifetime', () => {
    const token = client.parseRawToken('{"access_token":"a1","refresh_token":"r1","expires_in":3600,"scope":"read","token_type":"bearer"}', 'application/json')
    expect(token).toEqual(expect.objectContaining({ accessToken: 'a1', refreshToken: 'r1', scope: 'read', idToken: null }))
    expect(token!.expiresAt).toBeGreaterThan(Date.now() + 3_500_000)
  })

  it('reads a form-encoded token response (GitHub without Accept)', () => {
    expect(client.parseRawToken('access_token=a2&scope=repo&token_type=bearer', 'application/x-www-form-urlencoded')).toEqual(expect.objectContaining({ accessToken: 'a2', scope: 'repo', expiresAt: null, refreshToken: null }))
  })

  it.each([
    ['an error body sent with status 200', '{"error":"bad_verification_code","error_description":"The code passed is incorrect"}'],
    ['a form-encoded error', 'error=bad_verification_code&error_description=x'],
    ['an error body that carries an access token too', '{"error":"invalid_grant","access_token":"left-over"}'],
    ['garbage', '<html>oops</html>'],
    ['an empty body', ''],
    ['JSON without an access token', '{"token_type":"bearer"}'],
    ['a JSON array', '[1,2]'],
  ])('gives null for %s', (_, body) => {
    expect(client.parseRawToken(body, null)).toBeNull()
  })
})
