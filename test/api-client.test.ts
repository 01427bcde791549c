import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { AllAccessError } from '../server/errors.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startEchoUpstream, type EchoUpstream } from './support/echo-upstream.ts'
import { cacheLapse } from './support/eventually.ts'
import { startRecordingServer } from './support/recording-server.ts'
import { signedIn } from './support/signed-in.ts'

/** What `account.apiClient.request` threw, for assertions on its contract code. */
const thrown = (call: Promise<unknown>) => call.then(() => null, (error: unknown) => error as AllAccessError)

describe.each(databases)('account.apiClient on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let upstream: EchoUpstream
  let tokens: Awaited<ReturnType<typeof startRecordingServer>>

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    upstream = await startEchoUpstream()
    tokens = await startRecordingServer(() => ({ status: 200, type: 'application/json', body: JSON.stringify({ access_token: 'token-fresh', token_type: 'Bearer', expires_in: 3600 }) }))
    bff = await startBff(created.url)
  })

  beforeEach(() => {
    upstream.received.length = 0
    tokens.received.length = 0
  })

  afterAll(async () => {
    await bff?.close()
    await tokens?.close()
    await upstream?.close()
    await drop?.()
  })

  /** A provider `name` whose API is the echo upstream and whose token endpoint the recording server, and an account there. */
  async function accountAt(name: string, accountTokens: Parameters<typeof signedIn>[2], options: Record<string, unknown> = {}) {
    await bff.addProvider(name, {
      authorizationUrl: 'https://idp.example/authorize',
      accessTokenUrl: `${tokens.url}/token`,
      profileUrl: 'https://idp.example/me',
      apiBaseUrl: `${upstream.url}/v1`,
      clientId: 'id',
      clientSecret: 'secret',
      ...options,
    })
    const { userId, accountId } = await signedIn(bff, name, accountTokens)
    const account = await bff.allAccess.accountFor(userId, name)
    if (!account) throw new Error(`no account at ${name}`)
    return { account, accountId }
  }

  it('refuses with unknown_provider, as the proxy does, a call for a provider disabled since the account was linked: nothing is sent, no refresh is tried, the account stays active', async () => {
    const { account, accountId } = await accountAt('disabled', { accessToken: 'token-disabled', refreshToken: 'refresh-disabled', expiresAt: Date.now() - 1000 })
    await bff.store.db('providers').where({ name: 'disabled' }).update({ client_secret: null })
    await cacheLapse()
    const error = await thrown(account.apiClient.request('get', `${upstream.url}/v1/me`))
    expect(error).toBeInstanceOf(AllAccessError)
    expect(error?.code).toBe('unknown_provider')
    expect(upstream.received).toHaveLength(0)
    expect(tokens.received).toHaveLength(0)
    expect((await bff.store.accounts.get(accountId))?.status).toBe('active')
  })
  it("sends a JSON body with the media type the caller names (JSON Merge Patch, JSON:API), else application/json", async () => {
    const { account } = await accountAt('json-types', { accessToken: 'token-json' })
    await account.apiClient.request('patch', `${upstream.url}/v1/repos/1`, { json: { name: 'renamed' }, headers: { 'Content-Type': 'application/merge-patch+json' } })
    await account.apiClient.request('post', `${upstream.url}/v1/articles`, { json: { data: { type: 'articles' } }, headers: { 'content-type': 'application/vnd.api+json' } })
    await account.apiClient.request('post', `${upstream.url}/v1/notes`, { json: { text: 'plain' } })
    expect(upstream.received.map((r) => [r.headers['content-type'], r.body])).toEqual([
      ['application/merge-patch+json', '{"name":"renamed"}'],
      ['application/vnd.api+json', '{"data":{"type":"articles"}}'],
      ['application/json', '{"text":"plain"}'],
    ])
  })
  it('adds its query parameters after the query the URL was written with, which goes as written', async () => {
    const { account } = await accountAt('query-as-written', { accessToken: 'token-query' })
    await account.apiClient.request('get', `${upstream.url}/v1/search?pretty&fields=id,name&q=a%20b`, { query: { page: 2, tag: ['x y', 'z'] } })
    await account.apiClient.request('get', `${upstream.url}/v1/search`, { query: new URLSearchParams([['q', 'ü+']]) })
    expect(upstream.received.map((r) => r.url)).toEqual(['/v1/search?pretty&fields=id,name&q=a%20b&page=2&tag=x+y&tag=z', '/v1/search?q=%C3%BC%2B'])
  })
})
