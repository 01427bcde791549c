import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * An HTTP proxy for a browser that adds `Cross-Origin-Opener-Policy: same-origin` to every answer
 * from one host, as providers such as Cognito and Bluesky send on their sign-in pages. Unlike
 * Playwright's routing, it sees each hop of a redirect chain, so the browser gets the header on the
 * very pages a real provider sends it on.
 */
export async function startOpenerCuttingProxy(host: string): Promise<{ url: string; close: () => Promise<void> }> {
  const server: Server = createServer((incoming, answer) => {
    // A proxy receives the absolute URL in the request line.
    const target = new URL(incoming.url ?? '')
    const outgoing = request(target, { method: incoming.method, headers: incoming.headers }, (upstream) => {
      const headers = { ...upstream.headers }
      if (target.hostname === host) headers['cross-origin-opener-policy'] = 'same-origin'
      answer.writeHead(upstream.statusCode ?? 502, headers)
      upstream.pipe(answer)
    })
    outgoing.on('error', () => answer.writeHead(502).end())
    incoming.pipe(outgoing)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => {
      server.closeAllConnections()
      server.close(() => resolve())
    }),
  }
}
