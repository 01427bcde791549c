import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { apiPath, createAllAccessClient, type AllAccessClient } from '../client/api.ts'
import { resolveApiTarget } from '../server/proxy/api-path.ts'
import { AllAccessClientError, ProviderApiError, isReauthRequired } from '../client/errors.ts'
import { startRecordingServer, type RecordedAnswer as Answer, type RecordedRequest as Received } from './support/recording-server.ts'


/**
 * The framework-free client against a real HTTP server on 127.0.0.1 that records every request
 * and answers what the test says.
 */
describe('createAllAccessClient against a real HTTP server', () => {
  let recorder: Awaited<ReturnType<typeof startRecordingServer>>
  let baseUrl: string
  let client: AllAccessClient
  let received: Received[]
  let answer: (request: Received) => Answer = () => ({ status: 200, body: '{}' })
  const json = (status: number, body: unknown): Answer => ({ status, body: JSON.stringify(body), type: 'application/json; charset=utf-8' })

  beforeAll(async () => {
    recorder = await startRecordingServer((request) => answer(request))
    received = recorder.received
    baseUrl = recorder.url
    client = createAllAccessClient({ baseUrl })
  })

  beforeEach(() => {
    received.length = 0
    answer = () => json(200, {})
  })

  afterAll(() => recorder.close())

  it('sends X-CSRF: 1 on every call', async () => {
    answer = ({ url }) => (url.startsWith('/auth/providers') ? json(200, { providers: [] }) : url.startsWith('/auth/session') ? json(200, { authenticated: false }) : { status: 204 })
    await client.getSession()
    await client.getProviders()
    await client.logout()
    await client.disconnect('github')
    await client.api('github', 'user')
    await client.api('github', 'user/repos', { method: 'POST', json: {} })
    expect(received.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /auth/session',
      'GET /auth/providers',
      'POST /auth/logout',
      'DELETE /auth/accounts/github',
      'GET /api/github/user',
      'POST /api/github/user/repos',
    ])
    for (const request of received) expect(request.headers['x-csrf']).toBe('1')
  })

  it("clockSkew is how far the BFF's clock is ahead, from its own answers' Date header; under 2 s, or with no header, it is 0", async () => {
    const dated = (skew: number): Answer => ({ ...json(200, { authenticated: false }), headers: { Date: new Date(Date.now() + skew).toUTCString() } })
    const fresh = createAllAccessClient({ baseUrl })
    expect(fresh.clockSkew!()).toBe(0)
    answer = () => dated(-300_000)
    await fresh.getSession()
    // The header's whole seconds, cut down, and the trip: up to a second or so behind.
    expect(fresh.clockSkew!()).toBeLessThanOrEqual(-300_000)
    expect(fresh.clockSkew!()).toBeGreaterThan(-301_500)
    // A provider's answer through the proxy is not the BFF's word on its clock.
    const skew = fresh.clockSkew!()
    answer = () => dated(600_000)
    await fresh.api('github', 'user')
    expect(fresh.clockSkew!()).toBe(skew)
    // A reading within 2 s of the last (whole seconds, the trip) changes nothing: the count would step back a second.
    answer = () => dated(skew + 1_000)
    await fresh.getSession()
    expect(fresh.clockSkew!()).toBe(skew)
    answer = () => dated(1_500)
    await fresh.getProviders()
    expect(fresh.clockSkew!()).toBe(0)
    // A fetch of the app's (server rendering, tests) may answer without the header: no correction.
    const undated = createAllAccessClient({ fetch: async () => Response.json({ authenticated: false }) })
    await undated.getSession()
    expect(undated.clockSkew!()).toBe(0)
  })

  it('getSession reads the session, and asks not to slide it with slide: false', async () => {
    const session = { authenticated: true, user: { id: '1', displayName: 'Alice' }, accounts: [], expiresAt: '2030-01-01T00:00:00.000Z' }
    answer = () => json(200, session)
    await expect(client.getSession()).resolves.toEqual(session)
    await client.getSession({ slide: false })
    expect(received.map((r) => r.url)).toEqual(['/auth/session', '/auth/session?slide=false'])
  })

  it('getProviders resolves with the list of providers', async () => {
    const providers = [{ name: 'github', displayName: 'GitHub', protocol: 'oauth2' }]
    answer = () => json(200, { providers })
    await expect(client.getProviders()).resolves.toEqual(providers)
  })

  it('logout asks for the provider sign-out with providerLogout, and resolves with nothing when there is none', async () => {
    answer = () => ({ status: 204 })
    await expect(client.logout({ providerLogout: true })).resolves.toBeUndefined()
    await client.logout({ providerLogout: false })
    expect(received.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /auth/logout?provider_logout=1', 'POST /auth/logout'])
  })

  it('logout and disconnect resolve with nothing on 204', async () => {
    answer = () => ({ status: 204 })
    await expect(client.logout()).resolves.toBeUndefined()
    await expect(client.disconnect('sandbox-oidc')).resolves.toBeUndefined()
  })

  it('api() calls /api/<provider>/<path> with the path kept as given and the query encoded', async () => {
    await client.api('github', 'repos/octo/hello-world/issues', { query: { state: 'open', per_page: 5, q: 'a b&c=d', skip: undefined, label: ['bug', 'ü'] } })
    await client.api('github', '/search/hello%20world')
    await client.api('github', 'a b/ü/100%', { query: new URLSearchParams([['x', '1'], ['x', '2']]) })
    expect(received.map((r) => r.url)).toEqual([
      '/api/github/repos/octo/hello-world/issues?state=open&per_page=5&q=a+b%26c%3Dd&label=bug&label=%C3%BC',
      '/api/github/search/hello%20world',
      '/api/github/a%20b/%C3%BC/100%25?x=1&x=2',
    ])
  })

  it('api() sends a JSON body as application/json', async () => {
    answer = ({ body }) => json(201, { received: JSON.parse(body) })
    await expect(client.api('sandbox-oidc', 'notes', { method: 'POST', json: { text: 'hi ü' } })).resolves.toEqual({ received: { text: 'hi ü' } })
    expect(received[0]).toEqual(expect.objectContaining({ method: 'POST', url: '/api/sandbox-oidc/notes', body: '{"text":"hi ü"}' }))
    expect(received[0].headers['content-type']).toBe('application/json')
  })

  it('api() sends a form body as application/x-www-form-urlencoded', async () => {
    await client.api('sandbox-oauth1', 'statuses/update.json', { method: 'POST', form: { status: 'a b&c=d ü' } })
    expect(received[0]).toEqual(expect.objectContaining({ method: 'POST', url: '/api/sandbox-oauth1/statuses/update.json', body: 'status=a+b%26c%3Dd+%C3%BC' }))
    expect(received[0].headers['content-type']).toBe('application/x-www-form-urlencoded')
  })

  it('api() uploads a file as it is, with its own type, and FormData as multipart with its boundary', async () => {
    const photo = new Blob(['not really a PNG'], { type: 'image/png' })
    await client.api('github', 'user/avatar', { method: 'PUT', body: photo })
    expect(received[0]).toEqual(expect.objectContaining({ method: 'PUT', url: '/api/github/user/avatar', body: 'not really a PNG' }))
    expect(received[0].headers['content-type']).toBe('image/png')
    const upload = new FormData()
    upload.append('media', new File(['bytes of a clip'], 'clip.mp4', { type: 'video/mp4' }))
    upload.append('note', 'a b&c')
    await client.api('sandbox-oauth1', 'media/upload.json', { method: 'POST', body: upload })
    const type = received[1].headers['content-type'] ?? ''
    expect(type).toMatch(/^multipart\/form-data; boundary=/)
    // Read back as a server reads it: the parts as they were appended.
    const parts = await new Response(received[1].body, { headers: { 'Content-Type': type } }).formData()
    const media = parts.get('media') as File
    expect({ name: media.name, type: media.type, text: await media.text(), note: parts.get('note') }).toEqual({ name: 'clip.mp4', type: 'video/mp4', text: 'bytes of a clip', note: 'a b&c' })
    // Text with the type the caller names; json or form, when given too, win.
    await client.api('github', 'gists', { method: 'POST', body: '<x/>', headers: { 'Content-Type': 'application/xml' } })
    expect(received[2]).toEqual(expect.objectContaining({ body: '<x/>' }))
    expect(received[2].headers['content-type']).toBe('application/xml')
    await client.api('github', 'gists', { method: 'POST', body: 'ignored', json: { kept: true } })
    expect(received[3]).toEqual(expect.objectContaining({ body: '{"kept":true}' }))
  })

  it('api() passes extra headers, and a Content-Type given by the caller wins', async () => {
    await client.api('github', 'user', { method: 'PATCH', json: { bio: 'x' }, headers: { 'Content-Type': 'application/merge-patch+json', 'X-GitHub-Api-Version': '2022-11-28' } })
    expect(received[0].headers['content-type']).toBe('application/merge-patch+json')
    expect(received[0].headers['x-github-api-version']).toBe('2022-11-28')
    expect(received[0].headers['x-csrf']).toBe('1')
  })

  it('api() resolves with text when the answer is not JSON, and an empty answer (204) with its text, ""', async () => {
    answer = () => ({ status: 200, body: 'plain words', type: 'text/plain' })
    await expect(client.api('github', 'zen')).resolves.toBe('plain words')
    answer = () => ({ status: 204 })
    await expect(client.api('github', 'user/starred/octo/hello')).resolves.toBe('')
  })

  it('api() resolves with the bytes, as a Blob, when the answer is not text (an avatar, a file)', async () => {
    const png = Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0xfe, 0x80])
    answer = () => ({ status: 200, body: png, type: 'image/png' })
    const photo = await client.api('microsoft', 'me/photo/$value')
    expect(photo).toBeInstanceOf(Blob)
    expect(new Uint8Array(await (photo as Blob).arrayBuffer())).toEqual(png)
  })

  it('turns a contract error of the BFF into AllAccessClientError with its exact code and status', async () => {
    answer = () => json(404, { error: 'account_not_found', message: 'No such account.' })
    const error = await client.disconnect('github').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AllAccessClientError)
    expect(error).toEqual(expect.objectContaining({ code: 'account_not_found', status: 404, message: 'No such account.' }))
  })

  it('turns the proxy refusing a call into AllAccessClientError: reauth_required, invalid_path', async () => {
    answer = () => json(401, { error: 'reauth_required', message: 'Sign in with this provider again.' })
    const reauth = await client.api('github', 'user').catch((e: unknown) => e)
    expect(reauth).toEqual(expect.objectContaining({ name: 'AllAccessClientError', code: 'reauth_required', status: 401 }))
    expect(isReauthRequired(reauth)).toBe(true)
    answer = () => json(400, { error: 'invalid_path', message: 'Not a plain relative path.' })
    await expect(client.api('github', 'a/../b')).rejects.toEqual(expect.objectContaining({ code: 'invalid_path', status: 400 }))
  })

  it("passes the provider's own error answer on as ProviderApiError with its status and body", async () => {
    answer = () => json(404, { message: 'Not Found', documentation_url: 'https://docs.github.com' })
    const error = await client.api('github', 'nope').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProviderApiError)
    expect(error).toEqual(expect.objectContaining({ status: 404, body: { message: 'Not Found', documentation_url: 'https://docs.github.com' } }))
    expect(isReauthRequired(error)).toBe(false)
  })

  it('does not mistake a provider body shaped like an error for a contract error', async () => {
    answer = () => json(403, { error: 'access_denied', message: 'Missing scope.' })
    await expect(client.api('github', 'user/emails')).rejects.toBeInstanceOf(ProviderApiError)
    answer = () => ({ status: 500, body: 'upstream broke', type: 'text/plain' })
    await expect(client.api('github', 'user')).rejects.toEqual(expect.objectContaining({ name: 'ProviderApiError', status: 500, body: 'upstream broke' }))
  })

  it("reads a provider's OAuth-style error body, which has no message, as the provider's answer even when its code is one the proxy uses", async () => {
    // RFC 6749 §5.2 names server_error; an API that answers in its style is not the BFF failing.
    const body = { error: 'server_error', error_description: 'The database is down.' }
    answer = () => json(500, body)
    await expect(client.api('github', 'user')).rejects.toEqual(expect.objectContaining({ name: 'ProviderApiError', status: 500, body }))
    answer = () => json(401, { error: 'not_authenticated' })
    await expect(client.api('github', 'user')).rejects.toBeInstanceOf(ProviderApiError)
    // The BFF's own answers always carry a message (DESIGN.md: every JSON error is {"error","message"}).
    answer = () => json(500, { error: 'server_error', message: 'Something went wrong.' })
    await expect(client.api('github', 'user')).rejects.toEqual(expect.objectContaining({ name: 'AllAccessClientError', code: 'server_error', status: 500 }))
  })

  it('reads an unknown code from the BFF as server_error, keeping the status', async () => {
    answer = () => json(418, { error: 'teapot', message: 'I am a teapot.' })
    const error = await client.getSession().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AllAccessClientError)
    expect(error).toEqual(expect.objectContaining({ code: 'server_error', status: 418 }))
  })

  it('reads a non-JSON error of the BFF as server_error', async () => {
    answer = () => ({ status: 502, body: '<html>bad gateway</html>', type: 'text/html' })
    const error = await client.getProviders().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AllAccessClientError)
    expect(error).toEqual(expect.objectContaining({ code: 'server_error', status: 502 }))
  })
})

describe('apiPath', () => {
  it('keeps a relative path and does not encode an escape twice', () => {
    expect(apiPath('/search/hello%20world')).toBe('search/hello%20world')
    expect(apiPath('a/b:c@d')).toBe('a/b:c@d')
    expect(apiPath('q?x#y')).toBe('q%3Fx%23y')
    expect(apiPath('v1.2/.well-known/a..b/...')).toBe('v1.2/.well-known/a..b/...')
  })

  it.each(['../other/me', '../../auth/logout', 'a/./b', 'a/..', '.', '%2e%2E/x', '.%2e/x', 'a/%2e/b'])(
    "keeps the dot segments of %s from the URL's resolution, for the BFF to refuse with invalid_path",
    async (path) => {
      const sent = apiPath(path)
      // What fetch sends: the URL as a browser (and undici) resolves it.
      const target = new URL(`http://bff.example/api/github/${sent}`)
      expect(target.pathname).toBe(`/api/github/${sent}`)
      expect(() => resolveApiTarget('https://api.github.com', sent, '')).toThrow(expect.objectContaining({ code: 'invalid_path' }))
    },
  )
})

describe('loginUrl', () => {
  it('is the login route of the BFF, with next', () => {
    expect(createAllAccessClient().loginUrl('github', { next: '/after?x=1' })).toBe('/auth/login/github?next=%2Fafter%3Fx%3D1')
    expect(createAllAccessClient({ baseUrl: 'https://bff.example/' }).loginUrl('github')).toBe('https://bff.example/auth/login/github')
  })
})
