import { inspect } from 'node:util'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { AllAccessError } from '../server/errors.ts'
import { createAllAccess } from '../server/all-access.ts'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startEchoUpstream, type EchoUpstream } from './support/echo-upstream.ts'
import { cacheLapse } from './support/eventually.ts'
import { startRecordingServer } from './support/recording-server.ts'
import { signedIn } from './support/signed-in.ts'
import { BrowserSession } from './support/browser-session.ts'
import { login, session } from './support/login.ts'
import { startOAuth1Provider, type RunningOAuth1Provider } from './support/oauth1-sandbox.ts'

/** What `account.apiClient.request` threw, for assertions on its contract code. */
const thrown = (call: Promise<unknown>) => call.then(() => null, (error: unknown) => error as AllAccessError)

describe.each(databases)('account.apiClient on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let upstream: EchoUpstream
  let tokens: Awaited<ReturnType<typeof startRecordingServer>>

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    upstream = await startEchoUpstream()
    tokens = await startRecordingServer(() => ({ status: 200, type: 'application/json', body: JSON.stringify({ access_token: 'token-fresh', token_type: 'Bearer', expires_in: 3600 }) }))
    bff = await startBff(created.url)
  })

  beforeEach(() => {
    upstream.received.length = 0
    tokens.received.length = 0
  })

  afterAll(async () => {
    await bff?.close()
    await tokens?.close()
    await upstream?.close()
    await drop?.()
  })

  /** A provider `name` whose API is the echo upstream and whose token endpoint the recording server, and an account there. */
  async function accountAt(name: string, accountTokens: Parameters<typeof signedIn>[2], options: Record<string, unknown> = {}) {
    await bff.addProvider(name, {
      authorizationUrl: 'https://idp.example/authorize',
      accessTokenUrl: `${tokens.url}/token`,
      profileUrl: 'https://idp.example/me',
      apiBaseUrl: `${upstream.url}/v1`,
      clientId: 'id',
      clientSecret: 'secret',
      ...options,
    })
    const { userId, accountId } = await signedIn(bff, name, accountTokens)
    const account = await bff.allAccess.accountFor(userId, name)
    if (!account) throw new Error(`no account at ${name}`)
    return { account, accountId }
  }

  it('refuses with unknown_provider, as the proxy does, a call for a provider disabled since the account was linked: nothing is sent, no refresh is tried, the account stays active', async () => {
    const { account, accountId } = await accountAt('disabled', { accessToken: 'token-disabled', refreshToken: 'refresh-disabled', expiresAt: Date.now() - 1000 })
    await bff.store.db('providers').where({ name: 'disabled' }).update({ client_secret: null })
    await cacheLapse()
    const error = await thrown(account.apiClient.request('get', `${upstream.url}/v1/me`))
    expect(error).toBeInstanceOf(AllAccessError)
    expect(error?.code).toBe('unknown_provider')
    expect(upstream.received).toHaveLength(0)
    expect(tokens.received).toHaveLength(0)
    expect((await bff.store.accounts.get(accountId))?.status).toBe('active')
  })
  it('keeps the tokens out of what host code prints, serialises or copies of an account, while they stay readable', async () => {
    const { account } = await accountAt('printed', { accessToken: 'token-printed', refreshToken: 'refresh-printed', tokenSecret: 'secret-printed' })
    await account.apiClient.request('get', `${upstream.url}/v1/me`)
    expect([account.accessToken, account.refreshToken, account.tokenSecret]).toEqual(['token-printed', 'refresh-printed', 'secret-printed'])
    for (const shown of [inspect(account, { depth: Infinity }), JSON.stringify(account), JSON.stringify({ ...account })]) {
      expect(shown).toMatch(/provider["']?: ?["']printed["']/)
      expect(shown).not.toMatch(/token-printed|refresh-printed|secret-printed/)
    }
    // Its API client shows no more than whose it is: not the service behind it, whose caches hold tokens.
    expect(inspect(account.apiClient, { depth: Infinity })).toBe(`AccountApiClient { accountId: ${account.id} }`)
  })

  it("sends a JSON body with the media type the caller names (JSON Merge Patch, JSON:API), else application/json", async () => {
    const { account } = await accountAt('json-types', { accessToken: 'token-json' })
    await account.apiClient.request('patch', `${upstream.url}/v1/repos/1`, { json: { name: 'renamed' }, headers: { 'Content-Type': 'application/merge-patch+json' } })
    await account.apiClient.request('post', `${upstream.url}/v1/articles`, { json: { data: { type: 'articles' } }, headers: { 'content-type': 'application/vnd.api+json' } })
    await account.apiClient.request('post', `${upstream.url}/v1/notes`, { json: { text: 'plain' } })
    expect(upstream.received.map((r) => [r.headers['content-type'], r.body])).toEqual([
      ['application/merge-patch+json', '{"name":"renamed"}'],
      ['application/vnd.api+json', '{"data":{"type":"articles"}}'],
      ['application/json', '{"text":"plain"}'],
    ])
  })
  it('adds its query parameters after the query the URL was written with, which goes as written', async () => {
    const { account } = await accountAt('query-as-written', { accessToken: 'token-query' })
    await account.apiClient.request('get', `${upstream.url}/v1/search?pretty&fields=id,name&q=a%20b`, { query: { page: 2, tag: ['x y', 'z'] } })
    await account.apiClient.request('get', `${upstream.url}/v1/search`, { query: new URLSearchParams([['q', 'ü+']]) })
    expect(upstream.received.map((r) => r.url)).toEqual(['/v1/search?pretty&fields=id,name&q=a%20b&page=2&tag=x+y&tag=z', '/v1/search?q=%C3%BC%2B'])
  })
  it("never follows a provider's redirect, which would carry the token elsewhere: the 302 is the answer", async () => {
    const { account } = await accountAt('redirecting', { accessToken: 'token-redirect' })
    const answer = await account.apiClient.request('get', `${upstream.url}/v1/redirect`)
    expect([answer.status, answer.ok, answer.headers.get('location'), answer.body]).toEqual([302, false, 'https://evil.example/landing', { moved: true }])
    expect(upstream.received.map((r) => r.url)).toEqual(['/v1/redirect'])
  })

  it('reads an answer sent as deflate in either form browsers read, zlib-wrapped or raw', async () => {
    const { account } = await accountAt('deflating', { accessToken: 'token-deflate' })
    for (const coding of ['deflate', 'deflate-raw']) {
      const answer = await account.apiClient.request('get', `${upstream.url}/v1/gzipped-always?coding=${coding}`)
      expect([answer.status, answer.text, answer.headers.get('content-encoding')], coding).toEqual([200, 'zipped', null])
    }
  })

  it('answers a 204 and a HEAD with an empty text and body', async () => {
    const { account } = await accountAt('empty-answers', { accessToken: 'token-empty' })
    const noContent = await account.apiClient.request('delete', `${upstream.url}/v1/status/204`)
    const head = await account.apiClient.request('head', `${upstream.url}/v1/items`)
    expect([noContent.status, noContent.text, noContent.body, head.status, head.text, head.body]).toEqual([204, '', '', 200, '', ''])
  })

  it('throws upstream_timeout past its time limit, a limit longer than a timer can count included, and upstream_unreachable for a refused connection', async () => {
    const { account } = await accountAt('time-limits', { accessToken: 'token-time' })
    const late = await thrown(account.apiClient.request('get', `${upstream.url}/v1/held`, { timeoutMs: 50 }))
    expect(late?.code).toBe('upstream_timeout')
    upstream.releaseHeld()
    // Node's timers count to 2^31 - 1 ms (24.8 days) and fire at once past it.
    for (const timeoutMs of [40 * 24 * 3600 * 1000, Number.POSITIVE_INFINITY]) {
      let settled = false
      const long = account.apiClient.request('get', `${upstream.url}/v1/held`, { timeoutMs }).finally(() => (settled = true))
      while (upstream.held() === 0 && !settled) await new Promise((resolve) => setTimeout(resolve, 10))
      upstream.releaseHeld()
      expect((await long).body).toEqual({ held: true })
    }
    const refused = await thrown(account.apiClient.request('get', 'http://127.0.0.1:1/v1/me'))
    expect(refused?.code).toBe('upstream_unreachable')
  })
  it('refuses a time limit or an answer cap that is not a positive number, instead of timing out at once or reading without a cap', async () => {
    const { account } = await accountAt('bad-limits', { accessToken: 'token-limits' })
    for (const options of [{ timeoutMs: Number.NaN }, { timeoutMs: 0 }, { maxBytes: Number.NaN }, { maxBytes: -1 }]) {
      await expect(account.apiClient.request('get', `${upstream.url}/v1/me`, options)).rejects.toThrow(TypeError)
    }
    expect(upstream.received).toHaveLength(0)
  })
  it('adds the token of a query-token provider after the query as written, in place of any access_token the URL had', async () => {
    const { account } = await accountAt('query-token', { accessToken: 'token in query' }, { tokenPlacement: 'query' })
    await account.apiClient.request('get', `${upstream.url}/v1/me?fields=id,name&pretty&q=a%20b`)
    await account.apiClient.request('get', `${upstream.url}/v1/me?access_token=stale&a=1&%61ccess_token=other`, { query: { b: 2 } })
    expect(upstream.received.map((r) => r.url)).toEqual(['/v1/me?fields=id,name&pretty&q=a%20b&access_token=token%20in%20query', '/v1/me?a=1&b=2&access_token=token%20in%20query'])
  })
})

describe.each(databases)('account.apiClient of an OAuth 1.0a account on $kind, against the strict provider', (database) => {
  const consumer = { key: 'consumer-key', secret: 'consumer-secret-abcdefghijklmnop' }
  let drop: () => Promise<void>
  let bff: TestBff
  let provider: RunningOAuth1Provider

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    provider = await startOAuth1Provider({ consumers: [consumer], autoApprove: 'alice' })
    bff = await startBff(created.url)
    await bff.addProvider('twitter', {
      requestTokenUrl: provider.requestTokenUrl,
      authorizationUrl: provider.authorizationUrl,
      accessTokenUrl: provider.accessTokenUrl,
      profileUrl: provider.profileUrl,
      apiBaseUrl: provider.apiBaseUrl,
      identifierPath: 'id_str',
      clientId: consumer.key,
      clientSecret: consumer.secret,
    })
  })

  afterAll(async () => {
    await bff?.close()
    await provider?.close()
    await drop?.()
  })

  async function signedInAccount() {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'twitter')
    const info = await session(browser, bff.url)
    if (!info.authenticated) throw new Error('not signed in')
    const account = await bff.allAccess.accountFor(Number(info.user.id), 'twitter')
    if (!account) throw new Error('no account')
    return account
  }

  /** The provider's verdict on the last request it answered: signed right, or why not. */
  const lastVerdict = () => provider.requests.at(-1)

  it('signs what it sends: the query as written and its own query parameters, repeated names, empty values, reserved and non-ASCII characters', async () => {
    const account = await signedInAccount()
    const answer = await account.apiClient.request('get', `${provider.apiBaseUrl}/echo.json?pretty&b=x+y&c=%2B&d=a,b&e=`, { query: { a: ['2', '1'], 'n é': "ü ~*!'()", empty: '' } })
    expect(lastVerdict()).toEqual({ method: 'GET', path: '/1.1/echo.json', ok: true })
    expect(answer.status).toBe(200)
    expect(answer.body).toEqual({ method: 'GET', query: { pretty: '', b: 'x y', c: '+', d: 'a,b', e: '', a: '1', 'n é': "ü ~*!'()", empty: '' }, form: {}, userId: '1001' })
  })

  it('signs a form body together with a query parameter of the same name; a JSON body is sent unsigned', async () => {
    const account = await signedInAccount()
    const form = await account.apiClient.request('post', `${provider.apiBaseUrl}/echo.json?x=1`, { body: { x: '2', é: 'ñ', plus: 'a+b c', star: '*', empty: '' } })
    expect([lastVerdict()?.ok, form.body]).toEqual([true, { method: 'POST', query: { x: '1' }, form: { x: '2', é: 'ñ', plus: 'a+b c', star: '*', empty: '' }, userId: '1001' }])
    // Repeated fields, as python-requests' data={'tag': [...]} sends them: both signed, sorted by value.
    const repeated = await account.apiClient.request('post', `${provider.apiBaseUrl}/echo.json`, { body: { tag: ['b', 'a'], n: 1 } })
    expect([lastVerdict()?.ok, repeated.status]).toEqual([true, 200])
    const json = await account.apiClient.request('post', `${provider.apiBaseUrl}/echo.json`, { json: { status: 'not signed' } })
    expect([lastVerdict()?.ok, json.status]).toEqual([true, 200])
    const head = await account.apiClient.request('head', `${provider.apiBaseUrl}/echo.json?q=1`)
    expect([lastVerdict(), head.status, head.text]).toEqual([{ method: 'HEAD', path: '/1.1/echo.json', ok: true }, 200, ''])
  })

  it('logs no request token, verifier, access token or secret of a login, of its failures (denied, mismatch, replay, wrong verifier) or of its API calls', async () => {
    const secrets: string[] = [consumer.secret]
    /** Stops a login at the callback the provider sent the browser to. */
    const atCallback = async (browser: BrowserSession) => (await browser.navigate(new URL('/auth/login/twitter', bff.url), { stopAt: (url) => url.pathname.startsWith('/auth/callback/') })).url
    const browser = new BrowserSession()
    const callback = await atCallback(browser)
    secrets.push(callback.searchParams.get('oauth_token')!, callback.searchParams.get('oauth_verifier')!)
    const replay = new BrowserSession()
    replay.cookies.push(...browser.cookies.map((c) => ({ ...c })))
    expect((await browser.fetch(callback)).headers.get('location')).toBe('/')
    expect((await replay.fetch(callback)).headers.get('location')).toBe('/?auth_error=invalid_state')
    const info = await session(browser, bff.url)
    const account = await bff.allAccess.accountFor(Number(info.authenticated && info.user.id), 'twitter')
    secrets.push(account!.accessToken!, account!.tokenSecret!)
    await account!.apiClient.request('get', `${provider.apiBaseUrl}/account/verify_credentials.json`)
    for (const tweak of [(p: URLSearchParams) => p.set('denied', p.get('oauth_token')!), (p: URLSearchParams) => p.set('oauth_token', 'other'), (p: URLSearchParams) => p.set('oauth_verifier', 'wrong')]) {
      const failing = new BrowserSession()
      const url = await atCallback(failing)
      secrets.push(url.searchParams.get('oauth_token')!, url.searchParams.get('oauth_verifier')!)
      tweak(url.searchParams)
      expect((await failing.fetch(url)).headers.get('location')).toMatch(/^\/\?auth_error=(access_denied|invalid_state|token_request_failed)$/)
    }
    const logged = bff.logs.join('\n')
    expect(logged).toMatch(/token_request_failed/)
    for (const secret of secrets) expect(logged).not.toContain(secret)
  })

  it('throws reauth_required and marks the account when the provider says the token is dead; it cannot be refreshed', async () => {
    const account = await signedInAccount()
    provider.revokeUserTokens('1001')
    const error = await thrown(account.apiClient.request('get', `${provider.apiBaseUrl}/account/verify_credentials.json`))
    expect(error?.code).toBe('reauth_required')
    expect((await bff.store.accounts.get(account.id))?.status).toBe('reauth_required')
  })
})
