import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startLogin } from './support/login.ts'
import { startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'

// `error` lines are for the operator to act on (README, "Health, metrics and logs"): what any
// visitor can cause at will, with a made-up callback, is a refusal at `info`.
describe.each(databases)('the level of what a visitor can make the BFF log, on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let idp: RunningOidcSandbox

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url)
    idp = await startOidcSandbox({
      clients: [{ clientId: 'client-idp', clientSecret: 'secret-idp-0123456789', redirectUris: [`${bff.url}/auth/callback/idp`] }],
      autoApprove: 'alice',
    })
    await bff.addProvider('idp', { issuer: idp.issuer, apiBaseUrl: idp.apiBaseUrl, clientId: 'client-idp', clientSecret: 'secret-idp-0123456789', scope: 'openid profile' })
  })

  afterAll(async () => {
    await bff?.close()
    await idp?.close()
    await drop?.()
  })

  /** Runs the provider's side for real, lets `tweak` change the callback the browser brings back, and returns what that callback logged. */
  async function callbackWith(provider: string, tweak: (params: URLSearchParams) => void = () => {}) {
    const browser = new BrowserSession()
    const authorization = await startLogin(browser, bff.url, provider)
    const atCallback = await browser.navigate(authorization, { stopAt: (url) => url.pathname.startsWith('/auth/callback/') })
    const url = new URL(atCallback.url)
    tweak(url.searchParams)
    const [lines, errors] = [bff.logs.length, bff.errors.length]
    const response = await browser.fetch(url)
    const id = response.headers.get('x-request-id')
    return { location: response.headers.get('location'), lines: bff.logs.slice(lines).filter((line) => line.includes(`req=${id} `)), errors: bff.errors.slice(errors), id }
  }

  it("logs a callback whose iss is not the provider's, or lacks the iss it announces, as a refusal at info", async () => {
    for (const tweak of [(p: URLSearchParams) => p.set('iss', 'https://evil.example'), (p: URLSearchParams) => p.delete('iss')]) {
      const { location, lines, errors, id } = await callbackWith('idp', tweak)
      expect(location).toBe('/?auth_error=issuer_mismatch')
      expect(errors).toEqual([])
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^refused req=${id} issuer_mismatch: authorization response (iss differs|lacks iss)$`)))
    }
  })
})
