import { createServer, type Server } from 'node:http'
import { connect, type AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
// From the package's entry: a host app's own server adds it as `serve` does.
import { refuseUnreadableRequest } from '../server/index.ts'
import type { Logger } from '../server/log.ts'

/** What a connection that writes `bytes` (or nothing) receives before the server closes it. */
function received(port: number, bytes: string | null): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port }, () => bytes !== null && socket.write(bytes))
    let answer = ''
    socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')))
    socket.on('error', () => {})
    socket.on('close', () => resolve(answer))
  })
}

describe('refuseUnreadableRequest', () => {
  const lines: string[] = []
  const log: Logger = { info: (line) => lines.push(line), error: (line) => lines.push(line) }
  let server: Server
  let port: number

  beforeAll(async () => {
    // Limits of a few hundred milliseconds, so that the connections below run out of them.
    server = createServer({ headersTimeout: 300, requestTimeout: 300, connectionsCheckingInterval: 50 }, (_req, res) => res.end('ok'))
    server.on('clientError', refuseUnreadableRequest(log))
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve))
  })

  it('answers a request whose headers never end 408 with nosniff and no-store, and logs it', async () => {
    lines.length = 0
    const answer = await received(port, 'GET / HTTP/1.1\r\nHost: loc')
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/)
    expect(answer).toContain('\r\nX-Content-Type-Options: nosniff\r\n')
    expect(answer).toContain('\r\nCache-Control: no-store\r\n')
    expect(lines).toEqual(['request unreadable 408: ERR_HTTP_REQUEST_TIMEOUT'])
  })

  it('answers a request it cannot read that follows an answered one on a kept-alive connection, as Node does, rather than closing without a word', async () => {
    lines.length = 0
    const answer = await new Promise<string>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port }, () => socket.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n'))
      let received = ''
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1')
        // The first answer is in, and the connection kept: the next request's headers are past Node's limit.
        if (received.endsWith('\r\n\r\nok')) socket.write(`GET / HTTP/1.1\r\nHost: localhost\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`)
      })
      socket.on('error', () => {})
      socket.on('close', () => resolve(received))
    })
    const second = answer.slice(answer.indexOf('\r\n\r\nok') + 6)
    expect(second).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/)
    expect(second).toContain('\r\nX-Content-Type-Options: nosniff\r\n')
    expect(lines).toEqual(['request unreadable 431: HPE_HEADER_OVERFLOW'])
  })

  it('closes a connection that never sent a byte (an unused preconnect) with no answer and no log line', async () => {
    lines.length = 0
    expect(await received(port, null)).toBe('')
    expect(lines).toEqual([])
  })
})
