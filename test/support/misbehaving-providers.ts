import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose'

/**
 * What the providers get wrong at the next login, one thing at a time; `none` for a login that works.
 * Each is what a real provider has been seen to do, or what one that is broken or spoofed would.
 */
export type Misbehaviour =
  /** The authorization response brings the state back but no code (OAuth 1.0a: no `oauth_verifier`). */
  | 'no-code'
  /** The authorization response carries an RFC 9207 `iss` of another issuer. */
  | 'foreign-iss'
  /** The token endpoint refuses the client (`401 invalid_client`). */
  | 'token-refused'
  /** The token endpoint refuses the code with an `error` that quotes it, as a few servers' messages do. */
  | 'token-error-quotes-code'
  /** The token endpoint fails (`500`). */
  | 'token-fails'
  /** The token endpoint answers 200 with no access token in it. */
  | 'token-without-access-token'
  /** OpenID: the token answer has no ID token. */
  | 'no-id-token'
  /** OpenID: the ID token names another issuer. */
  | 'id-token-foreign-iss'
  /** OpenID: the ID token is signed by a key not the provider's, under the provider's key id. */
  | 'id-token-bad-signature'
  /** OpenID: the ID token carries another login's nonce. */
  | 'id-token-other-nonce'
  /** OpenID: the ID token is for another client. */
  | 'id-token-other-audience'
  /** OpenID: the ID token's `sub` holds a NUL character, which no identifier column can hold on PostgreSQL. */
  | 'sub-with-nul'
  /** The profile (or userinfo) endpoint fails (`500`). */
  | 'profile-fails'
  /** OpenID: userinfo names another subject than the ID token. */
  | 'userinfo-other-sub'
  /** The profile has no `id`, the identifier path. */
  | 'profile-without-id'
  /** The profile endpoint answers 200 with a page, not JSON (a sign-in page in front of it). */
  | 'profile-not-json'
  | 'none'

export interface MisbehavingProviders {
  /** Where the OAuth 2.0 provider's endpoints are: `/authorize`, `/token`, `/me`, under `issuer` too (RFC 9207). */
  oauth2: string
  /** The OpenID provider's issuer: discovery, `/authorize`, `/token`, `/jwks`, `/userinfo` under it. */
  oidc: string
  /** The OAuth 1.0a provider's endpoints: `/request_token`, `/authorize`, `/access_token`, `/me`. */
  oauth1: string
  clientId: string
  clientSecret: string
  /** Sets what goes wrong from the next request on. */
  misbehave(what: Misbehaviour): void
  /** Every code, state, nonce, verifier, token and secret that went through the providers: none may reach a log. */
  readonly secrets: string[]
  close(): Promise<void>
}

const fresh = (prefix: string) => `${prefix}-${randomBytes(12).toString('hex')}`

async function signingKey(kid: string): Promise<{ privateKey: CryptoKey; publicJwk: Record<string, unknown> }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true })
  return { privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } }
}

/**
 * Three small providers on one plain HTTP server on 127.0.0.1, one of each protocol, that behave
 * until told to get one thing wrong. They check nothing the BFF sends beyond what they need to
 * answer: what is under test is what the BFF makes of their answers.
 */
export async function startMisbehavingProviders(): Promise<MisbehavingProviders> {
  let misbehaviour: Misbehaviour = 'none'
  const secrets: string[] = []
  const keep = (value: string) => {
    if (value) secrets.push(value)
    return value
  }
  const clientId = 'callback-codes-client'
  const clientSecret = keep(fresh('client-secret'))
  const key = await signingKey('the-key')
  // Under the provider's key id: a key id its key set lacks reads as a key rotation the BFF cannot follow (provider_unavailable).
  const impostor = await signingKey('the-key')
  /** The nonce of each OpenID code handed out, for the ID token of its token request. */
  const nonces = new Map<string, string>()
  /** Where each OAuth 1.0a request token's user goes back to (RFC 5849 §2.1 `oauth_callback`). */
  const callbacks = new Map<string, string>()
  let users = 0

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      answer(req, Buffer.concat(chunks).toString('utf8'), res).catch((error: unknown) => {
        res.writeHead(599).end(String(error))
      })
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const oauth2 = `${origin}/oauth2`
  const oidc = `${origin}/oidc`
  const oauth1 = `${origin}/oauth1`

  const send = (res: ServerResponse, status: number, type: string, body: string): void => void res.writeHead(status, { 'Content-Type': type }).end(body)
  const json = (res: ServerResponse, status: number, body: unknown) => send(res, status, 'application/json', JSON.stringify(body))
  const form = (res: ServerResponse, body: Record<string, string>) => send(res, 200, 'application/x-www-form-urlencoded', new URLSearchParams(body).toString())
  const redirect = (res: ServerResponse, to: URL): void => void res.writeHead(302, { Location: to.toString() }).end()

  /** The authorization endpoint of either OAuth 2.0 provider: the user agrees at once, and goes back with a code. */
  function authorize(query: URLSearchParams, issuer: string, res: ServerResponse): void {
    const back = new URL(query.get('redirect_uri') ?? '')
    back.searchParams.set('state', keep(query.get('state') ?? ''))
    if (misbehaviour !== 'no-code') {
      const code = keep(fresh('code'))
      back.searchParams.set('code', code)
      const nonce = query.get('nonce')
      if (nonce) nonces.set(code, keep(nonce))
    }
    back.searchParams.set('iss', misbehaviour === 'foreign-iss' ? `${origin}/elsewhere` : issuer)
    redirect(res, back)
  }

  /** The token endpoint of either OAuth 2.0 provider; the OpenID one adds an ID token. */
  async function token(body: URLSearchParams, res: ServerResponse, idToken?: (code: string) => Promise<string>): Promise<void> {
    for (const name of ['code', 'code_verifier']) if (body.get(name)) keep(body.get(name)!)
    if (misbehaviour === 'token-refused') return json(res, 401, { error: 'invalid_client', error_description: 'client authentication failed' })
    if (misbehaviour === 'token-fails') return json(res, 500, { error: 'server_error' })
    if (misbehaviour === 'token-error-quotes-code') return json(res, 400, { error: `code ${body.get('code')} is not valid` })
    if (misbehaviour === 'token-without-access-token') return json(res, 200, { token_type: 'Bearer', expires_in: 3600 })
    const answer: Record<string, unknown> = { access_token: keep(fresh('access-token')), refresh_token: keep(fresh('refresh-token')), token_type: 'Bearer', expires_in: 3600 }
    if (idToken && misbehaviour !== 'no-id-token') answer.id_token = keep(await idToken(body.get('code') ?? ''))
    json(res, 200, answer)
  }

  /** The ID token for a code, as the provider should sign it, or with what the test asked to get wrong. */
  function idToken(subject: string) {
    return (code: string) => {
      const claims: Record<string, unknown> = { nonce: misbehaviour === 'id-token-other-nonce' ? fresh('nonce') : nonces.get(code) }
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'the-key' })
        .setIssuer(misbehaviour === 'id-token-foreign-iss' ? `${origin}/elsewhere` : oidc)
        .setAudience(misbehaviour === 'id-token-other-audience' ? 'another-client' : clientId)
        .setSubject(subject)
        .setIssuedAt()
        .setExpirationTime('5m')
        .sign(misbehaviour === 'id-token-bad-signature' ? impostor.privateKey : key.privateKey)
    }
  }

  /** The profile endpoint of the OAuth 2.0 and OAuth 1.0a providers. */
  function profile(res: ServerResponse): void {
    if (misbehaviour === 'profile-fails') return json(res, 500, { error: 'profile service down' })
    if (misbehaviour === 'profile-not-json') return send(res, 200, 'text/html', '<!doctype html><title>Sign in</title>')
    json(res, 200, misbehaviour === 'profile-without-id' ? { login: 'someone' } : { id: nextUser(), login: 'someone' })
  }

  /** The user the next login is of: a new one each time, so a login that worked is told apart from the ones before. */
  const nextUser = () => (misbehaviour === 'sub-with-nul' ? 'user\u0000admin' : `user-${++users}`)
  let oidcSubject = ''

  async function answer(req: IncomingMessage, text: string, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', origin)
    const body = new URLSearchParams(text)
    switch (url.pathname) {
      case '/oauth2/authorize':
        return authorize(url.searchParams, oauth2, res)
      case '/oauth2/token':
        return token(body, res)
      case '/oauth2/me':
      case '/oauth1/me':
        return profile(res)

      case '/oidc/.well-known/openid-configuration':
        return json(res, 200, {
          issuer: oidc,
          authorization_endpoint: `${oidc}/authorize`,
          token_endpoint: `${oidc}/token`,
          jwks_uri: `${oidc}/jwks`,
          userinfo_endpoint: `${oidc}/userinfo`,
          id_token_signing_alg_values_supported: ['RS256'],
        })
      case '/oidc/jwks':
        return json(res, 200, { keys: [key.publicJwk] })
      case '/oidc/authorize':
        return authorize(url.searchParams, oidc, res)
      case '/oidc/token':
        oidcSubject = nextUser()
        return token(body, res, idToken(oidcSubject))
      case '/oidc/userinfo':
        if (misbehaviour === 'profile-fails') return json(res, 500, { error: 'userinfo down' })
        return json(res, 200, { sub: misbehaviour === 'userinfo-other-sub' ? 'someone-else' : oidcSubject, name: 'Someone' })

      case '/oauth1/request_token': {
        const callback = decodeURIComponent(/oauth_callback="([^"]*)"/.exec(req.headers.authorization ?? '')?.[1] ?? '')
        const requestToken = keep(fresh('request-token'))
        callbacks.set(requestToken, callback)
        return form(res, { oauth_token: requestToken, oauth_token_secret: keep(fresh('request-secret')), oauth_callback_confirmed: 'true' })
      }
      case '/oauth1/authorize': {
        const requestToken = url.searchParams.get('oauth_token') ?? ''
        const back = new URL(callbacks.get(requestToken) ?? '')
        back.searchParams.set('oauth_token', requestToken)
        if (misbehaviour !== 'no-code') back.searchParams.set('oauth_verifier', keep(fresh('verifier')))
        return redirect(res, back)
      }
      case '/oauth1/access_token':
        if (misbehaviour === 'token-refused') return send(res, 401, 'text/plain', 'oauth_problem=signature_invalid')
        if (misbehaviour === 'token-fails') return send(res, 500, 'text/plain', 'internal error')
        return form(res, { oauth_token: keep(fresh('access-token')), oauth_token_secret: keep(fresh('token-secret')) })
    }
    json(res, 404, { error: 'not_found' })
  }

  return {
    oauth2,
    oidc,
    oauth1,
    clientId,
    clientSecret,
    misbehave(what) {
      misbehaviour = what
    },
    secrets,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
