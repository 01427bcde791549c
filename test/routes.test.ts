import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AUTH_ERROR_PARAM, CSRF_HEADER, CSRF_VALUE, routes } from '../shared/routes.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'

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

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url)
  })

  afterAll(async () => {
    await bff?.close()
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
})
