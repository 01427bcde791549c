import Koa from 'koa'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKey } from '../server/crypto/keys.ts'
import { SESSION_COOKIE } from '../server/session/cookies.ts'
import { isErrorCode } from '../shared/errors.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startEchoUpstream } from './support/echo-upstream.ts'
import { startLogin } from './support/login.ts'
import { parseExposition, sampleValue, type Sample } from './support/prometheus.ts'
import { startRecordingServer } from './support/recording-server.ts'
import { signedIn } from './support/signed-in.ts'
import { startTcpRelay } from './support/tcp-relay.ts'
import { within } from './support/eventually.ts'
import { ERROR_MESSAGES } from '../shared/error-messages.ts'

const CSRF = { 'X-CSRF': '1' }
const SECRETS = { clientSecret: 'client-secret-5f2a', loginToken: 'at-login-9c1e', loginRefresh: 'rt-login-7d3b', refreshed: 'at-refreshed-4e8f', staleToken: 'at-stale-2b6c', staleRefresh: 'rt-stale-8a1d' }
const ROUTES = ['/auth/providers', '/auth/login/:provider', '/auth/callback/:provider', '/auth/session', '/auth/logout', '/auth/accounts/:provider', '/api/:provider', 'unmatched', '/healthz', '/readyz', '/metrics']
const isStatus = (value: string) => /^[1-5]\d\d$/.test(value)
/** Every label a series may carry, with the values it may take: none names a user, a session, an account or a path. */
const VOCABULARY: Record<string, (value: string) => boolean> = {
  route: (value) => ROUTES.includes(value),
  method: (value) => ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'other'].includes(value),
  status: isStatus,
  provider: (value) => ['echo', 'refusing'].includes(value),
  code: isErrorCode,
  outcome: (value) => isStatus(value) || isErrorCode(value) || ['refreshed', 'refused', 'failed'].includes(value),
  state: (value) => ['used', 'free', 'pending_acquire', 'pending_create'].includes(value),
  quantile: (value) => ['0.5', '0.9', '0.99', '1'].includes(value),
  le: (value) => value === '+Inf' || Number.isFinite(Number(value)),
}

/** The operator's side of a BFF: `allAccess.operations` mounted on a server of its own, as a host app would. */
async function serveOperations(bff: TestBff): Promise<{ url: string; close(): Promise<void> }> {
  const app = new Koa()
  app.use(bff.allAccess.operations)
  const server: Server = createServer(app.callback())
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

async function scrape(url: string): Promise<{ text: string; samples: Sample[] }> {
  const response = await fetch(`${url}/metrics`)
  expect(response.status).toBe(200)
  expect(response.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
  const text = await response.text()
  return { text, samples: parseExposition(text) }
}

describe.each(databases)('health and metrics of a mounted BFF on $kind', (database) => {
  let drop: () => Promise<void>
  let relay: Awaited<ReturnType<typeof startTcpRelay>> | undefined
  let bff: TestBff
  let operations: Awaited<ReturnType<typeof serveOperations>>
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>
  let provider: Awaited<ReturnType<typeof startRecordingServer>>

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    let url = created.url
    if (database.kind === 'postgres') {
      // Through a relay that the last test cuts: the database going away, the machine's PostgreSQL untouched.
      const direct = new URL(created.url)
      relay = await startTcpRelay(direct.hostname, Number(direct.port || 5432))
      const relayed = new URL(created.url)
      relayed.host = `127.0.0.1:${relay.port}`
      url = relayed.toString()
    }
    bff = await startBff(url)
    operations = await serveOperations(bff)
    upstream = await startEchoUpstream()
    provider = await startRecordingServer((request) => {
      const path = new URL(request.url, 'http://x').pathname
      const grant = new URLSearchParams(request.body).get('grant_type')
      if (path === '/token' && grant === 'authorization_code') return { status: 200, type: 'application/json', body: JSON.stringify({ access_token: SECRETS.loginToken, refresh_token: SECRETS.loginRefresh, token_type: 'Bearer', expires_in: 3600 }) }
      if (path === '/token' && grant === 'refresh_token') return { status: 200, type: 'application/json', body: JSON.stringify({ access_token: SECRETS.refreshed, token_type: 'Bearer', expires_in: 3600 }) }
      if (path === '/token-refusing') return { status: 400, type: 'application/json', body: '{"error":"invalid_grant"}' }
      if (path === '/me') return { status: 200, type: 'application/json', body: '{"id":"identity-31337","name":"Ada"}' }
      return { status: 404 }
    })
    const common = { authorizationUrl: `${provider.url}/authorize`, profileUrl: `${provider.url}/me`, apiBaseUrl: `${upstream.url}/v1`, clientId: 'client-id', clientSecret: SECRETS.clientSecret }
    await bff.addProvider('echo', { ...common, accessTokenUrl: `${provider.url}/token` })
    await bff.addProvider('refusing', { ...common, accessTokenUrl: `${provider.url}/token-refusing` })
  })

  afterAll(async () => {
    await operations?.close()
    await bff?.close().catch(() => {})
    await relay?.close()
    await upstream?.close()
    await provider?.close()
    await drop?.()
  })

  it('answers GET /healthz with 200 {"status":"live"} and not a single database query', async () => {
    let queries = 0
    const count = () => queries++
    bff.store.db.on('query', count)
    try {
      const response = await fetch(`${operations.url}/healthz`)
      expect(response.status).toBe(200)
      expect(response.headers.get('cache-control')).toBe('no-store')
      expect(await response.json()).toEqual({ status: 'live' })
    } finally {
      bff.store.db.off('query', count)
    }
    expect(queries).toBe(0)
  })

  it('answers GET /readyz with 200 {"status":"ready"} while the database answers', async () => {
    const response = await fetch(`${operations.url}/readyz`)
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ status: 'ready' })
  })

  it('refuses POST on /metrics with 405 method_not_allowed and Allow, and passes other paths on', async () => {
    const response = await fetch(`${operations.url}/metrics`, { method: 'POST' })
    expect(response.status).toBe(405)
    expect(response.headers.get('allow')).toBe('GET, HEAD')
    expect(await response.json()).toEqual({ error: 'method_not_allowed', message: 'This route does not take this method.' })
    expect((await fetch(`${operations.url}/auth/providers`)).status).toBe(404)
  })

  it('counts requests by route template, logins, failures, upstream latency and refreshes, and a scrape holds no user id, token, secret or requested path', async () => {
    const before = (await scrape(operations.url)).samples
    const sessionsBefore = sampleValue(before, 'allaccess_active_sessions') ?? Number.NaN

    // A login that succeeds, one the user refuses, and a callback with no login behind it.
    const browser = new BrowserSession()
    const authorize = await startLogin(browser, bff.url, 'echo')
    const state = authorize.searchParams.get('state')!
    const callback = (query: string) => browser.fetch(new URL(`/auth/callback/echo?${query}`, bff.url), {}, { navigation: true, crossSite: true })
    expect((await callback(`code=code-1&state=${state}`)).headers.get('location')).toBe('/')
    const refusing = await startLogin(new BrowserSession(), bff.url, 'echo')
    expect((await callback(`error=access_denied&state=${refusing.searchParams.get('state')}`)).headers.get('location')).toBe('/?auth_error=invalid_state')
    const stranger = new BrowserSession()
    const refused = await startLogin(stranger, bff.url, 'echo')
    const denied = await stranger.fetch(new URL(`/auth/callback/echo?error=access_denied&state=${refused.searchParams.get('state')}`, bff.url), {}, { navigation: true, crossSite: true })
    expect(denied.headers.get('location')).toBe('/?auth_error=access_denied')

    // Proxy calls with identifiers in their paths and queries, one refused path, one upstream 404.
    const echo = await signedIn(bff, 'echo', { accessToken: SECRETS.staleToken, refreshToken: SECRETS.staleRefresh, expiresAt: Date.now() - 1000 })
    const call = (user: BrowserSession, path: string) => user.fetch(new URL(path, bff.url), { headers: CSRF })
    expect((await call(echo.browser, '/api/echo/users/98765/repos?email=ada%40example.com')).status).toBe(200)
    expect((await call(echo.browser, '/api/echo/orders/55501')).status).toBe(200)
    expect((await call(echo.browser, '/api/echo/status/404')).status).toBe(404)
    expect((await call(echo.browser, '/api/echo/a%2e%2e/secret-77')).status).toBe(400)
    const stale = await signedIn(bff, 'refusing', { accessToken: SECRETS.staleToken, refreshToken: SECRETS.staleRefresh, expiresAt: Date.now() - 1000 })
    expect((await call(stale.browser, '/api/refusing/me')).status).toBe(401)
    expect((await browser.fetch(new URL('/auth/unknown-42', bff.url))).status).toBe(404)
    expect((await browser.fetch(new URL('/auth/session', bff.url), { method: 'POST', headers: CSRF })).status).toBe(405)

    const { text, samples } = await scrape(operations.url)
    const delta = (name: string, labels: Record<string, string>) => (sampleValue(samples, name, labels) ?? 0) - (sampleValue(before, name, labels) ?? 0)
    expect(delta('allaccess_http_requests_total', { route: '/auth/login/:provider', method: 'GET', status: '302' })).toBe(3)
    expect(delta('allaccess_http_requests_total', { route: '/auth/callback/:provider', method: 'GET', status: '302' })).toBe(3)
    expect(delta('allaccess_http_requests_total', { route: '/api/:provider', method: 'GET', status: '200' })).toBe(2)
    expect(delta('allaccess_http_requests_total', { route: '/api/:provider', method: 'GET', status: '404' })).toBe(1)
    expect(delta('allaccess_http_requests_total', { route: '/api/:provider', method: 'GET', status: '400' })).toBe(1)
    expect(delta('allaccess_http_requests_total', { route: '/api/:provider', method: 'GET', status: '401' })).toBe(1)
    expect(delta('allaccess_http_requests_total', { route: 'unmatched', method: 'GET', status: '404' })).toBe(1)
    expect(delta('allaccess_http_requests_total', { route: '/auth/session', method: 'POST', status: '405' })).toBe(1)
    expect(delta('allaccess_http_request_duration_seconds_count', { route: '/api/:provider' })).toBe(5)
    expect(delta('allaccess_logins_total', { provider: 'echo' })).toBe(1)
    expect(delta('allaccess_login_failures_total', { provider: 'echo', code: 'invalid_state' })).toBe(1)
    expect(delta('allaccess_login_failures_total', { provider: 'echo', code: 'access_denied' })).toBe(1)
    expect(delta('allaccess_proxy_upstream_duration_seconds_count', { provider: 'echo', outcome: '200' })).toBe(2)
    expect(delta('allaccess_proxy_upstream_duration_seconds_count', { provider: 'echo', outcome: '404' })).toBe(1)
    expect(delta('allaccess_token_refreshes_total', { provider: 'echo', outcome: 'refreshed' })).toBe(1)
    expect(delta('allaccess_token_refreshes_total', { provider: 'refusing', outcome: 'refused' })).toBe(1)
    // The login's session and the two made for the proxy calls.
    expect(sampleValue(samples, 'allaccess_active_sessions')).toBe(sessionsBefore + 3)
    const poolMax = database.kind === 'sqlite' ? 1 : 10
    expect(sampleValue(samples, 'allaccess_db_pool_max')).toBe(poolMax)
    // The scrape's own session count may hold a connection while the pool is read.
    const [used, free] = ['used', 'free'].map((state) => sampleValue(samples, 'allaccess_db_pool_connections', { state })!)
    expect([0, 1]).toContain(used)
    expect(used + free).toBeGreaterThanOrEqual(1)
    expect(used + free).toBeLessThanOrEqual(poolMax)
    for (const quantile of ['0.5', '0.9', '0.99', '1']) expect(sampleValue(samples, 'allaccess_event_loop_lag_seconds', { quantile })).toBeGreaterThanOrEqual(0)
    // What a soak watches for leaks: this process's memory and descriptors, as prom-client names them.
    expect(sampleValue(samples, 'process_resident_memory_bytes')).toBeGreaterThan(sampleValue(samples, 'nodejs_heap_size_used_bytes')!)
    expect(sampleValue(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0)
    expect(sampleValue(samples, 'process_open_fds')).toBeGreaterThan(2)

    // Every label value comes from a closed vocabulary: configuration, templates, statuses and codes.
    expect(samples.filter((sample) => !Object.entries(sample.labels).every(([name, value]) => VOCABULARY[name]?.(value)))).toEqual([])
    const sessionCookies = [browser, echo.browser, stale.browser].map((b) => b.cookie(SESSION_COOKIE)?.value).filter(Boolean)
    expect(sessionCookies).toHaveLength(3)
    for (const secret of [...Object.values(SECRETS), ...sessionCookies, state, 'code-1', 'identity-31337', 'Ada', '98765', '55501', 'secret-77', 'example.com', 'users/', 'orders', 'unknown-42']) expect(text).not.toContain(secret)
  })

  it("counts a proxied call the browser left before the provider answered as 499, as the request is, not as a server_error of the provider's", async () => {
    const { samples: before } = await scrape(operations.url)
    const { browser: leaving } = await signedIn(bff, 'echo', { accessToken: 'token-leaving' })
    const waiting = upstream.held()
    const gone = new AbortController()
    const asked = leaving.fetch(new URL('/api/echo/held', bff.url), { headers: CSRF, signal: gone.signal }).catch(() => 'gone')
    while (upstream.held() === waiting) await new Promise((resolve) => setTimeout(resolve, 10))
    gone.abort()
    expect(await asked).toBe('gone')
    const outcome = async (name: string) => (sampleValue((await scrape(operations.url)).samples, 'allaccess_proxy_upstream_duration_seconds_count', { provider: 'echo', outcome: name }) ?? 0) - (sampleValue(before, 'allaccess_proxy_upstream_duration_seconds_count', { provider: 'echo', outcome: name }) ?? 0)
    expect(await within(3000, () => outcome('499'), (n) => n > 0)).toBe(1)
    expect(await outcome('server_error')).toBe(0)
    upstream.releaseHeld()
  })

  // The README's Registry.merge threw "A metric with the name process_resident_memory_bytes has already
  // been registered" for any app that also calls prom-client's collectDefaultMetrics, as most do.
  it("merges its registry with a host app's that collects prom-client's default metrics, and /metrics still names the process", async () => {
    const host = new Registry()
    collectDefaultMetrics({ register: host })
    const merged = parseExposition(await Registry.merge([host, bff.allAccess.metrics.registry]).metrics())
    expect(merged.filter((sample) => sample.name === 'process_resident_memory_bytes')).toHaveLength(1)
    expect(merged.some((sample) => sample.name === 'allaccess_http_requests_total')).toBe(true)
    const { samples } = await scrape(operations.url)
    for (const name of ['process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'process_open_fds']) expect(samples.filter((sample) => sample.name === name), name).toHaveLength(1)
  })

  it('keeps the metrics of two BFFs in one process apart', async () => {
    const otherDatabase = await database.create()
    const other = await startBff(otherDatabase.url, { keys: generateKey() })
    const otherOperations = await serveOperations(other)
    try {
      const before = await scrape(operations.url)
      for (let i = 0; i < 3; i++) await fetch(new URL('/auth/providers', other.url))
      const mine = await scrape(operations.url)
      const theirs = await scrape(otherOperations.url)
      const providers = { route: '/auth/providers', method: 'GET', status: '200' }
      expect(sampleValue(theirs.samples, 'allaccess_http_requests_total', providers)).toBe(3)
      expect(sampleValue(mine.samples, 'allaccess_http_requests_total', providers)).toBe(sampleValue(before.samples, 'allaccess_http_requests_total', providers))
    } finally {
      await otherOperations.close()
      await other.close()
      await otherDatabase.drop()
    }
  })

  // Last: it takes the database away.
  it('answers GET /readyz with 503 service_unavailable once the database is away, while /healthz and /metrics still answer', async () => {
    // Signed in before, never read: the session read below must go to the database.
    const user = await signedIn(bff, 'echo', { accessToken: SECRETS.loginToken })
    const before = (await scrape(operations.url)).samples
    if (relay) await relay.cut()
    else await bff.store.close()
    // A request the database's absence fails before its route runs is still counted under its route.
    // (SQLite's stand-in for an outage, a closed store, is no database error: it answers 500.)
    const read = await user.browser.fetch(new URL('/auth/session', bff.url), { headers: CSRF })
    if (relay) expect(read.status).toBe(503)
    const afterRead = (await scrape(operations.url)).samples
    const labels = (route: string) => ({ route, method: 'GET', status: String(read.status) })
    const counted = (route: string) => (sampleValue(afterRead, 'allaccess_http_requests_total', labels(route)) ?? 0) - (sampleValue(before, 'allaccess_http_requests_total', labels(route)) ?? 0)
    expect([counted('/auth/session'), counted('unmatched')]).toEqual([1, 0])
    const ready = await fetch(`${operations.url}/readyz`)
    expect(ready.status).toBe(503)
    expect(await ready.json()).toEqual({ error: 'service_unavailable', message: ERROR_MESSAGES.service_unavailable })
    expect((await fetch(`${operations.url}/healthz`)).status).toBe(200)
    const { samples } = await scrape(operations.url)
    expect(sampleValue(samples, 'allaccess_active_sessions')).toBeNaN()
    if (relay) {
      await relay.restore()
      let status = 0
      for (let attempt = 0; attempt < 20 && status !== 200; attempt++) {
        status = (await fetch(`${operations.url}/readyz`)).status
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 250))
      }
      expect(status).toBe(200)
    }
  })
})
