import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startBff, type TestBff } from './support/bff.ts'
import { BrowserSession } from './support/browser-session.ts'
import { databases } from './support/databases.ts'
import { startDocumentedProvider, type DocumentedProvider } from './support/documented-provider.ts'
import { authError, login, rowCounts, session } from './support/login.ts'
import { hashId } from '../server/crypto/random.ts'

/**
 * Logins that race something else the BFF does to the same user: the attacks a stolen session
 * cookie or a slow provider make possible.
 */
describe.each(databases)('logins racing session ends on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let first: DocumentedProvider
  let slow: DocumentedProvider
  /** Lets the slow provider's token endpoint answer. */
  let release: () => void = () => {}
  /** Resolves once the slow provider's token endpoint has been asked. */
  let tokenAsked: Promise<void> = Promise.resolve()
  let asked: () => void = () => {}

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    first = await startDocumentedProvider({ answers: { '/token': () => ({ body: { access_token: 'first-token', token_type: 'bearer' } }), '/me': () => ({ body: { id: 'alice' } }) } })
    slow = await startDocumentedProvider({
      answers: {
        '/token': async () => {
          asked()
          await new Promise<void>((resolve) => (release = resolve))
          return { body: { access_token: 'slow-token', token_type: 'bearer' } }
        },
        '/me': () => ({ body: { id: 'mallory' } }),
      },
    })
    bff = await startBff(created.url)
    for (const [name, provider] of [['first', first], ['slow', slow]] as const) {
      await bff.addProvider(name, { authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me`, clientId: 'client', clientSecret: 'secret' })
    }
  })

  afterAll(async () => {
    await bff?.close()
    await first?.close()
    await slow?.close()
    await drop?.()
  })

  it('a link whose session is revoked while the provider answers fails invalid_state: no session outlives the revocation, no identity is linked', async () => {
    // A stolen cookie's holder links their own identity; the user's sessions are revoked meanwhile.
    const browser = new BrowserSession()
    await login(browser, bff.url, 'first')
    const info = await session(browser, bff.url)
    if (!info.authenticated) throw new Error('not signed in')
    tokenAsked = new Promise<void>((resolve) => (asked = resolve))
    const linking = login(browser, bff.url, 'slow')
    await tokenAsked
    expect(await bff.store.sessions.removeForUser(Number(info.user.id))).toBe(1)
    const before = await rowCounts(bff.store.db)
    release()
    expect(authError(await linking)).toBe('invalid_state')
    expect(await rowCounts(bff.store.db)).toEqual(before)
    expect(await bff.store.db('sessions').where({ user_id: Number(info.user.id) })).toEqual([])
    expect(await session(browser, bff.url)).toEqual({ authenticated: false })
  })

  it('a link whose session reaches its end while the provider answers fails invalid_state: the ended session is not renewed by it', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'first')
    const info = await session(browser, bff.url)
    if (!info.authenticated) throw new Error('not signed in')
    const idHash = hashId(browser.cookie('allaccess_session')!.value)
    tokenAsked = new Promise<void>((resolve) => (asked = resolve))
    const linking = login(browser, bff.url, 'slow')
    await tokenAsked
    // As if left idle past its end while the user was at the provider: the row stays until clean-up.
    await bff.store.sessions.extend(idHash, Date.now() - 1)
    expect(await bff.store.sessions.find(idHash)).toBeNull()
    const before = await rowCounts(bff.store.db)
    release()
    expect(authError(await linking)).toBe('invalid_state')
    expect(await rowCounts(bff.store.db)).toEqual(before)
    expect(await session(browser, bff.url)).toEqual({ authenticated: false })
  })
})
