import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import Koa from 'koa'
import { bodyParser } from '@koa/bodyparser'
import compress from 'koa-compress'
import session from 'koa-session'
import { createServer, type Server, type ServerResponse } from 'node:http'
import { inspect } from 'node:util'
import { createAllAccess, type AllAccess, type AllAccessOptions } from '../server/all-access.ts'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'
import type { BrowserSession } from './support/browser-session.ts'
import { databases } from './support/databases.ts'
import { startEchoUpstream, type EchoUpstream } from './support/echo-upstream.ts'
import { signedIn } from './support/signed-in.ts'

/**
 * A host app's own Koa app, with the middleware such apps already have (a body parser,
 * compression, koa-session with `app.keys`) placed around `allAccess.middleware`, on 127.0.0.1.
 */
async function hostApp(options: Partial<AllAccessOptions>, build: (app: Koa, allAccess: AllAccess) => void) {
  const upstream = await startEchoUpstream()
  const created = await databases[0].create()
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://localhost:${(server.address() as { port: number }).port}`
  const logs: string[] = []
  const allAccess = await createAllAccess({ ...options, databaseUrl: created.url, keys: parseKeys(generateKey()), publicUrl: url, log: { info: (line) => logs.push(line), error: (line) => logs.push(line) } })
  const endpoints = { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', clientId: 'id', clientSecret: 'secret' }
  await allAccess.store.providers.add(buildProviderConfig('echo', { ...endpoints, apiBaseUrl: `${upstream.url}/v1` }))
  await allAccess.store.providers.add(buildProviderConfig('idp', { ...endpoints, issuer: 'https://idp.example' }))
  const { browser } = await signedIn({ store: allAccess.store, url }, 'echo', { accessToken: 'token-1' })
  const app = new Koa()
  build(app, allAccess)
  server.on('request', app.callback())
  return {
    url,
    logs,
    upstream,
    browser,
    allAccess,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      await allAccess.close()
      await upstream.close()
      await created.drop()
    },
  }
}

type Host = Awaited<ReturnType<typeof hostApp>>

describe('a body parser placed before allAccess.middleware', () => {
  let host: Host
  beforeAll(async () => {
    host = await hostApp({}, (app, allAccess) => {
      app.use(bodyParser())
      app.use(allAccess.middleware)
    })
  })
  afterAll(() => host.close())

  // The parser has read the body: the proxy forwarded nothing and answered the provider's 200, the
  // form_post callback and the logout token arrived empty. Now each is refused and the log says why.
  it.each([
    ['a proxied JSON POST', '/api/echo/things', 'application/json', '{"title":"a new issue"}'],
    ["a provider's form_post callback", '/auth/callback/echo', 'application/x-www-form-urlencoded', 'code=c&state=s'],
    ['a back-channel logout token', '/auth/backchannel-logout/idp', 'application/x-www-form-urlencoded', 'logout_token=a.b.c'],
  ])('refuses %s with 500 server_error and an error line naming the cause', async (_name, path, type, body) => {
    const received = host.upstream.received.length
    const answer = await host.browser.fetch(new URL(path, host.url), { method: 'POST', redirect: 'manual', headers: { 'X-CSRF': '1', 'Content-Type': type }, body })
    expect([answer.status, await answer.json()]).toEqual([500, { error: 'server_error', message: expect.any(String) }])
    expect(host.upstream.received.length).toBe(received)
    expect(host.logs.filter((line) => line.includes('read before allAccess.middleware'))).toHaveLength(1)
    host.logs.length = 0
  })

  it('still answers requests without a body', async () => {
    const answer = await host.browser.fetch(new URL('/api/echo/me', host.url), { headers: { 'X-CSRF': '1' } })
    expect([answer.status, (await answer.json()).url]).toEqual([200, '/v1/me'])
  })
})

describe('a body parser placed after allAccess.middleware, as the README says', () => {
  let host: Host
  beforeAll(async () => {
    host = await hostApp({}, (app, allAccess) => {
      app.use(allAccess.middleware)
      app.use(bodyParser())
      app.use((ctx) => {
        ctx.body = { parsed: ctx.request.body }
      })
    })
  })
  afterAll(() => host.close())

  it("forwards the proxied body whole, and the app's own routes still get theirs parsed", async () => {
    const proxied = await host.browser.fetch(new URL('/api/echo/things', host.url), { method: 'POST', headers: { 'X-CSRF': '1', 'Content-Type': 'application/json' }, body: '{"title":"a new issue"}' })
    expect([proxied.status, (await proxied.json()).body]).toEqual([200, '{"title":"a new issue"}'])
    const own = await fetch(`${host.url}/notes`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"a":1}' })
    expect(await own.json()).toEqual({ parsed: { a: 1 } })
  })
})

describe('koa-compress around allAccess.middleware', () => {
  for (const pipeDirectly of [false, true]) {
    describe(`with pipeDirectly: ${pipeDirectly}`, () => {
      let host: Host
      beforeAll(async () => {
        host = await hostApp({ proxy: { pipeDirectly } }, (app, allAccess) => {
          app.use(compress({ threshold: 0 }))
          app.use(allAccess.middleware)
        })
      })
      afterAll(() => host.close())

      // Piped directly, the answer left as it came while its headers named gzip: no browser could read it.
      it(`answers a proxied call that the browser can decode (${pipeDirectly ? 'left uncompressed' : 'compressed'})`, async () => {
        const answer = await host.browser.fetch(new URL('/api/echo/me?x=1', host.url), { headers: { 'X-CSRF': '1', 'Accept-Encoding': 'gzip' } })
        expect(answer.headers.get('content-encoding')).toBe(pipeDirectly ? null : 'gzip')
        expect([answer.status, await answer.json()]).toEqual([200, { method: 'GET', url: '/v1/me?x=1', body: '' }])
      })

      it("compresses the BFF's own JSON, errors included, as the contract's body", async () => {
        const answer = await fetch(`${host.url}/auth/nothing-here`, { headers: { 'Accept-Encoding': 'gzip' } })
        expect(answer.headers.get('content-encoding')).toBe('gzip')
        expect([answer.status, (await answer.json()).error]).toEqual([404, 'not_found'])
      })
    })
  }
})

// An API streaming server-sent events through the proxy, under koa-compress's defaults. Compressed,
// each event sat in the compressor's buffer: the browser got neither the headers nor an event until
// the stream ended, which for a live feed is never.
describe('koa-compress around allAccess.middleware, a proxied event stream', () => {
  let host: Host
  let events: Server
  const open: ServerResponse[] = []
  let browser: BrowserSession
  beforeAll(async () => {
    events = createServer((req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/event-stream' })
      res.write('data: one\n\n')
      open.push(res)
    })
    await new Promise<void>((resolve) => events.listen(0, '127.0.0.1', resolve))
    host = await hostApp({}, (app, allAccess) => {
      app.use(compress())
      app.use(allAccess.middleware)
    })
    const endpoints = { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', clientId: 'id', clientSecret: 'secret' }
    await host.allAccess.store.providers.add(buildProviderConfig('events', { ...endpoints, apiBaseUrl: `http://127.0.0.1:${(events.address() as { port: number }).port}/v1` }))
    ;({ browser } = await signedIn({ store: host.allAccess.store, url: host.url }, 'events', { accessToken: 'token-e' }))
  })
  afterAll(async () => {
    await host.close()
    events.closeAllConnections()
    await new Promise((resolve) => events.close(resolve))
  })

  it('passes each event on as it comes, uncompressed, while the stream is still open', async () => {
    const answer = await browser.fetch(new URL('/api/events/stream', host.url), { headers: { 'X-CSRF': '1', 'Accept-Encoding': 'gzip, deflate, br' } })
    expect([answer.status, answer.headers.get('content-type'), answer.headers.get('content-encoding')]).toEqual([200, 'text/event-stream', null])
    const reader = answer.body!.getReader()
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: one\n\n')
    expect(open).toHaveLength(1)
    open[0].end('data: two\n\n')
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('data: two\n\n')
  })
})

describe("koa-session and the app's keys beside allAccess.middleware", () => {
  let host: Host
  beforeAll(async () => {
    host = await hostApp({}, (app, allAccess) => {
      app.keys = ['the host app key']
      app.use(session({ key: 'host.sess' }, app))
      app.use(allAccess.middleware)
      app.use((ctx) => {
        ctx.session!.visits = Number(ctx.session!.visits ?? 0) + 1
        ctx.body = { visits: ctx.session!.visits }
      })
    })
  })
  afterAll(() => host.close())

  // With `app.keys` set, Koa signs every cookie unless told not to: the BFF's came with a `.sig` twin.
  it("sets its own cookies alone, unsigned, and leaves the app's session to the app", async () => {
    const signOut = await host.browser.fetch(new URL('/auth/logout', host.url), { method: 'POST', headers: { 'X-CSRF': '1' } })
    expect(signOut.status).toBe(204)
    expect(signOut.headers.getSetCookie().map((cookie) => cookie.split('=')[0])).toEqual(['allaccess_session'])
    const login = await fetch(`${host.url}/auth/login/echo`, { redirect: 'manual' })
    expect(login.status).toBe(302)
    expect(login.headers.getSetCookie().map((cookie) => cookie.split('=')[0])).toEqual(['allaccess_flow'])
    const page = await fetch(`${host.url}/`)
    expect(page.headers.getSetCookie().map((cookie) => cookie.split('=')[0])).toEqual(['host.sess', 'host.sess.sig'])
    expect(await page.json()).toEqual({ visits: 1 })
  })
})

// koa-session given the BFF's cookie name: its signed cookie replaces the BFF's session id, and the
// user is signed out of the BFF at the host's first session write, with nothing in any log.
describe("koa-session keyed with the BFF's own cookie name", () => {
  let host: Host
  beforeAll(async () => {
    host = await hostApp({}, (app, allAccess) => {
      app.keys = ['the host app key']
      app.use(session({ key: 'allaccess_session' }, app))
      app.use(allAccess.middleware)
      app.use((ctx) => {
        ctx.session!.visits = Number(ctx.session!.visits ?? 0) + 1
        ctx.body = { visits: ctx.session!.visits }
      })
    })
  })
  afterAll(() => host.close())

  it('logs one error naming the collision once a request brings the signed cookie to the BFF', async () => {
    const page = await host.browser.fetch(new URL('/', host.url))
    expect(await page.json()).toEqual({ visits: 1 })
    for (let request = 0; request < 2; request++) {
      const answer = await host.browser.fetch(new URL('/auth/session', host.url), { headers: { 'X-CSRF': '1' } })
      expect(await answer.json()).toEqual({ authenticated: false })
    }
    expect(host.logs.filter((line) => line.includes('allaccess_session.sig'))).toEqual([expect.stringMatching(/^error .*another middleware.*koa-session/)])
  })
})

// A host's own sign-in that keeps its user in ctx.state under the names the BFF uses (a session
// with the same users' ids, as getOrCreateUser makes them): on the BFF's paths only the BFF's own
// cookie names a session, and only its own steps fill the rest.
describe("a host middleware before allAccess.middleware that sets ctx.state.session, login, logout and route", () => {
  let host: Host
  let userId: number
  beforeAll(async () => {
    host = await hostApp({}, (app, allAccess) => {
      app.use(async (ctx, next) => {
        Object.assign(ctx.state, {
          session: { idHash: 'the-host-app-session', userId, createdAt: Date.now(), idleExpiresAt: Date.now() + 3_600_000, absoluteExpiresAt: Date.now() + 7_200_000 },
          login: { provider: { name: 'the host app' } },
          logout: { provider: { name: 'the host app' } },
          route: { label: 'host', allowed: ['GET', 'POST', 'DELETE'], params: { provider: 'echo' } },
        })
        await next()
      })
      app.use(allAccess.middleware)
    })
  })
  afterAll(() => host.close())

  it('answers a browser without the BFF\'s cookie as signed out, though the host set a session of a user who has accounts', async () => {
    userId = Number((await (await host.browser.fetch(new URL('/auth/session', host.url), { headers: { 'X-CSRF': '1' } })).json()).user.id)
    const stranger = { headers: { 'X-CSRF': '1' } }
    const received = host.upstream.received.length
    expect(await (await fetch(`${host.url}/auth/session`, stranger)).json()).toEqual({ authenticated: false })
    const proxied = await fetch(`${host.url}/api/echo/me`, stranger)
    expect([proxied.status, (await proxied.json()).error]).toEqual([401, 'not_authenticated'])
    expect(host.upstream.received.length).toBe(received)
    const disconnect = await fetch(`${host.url}/auth/accounts/echo`, { ...stranger, method: 'DELETE' })
    expect([disconnect.status, (await disconnect.json()).error]).toEqual([401, 'not_authenticated'])
    expect((await fetch(`${host.url}/auth/nothing-here`, stranger)).status).toBe(404)
    // The signed-in browser still is.
    expect((await host.browser.fetch(new URL('/api/echo/me', host.url), stranger)).status).toBe(200)
  })
})

// A host's logger that prints ctx.state once the request is answered (after `await next()`).
describe('a host middleware that prints ctx.state after allAccess.middleware answered', () => {
  let host: Host
  const printed: string[] = []
  beforeAll(async () => {
    host = await hostApp({}, (app, allAccess) => {
      app.use(async (ctx, next) => {
        await next()
        printed.push(inspect(ctx.state, { depth: 10 }))
      })
      app.use(allAccess.middleware)
    })
  })
  afterAll(() => host.close())

  it("finds no login's secrets there: not the provider's client secret, nor the flow's state", async () => {
    const start = await host.browser.fetch(new URL('/auth/login/echo', host.url), { redirect: 'manual' })
    expect(start.status).toBe(302)
    const state = new URL(start.headers.get('location')!).searchParams.get('state')!
    const callback = await host.browser.fetch(new URL(`/auth/callback/echo?state=${state}&code=c`, host.url), { redirect: 'manual' })
    expect(callback.status).toBe(302)
    expect(printed).toHaveLength(2)
    for (const line of printed) {
      expect(line).not.toContain(state)
      expect(line).not.toContain('clientSecret')
    }
  })
})

// Koa's `app.proxy` alone (what Koa's own documentation says to set behind a proxy) makes ctx.ip the
// first X-Forwarded-For address: the one the client writes, unless a proxy overwrites the header.
// Each login start may then name an address of its own, past the limit per address and, at the
// pending-login cap, past the fair share that keeps others signing in.
describe("a host app's app.proxy without app.maxIpsCount", () => {
  const proxyWarnings = (host: Host) => host.logs.filter((line) => line.includes('maxIpsCount'))
  const startFrom = (host: Host, address: string) => fetch(`${host.url}/auth/login/echo`, { redirect: 'manual', headers: { 'X-Forwarded-For': address } })

  it('counts each start by the address the client wrote, and says so once in the log', async () => {
    const host = await hostApp({ loginLimits: { perAddressPerMinute: 1 } }, (app, allAccess) => {
      app.proxy = true
      app.use(allAccess.middleware)
    })
    try {
      expect([(await startFrom(host, '203.0.113.1')).status, (await startFrom(host, '203.0.113.2')).status]).toEqual([302, 302])
      expect(proxyWarnings(host)).toHaveLength(1)
      expect(proxyWarnings(host)[0]).toMatch(/^error /)
    } finally {
      await host.close()
    }
  })

  // Behind a proxy with app.proxy off (Koa's default), ctx.ip is the proxy's address for everyone:
  // the whole site shares one client's login limit, which any one client can use up.
  it('with app.proxy off, says once that starts carrying X-Forwarded-For are all counted as the one address they came from', async () => {
    const host = await hostApp({ loginLimits: { perAddressPerMinute: 1 } }, (app, allAccess) => {
      app.use(allAccess.middleware)
    })
    try {
      expect([(await startFrom(host, '203.0.113.1')).status, (await startFrom(host, '203.0.113.2')).status]).toEqual([302, 429])
      expect(host.logs.filter((line) => line.includes('app.proxy is off'))).toEqual([expect.stringMatching(/^error .*X-Forwarded-For/)])
    } finally {
      await host.close()
    }
  })

  it('says nothing with app.maxIpsCount set, and counts by the address the nearest proxy wrote', async () => {
    const host = await hostApp({ loginLimits: { perAddressPerMinute: 1 } }, (app, allAccess) => {
      app.proxy = true
      app.maxIpsCount = 1
      app.use(allAccess.middleware)
    })
    try {
      expect([(await startFrom(host, '203.0.113.1, 198.51.100.7')).status, (await startFrom(host, '203.0.113.2, 198.51.100.7')).status]).toEqual([302, 429])
      expect(proxyWarnings(host)).toEqual([])
    } finally {
      await host.close()
    }
  })
})

// What koa-helmet does with its defaults: every header set before `next()`. The BFF's own are set
// after, so they stand; helmet's Cross-Origin-Opener-Policy cuts a popup off from its opener, which
// the popup page's BroadcastChannel is there for.
describe('header middleware before allAccess.middleware, as koa-helmet sets them', () => {
  let host: Host
  beforeAll(async () => {
    host = await hostApp({}, (app, allAccess) => {
      app.use(async (ctx, next) => {
        ctx.set({
          'Content-Security-Policy': "default-src 'self'; script-src 'self'",
          'Cross-Origin-Opener-Policy': 'same-origin',
          'Cross-Origin-Resource-Policy': 'same-origin',
          'Cache-Control': 'public, max-age=600',
          'X-Content-Type-Options': 'sniff',
        })
        await next()
      })
      app.use(allAccess.middleware)
    })
  })
  afterAll(() => host.close())

  it("leaves the BFF's Cache-Control, nosniff and the proxy's CSP in place", async () => {
    const session = await host.browser.fetch(new URL('/auth/session', host.url), { headers: { 'X-CSRF': '1' } })
    expect([session.headers.get('cache-control'), session.headers.get('x-content-type-options')]).toEqual(['no-store', 'nosniff'])
    const proxied = await host.browser.fetch(new URL('/api/echo/me', host.url), { headers: { 'X-CSRF': '1' } })
    expect([proxied.headers.get('cache-control'), proxied.headers.get('content-security-policy')]).toEqual(['no-store', "default-src 'none'; sandbox"])
  })

  it("keeps the popup page's own CSP, which lets its one script run", async () => {
    // No such provider at idp.example: discovery fails, and a popup login ends on its page.
    const page = await fetch(`${host.url}/auth/login/idp?display=popup`, { redirect: 'manual' })
    expect([page.status, page.headers.get('content-type')]).toEqual([200, 'text/html; charset=utf-8'])
    expect(await page.text()).toContain('provider_unavailable')
    expect(page.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'sha256-/)
    expect(page.headers.get('cache-control')).toBe('no-store')
  })
})
