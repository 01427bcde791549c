import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { authError, login, rowCounts, session } from './support/login.ts'
import type { UserRecord } from '../server/store/users.ts'

/** An OpenID sandbox signing alice in without a page, added to `bff` as `idp`. */
async function sandboxIdp(bff: TestBff): Promise<RunningOidcSandbox> {
  const idp = await startOidcSandbox({ clients: [{ clientId: 'h', clientSecret: 'hook-secret-0123456789', redirectUris: [`${bff.url}/auth/callback/idp`] }], autoApprove: 'alice' })
  await bff.addProvider('idp', { issuer: idp.issuer, clientId: 'h', clientSecret: 'hook-secret-0123456789', scope: 'openid profile email' })
  return idp
}

// A host's getUserId that hands back what it found in the profile as it is. Turned into text, an
// object is "[object Object]" and a number past 2^53 the id JSON.parse rounded it onto: every such
// profile of the provider would be one identity, and sign in as whoever came first.
describe('getUserId answering something other than a string', () => {
  let drop: () => Promise<void>
  let bff: TestBff
  let idp: RunningOidcSandbox
  let answer: (profile: Record<string, unknown>) => unknown

  beforeAll(async () => {
    const created = await databases[0].create()
    drop = created.drop
    bff = await startBff(created.url, { hooks: { getUserId: ({ profile }) => answer(profile) as string } })
    idp = await sandboxIdp(bff)
  })

  afterAll(async () => {
    await bff?.close()
    await idp?.close()
    await drop?.()
  })

  it.each<[string, (profile: Record<string, unknown>) => unknown]>([
    ['an object', (profile) => ({ sub: profile.sub })],
    ['an array', (profile) => [profile.sub, profile.email]],
    ['true', () => true],
    ['a number past 2^53', () => 2 ** 53 + 2],
  ])('refuses the login as missing_identifier when it is %s, stores nothing, and logs an error naming the hook', async (_name, given) => {
    answer = given
    const before = await rowCounts(bff.store.db)
    bff.errors.length = 0
    const landed = await login(new BrowserSession(), bff.url, 'idp', '/next')
    expect(authError(landed)).toBe('missing_identifier')
    expect(await rowCounts(bff.store.db)).toEqual(before)
    expect(bff.errors).toEqual([expect.stringMatching(/missing_identifier: the getUserId hook returned .+, not a string/)])
  })

  it('takes a whole number as its text, as the default reads a numeric id', async () => {
    answer = () => 42
    const browser = new BrowserSession()
    expect(authError(await login(browser, bff.url, 'idp', '/next'))).toBeNull()
    const info = await session(browser, bff.url)
    expect(info.authenticated && info.accounts[0].identifier).toBe('42')
  })
})

// A host's getOrCreateUser that writes with the `store` it is handed, not passing `trx`: on SQLite
// (one connection, held by the login's transaction) the write waited for the pool's 60-second limit,
// every other request of the BFF with it, and the login then failed as the database being
// unavailable; on PostgreSQL the user was written outside the login, and stayed when it failed.
describe.each(databases)('getOrCreateUser writing with the store it is given, without trx, on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let idp: RunningOidcSandbox
  let failAfterWriting = false

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url, {
      hooks: {
        getOrCreateUser: async ({ store, profile }) => {
          const user = await store.users.create(`Member ${String(profile.name)}`)
          if (failAfterWriting) throw new Error('the host app could not set up the new member')
          return user
        },
      },
    })
    idp = await sandboxIdp(bff)
  })

  afterAll(async () => {
    await bff?.close()
    await idp?.close()
    await drop?.()
  })

  it('writes nothing when the hook fails after its write: the write was part of the login', async () => {
    failAfterWriting = true
    try {
      const before = await rowCounts(bff.store.db)
      expect(authError(await login(new BrowserSession(), bff.url, 'idp', '/next'))).toBe('server_error')
      expect(await rowCounts(bff.store.db)).toEqual(before)
    } finally {
      failAfterWriting = false
    }
  })

  it('signs the new user in as the user the hook made', async () => {
    const browser = new BrowserSession()
    expect(authError(await login(browser, bff.url, 'idp', '/next'))).toBeNull()
    const info = await session(browser, bff.url)
    expect(info.authenticated && info.user.displayName).toBe('Member Alice Liddell')
  })
})

// A host's getOrCreateUser that forgot its `return`, or returns its own user object: the login failed
// as not_authenticated with only an info line, or as a database error naming no hook.
describe('getOrCreateUser answering something other than a user', () => {
  let drop: () => Promise<void>
  let bff: TestBff
  let idp: RunningOidcSandbox
  let answer: () => unknown

  beforeAll(async () => {
    const created = await databases[0].create()
    drop = created.drop
    bff = await startBff(created.url, { hooks: { getOrCreateUser: async () => answer() as UserRecord } })
    idp = await sandboxIdp(bff)
  })

  afterAll(async () => {
    await bff?.close()
    await idp?.close()
    await drop?.()
  })

  it.each<[string, () => unknown]>([
    ['nothing', () => undefined],
    ['null', () => null],
    ['a user without an id', () => ({ displayName: 'Alice' })],
    ['a user whose id is text', () => ({ id: 'alice', displayName: 'Alice' })],
  ])('fails the login as server_error when it is %s, stores nothing, and logs an error naming the hook', async (_name, given) => {
    answer = given
    const before = await rowCounts(bff.store.db)
    bff.errors.length = 0
    expect(authError(await login(new BrowserSession(), bff.url, 'idp', '/next'))).toBe('server_error')
    expect(await rowCounts(bff.store.db)).toEqual(before)
    expect(bff.errors).toEqual([expect.stringMatching(/server_error: the getOrCreateUser hook returned .+, not a user/)])
  })
})

// A host's getErrorRedirect that forgot its `return` sent every failed login to `Location:
// undefined`, a path under /auth/callback/ that answers 404 JSON; one that threw answered a
// navigation with the contract's 500 JSON. Either way the user saw no sign-in page.
describe('getErrorRedirect answering something other than a location, or throwing', () => {
  let drop: () => Promise<void>
  let bff: TestBff
  let answer: () => unknown

  beforeAll(async () => {
    const created = await databases[0].create()
    drop = created.drop
    bff = await startBff(created.url, { hooks: { getErrorRedirect: () => answer() as string } })
    await bff.addProvider('p', { authorizationUrl: 'https://p.example/a', accessTokenUrl: 'https://p.example/t', profileUrl: 'https://p.example/me', clientId: 'c', clientSecret: 's' })
  })

  afterAll(async () => {
    await bff?.close()
    await drop?.()
  })

  it.each<[string, () => unknown]>([
    ['nothing', () => undefined],
    ['an empty string', () => ''],
    ['an object', () => ({ path: '/sign-in' })],
    [
      'a throw',
      () => {
        throw new Error('the sign-in page is not configured')
      },
    ],
  ])("lands a failed login where the default sends it when the hook answers %s, and logs an error naming the hook", async (_name, given) => {
    answer = given
    bff.errors.length = 0
    const response = await new BrowserSession().fetch(new URL('/auth/callback/p?state=x&code=y', bff.url))
    expect([response.status, response.headers.get('location')]).toEqual([302, '/?auth_error=invalid_state'])
    expect(bff.errors).toEqual([expect.stringMatching(/getErrorRedirect hook/)])
  })
})

// A host's getAdditionalParameters that passes a query parameter on (`login_hint: ctx.query.email`)
// sent `login_hint=undefined` when the login had none: the provider prefilled "undefined". One
// answering a query string instead of an object sent each of its characters as a parameter.
describe('getAdditionalParameters answering values that are not text', () => {
  let drop: () => Promise<void>
  let bff: TestBff
  let answer: (query: Record<string, unknown>) => unknown

  beforeAll(async () => {
    const created = await databases[0].create()
    drop = created.drop
    bff = await startBff(created.url, { hooks: { getAdditionalParameters: ({ ctx }) => answer(ctx.query) as Record<string, string> } })
    await bff.addProvider('p', { authorizationUrl: 'https://p.example/a', accessTokenUrl: 'https://p.example/t', profileUrl: 'https://p.example/me', clientId: 'c', clientSecret: 's', extraAuthorizationParams: { prompt: 'consent' } })
  })

  afterAll(async () => {
    await bff?.close()
    await drop?.()
  })

  it('leaves out a parameter given as undefined or null, and sends a number as its text', async () => {
    answer = (query) => ({ login_hint: query.email, prompt: null, max_age: 300 })
    const start = await new BrowserSession().fetch(new URL('/auth/login/p', bff.url))
    const sent = new URL(start.headers.get('location')!).searchParams
    expect([start.status, sent.has('login_hint'), sent.get('prompt'), sent.get('max_age')]).toEqual([302, false, 'consent', '300'])
  })

  it.each<[string, (query: Record<string, unknown>) => unknown]>([
    ['a query string', () => 'login_hint=alice'],
    ['an array value', (query) => ({ login_hint: [query.email, 'x'] })],
    ['an object value', () => ({ claims: { id_token: { acr: null } } })],
  ])('fails the login start as server_error when it answers %s, and logs an error naming the hook', async (_name, given) => {
    answer = given
    bff.errors.length = 0
    const start = await new BrowserSession().fetch(new URL('/auth/login/p', bff.url))
    expect([start.status, start.headers.get('location')]).toEqual([302, '/?auth_error=server_error'])
    expect(bff.errors).toEqual([expect.stringMatching(/server_error: the getAdditionalParameters hook returned/)])
  })
})

// A host's getCallbackUrl was used as it answered: a relative path or a non-URL went to the
// provider as the redirect_uri (which it refuses on its own page, the user stranded there), a URL
// on another origin brought the user back where the login's cookie is not sent (invalid_state, no
// word of why), and a throw was a server_error whose line named no hook.
describe('getCallbackUrl answering something other than a URL on the public origin, or throwing', () => {
  let drop: () => Promise<void>
  let bff: TestBff
  let answer: (publicUrl: URL) => unknown

  beforeAll(async () => {
    const created = await databases[0].create()
    drop = created.drop
    bff = await startBff(created.url, { hooks: { getCallbackUrl: ({ publicUrl }) => answer(publicUrl) as string } })
    await bff.addProvider('p', { authorizationUrl: 'https://p.example/a', accessTokenUrl: 'https://p.example/t', profileUrl: 'https://p.example/me', clientId: 'c', clientSecret: 's' })
  })

  afterAll(async () => {
    await bff?.close()
    await drop?.()
  })

  it('sends the login on with a URL of its own on the public origin, whatever its path and query, a URL object as its text', async () => {
    for (const given of [(publicUrl: URL) => new URL('/sign-in/return/p?via=hook', publicUrl).toString(), (publicUrl: URL) => new URL('/sign-in/return/p?via=hook', publicUrl)]) {
      answer = given
      const start = await new BrowserSession().fetch(new URL('/auth/login/p', bff.url))
      expect([start.status, new URL(start.headers.get('location')!).searchParams.get('redirect_uri')]).toEqual([302, `${bff.url}/sign-in/return/p?via=hook`])
    }
  })

  it.each<[string, (publicUrl: URL) => unknown]>([
    ['nothing', () => undefined],
    ['a path', () => '/auth/callback/p'],
    ['text that is no URL', () => 'callback p'],
    ['a URL on another origin', () => 'https://elsewhere.example/auth/callback/p'],
    ['a URL on another port', (publicUrl) => `${publicUrl.protocol}//${publicUrl.hostname}:1/auth/callback/p`],
    ['a URL with a fragment', (publicUrl) => new URL('/auth/callback/p#done', publicUrl).toString()],
    [
      'a throw',
      () => {
        throw new Error('no callback configured for p')
      },
    ],
  ])('fails the login start as server_error when it answers %s, and logs an error naming the hook', async (_name, given) => {
    answer = given
    bff.errors.length = 0
    const start = await new BrowserSession().fetch(new URL('/auth/login/p', bff.url))
    expect([start.status, start.headers.get('location')]).toEqual([302, '/?auth_error=server_error'])
    expect(bff.errors).toEqual([expect.stringMatching(/^error req=\S+ server_error: the getCallbackUrl hook (returned|failed)/)])
  })
})
