import { Agent, request } from 'node:http'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BrowserSession } from './support/browser-session.ts'
import { startServe, type RunningServe } from './support/demo-server.ts'
import { sandboxLogin } from './support/sandbox-login.ts'

/** The proxy's limit here: bodies up to 256 KiB are held whole, larger ones stream through. */
const MAX_BODY = 1024 * 1024

/**
 * An upload as curl sends one over 1 MiB: `Expect: 100-continue`, and the body only once the server
 * says `100 Continue`. What happened, in order: `continue` when the server asked for the body, then
 * the final status.
 */
function uploadWaitingForContinue(url: URL, headers: Record<string, string>, body: Buffer, method = 'PUT'): Promise<(string | number | undefined)[]> {
  return new Promise((resolve, reject) => {
    const events: (string | number | undefined)[] = []
    const req = request(url, { method, agent: new Agent({ keepAlive: true }), headers: { 'Content-Type': 'application/octet-stream', ...headers, Expect: '100-continue', 'Content-Length': String(body.length) } }, (res) => {
      events.push(res.statusCode ?? 0, res.headers.connection)
      res.resume().on('end', () => resolve(events))
    })
    req.on('continue', () => {
      events.push('continue')
      req.end(body)
    })
    req.on('error', reject)
    // Sends the headers alone: the body waits for `continue`.
    req.flushHeaders()
  })
}

describe('all-access serve: an upload that waits for 100 Continue', () => {
  let bff: RunningServe
  let cookie: string

  beforeAll(async () => {
    bff = await startServe({ sandbox: true, env: { ALLACCESS_PROXY_MAX_BODY: String(MAX_BODY) } })
    const browser = new BrowserSession()
    await sandboxLogin(browser, bff.url, 'sandbox-oidc')
    cookie = browser.cookieHeader(new URL(bff.url))
  })

  afterAll(() => bff?.stop())

  it.each([
    ['held whole', 1000],
    ['streamed', 300 * 1024],
  ])('is asked for its body when the proxy will forward it (%s), and gets the provider answer', async (_, size) => {
    const events = await uploadWaitingForContinue(new URL('/api/sandbox-oidc/echo', bff.url), { Cookie: cookie, 'X-CSRF': '1' }, Buffer.alloc(size, 'a'))
    expect(events).toEqual(['continue', 200, 'keep-alive'])
  })

  // The BFF's other body, a form: with 100 Continue held back, it would wait for it for good.
  it('is asked for a back-channel logout form when the route reads it', async () => {
    const events = await uploadWaitingForContinue(new URL('/auth/backchannel-logout/sandbox-oidc', bff.url), { 'Content-Type': 'application/x-www-form-urlencoded' }, Buffer.from('logout_token=not-a-token'), 'POST')
    expect(events).toEqual(['continue', 400, 'keep-alive'])
  })

  // Node answers 100 Continue itself before any handler runs: the client sent its whole body, to
  // be refused once it had arrived. Refused without it, the connection closes: no body follows.
  it.each([
    ['not signed in', () => ({ 'X-CSRF': '1' }), '/api/sandbox-oidc/echo', 1000, 401],
    ['without X-CSRF', () => ({ Cookie: cookie }), '/api/sandbox-oidc/echo', 1000, 403],
    ['from another origin', () => ({ Cookie: cookie, 'X-CSRF': '1', Origin: 'https://elsewhere.example' }), '/api/sandbox-oidc/echo', 1000, 403],
    ['for an unknown provider', () => ({ Cookie: cookie, 'X-CSRF': '1' }), '/api/nobody/echo', 1000, 404],
    ['larger than the proxy takes', () => ({ Cookie: cookie, 'X-CSRF': '1' }), '/api/sandbox-oidc/echo', MAX_BODY + 1, 413],
  ] as const)('is refused %s without being asked for its body', async (_, headers, path, size, status) => {
    const events = await uploadWaitingForContinue(new URL(path, bff.url), headers(), Buffer.alloc(size, 'a'))
    expect(events).toEqual([status, 'close'])
  })
})
