import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import Koa from 'koa'
import { mkdirSync, readFileSync, renameSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs'
import { request as httpRequest, type Server } from 'node:http'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import etag from 'etag'
import { CONTENT_SECURITY_POLICY, staticSite, type StaticSiteOptions } from '../server/static-site.ts'
import { scratchFolder } from './support/scratch-folder.ts'

/** A raw request: fetch would normalise `..` away before it ever left the test. */
function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET') {
  return new Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, headers }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.on('error', reject)
    req.end()
  })
}

/** A Koa app serving `root` with staticSite, listening on an ephemeral port of 127.0.0.1. */
async function serveSite(root: string, options?: StaticSiteOptions, onConnection?: (socket: Socket) => void): Promise<{ server: Server; port: number }> {
  const app = new Koa()
  app.use(staticSite(root, options))
  const server = app.listen(0, '127.0.0.1')
  if (onConnection) server.on('connection', onConnection)
  await new Promise((resolve) => server.once('listening', resolve))
  return { server, port: (server.address() as { port: number }).port }
}

describe('the static SPA the BFF serves', () => {
  let dir: string
  let server: Server
  let port: number

  beforeAll(async () => {
    dir = scratchFolder('aa-static-')
    const root = join(dir, 'site')
    mkdirSync(join(root, 'assets'), { recursive: true })
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>SPA</title>')
    writeFileSync(join(root, 'assets', 'app-3f9a1c.js'), 'console.log("app")')
    writeFileSync(join(root, 'robots.txt'), 'User-agent: *')
    writeFileSync(join(root, 'legacy.htm'), '<!doctype html><title>Legacy</title>')
    writeFileSync(join(root, 'Help.HTML'), '<!doctype html><title>Help</title>')
    writeFileSync(join(dir, 'secret.txt'), 'SECRET-OUTSIDE-ROOT')
    mkdirSync(join(root, '.well-known'))
    writeFileSync(join(root, '.well-known', 'security.txt'), 'Contact: mailto:security@example.com')
    writeFileSync(join(root, '.well-known', 'apple-app-site-association'), '{"applinks":{}}')
    writeFileSync(join(root, '.well-known', '.private'), 'PRIVATE-DOTFILE')
    writeFileSync(join(root, '.env'), 'PRIVATE-DOTFILE')
    mkdirSync(join(dir, 'data'))
    writeFileSync(join(dir, 'data', 'all-access.sqlite3'), 'SECRET-OUTSIDE-ROOT')
    symlinkSync(join(dir, 'secret.txt'), join(root, 'linked-secret.txt'))
    symlinkSync('../data', join(root, 'data'))
    symlinkSync(join(dir, 'data', 'all-access.sqlite3'), join(root, 'assets', 'db.js'))
    mkdirSync(join(dir, 'outside-page'))
    writeFileSync(join(dir, 'outside-page', 'index.html'), 'SECRET-OUTSIDE-ROOT')
    symlinkSync(join(dir, 'outside-page'), join(root, 'docs'))
    symlinkSync('/etc/passwd', join(root, 'passwd.txt'))
    const site = await serveSite(root)
    server = site.server
    port = site.port
  })

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve))
  })

  it('serves index.html with its CSP, no framing, revalidated every time', async () => {
    const page = await get(port, '/')
    expect(page.status).toBe(200)
    expect(page.body).toBe('<!doctype html><title>SPA</title>')
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8')
    expect(page.headers['content-security-policy']).toBe(CONTENT_SECURITY_POLICY)
    expect(page.headers['x-frame-options']).toBe('DENY')
    expect(page.headers['cache-control']).toBe('no-cache')
    expect(page.headers.etag).toBeTruthy()
  })

  it('gives every HTML page the CSP and no framing, whatever the case or spelling of its extension', async () => {
    for (const path of ['/legacy.htm', '/Help.HTML']) {
      const page = await get(port, path)
      expect(page.status, path).toBe(200)
      expect(page.headers['content-type'], path).toBe('text/html; charset=utf-8')
      expect(page.headers['content-security-policy'], path).toBe(CONTENT_SECURITY_POLICY)
      expect(page.headers['x-frame-options'], path).toBe('DENY')
      expect(page.headers['cache-control'], path).toBe('no-cache')
    }
  })

  it('caches hashed assets for a year as immutable, and other files for revalidation only', async () => {
    const asset = await get(port, '/assets/app-3f9a1c.js')
    expect(asset.status).toBe(200)
    expect(asset.headers['content-type']).toMatch(/^(application|text)\/javascript/)
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    expect(asset.headers['x-content-type-options']).toBe('nosniff')
    expect((await get(port, '/robots.txt')).headers['cache-control']).toBe('no-cache')
  })

  it('answers 304 with no body to a request naming the ETag it holds', async () => {
    for (const path of ['/', '/assets/app-3f9a1c.js']) {
      const first = await get(port, path)
      const again = await get(port, path, { 'If-None-Match': String(first.headers.etag) })
      expect(again.status).toBe(304)
      expect(again.body).toBe('')
    }
  })

  it('falls back to index.html for a page route, and not for a missing file or a non-page request', async () => {
    const route = await get(port, '/accounts/settings', { Accept: 'text/html' })
    expect(route.status).toBe(200)
    expect(route.body).toBe('<!doctype html><title>SPA</title>')
    expect((await get(port, '/assets/missing.js', { Accept: 'text/html' })).status).toBe(404)
    expect((await get(port, '/accounts/settings', { Accept: 'application/json' })).status).toBe(404)
  })

  // Vite's dev server and `vite preview` fall back for these too: a route such as /users/jane.doe
  // worked there, and a reload of it under serve answered a bare "Not Found".
  it("falls back to index.html for a browser's navigation to a page route with a dot, and still not for a missing file a page loads", async () => {
    const navigation = { Accept: 'text/html,application/xhtml+xml,*/*;q=0.8', 'Sec-Fetch-Mode': 'navigate', 'Sec-Fetch-Dest': 'document' }
    for (const path of ['/users/jane.doe', '/deep/route.with.dot', '/docs/v1.2']) {
      const page = await get(port, path, navigation)
      expect([page.status, page.body], path).toEqual([200, '<!doctype html><title>SPA</title>'])
      expect(page.headers['content-security-policy'], path).toBe(CONTENT_SECURITY_POLICY)
    }
    expect((await get(port, '/assets/missing.js', { Accept: '*/*', 'Sec-Fetch-Mode': 'no-cors', 'Sec-Fetch-Dest': 'script' })).status).toBe(404)
    expect((await get(port, '/users/jane.doe', { Accept: '*/*', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' })).status).toBe(404)
  })

  // Mounted before allAccess.middleware, the fallback answered the login start and the callback
  // (navigations that want HTML) with the SPA, and nobody could sign in.
  it("leaves the BFF's paths to the BFF, a page route or a file of that name alike", async () => {
    mkdirSync(join(dir, 'site', 'auth'), { recursive: true })
    writeFileSync(join(dir, 'site', 'auth', 'session'), '{"authenticated":true}')
    for (const path of ['/auth/login/github', '/auth/callback/github?code=c&state=s', '/auth', '/api/github/user', '/auth/session']) {
      expect((await get(port, path, { Accept: 'text/html' })).status, path).toBe(404)
    }
    expect((await get(port, '/authors', { Accept: 'text/html' })).body).toBe('<!doctype html><title>SPA</title>')
  })

  // Vite copies public/.well-known into the build: security.txt (RFC 9116), Apple's and Android's
  // app-link files. koa-send refuses every dot segment, so they were 404, or the SPA's page for a name
  // without an extension, which Apple's check reads as a broken file.
  it('serves the files of /.well-known (RFC 8615), and still no other dotfile, there or elsewhere', async () => {
    const security = await get(port, '/.well-known/security.txt')
    expect([security.status, security.body, security.headers['content-type']]).toEqual([200, 'Contact: mailto:security@example.com', 'text/plain; charset=utf-8'])
    expect((await get(port, '/.well-known/apple-app-site-association', { Accept: 'text/html' })).body).toBe('{"applinks":{}}')
    expect((await get(port, '/.well-known/missing.json')).status).toBe(404)
    for (const path of ['/.env', '/.well-known/.private', '/.well-known/../.env', '/.well-known/%2e%2e/.env', '/.well-known/%2eprivate', '/.well-known/..%2f.env', '/%2ewell-known/.private']) {
      expect((await get(port, path)).body, path).not.toContain('PRIVATE-DOTFILE')
    }
  })

  it('answers HEAD like GET, without a body', async () => {
    const head = await get(port, '/assets/app-3f9a1c.js', {}, 'HEAD')
    expect(head.status).toBe(200)
    expect(head.body).toBe('')
  })

  // A link in the folder (a build that copied one from public/, ALLACCESS_STATIC_DIR=. with a link
  // into data/) was followed wherever it led: the folder handed out files that were never in it.
  it('serves no file that a symbolic link in the folder leads to outside it, and still what links inside it lead to', async () => {
    const site = join(dir, 'site')
    for (const path of ['/linked-secret.txt', '/data/all-access.sqlite3', '/assets/db.js', '/passwd.txt', '/docs/index.html']) {
      const answer = await get(port, path, { Accept: '*/*' })
      expect([answer.status, answer.body.includes('SECRET-OUTSIDE-ROOT') || answer.body.includes('root:')], path).toEqual([404, false])
    }
    // A navigation to a refused link's path is a page route like any other missing name: the SPA's page.
    for (const path of ['/docs', '/docs/']) expect((await get(port, path, { Accept: 'text/html' })).body, path).toBe('<!doctype html><title>SPA</title>')
    symlinkSync('assets/app-3f9a1c.js', join(site, 'latest.js'))
    symlinkSync('assets', join(site, 'current'))
    for (const path of ['/latest.js', '/current/app-3f9a1c.js']) {
      expect([(await get(port, path)).status, (await get(port, path)).body], path).toEqual([200, 'console.log("app")'])
    }
  })

  // Releases are often deployed as a link to the newest one (/srv/site/current -> releases/42).
  it('serves a folder that is itself a symbolic link to the files', async () => {
    symlinkSync(join(dir, 'site'), join(dir, 'current'))
    const linked = await serveSite(join(dir, 'current'))
    try {
      expect((await get(linked.port, '/assets/app-3f9a1c.js')).body).toBe('console.log("app")')
      expect((await get(linked.port, '/linked-secret.txt')).status).toBe(404)
    } finally {
      await new Promise((resolve) => linked.server.close(resolve))
    }
  })

  it.each(['/../secret.txt', '/%2e%2e/secret.txt', '/assets/..%2f..%2fsecret.txt', '/..%5csecret.txt', '/%2e%2e%2fsecret.txt', '/assets/../../secret.txt'])(
    'never serves a file outside its root for %s',
    async (path) => {
      const answer = await get(port, path, { Accept: 'text/html' })
      expect(answer.body).not.toContain('SECRET-OUTSIDE-ROOT')
      expect([200, 400, 403, 404]).toContain(answer.status)
    },
  )
})

// Builds that fix every file's time (Nix's store, SOURCE_DATE_EPOCH) write index.html at one size
// and one mtime release after release, as only its assets' hashes change: a tag made of those two
// got a 304 for the page of the release before, whose assets were gone, and the app stayed blank.
describe('a page that a new release rewrote with the same size and time', () => {
  let server: Server
  let port: number
  let root: string

  beforeAll(async () => {
    root = scratchFolder('aa-static-release-')
    const site = await serveSite(root)
    server = site.server
    port = site.port
  })

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve))
  })

  it('is sent again to a browser holding the one before, not answered 304', async () => {
    const released = new Date('2001-01-01T00:00:01Z')
    const release = (hash: string) => {
      writeFileSync(join(root, 'index.html'), `<!doctype html><script type="module" src="/assets/index-${hash}.js"></script>`)
      utimesSync(join(root, 'index.html'), released, released)
    }
    release('B1xQ9aZk')
    const before = await get(port, '/deep/route', { Accept: 'text/html' })
    release('C7mR2pLw')
    const held = { 'If-None-Match': String(before.headers.etag), 'If-Modified-Since': String(before.headers['last-modified'] ?? released.toUTCString()) }
    for (const path of ['/', '/index.html', '/deep/route']) {
      const after = await get(port, path, { Accept: 'text/html', ...held })
      expect([after.status, after.body], path).toEqual([200, '<!doctype html><script type="module" src="/assets/index-C7mR2pLw.js"></script>'])
      expect((await get(port, path, { Accept: 'text/html', 'If-None-Match': String(after.headers.etag) })).status, path).toBe(304)
    }
  })
})

describe('a client that stops reading a file', () => {
  /** Far more than the sockets' buffers on both sides hold: the answer stalls once they are full. */
  const SIZE = 64 * 1024 * 1024
  let server: Server
  let port: number
  const accepted: Socket[] = []

  beforeAll(async () => {
    const root = scratchFolder('aa-static-stall-')
    writeFileSync(join(root, 'big.bin'), Buffer.alloc(SIZE))
    const site = await serveSite(root, { stalledAnswerMs: 100 }, (socket) => accepted.push(socket))
    server = site.server
    port = site.port
  })

  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
  })

  it('has its connection closed once the answer has stalled for stalledAnswerMs, instead of holding it and the file for good', async () => {
    const client = connect({ host: '127.0.0.1', port })
    client.on('error', () => {})
    await new Promise((resolve) => client.once('connect', resolve))
    client.write('GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n')
    client.pause()
    const serverSide = await new Promise<Socket>((resolve) => (accepted.length ? resolve(accepted[0]) : server.once('connection', resolve)))
    await new Promise((resolve) => (serverSide.destroyed ? resolve(null) : serverSide.once('close', resolve)))
    let received = 0
    client.on('data', (chunk: Buffer) => (received += chunk.length))
    client.resume()
    await new Promise((resolve) => client.once('close', resolve))
    expect(received).toBeGreaterThan(0)
    expect(received).toBeLessThan(SIZE)
  })
})

// Each request for a file up to 1 MiB read it whole to tag its bytes: a visitor asking for the same
// 900 KB file 100 times at once made the process hold 100 copies of it.
describe('many requests at once for the same file of almost a mebibyte', () => {
  const SIZE = 900 * 1024
  const PARALLEL = 100
  let root: string
  let server: Server
  let port: number
  let held: () => void
  let growth: number

  beforeAll(async () => {
    root = scratchFolder('aa-static-parallel-')
    writeFileSync(join(root, 'data.json'), Buffer.alloc(SIZE, 'x'))
    const app = new Koa()
    // Each answer is held once the static site has made it, until all of them are: their cost is
    // what the process holds for them then.
    let answered = 0
    const allAnswered = new Promise<void>((resolve) => (held = resolve))
    const before = process.memoryUsage().arrayBuffers
    app.use(async (ctx, next) => {
      await next()
      if (++answered === PARALLEL) {
        growth = process.memoryUsage().arrayBuffers - before
        held()
      }
      await allAnswered
    })
    app.use(staticSite(root))
    server = app.listen(0, '127.0.0.1')
    await new Promise((resolve) => server.once('listening', resolve))
    port = (server.address() as { port: number }).port
  })

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve))
  })

  it('costs the process far less than a copy of the file per request, and each still gets the whole file and its tag', async () => {
    const answers = await Promise.all(Array.from({ length: PARALLEL }, () => get(port, '/data.json')))
    const tag = etag(readFileSync(join(root, 'data.json')))
    for (const answer of answers) expect([answer.status, answer.body.length, answer.headers.etag]).toEqual([200, SIZE, tag])
    expect(growth).toBeLessThan((PARALLEL * SIZE) / 8)
  })
})

// A file's tag is read once per version and remembered once the file has settled: each version
// must still get its own tag, the one @koa/etag gave its bytes, and a 304 only for that tag.
describe('the tags of files read once per version', () => {
  let root: string
  let server: Server
  let port: number
  const files: Record<string, Buffer> = {
    'empty.txt': Buffer.alloc(0),
    'robots.txt': Buffer.from('User-agent: *'),
    'chunks.bin': Buffer.from(Array.from({ length: 200 * 1024 + 7 }, (_, i) => (i * 31) % 251)),
    'index.html': Buffer.from('<!doctype html><script src="/assets/index-B1xQ9aZk.js"></script>'),
    'app.webmanifest': Buffer.from('{"name":"one"}'),
  }
  const released = new Date('2001-01-01T00:00:01Z')

  beforeAll(async () => {
    root = scratchFolder('aa-static-versions-')
    for (const [name, bytes] of Object.entries(files)) {
      writeFileSync(join(root, name), bytes)
      utimesSync(join(root, name), released, released)
    }
    const site = await serveSite(root)
    server = site.server
    port = site.port
  })

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve))
  })

  it('are the tags of the bytes, whatever their size, and earn a 304', async () => {
    for (const [name, bytes] of Object.entries(files)) {
      const answer = await get(port, `/${name}`)
      expect([answer.status, answer.headers.etag, answer.headers['content-length'], answer.headers['last-modified']], name).toEqual([200, etag(bytes), String(bytes.length), undefined])
      expect((await get(port, `/${name}`, { 'If-None-Match': etag(bytes) })).status, name).toBe(304)
    }
  })

  it('change with a settled file rewritten in place at the same size and time, or replaced by another', async () => {
    // Remembered only once a file's last change is two seconds old: wait for that, then read each tag.
    await new Promise((resolve) => setTimeout(resolve, 2100))
    for (const name of ['index.html', 'app.webmanifest']) expect((await get(port, `/${name}`)).headers.etag, name).toBe(etag(files[name]!))
    const page = Buffer.from('<!doctype html><script src="/assets/index-C7mR2pLw.js"></script>')
    writeFileSync(join(root, 'index.html'), page)
    utimesSync(join(root, 'index.html'), released, released)
    const manifest = Buffer.from('{"name":"two"}')
    writeFileSync(join(root, 'next.webmanifest'), manifest)
    utimesSync(join(root, 'next.webmanifest'), released, released)
    renameSync(join(root, 'next.webmanifest'), join(root, 'app.webmanifest'))
    for (const [name, bytes] of [['index.html', page], ['app.webmanifest', manifest]] as const) {
      const answer = await get(port, `/${name}`, { 'If-None-Match': etag(files[name]!) })
      expect([answer.status, answer.body, answer.headers.etag], name).toEqual([200, bytes.toString(), etag(bytes)])
    }
  })
})
