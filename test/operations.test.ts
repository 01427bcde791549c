import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { join } from 'node:path'
import { CLEAN_UP_EVERY_MS, createAllAccess } from '../server/all-access.ts'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { hashId, randomToken } from '../server/crypto/random.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'
import { SESSION_COOKIE } from '../server/session/cookies.ts'
import { migrate, openStore, type Store } from '../server/store/index.ts'
import { cacheLapse, within } from './support/eventually.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases, TEST_DATABASE_URL } from './support/databases.ts'
import { startEchoUpstream } from './support/echo-upstream.ts'
import { startServe, type RunningServe } from './support/demo-server.ts'
import { startTcpRelay } from './support/tcp-relay.ts'
import { scratchFolder } from './support/scratch-folder.ts'

const CSRF = { 'X-CSRF': '1' }

/** Whether `condition` holds within 10 s, asked every 50 ms. */
const until = (condition: () => boolean) => within(10_000, async () => condition(), Boolean)

/** A signed-in browser for `serve` processes, made in the database they use. */
async function signInThroughDatabase(store: Store, host: string, provider: string): Promise<BrowserSession> {
  const record = await store.providers.get(provider)
  const user = await store.users.create('Operator')
  await store.accounts.create({ providerId: record!.id, identifier: randomToken(6), userId: user.id, displayName: null, accessToken: 'token', tokenSecret: null, refreshToken: null, idToken: null, expiresAt: null, scope: null })
  const id = randomToken()
  await store.sessions.create(hashId(id), { userId: user.id, createdAt: Date.now(), idleExpiresAt: Date.now() + 3_600_000, absoluteExpiresAt: Date.now() + 3_600_000 })
  const browser = new BrowserSession()
  browser.cookies.push({ name: SESSION_COOKIE, value: id, host, path: '/', attributes: '' })
  return browser
}

describe('all-access serve, operated', () => {
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>
  const keys = generateKey()

  beforeAll(async () => {
    upstream = await startEchoUpstream()
  })

  afterAll(() => upstream?.close())

  async function prepared(databaseUrl: string) {
    const store = openStore({ databaseUrl, keys: parseKeys(keys) })
    await migrate(store.db)
    await store.providers.add(buildProviderConfig('echo', { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', apiBaseUrl: `${upstream.url}/v1`, clientId: 'a', clientSecret: 'b' }))
    return store
  }

  it('finishes requests in flight on SIGTERM, refuses new ones, and exits 0', async () => {
    const databaseUrl = `sqlite://${join(scratchFolder('aa-ops-'), 'db.sqlite3')}`
    const store = await prepared(databaseUrl)
    const serve = await startServe({ databaseUrl, keys })
    try {
      const browser = await signInThroughDatabase(store, new URL(serve.url).hostname, 'echo')
      const inFlight = browser.fetch(new URL('/api/echo/held', serve.url), { headers: CSRF })
      // In flight from when the provider has it until the test lets the provider answer, however
      // loaded the machine: fixed sleeps had sent SIGTERM 300 ms after the request, and the answer 1.5 s later.
      expect(await until(() => upstream.held() === 1)).toBe(true)
      serve.process.kill('SIGTERM')
      // The instance says it stops once it has stopped listening.
      expect(await until(() => serve.output().includes('all-access stopping (SIGTERM)'))).toBe(true)
      await expect(fetch(new URL('/auth/providers', serve.url))).rejects.toThrow()
      upstream.releaseHeld()
      const response = await inFlight
      expect(response.status).toBe(200)
      expect(await response.json()).toEqual({ held: true })
      expect(await serve.exited).toBe(0)
      expect(serve.output()).toContain('all-access stopping (SIGTERM)')
    } finally {
      upstream.releaseHeld()
      await serve.stop()
      await store.close()
    }
  })

  it('answers a request in flight at SIGTERM with Connection: close, so its client sends no more on a socket the drain closes', async () => {
    const { Agent, get } = await import('node:http')
    const databaseUrl = `sqlite://${join(scratchFolder('aa-ops-'), 'db.sqlite3')}`
    const store = await prepared(databaseUrl)
    const serve = await startServe({ databaseUrl, keys })
    const agent = new Agent({ keepAlive: true })
    try {
      const browser = await signInThroughDatabase(store, new URL(serve.url).hostname, 'echo')
      const cookie = browser.cookies.map(({ name, value }) => `${name}=${value}`).join('; ')
      const inFlight = new Promise<import('node:http').IncomingMessage>((resolve, reject) => get(new URL('/api/echo/held', serve.url), { agent, headers: { ...CSRF, Cookie: cookie } }, resolve).on('error', reject))
      expect(await until(() => upstream.held() === 1)).toBe(true)
      serve.process.kill('SIGTERM')
      // Its answer begins only after the instance began to stop.
      expect(await until(() => serve.output().includes('all-access stopping (SIGTERM)'))).toBe(true)
      upstream.releaseHeld()
      const response = await inFlight
      response.resume()
      expect(response.statusCode).toBe(200)
      // Keep-alive would invite the client (a load balancer's pool) to send its next request on a
      // socket the drain closes as soon as it is idle: that request would be lost, never answered.
      expect(response.headers.connection).toBe('close')
      expect(await serve.exited).toBe(0)
    } finally {
      upstream.releaseHeld()
      agent.destroy()
      await serve.stop()
      await store.close()
    }
  })

  it('starts no sandbox provider without --sandbox, and the sandboxes only on loopback with it', async () => {
    const plain = await startServe({})
    try {
      expect(await (await fetch(new URL('/auth/providers', plain.url))).json()).toEqual({ providers: [] })
      expect(plain.output()).not.toContain('sandbox providers')
    } finally {
      await plain.stop()
    }
    const sandbox = await startServe({ sandbox: true })
    try {
      const { providers } = (await (await fetch(new URL('/auth/providers', sandbox.url))).json()) as { providers: { name: string }[] }
      expect(providers.map((p) => p.name)).toEqual(['sandbox-oauth1', 'sandbox-oidc'])
      const [, oidc, oauth1] = /sandbox-oidc at (\S+), sandbox-oauth1 at (\S+)/.exec(sandbox.output()) ?? []
      expect(new URL(oidc).hostname).toBe('127.0.0.1')
      expect(new URL(oauth1).hostname).toBe('127.0.0.1')
    } finally {
      await sandbox.stop()
    }
  })

  it('leaves the sandbox providers disabled once it stops: a serve without --sandbox on the same database offers no login to a port now closed', async () => {
    const databaseUrl = `sqlite://${join(scratchFolder('aa-sandbox-'), 'db.sqlite3')}`
    const keys = generateKey()
    const listed = async (serve: RunningServe) => ((await (await fetch(new URL('/auth/providers', serve.url))).json()) as { providers: { name: string }[] }).providers.map((p) => p.name)
    const sandbox = await startServe({ sandbox: true, databaseUrl, keys })
    expect(await listed(sandbox)).toEqual(['sandbox-oauth1', 'sandbox-oidc'])
    expect(await sandbox.stop()).toBe(0)
    const plain = await startServe({ databaseUrl, keys })
    try {
      expect(await listed(plain)).toEqual([])
    } finally {
      await plain.stop()
    }
    // Started again, the sandbox enables them.
    const again = await startServe({ sandbox: true, databaseUrl, keys })
    try {
      expect(await listed(again)).toEqual(['sandbox-oauth1', 'sandbox-oidc'])
    } finally {
      await again.stop()
    }
  })

  it('refuses to start, in one clear line, when the database is down', async () => {
    await expect(startServe({ databaseUrl: 'postgres://postgres@127.0.0.1:1/nothing' })).rejects.toThrow(/serve exited with [1-9]\d*:\nall-access: cannot reach the database \(.*ECONNREFUSED/)
  })

  /**
   * `serve` on a fresh PostgreSQL database reached through a relay that a test can cut and restore,
   * with the provider `echo`: the database going away without touching the machine's PostgreSQL.
   */
  async function behindRelay(use: (setting: { relay: Awaited<ReturnType<typeof startTcpRelay>>; store: Store; serve: RunningServe }) => Promise<void>) {
    const { url, drop } = await databases.find((d) => d.kind === 'postgres')!.create()
    const direct = new URL(url)
    const relay = await startTcpRelay(direct.hostname, Number(direct.port || 5432))
    const relayed = new URL(url)
    relayed.host = `127.0.0.1:${relay.port}`
    const store = await prepared(url)
    let serve: RunningServe | undefined
    try {
      serve = await startServe({ databaseUrl: relayed.toString(), keys })
      await use({ relay, store, serve })
    } finally {
      await serve?.stop()
      await relay.close()
      await store.close()
      await drop()
    }
  }

  it.skipIf(!TEST_DATABASE_URL)('answers 503, never 500, to requests in flight when PostgreSQL goes away under them', async () => {
    await behindRelay(async ({ relay, serve }) => {
      const base = serve.url
      // A new unknown session id each time: every read goes to the database, none is answered from memory.
      const read = async () => (await fetch(new URL('/auth/session', base), { headers: { ...CSRF, cookie: `${SESSION_COOKIE}=${randomToken()}` } })).status
      const statuses = new Map<number, number>()
      let running = true
      const readers = Array.from({ length: 8 }, async () => {
        while (running) {
          const status = await read()
          statuses.set(status, (statuses.get(status) ?? 0) + 1)
        }
    })
    for (let round = 0; round < 6; round++) {
      await new Promise((resolve) => setTimeout(resolve, 150))
      await relay.cut()
      await new Promise((resolve) => setTimeout(resolve, 150))
      await relay.restore()
    }
    await new Promise((resolve) => setTimeout(resolve, 500))
    running = false
    await Promise.all(readers)
    expect([...statuses.keys()].sort()).toEqual(expect.arrayContaining([200, 503]))
    expect(Object.fromEntries([...statuses].filter(([status]) => status !== 200 && status !== 503))).toEqual({})
    expect(await read()).toBe(200)
    expect(serve.output()).not.toMatch(/server_error|at .*\.[jt]s:\d+/)
    })
  })

  it.skipIf(!TEST_DATABASE_URL)('answers 503 JSON while PostgreSQL is away, and recovers when it is back', async () => {
    await behindRelay(async ({ relay, store, serve }) => {
      const browser = await signInThroughDatabase(store, new URL(serve.url).hostname, 'echo')
      expect((await browser.fetch(new URL('/api/echo/me', serve.url), { headers: CSRF })).status).toBe(200)
      await relay.cut()
      // What an instance read a moment ago may still be answered from memory; then the database is needed.
      await cacheLapse()
      for (const [method, path] of [['GET', '/auth/providers'], ['GET', '/auth/session'], ['GET', '/api/echo/me']]) {
        const response = await browser.fetch(new URL(path, serve.url), { method, headers: CSRF })
        expect(response.status).toBe(503)
        expect(await response.json()).toEqual({ error: 'service_unavailable', message: expect.any(String) })
      }
      // A login start is one more route: 503 too, with no session to read first. The callback's every
      // failure is a redirect.
      const start = await fetch(new URL('/auth/login/echo', serve.url), { redirect: 'manual' })
      expect([start.status, await start.json()]).toEqual([503, { error: 'service_unavailable', message: expect.any(String) }])
      // A popup login's start ends on the popup page, which tells the opener, with the same status.
      const popup = await fetch(new URL('/auth/login/echo?display=popup', serve.url), { redirect: 'manual' })
      expect([popup.status, popup.headers.get('content-type')]).toEqual([503, 'text/html; charset=utf-8'])
      expect(await popup.text()).toContain('&#34;error&#34;:&#34;service_unavailable&#34;')
      const callback = await fetch(new URL('/auth/callback/echo?code=c&state=s', serve.url), { redirect: 'manual' })
      expect([callback.status, callback.headers.get('location')]).toEqual([302, '/?auth_error=service_unavailable'])
      expect(serve.process.exitCode).toBeNull()
      await relay.restore()
      let status = 0
      for (let i = 0; i < 20 && status !== 200; i++) {
        status = (await browser.fetch(new URL('/api/echo/me', serve.url), { headers: CSRF })).status
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 250))
      }
      expect(status).toBe(200)
      expect(serve.output()).not.toMatch(/at .*\.ts:\d+/)
    })
  })
})

describe.each(databases)('clean-up of ended sessions and abandoned logins on $kind', (database) => {
  it('deletes only what has ended, safely from several instances at once', async () => {
    const { url, drop } = await database.create()
    const keys = generateKey()
    const [one, two] = await Promise.all([startBff(url, { keys }), startBff(url, { keys })])
    try {
      const { store } = one
      const p = await store.providers.add(buildProviderConfig('p', { issuer: 'https://id.example', clientId: 'a', clientSecret: 'b' }))
      const user = await store.users.create(null)
      const now = Date.now()
      await store.sessions.create('live', { userId: user.id, createdAt: now, idleExpiresAt: now + 60_000, absoluteExpiresAt: now + 120_000 })
      await store.sessions.create('idle', { userId: user.id, createdAt: now - 10_000, idleExpiresAt: now - 1, absoluteExpiresAt: now + 120_000 })
      await store.sessions.create('old', { userId: user.id, createdAt: now - 10_000, idleExpiresAt: now + 60_000, absoluteExpiresAt: now - 1 })
      await store.loginFlows.create('fresh', p.id, { provider: 'p', next: '/' }, 60_000)
      await store.loginFlows.create('abandoned', p.id, { provider: 'p', next: '/' }, -1)
      const results = await Promise.all([one.allAccess.cleanUp(), two.allAccess.cleanUp()])
      expect(results.reduce((sum, r) => sum + r.sessions, 0)).toBe(2)
      expect(results.reduce((sum, r) => sum + r.loginFlows, 0)).toBe(1)
      expect(await store.sessions.find('live')).not.toBeNull()
      expect(await store.loginFlows.consume('fresh')).not.toBeNull()
    } finally {
      await Promise.all([one.close(), two.close()])
      await drop()
    }
  })

  // A BFF mounted in a host's own Koa app has no `serve` around it: it must clean up by itself.
  it('happens on its own in a mounted BFF, every 10 minutes by default, every cleanUpEveryMs, and never with 0', async () => {
    const { url, drop } = await database.create()
    const keys = generateKey()
    // The BFFs' intervals run on a clock the test moves; everything else keeps real time.
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    const never = await startBff(url, { keys, cleanUpEveryMs: 0 })
    const rows = async () => Number((await never.store.db('sessions').whereIn('id_hash', ['ended', 'live']).count({ n: '*' }).first())?.n)
    const started: TestBff[] = []
    try {
      const user = await never.store.users.create(null)
      const now = Date.now()
      await never.store.sessions.create('live', { userId: user.id, createdAt: now, idleExpiresAt: now + 60_000, absoluteExpiresAt: now + 120_000 })
      const ended = () => never.store.sessions.create('ended', { userId: user.id, createdAt: now - 10_000, idleExpiresAt: now - 1, absoluteExpiresAt: now + 120_000 })
      await ended()
      // A day on the intervals' clock: the BFF told never to clean up leaves the ended session.
      await vi.advanceTimersByTimeAsync(24 * 60 * 60 * 1000)
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(await rows()).toBe(2)
      // One with the default deletes it 10 minutes on, not before; one with 100 ms, 100 ms on.
      for (const [options, everyMs] of [[{}, CLEAN_UP_EVERY_MS], [{ cleanUpEveryMs: 100 }, 100]] as const) {
        started.push(await startBff(url, { keys, ...options }))
        await vi.advanceTimersByTimeAsync(everyMs - 1)
        await new Promise((resolve) => setTimeout(resolve, 300))
        expect(await rows()).toBe(2)
        await vi.advanceTimersByTimeAsync(1)
        expect(await within(10_000, rows, (n) => n === 1)).toBe(1)
        expect(await never.store.sessions.find('live')).not.toBeNull()
        await started.pop()!.close()
        await ended()
      }
    } finally {
      vi.useRealTimers()
      for (const bff of started) await bff.close()
      await never.close()
      await drop()
    }
  })

  it('is refused a cleanUpEveryMs that is not a whole number of milliseconds', async () => {
    await expect(createAllAccess({ publicUrl: 'http://localhost:3000', databaseUrl: 'sqlite://:memory:', keys: parseKeys(generateKey()), cleanUpEveryMs: -1 })).rejects.toThrow(
      'createAllAccess: cleanUpEveryMs must be a whole number from 0 to',
    )
  })
})

/** A TCP relay whose connections can freeze: bytes stop flowing both ways, nothing is closed (a network partition). */
async function startFreezableRelay(targetHost: string, targetPort: number) {
  const { createConnection, createServer } = await import('node:net')
  let frozen = false
  const sockets = new Set<import('node:net').Socket>()
  const server = createServer((client) => {
    const upstream = createConnection({ host: targetHost, port: targetPort })
    sockets.add(client).add(upstream)
    const relay = (from: typeof client, to: typeof client) => from.on('data', (chunk: Buffer) => frozen || to.write(chunk))
    relay(client, upstream)
    relay(upstream, client)
    const forget = () => (client.destroy(), upstream.destroy())
    client.on('error', forget).on('close', forget)
    upstream.on('error', forget).on('close', forget)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as { port: number }).port,
    freeze: () => void (frozen = true),
    close: () => {
      for (const socket of sockets) socket.destroy()
      server.close()
    },
  }
}

describe.skipIf(!TEST_DATABASE_URL)('all-access serve, SIGTERM while PostgreSQL stopped answering', () => {
  it('still exits, even though a query never comes back', async () => {
    // A database of its own: serve migrates it, and TEST_DATABASE_URL's is every test run's to create theirs from.
    const created = await databases.find((database) => database.kind === 'postgres')!.create()
    const target = new URL(created.url)
    const relay = await startFreezableRelay(target.hostname, Number(target.port || 5432))
    const through = new URL(created.url)
    through.hostname = '127.0.0.1'
    through.port = String(relay.port)
    const serve = await startServe({ databaseUrl: through.toString(), env: { ALLACCESS_METRICS: '1' } })
    try {
      expect((await fetch(new URL('/readyz', serve.url))).status).toBe(200)
      relay.freeze()
      // The probe gives up after its time limit; its query still holds a pool connection.
      expect((await fetch(new URL('/readyz', serve.url))).status).toBe(503)
      const started = Date.now()
      serve.process.kill('SIGTERM')
      const code = await Promise.race([serve.exited, new Promise((resolve) => setTimeout(() => resolve('still running'), 15_000))])
      expect(code).toBe(0)
      expect(Date.now() - started).toBeLessThan(15_000)
    } finally {
      await serve.stop('SIGKILL')
      relay.close()
      await created.drop()
    }
  }, 40_000)
})
