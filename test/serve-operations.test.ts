import { spawnSync } from 'node:child_process'
import { request as httpRequest } from 'node:http'
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net'
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAllAccess } from '../server/all-access.ts'
import { loadConfig, optionsFromConfig, optionsFromEnv } from '../server/config.ts'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { hashId, randomToken } from '../server/crypto/random.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'
import { SESSION_COOKIE } from '../server/session/cookies.ts'
import { migrate, openStore, type Store } from '../server/store/index.ts'
import { BrowserSession } from './support/browser-session.ts'
import { freePort, startServe, type RunningServe } from './support/demo-server.ts'
import { startEchoUpstream } from './support/echo-upstream.ts'
import { parseExposition, sampleValue } from './support/prometheus.ts'
import { scratchFolder } from './support/scratch-folder.ts'

const CSRF = { 'X-CSRF': '1' }
const temporaryDatabase = () => `sqlite://${join(scratchFolder('aa-ops-'), 'db.sqlite3')}`
const SPA_PAGE = '<!doctype html><p>the app</p>'

/** A built SPA of one page: what any unknown path of the main port answers. */
function spa(): string {
  const folder = scratchFolder('aa-spa-')
  writeFileSync(join(folder, 'index.html'), SPA_PAGE)
  return folder
}

async function withServe<T>(options: Parameters<typeof startServe>[0], use: (serve: RunningServe) => Promise<T>): Promise<T> {
  const serve = await startServe(options)
  try {
    return await use(serve)
  } finally {
    await serve.stop()
  }
}

/** What a path answers: its status, its type and its body. */
async function answer(url: string) {
  const response = await fetch(url)
  return { status: response.status, type: response.headers.get('content-type'), body: await response.text() }
}

/** What a connection to `port` that writes `bytes` receives before the server closes it. */
function received(port: number, bytes: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.write(bytes))
    let answer = ''
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')))
    socket.on('error', () => {})
    socket.on('close', () => resolve(answer))
  })
}

describe('all-access serve: health and metrics', () => {
  it('answers them on ALLACCESS_METRICS_PORT only, counting the main port requests, and names that port when it starts', async () => {
    const metricsPort = await freePort()
    await withServe({ env: { ALLACCESS_METRICS_PORT: String(metricsPort), ALLACCESS_STATIC_DIR: spa() } }, async (serve) => {
      const operations = `http://127.0.0.1:${metricsPort}`
      expect(serve.output()).toContain(`all-access health and metrics on http://127.0.0.1:${metricsPort}\n`)
      for (let i = 0; i < 2; i++) expect((await fetch(new URL('/auth/providers', serve.url))).status).toBe(200)
      expect(await answer(`${operations}/healthz`)).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: '{"status":"live"}' })
      expect(await answer(`${operations}/readyz`)).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: '{"status":"ready"}' })
      // Figures of the moment, never cached, and read only as what they say they are.
      for (const path of ['/healthz', '/readyz', '/metrics']) {
        const { headers } = await fetch(`${operations}${path}`)
        expect([headers.get('cache-control'), headers.get('x-content-type-options')]).toEqual(['no-store', 'nosniff'])
      }
      const metrics = await answer(`${operations}/metrics`)
      expect(metrics.type).toBe('text/plain; version=0.0.4; charset=utf-8')
      expect(sampleValue(parseExposition(metrics.body), 'allaccess_http_requests_total', { route: '/auth/providers', method: 'GET', status: '200' })).toBe(2)
      expect(await answer(`${operations}/auth/providers`)).toEqual({ status: 404, type: 'application/json; charset=utf-8', body: '{"error":"not_found","message":"No such route."}' })
      // Every answer says nosniff (DESIGN.md, Headers), the port's 404s too.
      const { headers } = await fetch(`${operations}/anything-else`)
      expect([headers.get('cache-control'), headers.get('x-content-type-options')]).toEqual(['no-store', 'nosniff'])
      // On the main port these paths are the SPA's, as any other page.
      for (const path of ['/healthz', '/readyz', '/metrics']) expect(await answer(new URL(path, serve.url).toString())).toEqual({ status: 200, type: 'text/html; charset=utf-8', body: SPA_PAGE })
    })
  })

  it('answers on ALLACCESS_METRICS_PORT what Node refuses itself (a malformed request, an HTTP/1.1 one without Host, an Expect other than 100-continue) with nosniff and no-store, and logs it', async () => {
    const metricsPort = await freePort()
    await withServe({ env: { ALLACCESS_METRICS_PORT: String(metricsPort) } }, async (serve) => {
      const refusals = [
        ['GET /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400, /^request unreadable 400: HPE_[A-Z_]+$/m],
        ['GET /healthz HTTP/1.1\r\n\r\n', 400, /^request refused 400: HTTP\/1\.1 without Host$/m],
        ['GET /healthz HTTP/1.1\r\nHost: localhost\r\nExpect: 200-ok\r\n\r\n', 417, /^request refused 417: Expect other than 100-continue$/m],
      ] as const
      for (const [request, status, line] of refusals) {
        const head = (await received(metricsPort, request)).split('\r\n\r\n')[0].split('\r\n')
        expect([head[0], head.filter((header) => /^(x-content-type-options|cache-control):/i.test(header)).sort()]).toEqual([expect.stringMatching(new RegExp(`^HTTP/1\\.1 ${status} `)), ['Cache-Control: no-store', 'X-Content-Type-Options: nosniff']])
        for (let waited = 0; !line.test(serve.output()) && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
        expect(serve.output()).toMatch(line)
      }
    })
  })

  it('answers them on the main port with ALLACCESS_METRICS=1', async () => {
    await withServe({ env: { ALLACCESS_METRICS: '1' } }, async (serve) => {
      expect(await answer(new URL('/healthz', serve.url).toString())).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: '{"status":"live"}' })
      expect(await answer(new URL('/readyz', serve.url).toString())).toEqual({ status: 200, type: 'application/json; charset=utf-8', body: '{"status":"ready"}' })
      const metrics = await answer(new URL('/metrics', serve.url).toString())
      expect(metrics.status).toBe(200)
      expect(sampleValue(parseExposition(metrics.body), 'allaccess_http_requests_total', { route: '/readyz', method: 'GET', status: '200' })).toBe(1)
      expect(serve.output()).not.toContain('health and metrics on')
    })
  })

  it('answers none of them without ALLACCESS_METRICS or ALLACCESS_METRICS_PORT', async () => {
    await withServe({ env: { ALLACCESS_STATIC_DIR: spa() } }, async (serve) => {
      for (const path of ['/healthz', '/readyz', '/metrics']) expect(await answer(new URL(path, serve.url).toString())).toEqual({ status: 200, type: 'text/html; charset=utf-8', body: SPA_PAGE })
    })
  })
})

/** A database with the provider `echo` proxying to `upstream`, and a session of a user linked there: a browser signed in to any serve on it. */
async function signedInDatabase(upstream: { url: string }) {
  const keys = generateKey()
  const databaseUrl = temporaryDatabase()
  const store = openStore({ databaseUrl, keys: parseKeys(keys) })
  try {
    await migrate(store.db)
    await store.providers.add(buildProviderConfig('echo', { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', apiBaseUrl: `${upstream.url}/v1`, clientId: 'a', clientSecret: 'b' }))
    const user = await store.users.create('Someone')
    const provider = await store.providers.get('echo')
    await store.accounts.create({ providerId: provider!.id, identifier: 'someone', userId: user.id, displayName: null, accessToken: 'token-1', tokenSecret: null, refreshToken: null, idToken: null, expiresAt: null, scope: null })
    const sessionId = randomToken()
    await store.sessions.create(hashId(sessionId), { userId: user.id, createdAt: Date.now(), idleExpiresAt: Date.now() + 3_600_000, absoluteExpiresAt: Date.now() + 3_600_000 })
    return { keys, databaseUrl, sessionId }
  } finally {
    await store.close()
  }
}

describe('all-access serve configured by the environment of DESIGN.md', () => {
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>

  beforeAll(async () => {
    upstream = await startEchoUpstream()
  })

  afterAll(async () => {
    await upstream?.close()
  })

  it("serves ALLACCESS_STATIC_DIR with the SPA fallback: every page forbids framing and carries a CSP, and every answer, a 404 too, says nosniff", async () => {
    await withServe({ env: { ALLACCESS_STATIC_DIR: spa() } }, async (serve) => {
      for (const path of ['/', '/index.html', '/accounts/settings']) {
        const page = await fetch(new URL(path, serve.url), { headers: { Accept: 'text/html' } })
        expect([path, page.status, await page.text()]).toEqual([path, 200, SPA_PAGE])
        expect(page.headers.get('content-security-policy'), path).toMatch(/(^|; )frame-ancestors 'none'(;|$)/)
        expect(page.headers.get('content-security-policy'), path).toMatch(/(^|; )default-src /)
        expect(page.headers.get('x-content-type-options'), path).toBe('nosniff')
      }
      const missing = await fetch(new URL('/assets/missing.js', serve.url))
      expect([missing.status, missing.headers.get('x-content-type-options')]).toEqual([404, 'nosniff'])
    })
  })

  it('migrates a new database when it starts, leaving all-access migrate nothing to apply', async () => {
    const keys = generateKey()
    const databaseUrl = temporaryDatabase()
    await withServe({ databaseUrl, keys }, async (serve) => {
      expect((await fetch(new URL('/auth/providers', serve.url))).status).toBe(200)
    })
    const migrate = spawnSync(process.execPath, [resolve('bin/all-access.js'), 'migrate'], { cwd: scratchFolder('aa-ops-'), env: { ...process.env, NODE_ENV: 'test', DATABASE_URL: databaseUrl, ALLACCESS_KEYS: keys }, encoding: 'utf8' })
    expect({ code: migrate.status, stdout: migrate.stdout, stderr: migrate.stderr }).toEqual({ code: 0, stdout: 'database is up to date\n', stderr: '' })
  })

  it('reads the defaults of the Configuration table when nothing is set', () => {
    const cwd = scratchFolder('aa-config-')
    const config = loadConfig({ NODE_ENV: 'test', ALLACCESS_KEYS: generateKey() }, cwd)
    expect({ port: config.port, host: config.host, publicUrl: config.publicUrl.href, databaseUrl: config.databaseUrl, staticDir: config.staticDir }).toEqual({
      port: 3000,
      host: 'localhost',
      publicUrl: 'http://localhost:3000/',
      // Anchored to the cwd given: createAllAccess, reading it again, knows no other.
      databaseUrl: `sqlite://${join(cwd, 'data/all-access.sqlite3')}`,
      staticDir: resolve('dist/demo'),
    })
    expect(optionsFromConfig(config).proxy).toEqual({ timeoutMs: 30_000, maxBody: 10_485_760 })
    expect(loadConfig({ NODE_ENV: 'test', ALLACCESS_KEYS: generateKey(), PORT: '4123' }, cwd).publicUrl.href).toBe('http://localhost:4123/')
  })

  it('optionsFromEnv(env, cwd) opens a relative sqlite:// path under that cwd, not the process\'s own', async () => {
    const cwd = scratchFolder('aa-config-cwd-')
    const allAccess = await createAllAccess({
      ...optionsFromEnv({ NODE_ENV: 'test', ALLACCESS_KEYS: generateKey(), DATABASE_URL: 'sqlite://./nested/app.sqlite3' }, cwd),
      log: { info() {}, error() {} },
    })
    await allAccess.close()
    expect(existsSync(join(cwd, 'nested/app.sqlite3'))).toBe(true)
    expect(existsSync(resolve('nested'))).toBe(false)
  })

  it('forwards bodies up to ALLACCESS_PROXY_MAX_BODY bytes, answering 413 payload_too_large past it, and 504 upstream_timeout past ALLACCESS_PROXY_TIMEOUT_MS', async () => {
    const { keys, databaseUrl, sessionId } = await signedInDatabase(upstream)
    await withServe({ databaseUrl, keys, env: { ALLACCESS_PROXY_MAX_BODY: '16', ALLACCESS_PROXY_TIMEOUT_MS: '300' } }, async (serve) => {
      const browser = new BrowserSession()
      browser.cookies.push({ name: SESSION_COOKIE, value: sessionId, host: new URL(serve.url).hostname, path: '/', attributes: '' })
      const post = (body: string) => browser.fetch(new URL('/api/echo/upload', serve.url), { method: 'POST', headers: { ...CSRF, 'Content-Type': 'text/plain' }, body })
      const fits = await post('x'.repeat(16))
      expect([fits.status, ((await fits.json()) as { body: string }).body]).toEqual([200, 'x'.repeat(16)])
      upstream.received.length = 0
      const tooLarge = await post('x'.repeat(17))
      expect([tooLarge.status, await tooLarge.json()]).toEqual([413, { error: 'payload_too_large', message: expect.any(String) }])
      expect(upstream.received).toHaveLength(0)
      // The echo upstream's /slow answers after 1.5 s: a 504 means the 300 ms limit ended the call first.
      const slow = await browser.fetch(new URL('/api/echo/slow', serve.url), { headers: CSRF })
      expect([slow.status, await slow.json()]).toEqual([504, { error: 'upstream_timeout', message: expect.any(String) }])
    })
  })

  it('logs a body the browser abandons half-way as a 499 and a request abandoned line only, with no error line (README: not as the provider failing)', async () => {
    const { keys, databaseUrl, sessionId } = await signedInDatabase(upstream)
    await withServe({ databaseUrl, keys }, async (serve) => {
      const url = new URL('/api/echo/upload', serve.url)
      const uploading = httpRequest({ host: url.hostname, port: url.port, method: 'POST', path: url.pathname, headers: { ...CSRF, Cookie: `${SESSION_COOKIE}=${sessionId}`, 'Content-Type': 'text/plain', 'Content-Length': '1000' } })
      uploading.on('error', () => {})
      // Cut once the first piece has left, not after a fixed 200 ms: cut before the connection is made, it
      // sends nothing at all. Whether the server already reads the body or not, the outcome is the same.
      await new Promise((resolve) => uploading.write('half', resolve))
      uploading.destroy()
      const logged = () => serve.output().split('\n').some((line) => /^POST \/api\/echo\/upload 499 \d+ms req=/.test(line))
      for (let waited = 0; !logged() && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
      await serve.stop()
      const lines = serve.output().trimEnd().split('\n')
      expect(lines.filter((line) => / req=/.test(line)).map((line) => line.replace(/ \d+ms req=\w+$/, '').replace(/ req=\w+:/, ':'))).toEqual([
        'request abandoned: the caller went away before its request arrived whole',
        'POST /api/echo/upload 499',
      ])
    })
  })

  it('logs a proxied answer the provider cuts with a reset as an error, and one the browser leaves half-way as info', async () => {
    // /v1/reset: headers and the first bytes of a longer body, then a reset (RST), which fails the body
    // with ECONNRESET, the code a browser's reset gives too. Any other path: 16 MB, taken as fast as read.
    const provider = createNetServer((socket) => {
      socket.on('error', () => {})
      socket.once('data', (request: Buffer) => {
        if (request.toString('latin1').startsWith('GET /v1/reset ')) {
          socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\nthe first bytes', () => setTimeout(() => socket.resetAndDestroy(), 100))
        } else {
          socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${16 * 1024 * 1024}\r\n\r\n`)
          socket.end(Buffer.alloc(16 * 1024 * 1024))
        }
      })
    })
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve))
    try {
      const { keys, databaseUrl, sessionId } = await signedInDatabase({ url: `http://127.0.0.1:${(provider.address() as AddressInfo).port}` })
      await withServe({ databaseUrl, keys }, async (serve) => {
        /** The lines logged for a request besides its request line, once they have come. */
        const linesOf = async (requestId: string | null | undefined) => {
          const lines = () => serve.output().split('\n').filter((line) => line.includes(`req=${requestId}`) && !line.startsWith('GET /api/'))
          for (let waited = 0; !lines().length && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
          await new Promise((resolve) => setTimeout(resolve, 200))
          return lines()
        }
        const browser = new BrowserSession()
        browser.cookies.push({ name: SESSION_COOKIE, value: sessionId, host: new URL(serve.url).hostname, path: '/', attributes: '' })
        const cut = await browser.fetch(new URL('/api/echo/reset', serve.url), { headers: CSRF })
        expect(cut.status).toBe(200)
        await expect(cut.text()).rejects.toThrow()
        const cutId = cut.headers.get('x-request-id')
        expect(await linesOf(cutId)).toEqual([`error req=${cutId} answer cut: read ECONNRESET`])

        const url = new URL('/api/echo/download', serve.url)
        const left = await new Promise<string | undefined>((resolve, reject) => {
          const downloading = httpRequest({ host: url.hostname, port: url.port, path: url.pathname, headers: { ...CSRF, Cookie: `${SESSION_COOKIE}=${sessionId}` } }, (answer) => {
            answer.once('data', () => {
              downloading.destroy()
              resolve(answer.headers['x-request-id'] as string | undefined)
            })
          })
          downloading.on('error', () => {})
          downloading.once('response', (answer) => answer.once('error', () => {}))
          downloading.once('close', () => reject(new Error('closed before an answer')))
          downloading.end()
        })
        expect(await linesOf(left)).toEqual([expect.stringMatching(new RegExp(`^answer cut req=${left}: the client went away \\((ECONNRESET|EPIPE|ERR_STREAM_PREMATURE_CLOSE)\\)$`))])
      })
    } finally {
      provider.close()
    }
  })

  it('listens on localhost at PORT without HOST, and makes callback URLs on http://localhost:$PORT without PUBLIC_URL', async () => {
    const { keys, databaseUrl } = await signedInDatabase(upstream)
    await withServe({ databaseUrl, keys, env: { HOST: undefined, PUBLIC_URL: undefined } }, async (serve) => {
      const { port } = new URL(serve.url)
      expect(serve.output()).toContain(`all-access listening on http://localhost:${port} (public URL http://localhost:${port})\n`)
      const start = await fetch(new URL('/auth/login/echo', serve.url), { redirect: 'manual' })
      expect(start.status).toBe(302)
      expect(new URL(start.headers.get('location')!).searchParams.get('redirect_uri')).toBe(`http://localhost:${port}/auth/callback/echo`)
    })
  })

  it('listens on an IPv6 HOST written as a URL writes it, [::1]', async () => {
    const { keys, databaseUrl } = await signedInDatabase(upstream)
    await withServe({ databaseUrl, keys, env: { HOST: '[::1]' } }, async (serve) => {
      const { port } = new URL(serve.url)
      expect(serve.output()).toContain(`all-access listening on http://[::1]:${port} `)
      expect((await fetch(`http://[::1]:${port}/auth/providers`)).status).toBe(200)
    })
  })

  it('sets Secure __Host- cookies and https callback URLs under an https PUBLIC_URL', async () => {
    const { keys, databaseUrl } = await signedInDatabase(upstream)
    await withServe({ databaseUrl, keys, env: { PUBLIC_URL: 'https://app.example' } }, async (serve) => {
      const start = await fetch(new URL('/auth/login/echo', serve.url), { redirect: 'manual' })
      expect(start.status).toBe(302)
      expect(new URL(start.headers.get('location')!).searchParams.get('redirect_uri')).toBe('https://app.example/auth/callback/echo')
      const [flowCookie] = start.headers.getSetCookie()
      expect(flowCookie).toMatch(/^__Host-allaccess_flow=[A-Za-z0-9_-]{43}; /)
      expect(flowCookie).toMatch(/; secure/i)
      expect(flowCookie).toMatch(/; path=\/(;|$)/i)
      expect(flowCookie).not.toMatch(/domain=/i)
    })
  })
})

describe('all-access serve with bad health and log settings', () => {
  /** Runs `serve` to its refusal, as a user would. */
  function serveRefusal(env: Record<string, string>, cwd = scratchFolder('aa-ops-')) {
    const result = spawnSync(process.execPath, [resolve('bin/all-access.js'), 'serve'], {
      cwd,
      env: { ...process.env, NODE_ENV: 'test', PORT: '3999', PUBLIC_URL: '', DATABASE_URL: temporaryDatabase(), ALLACCESS_KEYS: generateKey(), ...env },
      encoding: 'utf8',
      timeout: 20_000,
    })
    return { code: result.status, stdout: result.stdout, stderr: result.stderr }
  }

  it('refuses in one line to serve an ALLACCESS_STATIC_DIR that is not a folder', () => {
    const cwd = scratchFolder('aa-ops-')
    writeFileSync(join(cwd, 'index.html'), '<!doctype html>')
    for (const dir of [join(cwd, 'nope'), join(cwd, 'index.html')]) {
      expect(serveRefusal({ ALLACCESS_STATIC_DIR: dir })).toEqual({ code: 2, stdout: '', stderr: `all-access: ALLACCESS_STATIC_DIR: no folder at ${dir}\n` })
    }
  })

  // With ALLACCESS_STATIC_DIR=. (a site whose index.html is at the project's root), GET
  // /data/keys answered the development key, and /data/all-access.sqlite3 the database.
  it('refuses in one line to serve a folder that holds the SQLite database or the development key', () => {
    const cwd = scratchFolder('aa-ops-')
    writeFileSync(join(cwd, 'index.html'), '<!doctype html>')
    const database = join(cwd, 'data', 'all-access.sqlite3')
    expect(serveRefusal({ ALLACCESS_STATIC_DIR: '.', DATABASE_URL: 'sqlite://./data/all-access.sqlite3' }, cwd)).toEqual({
      code: 2,
      stdout: '',
      stderr: `all-access: ALLACCESS_STATIC_DIR: ${cwd} holds the database ${database}, and would serve it to anyone: point it at the SPA's build folder\n`,
    })
    expect(existsSync(database)).toBe(false)
    expect(serveRefusal({ ALLACCESS_STATIC_DIR: cwd, ALLACCESS_KEYS: '' }, cwd)).toEqual({
      code: 2,
      stdout: '',
      stderr: `all-access: ALLACCESS_KEYS is not set; generated a development key in ${join(cwd, 'data', 'keys')}. Set ALLACCESS_KEYS in production.\nall-access: ALLACCESS_STATIC_DIR: ${cwd} holds the development key ${join(cwd, 'data', 'keys')}, and would serve it to anyone: point it at the SPA's build folder\n`,
    })
  })

  // The check compared the paths as written: a static folder that is a link to the project (or a
  // database reached through one) was let through, and handed the database out.
  it('refuses a folder that holds the database through a symbolic link, on either side', () => {
    const cwd = scratchFolder('aa-ops-')
    writeFileSync(join(cwd, 'index.html'), '<!doctype html>')
    const elsewhere = scratchFolder('aa-ops-links-')
    symlinkSync(cwd, join(elsewhere, 'site'))
    const database = join(cwd, 'data', 'all-access.sqlite3')
    expect(serveRefusal({ ALLACCESS_STATIC_DIR: join(elsewhere, 'site'), DATABASE_URL: 'sqlite://./data/all-access.sqlite3' }, cwd)).toEqual({
      code: 2,
      stdout: '',
      stderr: `all-access: ALLACCESS_STATIC_DIR: ${join(elsewhere, 'site')} holds the database ${database}, and would serve it to anyone: point it at the SPA's build folder\n`,
    })
    mkdirSync(join(cwd, 'db'))
    symlinkSync(join(cwd, 'db'), join(elsewhere, 'db'))
    const linked = join(elsewhere, 'db', 'all-access.sqlite3')
    expect(serveRefusal({ ALLACCESS_STATIC_DIR: cwd, DATABASE_URL: `sqlite://${linked}` }, cwd)).toEqual({
      code: 2,
      stdout: '',
      stderr: `all-access: ALLACCESS_STATIC_DIR: ${cwd} holds the database ${linked}, and would serve it to anyone: point it at the SPA's build folder\n`,
    })
    expect([existsSync(database), existsSync(linked)]).toEqual([false, false])
  })

  it.each([['PORT'], ['ALLACCESS_METRICS_PORT']])('refuses in one line to serve when %s is taken by another process', async (variable) => {
    const taken = createNetServer()
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
    const { port } = taken.address() as AddressInfo
    try {
      const env: Record<string, string> = variable === 'PORT' ? { PORT: String(port), HOST: '127.0.0.1' } : { HOST: '127.0.0.1', PORT: '0', ALLACCESS_METRICS_PORT: String(port) }
      expect(serveRefusal(env)).toEqual({ code: 2, stdout: '', stderr: `all-access: ${variable}: cannot listen on http://127.0.0.1:${port} (EADDRINUSE)\n` })
    } finally {
      taken.close()
    }
  })

  // It said "PORT: cannot listen …", and an operator with a mistyped HOST went looking at the port.
  it.each([
    ['192.0.2.1', 'EADDRNOTAVAIL'],
    ['no-such-host.invalid', 'ENOTFOUND'],
  ])('names HOST, not PORT, in its one line when HOST=%s is no address of this machine', (host, code) => {
    expect(serveRefusal({ HOST: host })).toEqual({ code: 2, stdout: '', stderr: `all-access: HOST: cannot listen on http://${host}:3999 (${code})\n` })
  })

  it.each([
    [{ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none' }, 3, /^all-access: cannot reach the database \([^\n]*ECONNREFUSED[^\n]*\)$/],
    [{ ALLACCESS_STATIC_DIR: '/nonexistent-aa' }, 2, /^all-access: ALLACCESS_STATIC_DIR: no folder at \/nonexistent-aa$/],
  ])('says why it cannot start, with %j and ALLACCESS_LOG_FORMAT=json, in one JSON object at the error level, as a log collector reads every other line', (env, code, message) => {
    const refused = serveRefusal({ ...env, ALLACCESS_LOG_FORMAT: 'json' })
    expect({ code: refused.code, stdout: refused.stdout }).toEqual({ code, stdout: '' })
    expect(refused.stderr.endsWith('\n') && refused.stderr.split('\n').length).toBe(2)
    const entry = JSON.parse(refused.stderr) as Record<string, unknown>
    expect(entry).toEqual({ time: expect.any(String), level: 'error', msg: expect.stringMatching(message) })
  })

  it.each([
    [{ ALLACCESS_METRICS: 'yes' }, 'ALLACCESS_METRICS must be 0 or 1, got "yes"'],
    [{ ALLACCESS_METRICS_PORT: 'nine' }, 'ALLACCESS_METRICS_PORT must be a whole number of at least 0, got "nine"'],
    [{ ALLACCESS_METRICS_PORT: '70000' }, 'ALLACCESS_METRICS_PORT must be at most 65535, got 70000'],
    [{ ALLACCESS_METRICS_PORT: '3999' }, 'ALLACCESS_METRICS_PORT must differ from PORT (3999)'],
    [{ ALLACCESS_LOG_FORMAT: 'xml' }, 'ALLACCESS_LOG_FORMAT must be text or json, got "xml"'],
  ])('refuses %j in one line', (env, message) => {
    expect(serveRefusal(env)).toEqual({ code: 2, stdout: '', stderr: `all-access: ${message}\n` })
  })
})

describe('all-access serve with ALLACCESS_LOG_FORMAT=json', () => {
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>
  let store: Store
  let serve: RunningServe
  const keys = generateKey()
  const databaseUrl = temporaryDatabase()

  beforeAll(async () => {
    upstream = await startEchoUpstream()
    store = openStore({ databaseUrl, keys: parseKeys(keys) })
    await migrate(store.db)
    const provider = { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', clientId: 'a', clientSecret: 'client-secret-0b7e' }
    await store.providers.add(buildProviderConfig('echo', { ...provider, apiBaseUrl: `${upstream.url}/v1` }))
    // An API nobody listens on: a 502 and its error line.
    await store.providers.add(buildProviderConfig('dead', { ...provider, apiBaseUrl: 'http://127.0.0.1:1/v1' }))
    serve = await startServe({ databaseUrl, keys, env: { ALLACCESS_LOG_FORMAT: 'json' } })
  })

  afterAll(async () => {
    await serve?.stop()
    await store?.close()
    await upstream?.close()
  })

  it('prints one JSON object per line: requests with method, path, status, ms and req, errors with the req of their request, and no secret', async () => {
    const user = await store.users.create('Operator')
    for (const name of ['echo', 'dead']) {
      const provider = await store.providers.get(name)
      await store.accounts.create({ providerId: provider!.id, identifier: `someone-${name}`, userId: user.id, displayName: null, accessToken: `token-${name}-5c2d`, tokenSecret: null, refreshToken: null, idToken: null, expiresAt: null, scope: null })
    }
    const sessionId = randomToken()
    await store.sessions.create(hashId(sessionId), { userId: user.id, createdAt: Date.now(), idleExpiresAt: Date.now() + 3_600_000, absoluteExpiresAt: Date.now() + 3_600_000 })
    const browser = new BrowserSession()
    browser.cookies.push({ name: SESSION_COOKIE, value: sessionId, host: new URL(serve.url).hostname, path: '/', attributes: '' })

    const ok = await browser.fetch(new URL('/api/echo/users/7?access=query-secret-1a', serve.url), { headers: CSRF })
    expect(ok.status).toBe(200)
    const failed = await browser.fetch(new URL('/api/dead/me', serve.url), { headers: CSRF })
    expect(failed.status).toBe(502)
    const callback = await fetch(new URL('/auth/callback/echo?code=code-secret-3f&state=state-secret-9d', serve.url), { redirect: 'manual' })
    expect(callback.status).toBe(302)
    // Another site's image of the login start: refused, which any page can make a browser do once a request.
    const crossSite = await fetch(new URL('/auth/login/echo', serve.url), { headers: { 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'no-cors', 'Sec-Fetch-Dest': 'image' }, redirect: 'manual' })
    expect(crossSite.status).toBe(403)
    await serve.stop()

    const lines = serve.output().trimEnd().split('\n')
    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>)
    for (const entry of entries) {
      expect(new Date(entry.time as string).toISOString()).toBe(entry.time)
      expect(['info', 'error']).toContain(entry.level)
      expect(typeof entry.msg).toBe('string')
    }
    const requests = entries.filter((entry) => entry.method !== undefined)
    const okId = ok.headers.get('x-request-id')
    const failedId = failed.headers.get('x-request-id')
    expect(requests.map(({ method, path, status, req }) => ({ method, path, status, req }))).toEqual([
      { method: 'GET', path: '/api/echo/users/7', status: 200, req: okId },
      { method: 'GET', path: '/api/dead/me', status: 502, req: failedId },
      { method: 'GET', path: '/auth/callback/echo', status: 302, req: callback.headers.get('x-request-id') },
      { method: 'GET', path: '/auth/login/echo', status: 403, req: crossSite.headers.get('x-request-id') },
    ])
    for (const request of requests) expect(request.ms).toEqual(expect.any(Number))
    expect(requests[0].msg).toBe(`GET /api/echo/users/7 200 ${requests[0].ms}ms req=${okId}`)
    const errors = entries.filter((entry) => entry.level === 'error')
    expect(errors.map((entry) => entry.req)).toEqual([failedId])
    expect(errors[0].msg).toMatch(new RegExp(`^error req=${failedId} upstream_unreachable: http://127\\.0\\.0\\.1:1: `))
    // A refusal any client can cause once a request is logged with its detail, but not as an error to alert on.
    expect(entries.filter((entry) => entry.req === crossSite.headers.get('x-request-id') && entry.method === undefined)).toEqual([
      expect.objectContaining({ level: 'info', msg: `refused req=${crossSite.headers.get('x-request-id')} origin_not_allowed: a login start from another site's image` }),
    ])
    expect(entries.map((entry) => entry.msg)).toContain('all-access stopping (SIGTERM)')
    for (const secret of [sessionId, 'token-echo-5c2d', 'token-dead-5c2d', 'client-secret-0b7e', 'query-secret-1a', 'code-secret-3f', 'state-secret-9d']) expect(serve.output()).not.toContain(secret)
  })
})

describe('all-access serve with ALLACCESS_LOG_FORMAT=json and no ALLACCESS_KEYS', () => {
  it('says that it generated a development key as one JSON object too, as a log collector reads every other line', async () => {
    const serve = await startServe({ env: { ALLACCESS_LOG_FORMAT: 'json', ALLACCESS_KEYS: undefined } })
    await serve.stop()
    const entries = serve.output().trimEnd().split('\n').map((line) => {
      try {
        return JSON.parse(line) as Record<string, unknown>
      } catch {
        return line
      }
    })
    expect(entries).toContainEqual(expect.objectContaining({ level: 'error', msg: expect.stringMatching(/^all-access: ALLACCESS_KEYS is not set; generated a development key in /) }))
    expect(entries.filter((entry) => typeof entry === 'string')).toEqual([])
  })
})

describe('all-access serve while it starts', () => {
  it('answers a request that reaches its port before the app is ready once it is, instead of leaving it hanging', async () => {
    const port = await freePort()
    const starting = startServe({ port, sandbox: true, env: { ALLACCESS_STATIC_DIR: spa() } })
    // The first request that connects: the port listens before the sandbox providers and the app
    // are ready (a restarted instance that a load balancer already sends to).
    let first: Response | undefined
    while (!first) {
      first = await fetch(`http://127.0.0.1:${port}/auth/providers`, { signal: AbortSignal.timeout(15_000) }).catch((error: Error & { cause?: { code?: string } }) => {
        if (error.cause?.code !== 'ECONNREFUSED') throw error
        return undefined
      })
    }
    const serve = await starting
    try {
      expect(first.status).toBe(200)
      expect(((await first.json()) as { providers: { name: string }[] }).providers.map((p) => p.name).sort()).toEqual(['sandbox-oauth1', 'sandbox-oidc'])
    } finally {
      await serve.stop()
    }
  })
})
