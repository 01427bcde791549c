import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createHash } from 'node:crypto'
import type { Context, Next } from 'koa'
import { hashId } from '../server/crypto/random.ts'
import { startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { authError, login, rowCounts, session } from './support/login.ts'

const CSRF = { 'X-CSRF': '1' }

/** What a popup login's last page says: the posted message, its target origin, the script and the CSP. */
async function readPopupPage(response: Response) {
  const html = await response.text()
  const unescape = (text: string) => text.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
  const body = /<body data-message="([^"]*)" data-origin="([^"]*)">/.exec(html)
  const scripts = [...html.matchAll(/<script>([\s\S]*?)<\/script>/g)].map((m) => m[1])
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    csp: response.headers.get('content-security-policy') ?? '',
    referrerPolicy: response.headers.get('referrer-policy'),
    html,
    message: body ? (JSON.parse(unescape(body[1])) as unknown) : undefined,
    origin: body ? unescape(body[2]) : undefined,
    scripts,
  }
}

describe.each(databases)('popup login and prompt, with oidc-provider, on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let idp: RunningOidcSandbox
  /** The `prompt` of every authorization request that reached the provider. */
  const promptsSeen: (string | undefined)[] = []

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url)
    const names = ['idp', 'consent-preset']
    idp = await startOidcSandbox({
      clients: names.map((name) => ({ clientId: `client-${name}`, clientSecret: `secret-${name}-${'x'.repeat(20)}`, redirectUris: [`${bff.url}/auth/callback/${name}`] })),
      autoApprove: 'alice',
      instrument: (provider) =>
        provider.use(async (ctx: Context, next: Next) => {
          if (ctx.path === '/auth') promptsSeen.push(ctx.query.prompt as string | undefined)
          await next()
        }),
    })
    for (const name of names) {
      await bff.addProvider(name, {
        issuer: idp.issuer,
        clientId: `client-${name}`,
        clientSecret: `secret-${name}-${'x'.repeat(20)}`,
        scope: 'openid profile',
        extraAuthorizationParams: name === 'consent-preset' ? { prompt: 'consent' } : undefined,
      })
    }
    await bff.addProvider('unreachable', { issuer: 'http://127.0.0.1:9', clientId: 'x', clientSecret: 'y' })
  })

  afterAll(async () => {
    await bff?.close()
    await idp?.close()
    await drop?.()
  })

  /** Starts a login and returns the provider's authorization URL the BFF sent the browser to. */
  async function authorizationUrl(browser: BrowserSession, provider: string, query: Record<string, string>): Promise<URL> {
    const response = await browser.fetch(new URL(`/auth/login/${provider}?${new URLSearchParams(query)}`, bff.url))
    await response.body?.cancel()
    expect(response.status).toBe(302)
    return new URL(response.headers.get('location') ?? '')
  }

  /** Goes through the whole login in a popup, and reads the page it ends on. */
  async function popupLogin(browser: BrowserSession, provider: string, query: Record<string, string> = {}) {
    const start = new URL(`/auth/login/${provider}?${new URLSearchParams({ display: 'popup', ...query })}`, bff.url)
    const { response, url } = await browser.navigate(start)
    return { ...(await readPopupPage(response)), url }
  }

  it('passes each prompt of the contract to the provider, where it arrives', async () => {
    for (const prompt of ['login', 'consent', 'select_account', 'none']) {
      const location = await authorizationUrl(new BrowserSession(), 'idp', { prompt })
      expect(location.searchParams.get('prompt')).toBe(prompt)
    }
    promptsSeen.length = 0
    await login(new BrowserSession(), bff.url, 'idp')
    const browser = new BrowserSession()
    await browser.navigate(new URL('/auth/login/idp?prompt=login', bff.url), { stopAt: (u) => u.origin === new URL(bff.url).origin && !u.pathname.startsWith('/auth/') })
    expect(promptsSeen).toEqual([undefined, 'login'])
  })

  it('passes prompt to a plain OAuth 2.0 provider too, which fails a prompt=none login that needs the user with login_required', async () => {
    await bff.addProvider('plain-oauth2', { authorizationUrl: 'https://idp.example/authorize', accessTokenUrl: 'https://idp.example/token', profileUrl: 'https://idp.example/me', clientId: 'c', clientSecret: 's' })
    for (const prompt of ['login', 'consent', 'select_account', 'none']) {
      expect((await authorizationUrl(new BrowserSession(), 'plain-oauth2', { prompt })).searchParams.get('prompt')).toBe(prompt)
    }
    const before = await rowCounts(bff.store.db)
    const browser = new BrowserSession()
    const state = (await authorizationUrl(browser, 'plain-oauth2', { prompt: 'none' })).searchParams.get('state') ?? ''
    const answer = await browser.fetch(new URL(`/auth/callback/plain-oauth2?${new URLSearchParams({ error: 'login_required', state })}`, bff.url), {}, { navigation: true, crossSite: true })
    expect([answer.status, answer.headers.get('location')]).toEqual([302, '/?auth_error=login_required'])
    expect(await rowCounts(bff.store.db)).toEqual(before)
  })

  it('leaves out a prompt outside the contract, and the login goes on without one', async () => {
    for (const prompt of ['bogus', 'none login', 'NONE', '']) {
      const location = await authorizationUrl(new BrowserSession(), 'idp', { prompt })
      expect(location.searchParams.has('prompt')).toBe(false)
      expect(location.searchParams.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/)
    }
  })

  it("lets the asked prompt override the provider's own prompt=consent", async () => {
    expect((await authorizationUrl(new BrowserSession(), 'consent-preset', {})).searchParams.get('prompt')).toBe('consent')
    expect((await authorizationUrl(new BrowserSession(), 'consent-preset', { prompt: 'none' })).searchParams.get('prompt')).toBe('none')
  })

  it('fails a prompt=none login with login_required when nobody is signed in at the provider, and writes nothing', async () => {
    const before = await rowCounts(bff.store.db)
    const browser = new BrowserSession()
    const result = await browser.navigate(new URL('/auth/login/idp?prompt=none', bff.url), { stopAt: (u) => u.origin === new URL(bff.url).origin && !u.pathname.startsWith('/auth/') })
    expect(result.stopped).toBe(true)
    expect(authError(result.url)).toBe('login_required')
    expect(await rowCounts(bff.store.db)).toEqual(before)
    expect((await session(browser, bff.url)).authenticated).toBe(false)
  })

  it('signs in silently with prompt=none when the provider already knows the user', async () => {
    const browser = new BrowserSession()
    // The first login leaves the provider's session cookie in this browser.
    await login(browser, bff.url, 'idp')
    const landed = await browser.navigate(new URL('/auth/login/idp?prompt=none&next=/again', bff.url), {
      stopAt: (u) => u.origin === new URL(bff.url).origin && !u.pathname.startsWith('/auth/'),
    })
    expect(landed.url.pathname).toBe('/again')
    expect(authError(landed.url)).toBeNull()
  })

  it('ends a popup login in a 200 page that posts ok to PUBLIC_URL\'s origin only, and signs in', async () => {
    const browser = new BrowserSession()
    const page = await popupLogin(browser, 'idp')
    expect(page.url.pathname).toBe('/auth/callback/idp')
    expect(page.status).toBe(200)
    expect(page.type).toMatch(/^text\/html/)
    expect(page.message).toEqual({ type: 'all-access:login', ok: true })
    expect(page.origin).toBe(new URL(bff.url).origin)
    // The page's address holds the provider's code: nothing it loads or links to may be told it.
    expect(page.referrerPolicy).toBe('no-referrer')
    expect(page.scripts).toHaveLength(1)
    expect(page.scripts[0]).toContain('window.opener.postMessage(')
    expect(page.scripts[0]).toContain('d.origin')
    expect(page.scripts[0]).toContain('window.close()')
    expect((await session(browser, bff.url)).authenticated).toBe(true)
  })

  it("allows the page's one inline script by its hash in the CSP, and nothing else", async () => {
    const page = await popupLogin(new BrowserSession(), 'idp')
    const hash = createHash('sha256').update(page.scripts[0]).digest('base64')
    const directives = Object.fromEntries(page.csp.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values]))
    expect(directives['script-src']).toEqual([`'sha256-${hash}'`])
    expect(directives['default-src']).toEqual(["'none'"])
    expect(directives['frame-ancestors']).toEqual(["'none'"])
    expect(page.csp).not.toContain('unsafe-inline')
  })

  it('ends a popup prompt=none login without a provider session in the page posting login_required', async () => {
    const before = await rowCounts(bff.store.db)
    const browser = new BrowserSession()
    const page = await popupLogin(browser, 'idp', { prompt: 'none' })
    expect(page.url.pathname).toBe('/auth/callback/idp')
    expect(page.status).toBe(200)
    expect(page.message).toEqual({ type: 'all-access:login', ok: false, error: 'login_required' })
    expect(page.origin).toBe(new URL(bff.url).origin)
    expect(page.html).toContain('The provider needs you to sign in.')
    expect(await rowCounts(bff.store.db)).toEqual(before)
    expect((await session(browser, bff.url)).authenticated).toBe(false)
  })

  it("maps the provider's interaction_required, consent_required and account_selection_required to login_required, and other refusals to access_denied", async () => {
    const cases = { login_required: 'login_required', interaction_required: 'login_required', consent_required: 'login_required', account_selection_required: 'login_required', access_denied: 'access_denied', temporarily_unavailable: 'access_denied' }
    for (const [error, code] of Object.entries(cases)) {
      const browser = new BrowserSession()
      const state = (await authorizationUrl(browser, 'idp', { display: 'popup' })).searchParams.get('state') ?? ''
      const page = await readPopupPage(await browser.fetch(new URL(`/auth/callback/idp?${new URLSearchParams({ error, state, iss: idp.issuer })}`, bff.url), {}, { navigation: true, crossSite: true }))
      expect(page.status).toBe(200)
      expect(page.message).toEqual({ type: 'all-access:login', ok: false, error: code })

      const plain = new BrowserSession()
      const plainState = (await authorizationUrl(plain, 'idp', {})).searchParams.get('state') ?? ''
      const answer = await plain.fetch(new URL(`/auth/callback/idp?${new URLSearchParams({ error, state: plainState, iss: idp.issuer })}`, bff.url), {}, { navigation: true, crossSite: true })
      expect(answer.status).toBe(302)
      expect(authError(new URL(answer.headers.get('location') ?? '', bff.url))).toBe(code)
    }
  })

  it('ends a popup login that fails before the redirect (provider unreachable) on the popup page too', async () => {
    const browser = new BrowserSession()
    const page = await readPopupPage(await browser.fetch(new URL('/auth/login/unreachable?display=popup', bff.url)))
    expect(page.status).toBe(200)
    expect(page.message).toEqual({ type: 'all-access:login', ok: false, error: 'provider_unavailable' })
    // Without display=popup the same failure is the contract's redirect.
    const plain = await new BrowserSession().fetch(new URL('/auth/login/unreachable', bff.url))
    expect(plain.status).toBe(302)
    expect(plain.headers.get('location')).toBe('/?auth_error=provider_unavailable')
  })

  it('keeps the JSON answer of an unknown provider, popup or not', async () => {
    const response = await new BrowserSession().fetch(new URL('/auth/login/nobody?display=popup', bff.url))
    expect(response.status).toBe(404)
    expect(await response.json()).toEqual(expect.objectContaining({ error: 'unknown_provider' }))
  })
})

describe.each(databases)("the session's end as /auth/session tells it, on $kind", (database) => {
  async function withBff(session: { idleMs: number; absoluteMs: number }, run: (bff: TestBff, browser: BrowserSession, idHash: string) => Promise<void>) {
    const { url, drop } = await database.create()
    const bff = await startBff(url, { session })
    const local = await startOidcSandbox({ clients: [{ clientId: 'c', clientSecret: 's'.repeat(32), redirectUris: [`${bff.url}/auth/callback/idp`] }], autoApprove: 'alice' })
    try {
      await bff.addProvider('idp', { issuer: local.issuer, clientId: 'c', clientSecret: 's'.repeat(32), scope: 'openid profile' })
      const browser = new BrowserSession()
      await login(browser, bff.url, 'idp')
      await run(bff, browser, hashId(browser.cookie('allaccess_session')?.value ?? ''))
    } finally {
      await bff.close()
      await local.close()
      await drop()
    }
  }

  async function read(bff: TestBff, browser: BrowserSession, slide: boolean) {
    const response = await browser.fetch(new URL(`/auth/session${slide ? '' : '?slide=false'}`, bff.url), { headers: CSRF })
    expect(response.status).toBe(200)
    const body = (await response.json()) as { authenticated: boolean; expiresAt?: string }
    return body.expiresAt ? new Date(body.expiresAt).getTime() : null
  }

  it('does not move the idle end on ?slide=false, and does on a plain read', async () => {
    await withBff({ idleMs: 10 * 60_000, absoluteMs: 60 * 60_000 }, async (bff, browser, idHash) => {
      // As if the session had been left idle until 30 s before its end (not closer: the reads below
      // must reach the BFF before it, however loaded the machine).
      const nearEnd = Date.now() + 30_000
      await bff.store.sessions.extend(idHash, nearEnd)
      expect(await read(bff, browser, false)).toBe(nearEnd)
      expect(await read(bff, browser, false)).toBe(nearEnd)
      expect((await bff.store.sessions.find(idHash))?.idleExpiresAt).toBe(nearEnd)
      const slid = await read(bff, browser, true)
      expect(slid).toBeGreaterThan(nearEnd + 60_000)
      expect((await bff.store.sessions.find(idHash))?.idleExpiresAt).toBe(slid)
    })
  })

  it('tells an expiresAt never later than the absolute end, even when the idle time would reach past it', async () => {
    // An absolute end ten minutes on: a minute's idle end left is far enough from it that a slide,
    // which writes only for a gain of a minute or more, moves it there.
    await withBff({ idleMs: 60 * 60_000, absoluteMs: 10 * 60_000 }, async (bff, browser, idHash) => {
      const record = await bff.store.sessions.find(idHash)
      expect(record).not.toBeNull()
      const absoluteEnd = record!.absoluteExpiresAt
      expect(await read(bff, browser, false)).toBe(absoluteEnd)
      // Left idle for a while: a read that slides may move the idle end up to the absolute end, never past it.
      // A minute left, not a second: a read a loaded machine delayed past a one-second end found the session over.
      await bff.store.sessions.extend(idHash, Date.now() + 60_000)
      expect(await read(bff, browser, true)).toBe(absoluteEnd)
      expect((await bff.store.sessions.find(idHash))?.idleExpiresAt).toBe(absoluteEnd)
      expect(await read(bff, browser, false)).toBe(absoluteEnd)
    })
  })

  it('tells the idle end when it comes before the absolute end', async () => {
    await withBff({ idleMs: 60_000, absoluteMs: 60 * 60_000 }, async (bff, browser, idHash) => {
      const record = (await bff.store.sessions.find(idHash))!
      const told = await read(bff, browser, false)
      expect(told).toBe(record.idleExpiresAt)
      expect(told!).toBeLessThan(record.absoluteExpiresAt)
    })
  })
})
