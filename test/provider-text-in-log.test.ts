import { createServer } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEXT_LIMIT } from '../server/cut-text.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startDocumentedProvider, type DocumentedProvider } from './support/documented-provider.ts'
import { startEchoUpstream, type EchoUpstream } from './support/echo-upstream.ts'
import { authError, login } from './support/login.ts'
import { signedIn } from './support/signed-in.ts'

/** Ten kilobytes of a provider's own text: a header value or a URL within Node's 16 KiB of headers. */
const LONG = 'x'.repeat(10_000)

/** A port nothing listens on: a provider call to it fails to connect. */
async function deadPort(): Promise<number> {
  const free = createServer()
  await new Promise<void>((resolve) => free.listen(0, '127.0.0.1', resolve))
  const { port } = free.address() as { port: number }
  await new Promise<void>((resolve) => free.close(() => resolve()))
  return port
}

/** A line short enough that the provider's text in it was cut: a few hundred characters of it at most. */
function expectShort(line: string | undefined) {
  expect(line).toBeDefined()
  expect(line!.length).toBeLessThan(1024)
}

describe.each(databases)("what a provider chose, in the log, on $kind", (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let upstream: EchoUpstream
  const providers: DocumentedProvider[] = []

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url)
    upstream = await startEchoUpstream()
  })

  afterAll(async () => {
    await bff?.close()
    await upstream?.close()
    for (const provider of providers) await provider.close()
    await drop?.()
  })

  /** The lines a login with `name` made the BFF log, and the error it ended in. */
  async function failedLogin(name: string): Promise<{ error: string | null; lines: string[] }> {
    const before = bff.logs.length
    const error = authError(await login(new BrowserSession(), bff.url, name))
    return { error, lines: bff.logs.slice(before) }
  }

  it("cuts a token answer's Content-Encoding of ten kilobytes in the failed login's line, which still names the coding and the call", async () => {
    const provider = await startDocumentedProvider({ answers: { '/token': () => ({ body: { access_token: 'at', token_type: 'Bearer' }, headers: { 'Content-Encoding': LONG } }) } })
    providers.push(provider)
    await bff.addProvider('long-coding', { protocol: 'oauth2', authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/profile`, clientId: 'c', clientSecret: 's' })
    const { error, lines } = await failedLogin('long-coding')
    expect(error).toBe('token_request_failed')
    const line = lines.find((candidate) => candidate.includes('token_request_failed:'))
    expect(line).toMatch(new RegExp(`^error req=[0-9a-f]+ token_request_failed: POST ${provider.url}/token: the provider answered in coding "x{${TEXT_LIMIT}}…\\[cut:${LONG.length}-chars\\]", which cannot be read$`))
    expectShort(line)
  })

  it("cuts an API answer's Content-Encoding of ten kilobytes in the proxy's line, which still names the coding", async () => {
    await bff.addProvider('echo', { authorizationUrl: 'https://idp.example/authorize', accessTokenUrl: 'https://idp.example/token', profileUrl: 'https://idp.example/me', clientId: 'id', clientSecret: 'secret', apiBaseUrl: `${upstream.url}/v1` })
    const { browser } = await signedIn(bff, 'echo', { accessToken: 'token-echo' })
    const before = bff.logs.length
    const response = await browser.fetch(new URL(`/api/echo/token-echo?coding=${LONG}`, bff.url), { headers: { 'X-CSRF': '1' } })
    expect([response.status, ((await response.json()) as { error: string }).error]).toEqual([502, 'upstream_unreachable'])
    const line = bff.logs.slice(before).find((candidate) => candidate.includes('upstream_unreachable:'))
    expect(line).toMatch(new RegExp(`^error req=[0-9a-f]+ upstream_unreachable: the provider answered in coding "x{${TEXT_LIMIT}}…\\[cut:${LONG.length}-chars\\]", which cannot be read: the proxy cannot read it for the token$`))
    expectShort(line)
  })

  it('cuts a discovered token endpoint of ten kilobytes that cannot be reached to its origin and the start of its path, naming the call and why', async () => {
    const port = await deadPort()
    const endpoint = `http://127.0.0.1:${port}/token/${LONG}`
    const provider = await startDocumentedProvider({ discovery: { token_endpoint: endpoint }, answers: {} })
    providers.push(provider)
    await bff.addProvider('long-endpoint', { issuer: provider.url, clientId: 'c', clientSecret: 's' })
    const { error, lines } = await failedLogin('long-endpoint')
    expect(error).toBe('token_request_failed')
    const line = lines.find((candidate) => candidate.includes('token_request_failed:'))
    const where = `http://127.0.0.1:${port}/token/${LONG}`
    expect(line).toContain(`token_request_failed: POST ${where.slice(0, TEXT_LIMIT)}…[cut:${where.length}-chars]: `)
    expect(line).toContain('ECONNREFUSED')
    expectShort(line)
  })

  it("cuts what the system says of a discovered token endpoint on a host of ten kilobytes, which quotes the host whole", async () => {
    // A label longer than DNS allows: the lookup fails on this machine, before any query is sent.
    const host = `${LONG}.example`
    const provider = await startDocumentedProvider({ discovery: { token_endpoint: `https://${host}/token` }, answers: {} })
    providers.push(provider)
    await bff.addProvider('long-host', { issuer: provider.url, clientId: 'c', clientSecret: 's' })
    const { error, lines } = await failedLogin('long-host')
    expect(error).toBe('token_request_failed')
    const line = lines.find((candidate) => candidate.includes('token_request_failed:'))
    expect(line).toMatch(new RegExp(`^error req=[0-9a-f]+ token_request_failed: POST https://x+…\\[cut:${'https://'.length + host.length + '/token'.length}-chars\\]: getaddrinfo \\w+ x+…\\[cut:\\d+-chars\\]$`))
    expectShort(line)
  })

  it('cuts a discovered key set URL of ten kilobytes that cannot be reached, naming the keys and why', async () => {
    const port = await deadPort()
    const jwks = `http://127.0.0.1:${port}/jwks/${LONG}`
    const provider = await startDocumentedProvider({
      discovery: { jwks_uri: jwks },
      answers: { '/token': async (_request, p) => ({ body: { access_token: 'at', token_type: 'Bearer', id_token: await p.idToken({ sub: 'alice' }) } }) },
    })
    providers.push(provider)
    await bff.addProvider('long-jwks', { issuer: provider.url, clientId: 'c', clientSecret: 's' })
    const { error, lines } = await failedLogin('long-jwks')
    expect(error).toBe('provider_unavailable')
    const line = lines.find((candidate) => candidate.includes('provider_unavailable:'))
    expect(line).toContain(`provider_unavailable: id_token keys: GET ${jwks.slice(0, TEXT_LIMIT)}…[cut:${jwks.length}-chars]: `)
    expectShort(line)
  })

  it('cuts a discovered issuer of ten kilobytes of control characters, escaped, in the line of a discovery naming another issuer', async () => {
    const provider = await startDocumentedProvider({ discovery: { issuer: '\u0001'.repeat(10_000) }, answers: {} })
    providers.push(provider)
    await bff.addProvider('long-issuer', { issuer: provider.url, clientId: 'c', clientSecret: 's' })
    const { error, lines } = await failedLogin('long-issuer')
    expect(error).toBe('provider_unavailable')
    const line = lines.find((candidate) => candidate.includes('provider_unavailable:'))
    expect(line).toMatch(new RegExp(`provider_unavailable: discovery of ${provider.url} names issuer (\\\\u0001)+\\\\u…\\[cut:60000-chars\\]$`))
    expectShort(line)
  })

  it("cuts an ID token's header parameter of ten kilobytes quoted in the verdict on it, naming what was refused", async () => {
    // The provider's key names the token; its `crit` is judged before its signature.
    const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
    const forged = `${part({ alg: 'RS256', kid: 'documented', crit: [LONG] })}.${part({ sub: 'alice' })}.${part('signature')}`
    const provider = await startDocumentedProvider({ discovery: {}, answers: { '/token': () => ({ body: { access_token: 'at', token_type: 'Bearer', id_token: forged } }) } })
    providers.push(provider)
    await bff.addProvider('long-crit', { issuer: provider.url, clientId: 'c', clientSecret: 's' })
    const { error, lines } = await failedLogin('long-crit')
    expect(error).toBe('id_token_invalid')
    const line = lines.find((candidate) => candidate.includes('id_token_invalid:'))
    expect(line).toMatch(new RegExp(`id_token_invalid: id_token rejected: Extension Header Parameter "x+…\\[cut:\\d+-chars\\]$`))
    expectShort(line)
  })

  it('cuts a discovered endpoint of ten kilobytes in a scheme nobody reads, naming the endpoint and what is wrong', async () => {
    const provider = await startDocumentedProvider({ discovery: { token_endpoint: `${LONG}:/token` }, answers: {} })
    providers.push(provider)
    await bff.addProvider('long-scheme', { issuer: provider.url, clientId: 'c', clientSecret: 's' })
    const { error, lines } = await failedLogin('long-scheme')
    expect(error).toBe('provider_unavailable')
    const line = lines.find((candidate) => candidate.includes('provider_unavailable:'))
    expect(line).toMatch(new RegExp(`provider_unavailable: discovery of ${provider.url}: token_endpoint must be an https URL, got x+…\\[cut:${LONG.length + 1}-chars\\]$`))
    expectShort(line)
  })

  // Slack answers a dead token `{"ok":false,"error":…}`, TikTok `{"error":{"code":…}}`; both quirks log that field.
  it.each([
    ['slack-app', (said: string) => ({ ok: false, error: said })],
    ['tiktok', (said: string) => ({ error: { code: said } })],
  ])("keeps the access token out of the line of a %s profile error that quotes it", async (preset, answer) => {
    const accessToken = 'tok-' + 'a1B2'.repeat(12)
    const provider = await startDocumentedProvider({
      answers: {
        '/token': () => ({ body: preset === 'slack-app' ? { ok: true, authed_user: { id: 'U1', access_token: accessToken, token_type: 'user' } } : { access_token: accessToken, token_type: 'Bearer', open_id: 'o1' } }),
        '/profile': () => ({ body: answer(`${accessToken} is revoked`) }),
      },
    })
    providers.push(provider)
    await bff.addProvider(`quoting-${preset}`, { preset, authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${provider.url}/token`, profileUrl: `${provider.url}/profile`, clientId: 'c', clientSecret: 's' })
    const { error, lines } = await failedLogin(`quoting-${preset}`)
    expect(error).toBe('profile_request_failed')
    const line = lines.find((candidate) => candidate.includes('profile_request_failed:'))
    expect(line).toContain('answered [redacted] is revoked')
    expect(lines.join('\n')).not.toContain(accessToken.slice(0, 20))
  })
})
