import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseKeys, generateKey } from '../server/crypto/keys.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'
import { migrate, openStore, type Store } from '../server/store/index.ts'
import { startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'
import { cacheLapse, within } from './support/eventually.ts'
import { BrowserSession } from './support/browser-session.ts'
import { TEST_DATABASE_URL, databases } from './support/databases.ts'
import { freePort, startServe, type RunningServe } from './support/demo-server.ts'
import { login, session } from './support/login.ts'

const CSRF = { 'X-CSRF': '1' }
const postgres = databases.find((d) => d.kind === 'postgres')

/**
 * Two `all-access serve` processes on one PostgreSQL, as behind a load balancer: same keys, same
 * PUBLIC_URL. Browsers keep cookies per host name, so one browser session talks to both.
 */
describe.skipIf(!TEST_DATABASE_URL)('several BFF instances on one PostgreSQL', () => {
  let drop: () => Promise<void>
  let databaseUrl: string
  let store: Store
  let idp: RunningOidcSandbox
  let a: RunningServe
  let b: RunningServe
  const keys = generateKey()
  const leaseMs = 3000

  async function instance(port: number, publicUrl: string) {
    return startServe({ databaseUrl, keys, port, env: { PUBLIC_URL: publicUrl, ALLACCESS_REFRESH_LEASE_MS: String(leaseMs) } })
  }

  async function accountOf(browser: BrowserSession) {
    const info = await session(browser, a.url)
    if (!info.authenticated) throw new Error('not signed in')
    return (await store.accounts.findForUser(Number(info.user.id), 'idp'))!
  }

  beforeAll(async () => {
    const created = await postgres!.create()
    drop = created.drop
    databaseUrl = created.url
    store = openStore({ databaseUrl, keys: parseKeys(keys) })
    await migrate(store.db)
    const portA = await freePort()
    const publicUrl = `http://localhost:${portA}`
    idp = await startOidcSandbox({ clients: [{ clientId: 'multi', clientSecret: 'multi-secret-0123456789', redirectUris: [`${publicUrl}/auth/callback/idp`] }], autoApprove: 'alice' })
    await store.providers.add(buildProviderConfig('idp', { issuer: idp.issuer, apiBaseUrl: idp.apiBaseUrl, clientId: 'multi', clientSecret: 'multi-secret-0123456789', scope: 'openid profile email' }))
    ;[a, b] = await Promise.all([instance(portA, publicUrl), instance(await freePort(), publicUrl)])
  })

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await idp?.close()
    await store?.close()
    await drop?.()
  })

  it('honours on instance B a session made on instance A', async () => {
    const browser = new BrowserSession()
    await login(browser, a.url, 'idp')
    const onB = await session(browser, b.url)
    expect(onB.authenticated && onB.accounts.map((x) => x.identifier)).toEqual(['alice'])
    const api = await browser.fetch(new URL('/api/idp/me', b.url), { headers: CSRF })
    expect(api.status).toBe(200)
  })

  it('ends on B a session logged out on A', async () => {
    const browser = new BrowserSession()
    await login(browser, a.url, 'idp')
    const replay = new BrowserSession()
    replay.cookies.push(...browser.cookies.map((c) => ({ ...c })))
    expect((await browser.fetch(new URL('/auth/logout', a.url), { method: 'POST', headers: CSRF })).status).toBe(204)
    // B may answer from memory for a moment, never past the contract's second.
    expect(await within(1000, () => session(replay, b.url), (info) => !info.authenticated)).toEqual({ authenticated: false })
  })

  it('shows on A an account disconnected on B', async () => {
    const browser = new BrowserSession()
    await login(browser, a.url, 'idp')
    expect((await browser.fetch(new URL('/auth/accounts/idp', b.url), { method: 'DELETE', headers: CSRF })).status).toBe(204)
    const onA = await within(1000, () => session(browser, a.url), (info) => info.authenticated && info.accounts.length === 0)
    expect(onA.authenticated && onA.accounts).toEqual([])
  })

  it('refreshes an expired token once for 20 concurrent calls split across A and B', async () => {
    const browser = new BrowserSession()
    await login(browser, a.url, 'idp')
    const account = await accountOf(browser)
    await store.db('accounts').where({ id: account.id }).update({ expires_at: Date.now() - 1000 })
    await cacheLapse()
    const before = { grants: idp.stats.refreshGrants, failures: idp.stats.refreshFailures }
    const responses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => browser.fetch(new URL('/api/idp/me', i % 2 ? b.url : a.url), { headers: CSRF })),
    )
    expect(responses.map((r) => r.status)).toEqual(Array(20).fill(200))
    expect(idp.stats.refreshGrants - before.grants).toBe(1)
    expect(idp.stats.refreshFailures - before.failures).toBe(0)
    const after = await store.accounts.get(account.id)
    expect(after?.refreshToken).not.toBe(account.refreshToken)
    expect(after?.status).toBe('active')
  })

  it('recovers on B, within the lease, when A dies in the middle of a refresh', async () => {
    const browser = new BrowserSession()
    await login(browser, a.url, 'idp')
    const account = await accountOf(browser)
    await store.db('accounts').where({ id: account.id }).update({ expires_at: Date.now() - 1000 })
    await cacheLapse()
    idp.stallTokenRequests(60_000)
    const stuck = browser.fetch(new URL('/api/idp/me', a.url), { headers: CSRF }).catch(() => null)
    // Wait until A holds the lease and is waiting on the provider, then kill it without warning.
    for (let i = 0; i < 100; i++) {
      const row = await store.db('accounts').where({ id: account.id }).first('refresh_lease_owner')
      if (row.refresh_lease_owner) break
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    const lease = await store.db('accounts').where({ id: account.id }).first('refresh_lease_owner', 'refresh_lease_until')
    expect(lease.refresh_lease_owner).toBeTruthy()
    // A's lease is the configured one (3 s), not the default 15 s: what B waits out before it refreshes.
    expect(Number(lease.refresh_lease_until)).toBeLessThanOrEqual(Date.now() + leaseMs)
    await a.stop('SIGKILL')
    await stuck
    // The request A was making never reached the token endpoint's handler: it was dropped with A.
    await new Promise((resolve) => setTimeout(resolve, 100))
    idp.stallTokenRequests(0)
    const grantsBefore = idp.stats.refreshGrants
    // Answered at all: B waited out A's lease, not the 60 s the provider held A's call (a test times out at 30 s).
    const response = await browser.fetch(new URL('/api/idp/me', b.url), { headers: CSRF })
    expect(response.status).toBe(200)
    expect(idp.stats.refreshGrants - grantsBefore).toBe(1)
    const row = await store.db('accounts').where({ id: account.id }).first('refresh_lease_owner', 'status')
    expect(row).toEqual({ refresh_lease_owner: null, status: 'active' })
  })
})
