import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import type { RecordedRequest } from './recording-server.ts'

export interface DocumentedAnswer {
  status?: number
  /** An object is sent as JSON; a Buffer as its bytes (a coded body). */
  body?: string | Buffer | object
  type?: string
  /** Headers besides the type: `Content-Length`, say, for an answer the provider sends whole rather than chunked. */
  headers?: Record<string, string>
  /** The body is sent and the answer never ends, as from a provider that stalls. */
  unfinished?: boolean
}

export type Answerer = (request: RecordedRequest, provider: DocumentedProvider) => DocumentedAnswer | Promise<DocumentedAnswer>

export interface DocumentedProvider {
  url: string
  /** Every request, in order, the built-in ones included. */
  received: RecordedRequest[]
  /** The requests to one path (without query). */
  at(path: string): RecordedRequest[]
  /** An ID token for the last login, signed with the provider's key: issuer, audience, nonce, `iat` (now) and `exp` (in five minutes) filled in unless `claims` names them. */
  idToken(claims: Record<string, unknown>): Promise<string>
  /** The key set `/jwks` answers with, for an answerer of `/jwks` that sometimes fails. */
  keySet: { keys: object[] }
  close(): Promise<void>
}

export interface DocumentedProviderOptions {
  /** Answers by path (`/token`, `/profile`, …), as the provider's documentation shows them. */
  answers: Record<string, Answerer>
  /** Extra parameters the authorization endpoint adds to the redirect back (VK ID's device_id). */
  callbackParams?: Record<string, string>
  /** OpenID Connect: the discovery document's extra fields (`userinfo_endpoint`, …); without it, no discovery. */
  discovery?: Record<string, unknown>
}

/**
 * A provider on 127.0.0.1 that answers the way a provider's documentation says: `/authorize`
 * approves at once and redirects back with a code (OAuth 2.0) or a verifier (OAuth 1.0a, after a
 * `/request_token` whose callback it keeps), OpenID Connect discovery and keys when asked for, and
 * every other path from `answers`.
 */
export async function startDocumentedProvider(options: DocumentedProviderOptions): Promise<DocumentedProvider> {
  const received: RecordedRequest[] = []
  const { publicKey, privateKey } = await generateKeyPair('RS256')
  const jwk = { ...(await exportJWK(publicKey)), kid: 'documented', alg: 'RS256', use: 'sig' }
  let nonce: string | undefined
  let clientId = ''
  let oauth1Callback = ''

  const builtIn: Record<string, Answerer> = {
    '/request_token': (request) => {
      oauth1Callback = decodeURIComponent(/oauth_callback="([^"]+)"/.exec(String(request.headers.authorization))?.[1] ?? '')
      return { body: 'oauth_token=request-token&oauth_token_secret=request-secret&oauth_callback_confirmed=true', type: 'application/x-www-form-urlencoded' }
    },
    '/.well-known/openid-configuration': () =>
      options.discovery
        ? {
            body: {
              issuer: provider.url,
              authorization_endpoint: `${provider.url}/authorize`,
              token_endpoint: `${provider.url}/token`,
              jwks_uri: `${provider.url}/jwks`,
              id_token_signing_alg_values_supported: ['RS256'],
              ...options.discovery,
            },
          }
        : { status: 404, body: {} },
    '/jwks': () => ({ body: provider.keySet }),
  }

  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', async () => {
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      received.push(request)
      const url = new URL(request.url, provider.url)
      if (url.pathname === '/authorize') {
        res.writeHead(302, { Location: approve(url) })
        res.end()
        return
      }
      const answerer = options.answers[url.pathname] ?? builtIn[url.pathname]
      const { status = 200, body = '', type, headers = {}, unfinished } = answerer ? await answerer(request, provider) : { status: 404, body: { error: 'not_found' } }
      const json = typeof body === 'object' && !Buffer.isBuffer(body)
      const sent = json ? JSON.stringify(body) : (body as string | Buffer)
      res.writeHead(status, { 'Content-Type': type ?? (json ? 'application/json' : 'text/plain'), ...headers })
      if (unfinished) res.write(sent)
      else res.end(sent)
    })
  })

  /** Where the user comes back to after approving at once. */
  function approve(url: URL): string {
    const params = url.searchParams
    if (params.has('oauth_token')) {
      const back = new URL(oauth1Callback)
      back.searchParams.set('oauth_token', params.get('oauth_token') ?? '')
      back.searchParams.set('oauth_verifier', 'verifier-1')
      return back.toString()
    }
    nonce = params.get('nonce') ?? undefined
    clientId = params.get('client_id') ?? params.get('client_key') ?? ''
    const back = new URL(params.get('redirect_uri') ?? '')
    back.searchParams.set('code', 'code-1')
    back.searchParams.set('state', params.get('state') ?? '')
    for (const [name, value] of Object.entries(options.callbackParams ?? {})) back.searchParams.set(name, value)
    return back.toString()
  }

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const provider: DocumentedProvider = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    at: (path) => received.filter((r) => new URL(r.url, 'http://x').pathname === path),
    idToken: (claims) => {
      const now = Math.floor(Date.now() / 1000)
      return new SignJWT({ iss: provider.url, aud: clientId, nonce, iat: now, exp: now + 300, ...claims }).setProtectedHeader({ alg: 'RS256', kid: 'documented' }).sign(privateKey)
    },
    keySet: { keys: [jwk] },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
  return provider
}
