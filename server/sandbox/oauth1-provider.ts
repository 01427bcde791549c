import Router from '@koa/router'
import Koa, { type Context } from 'koa'
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { escapeHtml, page, printServerErrors, readSmallBody } from './pages.ts'

export interface OAuth1SandboxUser {
  id: string
  screenName: string
  name: string
}

export interface OAuth1ProviderOptions {
  consumers: { key: string; secret: string }[]
  /** A screen name: `GET /oauth/authorize` sends that user straight back to the callback (tests). */
  autoApprove?: string | false
  /** Default {@link DEMO_OAUTH1_USERS}. */
  users?: OAuth1SandboxUser[]
  /** The origin clients sign for; by default the origin each request was addressed to (its Host). */
  publicUrl?: string
  /** Told of every request it answered, refusals with their reason (what tests assert on). */
  onRequest?: (request: OAuth1ProviderRequest) => void
}

export interface OAuth1ProviderRequest {
  method: string
  path: string
  ok: boolean
  reason?: string
}

export interface OAuth1SandboxStatus {
  userId: string
  text: string
}

export interface RunningOAuth1Provider {
  url: string
  requestTokenUrl: string
  authorizationUrl: string
  accessTokenUrl: string
  profileUrl: string
  /** `${url}/1.1` */
  apiBaseUrl: string
  statuses: OAuth1SandboxStatus[]
  /** The user's access tokens stop working (401), as when a user revokes an app. */
  revokeUserTokens(userId: string): void
  close(): Promise<void>
}

export const DEMO_OAUTH1_USERS: OAuth1SandboxUser[] = [
  { id: '1001', screenName: 'alice', name: 'Alice Liddell' },
  { id: '1002', screenName: 'bob', name: 'Bob Builder' },
]

export interface OAuth1RequestToken {
  secret: string
  /** Epoch ms: the token is refused, and forgotten, {@link REQUEST_TOKEN_LIFETIME_MS} later. */
  issuedAt: number
  consumer: string
  callback: string
  /** Set once the user allowed access. */
  verifier?: string
  userId?: string
}

export interface OAuth1AccessToken {
  secret: string
  consumer: string
  userId: string
}

const TIMESTAMP_WINDOW_SECONDS = 300
/** How long a request token waits for the user's decision and its exchange. */
export const REQUEST_TOKEN_LIFETIME_MS = 15 * 60_000

/** What the provider remembers; shared with whoever started it so tests can look and revoke. */
export class OAuth1ProviderState {
  readonly statuses: OAuth1SandboxStatus[] = []
  readonly requestTokens = new Map<string, OAuth1RequestToken>()
  readonly accessTokens = new Map<string, OAuth1AccessToken>()
  /**
   * Spent nonces per consumer key, each with the timestamp it came with: kept only while a request of
   * that timestamp could still be accepted; a later one is refused as stale whatever its nonce.
   */
  readonly nonces = new Map<string, Map<string, number>>()
  private sweptAt = 0

  revokeUserTokens(userId: string): void {
    for (const [key, token] of this.accessTokens) if (token.userId === userId) this.accessTokens.delete(key)
  }

  /** A request token still within its lifetime. */
  requestToken(key: string | undefined, now: number): OAuth1RequestToken | undefined {
    const token = key === undefined ? undefined : this.requestTokens.get(key)
    return token && now - token.issuedAt <= REQUEST_TOKEN_LIFETIME_MS ? token : undefined
  }

  /**
   * Forgets the nonces gone stale and the request tokens past their lifetime, so that a demo left
   * running does not grow for ever. One walk of everything at most once a window: no request pays
   * for more than its share.
   */
  forgetExpired(now: number): void {
    if (now - this.sweptAt < TIMESTAMP_WINDOW_SECONDS * 1000) return
    this.sweptAt = now
    for (const [consumer, spent] of this.nonces) {
      for (const [nonce, timestamp] of spent) if (now / 1000 - timestamp > TIMESTAMP_WINDOW_SECONDS) spent.delete(nonce)
      if (spent.size === 0) this.nonces.delete(consumer)
    }
    for (const key of this.requestTokens.keys()) if (!this.requestToken(key, now)) this.requestTokens.delete(key)
  }
}

/** A refused request: `message` is the reason answered and recorded; `code` follows Twitter's error codes. */
export class OAuth1Refusal extends Error {
  constructor(
    message: string,
    readonly status = 401,
    readonly code = 32,
  ) {
    super(message)
  }
}

const invalidToken = (message: string) => new OAuth1Refusal(message, 401, 89)

// ---- Verification, written independently of the client's signer (server/clients/oauth1-signature.ts) so each checks the other.

const MAX_BODY_BYTES = 64 * 1024
const PROTOCOL_PARAMETERS = new Set(['oauth_consumer_key', 'oauth_token', 'oauth_signature_method', 'oauth_signature', 'oauth_timestamp', 'oauth_nonce', 'oauth_version', 'oauth_callback', 'oauth_verifier'])
const REQUIRED_PARAMETERS = ['oauth_consumer_key', 'oauth_signature_method', 'oauth_signature', 'oauth_timestamp', 'oauth_nonce']
/** RFC 5849 §3.6: only unreserved characters and upper-case %XX. */
const PERCENT_ENCODED = /^(?:[A-Za-z0-9._~-]|%[0-9A-F]{2})*$/

const rfc3986 = (value: string) => encodeURIComponent(value).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())

/** RFC 5849 §3.5.1: `OAuth name="value", …`; anything else, a duplicate or a non-protocol parameter is refused. */
export function parseOAuthAuthorization(header: string | undefined): Map<string, string> {
  const scheme = header ? /^OAuth(?:[ \t]+|$)/i.exec(header) : null
  if (!header || !scheme) throw new OAuth1Refusal('missing OAuth Authorization header')
  const malformed = () => new OAuth1Refusal('malformed Authorization header')
  const params = new Map<string, string>()
  const rest = header.slice(scheme[0].length)
  const item = /[ \t]*([^\s=,"]+)[ \t]*=[ \t]*"([^"]*)"[ \t]*(,|$)/y
  while (item.lastIndex < rest.length) {
    const match = item.exec(rest)
    if (!match) throw malformed()
    const [, rawName, rawValue, separator] = match
    if (separator === ',' && item.lastIndex === rest.length) throw malformed()
    if (rawName === 'realm') continue
    if (!PERCENT_ENCODED.test(rawName) || !PERCENT_ENCODED.test(rawValue)) throw malformed()
    let name: string, value: string
    try {
      name = decodeURIComponent(rawName)
      value = decodeURIComponent(rawValue)
    } catch {
      throw malformed()
    }
    if (!PROTOCOL_PARAMETERS.has(name)) throw new OAuth1Refusal(`unexpected parameter ${name}`)
    if (params.has(name)) throw new OAuth1Refusal(`duplicate ${name}`)
    params.set(name, value)
  }
  return params
}

/** RFC 5849 §3.4.1: method, base string URI and the sorted, encoded parameters. */
function signatureBaseString(method: string, baseUri: string, params: [string, string][]): string {
  const compare = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)
  const normalized = params
    .map(([name, value]) => [rfc3986(name), rfc3986(value)])
    .sort(([an, av], [bn, bv]) => compare(an, bn) || compare(av, bv))
    .map(([name, value]) => `${name}=${value}`)
    .join('&')
  return `${method.toUpperCase()}&${rfc3986(baseUri)}&${rfc3986(normalized)}`
}

function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given)
  const b = Buffer.from(expected)
  return a.length === b.length && timingSafeEqual(a, b)
}

export type OAuth1TokenKind = 'none' | 'request' | 'access'

/** A request as it reached the provider, with the parts RFC 5849 signs. */
export interface OAuth1IncomingRequest {
  method: string
  /** Scheme, host and path as the client addressed them (§3.4.1.2). */
  baseUri: string
  query: URLSearchParams
  /** An `application/x-www-form-urlencoded` body, else empty (§3.4.1.3.1). */
  form: URLSearchParams
  authorization: string | undefined
}

export interface VerifiedOAuth1Request {
  consumerKey: string
  params: Map<string, string>
  tokenKey?: string
  requestToken?: OAuth1RequestToken
  accessToken?: OAuth1AccessToken
}

/**
 * Checks one request strictly: HMAC-SHA1 only, known consumer, a token of the kind the endpoint
 * needs, timestamp within 5 minutes, signature over query, form and protocol parameters compared
 * in constant time, and a nonce the consumer never used before.
 */
export function verifyOAuth1Request(request: OAuth1IncomingRequest, kind: OAuth1TokenKind, consumers: Map<string, string>, state: OAuth1ProviderState, now = Date.now()): VerifiedOAuth1Request {
  state.forgetExpired(now)
  const params = parseOAuthAuthorization(request.authorization)
  for (const name of REQUIRED_PARAMETERS) if (!params.has(name)) throw new OAuth1Refusal(`missing ${name}`)
  if (params.get('oauth_signature_method') !== 'HMAC-SHA1') throw new OAuth1Refusal('only HMAC-SHA1 is accepted')
  if (params.has('oauth_version') && params.get('oauth_version') !== '1.0') throw new OAuth1Refusal('unsupported oauth_version')
  const consumerKey = params.get('oauth_consumer_key') as string
  const consumerSecret = consumers.get(consumerKey)
  if (consumerSecret === undefined) throw new OAuth1Refusal('unknown consumer')

  const timestamp = params.get('oauth_timestamp') as string
  if (!/^\d{1,12}$/.test(timestamp)) throw new OAuth1Refusal('malformed oauth_timestamp')
  if (Math.abs(Number(timestamp) - now / 1000) > TIMESTAMP_WINDOW_SECONDS) throw new OAuth1Refusal('stale oauth_timestamp', 401, 135)
  const nonce = params.get('oauth_nonce') as string
  if (!/^[A-Za-z0-9]{8,64}$/.test(nonce)) throw new OAuth1Refusal('malformed oauth_nonce')
  for (const [name] of [...request.query, ...request.form]) {
    if (name.startsWith('oauth_')) throw new OAuth1Refusal('protocol parameters belong in the Authorization header')
  }

  const tokenKey = params.get('oauth_token')
  const verified: VerifiedOAuth1Request = { consumerKey, params, tokenKey }
  let tokenSecret = ''
  if (kind === 'none') {
    if (tokenKey !== undefined) throw invalidToken('no token expected here')
  } else {
    const token = kind === 'request' ? state.requestToken(tokenKey, now) : tokenKey === undefined ? undefined : state.accessTokens.get(tokenKey)
    if (!token || token.consumer !== consumerKey) throw invalidToken(tokenKey === undefined ? 'missing oauth_token' : `invalid ${kind} token`)
    tokenSecret = token.secret
    if (kind === 'request') verified.requestToken = token as OAuth1RequestToken
    else verified.accessToken = token as OAuth1AccessToken
  }

  const signed: [string, string][] = [...request.query, ...request.form, ...[...params].filter(([name]) => name !== 'oauth_signature')]
  const base = signatureBaseString(request.method, request.baseUri, signed)
  const expected = createHmac('sha1', `${rfc3986(consumerSecret)}&${rfc3986(tokenSecret)}`).update(base).digest('base64')
  if (!sameSecret(params.get('oauth_signature') as string, expected)) throw new OAuth1Refusal('signature does not match')

  // Spent only once the signature holds, so a forged request cannot burn someone else's nonce.
  const spent = state.nonces.get(consumerKey) ?? new Map<string, number>()
  if (spent.has(nonce)) throw new OAuth1Refusal('nonce already used')
  spent.set(nonce, Number(timestamp))
  state.nonces.set(consumerKey, spent)
  return verified
}

// ---- The Koa app.

const AUTHORIZE_PATH = '/oauth/authorize'

function isForm(ctx: Context): boolean {
  return /^application\/x-www-form-urlencoded\s*(;|$)/i.test(ctx.get('Content-Type'))
}

async function readForm(ctx: Context): Promise<URLSearchParams> {
  return isForm(ctx) ? new URLSearchParams((await readSmallBody(ctx.req, MAX_BODY_BYTES)).toString('utf8')) : new URLSearchParams()
}

function originOf(ctx: Context, publicUrl: string | undefined): string {
  if (publicUrl) return new URL(publicUrl).origin
  if (!ctx.host) throw new OAuth1Refusal('missing Host header', 400)
  // URL lower-cases the host and drops a default port, as the signer's base string URI does.
  return new URL(`${ctx.protocol}://${ctx.host}`).origin
}

function redirectTo(ctx: Context, callback: string, params: Record<string, string>): void {
  const target = new URL(callback)
  for (const [name, value] of Object.entries(params)) target.searchParams.set(name, value)
  ctx.redirect(target.toString())
}

function answerForm(ctx: Context, values: Record<string, string>): void {
  ctx.type = 'application/x-www-form-urlencoded'
  ctx.body = new URLSearchParams(values).toString()
}

const newSecret = (bytes: number) => randomBytes(bytes).toString('hex')

function authorizePage(token: string, consumerKey: string, users: OAuth1SandboxUser[]): string {
  const options = users.map((u) => `<option value="${escapeHtml(u.id)}">${escapeHtml(u.name)} (@${escapeHtml(u.screenName)})</option>`).join('')
  return page(
    'Authorize access',
    `<h1>Sign in to the OAuth 1.0a sandbox</h1>
<p>The application <strong>${escapeHtml(consumerKey)}</strong> asks to read your profile and post statuses for you.</p>
<form method="post" action="${AUTHORIZE_PATH}">
  <input type="hidden" name="oauth_token" value="${escapeHtml(token)}">
  <label for="user">User</label>
  <select id="user" name="user">${options}</select>
  <button type="submit" name="decision" value="allow">Allow</button>
  <button type="submit" name="decision" value="deny">Deny</button>
</form>`,
  )
}

/**
 * A strict OAuth 1.0a provider modelled on Twitter's endpoints, for tests and the offline demo.
 * `state` holds its tokens and statuses; pass one in to look at them.
 */
export function createOAuth1ProviderApp(options: OAuth1ProviderOptions, state = new OAuth1ProviderState()): Koa {
  const users = options.users ?? DEMO_OAUTH1_USERS
  const consumers = new Map(options.consumers.map((c) => [c.key, c.secret]))
  const autoApproved = options.autoApprove ? users.find((u) => u.screenName === options.autoApprove) : undefined
  if (options.autoApprove && !autoApproved) throw new TypeError(`autoApprove names no user: ${options.autoApprove}`)
  const userById = (id: string | undefined) => users.find((u) => u.id === id)

  /** An endpoint that only runs for a correctly signed request carrying a token of `kind`. */
  const signed =
    (kind: OAuth1TokenKind, handle: (ctx: Context, request: VerifiedOAuth1Request, form: URLSearchParams) => void | Promise<void>) =>
    async (ctx: Context) => {
      const form = await readForm(ctx)
      const incoming = { method: ctx.method, baseUri: originOf(ctx, options.publicUrl) + ctx.path, query: new URLSearchParams(ctx.querystring), form, authorization: ctx.get('Authorization') || undefined }
      await handle(ctx, verifyOAuth1Request(incoming, kind, consumers, state), form)
    }

  /** An API endpoint, answered for the access token's user. */
  const api = (handle: (ctx: Context, user: OAuth1SandboxUser, form: URLSearchParams) => void) =>
    signed('access', (ctx, request, form) => {
      const user = userById(request.accessToken?.userId)
      if (!user) throw invalidToken('invalid access token')
      handle(ctx, user, form)
    })

  const approve = (ctx: Context, token: string, request: OAuth1RequestToken, userId: string) => {
    request.verifier = newSecret(16)
    request.userId = userId
    redirectTo(ctx, request.callback, { oauth_token: token, oauth_verifier: request.verifier })
  }

  /** A request token the user has not decided on yet. */
  const pendingRequestToken = (token: unknown): OAuth1RequestToken => {
    const request = typeof token === 'string' ? state.requestToken(token, Date.now()) : undefined
    if (!request || request.verifier) throw new OAuth1Refusal('unknown or used request token', 400)
    return request
  }

  const router = new Router()

  router.post(
    '/oauth/request_token',
    signed('none', (ctx, { consumerKey, params }) => {
      const callback = params.get('oauth_callback')
      if (callback === undefined) throw new OAuth1Refusal('missing oauth_callback')
      if (!URL.canParse(callback) || !/^https?:$/.test(new URL(callback).protocol)) throw new OAuth1Refusal('oauth_callback must be an absolute http(s) URL')
      const token = newSecret(16)
      const secret = newSecret(24)
      state.requestTokens.set(token, { secret, issuedAt: Date.now(), consumer: consumerKey, callback })
      answerForm(ctx, { oauth_token: token, oauth_token_secret: secret, oauth_callback_confirmed: 'true' })
    }),
  )

  router.get(AUTHORIZE_PATH, (ctx) => {
    const token = ctx.query.oauth_token
    const request = pendingRequestToken(token)
    if (autoApproved) return approve(ctx, token as string, request, autoApproved.id)
    ctx.type = 'html'
    ctx.body = authorizePage(token as string, request.consumer, users)
  })

  router.post(AUTHORIZE_PATH, async (ctx) => {
    const form = await readForm(ctx)
    const token = form.get('oauth_token') ?? ''
    const request = pendingRequestToken(token)
    const decision = form.get('decision')
    if (decision === 'deny') {
      state.requestTokens.delete(token)
      return redirectTo(ctx, request.callback, { denied: token })
    }
    if (decision !== 'allow') throw new OAuth1Refusal('choose Allow or Deny', 400)
    const user = userById(form.get('user') ?? undefined)
    if (!user) throw new OAuth1Refusal('unknown user', 400)
    approve(ctx, token, request, user.id)
  })

  router.post(
    '/oauth/access_token',
    signed('request', (ctx, { params, tokenKey, requestToken }) => {
      const request = requestToken as OAuth1RequestToken
      // Spent whatever happens next: a request token that reached this endpoint signed is used up.
      state.requestTokens.delete(tokenKey as string)
      if (!request.verifier || !request.userId) throw invalidToken('request token not authorized')
      const verifier = params.get('oauth_verifier')
      if (verifier === undefined) throw new OAuth1Refusal('missing oauth_verifier')
      if (!sameSecret(verifier, request.verifier)) throw new OAuth1Refusal('wrong oauth_verifier')
      const token = newSecret(16)
      const secret = newSecret(24)
      state.accessTokens.set(token, { secret, consumer: request.consumer, userId: request.userId })
      answerForm(ctx, { oauth_token: token, oauth_token_secret: secret, user_id: request.userId, screen_name: userById(request.userId)?.screenName ?? '' })
    }),
  )

  // As X's POST oauth/invalidate_token: the access token that signed the call stops working.
  router.post(
    '/1.1/oauth/invalidate_token',
    signed('access', (ctx, { tokenKey }) => {
      state.accessTokens.delete(tokenKey as string)
      ctx.body = { access_token: tokenKey }
    }),
  )

  router.get(
    '/1.1/account/verify_credentials.json',
    api((ctx, user) => {
      ctx.body = { id: Number(user.id), id_str: user.id, screen_name: user.screenName, name: user.name }
    }),
  )

  router.post(
    '/1.1/statuses/update.json',
    api((ctx, user, form) => {
      const text = form.get('status')
      if (!text) throw new OAuth1Refusal('missing status', 400, 170)
      state.statuses.push({ userId: user.id, text })
      const id = String(state.statuses.length)
      ctx.body = { id: Number(id), id_str: id, text, created_at: new Date().toUTCString(), user: { id_str: user.id, screen_name: user.screenName } }
    }),
  )

  router.get(
    '/1.1/statuses/home_timeline.json',
    api((ctx, user) => {
      const count = Math.max(1, Math.min(200, Number(ctx.query.count ?? 20) || 20))
      ctx.body = state.statuses
        .filter((s) => s.userId === user.id)
        .slice(-count)
        .reverse()
        .map((s) => ({ text: s.text }))
    }),
  )

  // Echoes what was signed, for tests of signers and proxies: any method the proxy forwards, and any
  // path below echo/, whose escapes are signed as they arrived.
  const echo = api((ctx, user, form) => {
    ctx.body = { method: ctx.method, query: Object.fromEntries(new URLSearchParams(ctx.querystring)), form: Object.fromEntries(form), userId: user.id }
  })
  for (const path of ['/1.1/echo.json', '/1.1/echo/*rest']) router.get(path, echo).post(path, echo).put(path, echo).patch(path, echo).delete(path, echo)

  const app = new Koa()
  app.use(async (ctx, next) => {
    let reason: string | undefined
    try {
      await next()
      if (ctx.status === 404 && ctx.body === undefined) throw new OAuth1Refusal('not found', 404, 34)
      if (ctx.status >= 400) reason = `HTTP ${ctx.status}`
    } catch (error) {
      const refusal =
        error instanceof OAuth1Refusal
          ? error
          : (error as { status?: number; expose?: boolean }).expose
            ? new OAuth1Refusal((error as Error).message, (error as { status: number }).status, 0)
            : new OAuth1Refusal('server error', 500, 131)
      if (refusal.status === 500) ctx.app.emit('error', error, ctx)
      reason = refusal.message
      ctx.status = refusal.status
      if (refusal.status === 401) ctx.set('WWW-Authenticate', 'OAuth')
      if (ctx.path === AUTHORIZE_PATH) ctx.body = page('Cannot sign in', `<h1>This sign-in link is not valid any more.</h1><p>${escapeHtml(refusal.message)}</p>`)
      else ctx.body = { errors: [{ code: refusal.code, message: refusal.message }] }
    } finally {
      options.onRequest?.({ method: ctx.method, path: ctx.path, ok: reason === undefined, ...(reason === undefined ? {} : { reason }) })
    }
  })
  app.use(async (ctx, next) => {
    ctx.set('Cache-Control', 'no-store')
    // The consent page must not be framed (clickjacking) and needs nothing but its inline style.
    if (ctx.path === AUTHORIZE_PATH) ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
    await next()
  })
  app.use(router.routes())
  app.use(router.allowedMethods())
  return app
}

/** Starts the provider on `host` (default 127.0.0.1) and `port` (default ephemeral). */
export async function startOAuth1Provider(options: OAuth1ProviderOptions & { port?: number; host?: string }): Promise<RunningOAuth1Provider> {
  const host = options.host ?? '127.0.0.1'
  const server = createServer()
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port ?? 0, host, () => resolve())
  })
  const { address, port } = server.address() as AddressInfo
  // Bound to every interface: there is no one origin to pin, so the Host a client used is signed.
  const unspecified = address === '0.0.0.0' || address === '::'
  const reachable = address === '0.0.0.0' ? '127.0.0.1' : address === '::' ? '::1' : address
  const url = `http://${reachable.includes(':') ? `[${reachable}]` : reachable}:${port}`
  const state = new OAuth1ProviderState()
  const app = createOAuth1ProviderApp({ ...options, publicUrl: options.publicUrl ?? (unspecified ? undefined : url) }, state)
  printServerErrors(app)
  server.on('request', app.callback())
  return {
    url,
    requestTokenUrl: `${url}/oauth/request_token`,
    authorizationUrl: `${url}${AUTHORIZE_PATH}`,
    accessTokenUrl: `${url}/oauth/access_token`,
    profileUrl: `${url}/1.1/account/verify_credentials.json`,
    apiBaseUrl: `${url}/1.1`,
    statuses: state.statuses,
    revokeUserTokens: (userId) => state.revokeUserTokens(userId),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()))
        server.closeAllConnections()
      }),
  }
}
