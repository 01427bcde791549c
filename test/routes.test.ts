import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AUTH_ERROR_PARAM, CSRF_HEADER, CSRF_VALUE, routes } from '../shared/routes.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startEchoUpstream } from './support/echo-upstream.ts'
import { rawRequest } from './support/raw-http.ts'
import { signedIn } from './support/signed-in.ts'

const CSRF = { 'X-CSRF': '1' }

// The one place the contract's paths are written out: the client and the tests build them with `routes`.
describe('the shared routes', () => {
  it('are the paths of DESIGN.md, with the provider name encoded as one segment', () => {
    expect(routes.providers).toBe('/auth/providers')
    expect(routes.login('github')).toBe('/auth/login/github')
    expect(routes.callback('github')).toBe('/auth/callback/github')
    expect(routes.session).toBe('/auth/session')
    expect(routes.logout).toBe('/auth/logout')
    expect(routes.account('github')).toBe('/auth/accounts/github')
    expect(routes.api('github', '/user/repos')).toBe('/api/github/user/repos')
    expect(routes.login('a/b?c')).toBe('/auth/login/a%2Fb%3Fc')
  })

  it('name the CSRF header and the failed-login parameter of DESIGN.md', () => {
    expect([CSRF_HEADER, CSRF_VALUE, AUTH_ERROR_PARAM]).toEqual(['X-CSRF', '1', 'auth_error'])
  })
})

describe.each(databases)('routes of the BFF on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url)
    upstream = await startEchoUpstream()
  })

  afterAll(async () => {
    await bff?.close()
    await upstream?.close()
    await drop?.()
  })

  it.each(['/auth', '/auth/', '/auth/nothing', '/auth/session/extra', '/auth/login', '/api'])('answer an unknown route %s with 404 not_found, never the SPA', async (path) => {
    const response = await fetch(new URL(path, bff.url), { headers: CSRF })
    expect(response.status).toBe(404)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(await response.json()).toEqual({ error: 'not_found', message: expect.any(String) })
  })

  it.each([
    ['POST', '/auth/providers', 'HEAD, GET'],
    ['DELETE', '/auth/session', 'HEAD, GET'],
    ['GET', '/auth/logout', 'POST'],
    ['PUT', '/auth/accounts/github', 'DELETE'],
    ['POST', '/auth/login/github', 'HEAD, GET'],
  ])('answer %s %s with 405 method_not_allowed and Allow: %s', async (method, path, allow) => {
    const response = await fetch(new URL(path, bff.url), { method, headers: CSRF })
    expect(response.status).toBe(405)
    expect(response.headers.get('allow')).toBe(allow)
    expect(await response.json()).toEqual({ error: 'method_not_allowed', message: expect.any(String) })
  })

  it('takes a trailing slash, HEAD for GET, and a percent-encoded provider name as the same route', async () => {
    const signedOut = { authenticated: false }
    expect(await (await fetch(new URL('/auth/session/', bff.url), { headers: CSRF })).json()).toEqual(signedOut)
    const head = await fetch(new URL('/auth/session', bff.url), { method: 'HEAD', headers: CSRF })
    expect([head.status, await head.text()]).toEqual([200, ''])
    // %6E%6F%70%65 is "nope": decoded before the provider is looked up, so it is the same unknown provider.
    const encoded = await fetch(new URL('/auth/login/%6E%6F%70%65', bff.url), { redirect: 'manual' })
    expect([encoded.status, (await encoded.json()).error]).toEqual([404, 'unknown_provider'])
    const malformed = await fetch(new URL('/auth/login/%E0%A4%A', bff.url), { redirect: 'manual' })
    expect([malformed.status, (await malformed.json()).error]).toEqual([404, 'unknown_provider'])
  })

  it('still answers an unknown provider on a known route with 404 unknown_provider', async () => {
    const response = await fetch(new URL('/auth/login/nope', bff.url), { redirect: 'manual' })
    expect(response.status).toBe(404)
    expect((await response.json()).error).toBe('unknown_provider')
  })

  // PostgreSQL refuses U+0000 in a query's text: looked up as it came, %00 was a 500 there, and an error line anyone could write.
  it('answers a provider name no provider can have (%00) as an unknown provider on every route, never 500', async () => {
    await bff.addProvider('nul-check', { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', apiBaseUrl: `${upstream.url}/v1`, clientId: 'id', clientSecret: 'secret' })
    const { browser } = await signedIn(bff, 'nul-check', { accessToken: 'token-1' })
    const signedInHeaders: [string, string][] = [['X-CSRF', '1'], ['Cookie', browser.cookieHeader(new URL(bff.url))]]
    const errorsBefore = bff.errors.length
    const answers: [string, string, [string, string][], number, string][] = [
      ['GET', '/auth/login/%00', [], 404, 'unknown_provider'],
      ['GET', '/auth/callback/%00?code=c&state=s', [], 404, 'unknown_provider'],
      ['POST', '/auth/backchannel-logout/%00', [['Content-Type', 'application/x-www-form-urlencoded']], 404, 'unknown_provider'],
      ['DELETE', '/auth/accounts/%00', signedInHeaders, 404, 'account_not_found'],
      ['GET', '/api/%00/me', signedInHeaders, 404, 'unknown_provider'],
      ['GET', '/api/nul-check%00/me', signedInHeaders, 404, 'unknown_provider'],
    ]
    for (const [method, target, headers, status, code] of answers) {
      const answer = await rawRequest(bff.url, method, target, headers)
      const answered = answer.headers['content-type']?.startsWith('application/json') ? JSON.parse(answer.body).error : answer.headers.location
      expect({ target, status: answer.status, code: answered }).toEqual({ target, status, code })
    }
    expect(bff.errors.slice(errorsBefore)).toEqual([])
  })

  it('marks every /auth and /api answer, redirects, pages, refusals and proxied ones alike, Cache-Control: no-store and X-Content-Type-Options: nosniff', async () => {
    const endpoints = { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', clientId: 'id', clientSecret: 'secret' }
    await bff.addProvider('headers-echo', { ...endpoints, apiBaseUrl: `${upstream.url}/v1` })
    // A request token endpoint nobody listens on: the login fails before the redirect.
    await bff.addProvider('headers-down', { ...endpoints, requestTokenUrl: 'http://127.0.0.1:1/request' })
    const { browser } = await signedIn(bff, 'headers-echo', { accessToken: 'token-1' })
    const cookie = browser.cookieHeader(new URL(bff.url))
    const answers: [string, string, string, [string, string][], number][] = [
      ['a login redirect to the provider', 'GET', '/auth/login/headers-echo', [], 302],
      ['a login failing before the redirect', 'GET', '/auth/login/headers-down', [], 302],
      ['a popup login failing before the redirect', 'GET', '/auth/login/headers-down?display=popup', [], 200],
      ['a failed callback', 'GET', '/auth/callback/headers-echo?code=c&state=s', [], 302],
      ['an unknown provider', 'GET', '/auth/login/nope', [], 404],
      ['a method a route does not take', 'POST', '/auth/providers', [], 405],
      ['a missing X-CSRF', 'GET', '/auth/session', [], 403],
      ['a foreign Origin', 'GET', '/auth/session', [['X-CSRF', '1'], ['Origin', 'https://evil.example']], 403],
      ['a logout token for a provider that is not OpenID', 'POST', '/auth/backchannel-logout/headers-echo', [['Content-Type', 'application/x-www-form-urlencoded']], 404],
      ['a signed-out disconnect', 'DELETE', '/auth/accounts/headers-echo', [['X-CSRF', '1']], 401],
      ['a proxied answer', 'GET', '/api/headers-echo/me', [['X-CSRF', '1'], ['Cookie', cookie]], 200],
      ["a provider's error passed through", 'GET', '/api/headers-echo/status/404', [['X-CSRF', '1'], ['Cookie', cookie]], 404],
      ['a path that leaves the API base', 'GET', '/api/headers-echo/../x', [['X-CSRF', '1'], ['Cookie', cookie]], 400],
      ['a method the proxy does not forward', 'OPTIONS', '/api/headers-echo/me', [['X-CSRF', '1'], ['Cookie', cookie]], 405],
      ['an unknown /api route', 'GET', '/api', [['X-CSRF', '1']], 404],
      ['a logout', 'POST', '/auth/logout', [['X-CSRF', '1'], ['Cookie', cookie]], 204],
    ]
    for (const [what, method, target, headers, status] of answers) {
      const answer = await rawRequest(bff.url, method, target, headers)
      expect({ what, status: answer.status, cache: answer.headers['cache-control'], sniff: answer.headers['x-content-type-options'] }).toEqual({ what, status, cache: 'no-store', sniff: 'nosniff' })
    }
  })
})
