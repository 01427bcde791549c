import Koa, { type Context } from 'koa'
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { escapeHtml, page, readSmallBody } from './pages.ts'

export interface OAuth1SandboxUser {
  id: string
  screenName: string
  name: string
}

export interface OAuth1ProviderOptions {
  consumers: { key: string; secret: string }[]
  /** A screen name: the authorization page sends that user straight back (tests). */
  autoApprove?: string | false
  users?: OAuth1SandboxUser[]
}

export interface RunningOAuth1Provider {
  url: string
  requestTokenUrl: string
  authorizationUrl: string
  accessTokenUrl: string
  profileUrl: string
  apiBaseUrl: string
  /** Every request it judged, for assertions. */
  requests: { method: string; path: string; ok: boolean; reason?: string }[]
  statuses: { userId: string; text: string }[]
  revokeUserTokens(userId: string): void
  close(): Promise<void>
}

export const DEMO_OAUTH1_USERS: OAuth1SandboxUser[] = [
  { id: '1001', screenName: 'alice', name: 'Alice Liddell' },
  { id: '1002', screenName: 'bob', name: 'Bob Builder' },
]

interface RequestToken {
  secret: string
  consumer: string
  callback: string
  verifier?: string
  userId?: string
}

interface AccessToken {
  secret: string
  consumer: string
  userId: string
}

class OAuthRejection extends Error {}

// RFC 5849 §3.6, written here independently of the BFF's signer so each checks the other.
const encode = (value: string) => encodeURIComponent(value).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())

/** Parses `Authorization: OAuth k="v", …` (RFC 5849 §3.5.1), refusing duplicates and junk. */
function parseAuthorization(header: string): Map<string, string> {
  const match = /^OAuth\s+(.*)$/i.exec(header.trim())
  if (!match) throw new OAuthRejection('no OAuth Authorization header')
  const params = new Map<string, string>()
  for (const part of match[1].split(',')) {
    const pair = /^\s*([A-Za-z0-9_%.~-]+)="([^"]*)"\s*$/.exec(part)
    if (!pair) throw new OAuthRejection('malformed Authorization header')
    const key = decodeURIComponent(pair[1])
    if (key === 'realm') continue
    if (params.has(key)) throw new OAuthRejection(`duplicate ${key}`)
    params.set(key, decodeURIComponent(pair[2]))
  }
  return params
}

/**
 * A strict OAuth 1.0a provider modelled on Twitter's endpoints, for tests and the offline demo:
 * HMAC-SHA1 only, signatures over query, form body and protocol parameters compared in constant
 * time, timestamps within 5 minutes, nonces never reused, request tokens single use.
 */
export function createOAuth1ProviderApp(options: OAuth1ProviderOptions, state: Pick<RunningOAuth1Provider, 'requests' | 'statuses'> & { baseUrl: () => string }) {
  const users = options.users ?? DEMO_OAUTH1_USERS
  const consumers = new Map(options.consumers.map((c) => [c.key, c.secret]))
  const requestTokens = new Map<string, RequestToken>()
  const accessTokens = new Map<string, AccessToken>()
  const nonces = new Set<string>()
  const app = new Koa()

  async function verify(ctx: Context, kind: 'none' | 'request' | 'access'): Promise<{ params: Map<string, string>; form: URLSearchParams; token?: RequestToken | AccessToken }> {
    const params = parseAuthorization(ctx.get('Authorization'))
    if (params.get('oauth_signature_method') !== 'HMAC-SHA1') throw new OAuthRejection('only HMAC-SHA1 is accepted')
    if (params.has('oauth_version') && params.get('oauth_version') !== '1.0') throw new OAuthRejection('bad oauth_version')
    const consumerKey = params.get('oauth_consumer_key') ?? ''
    const consumerSecret = consumers.get(consumerKey)
    if (consumerSecret === undefined) throw new OAuthRejection('unknown consumer')
    const timestamp = params.get('oauth_timestamp') ?? ''
    if (!/^\d{10}$/.test(timestamp) || Math.abs(Number(timestamp) - Date.now() / 1000) > 300) throw new OAuthRejection('stale or malformed timestamp')
    const nonce = params.get('oauth_nonce') ?? ''
    if (!/^[A-Za-z0-9]{8,64}$/.test(nonce)) throw new OAuthRejection('malformed nonce')
    let token: RequestToken | AccessToken | undefined
    const tokenKey = params.get('oauth_token')
    if (kind === 'none') {
      if (tokenKey) throw new OAuthRejection('no token expected')
    } else {
      token = tokenKey ? (kind === 'request' ? requestTokens.get(tokenKey) : accessTokens.get(tokenKey)) : undefined
      if (!token || token.consumer !== consumerKey) throw new OAuthRejection(`unknown ${kind} token`)
    }
    const form = /^application\/x-www-form-urlencoded/i.test(ctx.get('Content-Type'))
      ? new URLSearchParams((await readSmallBody(ctx.req, 100_000)).toString('utf8'))
      : new URLSearchParams()
    const all: [string, string][] = [
      ...new URLSearchParams(ctx.querystring),
      ...form,
      ...[...params].filter(([key]) => key !== 'oauth_signature'),
    ]
    const normalized = all
      .map(([k, v]) => [encode(k), encode(v)])
      .sort(([ak, av], [bk, bv]) => (ak === bk ? (av < bv ? -1 : av > bv ? 1 : 0) : ak < bk ? -1 : 1))
      .map(([k, v]) => `${k}=${v}`)
      .join('&')
    const baseUri = `${state.baseUrl()}${ctx.path}`
    const base = `${ctx.method.toUpperCase()}&${encode(baseUri)}&${encode(normalized)}`
    const key = `${encode(consumerSecret)}&${encode(token?.secret ?? '')}`
    const expected = createHmac('sha1', key).update(base).digest()
    const given = Buffer.from(params.get('oauth_signature') ?? '', 'base64')
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw new OAuthRejection('signature does not match')
    // The nonce is spent only by a correctly signed request, so a forged request cannot burn it.
    const nonceKey = `${consumerKey}:${timestamp}:${nonce}`
    if (nonces.has(nonceKey)) throw new OAuthRejection('nonce already used')
    nonces.add(nonceKey)
    return { params, form, token }
  }

  app.use(async (ctx, next) => {
    try {
      await next()
      state.requests.push({ method: ctx.method, path: ctx.path, ok: ctx.status < 400 })
    } catch (error) {
      if (!(error instanceof OAuthRejection)) throw error
      state.requests.push({ method: ctx.method, path: ctx.path, ok: false, reason: error.message })
      ctx.status = 401
      ctx.set('WWW-Authenticate', 'OAuth realm="sandbox"')
      ctx.body = { errors: [{ code: 32, message: error.message }] }
    }
  })

  app.use(async (ctx, next) => {
    const user = (id: string) => users.find((u) => u.id === id)
    const approve = (token: string, request: RequestToken, userId: string) => {
      request.verifier = randomBytes(16).toString('hex')
      request.userId = userId
      const target = new URL(request.callback)
      target.searchParams.set('oauth_token', token)
      target.searchParams.set('oauth_verifier', request.verifier)
      ctx.redirect(target.toString())
    }

    if (ctx.method === 'POST' && ctx.path === '/oauth/request_token') {
      const { params } = await verify(ctx, 'none')
      const callback = params.get('oauth_callback') ?? ''
      if (!/^https?:\/\//.test(callback)) throw new OAuthRejection('oauth_callback must be an absolute URL')
      const token = randomBytes(16).toString('hex')
      const secret = randomBytes(24).toString('hex')
      requestTokens.set(token, { secret, consumer: params.get('oauth_consumer_key') ?? '', callback })
      ctx.type = 'application/x-www-form-urlencoded'
      ctx.body = new URLSearchParams({ oauth_token: token, oauth_token_secret: secret, oauth_callback_confirmed: 'true' }).toString()
      return
    }

    if (ctx.path === '/oauth/authorize') {
      const token = (ctx.method === 'GET' ? ctx.query.oauth_token : undefined) as string | undefined
      if (ctx.method === 'GET') {
        const request = token ? requestTokens.get(token) : undefined
        if (!token || !request || request.verifier) {
          ctx.status = 400
          ctx.body = page('Unknown request', '<h1>This sign-in link is not valid any more.</h1>')
          return
        }
        const auto = options.autoApprove ? users.find((u) => u.screenName === options.autoApprove) : undefined
        if (auto) return approve(token, request, auto.id)
        ctx.type = 'html'
        ctx.body = page(
          'Authorize access',
          `<h1>Sign in to the OAuth 1.0a sandbox</h1>
<p>An application asks to use your sandbox account.</p>
<form method="post" action="/oauth/authorize">
  <input type="hidden" name="oauth_token" value="${escapeHtml(token)}">
  <label for="user">User</label>
  <select id="user" name="user">${users.map((u) => `<option value="${escapeHtml(u.id)}">${escapeHtml(u.name)} (@${escapeHtml(u.screenName)})</option>`).join('')}</select>
  <button type="submit" name="decision" value="allow">Allow</button>
  <button type="submit" name="decision" value="deny">Deny</button>
</form>`,
        )
        return
      }
      if (ctx.method === 'POST') {
        const form = new URLSearchParams((await readSmallBody(ctx.req, 10_000)).toString('utf8'))
        const posted = form.get('oauth_token') ?? ''
        const request = requestTokens.get(posted)
        if (!request || request.verifier || !user(form.get('user') ?? '')) {
          ctx.status = 400
          ctx.body = page('Unknown request', '<h1>This sign-in link is not valid any more.</h1>')
          return
        }
        if (form.get('decision') !== 'allow') {
          requestTokens.delete(posted)
          const target = new URL(request.callback)
          target.searchParams.set('denied', posted)
          ctx.redirect(target.toString())
          return
        }
        return approve(posted, request, form.get('user') ?? '')
      }
    }

    if (ctx.method === 'POST' && ctx.path === '/oauth/access_token') {
      const { params, token } = await verify(ctx, 'request')
      const request = token as RequestToken
      const key = params.get('oauth_token') ?? ''
      // Single use whatever happens next: a request token that reached this endpoint is spent.
      requestTokens.delete(key)
      const verifier = params.get('oauth_verifier') ?? ''
      if (!request.verifier || !request.userId || verifier.length !== request.verifier.length || !timingSafeEqual(Buffer.from(verifier), Buffer.from(request.verifier))) {
        throw new OAuthRejection('wrong oauth_verifier')
      }
      const access = randomBytes(16).toString('hex')
      const secret = randomBytes(24).toString('hex')
      accessTokens.set(access, { secret, consumer: request.consumer, userId: request.userId })
      ctx.type = 'application/x-www-form-urlencoded'
      ctx.body = new URLSearchParams({ oauth_token: access, oauth_token_secret: secret, user_id: request.userId, screen_name: user(request.userId)?.screenName ?? '' }).toString()
      return
    }

    if (ctx.path.startsWith('/1.1/')) {
      const { token, form } = await verify(ctx, 'access')
      const account = user((token as AccessToken).userId)
      if (!account) throw new OAuthRejection('unknown user')
      const route = `${ctx.method} ${ctx.path}`
      if (route === 'GET /1.1/account/verify_credentials.json') {
        ctx.body = { id: Number(account.id), id_str: account.id, screen_name: account.screenName, name: account.name }
      } else if (route === 'POST /1.1/statuses/update.json') {
        const text = form.get('status')
        if (!text) {
          ctx.status = 400
          ctx.body = { errors: [{ code: 170, message: 'Missing required parameter: status.' }] }
          return
        }
        state.statuses.push({ userId: account.id, text })
        ctx.body = { id: state.statuses.length, id_str: String(state.statuses.length), text, user: { id_str: account.id, screen_name: account.screenName } }
      } else if (route === 'GET /1.1/statuses/home_timeline.json') {
        const count = Math.max(1, Math.min(200, Number(ctx.query.count ?? 20) || 20))
        ctx.body = state.statuses.filter((s) => s.userId === account.id).slice(-count).reverse().map((s) => ({ text: s.text }))
      } else if (ctx.path === '/1.1/echo.json') {
        ctx.body = { method: ctx.method, query: Object.fromEntries(new URLSearchParams(ctx.querystring)), form: Object.fromEntries(form), userId: account.id }
      } else {
        ctx.status = 404
        ctx.body = { errors: [{ code: 34, message: 'Sorry, that page does not exist.' }] }
      }
      return
    }
    await next()
  })

  return {
    app,
    revokeUserTokens(userId: string) {
      for (const [key, token] of accessTokens) if (token.userId === userId) accessTokens.delete(key)
    },
  }
}

export async function startOAuth1Provider(options: OAuth1ProviderOptions & { port?: number; host?: string }): Promise<RunningOAuth1Provider> {
  const host = options.host ?? '127.0.0.1'
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve))
  const { port } = server.address() as { port: number }
  const url = `http://${host}:${port}`
  const state = { requests: [] as RunningOAuth1Provider['requests'], statuses: [] as RunningOAuth1Provider['statuses'], baseUrl: () => url }
  const { app, revokeUserTokens } = createOAuth1ProviderApp(options, state)
  server.on('request', app.callback())
  return {
    url,
    requestTokenUrl: `${url}/oauth/request_token`,
    authorizationUrl: `${url}/oauth/authorize`,
    accessTokenUrl: `${url}/oauth/access_token`,
    profileUrl: `${url}/1.1/account/verify_credentials.json`,
    apiBaseUrl: `${url}/1.1`,
    requests: state.requests,
    statuses: state.statuses,
    revokeUserTokens,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
