import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { Agent, createServer, request as httpRequest } from 'node:http'
import { connect } from 'node:net'
import { createHmac } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import type { RejectionEvidence } from '../server/clients/base.ts'
import { OAuthClient } from '../server/clients/oauth1.ts'
import { OAuth2Client } from '../server/clients/oauth2.ts'
import { callProvider } from '../server/clients/provider-http.ts'
import { oauth1SignatureBaseString, percentEncode } from '../server/clients/oauth1-signature.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { cacheLapse, within } from './support/eventually.ts'
import { startEchoUpstream } from './support/echo-upstream.ts'
import { session } from './support/login.ts'
import { signedIn } from './support/signed-in.ts'
import { startRecordingServer } from './support/recording-server.ts'
import type { BrowserSession } from './support/browser-session.ts'

const CSRF = { 'X-CSRF': '1' }

/** Sends a raw request target, exactly as given: `fetch` would normalise `..` and friends away. */
function rawRequest(base: string, target: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const url = new URL(base)
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: url.hostname, port: url.port, method: 'GET', path: target, headers }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** The OAuth 1.0a protocol parameters of a request the upstream received, after checking that they sign exactly what it received. */
function signedAsSent(sent: { method: string; url: string; body: string; headers: Record<string, unknown> }, upstreamUrl: string): (readonly [string, string])[] {
  const header = [...String(sent.headers.authorization).matchAll(/(\w+)="([^"]*)"/g)].map(([, name, value]) => [name, decodeURIComponent(value)] as const)
  const form = sent.method === 'POST' ? [...new URLSearchParams(sent.body)] : []
  const base = oauth1SignatureBaseString(sent.method, new URL(sent.url, upstreamUrl), [...header.filter(([name]) => name !== 'oauth_signature'), ...form])
  const signature = createHmac('sha1', `${percentEncode('secret')}&${percentEncode('oauth1-secret')}`).update(base).digest('base64')
  expect(header.find(([name]) => name === 'oauth_signature')?.[1]).toBe(signature)
  return header
}

/**
 * A host app's OAuth 1.0a client whose rule reads a 401 twice at once, whole and short, before the
 * protocol's own judging: what each reading gave, in `readings`.
 */
class TwiceReadingClient extends OAuthClient {
  static readonly readings: (string | null)[][] = []

  override async tokenRejected(answer: RejectionEvidence): Promise<boolean> {
    TwiceReadingClient.readings.push(await Promise.all([answer.body(), answer.shortBody(4096)]))
    return super.tokenRejected(answer)
  }
}

/** A host app's own token introspection, asked by the clients below: `asked` counts the questions, `answer()` answers the last. */
const introspection = {
  asked: 0,
  answer: () => {},
  ask(): Promise<void> {
    return new Promise((resolve) => {
      introspection.answer = resolve
      introspection.asked++
    })
  },
}

/** A host app's client that asks its introspection first, and reads the answer only then. */
class IntrospectingClient extends OAuth2Client {
  override async tokenRejected(answer: RejectionEvidence): Promise<boolean> {
    await introspection.ask()
    return (await answer.shortBody(1024)) === 'dead'
  }
}

/** A host app's client that judges a short answer by its text, and asks its introspection about a longer one. */
class IntrospectingLongClient extends OAuth2Client {
  override async tokenRejected(answer: RejectionEvidence): Promise<boolean> {
    const text = await answer.shortBody(1024)
    if (text !== null) return text === 'dead'
    await introspection.ask()
    return false
  }
}

// Both ways a proxied body can leave: through Koa's response step (createAllAccess's default) and piped by the BFF itself (serve's).
const settings = databases.flatMap((database) => [false, true].map((pipeDirectly) => ({ ...database, pipeDirectly })))

describe.each(settings)('the API proxy on $kind, piped directly: $pipeDirectly', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>
  let browser: BrowserSession
  let accountId: number
  let tokens: Awaited<ReturnType<typeof startRecordingServer>>

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    upstream = await startEchoUpstream()
    bff = await startBff(created.url, { proxy: { timeoutMs: 500, maxBody: 1000, pipeDirectly: database.pipeDirectly }, clients: { 'oauth1-twice-read': TwiceReadingClient, introspecting: IntrospectingClient, 'introspecting-long': IntrospectingLongClient } })
    const common = { authorizationUrl: 'https://idp.example/authorize', accessTokenUrl: 'https://idp.example/token', profileUrl: 'https://idp.example/me', clientId: 'id', clientSecret: 'secret' }
    await bff.addProvider('echo', { ...common, apiBaseUrl: `${upstream.url}/v1` })
    await bff.addProvider('other', { ...common, apiBaseUrl: `${upstream.url}/other` })
    await bff.addProvider('disabled-echo', { ...common, apiBaseUrl: `${upstream.url}/v1` })
    // Port 1 (tcpmux), which nothing here listens on: a port freed by a server of this file could be
    // taken by another file's server running alongside, which would then answer for the dead provider.
    const deadPort = 1
    await bff.addProvider('dead', { ...common, apiBaseUrl: `http://127.0.0.1:${deadPort}/v1` })
    await bff.addProvider('query-token', { ...common, apiBaseUrl: `${upstream.url}/q`, tokenPlacement: 'query' })
    tokens = await startRecordingServer(() => ({ status: 200, type: 'application/json', body: JSON.stringify({ access_token: 'token-fresh', token_type: 'Bearer', expires_in: 3600, refresh_token: 'refresh-2' }) }))
    await bff.addProvider('refreshing', { ...common, accessTokenUrl: `${tokens.url}/token`, apiBaseUrl: `${upstream.url}/v1` })
    await bff.addProvider('oauth1-echo', { ...common, requestTokenUrl: 'https://idp.example/request', apiBaseUrl: `${upstream.url}/v1` })
    await bff.addProvider('introspecting', { ...common, apiBaseUrl: `${upstream.url}/v1` })
    await bff.addProvider('introspecting-long', { ...common, apiBaseUrl: `${upstream.url}/v1` })
    await bff.addProvider('oauth1-twice-read', { ...common, requestTokenUrl: 'https://idp.example/request', apiBaseUrl: `${upstream.url}/v1` })
    await bff.addProvider('revocable', { ...common, apiBaseUrl: `${upstream.url}/r`, revocationUrl: `http://127.0.0.1:${deadPort}/revoke` })
    ;({ browser, accountId } = await signedIn(bff, 'echo', { accessToken: 'token-echo-1' }))
  })

  beforeEach(() => {
    upstream.received.length = 0
  })

  afterAll(async () => {
    await bff?.close()
    await tokens?.close()
    await upstream?.close()
    await drop?.()
  })

  it('forwards to the API base URL with the bearer token, query intact, and passes the answer back', async () => {
    const response = await browser.fetch(new URL('/api/echo/users/42/repos?per_page=5&sort=up%20dated&a=1&a=2', bff.url), { headers: CSRF })
    expect(response.status).toBe(200)
    expect(response.headers.get('cache-control')).toBe('no-store')
    expect(response.headers.get('etag')).toBe('"v1"')
    expect(response.headers.get('x-internal-secret')).toBeNull()
    expect(await response.json()).toEqual({ method: 'GET', url: '/v1/users/42/repos?per_page=5&sort=up%20dated&a=1&a=2', body: '' })
    expect(upstream.received).toHaveLength(1)
    expect(upstream.received[0].headers.authorization).toBe('Bearer token-echo-1')
  })

  it("does not forward what a caller's Connection header names as for this hop only (RFC 9110 7.6.1)", async () => {
    const answer = await rawRequest(bff.url, '/api/echo/headers', { ...CSRF, Cookie: browser.cookieHeader(new URL(bff.url)), Connection: 'keep-alive, Range, If-None-Match', Range: 'bytes=0-1', 'If-None-Match': '"v1"', 'Accept-Language': 'fr' })
    expect(answer.status).toBe(200)
    const seen = upstream.received[0]
    expect([seen.headers.range, seen.headers['if-none-match'], seen.headers['accept-language']]).toEqual([undefined, undefined, 'fr'])
  })

  it("forwards a Range request's If-Range with it: without it the provider sends the part of a changed resource, which the app joins to the old one's", async () => {
    const answer = await browser.fetch(new URL('/api/echo/headers', bff.url), { headers: { ...CSRF, Range: 'bytes=100-', 'If-Range': '"v1"' } })
    expect(answer.status).toBe(200)
    const seen = upstream.received[0]
    expect([seen.headers.range, seen.headers['if-range']]).toEqual(['bytes=100-', '"v1"'])
  })

  it("forwards the Content-Encoding of a body the app compressed (CompressionStream), which passes as bytes: without it the provider reads gzip as JSON", async () => {
    const body = gzipSync('{"hello":"world"}')
    const answer = await browser.fetch(new URL('/api/echo/headers', bff.url), { method: 'POST', headers: { ...CSRF, 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' }, body })
    expect(answer.status).toBe(200)
    const seen = upstream.received[0]
    expect([seen.headers['content-type'], seen.headers['content-encoding'], seen.headers['content-length']]).toEqual(['application/json', 'gzip', String(body.length)])
  })

  it('never forwards the browser Cookie, Authorization, X-CSRF, Origin or Referer', async () => {
    await browser.fetch(new URL('/api/echo/headers', bff.url), {
      method: 'POST',
      headers: { ...CSRF, Authorization: 'Basic Zm9vOmJhcg==', Origin: bff.url, Referer: `${bff.url}/page`, 'Content-Type': 'application/json', Accept: 'application/json', 'X-Custom': 'no' },
      body: JSON.stringify({ hello: 'world' }),
    })
    const seen = upstream.received[0]
    expect(seen.headers.cookie).toBeUndefined()
    expect(seen.headers['x-csrf']).toBeUndefined()
    expect(seen.headers.origin).toBeUndefined()
    expect(seen.headers.referer).toBeUndefined()
    expect(seen.headers['x-custom']).toBeUndefined()
    expect(seen.headers.authorization).toBe('Bearer token-echo-1')
    expect(seen.headers['content-type']).toBe('application/json')
    expect(seen.body).toBe('{"hello":"world"}')
  })

  it('never passes the upstream Set-Cookie to the browser', async () => {
    const response = await browser.fetch(new URL('/api/echo/set-cookie', bff.url), { headers: CSRF })
    expect(response.status).toBe(200)
    expect(response.headers.getSetCookie()).toEqual([])
  })

  it("passes on a provider's redirect without its Location or auth challenge: the browser neither follows it nor prompts", async () => {
    const response = await browser.fetch(new URL('/api/echo/redirect', bff.url), { headers: CSRF })
    expect(response.status).toBe(302)
    expect(response.headers.get('location')).toBeNull()
    expect(response.headers.get('www-authenticate')).toBeNull()
    expect(await response.json()).toEqual({ moved: true })
  })

  it('passes the upstream status and body through', async () => {
    const response = await browser.fetch(new URL('/api/echo/status/418', bff.url), { headers: CSRF })
    expect(response.status).toBe(418)
    expect(await response.json()).toEqual(expect.objectContaining({ url: '/v1/status/418' }))
    const created = await browser.fetch(new URL('/api/echo/status/201', bff.url), { method: 'PUT', headers: { ...CSRF, 'Content-Type': 'text/plain' }, body: 'x' })
    expect(created.status).toBe(201)
  })

  it("passes on a provider's 405 with its Allow header, which RFC 9110 requires of a 405", async () => {
    const response = await browser.fetch(new URL('/api/echo/status/405', bff.url), { method: 'POST', headers: { ...CSRF, 'Content-Type': 'text/plain' }, body: 'x' })
    expect(response.status).toBe(405)
    expect(response.headers.get('allow')).toBe('GET, HEAD')
  })

  it("answers HEAD with the provider's status and type and no length of its own, as a GET would answer", async () => {
    const answers = []
    for (const path of ['/api/echo/plain', '/api/echo/status/404']) {
      const response = await browser.fetch(new URL(path, bff.url), { method: 'HEAD', headers: CSRF })
      answers.push([response.status, response.headers.get('content-type'), response.headers.get('content-length'), await response.text()])
    }
    // Koa reads a null body as "204 No Content", and a null JSON body as the 4 bytes of `null`.
    expect(answers).toEqual([
      [200, 'text/plain', null, ''],
      [404, 'application/json', null, ''],
    ])
    expect(upstream.received.map((r) => [r.method, r.url])).toEqual([
      ['HEAD', '/v1/plain'],
      ['HEAD', '/v1/status/404'],
    ])
  })

  it("passes on a provider's Accept-Ranges, by which an app learns it may ask for parts (the Range it then sends is forwarded), but not with a body it decoded: its parts would be of the coded bytes", async () => {
    const answers = []
    for (const path of ['/api/echo/plain', '/api/echo/gzipped', '/api/echo/gzipped-always']) {
      for (const method of ['HEAD', 'GET']) {
        const response = await browser.fetch(new URL(path, bff.url), { method, headers: CSRF })
        answers.push([path, method, response.status, response.headers.get('accept-ranges'), await response.text()])
      }
    }
    expect(answers).toEqual([
      ['/api/echo/plain', 'HEAD', 200, 'bytes', ''],
      ['/api/echo/plain', 'GET', 200, 'bytes', 'plain'],
      ['/api/echo/gzipped', 'HEAD', 200, 'bytes', ''],
      ['/api/echo/gzipped', 'GET', 200, 'bytes', 'zipped'],
      ['/api/echo/gzipped-always', 'HEAD', 200, null, ''],
      ['/api/echo/gzipped-always', 'GET', 200, null, 'zipped'],
    ])
  })

  it('asks the provider for an unencoded body, and decodes the body of one that encodes anyway', async () => {
    for (const path of ['/api/echo/gzipped', '/api/echo/gzipped-always']) {
      const response = await browser.fetch(new URL(path, bff.url), { headers: CSRF })
      expect([response.status, await response.text()]).toEqual([200, 'zipped'])
    }
    expect(upstream.received.map((r) => r.headers['accept-encoding'])).toEqual(['identity', 'identity'])
  })

  it("refuses a part of an encoded body (a 206 in a coding), which can be neither decoded nor read for the token, and lets the provider's answer go", async () => {
    for (const range of ['0-9', '5-30']) {
      const response = await browser.fetch(new URL(`/api/echo/gzipped-always?size=4096&range=${range}`, bff.url), { headers: { ...CSRF, Range: `bytes=${range}` } })
      expect([response.status, (await response.json()).error, response.headers.get('content-range')]).toEqual([502, 'upstream_unreachable', null])
    }
    // Unencoded, a part passes as the provider sent it.
    const plain = await browser.fetch(new URL('/api/echo/gzipped?range=0-2', bff.url), { headers: { ...CSRF, Range: 'bytes=0-2' } })
    expect([plain.status, plain.headers.get('content-range'), await plain.text()]).toEqual([206, 'bytes 0-2/6', 'zip'])
  })

  it("asks for an unencoded body on the BFF's own provider calls too (tokens, profiles, apiClient), and decodes one that comes encoded anyway", async () => {
    const answer = await callProvider(`${upstream.url}/v1/gzipped`, { method: 'get' }, 'profile_request_failed')
    expect(answer.text).toBe('zipped')
    for (const coding of ['gzip', 'br', 'deflate', 'gzip, br']) {
      const encoded = await callProvider(`${upstream.url}/v1/gzipped-always?coding=${encodeURIComponent(coding)}`, { method: 'get' }, 'profile_request_failed')
      expect([encoded.text, encoded.headers.get('content-encoding'), encoded.headers.get('content-length')], coding).toEqual(['zipped', null, null])
      // A HEAD's headers are those of the GET as read.
      const head = await callProvider(`${upstream.url}/v1/gzipped-always?coding=${encodeURIComponent(coding)}`, { method: 'head' }, 'profile_request_failed')
      expect([head.status, head.text, head.headers.get('content-encoding')], coding).toEqual([200, '', null])
    }
    // A coding it cannot read fails as the step's own failure; decoded bytes count against the cap, not the coded ones.
    const unreadable = callProvider(`${upstream.url}/v1/gzipped-always?coding=zstd`, { method: 'get' }, 'profile_request_failed')
    await expect(unreadable).rejects.toMatchObject({ code: 'profile_request_failed', detail: expect.stringContaining('"zstd"') })
    const bomb = callProvider(`${upstream.url}/v1/gzipped-always?coding=gzip&size=${2 * 1024 * 1024}`, { method: 'get', maxBytes: 1024 * 1024 }, 'profile_request_failed')
    await expect(bomb).rejects.toMatchObject({ code: 'profile_request_failed', detail: expect.stringContaining('over 1048576 bytes') })
  })

  it('counts the coded bytes of an answer too, not only the decoded ones: a body of codings that decode to nothing is not read without end', async () => {
    // A megabyte of empty gzip members decodes to nothing: counting decoded bytes only, all of it was read
    // (a provider can send such padding for as long as the time limit runs).
    const padded = callProvider(`${upstream.url}/v1/gzip-padded?kb=1024`, { method: 'get', maxBytes: 64 * 1024 }, 'profile_request_failed')
    await expect(padded).rejects.toMatchObject({ code: 'profile_request_failed', detail: expect.stringContaining('bytes') })
    const small = await callProvider(`${upstream.url}/v1/gzip-padded?kb=1`, { method: 'get', maxBytes: 64 * 1024 }, 'profile_request_failed')
    expect(small.text).toBe('{"oauth_problem":"token_rejected"}')
  })

  it("lets go of an answer whose coding ends before the bytes do, rather than read on after the call is over with no time limit", async () => {
    for (const coding of ['gzip', 'deflate', 'deflate-raw', 'br']) {
      const letGo = upstream.trailingLetGo()
      const answer = await callProvider(`${upstream.url}/v1/gzip-trailing?coding=${coding}`, { method: 'get' }, 'profile_request_failed')
      expect(answer.text, coding).toBe('{"oauth_problem":"token_rejected"}')
      expect(await within(10_000, async () => upstream.trailingLetGo(), (n) => n > letGo), coding).toBeGreaterThan(letGo)
    }
  })

  const escapes = [
    '/api/echo/../other/x',
    '/api/echo/..%2fother/x',
    '/api/echo/%2e%2e/other/x',
    '/api/echo/%2E%2E/other',
    '/api/echo/.%2e/other',
    '/api/echo/a/../../other',
    '/api/echo/./a',
    '/api/echo/a%2f..%2f..%2fother',
    '/api/echo/a%5c..%5cother',
    '/api/echo/a\\..\\other',
    '/api/echo/%252e%252e/other',
    '/api/echo/a%252fb',
    '/api/echo//evil.example/x',
    '/api/echo/a//b',
    '/api/echo/@evil.example/x',
    '/api/echo/a@evil.example',
    '/api/echo/%40evil.example',
    '/api/echo/http:%2f%2fevil.example',
    '/api/echo/https:/evil.example',
    '/api/echo/javascript:alert(1)',
    '/api/echo/a%00b',
    '/api/echo/a%0d%0aHost:%20evil',
    '/api/echo/a%zz',
    '/api/echo/',
    '/api/echo/..%3b/other',
    '/api/echo/%c0%ae%c0%ae/other',
    '/api/echo/a%c0%af..%c0%afother',
    '/api/echo/%e0%80%ae%e0%80%ae/other',
    '/api/echo/%ef%bc%8e%ef%bc%8e/other',
    '/api/echo/a%ef%bc%8f..%ef%bc%8fother',
    '/api/echo/a%ef%bc%bc..%ef%bc%bcother',
    '/api/echo/%e2%80%a5/other',
    '/api/echo/.%ef%b9%92/other',
  ]

  it.each(escapes)('answers %s with 400 invalid_path and no upstream request', async (target) => {
    const { status, body } = await rawRequest(bff.url, target, { ...CSRF, Cookie: browser.cookieHeader(new URL(bff.url)) })
    expect(status).toBe(400)
    expect(JSON.parse(body)).toEqual({ error: 'invalid_path', message: expect.any(String) })
    expect(upstream.received).toHaveLength(0)
  })

  it('refuses a body over the limit with 413 and sends nothing upstream', async () => {
    const response = await browser.fetch(new URL('/api/echo/upload', bff.url), { method: 'POST', headers: { ...CSRF, 'Content-Type': 'text/plain' }, body: 'x'.repeat(1001) })
    expect(response.status).toBe(413)
    expect(await response.json()).toEqual({ error: 'payload_too_large', message: expect.any(String) })
    expect(upstream.received).toHaveLength(0)
  })

  it('answers 504 upstream_timeout when the provider is too slow', async () => {
    const response = await browser.fetch(new URL('/api/echo/slow', bff.url), { headers: CSRF })
    expect(response.status).toBe(504)
    expect(await response.json()).toEqual({ error: 'upstream_timeout', message: expect.any(String) })
  })

  it('answers 502 upstream_unreachable when the provider cannot be reached', async () => {
    const { browser: deadBrowser } = await signedIn(bff, 'dead', { accessToken: 't' })
    const response = await deadBrowser.fetch(new URL('/api/dead/me', bff.url), { headers: CSRF })
    expect(response.status).toBe(502)
    expect(await response.json()).toEqual({ error: 'upstream_unreachable', message: expect.any(String) })
  })

  it('answers 404 unknown_provider for a provider disabled since the account was linked, sending nothing upstream', async () => {
    const { browser: linked } = await signedIn(bff, 'disabled-echo', { accessToken: 'token-disabled' })
    await bff.store.db('providers').where({ name: 'disabled-echo' }).update({ client_secret: null })
    await cacheLapse()
    const response = await linked.fetch(new URL('/api/disabled-echo/me', bff.url), { headers: CSRF })
    expect(response.status).toBe(404)
    expect(await response.json()).toEqual({ error: 'unknown_provider', message: expect.any(String) })
    expect(upstream.received).toHaveLength(0)
  })

  it('answers 401 not_authenticated, 404 unknown_provider and 403 account_not_connected', async () => {
    const anonymous = await fetch(new URL('/api/echo/me', bff.url), { headers: CSRF })
    expect(anonymous.status).toBe(401)
    expect((await anonymous.json()).error).toBe('not_authenticated')
    const unknown = await browser.fetch(new URL('/api/nope/me', bff.url), { headers: CSRF })
    expect(unknown.status).toBe(404)
    expect((await unknown.json()).error).toBe('unknown_provider')
    const notConnected = await browser.fetch(new URL('/api/other/me', bff.url), { headers: CSRF })
    expect(notConnected.status).toBe(403)
    expect((await notConnected.json()).error).toBe('account_not_connected')
    expect(upstream.received).toHaveLength(0)
  })

  it.each(['GET', 'POST', 'DELETE'])('answers a %s without X-CSRF with 403 csrf_required, and one from a foreign Origin with 403 origin_not_allowed, sending nothing upstream', async (method) => {
    const body = method === 'POST' ? 'x' : undefined
    const withoutHeader = await browser.fetch(new URL('/api/echo/me', bff.url), { method, body })
    expect([withoutHeader.status, await withoutHeader.json()]).toEqual([403, { error: 'csrf_required', message: expect.any(String) }])
    const foreign = await browser.fetch(new URL('/api/echo/me', bff.url), { method, body, headers: { ...CSRF, Origin: 'https://evil.example' } })
    expect([foreign.status, await foreign.json()]).toEqual([403, { error: 'origin_not_allowed', message: expect.any(String) }])
    expect(upstream.received).toHaveLength(0)
    // The control: with the header and the app's own Origin, the call goes through.
    const own = await browser.fetch(new URL('/api/echo/me', bff.url), { method, body, headers: { ...CSRF, Origin: new URL(bff.url).origin } })
    expect(own.status).toBe(200)
    expect(upstream.received.map((r) => r.method)).toEqual([method])
  })

  it('answers 401 reauth_required when the provider rejects a token that cannot be refreshed, until the next login', async () => {
    const { browser: rejectedBrowser, accountId: rejectedId } = await signedIn(bff, 'echo', { accessToken: 'token-revoked' })
    upstream.rejected.add('token-revoked')
    const response = await rejectedBrowser.fetch(new URL('/api/echo/me', bff.url), { headers: CSRF })
    expect(response.status).toBe(401)
    expect(await response.json()).toEqual({ error: 'reauth_required', message: expect.any(String) })
    expect(response.headers.get('location')).toBeNull()
    expect((await bff.store.accounts.get(rejectedId))?.status).toBe('reauth_required')
    const info = await session(rejectedBrowser, bff.url)
    expect(info.authenticated && info.accounts[0].status).toBe('reauth_required')
    // While the account waits for a login, no request reaches the provider.
    upstream.received.length = 0
    const again = await rejectedBrowser.fetch(new URL('/api/echo/me', bff.url), { headers: CSRF })
    expect(again.status).toBe(401)
    expect(upstream.received).toHaveLength(0)
    expect(accountId).not.toBe(rejectedId)
  })

  it('passes on a 401 that follows a successful refresh, and keeps the account active', async () => {
    const { browser: refreshing, accountId: refreshingId } = await signedIn(bff, 'refreshing', { accessToken: 'token-stale', refreshToken: 'refresh-1', expiresAt: Date.now() + 3_600_000 })
    upstream.rejected.add('token-stale')
    upstream.rejected.add('token-fresh')
    const response = await refreshing.fetch(new URL('/api/refreshing/me', bff.url), { headers: CSRF })
    expect(response.status).toBe(401)
    expect(await response.json()).toEqual({ error: 'invalid_token' })
    expect(upstream.received.map((r) => r.headers.authorization)).toEqual(['Bearer token-stale', 'Bearer token-fresh'])
    const account = await bff.store.accounts.get(refreshingId)
    expect(account?.status).toBe('active')
    expect(account?.accessToken).toBe('token-fresh')
  })

  it('refreshes a token granted for less than two minutes once half its life is spent, not before every call', async () => {
    const tokenEndpoint = await startRecordingServer(() => ({ status: 200, type: 'application/json', body: JSON.stringify({ access_token: 'token-short-lived', token_type: 'Bearer', expires_in: 30, refresh_token: 'refresh-short-2' }) }))
    try {
      await bff.addProvider('short-lived', { authorizationUrl: 'https://idp.example/authorize', accessTokenUrl: `${tokenEndpoint.url}/token`, profileUrl: 'https://idp.example/me', apiBaseUrl: `${upstream.url}/v1`, clientId: 'id', clientSecret: 'secret' })
      const { browser: user } = await signedIn(bff, 'short-lived', { accessToken: 'token-short-expired', refreshToken: 'refresh-short-1', expiresAt: Date.now() - 1000 })
      for (let call = 0; call < 3; call++) expect((await user.fetch(new URL('/api/short-lived/me', bff.url), { headers: CSRF })).status).toBe(200)
      // The expired token is refreshed once; the 30-second token that brings is used while it has more
      // than 15 s left. Judged against a whole minute, it was refreshed again before every call.
      expect(tokenEndpoint.received).toHaveLength(1)
      expect(upstream.received.map((r) => r.headers.authorization)).toEqual(Array(3).fill('Bearer token-short-lived'))
    } finally {
      await tokenEndpoint.close()
    }
  })

  it('passes on the 401 of a streamed upload it cannot send twice at once, and refreshes the token meanwhile so the next call works', async () => {
    const grants: string[] = []
    // The token endpoint takes longer than the proxy's 500 ms time limit: the 401 must not wait for it.
    const renewed = createServer((req, res) => {
      grants.push(req.url ?? '')
      req.resume()
      setTimeout(() => {
        res.writeHead(200, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify({ access_token: 'token-after-upload', token_type: 'Bearer', expires_in: 3600 }))
      }, 800)
    })
    await new Promise<void>((resolve) => renewed.listen(0, '127.0.0.1', resolve))
    const tokenUrl = `http://127.0.0.1:${(renewed.address() as { port: number }).port}/token`
    try {
      await bff.addProvider('uploads', { authorizationUrl: 'https://idp.example/authorize', accessTokenUrl: tokenUrl, profileUrl: 'https://idp.example/me', apiBaseUrl: `${upstream.url}/v1`, clientId: 'id', clientSecret: 'secret' })
      // No expiry known: only the provider's 401 tells that the token died.
      const { browser: uploader, accountId } = await signedIn(bff, 'uploads', { accessToken: 'token-dead-upload', refreshToken: 'refresh-upload' })
      upstream.rejected.add('token-dead-upload')
      // A body of undeclared length is streamed upstream as it arrives: it cannot be sent twice.
      const upload = () =>
        uploader.fetch(new URL('/api/uploads/upload', bff.url), {
          method: 'POST',
          headers: { ...CSRF, 'Content-Type': 'text/plain' },
          body: new Blob(['a chunk']).stream(),
          duplex: 'half',
        } as RequestInit)
      const refused = await upload()
      expect([refused.status, await refused.json()]).toEqual([401, { error: 'invalid_token' }])
      expect(await within(10_000, async () => (await bff.store.accounts.get(accountId))?.accessToken, (token) => token === 'token-after-upload')).toBe('token-after-upload')
      expect(grants).toHaveLength(1)
      await cacheLapse()
      const again = await upload()
      expect([again.status, ((await again.json()) as { body: string }).body]).toEqual([200, 'a chunk'])
      expect(upstream.received.map((r) => r.headers.authorization)).toEqual(['Bearer token-dead-upload', 'Bearer token-after-upload'])
    } finally {
      await new Promise<void>((resolve) => renewed.close(() => resolve()))
    }
  })

  it('keeps the account active when the token endpoint is only rate limiting the refresh (429), answering 502', async () => {
    const tokenEndpoint = await startRecordingServer(() => ({ status: 429, type: 'application/json', body: JSON.stringify({ error: 'rate_limited' }) }))
    try {
      await bff.addProvider('throttled', { authorizationUrl: 'https://idp.example/authorize', accessTokenUrl: `${tokenEndpoint.url}/token`, profileUrl: 'https://idp.example/me', apiBaseUrl: `${upstream.url}/v1`, clientId: 'id', clientSecret: 'secret' })
      const { browser: throttled, accountId } = await signedIn(bff, 'throttled', { accessToken: 'token-expired', refreshToken: 'refresh-still-good', expiresAt: Date.now() - 1000 })
      const response = await throttled.fetch(new URL('/api/throttled/me', bff.url), { headers: CSRF })
      expect(tokenEndpoint.received).toHaveLength(1)
      expect([response.status, ((await response.json()) as { error: string }).error]).toEqual([502, 'upstream_unreachable'])
      expect((await bff.store.accounts.get(accountId))?.status).toBe('active')
    } finally {
      await tokenEndpoint.close()
    }
  })

  it.each([
    // The call goes on with the login's token: the account is usable, and the user just signed in.
    ['refused', 400, { error: 'invalid_grant' }, [200, undefined]],
    ['granted', 200, { access_token: 'token-old-grant-refreshed', token_type: 'Bearer', expires_in: 3600, refresh_token: 'refresh-old-grant-2' }, [200, undefined]],
  ] as const)('keeps the tokens of a login made while a refresh with the old grant was out, and was %s', async (_, status, answer, expected) => {
    let answering = () => {}
    const answered = new Promise<void>((resolve) => (answering = resolve))
    const slow = createServer((_req, res) => {
      void answered.then(() => {
        res.writeHead(status, { 'Content-Type': 'application/json' })
        res.end(JSON.stringify(answer))
      })
    })
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve))
    try {
      const name = `relogin-${status}`
      await bff.addProvider(name, { authorizationUrl: 'https://idp.example/authorize', accessTokenUrl: `http://127.0.0.1:${(slow.address() as { port: number }).port}/token`, profileUrl: 'https://idp.example/me', apiBaseUrl: `${upstream.url}/v1`, clientId: 'id', clientSecret: 'secret' })
      const { browser: user, accountId } = await signedIn(bff, name, { accessToken: 'token-old-grant', refreshToken: 'refresh-old-grant', expiresAt: Date.now() - 1000 })
      const calling = user.fetch(new URL(`/api/${name}/me`, bff.url), { headers: CSRF })
      await new Promise((resolve) => slow.once('request', resolve))
      // The user signs in again (as the callback stores a returning identity) while the refresh is out.
      const before = await bff.store.accounts.get(accountId)
      const fresh = { displayName: null, accessToken: 'token-new-login', tokenSecret: null, refreshToken: 'refresh-new-login', idToken: null, expiresAt: Date.now() + 3_600_000, scope: null }
      expect(await bff.store.accounts.renewAfterLogin(before!.providerId, before!.identifier, fresh)).not.toBeNull()
      answering()
      const response = await calling
      expect([response.status, ((await response.json()) as { error?: string }).error]).toEqual(expected)
      const after = await bff.store.accounts.get(accountId)
      expect([after?.status, after?.accessToken, after?.refreshToken]).toEqual(['active', 'token-new-login', 'refresh-new-login'])
    } finally {
      slow.closeAllConnections()
      await new Promise((resolve) => slow.close(resolve))
    }
  })

  it('answers 502 and keeps the account active when the OpenID provider cannot be discovered for a refresh', async () => {
    const free = createServer()
    await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve))
    const issuer = `http://127.0.0.1:${(free.address() as { port: number }).port}`
    await new Promise<void>((resolve) => free.close(() => resolve()))
    await bff.addProvider('undiscoverable', { protocol: 'oidc', issuer, apiBaseUrl: `${upstream.url}/v1`, clientId: 'id', clientSecret: 'secret' })
    const { browser: user, accountId } = await signedIn(bff, 'undiscoverable', { accessToken: 'token-expired-oidc', refreshToken: 'refresh-oidc', expiresAt: Date.now() - 1000 })
    const response = await user.fetch(new URL('/api/undiscoverable/me', bff.url), { headers: CSRF })
    expect([response.status, ((await response.json()) as { error: string }).error]).toEqual([502, 'upstream_unreachable'])
    expect((await bff.store.accounts.get(accountId))?.status).toBe('active')
    expect(upstream.received).toHaveLength(0)
  })

  it('passes on an OAuth 1.0a 401 that does not name the token (none, or another oauth_problem), and ends the account on one that does', async () => {
    const { browser: signer, accountId: signerId } = await signedIn(bff, 'oauth1-echo', { accessToken: 'oauth1-token', tokenSecret: 'oauth1-secret' })
    const refused = await signer.fetch(new URL('/api/oauth1-echo/status/401', bff.url), { headers: CSRF })
    expect(refused.status).toBe(401)
    expect(await refused.json()).toEqual(expect.objectContaining({ method: 'GET' }))
    expect((await bff.store.accounts.get(signerId))?.status).toBe('active')
    const stale = await signer.fetch(new URL('/api/oauth1-echo/oauth1-timestamp-refused', bff.url), { headers: CSRF })
    expect(stale.status).toBe(401)
    expect(await stale.json()).toEqual({ error: 'timestamp refused' })
    expect((await bff.store.accounts.get(signerId))?.status).toBe('active')
    const dead = await signer.fetch(new URL('/api/oauth1-echo/oauth1-token-rejected', bff.url), { headers: CSRF })
    expect(dead.status).toBe(401)
    expect(await dead.json()).toEqual({ error: 'reauth_required', message: expect.any(String) })
    expect((await bff.store.accounts.get(signerId))?.status).toBe('reauth_required')
  })

  it('reads an OAuth 1.0a 401 that came compressed: the token refusal in its body is seen, and the token it quotes is not passed on', async () => {
    const { browser: signer, accountId } = await signedIn(bff, 'oauth1-echo', { accessToken: 'oauth1-token', tokenSecret: 'oauth1-secret' })
    const other = await signer.fetch(new URL('/api/oauth1-echo/oauth1-401-gzipped?problem=signature_invalid', bff.url), { headers: CSRF })
    expect([other.status, other.headers.get('content-encoding'), await other.json()]).toEqual([401, null, { oauth_problem: 'signature_invalid', token: 'REDACTED' }])
    expect((await bff.store.accounts.get(accountId))?.status).toBe('active')
    const dead = await signer.fetch(new URL('/api/oauth1-echo/oauth1-401-gzipped?problem=token_rejected', bff.url), { headers: CSRF })
    expect([dead.status, ((await dead.json()) as { error: string }).error]).toEqual([401, 'reauth_required'])
    expect((await bff.store.accounts.get(accountId))?.status).toBe('reauth_required')
  })

  it('reads no more of an OAuth 1.0a 401 than its cap allows, coded bytes counted: one padded with codings that decode to nothing is not judged', async () => {
    const { browser: signer, accountId } = await signedIn(bff, 'oauth1-echo', { accessToken: 'oauth1-token', tokenSecret: 'oauth1-secret' })
    const padded = await signer.fetch(new URL('/api/oauth1-echo/gzip-padded?status=401&kb=1024', bff.url), { headers: CSRF })
    // Not judged, and passed on whole, as the provider wrote it (decoded).
    expect([padded.status, await padded.text()]).toEqual([401, '{"oauth_problem":"token_rejected"}'])
    expect((await bff.store.accounts.get(accountId))?.status).toBe('active')
    // The same problem behind a little padding is read, and judged.
    const dead = await signer.fetch(new URL('/api/oauth1-echo/gzip-padded?status=401&kb=1', bff.url), { headers: CSRF })
    expect([dead.status, ((await dead.json()) as { error: string }).error]).toEqual([401, 'reauth_required'])
  })

  it('passes on whole, unjudged and without the token, an OAuth 1.0a 401 too long to judge, however it is sent: declared or not, coded or not, ended or still open; refuses one it cannot decode', async () => {
    const { browser: signer, accountId } = await signedIn(bff, 'oauth1-echo', { accessToken: 'oauth1-token', tokenSecret: 'oauth1-secret' })
    const sendings = ['', '&chunked=1', '&chunked=1&hold=300', '&coding=gzip', '&coding=gzip&chunked=1', '&coding=gzip&chunked=1&hold=300', '&coding=deflate&chunked=1']
    for (const sending of sendings) {
      const long = await signer.fetch(new URL(`/api/oauth1-echo/oauth1-401-long?problem=token_rejected&kb=100${sending}`, bff.url), { headers: CSRF })
      expect([long.status, long.headers.get('content-encoding')], sending).toEqual([401, null])
      expect(await long.json(), sending).toEqual({ oauth_problem: 'token_rejected', token: 'REDACTED', padding: 'x'.repeat(100 * 1024) })
      expect((await bff.store.accounts.get(accountId))?.status, sending).toBe('active')
    }
    // The same problem, short, sent each of those ways, is judged.
    for (const sending of sendings) {
      const dead = await signer.fetch(new URL(`/api/oauth1-echo/oauth1-401-long?problem=token_rejected&kb=1${sending}`, bff.url), { headers: CSRF })
      expect([dead.status, ((await dead.json()) as { error: string }).error], sending).toEqual([401, 'reauth_required'])
      await bff.store.accounts.setStatus(accountId, 'active')
    }
    // One that names a coding it is not in cannot be read, judged nor passed on: refused before a byte is sent.
    const garbled = await signer.fetch(new URL('/api/oauth1-echo/oauth1-401-long?problem=token_rejected&kb=1&named=gzip', bff.url), { headers: CSRF })
    expect([garbled.status, ((await garbled.json()) as { error: string }).error]).toEqual([502, 'upstream_unreachable'])
    expect((await bff.store.accounts.get(accountId))?.status).toBe('active')
  })

  it('reads a deflate answer in either form browsers read, zlib-wrapped or raw: a 401 judged short or passed on long, and an answer passed through', async () => {
    const { browser: signer, accountId } = await signedIn(bff, 'oauth1-echo', { accessToken: 'oauth1-token', tokenSecret: 'oauth1-secret' })
    for (const coding of ['deflate', 'deflate-raw']) {
      for (const chunked of ['', '&chunked=1']) {
        const sending = `&coding=${coding}${chunked}`
        const dead = await signer.fetch(new URL(`/api/oauth1-echo/oauth1-401-long?problem=token_rejected&kb=1${sending}`, bff.url), { headers: CSRF })
        expect([dead.status, ((await dead.json()) as { error: string }).error], sending).toEqual([401, 'reauth_required'])
        await bff.store.accounts.setStatus(accountId, 'active')
        const long = await signer.fetch(new URL(`/api/oauth1-echo/oauth1-401-long?problem=token_rejected&kb=100${sending}`, bff.url), { headers: CSRF })
        expect([long.status, long.headers.get('content-encoding'), await long.json()], sending).toEqual([401, null, { oauth_problem: 'token_rejected', token: 'REDACTED', padding: 'x'.repeat(100 * 1024) }])
        expect((await bff.store.accounts.get(accountId))?.status, sending).toBe('active')
      }
      const passed = await browser.fetch(new URL(`/api/echo/gzipped-always?coding=${coding}`, bff.url), { headers: CSRF })
      expect([passed.status, passed.headers.get('content-encoding'), await passed.text()], coding).toEqual([200, null, 'zipped'])
    }
  })

  it("answers a host client that reads an answer twice at once as if it read it twice in turn, and passes the answer on whole", async () => {
    const { browser: signer, accountId } = await signedIn(bff, 'oauth1-twice-read', { accessToken: 'oauth1-token', tokenSecret: 'oauth1-secret' })
    const text = (kb: number) => JSON.stringify({ oauth_problem: 'token_rejected', token: 'oauth1-token', padding: 'x'.repeat(kb * 1024) })
    for (const sending of ['', '&chunked=1', '&chunked=1&hold=100', '&coding=gzip&chunked=1']) {
      TwiceReadingClient.readings.length = 0
      // Within both limits, within the whole one only, past both.
      const dead = await signer.fetch(new URL(`/api/oauth1-twice-read/oauth1-401-long?problem=token_rejected&kb=1${sending}`, bff.url), { headers: CSRF })
      expect([dead.status, ((await dead.json()) as { error: string }).error], sending).toEqual([401, 'reauth_required'])
      await bff.store.accounts.setStatus(accountId, 'active')
      const dying = await signer.fetch(new URL(`/api/oauth1-twice-read/oauth1-401-long?problem=token_rejected&kb=8${sending}`, bff.url), { headers: CSRF })
      expect([dying.status, ((await dying.json()) as { error: string }).error], sending).toEqual([401, 'reauth_required'])
      await bff.store.accounts.setStatus(accountId, 'active')
      const long = await signer.fetch(new URL(`/api/oauth1-twice-read/oauth1-401-long?problem=token_rejected&kb=100${sending}`, bff.url), { headers: CSRF })
      expect([long.status, await long.text()], sending).toEqual([401, text(100).replace('oauth1-token', 'REDACTED')])
      expect(TwiceReadingClient.readings, sending).toEqual([[text(1), text(1)], [text(8), null], ['', null]])
      expect((await bff.store.accounts.get(accountId))?.status, sending).toBe('active')
    }
  })

  it('lets go of an OAuth 1.0a 401 whose coding ends before its bytes do, once read: its time limit is over', async () => {
    const { browser: signer } = await signedIn(bff, 'oauth1-echo', { accessToken: 'oauth1-token', tokenSecret: 'oauth1-secret' })
    const letGo = upstream.trailingLetGo()
    const refused = await signer.fetch(new URL('/api/oauth1-echo/gzip-trailing?status=401&problem=signature_invalid', bff.url), { headers: CSRF })
    expect([refused.status, await refused.json()]).toEqual([401, { oauth_problem: 'signature_invalid' }])
    expect(await within(10_000, async () => upstream.trailingLetGo(), (n) => n > letGo)).toBeGreaterThan(letGo)
  })

  /** A GET of the OAuth 1.0a echo with `query` and a form POST of `form` to `postPath`: what the provider received of each. */
  async function oauth1Calls(query: string, postPath: string, form: string) {
    const { browser: signer } = await signedIn(bff, 'oauth1-echo', { accessToken: 'oauth1-token', tokenSecret: 'oauth1-secret' })
    const got = await signer.fetch(new URL(`/api/oauth1-echo/oauth/request_token?${query}`, bff.url), { headers: CSRF })
    expect(got.status).toBe(200)
    const posted = await signer.fetch(new URL(`/api/oauth1-echo/${postPath}`, bff.url), {
      method: 'POST',
      headers: { ...CSRF, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: form,
    })
    expect(posted.status).toBe(200)
    return upstream.received
  }

  it('sends an OAuth 1.0a form the app compressed as the bytes it is, with its coding, signing none of its parameters, which no one reads before decoding it', async () => {
    const { browser: signer } = await signedIn(bff, 'oauth1-echo', { accessToken: 'oauth1-token', tokenSecret: 'oauth1-secret' })
    const body = gzipSync('status=hello%20world')
    const posted = await signer.fetch(new URL('/api/oauth1-echo/statuses/update', bff.url), {
      method: 'POST',
      headers: { ...CSRF, 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Encoding': 'gzip' },
      body,
    })
    expect(posted.status).toBe(200)
    const [sent] = upstream.received
    expect([sent.headers['content-encoding'], sent.headers['content-length']]).toEqual(['gzip', String(body.length)])
    signedAsSent({ ...sent, body: '' }, upstream.url)
  })

  it("drops a caller's oauth_* parameters from the query and the form of an OAuth 1.0a call (RFC 5849 3.1), and signs what it sends", async () => {
    const [get, post] = await oauth1Calls('oauth_callback=https%3A%2F%2Fevil.example&a=1&oauth_token=forged', 'statuses/update?x=y', 'status=hello%20world&oauth_callback=https%3A%2F%2Fevil.example&oauth_consumer_key=other')
    expect([get.url, post.url, post.body]).toEqual(['/v1/oauth/request_token?a=1', '/v1/statuses/update?x=y', 'status=hello%20world'])
    for (const sent of [get, post]) {
      const header = signedAsSent(sent, upstream.url)
      expect(Object.fromEntries(header)).toEqual(expect.objectContaining({ oauth_consumer_key: 'id', oauth_token: 'oauth1-token' }))
      expect(header.map(([name]) => name)).not.toContain('oauth_callback')
    }
  })

  it("drops a caller's oauth_* parameters however their names are escaped, and sends the rest of an OAuth 1.0a call's query and form byte for byte", async () => {
    const [get, post] = await oauth1Calls('%6Fauth_callback=https%3A%2F%2Fevil.example&q=a%20b~*&oauth%5Fverifier=v&r=x+y&e=&e=1', 'statuses/update', '%6fauth_callback=https%3A%2F%2Fevil.example&status=a%20b~*&oauth%5fconsumer_key=other')
    // A provider reads these names as oauth_callback, oauth_verifier and oauth_consumer_key (RFC 5849 3.4.1.3.1 decodes them).
    expect([get.url, post.url, post.body]).toEqual(['/v1/oauth/request_token?q=a%20b~*&r=x+y&e=&e=1', '/v1/statuses/update', 'status=a%20b~*'])
    for (const sent of [get, post]) signedAsSent(sent, upstream.url)
  })

  it('answers 502 upstream_unreachable for a provider status past 599, which no browser reads as an answer', async () => {
    const response = await browser.fetch(new URL('/api/echo/status/600', bff.url), { headers: CSRF })
    expect([response.status, await response.json()]).toEqual([502, { error: 'upstream_unreachable', message: expect.any(String) }])
    expect(upstream.received).toHaveLength(1)
  })

  it.each(['OPTIONS', 'PROPFIND', 'LINK'])('answers %s with 405 method_not_allowed and Allow, sending nothing upstream', async (method) => {
    const response = await browser.fetch(new URL('/api/echo/me', bff.url), { method, headers: CSRF })
    expect(response.status).toBe(405)
    expect(response.headers.get('allow')).toBe('GET, HEAD, POST, PUT, PATCH, DELETE')
    expect(await response.json()).toEqual({ error: 'method_not_allowed', message: expect.any(String) })
    expect(upstream.received).toHaveLength(0)
  })

  it("marks the provider's answer as data: a sandboxing CSP and a same-origin CORP", async () => {
    for (const path of ['/api/echo/me', '/api/echo/status/404']) {
      const response = await browser.fetch(new URL(path, bff.url), { headers: CSRF })
      expect(response.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox")
      expect(response.headers.get('cross-origin-resource-policy')).toBe('same-origin')
    }
  })

  it('cuts an answer whose body stalls after its headers at the time limit', async () => {
    const letGo = upstream.stallsLetGo()
    const response = await browser.fetch(new URL('/api/echo/stall-body', bff.url), { headers: CSRF })
    expect(response.status).toBe(200)
    await expect(response.text()).rejects.toThrow()
    expect(await within(10_000, async () => upstream.stallsLetGo(), (n) => n > letGo)).toBeGreaterThan(letGo)
    expect(bff.logs.some((line) => line.startsWith('error answer cut:'))).toBe(true)
  })

  it('answers 504 upstream_timeout when the time limit lets go of a stalled answer while a client judges it, before it reads it', async () => {
    const { browser: user } = await signedIn(bff, 'introspecting', { accessToken: 'token-introspected' })
    const [asked, letGo] = [introspection.asked, upstream.stallsLetGo()]
    const answered = user.fetch(new URL('/api/introspecting/stall-body', bff.url), { headers: CSRF })
    expect(await within(10_000, async () => introspection.asked, (n) => n > asked)).toBe(asked + 1)
    // The time limit (500 ms) ends the provider's answer while the client still asks elsewhere.
    expect(await within(10_000, async () => upstream.stallsLetGo(), (n) => n > letGo)).toBeGreaterThan(letGo)
    introspection.answer()
    const response = await Promise.race([answered, new Promise<null>((resolve) => setTimeout(resolve, 10_000, null))])
    expect([response?.status, ((await response?.json()) as { error?: string } | undefined)?.error]).toEqual([504, 'upstream_timeout'])
  })

  it('answers 504 upstream_timeout when the time limit lets go of an answer a client read to judge, before it is passed on, coded or not', async () => {
    const { browser: user } = await signedIn(bff, 'introspecting-long', { accessToken: 'token-introspected' })
    for (const coding of ['', '&coding=gzip']) {
      const [asked, cut] = [introspection.asked, upstream.longCut()]
      // Longer than the client reads, and not over: its last bytes come only after the time limit.
      const answered = user.fetch(new URL(`/api/introspecting-long/oauth1-401-long?problem=other&kb=100&chunked=1&hold=5000${coding}`, bff.url), { headers: CSRF })
      expect(await within(10_000, async () => introspection.asked, (n) => n > asked), coding).toBe(asked + 1)
      expect(await within(10_000, async () => upstream.longCut(), (n) => n > cut), coding).toBeGreaterThan(cut)
      introspection.answer()
      const response = await Promise.race([answered, new Promise<null>((resolve) => setTimeout(resolve, 10_000, null))])
      expect([response?.status, ((await response?.json().catch(() => 'not JSON')) as { error?: string } | undefined)?.error], coding).toEqual([504, 'upstream_timeout'])
    }
  })

  it('sends the token as an access_token query parameter for providers that want it so', async () => {
    const { browser: queryBrowser } = await signedIn(bff, 'query-token', { accessToken: 'token-in-query' })
    const response = await queryBrowser.fetch(new URL('/api/query-token/me?x=1', bff.url), { headers: CSRF })
    expect(response.status).toBe(200)
    expect(upstream.received[0].url).toBe('/q/me?x=1&access_token=token-in-query')
    expect(upstream.received[0].headers.authorization).toBeUndefined()
  })

  it("never passes on a provider header that echoes the token (a query-token provider's pagination Link, an ETag of the credentials), keeping the others", async () => {
    const { browser: queryBrowser } = await signedIn(bff, 'query-token', { accessToken: 'token-in-query-paged' })
    const paged = await queryBrowser.fetch(new URL('/api/query-token/paged?per_page=5', bff.url), { headers: CSRF })
    expect(upstream.received[0].url).toBe('/q/paged?per_page=5&access_token=token-in-query-paged')
    expect([paged.status, paged.headers.get('link'), paged.headers.get('etag'), paged.headers.get('x-ratelimit-remaining')]).toEqual([200, null, null, '41'])
    expect(await paged.json()).toEqual({ page: 1 })
    // A bearer token, echoed percent-encoded in the ETag; the Link names no token and passes.
    const bearer = await browser.fetch(new URL('/api/echo/paged?per_page=5', bff.url), { headers: CSRF })
    expect(upstream.received[1].headers.authorization).toBe('Bearer token-echo-1')
    expect([bearer.status, bearer.headers.get('etag'), bearer.headers.get('x-ratelimit-remaining')]).toEqual([200, null, '41'])
    expect(bearer.headers.get('link')).toBe(`<${upstream.url}/v1/paged?per_page=5&page=2>; rel="next"`)
  })

  it('never passes on the token where a provider writes it back into its body, cut across chunks, percent-encoded or gzipped; the rest passes as sent', async () => {
    const token = 'ya29.a0Af/h+x~Q=='
    const { browser: echoed } = await signedIn(bff, 'echo', { accessToken: token })
    const { browser: queried } = await signedIn(bff, 'query-token', { accessToken: token })
    for (const [who, path] of [[echoed, '/api/echo/token-echo'], [queried, '/api/query-token/token-echo'], [echoed, '/api/echo/token-echo?coding=gzip']] as const) {
      const response = await who.fetch(new URL(path, bff.url), { headers: CSRF })
      const text = await response.text()
      expect([response.status, response.headers.get('content-encoding')], path).toEqual([200, null])
      expect(JSON.parse(text), path).toEqual({ data: [1], debug: 'REDACTED', paging: { next: `${upstream.url}${new URL(path, 'http://x').pathname.replace(/^\/api\/[^/]+/, path.includes('query') ? '/q' : '/v1')}?access_token=REDACTED&after=QVF` } })
    }
    // The plain echo names the query it got, the query-token provider's token included.
    const plain = await queried.fetch(new URL('/api/query-token/me?x=1', bff.url), { headers: CSRF })
    expect(await plain.json()).toEqual({ method: 'GET', url: '/q/me?x=1&access_token=REDACTED', body: '' })
  })

  it('never passes on the token inside a transfer coding the provider applied unasked (Transfer-Encoding: gzip, chunked), nor inside one it cannot read', async () => {
    const token = 'token-in-transfer-coding'
    const { browser: echoed } = await signedIn(bff, 'echo', { accessToken: token })
    for (const path of ['/api/echo/token-echo?transfer=gzip', '/api/echo/token-echo?transfer=deflate&coding=gzip']) {
      const response = await echoed.fetch(new URL(path, bff.url), { headers: CSRF })
      expect([response.status, response.headers.get('content-encoding')], path).toEqual([200, null])
      expect(JSON.parse(await response.text()), path).toEqual(expect.objectContaining({ debug: 'REDACTED' }))
    }
    const unreadable = await echoed.fetch(new URL('/api/echo/token-echo?transfer=compress', bff.url), { headers: CSRF })
    expect([unreadable.status, (await unreadable.json()).error]).toEqual([502, 'upstream_unreachable'])
    // The BFF's own calls read such an answer too.
    const own = await callProvider(`${upstream.url}/v1/token-echo?transfer=gzip`, { method: 'get' }, 'profile_request_failed')
    expect(JSON.parse(own.text)).toEqual(expect.objectContaining({ data: [1] }))
  })

  it("passes on a 304 with the headers its 200 would have: without the coding of a body the proxy would decode, which a cache updated by it would apply to the decoded body it holds", async () => {
    const answers = []
    for (const status of [200, 304]) {
      const response = await browser.fetch(new URL(`/api/echo/token-echo?coding=gzip&status=${status}`, bff.url), { headers: { ...CSRF, 'If-None-Match': '"v1"' } })
      await response.arrayBuffer()
      answers.push([response.status, response.headers.get('content-encoding'), response.headers.get('cache-control')])
    }
    expect(answers).toEqual([
      [200, null, 'no-store'],
      [304, null, 'no-store'],
    ])
  })

  it('answers 502 upstream_unreachable for a body in a coding the proxy cannot read for the token', async () => {
    const response = await browser.fetch(new URL('/api/echo/token-echo?coding=zstd', bff.url), { headers: CSRF })
    expect([response.status, (await response.json()).error, response.headers.get('content-encoding')]).toEqual([502, 'upstream_unreachable', null])
    // A 304 has no body of its own to read: passed on as it came.
    const unchanged = await browser.fetch(new URL('/api/echo/token-echo?coding=zstd&status=304', bff.url), { headers: CSRF })
    expect(unchanged.status).toBe(304)
  })

  it('unlinks an account even when the provider cannot revoke its tokens, and logs why', async () => {
    const { browser: leaving, accountId: leavingId } = await signedIn(bff, 'revocable', { accessToken: 'token-to-revoke', refreshToken: 'refresh-to-revoke' })
    const response = await leaving.fetch(new URL('/auth/accounts/revocable', bff.url), { method: 'DELETE', headers: CSRF })
    expect(response.status).toBe(204)
    expect(await bff.store.accounts.get(leavingId)).toBeNull()
    expect(bff.logs.some((line) => /revocation failed for account \d+/.test(line))).toBe(true)
    expect(bff.logs.join('\n')).not.toContain('token-to-revoke')
  })

  it('answers anything unexpected with 500 server_error and no detail, logging it under the request id', async () => {
    const before = await bff.store.db('providers').where({ name: 'other' }).first('client_secret')
    await bff.store.db('providers').where({ name: 'other' }).update({ client_secret: before.client_secret.slice(0, -3) + 'AAA' })
    // Written behind the BFF's back: a provider read just before would still answer from memory.
    await cacheLapse()
    try {
      // A call through the proxy decrypts the provider's secret (the provider list decrypts none).
      const response = await browser.fetch(new URL('/api/other/me', bff.url), { headers: CSRF })
      expect(response.status).toBe(500)
      expect(await response.json()).toEqual({ error: 'server_error', message: 'Something went wrong.' })
      const requestId = response.headers.get('x-request-id')
      expect(requestId).toMatch(/^[0-9a-f]{16}$/)
      expect(bff.logs.some((line) => line.startsWith(`error req=${requestId} server_error: SecretError: providers.client_secret`))).toBe(true)
      expect(bff.logs).toContain(bff.logs.find((line) => line.startsWith(`GET /api/other/me 500 `) && line.endsWith(`req=${requestId}`)))
    } finally {
      await bff.store.db('providers').where({ name: 'other' }).update(before)
    }
  })

  describe('large bodies', () => {
    const BIG_TIME_LIMIT_MS = 60_000
    let big: TestBff
    let bigBrowser: BrowserSession
    /** Signed in with an OAuth 1.0a account, whose forms are read whole to be signed. */
    let bigSigner: BrowserSession

    /** A body of undeclared length (sent chunked): `piece` twelve times, 3 MiB for a 256 KiB piece. */
    function twelveTimes(piece: Uint8Array): ReadableStream<Uint8Array> {
      let sent = 0
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent >= 12) return controller.close()
          sent++
          controller.enqueue(piece)
        },
      })
    }

    beforeAll(async () => {
      const created = await database.create()
      // A time limit no test here waits out (a test times out at 30 s): what ends a call the browser
      // left is its leaving, shown by the call ending at all, not by a clock reading on a loaded machine.
      big = await startBff(created.url, { proxy: { timeoutMs: BIG_TIME_LIMIT_MS, maxBody: 2 * 1024 * 1024, pipeDirectly: database.pipeDirectly } })
      const dropBig = created.drop
      const close = big.close
      big.close = async () => {
        await close()
        await dropBig()
      }
      const common = { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', apiBaseUrl: `${upstream.url}/v1`, clientId: 'id', clientSecret: 'secret' }
      await big.addProvider('echo', common)
      await big.addProvider('oauth1-echo', { ...common, requestTokenUrl: 'https://idp.example/request' })
      ;({ browser: bigBrowser } = await signedIn(big, 'echo', { accessToken: 'token-big' }))
      ;({ browser: bigSigner } = await signedIn(big, 'oauth1-echo', { accessToken: 'oauth1-token', tokenSecret: 'oauth1-secret' }))
    })

    afterAll(() => big?.close())

    it('passes an OAuth 2.0 form on as bytes, however many parameters it has: only OAuth 1.0a signs (and caps) them', async () => {
      const form = 'a=b&'.repeat(50_000) + 'end=1'
      const response = await bigBrowser.fetch(new URL('/api/echo/upload', big.url), { method: 'POST', headers: { ...CSRF, 'Content-Type': 'application/x-www-form-urlencoded' }, body: form })
      expect(response.status).toBe(200)
      expect(((await response.json()) as { body: string }).body).toBe(form)
    })

    it('streams a body larger than it buffers through to the provider intact', async () => {
      const payload = 'x'.repeat(1024 * 1024) + 'end'
      const response = await bigBrowser.fetch(new URL('/api/echo/upload', big.url), { method: 'PUT', headers: { ...CSRF, 'Content-Type': 'text/plain' }, body: payload })
      expect(response.status).toBe(200)
      // The echo answers with what it received: a megabyte back through the proxy too.
      expect(((await response.json()) as { body: string }).body).toBe(payload)
      expect(upstream.received.at(-1)?.body).toBe(payload)
      expect(upstream.received.at(-1)?.headers.authorization).toBe('Bearer token-big')
    })

    it("lets go of the provider's answer when the browser goes away in the middle of it", async () => {
      const letGo = upstream.stallsLetGo()
      const leaving = new AbortController()
      const response = await bigBrowser.fetch(new URL('/api/echo/stall-body', big.url), { headers: CSRF, signal: leaving.signal })
      expect(response.status).toBe(200)
      leaving.abort()
      // Long before this BFF's time limit: the browser's leaving, not the limit, closed it.
      expect(await within(10_000, async () => upstream.stallsLetGo(), (n) => n > letGo)).toBeGreaterThan(letGo)
    })

    it("lets go of the provider's call when the browser goes away before the provider answers, logged as abandoned (499)", async () => {
      const [letGo, waiting] = [upstream.heldLetGo(), upstream.held()]
      const leaving = new AbortController()
      const asked = bigBrowser.fetch(new URL('/api/echo/held', big.url), { headers: CSRF, signal: leaving.signal }).catch(() => 'gone')
      expect(await within(10_000, async () => upstream.held(), (n) => n > waiting)).toBeGreaterThan(waiting)
      leaving.abort()
      expect(await asked).toBe('gone')
      // Long before this BFF's time limit: the browser's leaving, not the limit, ended the call,
      // which otherwise held one of the provider's pooled connections for nobody.
      expect(await within(10_000, async () => upstream.heldLetGo(), (n) => n > letGo)).toBeGreaterThan(letGo)
      expect(await within(10_000, async () => big.logs.filter((line) => / \/api\/echo\/held 499 /.test(line)).length, (n) => n > 0)).toBe(1)
      upstream.releaseHeld()
    })

    it('holds a large answer back at the provider while the browser does not read it, and passes it on whole, the token taken out, once it does', async () => {
      const url = new URL('/api/echo/download?mb=64', big.url)
      const answer = await new Promise<import('node:http').IncomingMessage>((resolve, reject) => {
        httpRequest({ host: url.hostname, port: url.port, path: `${url.pathname}${url.search}`, headers: { ...CSRF, Cookie: bigBrowser.cookieHeader(url) } }, resolve).on('error', reject).end()
      })
      answer.pause()
      await new Promise((resolve) => setTimeout(resolve, 300))
      // What the sockets and streams between hold, a few megabytes, not the whole answer.
      const heldBack = upstream.downloadWritten()
      expect(heldBack).toBeLessThan(32 * 1024 * 1024)
      const chunks: Buffer[] = []
      for await (const chunk of answer) chunks.push(chunk as Buffer)
      const body = Buffer.concat(chunks).toString('latin1')
      expect([answer.statusCode, body.split('token-big').length - 1, body.split('REDACTED\n').length - 1]).toEqual([200, 0, 64])
      expect(body.length).toBe(64 * (1024 * 1024 - 'token-big'.length + 'REDACTED'.length))
    })

    it.each([['of undeclared length', {}], ['of declared length', { 'Content-Length': String(1024 * 1024) }]])(
      'cuts the upload to the provider at once when the browser goes away in the middle of a streamed body %s',
      async (_, length) => {
        const cut = upstream.uploadsCut()
        const arrivedBefore = upstream.arrived.length
        const url = new URL('/api/echo/upload', big.url)
        const uploading = httpRequest({ host: url.hostname, port: url.port, method: 'POST', path: url.pathname, headers: { ...CSRF, Cookie: bigBrowser.cookieHeader(url), 'Content-Type': 'application/octet-stream', ...length } })
        uploading.on('error', () => {})
        uploading.write(Buffer.alloc(300 * 1024))
        // Cut once the upload has reached the provider (a fixed 300 ms had been hoped to be enough).
        expect(await within(10_000, async () => upstream.arrived.length > arrivedBefore, Boolean)).toBe(true)
        uploading.destroy()
        // Long before the time limit: the browser's leaving, not the limit, ended it.
        expect(await within(10_000, async () => upstream.uploadsCut(), (n) => n > cut)).toBeGreaterThan(cut)
        // Logged as the browser's leaving, not as the provider's failure.
        expect(await within(10_000, async () => big.logs.filter((line) => /^POST \/api\/echo\/upload 499 /.test(line)).length, (n) => n > 0)).toBe(1)
        expect(big.logs.join('\n')).not.toMatch(/upstream_unreachable|service_unavailable|server_error/)
        big.logs.length = 0
      },
    )

    it.each([
      ['sends a malformed chunk', 'Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\nZZ\r\n'],
      ['half-closes after the first bytes of a declared body', `Content-Length: ${1024 * 1024}\r\n\r\nabcd`],
    ])('ends at once a streamed upload whose browser %s before the proxy reads it: no provider connection held until the time limit', async (_, rest) => {
      // All in one packet with the headers: the request is over before the proxy's first await ends.
      const url = new URL('/api/echo/upload', big.url)
      const head = `POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nCookie: ${bigBrowser.cookieHeader(url)}\r\nX-CSRF: 1\r\nContent-Type: application/octet-stream\r\n`
      const socket = connect({ host: url.hostname, port: Number(url.port) }, () => socket.end(head + rest))
      socket.on('error', () => {})
      socket.resume()
      const ended = (line: string) => /^POST \/api\/echo\/upload (499|504) /.test(line)
      const line = await within(10_000, async () => big.logs.find(ended), (found) => found !== undefined)
      // Long before the time limit, and as the browser's leaving, not the provider's slowness.
      expect(line).toMatch(/^POST \/api\/echo\/upload 499 /)
      expect(big.logs.join('\n')).not.toMatch(/upstream_timeout|upstream_unreachable|service_unavailable|server_error/)
      big.logs.length = 0
    })

    it('logs a small body the browser abandons half-way as abandoned (499), not as the database or the provider failing', async () => {
      const before = upstream.received.length
      const url = new URL('/api/echo/upload', big.url)
      const uploading = httpRequest({ host: url.hostname, port: url.port, method: 'POST', path: url.pathname, headers: { ...CSRF, Cookie: bigBrowser.cookieHeader(url), 'Content-Type': 'application/json', 'Content-Length': '1000' } })
      uploading.on('error', () => {})
      // Cut once the first piece has left, not after a fixed 200 ms: cut before the connection is made, it
      // sends nothing at all. Whether the server already reads the body or not, the outcome is the same.
      await new Promise((resolve) => uploading.write('{"half":', resolve))
      uploading.destroy()
      expect(await within(10_000, async () => big.logs.filter((line) => /^POST \/api\/echo\/upload 499 /.test(line)).length, (n) => n > 0)).toBe(1)
      expect(big.logs.join('\n')).not.toMatch(/upstream_unreachable|service_unavailable|server_error/)
      // Nothing of it went upstream: a buffered body is sent only once it is whole.
      expect(upstream.received.length).toBe(before)
      big.logs.length = 0
    })

    it('closes, at the time limit, the connection of a small body whose upload stalls, logged as abandoned (499), and sends nothing upstream', async () => {
      const before = upstream.received.length
      const abandoned = () => bff.logs.filter((line) => /^POST \/api\/echo\/upload 499 /.test(line)).length
      const abandonedBefore = abandoned()
      const url = new URL('/api/echo/upload', bff.url)
      const socket = connect({ host: url.hostname, port: Number(url.port) })
      socket.on('error', () => {})
      socket.resume()
      const closed = new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())))
      const sent = Date.now()
      socket.write(`POST ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nCookie: ${browser.cookieHeader(url)}\r\nX-CSRF: 1\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"half":`)
      // The BFF's time limit (500 ms here), not Node's 300 s request timeout, ends it.
      const closedAt = await Promise.race([closed, new Promise<number>((resolve) => setTimeout(() => resolve(Number.NaN), 20_000))])
      expect(closedAt - sent).toBeGreaterThanOrEqual(450)
      expect(await within(10_000, async () => abandoned(), (n) => n > abandonedBefore)).toBe(abandonedBefore + 1)
      expect(bff.logs.join('\n')).toMatch(/upload stalled: not whole in 500 ms/)
      expect(upstream.received.length).toBe(before)
      socket.destroy()
    })

    it('cuts off with 413 a body of undeclared length once it passes the limit', async () => {
      const stream = twelveTimes(new Uint8Array(256 * 1024).fill(120))
      const response = await bigBrowser.fetch(new URL('/api/echo/upload', big.url), { method: 'POST', headers: { ...CSRF, 'Content-Type': 'application/octet-stream' }, body: stream, duplex: 'half' } as RequestInit)
      expect(response.status).toBe(413)
      expect(await response.json()).toEqual({ error: 'payload_too_large', message: expect.any(String) })
    })

    it('refuses with 413 an OAuth 1.0a form of undeclared length over the limit, which it holds whole to sign, and sends nothing upstream', async () => {
      const stream = twelveTimes(new TextEncoder().encode(`a=${'x'.repeat(256 * 1024 - 3)}&`))
      const response = await bigSigner.fetch(new URL('/api/oauth1-echo/form-over-limit', big.url), { method: 'POST', headers: { ...CSRF, 'Content-Type': 'application/x-www-form-urlencoded' }, body: stream, duplex: 'half' } as RequestInit)
      expect(response.status).toBe(413)
      expect(await response.json()).toEqual({ error: 'payload_too_large', message: expect.any(String) })
      expect(upstream.arrived.filter((target) => target.includes('form-over-limit'))).toEqual([])
    })

    it("answers the browser's next request on the same kept-alive connection after a 413 sent before its upload ended", async () => {
      // One connection, kept alive, as a browser holds to its site.
      const agent = new Agent({ keepAlive: true, maxSockets: 1 })
      const url = new URL('/api/oauth1-echo/echo-after-413', big.url)
      const call = (method: string, body?: Buffer[]) =>
        new Promise<number>((resolve, reject) => {
          const headers: Record<string, string> = { ...CSRF, Cookie: bigSigner.cookieHeader(url) }
          if (body) headers['Content-Type'] = 'application/x-www-form-urlencoded'
          const sent = httpRequest({ agent, host: url.hostname, port: url.port, method, path: url.pathname, headers }, (answer) => {
            answer.resume()
            answer.on('end', () => resolve(answer.statusCode ?? 0))
          })
          sent.on('error', reject)
          for (const piece of body ?? []) sent.write(piece)
          sent.end()
        })
      try {
        // A form of undeclared length, over the limit: refused while it still arrives.
        const piece = Buffer.from(`a=${'x'.repeat(256 * 1024 - 3)}&`)
        expect(await call('POST', Array<Buffer>(12).fill(piece))).toBe(413)
        expect(await call('GET')).toBe(200)
      } finally {
        agent.destroy()
      }
    })

    it('refuses with 413 a body whose declared length is over the limit before a byte of it goes upstream', async () => {
      const url = new URL('/api/echo/declared-over-limit', big.url)
      const uploading = httpRequest({ host: url.hostname, port: url.port, method: 'POST', path: url.pathname, headers: { ...CSRF, Cookie: bigBrowser.cookieHeader(url), 'Content-Type': 'application/octet-stream', 'Content-Length': String(3 * 1024 * 1024) } })
      uploading.on('error', () => {})
      const status = new Promise<number>((resolve) => uploading.on('response', (response) => resolve(response.statusCode ?? 0)))
      // A first piece only: the answer must not wait for (or pass on) the rest.
      uploading.write(Buffer.alloc(512 * 1024))
      expect(await status).toBe(413)
      uploading.destroy()
      await new Promise((resolve) => setTimeout(resolve, 200))
      expect(upstream.arrived.filter((target) => target.includes('declared-over-limit'))).toEqual([])
    })
  })
})
