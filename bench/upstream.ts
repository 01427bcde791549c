// The provider API every proxy under test calls: any request gets the same ~300-byte JSON answer.
// For the soak (BENCH_TOKEN_KEY set): only a live bearer token of the bench provider is served
// (else 401 invalid_token, as a resource server answers an expired token), and the soak makes it
// reset connections, before its headers or halfway through its body, over the IPC channel.
import { createServer } from 'node:http'
import { tokenUser } from './bearer-token.ts'
import { listen, onCommand } from './child.ts'

const item = (id: number) => ({ id, name: `Item number ${id}`, done: id % 2 === 0 })
const BODY = JSON.stringify({ items: [1, 2, 3, 4, 5].map(item), page: 1, pageSize: 5, total: 42, next: '/v1/data?page=2' })
const tokenKey = process.env.BENCH_TOKEN_KEY ? Buffer.from(process.env.BENCH_TOKEN_KEY, 'base64') : undefined

export type UpstreamFault = 'none' | 'reset-before-headers' | 'reset-mid-body'
let fault: UpstreamFault = 'none'
const counts = { answered: 0, refusedTokens: 0, resets: 0 }
export type UpstreamCounts = typeof counts

const server = createServer((req, res) => {
  // Drain any request body before answering, as a real API would read it.
  req.resume()
  req.on('end', () => {
    if (tokenKey && !tokenUser(req.headers.authorization, tokenKey)) {
      counts.refusedTokens++
      res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Bearer error="invalid_token"' }).end('{"error":"invalid_token"}')
      return
    }
    if (fault === 'reset-before-headers') {
      counts.resets++
      return req.socket.resetAndDestroy()
    }
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(BODY), ETag: '"v1"', 'Set-Cookie': 'upstream=1' })
    if (fault === 'reset-mid-body') {
      counts.resets++
      // Headers and half the body on the wire, then a TCP reset.
      res.write(BODY.slice(0, BODY.length / 2), () => setTimeout(() => req.socket.resetAndDestroy(), 5))
      return
    }
    counts.answered++
    res.end(BODY)
  })
})
listen(server, 'upstream')

export type UpstreamCommand = { fault: UpstreamFault } | { counts: true }

onCommand((command: UpstreamCommand) => {
  if ('fault' in command) fault = command.fault
  return { ...counts }
})
