// The soak's load balancer: round robin over the BFF instances, as a plain HTTP reverse proxy in
// front of several `all-access serve` would be. An instance that refuses the connection (killed,
// restarting) is skipped for the next one, as a balancer's health check would take it out; a
// request already sent to an instance that dies gets the balancer's own 502, marked so the soak can
// tell it from the BFF's answers.
import { createServer, request, Agent, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export const BALANCER_HEADER = 'x-soak-balancer'

export interface Balancer {
  url: string
  /** Requests sent to each target, by its index. */
  sent: number[]
  close(): Promise<void>
}

export async function startBalancer(targets: URL[]): Promise<Balancer> {
  // Idle connections are dropped after 4 s, before the BFF's own 5-s keep-alive timeout closes them:
  // a request sent on a connection the instance is closing that moment gets ECONNRESET, a race of
  // the balancer's and not a failure of the BFF (a real balancer keeps its idle timeout shorter too).
  const agent = new Agent({ keepAlive: true, maxSockets: 64, timeout: 4_000 })
  const sent = targets.map(() => 0)
  let turn = 0

  function forward(req: IncomingMessage, res: ServerResponse, body: Buffer, attempt: number): void {
    const index = turn++ % targets.length
    const target = targets[index]
    const headers = { ...req.headers, 'x-forwarded-for': req.socket.remoteAddress ?? '127.0.0.1' }
    const outgoing = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers, agent })
    outgoing.on('response', (answer) => {
      sent[index]++
      res.writeHead(answer.statusCode ?? 502, answer.rawHeaders)
      answer.pipe(res)
      // The instance stopped mid-body: the client must see a broken answer, never a complete-looking one.
      answer.on('aborted', () => res.destroy())
      answer.on('error', () => res.destroy())
    })
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      if (res.headersSent) return res.destroy()
      // Nothing reached the instance: safe to try the next one.
      if (error.code === 'ECONNREFUSED' && attempt + 1 < targets.length) return forward(req, res, body, attempt + 1)
      res.writeHead(502, { 'content-type': 'application/json', [BALANCER_HEADER]: error.code ?? 'error' })
      res.end(JSON.stringify({ error: 'balancer', message: error.message }))
    })
    outgoing.end(body)
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => forward(req, res, Buffer.concat(chunks), 0))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    sent,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
        agent.destroy()
      }),
  }
}
