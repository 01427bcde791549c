import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'
import { hashId, randomToken } from '../server/crypto/random.ts'
import { SESSION_COOKIE } from '../server/session/cookies.ts'
import { migrate, openStore, type Store } from '../server/store/index.ts'
import { BrowserSession } from './support/browser-session.ts'
import { TEST_DATABASE_URL, databases } from './support/databases.ts'
import { freePort, startServe, type RunningServe } from './support/demo-server.ts'
import { within } from './support/eventually.ts'
import { startEchoUpstream } from './support/echo-upstream.ts'
import { session } from './support/login.ts'

const CSRF = { 'X-CSRF': '1' }
const SECOND = 1000
const postgres = databases.find((d) => d.kind === 'postgres')

/**
 * Instances answer recent reads from memory. The contract allows that only where every instance
 * sees a change within a second: two `serve` processes on one PostgreSQL, kept busy by other users'
 * API calls, must each honour what the other, or the command line, changed within that second.
 */
describe.skipIf(!TEST_DATABASE_URL)('what every instance sees within a second, under load', () => {
  let drop: () => Promise<void>
  let databaseUrl: string
  let store: Store
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>
  let a: RunningServe
  let b: RunningServe
  let stopLoad: () => Promise<number>
  const keys = generateKey()

  const cli = (...args: string[]) => {
    const run = spawnSync(process.execPath, [resolve('bin/all-access.js'), ...args], { env: { ...process.env, DATABASE_URL: databaseUrl, ALLACCESS_KEYS: keys }, encoding: 'utf8' })
    if (run.status !== 0) throw new Error(`all-access ${args.join(' ')} exited ${run.status}: ${run.stderr}`)
    return run.stdout
  }

  const api = (browser: BrowserSession, on: RunningServe) => browser.fetch(new URL('/api/idp/me', on.url), { headers: CSRF })

  /** A user with an account and a session, signed in on both instances, whose memory of them is warm. */
  async function userOnBoth(): Promise<{ browser: BrowserSession; userId: string }> {
    const provider = await store.providers.get('idp')
    const user = await store.users.create('Busy')
    await store.accounts.create({ providerId: provider!.id, identifier: randomToken(6), userId: user.id, displayName: null, accessToken: randomToken(), tokenSecret: null, refreshToken: null, idToken: null, expiresAt: null, scope: null })
    const id = randomToken()
    await store.sessions.create(hashId(id), { userId: user.id, createdAt: Date.now(), idleExpiresAt: Date.now() + 3_600_000, absoluteExpiresAt: Date.now() + 3_600_000 })
    const browser = new BrowserSession()
    browser.cookies.push({ name: SESSION_COOKIE, value: id, host: 'localhost', path: '/', attributes: '' })
    for (const instance of [a, b]) {
      expect((await session(browser, instance.url)).authenticated).toBe(true)
      expect((await api(browser, instance)).status).toBe(200)
    }
    return { browser, userId: String(user.id) }
  }

  /** Other users' calls on both instances, until stopped: the memory under test is always warm. */
  async function startLoad(): Promise<() => Promise<number>> {
    const users = await Promise.all([0, 1].map(async () => (await userOnBoth()).browser))
    let running = true
    let calls = 0
    const loops = users.flatMap((browser) =>
      [a, b].map(async (instance) => {
        while (running) {
          const response = await api(browser, instance)
          await response.arrayBuffer()
          calls++
        }
      }),
    )
    return async () => {
      running = false
      await Promise.all(loops)
      return calls
    }
  }

  beforeAll(async () => {
    const created = await postgres!.create()
    drop = created.drop
    databaseUrl = created.url
    store = openStore({ databaseUrl, keys: parseKeys(keys) })
    await migrate(store.db)
    const portA = await freePort()
    const publicUrl = `http://localhost:${portA}`
    upstream = await startEchoUpstream()
    await store.providers.add(buildProviderConfig('idp', { authorizationUrl: 'https://idp.example/authorize', accessTokenUrl: 'https://idp.example/token', profileUrl: 'https://idp.example/me', apiBaseUrl: `${upstream.url}/v1`, clientId: 'agree', clientSecret: 'agree-secret', scope: 'openid profile email' }))
    ;[a, b] = await Promise.all([startServe({ databaseUrl, keys, port: portA, env: { PUBLIC_URL: publicUrl } }), startServe({ databaseUrl, keys, env: { PUBLIC_URL: publicUrl } })])
    stopLoad = await startLoad()
  })

  afterAll(async () => {
    const calls = await stopLoad?.()
    expect(calls).toBeGreaterThan(50)
    await Promise.all([a?.stop(), b?.stop()])
    await upstream?.close()
    await store?.close()
    await drop?.()
  })

  it('ends on B, within a second, the sessions `sessions revoke --user` ends', async () => {
    const { browser, userId } = await userOnBoth()
    expect(cli('sessions', 'revoke', '--user', userId)).toMatch(/^ended [1-9]\d* sessions?\n$/)
    const answer = await within(SECOND, () => api(browser, b), (response) => response.status === 401)
    expect(answer.status).toBe(401)
    expect(await answer.json()).toEqual({ error: 'not_authenticated', message: expect.any(String) })
  })

  it('ends on B, within a second, a session logged out on A', async () => {
    const { browser } = await userOnBoth()
    const onB = new BrowserSession()
    onB.cookies.push(...browser.cookies.map((c) => ({ ...c })))
    expect((await browser.fetch(new URL('/auth/logout', a.url), { method: 'POST', headers: CSRF })).status).toBe(204)
    expect((await within(SECOND, () => api(onB, b), (response) => response.status === 401)).status).toBe(401)
  })

  it('stops proxying on B, within a second, for an account disconnected on A', async () => {
    const { browser } = await userOnBoth()
    expect((await browser.fetch(new URL('/auth/accounts/idp', a.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
    const answer = await within(SECOND, () => api(browser, b), (response) => response.status === 403)
    expect(await answer.json()).toEqual({ error: 'account_not_connected', message: expect.any(String) })
  })

  it('disconnects on B at once an account linked again on A: a write acts on the database, not on what B read a moment ago', async () => {
    const { browser, userId } = await userOnBoth()
    expect((await browser.fetch(new URL('/auth/accounts/idp', a.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
    // B reads, afresh (its memory of the account is older than the contract's second), that none is linked.
    await new Promise((resolve) => setTimeout(resolve, 1100))
    expect((await api(browser, b)).status).toBe(403)
    // The user links the provider again (on A), and disconnects it at once (on B).
    const provider = await store.providers.get('idp')
    await store.accounts.create({ providerId: provider!.id, identifier: randomToken(6), userId: Number(userId), displayName: null, accessToken: randomToken(), tokenSecret: null, refreshToken: null, idToken: null, expiresAt: null, scope: null })
    expect((await browser.fetch(new URL('/auth/accounts/idp', b.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
    expect(await store.accounts.findForUserNow(Number(userId), 'idp')).toBeNull()
  })

  it('answers reauth_required on B, within a second, for an account another instance marked so', async () => {
    const { browser, userId } = await userOnBoth()
    const account = await store.accounts.findForUser(Number(userId), 'idp')
    await store.accounts.setStatus(account!.id, 'reauth_required')
    const answer = await within(SECOND, () => api(browser, b), (response) => response.status === 401)
    expect(await answer.json()).toEqual({ error: 'reauth_required', message: expect.any(String) })
  })

  it('uses on B, within a second, a provider updated through the command line', async () => {
    const start = () => new BrowserSession().fetch(new URL('/auth/login/idp', b.url), { redirect: 'manual' })
    expect(new URL((await start()).headers.get('location')!).searchParams.get('scope')).toBe('openid profile email')
    cli('providers', 'update', 'idp', '--scope', 'openid email')
    const answer = await within(SECOND, start, (response) => new URL(response.headers.get('location')!).searchParams.get('scope') === 'openid email')
    expect(new URL(answer.headers.get('location')!).searchParams.get('scope')).toBe('openid email')
  })

  it('forgets on both, within a second, a provider removed through the command line', async () => {
    const { browser } = await userOnBoth()
    cli('providers', 'remove', 'idp')
    for (const instance of [a, b]) {
      const answer = await within(SECOND, () => api(browser, instance), (response) => response.status === 404)
      expect(await answer.json()).toEqual({ error: 'unknown_provider', message: expect.any(String) })
    }
  })
})
