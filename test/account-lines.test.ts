import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AllAccessHooks } from '../server/hooks.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startEchoUpstream } from './support/echo-upstream.ts'
import { login, session } from './support/login.ts'
import { startOAuth1Provider, type RunningOAuth1Provider } from './support/oauth1-sandbox.ts'
import { startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'
import { signedIn } from './support/signed-in.ts'

const CSRF = { 'X-CSRF': '1' }
const consumer = { key: 'consumer-key', secret: 'consumer-secret-abcdefghijklmnop' }

// An operator reading `GET /api/… 401 … req=X` finds why by its id: each line about an account that a
// request's call led to names that request, as its other lines do.
describe.each(databases)('the lines about an account name the request its call was made for, on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let idp: RunningOidcSandbox
  let oauth1: RunningOAuth1Provider
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>
  /** What each call of the onLogin hook through account.apiClient ended with. */
  const hookCalls: string[] = []

  // A hook calling an API that refuses the token it was just given: the account needs a new login at once.
  const onLogin: AllAccessHooks['onLogin'] = async ({ provider, account }) => {
    if (provider.name !== 'twitter') return
    const outcome = await account.apiClient.request('get', `${upstream.url}/oauth1-token-rejected`).then(
      (answer) => String(answer.status),
      (error: Error & { code?: string }) => error.code ?? error.message,
    )
    hookCalls.push(outcome)
  }

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    upstream = await startEchoUpstream()
    bff = await startBff(created.url, { hooks: { onLogin } })
    idp = await startOidcSandbox({ clients: [{ clientId: 'client-idp', clientSecret: 'secret-idp-0123456789', redirectUris: [`${bff.url}/auth/callback/idp`] }], autoApprove: 'alice' })
    await bff.addProvider('idp', { issuer: idp.issuer, apiBaseUrl: idp.apiBaseUrl, clientId: 'client-idp', clientSecret: 'secret-idp-0123456789', scope: 'openid profile' })
    oauth1 = await startOAuth1Provider({ consumers: [consumer], autoApprove: 'alice' })
    const { requestTokenUrl, authorizationUrl, accessTokenUrl, profileUrl } = oauth1
    await bff.addProvider('twitter', { requestTokenUrl, authorizationUrl, accessTokenUrl, profileUrl, identifierPath: 'id_str', clientId: consumer.key, clientSecret: consumer.secret })
    // OAuth 2.0 without refresh tokens: a token the API refuses cannot be renewed.
    await bff.addProvider('echo', { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', apiBaseUrl: `${upstream.url}/v1`, clientId: 'id', clientSecret: 'secret' })
  })

  afterAll(async () => {
    await bff?.close()
    await idp?.close()
    await oauth1?.close()
    await upstream?.close()
    await drop?.()
  })

  it('names the proxied call whose token the provider rejects and that cannot be refreshed', async () => {
    const { browser, accountId } = await signedIn(bff, 'echo', { accessToken: 'token-rejected-1' })
    upstream.rejected.add('token-rejected-1')
    const response = await browser.fetch(new URL('/api/echo/me', bff.url), { headers: CSRF })
    expect(response.status).toBe(401)
    const id = response.headers.get('x-request-id')
    expect(bff.logs).toContain(`account ${accountId} needs a new login req=${id}: provider rejected the token and it cannot be refreshed`)
  })

  it('names the proxied call whose refresh the provider refuses (the user revoked the app)', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const info = await session(browser, bff.url)
    if (!info.authenticated) throw new Error('not signed in')
    const account = await bff.store.accounts.findForUser(Number(info.user.id), 'idp')
    await idp.revokeGrantsFor('alice')
    const response = await browser.fetch(new URL('/api/idp/me', bff.url), { headers: CSRF })
    expect(response.status).toBe(401)
    const id = response.headers.get('x-request-id')
    expect(bff.logs).toContain(`account ${account!.id} needs a new login req=${id}: refresh refused (token endpoint answered 400 invalid_grant)`)
  })

  it("names the login whose onLogin hook called with account.apiClient", async () => {
    const before = bff.logs.length
    const browser = new BrowserSession()
    await login(browser, bff.url, 'twitter')
    expect(hookCalls.at(-1)).toBe('reauth_required')
    const lines = bff.logs.slice(before)
    const callback = lines.find((line) => line.startsWith('GET /auth/callback/twitter 302 '))
    const id = /req=(\S+)$/.exec(callback ?? '')?.[1]
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^account \\d+ needs a new login req=${id}: provider rejected the token and it cannot be refreshed$`)))
  })

  it('names no request for a call of host code outside any (allAccess.accountFor)', async () => {
    const { accountId, userId } = await signedIn(bff, 'echo', { accessToken: 'token-rejected-2' })
    upstream.rejected.add('token-rejected-2')
    const account = await bff.allAccess.accountFor(userId, 'echo')
    await expect(account!.apiClient.request('get', `${upstream.url}/v1/me`)).rejects.toMatchObject({ code: 'reauth_required' })
    expect(bff.logs).toContain(`account ${accountId} needs a new login: provider rejected the token and it cannot be refreshed`)
  })
})
