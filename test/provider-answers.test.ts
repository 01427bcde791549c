import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { keySet, discover, forgetDiscovery } from '../server/clients/oidc-discovery.ts'
import { parseAnswerBody } from '../server/clients/provider-http.ts'
import { AllAccessError } from '../server/errors.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { authError, rowCounts, startLogin } from './support/login.ts'
import { startRecordingServer } from './support/recording-server.ts'

const FIVE_MB = 5 * 1024 * 1024
/** Bodies shaped to defeat a backtracking parser: a form that never ends, `=` alone, and a form broken at its very end. */
const HOSTILE = {
  'a=1& repeated': 'a=1&'.repeat(FIVE_MB / 4),
  '= repeated': '='.repeat(FIVE_MB),
  'a=1& repeated, then a space': 'a=1&'.repeat(FIVE_MB / 4 - 1) + 'a=1 ',
}

describe('parseAnswerBody on hostile provider answers', () => {
  // A quadratic parser takes minutes on these (1 MiB, the cap): the test's own time limit catches it.
  it.each(Object.entries(HOSTILE))('reads 1 MiB of %s in one pass', (_name, body) => {
    const capped = body.slice(0, 1024 * 1024)
    const parsed = parseAnswerBody(capped, null)
    if (capped.includes(' ')) expect(parsed).toBe(capped)
    else expect(typeof parsed).toBe('object')
  })

  it('parses by content type, and by shape when the type is missing or wrong', () => {
    expect(parseAnswerBody('{"a":1}', 'application/json; charset=utf-8')).toEqual({ a: 1 })
    expect(parseAnswerBody('{"a":1}', 'text/javascript')).toEqual({ a: 1 })
    expect(parseAnswerBody('oauth_token=t&oauth_token_secret=s', 'text/html')).toEqual({ oauth_token: 't', oauth_token_secret: 's' })
    expect(parseAnswerBody('access_token=t&scope=a%20b', 'application/x-www-form-urlencoded')).toEqual({ access_token: 't', scope: 'a b' })
    expect(parseAnswerBody('<html>a=b</html>', 'text/html')).toBe('<html>a=b</html>')
    expect(parseAnswerBody('not json {', 'application/json')).toBe('not json {')
  })
})

describe.each(databases)('provider answers over the cap on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let provider: Awaited<ReturnType<typeof startRecordingServer>>
  let big: Record<string, string>
  /** The id `/me-unpaired` answers with, as JSON text: one provider, whichever of two identities signs in. */
  let unpairedId = '"u-\\ufffd"'

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url, { apiClient: { maxBody: 64 * 1024 } })
    big = { token: HOSTILE['a=1& repeated'], profile: HOSTILE['= repeated'], api: 'x'.repeat(100 * 1024) }
    provider = await startRecordingServer((request) => {
      const path = new URL(request.url, 'http://x').pathname
      if (path === '/token-big') return { status: 200, body: big.token, type: 'application/x-www-form-urlencoded' }
      if (path === '/token') return { status: 200, body: JSON.stringify({ access_token: 'at', token_type: 'Bearer' }), type: 'application/json' }
      if (path === '/me-big') return { status: 200, body: big.profile, type: 'application/json' }
      // Well-formed answers over the cap: refused for their size alone, not because they fail to parse.
      if (path === '/token-big-json') return { status: 200, body: JSON.stringify({ access_token: 'at', token_type: 'Bearer', padding: 'x'.repeat(FIVE_MB) }), type: 'application/json' }
      if (path === '/me-big-json') return { status: 200, body: JSON.stringify({ id: 'u-big', padding: 'x'.repeat(FIVE_MB) }), type: 'application/json' }
      if (path === '/me-256') return { status: 200, body: JSON.stringify({ id: 'i'.repeat(256) }), type: 'application/json' }
      if (path === '/me-255') return { status: 200, body: JSON.stringify({ id: 'i'.repeat(255) }), type: 'application/json' }
      // Two identities whose ids JSON.parse rounds to the same number, 2^53.
      if (path === '/me-2^53+1') return { status: 200, body: '{"id": 9007199254740993}', type: 'application/json' }
      if (path === '/me-2^53') return { status: 200, body: '{"id": 9007199254740992}', type: 'application/json' }
      // RFC 8259 §8.1 lets a parser ignore a byte order mark, and fetch's json() does: some .NET servers send one.
      if (path === '/token-bom') return { status: 200, body: '\uFEFF' + JSON.stringify({ access_token: 'at', token_type: 'Bearer' }), type: 'application/json; charset=utf-8' }
      if (path === '/me-bom') return { status: 200, body: '\uFEFF' + JSON.stringify({ id: 'u-bom' }), type: 'application/json; charset=utf-8' }
      // U+0000, which PostgreSQL's text refuses: in a name, an identifier, a scope.
      if (path === '/token-nul-scope') return { status: 200, body: JSON.stringify({ access_token: 'at', token_type: 'Bearer', scope: 'read\u0000write' }), type: 'application/json' }
      if (path === '/me-nul-name') return { status: 200, body: JSON.stringify({ id: 'u-nul-name', name: 'Ann\u0000 Lee' }), type: 'application/json' }
      if (path === '/me-nul-id') return { status: 200, body: JSON.stringify({ id: 'u\u0000nul' }), type: 'application/json' }
      if (path === '/me-unpaired') return { status: 200, body: `{"id": ${unpairedId}}`, type: 'application/json' }
      if (path === '/me-nul-scope') return { status: 200, body: JSON.stringify({ id: 'u-nul-scope' }), type: 'application/json' }
      if (path === '/me') return { status: 200, body: JSON.stringify({ id: 'u1' }), type: 'application/json' }
      if (path === '/api/big') return { status: 200, body: big.api, type: 'text/plain' }
      if (path === '/api/small') return { status: 200, body: '{"ok":true}', type: 'application/json' }
      if (path.startsWith('/issuer-big')) return { status: 200, body: '{"a":"' + 'x'.repeat(FIVE_MB) + '"}', type: 'application/json' }
      if (path === '/jwks-big') return { status: 200, body: '{"keys":[' + '{},'.repeat(FIVE_MB / 3) + '{}]}', type: 'application/json' }
      return { status: 404 }
    })
    const urls = { authorizationUrl: `${provider.url}/authorize`, apiBaseUrl: `${provider.url}/api`, clientId: 'c', clientSecret: 's' }
    await bff.addProvider('big-token', { ...urls, accessTokenUrl: `${provider.url}/token-big`, profileUrl: `${provider.url}/me` })
    await bff.addProvider('big-profile', { ...urls, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me-big` })
    await bff.addProvider('big-json-token', { ...urls, accessTokenUrl: `${provider.url}/token-big-json`, profileUrl: `${provider.url}/me` })
    await bff.addProvider('big-json-profile', { ...urls, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me-big-json` })
    await bff.addProvider('id-256', { ...urls, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me-256` })
    await bff.addProvider('id-255', { ...urls, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me-255` })
    await bff.addProvider('id-2-53-plus-1', { ...urls, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me-2^53+1` })
    await bff.addProvider('id-2-53', { ...urls, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me-2^53` })
    await bff.addProvider('bom', { ...urls, accessTokenUrl: `${provider.url}/token-bom`, profileUrl: `${provider.url}/me-bom` })
    await bff.addProvider('nul-name', { ...urls, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me-nul-name` })
    await bff.addProvider('nul-id', { ...urls, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me-nul-id` })
    await bff.addProvider('nul-scope', { ...urls, accessTokenUrl: `${provider.url}/token-nul-scope`, profileUrl: `${provider.url}/me-nul-scope` })
    await bff.addProvider('unpaired', { ...urls, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me-unpaired` })
    await bff.addProvider('fine', { ...urls, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me` })
  })

  afterAll(async () => {
    await bff?.close()
    await provider?.close()
    await drop?.()
  })

  async function callback(name: string): Promise<URL> {
    const browser = new BrowserSession()
    const authorize = await startLogin(browser, bff.url, name)
    const back = new URL(`/auth/callback/${name}`, bff.url)
    back.searchParams.set('code', 'code-1')
    back.searchParams.set('state', authorize.searchParams.get('state')!)
    const response = await browser.fetch(back, {}, { navigation: true, crossSite: true })
    return new URL(response.headers.get('location')!, bff.url)
  }

  it('refuses a 5 MB token answer with token_request_failed, and writes nothing', async () => {
    const before = await rowCounts(bff.store.db)
    expect(authError(await callback('big-token'))).toBe('token_request_failed')
    expect(authError(await callback('big-json-token'))).toBe('token_request_failed')
    expect(await rowCounts(bff.store.db)).toEqual(before)
  })

  it('refuses a 5 MB profile answer with profile_request_failed, and writes nothing', async () => {
    const before = await rowCounts(bff.store.db)
    expect(authError(await callback('big-profile'))).toBe('profile_request_failed')
    expect(authError(await callback('big-json-profile'))).toBe('profile_request_failed')
    expect(await rowCounts(bff.store.db)).toEqual(before)
  })

  it('refuses an identifier over 255 characters with missing_identifier instead of cutting it, and takes one of 255', async () => {
    const before = await rowCounts(bff.store.db)
    expect(authError(await callback('id-256'))).toBe('missing_identifier')
    expect(await rowCounts(bff.store.db)).toEqual(before)
    expect(authError(await callback('id-255'))).toBeNull()
    expect(Number((await bff.store.db('accounts').where({ identifier: 'i'.repeat(255) }).count({ n: '*' }).first())?.n)).toBe(1)
  })

  it('refuses a numeric identifier past 2^53 with missing_identifier: JSON.parse rounds it onto another identity', async () => {
    const before = await rowCounts(bff.store.db)
    expect(authError(await callback('id-2-53-plus-1'))).toBe('missing_identifier')
    expect(authError(await callback('id-2-53'))).toBe('missing_identifier')
    expect(await rowCounts(bff.store.db)).toEqual(before)
  })

  it('reads token and profile answers that begin with a byte order mark', async () => {
    expect(authError(await callback('bom'))).toBeNull()
    expect(Number((await bff.store.db('accounts').where({ identifier: 'u-bom' }).count({ n: '*' }).first())?.n)).toBe(1)
  })

  it('signs in on both databases when a name or scope holds U+0000, which PostgreSQL refuses: the name without it, no scope', async () => {
    expect(authError(await callback('nul-name'))).toBeNull()
    expect(await bff.store.db('accounts').where({ identifier: 'u-nul-name' }).first('display_name')).toEqual({ display_name: 'Ann Lee' })
    expect(authError(await callback('nul-scope'))).toBeNull()
    expect(await bff.store.db('accounts').where({ identifier: 'u-nul-scope' }).first('scope')).toEqual({ scope: null })
  })

  it('refuses an identifier holding U+0000 with missing_identifier on both databases, and writes nothing', async () => {
    const before = await rowCounts(bff.store.db)
    expect(authError(await callback('nul-id'))).toBe('missing_identifier')
    expect(await rowCounts(bff.store.db)).toEqual(before)
  })

  it('refuses an identifier holding a lone surrogate with missing_identifier: written as U+FFFD, it would sign in as the identity whose id holds that character', async () => {
    expect(authError(await callback('unpaired'))).toBeNull()
    expect(await bff.store.db('accounts').where({ identifier: 'u-\ufffd' }).first('identifier')).toEqual({ identifier: 'u-\ufffd' })
    unpairedId = '"u-\\ud800"'
    const before = await rowCounts(bff.store.db)
    expect(authError(await callback('unpaired'))).toBe('missing_identifier')
    expect(await rowCounts(bff.store.db)).toEqual(before)
  })

  it('refuses an apiClient answer over apiClient.maxBody with payload_too_large, and reads smaller ones', async () => {
    const landed = await callback('fine')
    expect(authError(landed)).toBeNull()
    const row = await bff.store.db('accounts').join('providers', 'providers.id', 'accounts.provider_id').where('providers.name', 'fine').first('accounts.user_id as user_id')
    const account = await bff.allAccess.accountFor(row.user_id, 'fine')
    expect((await account!.apiClient.request('get', `${provider.url}/api/small`)).body).toEqual({ ok: true })
    const error = await account!.apiClient.request('get', `${provider.url}/api/big`).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AllAccessError)
    expect((error as AllAccessError).code).toBe('payload_too_large')
  })

  it('refuses a 5 MB discovery document and a 5 MB key set', async () => {
    forgetDiscovery()
    const error = await discover(`${provider.url}/issuer-big`).catch((e: unknown) => e)
    expect((error as AllAccessError).code).toBe('provider_unavailable')
    expect((error as AllAccessError).detail).toMatch(/answer over 1048576 bytes/)
    await expect(keySet(`${provider.url}/jwks-big`)({ alg: 'RS256' }, { payload: '', signature: '' } as never)).rejects.toMatchObject({ code: 'id_token_invalid', detail: expect.stringContaining('answer over 1048576 bytes') })
  })
})

describe.each(databases)("a provider's text in the log on $kind", (database) => {
  /** A request line of the provider's making, which a log reader would take for the BFF's own. */
  const FORGED = '\nGET /auth/session 200 1ms req=0000000000000000'

  it('stays inside its own log line: a token error, a discovered issuer or endpoint cannot start another', async () => {
    const { url, drop } = await database.create()
    const bff = await startBff(url)
    const provider = await startRecordingServer((request) => {
      const path = new URL(request.url, 'http://x').pathname
      if (path === '/token') return { status: 400, body: JSON.stringify({ error: `invalid_grant${FORGED}` }), type: 'application/json' }
      const discovery = { authorization_endpoint: `${provider.url}/auth`, token_endpoint: `${provider.url}/token`, jwks_uri: `${provider.url}/jwks` }
      if (path === '/issuer/.well-known/openid-configuration') return { status: 200, body: JSON.stringify({ ...discovery, issuer: `${provider.url}/issuer${FORGED}` }), type: 'application/json' }
      if (path === '/endpoint/.well-known/openid-configuration') return { status: 200, body: JSON.stringify({ ...discovery, issuer: `${provider.url}/endpoint`, userinfo_endpoint: `userinfo${FORGED}` }), type: 'application/json' }
      return { status: 404 }
    })
    try {
      await bff.addProvider('refusing', { authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/me`, clientId: 'c', clientSecret: 's' })
      await bff.addProvider('issuer', { issuer: `${provider.url}/issuer`, clientId: 'c', clientSecret: 's' })
      await bff.addProvider('endpoint', { issuer: `${provider.url}/endpoint`, clientId: 'c', clientSecret: 's' })
      const browser = new BrowserSession()
      const authorize = await startLogin(browser, bff.url, 'refusing')
      const back = new URL('/auth/callback/refusing', bff.url)
      back.search = new URLSearchParams({ code: 'code-1', state: authorize.searchParams.get('state')! }).toString()
      const response = await browser.fetch(back, {}, { navigation: true, crossSite: true })
      expect(authError(new URL(response.headers.get('location')!, bff.url))).toBe('token_request_failed')
      for (const name of ['issuer', 'endpoint']) {
        const start = await new BrowserSession().fetch(new URL(`/auth/login/${name}`, bff.url))
        expect(start.headers.get('location')).toBe('/?auth_error=provider_unavailable')
      }
      const details = bff.logs.filter((line) => line.startsWith('error '))
      expect(details).toHaveLength(3)
      for (const line of details) expect(line).not.toMatch(/[\r\n]/)
      // Still there to read, escaped.
      expect(details.join(' ')).toContain('invalid_grant\\nGET /auth/session')
    } finally {
      await provider.close()
      await bff.close()
      await drop()
    }
  })
})
