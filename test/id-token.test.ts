import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createServer, type Server } from 'node:http'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose'
import { OidcClient } from '../server/clients/oidc.ts'
import { forgetDiscovery } from '../server/clients/oidc-discovery.ts'
import type { ProviderConfig } from '../shared/provider.ts'

/**
 * ID-token checks against a small issuer of our own whose signing key the test holds, so it can
 * mint exactly the wrong token each case needs (oidc-provider only mints right ones).
 */
describe('OidcClient.verifyIdToken', () => {
  let server: Server
  let issuer: string
  let key: CryptoKey
  let otherKey: CryptoKey
  let client: OidcClient
  const now = () => Math.floor(Date.now() / 1000)

  beforeAll(async () => {
    const pair = await generateKeyPair('RS256')
    key = pair.privateKey
    otherKey = (await generateKeyPair('RS256')).privateKey
    const jwk: JWK = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' }
    server = createServer((req, res) => {
      res.setHeader('Content-Type', 'application/json')
      if (req.url === '/.well-known/openid-configuration') {
        res.end(JSON.stringify({ issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`, id_token_signing_alg_values_supported: ['RS256'] }))
      } else if (req.url === '/jwks') {
        res.end(JSON.stringify({ keys: [jwk] }))
      } else if (req.url === '/common/.well-known/openid-configuration') {
        // Microsoft's multi-tenant form: the issuer is a template that each token's `tid` fills in.
        res.end(JSON.stringify({ issuer: `${issuer}/{tenantid}`, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks`, id_token_signing_alg_values_supported: ['RS256'] }))
      } else if (req.url === '/plain-http/.well-known/openid-configuration') {
        res.end(JSON.stringify({ issuer: `${issuer}/plain-http`, authorization_endpoint: `${issuer}/auth`, token_endpoint: 'http://evil.example/token', jwks_uri: `${issuer}/jwks` }))
      } else if (req.url?.startsWith('/userinfo/')) {
        const answers: Record<string, unknown> = { same: { sub: 'alice', name: 'Alice' }, other: { sub: 'mallory', name: 'Mallory' }, none: { name: 'Nobody' }, number: { sub: 7 } }
        res.end(JSON.stringify(answers[req.url.slice('/userinfo/'.length)]))
      } else {
        res.statusCode = 404
        res.end('{}')
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`
    forgetDiscovery()
    const provider: ProviderConfig = {
      name: 'own', displayName: 'Own', protocol: 'oidc', requestTokenUrl: null, authorizationUrl: null, accessTokenUrl: null, profileUrl: null, apiBaseUrl: null,
      issuer, revocationUrl: null, scope: 'openid', identifierPath: 'sub', clientId: 'my-client', clientSecret: 's', pkce: true,
      tokenAuthMethod: 'client_secret_basic', tokenPlacement: 'header', extraAuthorizationParams: {},
    }
    client = new OidcClient(provider)
  })

  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  function token(claims: Record<string, unknown> = {}, options: { signer?: CryptoKey; alg?: string; omit?: string[] } = {}) {
    const payload: Record<string, unknown> = { iss: issuer, aud: 'my-client', sub: 'alice', nonce: 'n-1', iat: now(), exp: now() + 300, ...claims }
    for (const name of options.omit ?? []) delete payload[name]
    return new SignJWT(payload).setProtectedHeader({ alg: options.alg ?? 'RS256', kid: 'k1' }).sign(options.signer ?? key)
  }

  it('accepts a token signed by the issuer for this client with the right nonce', async () => {
    expect(await client.verifyIdToken(await token(), 'n-1')).toEqual(expect.objectContaining({ sub: 'alice', aud: 'my-client' }))
  })

  it.each([
    ['signed by another key', () => token({}, { signer: otherKey }), 'id_token_invalid'],
    ['for another client', () => token({ aud: 'someone-else' }), 'id_token_invalid'],
    ['expired', () => token({ exp: now() - 120, iat: now() - 600 }), 'id_token_invalid'],
    ['with another nonce', () => token({ nonce: 'n-2' }), 'id_token_invalid'],
    ['without a nonce', () => token({}, { omit: ['nonce'] }), 'id_token_invalid'],
    ['without exp', () => token({}, { omit: ['exp'] }), 'id_token_invalid'],
    ['for several audiences without azp naming this client', () => token({ aud: ['my-client', 'other'] }), 'id_token_invalid'],
    ['for this client alone but authorized to another party (azp)', () => token({ azp: 'other' }), 'id_token_invalid'],
    ['from another issuer', () => token({ iss: 'https://evil.example' }), 'issuer_mismatch'],
  ])('refuses a token %s', async (_, make, code) => {
    await expect(client.verifyIdToken(await make(), 'n-1')).rejects.toMatchObject({ code })
  })

  it('refuses an unsigned token (alg none)', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')
    const body = Buffer.from(JSON.stringify({ iss: issuer, aud: 'my-client', sub: 'alice', nonce: 'n-1', iat: now(), exp: now() + 300 })).toString('base64url')
    await expect(client.verifyIdToken(`${header}.${body}.`, 'n-1')).rejects.toMatchObject({ code: 'id_token_invalid' })
  })

  it('accepts several audiences when azp names this client', async () => {
    expect(await client.verifyIdToken(await token({ aud: ['my-client', 'other'], azp: 'my-client' }), 'n-1')).toEqual(expect.objectContaining({ azp: 'my-client' }))
  })

  describe('getProfileInfo', () => {
    const profileOf = (answer: string) =>
      new OidcClient({ ...client.provider, profileUrl: `${issuer}/userinfo/${answer}` }).getProfileInfo({
        accessToken: 'at', tokenSecret: null, refreshToken: null, idToken: null, expiresAt: null, scope: null, raw: { idTokenClaims: { sub: 'alice', iss: issuer } },
      })

    it('completes the ID token claims with a userinfo answer about the same subject', async () => {
      await expect(profileOf('same')).resolves.toEqual(expect.objectContaining({ sub: 'alice', name: 'Alice' }))
    })

    it.each(['other', 'none', 'number'])('refuses a userinfo answer whose sub is %s, not the ID token\'s', async (answer) => {
      await expect(profileOf(answer)).rejects.toMatchObject({ code: 'profile_request_failed' })
    })
  })

  it('judges a multi-tenant logout token by its own tid, and refuses one without a tid as a bad token', async () => {
    const tenant = new OidcClient({ ...client.provider, issuer: `${issuer}/common` })
    const event = { 'http://schemas.openid.net/event/backchannel-logout': {} }
    const logoutToken = (claims: Record<string, unknown>) =>
      new SignJWT({ aud: 'my-client', sub: 'alice', iat: now(), jti: `j-${now()}-${Math.random()}`, events: event, ...claims }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).sign(key)
    expect(await tenant.verifyLogoutToken(await logoutToken({ iss: `${issuer}/t-1`, tid: 't-1' }))).toEqual(expect.objectContaining({ sub: 'alice' }))
    await expect(tenant.verifyLogoutToken(await logoutToken({ iss: `${issuer}/t-1`, tid: 't-2' }))).rejects.toMatchObject({ code: 'invalid_request' })
    await expect(tenant.verifyLogoutToken(await logoutToken({ iss: `${issuer}/t-1` }))).rejects.toMatchObject({ code: 'invalid_request' })
  })

  it('refuses discovered endpoints that break the https-or-loopback rule', async () => {
    forgetDiscovery()
    const plain = new OidcClient({ ...client.provider, issuer: `${issuer}/plain-http` })
    const error = await plain.verifyIdToken('x.y.z', null).catch((e: unknown) => e)
    expect(error).toMatchObject({ code: 'provider_unavailable', detail: expect.stringContaining('token_endpoint must use https') })
  })
})
