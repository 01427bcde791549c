import { request as httpRequest } from 'node:http'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { oauth1AuthorizationHeader, type OAuth1Credentials } from '../server/clients/oauth1-signature.ts'
import { OAuth1ProviderState, REQUEST_TOKEN_LIFETIME_MS, verifyOAuth1Request } from '../server/sandbox/oauth1-provider.ts'
import { parseOAuthAuthorization, startOAuth1Provider, type RunningOAuth1Provider } from './support/oauth1-sandbox.ts'

const consumer = { key: 'ck', secret: 'cs-0123456789' }
const callback = 'http://127.0.0.1:9/auth/callback/sandbox?keep=1'
const FORM = { 'Content-Type': 'application/x-www-form-urlencoded' }

interface Signed {
  token?: OAuth1Credentials | null
  form?: URLSearchParams
  oauthParams?: { oauth_callback?: string; oauth_verifier?: string }
  consumer?: OAuth1Credentials
  timestamp?: number
}

/** A request signed as oauth1AuthorizationHeader signs it; `tamper` changes the header before it is sent. */
async function signedFetch(method: string, url: string, signed: Signed = {}, tamper: (header: string) => string = (h) => h) {
  const header = oauth1AuthorizationHeader({ method, url, consumer: signed.consumer ?? consumer, token: signed.token, form: signed.form, oauthParams: signed.oauthParams, timestamp: signed.timestamp })
  return fetch(url, { method, headers: { Authorization: tamper(header), ...(signed.form ? FORM : {}) }, body: signed.form?.toString(), redirect: 'manual' })
}

const formOf = async (response: Response) => Object.fromEntries(new URLSearchParams(await response.text()))

describe('the strict OAuth 1.0a sandbox provider', () => {
  let provider: RunningOAuth1Provider
  let manual: RunningOAuth1Provider
  let alice: OAuth1Credentials

  const lastRequest = () => provider.requests.at(-1)

  async function requestToken(on = provider): Promise<OAuth1Credentials> {
    const response = await signedFetch('POST', on.requestTokenUrl, { oauthParams: { oauth_callback: callback } })
    expect(response.status).toBe(200)
    const values = await formOf(response)
    expect(values.oauth_callback_confirmed).toBe('true')
    return { key: values.oauth_token, secret: values.oauth_token_secret }
  }

  /** The autoApprove path: the authorization URL comes straight back to the callback. */
  async function autoApprovedVerifier(token: string): Promise<string> {
    const response = await fetch(`${provider.authorizationUrl}?oauth_token=${token}`, { redirect: 'manual' })
    expect(response.status).toBe(302)
    const location = new URL(response.headers.get('location') as string)
    expect(location.origin + location.pathname).toBe('http://127.0.0.1:9/auth/callback/sandbox')
    expect(location.searchParams.get('keep')).toBe('1')
    expect(location.searchParams.get('oauth_token')).toBe(token)
    return location.searchParams.get('oauth_verifier') as string
  }

  async function accessToken(request: OAuth1Credentials, verifier: string, on = provider) {
    return signedFetch('POST', on.accessTokenUrl, { token: request, oauthParams: { oauth_verifier: verifier } })
  }

  beforeAll(async () => {
    provider = await startOAuth1Provider({ consumers: [consumer], autoApprove: 'alice' })
    manual = await startOAuth1Provider({ consumers: [consumer] })
  })

  afterAll(async () => {
    await provider?.close()
    await manual?.close()
  })

  describe('three-legged flow', () => {
    it('issues a request token, auto-approves alice, exchanges the verifier and answers her profile', async () => {
      expect(provider.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
      expect(provider.apiBaseUrl).toBe(`${provider.url}/1.1`)
      const request = await requestToken()
      const verifier = await autoApprovedVerifier(request.key)
      const response = await accessToken(request, verifier)
      expect(response.status).toBe(200)
      const values = await formOf(response)
      expect(values).toEqual({ oauth_token: expect.any(String), oauth_token_secret: expect.any(String), user_id: '1001', screen_name: 'alice' })
      alice = { key: values.oauth_token, secret: values.oauth_token_secret }

      const profile = await signedFetch('GET', provider.profileUrl, { token: alice })
      expect(profile.status).toBe(200)
      expect(await profile.json()).toEqual({ id: 1001, id_str: '1001', screen_name: 'alice', name: 'Alice Liddell' })
      expect(provider.requests.map((r) => `${r.method} ${r.path} ${r.ok}`)).toEqual([
        'POST /oauth/request_token true',
        'GET /oauth/authorize true',
        'POST /oauth/access_token true',
        'GET /1.1/account/verify_credentials.json true',
      ])
    })

    it('shows an accessible consent page and signs bob in through its form', async () => {
      const request = await requestToken(manual)
      const pageResponse = await fetch(`${manual.authorizationUrl}?oauth_token=${request.key}`)
      expect(pageResponse.status).toBe(200)
      expect(pageResponse.headers.get('content-type')).toMatch(/^text\/html/)
      expect(pageResponse.headers.get('content-security-policy')).toContain("frame-ancestors 'none'")
      const html = await pageResponse.text()
      expect(html).toContain('<html lang="en">')
      expect(html).toContain('<label for="user">User</label>')
      expect(html).toContain('<select id="user" name="user"><option value="1001">Alice Liddell (@alice)</option><option value="1002">Bob Builder (@bob)</option></select>')
      expect(html).toContain(`<input type="hidden" name="oauth_token" value="${request.key}">`)
      expect(html).toContain('<button type="submit" name="decision" value="allow">Allow</button>')
      expect(html).toContain('<button type="submit" name="decision" value="deny">Deny</button>')
      expect(html).toContain('<form method="post" action="/oauth/authorize">')

      const allowed = await fetch(manual.authorizationUrl, { method: 'POST', headers: FORM, body: new URLSearchParams({ oauth_token: request.key, user: '1002', decision: 'allow' }).toString(), redirect: 'manual' })
      expect(allowed.status).toBe(302)
      const verifier = new URL(allowed.headers.get('location') as string).searchParams.get('oauth_verifier') as string
      const response = await accessToken(request, verifier, manual)
      expect(response.status).toBe(200)
      expect(await formOf(response)).toMatchObject({ user_id: '1002', screen_name: 'bob' })
    })

    it('sends "denied" back to the callback when the user denies, and the token is gone', async () => {
      const request = await requestToken(manual)
      const denied = await fetch(manual.authorizationUrl, { method: 'POST', headers: FORM, body: new URLSearchParams({ oauth_token: request.key, user: '1001', decision: 'deny' }).toString(), redirect: 'manual' })
      expect(denied.status).toBe(302)
      const location = new URL(denied.headers.get('location') as string)
      expect(location.searchParams.get('denied')).toBe(request.key)
      expect(location.searchParams.has('oauth_verifier')).toBe(false)
      expect((await fetch(`${manual.authorizationUrl}?oauth_token=${request.key}`)).status).toBe(400)
    })

    it('answers 400 with a page for an unknown request token', async () => {
      const response = await fetch(`${manual.authorizationUrl}?oauth_token=nope`)
      expect(response.status).toBe(400)
      expect(await response.text()).toContain('This sign-in link is not valid any more.')
      expect(manual.requests.at(-1)).toEqual({ method: 'GET', path: '/oauth/authorize', ok: false, reason: 'unknown or used request token' })
    })
  })

  describe('API', () => {
    it('posts a status from a signed form body and reads it back from the timeline with a signed query', async () => {
      const posted = await signedFetch('POST', `${provider.apiBaseUrl}/statuses/update.json`, { token: alice, form: new URLSearchParams({ status: 'Hello Ladies + Gentlemen, 100% signed! ~*' }) })
      expect(posted.status).toBe(200)
      expect(await posted.json()).toMatchObject({ id_str: '1', text: 'Hello Ladies + Gentlemen, 100% signed! ~*' })
      await signedFetch('POST', `${provider.apiBaseUrl}/statuses/update.json`, { token: alice, form: new URLSearchParams({ status: 'second' }) })
      expect(provider.statuses).toEqual([
        { userId: '1001', text: 'Hello Ladies + Gentlemen, 100% signed! ~*' },
        { userId: '1001', text: 'second' },
      ])

      const timeline = await signedFetch('GET', `${provider.apiBaseUrl}/statuses/home_timeline.json?count=1`, { token: alice })
      expect(timeline.status).toBe(200)
      expect(await timeline.json()).toEqual([{ text: 'second' }])
    })

    it('echoes the signed query and form, encoded names and repeated values included', async () => {
      const response = await signedFetch('POST', `${provider.apiBaseUrl}/echo.json?c%40=1&q=a%20b%2Bc&q=z&empty=`, { token: alice, form: new URLSearchParams([['a3', '2 q'], ['a3', 'a']]) })
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ method: 'POST', query: { 'c@': '1', q: 'z', empty: '' }, form: { a3: 'a' }, userId: '1001' })
    })

    it('answers 400 for a status update without a status', async () => {
      const response = await signedFetch('POST', `${provider.apiBaseUrl}/statuses/update.json`, { token: alice, form: new URLSearchParams({ other: 'x' }) })
      expect(response.status).toBe(400)
      expect(await response.json()).toEqual({ errors: [{ code: 170, message: 'missing status' }] })
    })

    it('answers 404 for an unknown API path', async () => {
      expect((await signedFetch('GET', `${provider.apiBaseUrl}/nothing.json`, { token: alice })).status).toBe(404)
    })
  })

  describe('refuses', () => {
    const refusedWith = async (response: Response, status: number, reason: string) => {
      expect(response.status).toBe(status)
      expect(await response.json()).toEqual({ errors: [{ code: expect.any(Number), message: reason }] })
      expect(lastRequest()).toEqual({ method: expect.any(String), path: expect.any(String), ok: false, reason })
    }

    it('a wrong signature (wrong consumer secret) with 401', async () => {
      const response = await signedFetch('POST', provider.requestTokenUrl, { consumer: { key: consumer.key, secret: 'wrong' }, oauthParams: { oauth_callback: callback } })
      expect(response.headers.get('www-authenticate')).toBe('OAuth')
      await refusedWith(response, 401, 'signature does not match')
    })

    it('a form body that was not signed as sent with 401, and records nothing', async () => {
      const url = `${provider.apiBaseUrl}/statuses/update.json`
      const header = oauth1AuthorizationHeader({ method: 'POST', url, consumer, token: alice, form: new URLSearchParams({ status: 'signed' }) })
      const before = provider.statuses.length
      await refusedWith(await fetch(url, { method: 'POST', headers: { Authorization: header, ...FORM }, body: 'status=tampered' }), 401, 'signature does not match')
      expect(provider.statuses.length).toBe(before)
    })

    it('a form body left out of the signature with 401', async () => {
      const url = `${provider.apiBaseUrl}/statuses/update.json`
      const header = oauth1AuthorizationHeader({ method: 'POST', url, consumer, token: alice })
      await refusedWith(await fetch(url, { method: 'POST', headers: { Authorization: header, ...FORM }, body: 'status=unsigned' }), 401, 'signature does not match')
    })

    it('a query that was not signed as sent with 401, without burning the nonce', async () => {
      const url = `${provider.apiBaseUrl}/statuses/home_timeline.json?count=1`
      const header = oauth1AuthorizationHeader({ method: 'GET', url, consumer, token: alice })
      await refusedWith(await fetch(url.replace('count=1', 'count=2'), { headers: { Authorization: header } }), 401, 'signature does not match')
      expect((await fetch(url, { headers: { Authorization: header } })).status).toBe(200)
    })

    it('a reused nonce with 401', async () => {
      const header = oauth1AuthorizationHeader({ method: 'GET', url: provider.profileUrl, consumer, token: alice })
      expect((await fetch(provider.profileUrl, { headers: { Authorization: header } })).status).toBe(200)
      await refusedWith(await fetch(provider.profileUrl, { headers: { Authorization: header } }), 401, 'nonce already used')
    })

    it('a timestamp more than 5 minutes old with 401', async () => {
      await refusedWith(await signedFetch('GET', provider.profileUrl, { token: alice, timestamp: Math.floor(Date.now() / 1000) - 301 - 5 }), 401, 'stale oauth_timestamp')
    })

    it('a timestamp more than 5 minutes ahead with 401', async () => {
      await refusedWith(await signedFetch('GET', provider.profileUrl, { token: alice, timestamp: Math.floor(Date.now() / 1000) + 301 + 5 }), 401, 'stale oauth_timestamp')
    })

    it('PLAINTEXT with 401', async () => {
      const plaintext = `OAuth oauth_consumer_key="ck", oauth_token="${alice.key}", oauth_signature_method="PLAINTEXT", oauth_timestamp="${Math.floor(Date.now() / 1000)}", oauth_nonce="plaintextnonce01", oauth_signature="${encodeURIComponent(`${consumer.secret}&${alice.secret}`)}"`
      await refusedWith(await fetch(provider.profileUrl, { headers: { Authorization: plaintext } }), 401, 'only HMAC-SHA1 is accepted')
    })

    it('a reused request token with 401', async () => {
      const request = await requestToken()
      const verifier = await autoApprovedVerifier(request.key)
      expect((await accessToken(request, verifier)).status).toBe(200)
      await refusedWith(await accessToken(request, verifier), 401, 'invalid request token')
    })

    it('a wrong verifier with 401, and the request token is spent by the attempt', async () => {
      const request = await requestToken()
      const verifier = await autoApprovedVerifier(request.key)
      await refusedWith(await accessToken(request, `x${verifier.slice(1)}`), 401, 'wrong oauth_verifier')
      await refusedWith(await accessToken(request, verifier), 401, 'invalid request token')
    })

    it('an access token request for a request token nobody approved with 401', async () => {
      const request = await requestToken()
      await refusedWith(await accessToken(request, 'guess'), 401, 'request token not authorized')
    })

    it('a request token on the API with 401', async () => {
      const request = await requestToken()
      await refusedWith(await signedFetch('GET', provider.profileUrl, { token: request }), 401, 'invalid access token')
    })

    it('an access token in place of a request token with 401', async () => {
      await refusedWith(await accessToken(alice, 'whatever'), 401, 'invalid request token')
    })

    it("a revoked user's access token with 401", async () => {
      const request = await requestToken()
      const verifier = await autoApprovedVerifier(request.key)
      const values = await formOf(await accessToken(request, verifier))
      const token = { key: values.oauth_token, secret: values.oauth_token_secret }
      expect((await signedFetch('GET', provider.profileUrl, { token })).status).toBe(200)
      provider.revokeUserTokens('1001')
      await refusedWith(await signedFetch('GET', provider.profileUrl, { token }), 401, 'invalid access token')
      await refusedWith(await signedFetch('GET', provider.profileUrl, { token: alice }), 401, 'invalid access token')
    })

    it('an unknown consumer with 401', async () => {
      await refusedWith(await signedFetch('POST', provider.requestTokenUrl, { consumer: { key: 'other', secret: consumer.secret }, oauthParams: { oauth_callback: callback } }), 401, 'unknown consumer')
    })

    it('a request token request without an absolute http(s) callback with 401', async () => {
      await refusedWith(await signedFetch('POST', provider.requestTokenUrl, { oauthParams: { oauth_callback: 'oob' } }), 401, 'oauth_callback must be an absolute http(s) URL')
      await refusedWith(await signedFetch('POST', provider.requestTokenUrl, { oauthParams: { oauth_callback: 'javascript:alert(1)' } }), 401, 'oauth_callback must be an absolute http(s) URL')
      await refusedWith(await signedFetch('POST', provider.requestTokenUrl), 401, 'missing oauth_callback')
    })

    it('a request without an OAuth Authorization header with 401', async () => {
      await refusedWith(await fetch(provider.profileUrl), 401, 'missing OAuth Authorization header')
      await refusedWith(await fetch(provider.profileUrl, { headers: { Authorization: 'Bearer abc' } }), 401, 'missing OAuth Authorization header')
    })

    it('protocol parameters sent in the query with 401', async () => {
      const url = `${provider.profileUrl}?oauth_token=${alice.key}`
      await refusedWith(await signedFetch('GET', url, { token: alice }), 401, 'protocol parameters belong in the Authorization header')
    })

    it('a malformed or duplicated header parameter with 401', async () => {
      const header = oauth1AuthorizationHeader({ method: 'GET', url: provider.profileUrl, consumer, token: alice })
      await refusedWith(await fetch(provider.profileUrl, { headers: { Authorization: header.replace(/oauth_nonce="([^"]+)"/, 'oauth_nonce=$1') } }), 401, 'malformed Authorization header')
      await refusedWith(await fetch(provider.profileUrl, { headers: { Authorization: `${header}, oauth_token="x"` } }), 401, 'duplicate oauth_token')
      await refusedWith(await fetch(provider.profileUrl, { headers: { Authorization: `${header}, status="x"` } }), 401, 'unexpected parameter status')
    })

    it('a body over 64 KiB with 413', async () => {
      const form = new URLSearchParams({ status: 'x'.repeat(70 * 1024) })
      await refusedWith(await signedFetch('POST', `${provider.apiBaseUrl}/statuses/update.json`, { token: alice, form }), 413, 'body too large')
    })
  })

  it('takes a form cut off mid-body as the caller leaving: a 400 refusal, nothing logged as its own failure', async () => {
    const logged = vi.spyOn(console, 'error').mockImplementation(() => {})
    try {
      const url = new URL(`${provider.apiBaseUrl}/echo.json`)
      const before = provider.requests.length
      const cut = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', headers: { Authorization: 'OAuth oauth_consumer_key="x"', 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': '100' } })
      cut.on('error', () => {})
      // Cut once the first piece has left, not after a fixed 100 ms: cut before the connection is made, it
      // sends nothing at all. Whether the server already reads the body or not, the outcome is the same.
      await new Promise((resolve) => cut.write('status=half', resolve))
      cut.destroy()
      for (let waited = 0; provider.requests.length === before && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
      expect(provider.requests.slice(before)).toEqual([{ method: 'POST', path: '/1.1/echo.json', ok: false, reason: 'request body cut off' }])
      expect(logged).not.toHaveBeenCalled()
    } finally {
      logged.mockRestore()
    }
  })
})

describe('parseOAuthAuthorization(header)', () => {
  it('percent-decodes names and values, accepts any spacing after commas and ignores realm', () => {
    const params = parseOAuthAuthorization('OAuth realm="Photos Example",oauth_consumer_key="a%20b" ,  oauth_callback="http%3A%2F%2Fe.example%2F%3Fx%3D1"')
    expect(Object.fromEntries(params)).toEqual({ oauth_consumer_key: 'a b', oauth_callback: 'http://e.example/?x=1' })
  })

  it('refuses values that are not percent-encoded as RFC 5849 §3.6 requires', () => {
    expect(() => parseOAuthAuthorization('OAuth oauth_consumer_key="a b"')).toThrow('malformed Authorization header')
    expect(() => parseOAuthAuthorization('OAuth oauth_consumer_key="a%2fb"')).toThrow('malformed Authorization header')
    expect(() => parseOAuthAuthorization('OAuth oauth_consumer_key="%FF"')).toThrow('malformed Authorization header')
    expect(() => parseOAuthAuthorization('OAuth oauth_consumer_key="a",')).toThrow('malformed Authorization header')
  })
})

describe('what the sandbox provider remembers, over a demo left running', () => {
  const consumers = new Map([[consumer.key, consumer.secret]])
  const url = 'http://127.0.0.1:9/1.1/account/verify_credentials.json'
  /** A request signed at `at` (epoch ms), with a token of the user's when given. */
  const signedAt = (at: number, token?: OAuth1Credentials) => ({
    method: 'GET',
    baseUri: url,
    query: new URLSearchParams(),
    form: new URLSearchParams(),
    authorization: oauth1AuthorizationHeader({ method: 'GET', url, consumer, token, timestamp: Math.floor(at / 1000) }),
  })
  const start = Date.parse('2026-12-02T12:00:00Z')

  it('forgets a spent nonce once its timestamp has gone stale, when a reuse is refused as stale anyway', () => {
    const state = new OAuth1ProviderState()
    const first = signedAt(start)
    verifyOAuth1Request(first, 'none', consumers, state, start)
    for (let second = 1; second <= 299; second += 2) verifyOAuth1Request(signedAt(start + second * 1000), 'none', consumers, state, start + second * 1000)
    expect(() => verifyOAuth1Request(first, 'none', consumers, state, start + 299_000)).toThrow('nonce already used')
    expect(state.nonces.get(consumer.key)?.size).toBe(151)
    const later = start + 302_000
    verifyOAuth1Request(signedAt(later), 'none', consumers, state, later)
    // Those signed within the last five minutes are still spent; the first, and those near it, are not held.
    expect(state.nonces.get(consumer.key)?.size).toBeLessThan(151)
    expect(state.nonces.get(consumer.key)?.has(parseOAuthAuthorization(first.authorization).get('oauth_nonce') as string)).toBe(false)
    expect(() => verifyOAuth1Request(first, 'none', consumers, state, later)).toThrow('stale oauth_timestamp')
    // A day of requests, one a minute, holds five minutes' worth.
    for (let minute = 1; minute <= 24 * 60; minute++) verifyOAuth1Request(signedAt(later + minute * 60_000), 'none', consumers, state, later + minute * 60_000)
    expect(state.nonces.get(consumer.key)?.size).toBeLessThanOrEqual(11)
  })

  it('refuses a request token past its lifetime, and forgets the unused ones', () => {
    const state = new OAuth1ProviderState()
    const token = { key: 'request-token-1', secret: 'request-secret-1' }
    state.requestTokens.set(token.key, { secret: token.secret, issuedAt: start, consumer: consumer.key, callback })
    state.requestTokens.set('never-used', { secret: 'x', issuedAt: start, consumer: consumer.key, callback })
    const usedAt = start + REQUEST_TOKEN_LIFETIME_MS
    expect(verifyOAuth1Request(signedAt(usedAt, token), 'request', consumers, state, usedAt).requestToken?.secret).toBe(token.secret)
    const late = usedAt + 1000
    expect(() => verifyOAuth1Request(signedAt(late, token), 'request', consumers, state, late)).toThrow('invalid request token')
    // Forgotten at the next walk, within a timestamp window.
    const swept = late + 300_000
    verifyOAuth1Request(signedAt(swept), 'none', consumers, state, swept)
    expect([...state.requestTokens.keys()]).toEqual([])
  })
})
