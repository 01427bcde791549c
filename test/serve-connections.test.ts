import { connect, createServer, type Server, type Socket } from 'node:net'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startServe, type RunningServe } from './support/demo-server.ts'
import { scratchFolder } from './support/scratch-folder.ts'

const SPA_PAGE = '<!doctype html><p>the app</p>'

/** A raw connection to `serve`, with what it has received and a promise of its end. */
function openConnection(serve: RunningServe) {
  const socket: Socket = connect({ host: '127.0.0.1', port: Number(new URL(serve.url).port) })
  let received = ''
  socket.on('data', (chunk: Buffer) => (received += chunk.toString('latin1')))
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  /** The status and headers (names in lower case) of the first answer, once they have arrived. */
  const head = new Promise<{ status: number; headers: Record<string, string> }>((resolve, reject) => {
    const check = () => {
      const end = received.indexOf('\r\n\r\n')
      if (end < 0) return
      socket.off('data', check)
      const [statusLine, ...lines] = received.slice(0, end).split('\r\n')
      const headers = Object.fromEntries(lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]))
      resolve({ status: Number(statusLine.split(' ')[1]), headers })
    }
    socket.on('data', check)
    void closed.then(() => reject(new Error(`closed before an answer: ${JSON.stringify(received)}`)))
  })
  return { socket, head, closed }
}

describe('all-access serve: connections', () => {
  let serve: RunningServe
  let unixSocket: Server

  beforeAll(async () => {
    const folder = scratchFolder('aa-spa-')
    writeFileSync(join(folder, 'index.html'), SPA_PAGE)
    // A file that cannot be read (as one with the wrong permissions, or with no descriptor left).
    symlinkSync('loop.js', join(folder, 'loop.js'))
    // One whose stat succeeds and whose opening fails (ENXIO), as a file without read permission or
    // with no descriptor left: under the hashed assets, which are otherwise cached for a year.
    mkdirSync(join(folder, 'assets'))
    unixSocket = createServer()
    await new Promise<void>((resolve) => unixSocket.listen(join(folder, 'assets', 'app-1a2b3c.js'), resolve))
    // Large enough that its answer is still being written when a client leaves after the first bytes.
    writeFileSync(join(folder, 'video.bin'), Buffer.alloc(16 * 1024 * 1024))
    serve = await startServe({ env: { ALLACCESS_STATIC_DIR: folder } })
  })

  afterAll(async () => {
    await serve?.stop()
    unixSocket?.close()
  })

  it('closes the connection once the body of a request answered before it arrived stops coming, instead of waiting for a body that never ends', async () => {
    await Promise.all(
      ([['POST', '/', 404], ['GET', '/index.html', 200], ['PUT', '/settings', 404]] as const).map(async ([method, target, status]) => {
        const connection = openConnection(serve)
        // A body announced far larger than what comes: a client trickling it would hold the connection.
        connection.socket.write(`${method} ${target} HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000000\r\n\r\nthe start of it`)
        const { status: answered } = await connection.head
        expect([method, target, answered]).toEqual([method, target, status])
        // Cut once nothing came for a while: well before Node's own request time-out, past this test's.
        await connection.closed
      }),
    )
  })

  it('reads and drops the rest of a body that goes on coming after a page or a 404, so that the client reads its answer and sends its next request on the connection', async () => {
    const connection = openConnection(serve)
    let failed: Error | undefined
    connection.socket.on('error', (error) => (failed = error))
    const size = 8 * 1024 * 1024
    connection.socket.write(`POST /settings HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${size}\r\n\r\n`)
    expect((await connection.head).status).toBe(404)
    const chunk = Buffer.alloc(64 * 1024, 97)
    for (let sent = 0; sent < size && !failed; sent += chunk.length) await new Promise((resolve) => connection.socket.write(chunk, resolve))
    let received = ''
    connection.socket.on('data', (data: Buffer) => (received += data.toString('latin1')))
    connection.socket.write('GET /index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
    await connection.closed
    expect(failed).toBeUndefined()
    expect(received).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(received.endsWith(SPA_PAGE)).toBe(true)
  })

  it('logs a browser that leaves in the middle of a file as one info line, not as an error to alert on', async () => {
    const connection = openConnection(serve)
    connection.socket.write('GET /video.bin HTTP/1.1\r\nHost: localhost\r\n\r\n')
    const { status, headers } = await connection.head
    expect(status).toBe(200)
    connection.socket.destroy()
    const requestId = headers['x-request-id']
    const lines = () => serve.output().split('\n').filter((line) => line.includes(`req=${requestId}`))
    // Its request line comes once the answer is over, cut or not.
    for (let waited = 0; !lines().some((line) => line.startsWith('GET /video.bin')) && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
    await new Promise((resolve) => setTimeout(resolve, 200))
    expect(lines().filter((line) => !line.startsWith('GET /video.bin'))).toEqual([expect.stringMatching(new RegExp(`^answer cut req=${requestId}: the client went away \\((ECONNRESET|EPIPE|ERR_STREAM_PREMATURE_CLOSE)\\)$`))])
  })

  it('keeps the connection of a request that arrived whole for the next one', async () => {
    const connection = openConnection(serve)
    connection.socket.write('GET /index.html HTTP/1.1\r\nHost: localhost\r\n\r\n')
    const { status, headers } = await connection.head
    expect([status, headers.connection]).toEqual([200, 'keep-alive'])
    connection.socket.destroy()
  })

  it.each([
    ['a malformed request (two Content-Lengths)', 'GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 400],
    ['headers past Node\'s limit', `GET / HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
  ] as const)('answers %s that Node refuses with nosniff and no-store, and logs it', async (_, request, status) => {
    const connection = openConnection(serve)
    connection.socket.write(request)
    const { status: answered, headers } = await connection.head
    expect([answered, headers['x-content-type-options'], headers['cache-control'], headers.connection]).toEqual([status, 'nosniff', 'no-store', 'close'])
    await connection.closed
    const logged = () => serve.output().split('\n').some((line) => line.startsWith(`request unreadable ${status}: HPE_`))
    for (let waited = 0; !logged() && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(serve.output()).toMatch(new RegExp(`^request unreadable ${status}: HPE_[A-Z_]+$`, 'm'))
  })

  // Node answers these two itself, before any listener of the app, unless told otherwise.
  it.each([
    ['an HTTP/1.1 request without Host', 'GET /auth/session HTTP/1.1\r\nX-CSRF: 1\r\n\r\n', 400, 'request refused 400: HTTP/1.1 without Host'],
    ['an Expect other than 100-continue', 'GET /auth/session HTTP/1.1\r\nHost: localhost\r\nX-CSRF: 1\r\nExpect: 200-ok\r\n\r\n', 417, 'request refused 417: Expect other than 100-continue'],
  ] as const)('answers %s with nosniff and no-store, and logs it', async (_, request, status, line) => {
    const connection = openConnection(serve)
    connection.socket.write(request)
    const { status: answered, headers } = await connection.head
    expect([answered, headers['x-content-type-options'], headers['cache-control'], headers.connection]).toEqual([status, 'nosniff', 'no-store', 'close'])
    await connection.closed
    const logged = () => serve.output().split('\n').includes(line)
    for (let waited = 0; !logged() && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(serve.output().split('\n')).toContain(line)
  })

  it.each([
    ['/loop.js', 'ELOOP'],
    ['/assets/app-1a2b3c.js', 'ENXIO'],
  ])("answers a file it fails to read (%s) 500 server_error, as any route, uncached, with nosniff and the request id, and logs the error with that id", async (path, code) => {
    const answer = await fetch(new URL(path, serve.url))
    const requestId = answer.headers.get('x-request-id')
    expect([answer.status, answer.headers.get('x-content-type-options'), answer.headers.get('cache-control'), await answer.json()]).toEqual([500, 'nosniff', 'no-store', { error: 'server_error', message: expect.any(String) }])
    expect(requestId).toMatch(/^[0-9a-f]{16}$/)
    const logged = () => serve.output().includes(`error req=${requestId} server_error: `)
    for (let waited = 0; !logged() && waited < 10_000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(serve.output()).toMatch(new RegExp(`^error req=${requestId} server_error: Error: ${code}`, 'm'))
    expect(serve.output()).not.toContain(`error req=${requestId} answer cut`)
  })
})
