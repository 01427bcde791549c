import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import Koa from 'koa'
import { createServer, type Server } from 'node:http'
import { createAllAccess, type AllAccess } from '../server/all-access.ts'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'
import { Readable } from 'node:stream'
import { createGzip } from 'node:zlib'
import type { BrowserSession } from './support/browser-session.ts'
import { databases } from './support/databases.ts'
import { startEchoUpstream, type EchoUpstream } from './support/echo-upstream.ts'
import { signedIn } from './support/signed-in.ts'

it('createAllAccess refuses a publicUrl with a path, whose routes and callback URLs would silently be at the root', async () => {
  const created = await databases[0].create()
  try {
    for (const publicUrl of ['https://app.example.com/bff', 'https://me:pw@app.example.com']) {
      await expect(createAllAccess({ databaseUrl: created.url, keys: parseKeys(generateKey()), publicUrl, log: { info() {}, error() {} } })).rejects.toThrow(
        new TypeError(`createAllAccess: publicUrl must be an origin such as https://app.example.com, with no path, query, fragment, user name or password (the BFF's routes are /auth/* and /api/* at the root)`),
      )
    }
  } finally {
    await created.drop()
  }
})

it('createAllAccess refuses, naming it, a numeric option that is not a whole number in its range', async () => {
  const created = await databases[0].create()
  // NaN (what Number() makes of an unset variable) compares false with every size, so a cap of NaN caps
  // nothing; a time past 2^31 - 1 ms fires at once, so every proxied call would time out.
  const refused: [string, Record<string, unknown>][] = [
    ['proxy.timeoutMs', { proxy: { timeoutMs: 3_000_000_000 } }],
    ['proxy.timeoutMs', { proxy: { timeoutMs: 0 } }],
    ['proxy.maxBody', { proxy: { maxBody: Number.NaN } }],
    ['apiClient.maxBody', { apiClient: { maxBody: Number.NaN } }],
    ['apiClient.maxBody', { apiClient: { maxBody: 1.5 } }],
    ['apiClient.maxBody', { apiClient: { maxBody: Number.POSITIVE_INFINITY } }],
    ['refresh.leaseMs', { refresh: { leaseMs: Number.NaN } }],
    ['refresh.waitMs', { refresh: { waitMs: -1 } }],
    ['session.idleMs', { session: { idleMs: Number.NaN } }],
    ['session.absoluteMs', { session: { absoluteMs: 0 } }],
    // "Never ends" written as the largest number: a session's end past the last date a Date holds
    // failed every session read (toISOString's RangeError), and cookies left with "expires=Invalid Date".
    ['session.idleMs', { session: { idleMs: Number.MAX_SAFE_INTEGER } }],
    ['session.absoluteMs', { session: { absoluteMs: Number.MAX_SAFE_INTEGER } }],
    ['flowTtlMs', { flowTtlMs: Number.NaN }],
    ['flowTtlMs', { flowTtlMs: Number.MAX_SAFE_INTEGER }],
    ['loginLimits.perAddressPerMinute', { loginLimits: { perAddressPerMinute: Number.NaN } }],
    ['loginLimits.maxPendingLogins', { loginLimits: { maxPendingLogins: 0 } }],
  ]
  try {
    for (const [name, options] of refused) {
      const outcome = await createAllAccess({ databaseUrl: created.url, keys: parseKeys(generateKey()), publicUrl: 'http://localhost:3000', log: { info() {}, error() {} }, ...options }).then(
        async (started) => {
          await started.close()
          return 'started'
        },
        (error: unknown) => (error as Error).message,
      )
      expect(outcome, JSON.stringify(options)).toMatch(new RegExp(`^createAllAccess: ${name.replace('.', '\\.')} must be a whole number from \\d+ to \\d+, not `))
    }
  } finally {
    await created.drop()
  }
})

it('createAllAccess takes a session, refresh or login limit option left undefined as its default, as it does the top-level options', async () => {
  const created = await databases[0].create()
  // What a JavaScript app writes for an unset variable: `idleMs: env.IDLE_MS ? Number(env.IDLE_MS) : undefined`.
  // Spread over the defaults, undefined replaced them: every login failed on a session end of NaN, and
  // a limit of NaN limited nothing.
  const started = await createAllAccess({
    databaseUrl: created.url,
    keys: parseKeys(generateKey()),
    publicUrl: 'http://localhost:3000',
    log: { info() {}, error() {} },
    session: { idleMs: undefined, absoluteMs: 60_000 },
    refresh: { leaseMs: undefined },
    loginLimits: { perAddressPerMinute: undefined },
  })
  try {
    expect(started.runtime.sessions.timeouts).toEqual({ idleMs: 12 * 60 * 60 * 1000, absoluteMs: 60_000 })
    expect(started.runtime.accounts.refresh).toEqual({ leaseMs: 15_000, waitMs: 20_000 })
    expect(started.runtime.loginLimits).toEqual({ perAddressPerMinute: 30, maxPendingLogins: 10_000 })
    const user = await started.store.users.create('Unset')
    const session = await started.runtime.sessions.start(user.id, undefined)
    expect(await started.store.sessions.find(session.idHash)).toEqual(expect.objectContaining({ userId: user.id }))
  } finally {
    await started.close()
    await created.drop()
  }
})

// What the README's "Mounting" section says of an app's own routes beside the BFF's fixed prefixes.
describe('an app mounting all-access beside routes of its own', () => {
  let allAccess: AllAccess
  let server: Server
  let url: string
  let drop: () => Promise<void>
  let upstream: EchoUpstream
  let browser: BrowserSession

  beforeAll(async () => {
    upstream = await startEchoUpstream()
    const created = await databases[0].create()
    drop = created.drop
    server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://localhost:${(server.address() as { port: number }).port}`
    allAccess = await createAllAccess({ databaseUrl: created.url, keys: parseKeys(generateKey()), publicUrl: url, log: { info() {}, error() {} } })
    await allAccess.store.providers.add(
      buildProviderConfig('echo', { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', apiBaseUrl: `${upstream.url}/v1`, clientId: 'id', clientSecret: 'secret' }),
    )
    ;({ browser } = await signedIn({ store: allAccess.store, url }, 'echo', { accessToken: 'token-1' }))
    const app = new Koa()
    // Compression as an app may put around everything it serves: it rewrites stream bodies once the routes are done.
    app.use(async (ctx, next) => {
      await next()
      if (!(ctx.body instanceof Readable)) return
      ctx.set('Content-Encoding', 'gzip')
      ctx.remove('Content-Length')
      ctx.body = ctx.body.pipe(createGzip())
    })
    const own = (path: string, body: string): Koa.Middleware => async (ctx, next) => {
      if (ctx.path === path) ctx.body = body
      else await next()
    }
    app.use(own('/api/own-before', 'the app answered'))
    app.use(allAccess.middleware)
    app.use(own('/api/own-after', 'never reached'))
    app.use(own('/hello', 'hello from the app'))
    server.on('request', app.callback())
  })

  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await allAccess.close()
    await upstream.close()
    await drop()
  })

  it('answers its own /api route when it comes before allAccess.middleware', async () => {
    const answer = await fetch(`${url}/api/own-before`)
    expect([answer.status, await answer.text()]).toEqual([200, 'the app answered'])
  })

  it('never reaches an /api route placed after allAccess.middleware, which answers the whole prefix itself', async () => {
    const answer = await fetch(`${url}/api/own-after`, { headers: { 'X-CSRF': '1' } })
    // Read as a proxied call of a provider named "own-after" by a browser that is not signed in.
    expect([answer.status, (await answer.json()).error]).toEqual([401, 'not_authenticated'])
  })

  it("lets middleware around it rewrite a proxied answer (by default the BFF leaves sending it to Koa)", async () => {
    const answer = await browser.fetch(new URL('/api/echo/me?x=1', url), { headers: { 'X-CSRF': '1' } })
    expect(answer.headers.get('content-encoding')).toBe('gzip')
    expect([answer.status, await answer.json()]).toEqual([200, { method: 'GET', url: '/v1/me?x=1', body: '' }])
  })

  it('passes every path outside /auth and /api on to the app', async () => {
    const answer = await fetch(`${url}/hello`)
    expect([answer.status, await answer.text()]).toEqual([200, 'hello from the app'])
  })
})
