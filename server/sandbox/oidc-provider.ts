import { randomBytes, randomUUID } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { calculateJwkThumbprint, exportJWK, generateKeyPair } from 'jose'
import type { Context, Middleware } from 'koa'
import Provider, { errors, type Configuration, type Interaction, type InteractionResults, type JWK } from 'oidc-provider'
import { escapeHtml, page, printServerErrors, readSmallBody } from './pages.ts'

/** A client registered with the sandbox provider (confidential, authorization code flow only). */
export interface OidcSandboxClient {
  clientId: string
  clientSecret: string
  redirectUris: string[]
  /** RFC 6749 §2.3.1; default `client_secret_basic`. */
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post'
  /**
   * Back-Channel Logout 1.0: where the provider posts a logout token when the user signs out here.
   * The client is then registered with `backchannel_logout_session_required`, so ID tokens carry `sid`.
   */
  backchannelLogoutUri?: string
  /** RP-Initiated Logout 1.0: where the end-session page may send the browser back to. */
  postLogoutRedirectUris?: string[]
}

export interface OidcSandboxUser {
  id: string
  name: string
  email: string
}

export interface OidcSandboxOptions {
  clients: OidcSandboxClient[]
  /** Default 0: an ephemeral port. */
  port?: number
  /** Default `127.0.0.1`. */
  host?: string
  /** Access token lifetime in seconds; default 3600. */
  accessTokenTtl?: number
  /** An account id: the authorization endpoint then signs in as that user and consents without showing any page. */
  autoApprove?: string | false
  /** Default: alice and bob. */
  users?: OidcSandboxUser[]
  /** Runs before the sandbox's own middleware is added: where tests put their counters and stalls. */
  instrument?: (provider: Provider) => void
  /** The private key (JWK) ID and logout tokens are signed with; default: an RS256 key made at start. */
  signingKey?: JWK
}

export interface RunningOidcSandbox {
  /** `http://HOST:PORT`, the same as `url`. */
  issuer: string
  url: string
  /** `${url}/api`: `GET /me`, `GET|POST /notes`, `ANY /echo`. */
  apiBaseUrl: string
  /** Destroys every grant of that account with its codes, access and refresh tokens (the user withdrew consent). */
  revokeGrantsFor(accountId: string): Promise<void>
  close(): Promise<void>
  provider: Provider
}

interface Note {
  id: string
  text: string
  createdAt: string
}

export const DEMO_USERS: readonly OidcSandboxUser[] = [
  { id: 'alice', name: 'Alice Liddell', email: 'alice@sandbox.example' },
  { id: 'bob', name: 'Bob Builder', email: 'bob@sandbox.example' },
]

export const REVOCATION_PATH = '/token/revocation'
const MAX_FORM_BYTES = 16 * 1024
const MAX_NOTE_BYTES = 64 * 1024
const MAX_NOTE_LENGTH = 2000
const DAY = 24 * 60 * 60

const SCOPE_DESCRIPTIONS: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your name',
  email: 'See your email address',
  offline_access: 'Keep access while you are away',
}

/**
 * Starts an OpenID Connect provider (oidc-provider, certified) on loopback, with a small bearer-token
 * API beside it, for the tests and the offline demo.
 */
export async function startOidcSandbox(options: OidcSandboxOptions): Promise<RunningOidcSandbox> {
  const users = new Map((options.users ?? DEMO_USERS).map((user) => [user.id, user]))
  if (options.autoApprove && !users.has(options.autoApprove)) {
    throw new TypeError(`autoApprove names "${options.autoApprove}", who is not one of the sandbox users`)
  }
  const host = options.host ?? '127.0.0.1'
  const server = createServer()
  await listen(server, options.port ?? 0, host)
  // The issuer must carry the real port, so the provider is only built once the port is known.
  const { port } = server.address() as AddressInfo
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`

  const provider = new Provider(url, await configuration(options, users))
  const grantsByAccount = indexGrantsByAccount(provider)
  options.instrument?.(provider)
  provider.use(sandboxApi(provider, users))
  provider.use(options.autoApprove ? autoApproveInteractions(provider, options.autoApprove) : interactionPages(provider, users))
  printServerErrors(provider)
  server.on('request', provider.callback())

  return {
    issuer: url,
    url,
    apiBaseUrl: `${url}/api`,
    provider,
    async revokeGrantsFor(accountId) {
      const grantIds = grantsByAccount.get(accountId) ?? new Set()
      grantsByAccount.delete(accountId)
      for (const grantId of grantIds) {
        await Promise.all([
          provider.AccessToken.revokeByGrantId(grantId),
          provider.RefreshToken.revokeByGrantId(grantId),
          provider.AuthorizationCode.revokeByGrantId(grantId),
        ])
        await provider.Grant.adapter.destroy(grantId)
      }
    },
    close: () => close(server),
  }
}

async function configuration(options: OidcSandboxOptions, users: Map<string, OidcSandboxUser>): Promise<Configuration> {
  return {
    clients: options.clients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: client.redirectUris,
      token_endpoint_auth_method: client.tokenEndpointAuthMethod ?? 'client_secret_basic',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      ...(client.backchannelLogoutUri && { backchannel_logout_uri: client.backchannelLogoutUri, backchannel_logout_session_required: true }),
      ...(client.postLogoutRedirectUris && { post_logout_redirect_uris: client.postLogoutRedirectUris }),
    })),
    clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
    responseTypes: ['code'],
    // RFC 9700 §2.1.1: PKCE for every client, confidential ones included.
    pkce: { required: () => true },
    // OAuth 2.1 §4.3.1: a used refresh token is spent; presenting it again revokes the whole grant.
    rotateRefreshToken: true,
    // A BFF needs a refresh token without asking the user for offline access.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    claims: {
      acr: null,
      sid: null,
      auth_time: null,
      iss: null,
      openid: ['sub'],
      profile: ['name'],
      email: ['email'],
    },
    findAccount: (_ctx, sub) => {
      const user = users.get(sub)
      if (!user) return undefined
      return { accountId: user.id, claims: () => ({ sub: user.id, name: user.name, email: user.email }) }
    },
    jwks: { keys: [options.signingKey ?? (await signingKey())] },
    enabledJWA: { idTokenSigningAlgValues: ['RS256'] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    // The default 15 s of leeway would keep a 2 s access token alive for 17 s; every clock here is ours.
    clockTolerance: 0,
    routes: { revocation: REVOCATION_PATH },
    ttl: {
      AccessToken: options.accessTokenTtl ?? 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      Interaction: 3600,
      RefreshToken: 14 * DAY,
      Session: 14 * DAY,
      Grant: 14 * DAY,
    },
    features: {
      devInteractions: { enabled: false },
      revocation: {
        enabled: true,
        // RFC 7009 §2.1: only the client the token was issued to may revoke it.
        allowedPolicy: (_ctx, client, token) => {
          if (token.clientId !== client.clientId) throw new errors.InvalidRequest('client is not authorized to revoke the presented token')
          return true
        },
      },
      introspection: {
        enabled: true,
        allowedPolicy: (_ctx, client, token) => token.clientId === client.clientId,
      },
      // Signing out here (the end-session page) posts a logout token to each client's back-channel URI.
      backchannelLogout: { enabled: true },
      rpInitiatedLogout: { enabled: true, logoutSource, postLogoutSuccessSource },
    },
    // oidc-provider refuses to call loopback addresses (SSRF protection); the sandbox and the BFF it
    // serves both live on loopback, and its only outgoing calls are the back-channel logouts to the
    // clients registered above.
    fetch: (url, init) => fetch(url, { ...init, dispatcher: undefined } as RequestInit),
    renderError: (ctx, out) => {
      ctx.type = 'html'
      const lines = Object.entries(out).map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(String(value))}</p>`)
      ctx.body = page('Sign-in error', `<h1>Something went wrong</h1>${lines.join('')}`)
    },
  }
}

/** The end-session page: oidc-provider's form (its xsrf field) with the sandbox's buttons inside. */
async function logoutSource(ctx: Context, form: string): Promise<void> {
  const buttons = `<p>Sign out of Sandbox OpenID, and of the applications that get a notice of it?</p>
<button type="submit" name="logout" value="yes" autofocus>Yes, sign me out</button>
<button type="submit">No, stay signed in</button>`
  ctx.type = 'html'
  ctx.body = page('Sign out · Sandbox OpenID', `<h1>Sign out?</h1>${form.replace('</form>', `${buttons}</form>`)}`)
}

async function postLogoutSuccessSource(ctx: Context): Promise<void> {
  ctx.type = 'html'
  ctx.body = page('Signed out · Sandbox OpenID', '<h1>You are signed out of Sandbox OpenID</h1>')
}

/** An RS256 key made at start: RS256 is every client's default id_token algorithm. */
async function signingKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk = await exportJWK(privateKey)
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'RS256', use: 'sig' }
}

/** The in-memory adapter cannot list grants by account, so the sandbox remembers them as they are saved. */
function indexGrantsByAccount(provider: Provider): Map<string, Set<string>> {
  const index = new Map<string, Set<string>>()
  provider.on('grant.saved', (grant) => {
    if (!grant.accountId) return
    const ids = index.get(grant.accountId) ?? new Set<string>()
    ids.add(grant.jti)
    index.set(grant.accountId, ids)
  })
  provider.on('grant.destroyed', (grant) => {
    if (grant.accountId) index.get(grant.accountId)?.delete(grant.jti)
  })
  return index
}

// ---------------------------------------------------------------------------------------------
// Interactions: /interaction/:uid is where oidc-provider sends the browser to sign in or consent.

const INTERACTION_PATH = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|confirm|abort))?$/

/** A page to show instead of finishing the interaction. */
interface InteractionPage {
  status: number
  html: string
}

type InteractionStep = (ctx: Context, details: Interaction) => Promise<InteractionResults | InteractionPage>

const isPage = (outcome: InteractionResults | InteractionPage): outcome is InteractionPage => typeof outcome.html === 'string'

/** Mounts the interaction routes; a step returns either a result to finish with, or a page to show. */
function interactionRoutes(provider: Provider, steps: Partial<Record<string, InteractionStep>>): Middleware {
  return async (ctx, next) => {
    const match = INTERACTION_PATH.exec(ctx.path)
    if (!match) return next()
    ctx.set('Cache-Control', 'no-store')
    ctx.set('Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
    const [, uid, action] = match
    const step = steps[`${ctx.method} ${action ?? ''}`]
    if (!step) {
      showPage(ctx, 405, page('Not allowed', '<h1>This page does not accept that request</h1>'))
      return
    }
    try {
      const details = await provider.interactionDetails(ctx.req, ctx.res)
      if (details.uid !== uid) throw new errors.SessionNotFound('interaction mismatch')
      const outcome = await step(ctx, details)
      if (isPage(outcome)) {
        showPage(ctx, outcome.status, outcome.html)
        return
      }
      const mergeWithLastSubmission = details.prompt.name !== 'login'
      ctx.redirect(await provider.interactionResult(ctx.req, ctx.res, outcome, { mergeWithLastSubmission }))
      ctx.status = 303
    } catch (error) {
      if (error instanceof errors.OIDCProviderError) {
        showPage(ctx, error.status, page('Sign-in expired', `<h1>This sign-in cannot continue</h1><p>${escapeHtml(error.error_description ?? error.message)}. Start again from the application.</p>`))
        return
      }
      ctx.app.emit('error', error, ctx)
      showPage(ctx, 500, page('Sign-in error', '<h1>Something went wrong</h1>'))
    }
  }
}

/** Tests: log in as one user and grant everything asked, without a page. */
function autoApproveInteractions(provider: Provider, accountId: string): Middleware {
  return interactionRoutes(provider, {
    'GET ': async (_ctx, details) => {
      if (details.prompt.name === 'login') return { login: { accountId } }
      if (details.prompt.name === 'consent') return { consent: { grantId: await grantRequested(provider, details) } }
      throw new errors.InvalidRequest(`unexpected prompt ${details.prompt.name}`)
    },
  })
}

/** The demo: a login page with a user list, then a consent page. */
function interactionPages(provider: Provider, users: Map<string, OidcSandboxUser>): Middleware {
  return interactionRoutes(provider, {
    'GET ': async (ctx, details) => {
      if (details.prompt.name === 'login') return loginPage(details, users)
      if (details.prompt.name === 'consent') return consentPage(details, users)
      throw new errors.InvalidRequest(`unexpected prompt ${details.prompt.name}`)
    },
    'POST login': async (ctx, details) => {
      if (details.prompt.name !== 'login') throw new errors.InvalidRequest('the login step is over')
      const account = (await readForm(ctx)).get('username') ?? ''
      if (!users.has(account)) return loginPage(details, users, 'Choose one of the listed users.')
      return { login: { accountId: account } }
    },
    'POST confirm': async (ctx, details) => {
      if (details.prompt.name !== 'consent') throw new errors.InvalidRequest('there is nothing to consent to')
      await readForm(ctx)
      return { consent: { grantId: await grantRequested(provider, details) } }
    },
    'POST abort': async (ctx) => {
      await readForm(ctx)
      return { error: 'access_denied', error_description: 'End-User aborted interaction' }
    },
  })
}

/** Grants what the consent prompt found missing, on top of the session's existing grant if it still exists. */
async function grantRequested(provider: Provider, details: Interaction): Promise<string> {
  const accountId = details.session?.accountId
  if (!accountId) throw new errors.InvalidRequest('no signed-in user to grant for')
  const existing = details.grantId ? await provider.Grant.find(details.grantId) : undefined
  const grant = existing ?? new provider.Grant({ accountId, clientId: String(details.params.client_id) })
  const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> }
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '))
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims)
  for (const [resource, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(resource, scopes.join(' '))
  return grant.save()
}

function loginPage(details: Interaction, users: Map<string, OidcSandboxUser>, problem?: string): InteractionPage {
  const client = escapeHtml(String(details.params.client_id))
  const options = [...users.values()].map((user) => `<option value="${escapeHtml(user.id)}">${escapeHtml(user.name)} (${escapeHtml(user.email)})</option>`)
  const html = page(
    'Sign in to Sandbox OpenID',
    `<h1>Sign in to Sandbox OpenID</h1>
<p><strong>${client}</strong> asks you to sign in.</p>
${problem ? `<p role="alert">${escapeHtml(problem)}</p>` : ''}
<form method="post" action="/interaction/${details.uid}/login">
<label for="username">User</label>
<select id="username" name="username" required>${options.join('')}</select>
<button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${details.uid}/abort"><button type="submit">Cancel</button></form>`,
  )
  return { status: problem ? 400 : 200, html }
}

function consentPage(details: Interaction, users: Map<string, OidcSandboxUser>): InteractionPage {
  const client = escapeHtml(String(details.params.client_id))
  const user = users.get(details.session?.accountId ?? '')
  const scopes = ((details.prompt.details.missingOIDCScope as string[] | undefined) ?? []).map(
    (scope) => `<li>${escapeHtml(SCOPE_DESCRIPTIONS[scope] ?? scope)}</li>`,
  )
  const html = page(
    'Allow access · Sandbox OpenID',
    `<h1>Allow access?</h1>
<p><strong>${client}</strong> wants to use your account${user ? `, ${escapeHtml(user.name)},` : ''} to:</p>
<ul>${scopes.join('')}</ul>
<form method="post" action="/interaction/${details.uid}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${details.uid}/abort"><button type="submit">Deny</button></form>`,
  )
  return { status: 200, html }
}

function showPage(ctx: Context, status: number, html: string): void {
  ctx.status = status
  ctx.type = 'html'
  ctx.body = html
}

async function readForm(ctx: Context): Promise<URLSearchParams> {
  if (!ctx.is('application/x-www-form-urlencoded')) return new URLSearchParams()
  return new URLSearchParams((await readBody(ctx, MAX_FORM_BYTES)).toString('utf8'))
}

// ---------------------------------------------------------------------------------------------
// The API: what the BFF proxies to. Bearer tokens per RFC 6750, checked against the provider's store.

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly challenge?: string,
  ) {
    super(code)
  }
}

type ApiHandler = (ctx: Context, user: OidcSandboxUser) => void | Promise<void>

function sandboxApi(provider: Provider, users: Map<string, OidcSandboxUser>): Middleware {
  const notes = new Map<string, Note[]>()
  const echo: ApiHandler = (ctx) => {
    ctx.body = { method: ctx.method, query: redactQuery(ctx.query), headers: redactHeaders(ctx.headers) }
  }
  const routes: Record<string, Partial<Record<string, ApiHandler>>> = {
    '/api/me': {
      GET: (ctx, user) => {
        ctx.body = { sub: user.id, name: user.name, email: user.email }
      },
    },
    '/api/notes': {
      GET: (ctx, user) => {
        ctx.body = { notes: notes.get(user.id) ?? [] }
      },
      POST: async (ctx, user) => {
        const text = await readNoteText(ctx)
        const note: Note = { id: randomUUID(), text, createdAt: new Date().toISOString() }
        notes.set(user.id, [...(notes.get(user.id) ?? []), note])
        ctx.status = 201
        ctx.body = note
      },
    },
    '/api/echo': { GET: echo, POST: echo, PUT: echo, PATCH: echo, DELETE: echo },
  }

  return async (ctx, next) => {
    if (ctx.path !== '/api' && !ctx.path.startsWith('/api/')) return next()
    ctx.set('Cache-Control', 'no-store')
    try {
      const user = await authenticate(ctx, provider, users)
      const methods = routes[ctx.path]
      if (!methods) throw new ApiError(404, 'not_found')
      // HEAD is GET without the body (Koa leaves the body out), as the proxy's HEAD expects of an API.
      const handler = methods[ctx.method === 'HEAD' ? 'GET' : ctx.method]
      if (!handler) {
        ctx.set('Allow', Object.keys(methods).flatMap((method) => (method === 'GET' ? ['GET', 'HEAD'] : [method])).join(', '))
        throw new ApiError(405, 'method_not_allowed')
      }
      await handler(ctx, user)
    } catch (error) {
      if (!(error instanceof ApiError)) ctx.app.emit('error', error, ctx)
      const answer = error instanceof ApiError ? error : new ApiError(500, 'server_error')
      if (answer.challenge) ctx.set('WWW-Authenticate', answer.challenge)
      ctx.status = answer.status
      ctx.body = { error: answer.code }
    }
  }
}

/** RFC 6750 §2.1 and §2.3; §3.1 for the answers. */
async function authenticate(ctx: Context, provider: Provider, users: Map<string, OidcSandboxUser>): Promise<OidcSandboxUser> {
  const header = ctx.get('Authorization')
  const query = ctx.query.access_token
  if ((header && query !== undefined) || Array.isArray(query)) throw new ApiError(400, 'invalid_request')
  if (!header && query === undefined) throw new ApiError(401, 'invalid_token', 'Bearer realm="sandbox"')
  const value = header ? /^Bearer +(\S{1,2048})$/i.exec(header)?.[1] : query
  const invalid = new ApiError(401, 'invalid_token', 'Bearer error="invalid_token"')
  if (!value) throw invalid
  // find() answers undefined for unknown, expired, revoked and session-bound tokens whose session ended.
  const token = await provider.AccessToken.find(value)
  if (!token?.accountId || !token.grantId || token.isExpired || !(await provider.Grant.find(token.grantId))) throw invalid
  const user = users.get(token.accountId)
  if (!user) throw invalid
  return user
}

async function readNoteText(ctx: Context): Promise<string> {
  if (!ctx.is('application/json')) throw new ApiError(415, 'unsupported_media_type')
  let body: unknown
  try {
    body = JSON.parse((await readBody(ctx, MAX_NOTE_BYTES)).toString('utf8'))
  } catch (error) {
    if (error instanceof ApiError) throw error
    throw new ApiError(400, 'invalid_json')
  }
  const text = (body as { text?: unknown } | null)?.text
  if (typeof text !== 'string' || !text.trim() || text.length > MAX_NOTE_LENGTH) throw new ApiError(400, 'invalid_note')
  return text
}

/** The echo shows what arrived, but never hands a token back to whoever reads the answer. */
function redactHeaders(headers: NodeJS.Dict<string | string[]>): NodeJS.Dict<string | string[]> {
  const copy = { ...headers }
  if (copy.authorization) copy.authorization = String(copy.authorization).replace(/^(\S+)\s.*$/, '$1 [redacted]')
  return copy
}

function redactQuery(query: NodeJS.Dict<string | string[]>): NodeJS.Dict<string | string[]> {
  return 'access_token' in query ? { ...query, access_token: '[redacted]' } : { ...query }
}

/** The shared reader, with the size limit answered the API's way. */
async function readBody(ctx: Context, maxBytes: number): Promise<Buffer> {
  const tooLarge = new ApiError(413, 'payload_too_large')
  if (Number(ctx.get('Content-Length') || 0) > maxBytes) throw tooLarge
  try {
    return await readSmallBody(ctx.req, maxBytes)
  } catch (error) {
    const status = (error as { status?: number }).status
    throw status === 413 ? tooLarge : status === 400 ? new ApiError(400, 'invalid_request') : error
  }
}

// ---------------------------------------------------------------------------------------------

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

function close(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((error) => (error ? reject(error) : resolve()))
    // Keep-alive sockets (fetch keeps them) would hold close() open until they time out.
    server.closeAllConnections()
  })
}
