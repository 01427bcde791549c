import { spawnSync } from 'node:child_process'
import { readFileSync, existsSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKey } from '../server/crypto/keys.ts'
import { BrowserSession } from './support/browser-session.ts'
import { databases } from './support/databases.ts'
import { startServe, type RunningServe } from './support/demo-server.ts'
import { rawRequest } from './support/raw-http.ts'
import { readForm, sandboxLogin } from './support/sandbox-login.ts'
import { cacheLapse, within } from './support/eventually.ts'
import { scratchFolder } from './support/scratch-folder.ts'

/**
 * DESIGN.md's contract checked from outside only: `all-access serve --sandbox` in its own process, on
 * a SQLite file, driven over HTTP as a browser and an attacker would. What other files check through
 * an in-process BFF (createAllAccess) is checked here once more through the command a user runs.
 */
const CSRF = { 'X-CSRF': '1' }
const SESSION = 'allaccess_session'
const FLOW = 'allaccess_flow'

/** A contract error: the status and the body `{"error": code, "message": text}`, nothing more. */
async function contractError(response: Response) {
  return { status: response.status, body: await response.json() }
}
const refusal = (status: number, error: string) => ({ status, body: { error, message: expect.stringMatching(/\S/) } })

/** One attribute of a Set-Cookie header, `undefined` when absent, `true` when it has no value. */
function attribute(header: string, name: string): string | true | undefined {
  for (const part of header.split(';').slice(1)) {
    const [key, ...value] = part.trim().split('=')
    if (key.toLowerCase() === name.toLowerCase()) return value.length ? value.join('=') : true
  }
  return undefined
}

describe.each(databases)('all-access serve --sandbox on $kind, from outside, against DESIGN.md', (database) => {
  let serve: RunningServe
  let databaseUrl: string
  let drop: () => Promise<void>
  const keys = generateKey()

  beforeAll(async () => {
    ;({ url: databaseUrl, drop } = await database.create())
    // No ALLACCESS_STATIC_DIR: the default, the built demo SPA, is served.
    serve = await startServe({ sandbox: true, databaseUrl, keys, env: { ALLACCESS_STATIC_DIR: undefined } })
  })

  afterAll(async () => {
    await serve?.stop()
    await drop?.()
  })

  const at = (path: string) => new URL(path, serve.url)

  /**
   * A login through the sandbox's own pages, as a person clicks through them: every form submitted
   * with `decision` (allow or deny). Stops at the BFF's redirect out of /auth and gives its target,
   * with every URL the browser went through.
   */
  async function login(browser: BrowserSession, provider: string, query = '', decision = 'allow') {
    const bff = new URL(serve.url)
    const stopAt = (u: URL) => u.origin === bff.origin && !u.pathname.startsWith('/auth/')
    let result = await browser.navigate(at(`/auth/login/${provider}${query}`), { stopAt })
    const hops = [...result.hops]
    for (let step = 0; step < 4 && !result.stopped && result.url.origin !== bff.origin; step++) {
      const { action, fields } = readForm(await result.response.text(), result.url, decision)
      result = await browser.navigate(action, { init: { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: fields.toString() }, stopAt })
      hops.push(...result.hops)
    }
    // A popup login ends on a page of the BFF's own instead of a redirect.
    if (!result.stopped && result.url.origin === bff.origin) return { landed: result.url, hops, page: result }
    if (!result.stopped) throw new Error(`login with ${provider} did not come back`)
    return { landed: result.url, hops, page: undefined }
  }

  const sessionOf = async (browser: BrowserSession) => (await browser.fetch(at('/auth/session'), { headers: CSRF })).json()
  const setCookies = (browser: BrowserSession, name: string) => browser.setCookieHeaders.filter((c) => c.host === 'localhost' && c.header.startsWith(`${name}=`)).map((c) => c.header)

  it('lists the enabled providers with exactly name, displayName and protocol', async () => {
    const response = await fetch(at('/auth/providers'))
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({
      providers: [
        { name: 'sandbox-oauth1', displayName: 'Sandbox OAuth 1.0a', protocol: 'oauth1' },
        { name: 'sandbox-oidc', displayName: 'Sandbox OpenID', protocol: 'oidc' },
      ],
    })
  })

  it('starts an OpenID login with a fresh state of at least 128 bits, a nonce and PKCE S256, its flow in an HttpOnly SameSite=Lax cookie of minutes', async () => {
    const starts = await Promise.all([1, 2].map(() => fetch(at('/auth/login/sandbox-oidc'), { redirect: 'manual' })))
    const states = new Set<string>()
    for (const start of starts) {
      expect(start.status).toBe(302)
      const to = new URL(start.headers.get('location')!)
      const state = to.searchParams.get('state')!
      // base64url: 6 bits a character, so 22 characters are 132 bits.
      expect(state).toMatch(/^[A-Za-z0-9_-]{22,}$/)
      states.add(state)
      expect(to.searchParams.get('code_challenge_method')).toBe('S256')
      expect(to.searchParams.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(to.searchParams.get('nonce')).toMatch(/^[A-Za-z0-9_-]{22,}$/)
      expect(to.searchParams.get('redirect_uri')).toBe(`${serve.url}/auth/callback/sandbox-oidc`)
      expect(to.searchParams.get('scope')?.split(' ')).toContain('openid')
      const [flow, ...others] = start.headers.getSetCookie()
      expect(others).toEqual([])
      expect(flow).toMatch(new RegExp(`^${FLOW}=[A-Za-z0-9_-]{43};`))
      expect([attribute(flow, 'httponly'), String(attribute(flow, 'samesite')).toLowerCase(), attribute(flow, 'path'), attribute(flow, 'secure'), attribute(flow, 'domain')]).toEqual([true, 'lax', '/', undefined, undefined])
      const expires = new Date(String(attribute(flow, 'expires'))).getTime()
      expect(expires - Date.now()).toBeGreaterThan(0)
      expect(expires - Date.now()).toBeLessThanOrEqual(60 * 60_000)
      expect(start.headers.get('cache-control')).toBe('no-store')
    }
    expect(states.size).toBe(2)
  })

  it('signs in through the sandbox: 302 to next, the flow cookie deleted, a session cookie HttpOnly, SameSite=Strict, Path=/ and not Secure under http', async () => {
    const browser = new BrowserSession()
    const { landed } = await login(browser, 'sandbox-oidc', '?next=/notes%3Fa%3D1')
    expect(landed.toString()).toBe(`${serve.url}/notes?a=1`)
    const [started, ended] = setCookies(browser, FLOW)
    expect(started).toMatch(new RegExp(`^${FLOW}=[A-Za-z0-9_-]{43};`))
    // Deleted by the callback that used it: empty, and expired.
    expect(ended).toMatch(new RegExp(`^${FLOW}=;`))
    expect(new Date(String(attribute(ended, 'expires'))).getTime()).toBeLessThan(Date.now())
    expect(browser.cookie(FLOW)).toBeUndefined()
    const [session, ...more] = setCookies(browser, SESSION)
    expect(more).toEqual([])
    expect(session).toMatch(new RegExp(`^${SESSION}=[A-Za-z0-9_-]{43};`))
    expect([attribute(session, 'httponly'), String(attribute(session, 'samesite')).toLowerCase(), attribute(session, 'path'), attribute(session, 'secure'), attribute(session, 'domain')]).toEqual([true, 'strict', '/', undefined, undefined])
    expect(setCookies(browser, `__Host-${SESSION}`)).toEqual([])
  })

  it('answers /auth/session with exactly the fields of DESIGN.md, signed out and signed in', async () => {
    expect(await (await fetch(at('/auth/session'), { headers: CSRF })).json()).toEqual({ authenticated: false })
    const browser = new BrowserSession()
    await login(browser, 'sandbox-oidc')
    const session = await sessionOf(browser)
    expect(session).toEqual({
      authenticated: true,
      user: { id: expect.anything(), displayName: expect.any(String) },
      // Other tests may have linked more accounts to the sandbox's user: each has these fields only.
      accounts: expect.arrayContaining([{ provider: 'sandbox-oidc', identifier: expect.any(String), displayName: expect.any(String), status: 'active', connectedAt: expect.any(String) }]),
      expiresAt: expect.any(String),
    })
    for (const account of session.accounts) expect(Object.keys(account).sort()).toEqual(['connectedAt', 'displayName', 'identifier', 'provider', 'status'])
    expect(Number.isNaN(Date.parse(session.expiresAt))).toBe(false)
    expect(session.accounts.every((account: { connectedAt: string }) => !Number.isNaN(Date.parse(account.connectedAt)))).toBe(true)
  })

  it('gives a new session id at a login while signed in, and the old id is no session any more (no fixation)', async () => {
    const browser = new BrowserSession()
    await login(browser, 'sandbox-oidc')
    const first = browser.cookie(SESSION)!.value
    const user = (await sessionOf(browser)).user.id
    await login(browser, 'sandbox-oidc')
    const second = browser.cookie(SESSION)!.value
    expect(second).not.toBe(first)
    expect((await sessionOf(browser)).user.id).toBe(user)
    const replayed = await fetch(at('/auth/session'), { headers: { ...CSRF, Cookie: `${SESSION}=${first}` } })
    expect(await replayed.json()).toEqual({ authenticated: false })
  })

  it("links an OAuth 1.0a login started while signed in to the session's user, though the provider's redirect back carries no Strict cookie", async () => {
    const browser = new BrowserSession()
    await login(browser, 'sandbox-oidc')
    const user = (await sessionOf(browser)).user.id
    const { landed } = await login(browser, 'sandbox-oauth1')
    expect(landed.toString()).toBe(`${serve.url}/`)
    const session = await sessionOf(browser)
    expect(session.user.id).toBe(user)
    expect(session.accounts.map((a: { provider: string }) => a.provider).sort()).toEqual(['sandbox-oauth1', 'sandbox-oidc'])
  })

  it('fails with /?auth_error=account_conflict the link of an identity another user has linked, changing neither user', async () => {
    const alice = new BrowserSession()
    await sandboxLogin(alice, serve.url, 'sandbox-oidc', 'alice')
    await sandboxLogin(alice, serve.url, 'sandbox-oauth1', '1001')
    const bob = new BrowserSession()
    await sandboxLogin(bob, serve.url, 'sandbox-oidc', 'bob')
    const before = [await sessionOf(alice), await sessionOf(bob)]
    expect(before[1].user.id).not.toBe(before[0].user.id)
    // Bob, signed in, links the OAuth 1.0a identity of Alice's.
    const landed = await sandboxLogin(bob, serve.url, 'sandbox-oauth1', '1001')
    expect(landed.toString()).toBe(`${serve.url}/?auth_error=account_conflict`)
    expect([await sessionOf(alice), await sessionOf(bob)]).toEqual(before)
  })

  it('fails a login the user refuses at the provider with /?auth_error=access_denied, signing nobody in', async () => {
    const browser = new BrowserSession()
    const { landed } = await login(browser, 'sandbox-oauth1', '', 'deny')
    expect(landed.toString()).toBe(`${serve.url}/?auth_error=access_denied`)
    expect(browser.cookie(SESSION)).toBeUndefined()
    expect(browser.cookie(FLOW)).toBeUndefined()
  })

  it('fails a replayed callback, and one without its flow cookie, with /?auth_error=invalid_state', async () => {
    const browser = new BrowserSession()
    const { hops } = await login(browser, 'sandbox-oidc')
    const callback = hops.find((u) => u.pathname === '/auth/callback/sandbox-oidc')!
    expect(callback.searchParams.get('code')).toBeTruthy()
    const replay = await new BrowserSession().fetch(callback)
    expect([replay.status, replay.headers.get('location')]).toEqual([302, '/?auth_error=invalid_state'])
    expect(replay.headers.getSetCookie().filter((c) => c.startsWith(`${SESSION}=`) && !c.startsWith(`${SESSION}=;`))).toEqual([])
    const forged = await fetch(at('/auth/callback/sandbox-oidc?code=c&state=s'), { redirect: 'manual' })
    expect([forged.status, forged.headers.get('location')]).toEqual([302, '/?auth_error=invalid_state'])
  })

  it.each([
    ['//evil.example/x', '/'],
    ['/\\evil.example/x', '/'],
    ['https://evil.example/x', '/'],
    ['/%09/evil.example', '/'],
    ['/settings', '/settings'],
  ])('lands a login asked to go next to %s on %s', async (next, target) => {
    const browser = new BrowserSession()
    const { landed } = await login(browser, 'sandbox-oidc', `?next=${encodeURIComponent(next)}`)
    expect([landed.origin, landed.pathname + landed.search]).toEqual([serve.url, target])
  })

  /** The page a popup login ends on: what it posts to `window.opener`, and to which origin. */
  async function popupPage(response: Response) {
    const html = await response.text()
    const unescape = (text: string) => text.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code))).replace(/&quot;/g, '"').replace(/&amp;/g, '&')
    const body = /<body data-message="([^"]*)" data-origin="([^"]*)">/.exec(html)
    return { status: response.status, type: response.headers.get('content-type'), message: body && JSON.parse(unescape(body[1])), origin: body && unescape(body[2]) }
  }

  it("ends a popup login on a 200 page posting ok to PUBLIC_URL's origin only, signed in", async () => {
    const browser = new BrowserSession()
    const { page } = await login(browser, 'sandbox-oidc', '?display=popup')
    expect(page!.url.pathname).toBe('/auth/callback/sandbox-oidc')
    expect(await popupPage(page!.response)).toEqual({ status: 200, type: expect.stringMatching(/^text\/html/), message: { type: 'all-access:login', ok: true }, origin: serve.url })
    expect((await sessionOf(browser)).authenticated).toBe(true)
  })

  it('fails a prompt=none login of someone not signed in at the provider with login_required, in a redirect or on the popup page, signing nobody in', async () => {
    const browser = new BrowserSession()
    const { landed } = await login(browser, 'sandbox-oidc', '?prompt=none')
    expect(landed.toString()).toBe(`${serve.url}/?auth_error=login_required`)
    const { page } = await login(browser, 'sandbox-oidc', '?prompt=none&display=popup')
    expect(await popupPage(page!.response)).toEqual({ status: 200, type: expect.stringMatching(/^text\/html/), message: { type: 'all-access:login', ok: false, error: 'login_required' }, origin: serve.url })
    expect(browser.cookie(SESSION)).toBeUndefined()
  })

  it('answers 404 unknown_provider to a login with a provider it does not have', async () => {
    expect(await contractError(await fetch(at('/auth/login/nope'), { redirect: 'manual' }))).toEqual(refusal(404, 'unknown_provider'))
    expect(await contractError(await fetch(at('/auth/callback/nope?code=c&state=s'), { redirect: 'manual' }))).toEqual(refusal(404, 'unknown_provider'))
  })

  it('answers unknown /auth routes 404 not_found and a method a route does not take 405 method_not_allowed with Allow', async () => {
    expect(await contractError(await fetch(at('/auth/nothing'), { headers: CSRF }))).toEqual(refusal(404, 'not_found'))
    const wrong = await fetch(at('/auth/logout'), { headers: CSRF })
    expect(wrong.headers.get('allow')).toBe('POST')
    expect(await contractError(wrong)).toEqual(refusal(405, 'method_not_allowed'))
  })

  it('refuses the CSRF routes without X-CSRF: 1 (403 csrf_required) and from a foreign Origin (403 origin_not_allowed), changing nothing', async () => {
    const browser = new BrowserSession()
    await login(browser, 'sandbox-oidc')
    await login(browser, 'sandbox-oauth1')
    const foreign = { ...CSRF, Origin: 'http://evil.example' }
    for (const [method, path] of [
      ['GET', '/auth/session'],
      ['POST', '/auth/logout'],
      ['DELETE', '/auth/accounts/sandbox-oauth1'],
      ['GET', '/api/sandbox-oidc/me'],
    ]) {
      expect([method, path, await contractError(await browser.fetch(at(path), { method }))]).toEqual([method, path, refusal(403, 'csrf_required')])
      expect([method, path, await contractError(await browser.fetch(at(path), { method, headers: foreign }))]).toEqual([method, path, refusal(403, 'origin_not_allowed')])
    }
    // Nothing happened: still signed in, both accounts linked.
    const session = await sessionOf(browser)
    expect(session.accounts.length).toBe(2)
    // Its own origin is let through.
    expect((await browser.fetch(at('/auth/session'), { headers: { ...CSRF, Origin: serve.url } })).status).toBe(200)
  })

  it('proxies to the API base with its own token, never the browser Cookie, Authorization, X-CSRF, Origin or Referer, and marks the answer as data', async () => {
    const browser = new BrowserSession()
    await login(browser, 'sandbox-oidc')
    const response = await browser.fetch(at('/api/sandbox-oidc/echo?x=1&y=%C3%A9'), {
      headers: { ...CSRF, Origin: serve.url, Referer: `${serve.url}/page`, Authorization: 'Bearer from-the-browser' },
    })
    expect(response.status).toBe(200)
    expect([response.headers.get('content-security-policy'), response.headers.get('cross-origin-resource-policy'), response.headers.get('cache-control'), response.headers.get('x-content-type-options')]).toEqual([
      "default-src 'none'; sandbox",
      'same-origin',
      'no-store',
      'nosniff',
    ])
    const echo = (await response.json()) as { method: string; query: Record<string, string>; headers: Record<string, string> }
    expect(echo.query).toEqual({ x: '1', y: 'é' })
    // The provider's own redaction of the BFF's bearer token: one is sent, and not the browser's.
    expect(echo.headers.authorization).toBe('Bearer [redacted]')
    for (const name of ['cookie', 'x-csrf', 'origin', 'referer']) expect([name, echo.headers[name]]).toEqual([name, undefined])
  })

  it('answers the proxy refusals of DESIGN.md with their status and code', async () => {
    const browser = new BrowserSession()
    await login(browser, 'sandbox-oidc')
    expect(await contractError(await fetch(at('/api/sandbox-oidc/me'), { headers: CSRF }))).toEqual(refusal(401, 'not_authenticated'))
    expect(await contractError(await browser.fetch(at('/api/nope/me'), { headers: CSRF }))).toEqual(refusal(404, 'unknown_provider'))
    for (const target of ['/api/sandbox-oidc/..%2Fx', '/api/sandbox-oidc/a%2Fb', '/api/sandbox-oidc/%2e%2e/x', '/api/sandbox-oidc//x', '/api/sandbox-oidc/a\\b', '/api/sandbox-oidc/@evil.example']) {
      const answer = await rawRequest(serve.url, 'GET', target, [['X-CSRF', '1'], ['Cookie', browser.cookieHeader(at('/'))]])
      expect([target, answer.status, JSON.parse(answer.body).error]).toEqual([target, 400, 'invalid_path'])
    }
    const options = await browser.fetch(at('/api/sandbox-oidc/me'), { method: 'OPTIONS', headers: CSRF })
    expect(options.headers.get('allow')).toBeTruthy()
    expect(await contractError(options)).toEqual(refusal(405, 'method_not_allowed'))
    // The provider's own refusal passes through, status and body.
    const missing = await browser.fetch(at('/api/sandbox-oidc/nothing-here'), { headers: CSRF })
    expect([missing.status, await missing.json()]).toEqual([404, expect.objectContaining({ error: 'not_found' })])
  })

  it('unlinks an account with 204, after which the proxy answers 403 account_not_connected and a second unlink 404 account_not_found', async () => {
    const browser = new BrowserSession()
    await login(browser, 'sandbox-oidc')
    await login(browser, 'sandbox-oauth1')
    expect((await browser.fetch(at('/api/sandbox-oauth1/echo.json'), { headers: CSRF })).status).toBe(200)
    expect((await browser.fetch(at('/auth/accounts/sandbox-oauth1'), { method: 'DELETE', headers: CSRF })).status).toBe(204)
    expect(await contractError(await browser.fetch(at('/api/sandbox-oauth1/echo.json'), { headers: CSRF }))).toEqual(refusal(403, 'account_not_connected'))
    expect(await contractError(await browser.fetch(at('/auth/accounts/sandbox-oauth1'), { method: 'DELETE', headers: CSRF }))).toEqual(refusal(404, 'account_not_found'))
    expect(await contractError(await fetch(at('/auth/accounts/sandbox-oidc'), { method: 'DELETE', headers: CSRF }))).toEqual(refusal(401, 'not_authenticated'))
    expect((await sessionOf(browser)).accounts.map((a: { provider: string }) => a.provider)).toEqual(['sandbox-oidc'])
  })

  it('logs out with 204, clearing the cookie, after which the old cookie is no session', async () => {
    const browser = new BrowserSession()
    await login(browser, 'sandbox-oidc')
    const id = browser.cookie(SESSION)!.value
    const out = await browser.fetch(at('/auth/logout'), { method: 'POST', headers: CSRF })
    expect([out.status, await out.text()]).toEqual([204, ''])
    const [cleared] = out.headers.getSetCookie()
    expect(cleared).toMatch(new RegExp(`^${SESSION}=;`))
    expect(String(attribute(cleared, 'path'))).toBe('/')
    expect(new Date(String(attribute(cleared, 'expires'))).getTime()).toBeLessThan(Date.now())
    expect(browser.cookie(SESSION)).toBeUndefined()
    expect(await (await fetch(at('/auth/session'), { headers: { ...CSRF, Cookie: `${SESSION}=${id}` } })).json()).toEqual({ authenticated: false })
  })

  it('logs out an OpenID session with ?provider_logout=1: 200 with the RP-initiated logout URL, and the session ended here', async () => {
    const browser = new BrowserSession()
    await login(browser, 'sandbox-oidc')
    const out = await browser.fetch(at('/auth/logout?provider_logout=1'), { method: 'POST', headers: CSRF })
    expect(out.status).toBe(200)
    const { logoutUrl } = (await out.json()) as { logoutUrl: string }
    const url = new URL(logoutUrl)
    expect(url.hostname).toBe('127.0.0.1')
    expect(url.searchParams.get('id_token_hint')).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/)
    expect(url.searchParams.get('client_id')).toBe('all-access-demo')
    expect(url.searchParams.get('post_logout_redirect_uri')).toBe(`${serve.url}/`)
    expect(await sessionOf(browser)).toEqual({ authenticated: false })
  })

  it("ends the BFF's session when the user signs out at the OpenID provider (back-channel logout), and refuses a forged logout token with 400 invalid_request", async () => {
    const forged = await fetch(at('/auth/backchannel-logout/sandbox-oidc'), { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'logout_token=a.b.c' })
    expect(await contractError(forged)).toEqual(refusal(400, 'invalid_request'))
    const browser = new BrowserSession()
    await login(browser, 'sandbox-oidc')
    expect((await sessionOf(browser)).authenticated).toBe(true)
    // Sign out at the provider itself, in the same browser, as its "sign out" page does.
    const issuer = /sandbox-oidc at (\S+?),/.exec(serve.output())![1]
    const discovery = (await (await fetch(new URL('.well-known/openid-configuration', issuer.endsWith('/') ? issuer : `${issuer}/`))).json()) as { end_session_endpoint: string }
    let page = await browser.navigate(new URL(`${discovery.end_session_endpoint}?client_id=all-access-demo`))
    for (let step = 0; step < 3 && page.response.status === 200 && /<form/i.test(await page.response.clone().text()); step++) {
      const { action, fields } = readForm(await page.response.text(), page.url, 'yes')
      if (!fields.has('logout')) fields.set('logout', 'yes')
      page = await browser.navigate(action, { init: { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: fields.toString() } })
    }
    expect(await sessionOf(browser)).toEqual({ authenticated: false })
  })

  it('logs one line per request with method, path without its query, status, milliseconds and request id, and never a state, code or cookie value', async () => {
    const browser = new BrowserSession()
    const { hops } = await login(browser, 'sandbox-oidc', '?next=/logged%3Fsecret%3Dquery-value')
    await browser.fetch(at('/auth/session?slide=true'), { headers: CSRF })
    const callback = hops.find((u) => u.pathname === '/auth/callback/sandbox-oidc')!
    const secrets = [callback.searchParams.get('code')!, callback.searchParams.get('state')!, browser.cookie(SESSION)!.value, ...setCookies(browser, FLOW).filter((c) => !c.startsWith(`${FLOW}=;`)).map((c) => c.slice(FLOW.length + 1, FLOW.length + 44))]
    expect(secrets.filter((secret) => secret.length >= 20)).toHaveLength(4)
    // Lines are written in batches: the last request's comes a moment after its answer.
    const output = await within(10_000, async () => serve.output(), (text) => /^GET \/auth\/session 200 /m.test(text))
    for (const secret of secrets) expect(output).not.toContain(secret)
    expect(output).not.toContain('query-value')
    const lines = output.split('\n')
    expect(lines).toContainEqual(expect.stringMatching(/^GET \/auth\/callback\/sandbox-oidc 302 \d+ms req=\S+$/))
    expect(lines).toContainEqual(expect.stringMatching(/^GET \/auth\/session 200 \d+ms req=\S+$/))
  })

  it.skipIf(database.kind !== 'sqlite')('keeps no session id, state or code in clear in the database file', async () => {
    const databaseFile = databaseUrl.slice('sqlite://'.length)
    const browser = new BrowserSession()
    const { hops } = await login(browser, 'sandbox-oidc')
    const callback = hops.find((u) => u.pathname === '/auth/callback/sandbox-oidc')!
    const dump = [databaseFile, `${databaseFile}-wal`].filter(existsSync).map((file) => readFileSync(file).toString('latin1')).join('')
    for (const value of [browser.cookie(SESSION)!.value, callback.searchParams.get('state')!, callback.searchParams.get('code')!]) expect(dump).not.toContain(value)
  })

  it('marks every /auth and /api answer no-store and nosniff, and the SPA pages forbid framing under a CSP', async () => {
    for (const path of ['/auth/providers', '/auth/nothing', '/api/sandbox-oidc/me']) {
      const response = await fetch(at(path), { headers: CSRF, redirect: 'manual' })
      expect([path, response.headers.get('cache-control'), response.headers.get('x-content-type-options')]).toEqual([path, 'no-store', 'nosniff'])
    }
    for (const path of ['/', '/accounts/deep/link']) {
      const page = await fetch(at(path), { headers: { Accept: 'text/html' } })
      expect([path, page.status, page.headers.get('content-type')]).toEqual([path, 200, 'text/html; charset=utf-8'])
      // Without ALLACCESS_STATIC_DIR, the built demo SPA, with its fallback to index.html.
      expect(await page.text()).toContain('<title>all-access demo</title>')
      expect(page.headers.get('content-security-policy')).toMatch(/(^|; )frame-ancestors 'none'(;|$)/)
      expect(page.headers.get('x-content-type-options')).toBe('nosniff')
    }
  })

  it('forwards a body of ALLACCESS_PROXY_MAX_BODY bytes by default (10485760) and refuses one byte more with 413 payload_too_large', async () => {
    const browser = new BrowserSession()
    await login(browser, 'sandbox-oidc')
    const post = (size: number) => browser.fetch(at('/api/sandbox-oidc/echo'), { method: 'POST', headers: { ...CSRF, 'Content-Type': 'application/octet-stream' }, body: Buffer.alloc(size, 97) })
    const atLimit = await post(10_485_760)
    expect([atLimit.status, (await atLimit.json()).method]).toEqual([200, 'POST'])
    expect(await contractError(await post(10_485_761))).toEqual(refusal(413, 'payload_too_large'))
  })

  it('lets a client that goes on sending a body past the limit read its 413 and send its next request on the connection: no reset mid-upload (RFC 9112 §9.6)', async () => {
    const browser = new BrowserSession()
    await login(browser, 'sandbox-oidc')
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(serve.url).port) })
    let received = ''
    let failed: Error | undefined
    socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
    socket.on('error', (error) => (failed = error))
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
    /** The status line of the `n`th answer on the connection, once it has arrived. */
    const answer = (n: number) =>
      Promise.race([
        (async () => {
          for (;;) {
            const lines = [...received.matchAll(/HTTP\/1\.1 \d{3} [^\r\n]*/g)].map((match) => match[0])
            if (lines.length >= n) return lines[n - 1]
            await new Promise((resolve) => setTimeout(resolve, 10))
          }
        })(),
        closed.then(() => `closed after ${JSON.stringify(received.slice(0, 600))}${failed ? ` (${failed.message})` : ''}`),
      ])
    const size = 12 * 1024 * 1024
    const write = (data: string | Buffer) => new Promise<void>((resolve) => socket.write(data, () => resolve()))
    await write(`POST /api/sandbox-oidc/echo HTTP/1.1\r\nHost: ${new URL(serve.url).host}\r\nX-CSRF: 1\r\nCookie: ${browser.cookieHeader(at('/'))}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`)
    // Refused on its declared length, before a byte of the body.
    expect(await answer(1)).toBe('HTTP/1.1 413 Payload Too Large')
    // The client sends on what it announced, as a browser's upload does.
    const chunk = Buffer.alloc(64 * 1024, 97)
    for (let sent = 0; sent < size && !failed; sent += chunk.length) await write(chunk)
    await write(`GET /auth/providers HTTP/1.1\r\nHost: ${new URL(serve.url).host}\r\n\r\n`)
    expect(await answer(2)).toBe('HTTP/1.1 200 OK')
    expect(failed).toBeUndefined()
    socket.destroy()
  })

  it("answers 502 upstream_unreachable once the provider's API cannot be reached (its base URL changed through the command line)", async () => {
    const browser = new BrowserSession()
    await login(browser, 'sandbox-oidc')
    const updated = cli(['providers', 'update', 'sandbox-oidc', '--api-base-url', 'http://127.0.0.1:1/api'], { DATABASE_URL: databaseUrl, ALLACCESS_KEYS: keys, PUBLIC_URL: serve.url })
    expect(updated.code).toBe(0)
    const answer = await within(1_000, () => browser.fetch(at('/api/sandbox-oidc/me'), { headers: CSRF }), (response) => response.status === 502)
    expect(await contractError(answer)).toEqual(refusal(502, 'upstream_unreachable'))
    // Back to the sandbox's API, for the tests that run after this one.
    const sandboxApi = `${/sandbox-oidc at (\S+?),/.exec(serve.output())![1]}/api`
    expect(cli(['providers', 'update', 'sandbox-oidc', '--api-base-url', sandboxApi], { DATABASE_URL: databaseUrl, ALLACCESS_KEYS: keys, PUBLIC_URL: serve.url }).code).toBe(0)
    expect((await within(1_000, () => browser.fetch(at('/api/sandbox-oidc/me'), { headers: CSRF }), (response) => response.status === 200)).status).toBe(200)
  })
})

/** `all-access <args>` as a user runs it beside a running serve: its exit code and output. */
function cli(args: string[], env: Record<string, string>) {
  const result = spawnSync(process.execPath, [resolve('bin/all-access.js'), ...args], { cwd: scratchFolder('aa-contract-cli-'), env: { ...process.env, NODE_ENV: 'test', ...env }, encoding: 'utf8', timeout: 20_000 })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe.each(databases)('the command line beside a running all-access serve on one $kind database', (database) => {
  let serve: RunningServe
  let env: Record<string, string>
  let refusing: Server
  let drop: () => Promise<void>

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    env = { DATABASE_URL: created.url, ALLACCESS_KEYS: generateKey() }
    serve = await startServe({ databaseUrl: env.DATABASE_URL, keys: env.ALLACCESS_KEYS })
    env.PUBLIC_URL = serve.url
    // An OAuth 1.0a provider that refuses every request token, as one does a consumer it does not know.
    refusing = createServer((_, res) => res.writeHead(401, { 'Content-Type': 'text/plain' }).end('oauth_problem=consumer_key_unknown'))
    await new Promise<void>((ready) => refusing.listen(0, '127.0.0.1', ready))
  })

  afterAll(async () => {
    await serve?.stop()
    await new Promise((done) => refusing?.close(done))
    await drop?.()
  })

  const listed = async () => ((await (await fetch(new URL('/auth/providers', serve.url))).json()) as { providers: { name: string; displayName: string }[] }).providers
  const named = async (name: string) => (await listed()).find((p) => p.name === name)
  const start = (name: string) => fetch(new URL(`/auth/login/${name}`, serve.url), { redirect: 'manual' })
  /** Adds, through the command line, an OAuth 1.0a provider whose request token endpoint refuses every consumer. */
  function addRefusing(name: string) {
    const { port } = refusing.address() as AddressInfo
    const endpoints = ['--request-token-url', `http://127.0.0.1:${port}/request`, '--authorization-url', `http://127.0.0.1:${port}/authorize`, '--access-token-url', `http://127.0.0.1:${port}/access`, '--profile-url', `http://127.0.0.1:${port}/me`]
    return cli(['providers', 'add', name, ...endpoints, '--client-id', 'k', '--client-secret', 'secret-k'], env)
  }

  it('offers within a second a provider the command line adds, and sends a login to it that cannot start back with its code', async () => {
    expect(cli(['providers', 'add', 'gone-oidc', '--issuer', 'http://127.0.0.1:1', '--client-id', 'a', '--client-secret', 'secret-a'], env).code).toBe(0)
    expect(addRefusing('refusing-oauth1').code).toBe(0)
    const providers = await within(1_000, listed, (list) => ['gone-oidc', 'refusing-oauth1'].every((name) => list.some((p) => p.name === name)))
    expect(providers).toEqual(expect.arrayContaining([{ name: 'gone-oidc', displayName: expect.any(String), protocol: 'oidc' }, { name: 'refusing-oauth1', displayName: expect.any(String), protocol: 'oauth1' }]))
    const discovery = await start('gone-oidc')
    expect([discovery.status, discovery.headers.get('location')]).toEqual([302, '/?auth_error=provider_unavailable'])
    const requestToken = await start('refusing-oauth1')
    expect([requestToken.status, requestToken.headers.get('location')]).toEqual([302, '/?auth_error=request_token_failed'])
    // The answer names no secret of the provider's.
    expect(JSON.stringify(providers)).not.toContain('secret-')
  })

  it('sends PKCE S256 on an OAuth 2.0 login, and none for a provider added with --no-pkce', async () => {
    const endpoints = ['--authorization-url', 'https://idp.example/authorize', '--access-token-url', 'https://idp.example/token', '--profile-url', 'https://idp.example/me', '--client-id', 'a', '--client-secret', 'secret-pkce']
    expect(cli(['providers', 'add', 'with-pkce', ...endpoints], env).code).toBe(0)
    expect(cli(['providers', 'add', 'without-pkce', ...endpoints, '--no-pkce'], env).code).toBe(0)
    await within(1_000, listed, (list) => ['with-pkce', 'without-pkce'].every((name) => list.some((p) => p.name === name)))
    const asked = async (name: string) => new URL((await start(name)).headers.get('location')!).searchParams
    const pkce = await asked('with-pkce')
    expect([pkce.get('code_challenge_method'), pkce.get('code_challenge')?.length]).toEqual(['S256', 43])
    const plain = await asked('without-pkce')
    expect([plain.has('code_challenge'), plain.has('code_challenge_method'), plain.get('state')?.length]).toEqual([false, false, 43])
  })

  it.skipIf(database.kind !== 'sqlite')('keeps the client secrets the command line was given out of the database file', async () => {
    expect(addRefusing('dumped-oauth1').code).toBe(0)
    const file = env.DATABASE_URL.slice('sqlite://'.length)
    const dump = [file, `${file}-wal`].filter(existsSync).map((path) => readFileSync(path).toString('latin1')).join('')
    // The file read is the one written: its provider is there by name.
    expect(dump).toContain('dumped-oauth1')
    for (const secret of ['secret-k', 'secret-a', 'secret-pkce']) expect([secret, dump.includes(secret)]).toEqual([secret, false])
  })

  it('shows within a second what providers update changes, and forgets within a second what providers remove removes', async () => {
    expect(addRefusing('short-lived').code).toBe(0)
    expect(await within(1_000, () => named('short-lived'), Boolean)).toBeTruthy()
    expect(cli(['providers', 'update', 'short-lived', '--display-name', 'Renamed'], env).code).toBe(0)
    expect((await within(1_000, () => named('short-lived'), (p) => p?.displayName === 'Renamed'))?.displayName).toBe('Renamed')
    expect(cli(['providers', 'remove', 'short-lived'], env).code).toBe(0)
    expect(await within(1_000, () => named('short-lived'), (p) => p === undefined)).toBeUndefined()
    const login = await within(1_000, () => start('short-lived'), (answer) => answer.status === 404)
    expect(await contractError(login)).toEqual(refusal(404, 'unknown_provider'))
  })

  it('changes nothing a running serve sees on bad input, which exits non-zero with one line naming the problem', async () => {
    expect(addRefusing('kept-oauth1').code).toBe(0)
    expect(await within(1_000, () => named('kept-oauth1'), Boolean)).toBeTruthy()
    const before = await listed()
    const refused = cli(['providers', 'update', 'kept-oauth1', '--authorization-url', 'http://evil.example/a'], env)
    expect([refused.code, refused.stdout]).toEqual([2, ''])
    expect(refused.stderr).toMatch(/^all-access: --authorization-url: [^\n]+\n$/)
    const duplicate = cli(['providers', 'add', 'kept-oauth1', '--issuer', 'https://id.example', '--client-id', 'a', '--client-secret', 'b'], env)
    expect([duplicate.code, duplicate.stderr]).toEqual([2, 'all-access: provider "kept-oauth1" already exists (use: all-access providers update kept-oauth1)\n'])
    await cacheLapse()
    expect(await listed()).toEqual(before)
    // Still the provider it was: its login still goes to its own request token endpoint.
    const login = await start('kept-oauth1')
    expect(login.headers.get('location')).toBe('/?auth_error=request_token_failed')
  })
})

describe('key rotation between runs of all-access serve --sandbox', () => {
  it('signs nobody out: ALLACCESS_KEYS=new,old, keys rotate, then ALLACCESS_KEYS=new alone starts and keeps the session and its accounts', async () => {
    const databaseUrl = `sqlite://${join(scratchFolder('aa-contract-'), 'db.sqlite3')}`
    const [oldKey, newKey] = [generateKey(), generateKey()]
    const browser = new BrowserSession()
    const before = await startServe({ sandbox: true, databaseUrl, keys: oldKey })
    let session: unknown
    try {
      for (const provider of ['sandbox-oidc', 'sandbox-oauth1']) await sandboxLogin(browser, before.url, provider)
      session = await (await browser.fetch(new URL('/auth/session', before.url), { headers: CSRF })).json()
      expect(session).toMatchObject({ authenticated: true, accounts: [{ provider: 'sandbox-oidc' }, { provider: 'sandbox-oauth1' }] })
    } finally {
      expect(await before.stop()).toBe(0)
    }
    const rotated = cli(['keys', 'rotate'], { DATABASE_URL: databaseUrl, ALLACCESS_KEYS: `${newKey},${oldKey}` })
    expect([rotated.code, rotated.stderr]).toEqual([0, ''])
    // serve refuses to start on any value still under a key it lacks: every token, secret and flow moved.
    const after = await startServe({ sandbox: true, databaseUrl, keys: newKey })
    try {
      // The same browser: its cookie names localhost, whatever the port.
      const again = await (await browser.fetch(new URL('/auth/session', after.url), { headers: CSRF })).json()
      expect(again).toEqual({ ...(session as object), expiresAt: expect.any(String) })
    } finally {
      await after.stop()
    }
  })
})

describe('all-access serve --sandbox under an https PUBLIC_URL (behind a TLS proxy)', () => {
  it('sets the session cookie as __Host-, Secure, HttpOnly, SameSite=Strict, Path=/ at login, and reads it', async () => {
    const publicUrl = 'https://app.example'
    const serve = await startServe({ sandbox: true, env: { PUBLIC_URL: publicUrl } })
    try {
      const browser = new BrowserSession()
      // The provider sends the browser to the public URL: the TLS proxy, played here, passes the request on.
      const stopAt = (u: URL) => u.origin === publicUrl
      let result = await browser.navigate(new URL('/auth/login/sandbox-oidc', serve.url), { stopAt })
      for (let step = 0; step < 4 && !result.stopped; step++) {
        const { action, fields } = readForm(await result.response.text(), result.url, 'allow')
        result = await browser.navigate(action, { init: { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: fields.toString() }, stopAt })
      }
      expect(result.url.pathname).toBe('/auth/callback/sandbox-oidc')
      const flow = browser.cookie(`__Host-${FLOW}`)!
      const callback = await fetch(new URL(result.url.pathname + result.url.search, serve.url), { redirect: 'manual', headers: { Cookie: `${flow.name}=${flow.value}` } })
      expect([callback.status, callback.headers.get('location')]).toEqual([302, '/'])
      const cookies = callback.headers.getSetCookie()
      const session = cookies.find((c) => c.startsWith(`__Host-${SESSION}=`) && !c.startsWith(`__Host-${SESSION}=;`))!
      expect(session).toMatch(new RegExp(`^__Host-${SESSION}=[A-Za-z0-9_-]{43};`))
      expect([attribute(session, 'secure'), attribute(session, 'httponly'), String(attribute(session, 'samesite')).toLowerCase(), attribute(session, 'path'), attribute(session, 'domain')]).toEqual([true, true, 'strict', '/', undefined])
      const deleted = cookies.find((c) => c.startsWith(`__Host-${FLOW}=`))!
      expect([deleted.startsWith(`__Host-${FLOW}=;`), attribute(deleted, 'secure'), attribute(deleted, 'path')]).toEqual([true, true, '/'])
      const id = /^[^=]+=([^;]+)/.exec(session)![1]
      const read = await fetch(new URL('/auth/session', serve.url), { headers: { ...CSRF, Cookie: `__Host-${SESSION}=${id}` } })
      expect((await read.json()).authenticated).toBe(true)
      // The name without its prefix is not the session under https.
      const unprefixed = await fetch(new URL('/auth/session', serve.url), { headers: { ...CSRF, Cookie: `${SESSION}=${id}` } })
      expect(await unprefixed.json()).toEqual({ authenticated: false })
    } finally {
      await serve.stop()
    }
  })
})

describe('all-access serve --sandbox with a login rate limit (ALLACCESS_LOGIN_RATE_LIMIT)', () => {
  it('answers 429 rate_limited with Retry-After to login starts from one address past the limit', async () => {
    const serve = await startServe({ sandbox: true, env: { ALLACCESS_LOGIN_RATE_LIMIT: '2' } })
    try {
      const start = () => fetch(new URL('/auth/login/sandbox-oidc', serve.url), { redirect: 'manual' })
      expect([(await start()).status, (await start()).status]).toEqual([302, 302])
      const limited = await start()
      expect(limited.headers.get('retry-after')).toMatch(/^[1-9]\d*$/)
      expect(await contractError(limited)).toEqual(refusal(429, 'rate_limited'))
    } finally {
      await serve.stop()
    }
  })
})

describe('all-access serve --sandbox started again, its providers having forgotten every token', () => {
  it('answers 401 reauth_required for an account whose token the provider rejects, marks it reauth_required, and a new login makes it active again', async () => {
    const databaseUrl = `sqlite://${join(scratchFolder('aa-contract-'), 'db.sqlite3')}`
    const keys = generateKey()
    const browser = new BrowserSession()
    const first = await startServe({ sandbox: true, databaseUrl, keys })
    try {
      await sandboxLogin(browser, first.url, 'sandbox-oidc')
      await sandboxLogin(browser, first.url, 'sandbox-oauth1')
      expect((await browser.fetch(new URL('/api/sandbox-oauth1/echo.json', first.url), { headers: CSRF })).status).toBe(200)
    } finally {
      await first.stop()
    }
    // The sandbox providers keep their tokens in memory: started again, they know none of those issued.
    const again = await startServe({ sandbox: true, databaseUrl, keys })
    try {
      const statuses = async () => Object.fromEntries(((await (await browser.fetch(new URL('/auth/session', again.url), { headers: CSRF })).json()) as { accounts: { provider: string; status: string }[] }).accounts.map((a) => [a.provider, a.status]))
      for (const [provider, path] of [['sandbox-oauth1', 'echo.json'], ['sandbox-oidc', 'me']]) {
        const call = () => browser.fetch(new URL(`/api/${provider}/${path}`, again.url), { headers: CSRF })
        expect([provider, await contractError(await call())]).toEqual([provider, refusal(401, 'reauth_required')])
        // And so it stays until the next login.
        expect([provider, await contractError(await call())]).toEqual([provider, refusal(401, 'reauth_required')])
      }
      expect(await statuses()).toEqual({ 'sandbox-oidc': 'reauth_required', 'sandbox-oauth1': 'reauth_required' })
      await sandboxLogin(browser, again.url, 'sandbox-oauth1')
      expect(await statuses()).toEqual({ 'sandbox-oidc': 'reauth_required', 'sandbox-oauth1': 'active' })
      expect((await browser.fetch(new URL('/api/sandbox-oauth1/echo.json', again.url), { headers: CSRF })).status).toBe(200)
    } finally {
      await again.stop()
    }
  })
})
