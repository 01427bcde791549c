import { readFileSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startDocumentedProvider, type DocumentedProvider } from './support/documented-provider.ts'
import { login, session, startLogin } from './support/login.ts'
import { startOAuth1Provider, type RunningOAuth1Provider } from './support/oauth1-sandbox.ts'
import { startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'

const CSRF = { 'X-CSRF': '1' }
const consumer = { key: 'consumer-key', secret: 'consumer-secret-abcdefghijklmnop' }

// `error` lines are for the operator to act on (README, "Health, metrics and logs"): what any
// visitor can cause at will, with a made-up callback, is a refusal at `info`.
describe.each(databases)('the level of what a visitor can make the BFF log, on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let idp: RunningOidcSandbox
  let oauth1: RunningOAuth1Provider
  let github: DocumentedProvider
  let noPkce: DocumentedProvider

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url)
    idp = await startOidcSandbox({
      clients: [{ clientId: 'client-idp', clientSecret: 'secret-idp-0123456789', redirectUris: [`${bff.url}/auth/callback/idp`, `${bff.url}/auth/callback/wrong-secret`] }],
      autoApprove: 'alice',
    })
    await bff.addProvider('idp', { issuer: idp.issuer, apiBaseUrl: idp.apiBaseUrl, clientId: 'client-idp', clientSecret: 'secret-idp-0123456789', scope: 'openid profile' })
    await bff.addProvider('wrong-secret', { issuer: idp.issuer, clientId: 'client-idp', clientSecret: 'not-the-secret-0123456789', scope: 'openid' })
    oauth1 = await startOAuth1Provider({ consumers: [consumer], autoApprove: 'alice' })
    const { requestTokenUrl, authorizationUrl, accessTokenUrl, profileUrl } = oauth1
    await bff.addProvider('twitter', { requestTokenUrl, authorizationUrl, accessTokenUrl, profileUrl, identifierPath: 'id_str', clientId: consumer.key, clientSecret: consumer.secret })
    // GitHub answers a code it does not know with a 200 that names its own error (its OAuth apps' documentation, "Bad verification code").
    github = await startDocumentedProvider({ answers: { '/token': () => ({ body: { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' } }) } })
    await bff.addProvider('github', { authorizationUrl: `${github.url}/authorize`, accessTokenUrl: `${github.url}/token`, profileUrl: `${github.url}/user`, clientId: 'gh', clientSecret: 'gh-secret' })
    // An OpenID provider without PKCE, whose ID token carries the nonce of the last authorization it approved.
    noPkce = await startDocumentedProvider({ discovery: {}, answers: { '/token': async (_request, p) => ({ body: { access_token: 'at', token_type: 'Bearer', id_token: await p.idToken({ sub: 'alice' }) } }) } })
    await bff.addProvider('no-pkce', { issuer: noPkce.url, clientId: 'np', clientSecret: 'np-secret', pkce: false })
  })

  afterAll(async () => {
    await bff?.close()
    await idp?.close()
    await oauth1?.close()
    await github?.close()
    await noPkce?.close()
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

  it('logs a made-up code the provider refuses (invalid_grant) as a refusal at info, not as an error', async () => {
    const { location, lines, errors, id } = await callbackWith('idp', (p) => p.set('code', 'made-up-code'))
    expect(location).toBe('/?auth_error=token_request_failed')
    expect(errors).toEqual([])
    expect(lines).toContain(`refused req=${id} token_request_failed: token endpoint answered 400 invalid_grant`)
  })

  it("logs a code GitHub refuses in its own words (bad_verification_code) as a refusal at info", async () => {
    const { location, lines, errors, id } = await callbackWith('github')
    expect(location).toBe('/?auth_error=token_request_failed')
    expect(errors).toEqual([])
    expect(lines).toContain(`refused req=${id} token_request_failed: token endpoint answered 200 bad_verification_code`)
  })

  it("logs a callback whose iss is not the provider's, or lacks the iss it announces, as a refusal at info", async () => {
    for (const tweak of [(p: URLSearchParams) => p.set('iss', 'https://evil.example'), (p: URLSearchParams) => p.delete('iss')]) {
      const { location, lines, errors, id } = await callbackWith('idp', tweak)
      expect(location).toBe('/?auth_error=issuer_mismatch')
      expect(errors).toEqual([])
      expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^refused req=${id} issuer_mismatch: authorization response (iss differs|lacks iss)$`)))
    }
  })

  it("logs a code brought from another login where PKCE is off (the ID token's nonce is that login's) as a refusal at info", async () => {
    // A visitor's login reaches the provider, then another user's: the visitor brings the other's code
    // (stolen) into their own callback, and the provider answers with the ID token of the other's login.
    const visitor = new BrowserSession()
    const atVisitorsCallback = await visitor.navigate(await startLogin(visitor, bff.url, 'no-pkce'), { stopAt: (url) => url.pathname.startsWith('/auth/callback/') })
    const other = new BrowserSession()
    await other.navigate(await startLogin(other, bff.url, 'no-pkce'), { stopAt: (url) => url.pathname.startsWith('/auth/callback/') })
    const errors = bff.errors.length
    const response = await visitor.fetch(new URL(atVisitorsCallback.url))
    expect(response.headers.get('location')).toBe('/?auth_error=id_token_invalid')
    expect(bff.errors.slice(errors)).toEqual([])
    expect(bff.logs).toContain(`refused req=${response.headers.get('x-request-id')} id_token_invalid: id_token nonce differs`)
  })

  it('logs a made-up OAuth 1.0a verifier the provider refuses as a refusal at info', async () => {
    const { location, lines, errors, id } = await callbackWith('twitter', (p) => p.set('oauth_verifier', 'made-up'))
    expect(location).toBe('/?auth_error=token_request_failed')
    expect(errors).toEqual([])
    expect(lines).toContain(`refused req=${id} token_request_failed: access token answered 401`)
  })

  it('logs a refresh the provider refuses because the user revoked the app as information: the account needs a new login, the operator nothing', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const info = await session(browser, bff.url)
    if (!info.authenticated) throw new Error('not signed in')
    await idp.revokeGrantsFor('alice')
    const errors = bff.errors.length
    const response = await browser.fetch(new URL('/api/idp/me', bff.url), { headers: CSRF })
    expect(response.status).toBe(401)
    expect(await response.json()).toMatchObject({ error: 'reauth_required' })
    expect(bff.errors.slice(errors)).toEqual([])
    expect(bff.logs).toContain(`refused req=${response.headers.get('x-request-id')} reauth_required: token endpoint answered 400 invalid_grant`)
  })

  it("logs a replayed callback as a failed login at info, in the form the README tells operators to expect", async () => {
    const browser = new BrowserSession()
    const atCallback = await browser.navigate(await startLogin(browser, bff.url, 'idp'), { stopAt: (url) => url.pathname.startsWith('/auth/callback/') })
    const callback = new URL(atCallback.url)
    expect((await browser.fetch(callback)).headers.get('location')).toBe('/')
    const errors = bff.errors.length
    const replay = await browser.fetch(callback)
    const id = replay.headers.get('x-request-id')
    expect(replay.headers.get('location')).toBe('/?auth_error=invalid_state')
    expect(bff.errors.slice(errors)).toEqual([])
    expect(bff.logs.filter((line) => line.includes(`req=${id} `))).toEqual([`login failed req=${id} invalid_state`])
    // An operator reading "Health, metrics and logs" for the refusals' lines must find this one there.
    expect(readFileSync('README.md', 'utf8').replace(/\n\s*/g, ' ')).toContain('`login failed req=… <code>`')
  })

  it('still logs at error what the operator must mend: a token endpoint refusing the client itself (a wrong client secret)', async () => {
    const { location, errors, id } = await callbackWith('wrong-secret')
    expect(location).toBe('/?auth_error=token_request_failed')
    expect(errors).toEqual([`error req=${id} token_request_failed: token endpoint answered 401 invalid_client`])
  })
})
