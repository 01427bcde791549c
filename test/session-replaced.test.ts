import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SESSION_COOKIE } from '../server/session/cookies.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startDocumentedProvider, type DocumentedProvider } from './support/documented-provider.ts'
import { authError, login, session } from './support/login.ts'

const CSRF = { 'X-CSRF': '1' }

/**
 * A login made while signed in replaces the browser's session with one under a new id. Requests the
 * browser sent with the old id before the login's answer came (a poll, a logout clicked in another
 * tab) arrive after it: they are that same browser's, and must neither sign it out by accident nor
 * fail to sign it out when asked.
 */
describe.each(databases)('a request carrying the id a login just replaced, on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let provider: DocumentedProvider

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url)
    provider = await startDocumentedProvider({
      answers: {
        '/token': () => ({ body: { access_token: 'at', token_type: 'Bearer', expires_in: 3600 } }),
        '/me': () => ({ body: { id: 'alice' } }),
      },
    })
    await bff.addProvider('idp', { authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me`, apiBaseUrl: `${provider.url}/api`, clientId: 'client', clientSecret: 'secret' })
  })

  afterAll(async () => {
    await bff?.close()
    await provider?.close()
    await drop?.()
  })

  /** A browser signed in, then signed in again: the id it had first, now replaced. */
  async function signedInTwice(): Promise<{ browser: BrowserSession; replaced: string }> {
    const browser = new BrowserSession()
    expect(authError(await login(browser, bff.url, 'idp'))).toBeNull()
    const replaced = browser.cookie(SESSION_COOKIE)!.value
    expect(authError(await login(browser, bff.url, 'idp'))).toBeNull()
    expect(browser.cookie(SESSION_COOKIE)!.value).not.toBe(replaced)
    return { browser, replaced }
  }

  const sentWith = (id: string, path: string, method = 'GET') => fetch(new URL(path, bff.url), { method, headers: { ...CSRF, Cookie: `${SESSION_COOKIE}=${id}` } })

  it('ends the session that replaced it when the logout was sent with the old id: the user who clicked "sign out" is signed out', async () => {
    const { browser, replaced } = await signedInTwice()
    const answer = await sentWith(replaced, '/auth/logout', 'POST')
    expect(answer.status).toBe(204)
    expect(await session(browser, bff.url)).toEqual({ authenticated: false })
  })

  it("answers a session read sent with the old id as signed out, without clearing the cookie: the browser's new id may be in it already", async () => {
    const { browser, replaced } = await signedInTwice()
    const answer = await sentWith(replaced, '/auth/session')
    expect(await answer.json()).toEqual({ authenticated: false })
    expect(answer.headers.getSetCookie()).toEqual([])
    expect((await session(browser, bff.url)).authenticated).toBe(true)
  })

  it('still clears the cookie of a session that was logged out, not replaced', async () => {
    const browser = new BrowserSession()
    expect(authError(await login(browser, bff.url, 'idp'))).toBeNull()
    const id = browser.cookie(SESSION_COOKIE)!.value
    expect((await sentWith(id, '/auth/logout', 'POST')).status).toBe(204)
    const answer = await sentWith(id, '/auth/session')
    expect(answer.headers.getSetCookie()).toEqual([expect.stringMatching(new RegExp(`^${SESSION_COOKIE}=;`))])
  })
})
