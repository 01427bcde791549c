import { exportJWK, generateKeyPair } from 'jose'
import type { Context, Next } from 'koa'
import { randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { readSmallBody, escapeHtml, page } from './pages.ts'

// oidc-provider's types lag its major versions; the few members used here are typed locally.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type OidcProvider = any

export interface OidcSandboxClient {
  clientId: string
  clientSecret: string
  redirectUris: string[]
  tokenEndpointAuthMethod?: 'client_secret_basic' | 'client_secret_post'
}

export interface OidcSandboxUser {
  id: string
  name: string
  email: string
}

export interface OidcSandboxOptions {
  clients: OidcSandboxClient[]
  port?: number
  host?: string
  /** Seconds an access token lives; default 3600. */
  accessTokenTtl?: number
  /** An account id: log in as that user and consent at once, with no page (tests). */
  autoApprove?: string | false
  users?: OidcSandboxUser[]
}

export interface OidcSandboxStats {
  refreshGrants: number
  refreshFailures: number
  authorizationCodeGrants: number
  revocations: number
  apiCalls: number
}

export interface RunningOidcSandbox {
  issuer: string
  url: string
  apiBaseUrl: string
  stats: OidcSandboxStats
  revokeGrantsFor(accountId: string): Promise<void>
  close(): Promise<void>
  provider: OidcProvider
}

export const DEMO_USERS: OidcSandboxUser[] = [
  { id: 'alice', name: 'Alice Liddell', email: 'alice@sandbox.example' },
  { id: 'bob', name: 'Bob Builder', email: 'bob@sandbox.example' },
]

interface Note {
  id: number
  text: string
  createdAt: string
}

/**
 * An OpenID Connect provider for tests and the offline demo, built on the certified `oidc-provider`
 * and configured as a careful provider would be: PKCE required, refresh tokens rotated on every use,
 * RFC 9207 `iss` in authorization responses, revocation on. It also serves a small API under `/api`.
 */
export async function startOidcSandbox(options: OidcSandboxOptions): Promise<RunningOidcSandbox> {
  const { default: Provider } = (await import('oidc-provider')) as { default: new (issuer: string, config: object) => OidcProvider }
  const users = options.users ?? DEMO_USERS
  const host = options.host ?? '127.0.0.1'
  const server: Server = createServer()
  await new Promise<void>((resolve) => server.listen(options.port ?? 0, host, resolve))
  const { port } = server.address() as { port: number }
  const url = `http://${host}:${port}`

  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk = { ...(await exportJWK(privateKey)), kid: randomBytes(8).toString('hex'), alg: 'RS256', use: 'sig' }
  const stats: OidcSandboxStats = { refreshGrants: 0, refreshFailures: 0, authorizationCodeGrants: 0, revocations: 0, apiCalls: 0 }
  const grantsByAccount = new Map<string, Set<string>>()
  const notes = new Map<string, Note[]>()

  const provider: OidcProvider = new Provider(url, {
    clients: options.clients.map((client) => ({
      client_id: client.clientId,
      client_secret: client.clientSecret,
      redirect_uris: client.redirectUris,
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: client.tokenEndpointAuthMethod ?? 'client_secret_basic',
    })),
    jwks: { keys: [jwk] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'offline_access', 'profile', 'email'],
    claims: { openid: ['sub'], profile: ['name'], email: ['email', 'email_verified'] },
    findAccount: async (_ctx: unknown, sub: string) => {
      const user = users.find((candidate) => candidate.id === sub)
      if (!user) return undefined
      return { accountId: user.id, claims: async () => ({ sub: user.id, name: user.name, email: user.email, email_verified: true }) }
    },
    pkce: { required: () => true },
    // Every authorization-code grant gets a refresh token (not only offline_access), and each use rotates it.
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      introspection: { enabled: true },
    },
    ttl: {
      AccessToken: options.accessTokenTtl ?? 3600,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 14 * 24 * 3600,
      Interaction: 3600,
      Session: 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
    interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
    renderError: async (ctx: Context, out: Record<string, string>) => {
      ctx.type = 'html'
      ctx.body = page('Sign-in error', `<h1>Sign-in error</h1><p>${escapeHtml(out.error ?? '')}: ${escapeHtml(out.error_description ?? '')}</p>`)
    },
  })

  provider.on('grant.success', (ctx: { oidc: { params: { grant_type?: string } } }) => {
    if (ctx.oidc.params.grant_type === 'refresh_token') stats.refreshGrants++
    if (ctx.oidc.params.grant_type === 'authorization_code') stats.authorizationCodeGrants++
  })
  provider.on('grant.error', (ctx: { oidc: { params?: { grant_type?: string } } }) => {
    if (ctx.oidc.params?.grant_type === 'refresh_token') stats.refreshFailures++
  })
  const remember = (token: { accountId?: string; grantId?: string }) => {
    if (!token.accountId || !token.grantId) return
    const grants = grantsByAccount.get(token.accountId) ?? new Set<string>()
    grants.add(token.grantId)
    grantsByAccount.set(token.accountId, grants)
  }
  provider.on('access_token.saved', remember)
  provider.on('refresh_token.saved', remember)

  async function finishConsent(ctx: Context, details: OidcProvider, accountId: string) {
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId, clientId: details.params.client_id })
    const missing = details.prompt.details
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '))
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims)
    if (missing.missingResourceScopes) {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes as Record<string, string[]>)) grant.addResourceScope(indicator, scopes.join(' '))
    }
    const grantId = await grant.save()
    ctx.respond = false
    await provider.interactionFinished(ctx.req, ctx.res, { consent: details.grantId ? {} : { grantId } }, { mergeWithLastSubmission: true })
  }

  async function interaction(ctx: Context, next: Next) {
    const match = /^\/interaction\/([^/]+)(?:\/(login|confirm|abort))?$/.exec(ctx.path)
    if (!match) return next()
    const details = await provider.interactionDetails(ctx.req, ctx.res)
    const action = match[2]
    const prompt = details.prompt.name as string
    const client = details.params.client_id as string
    if (ctx.method === 'GET' && !action) {
      if (options.autoApprove) {
        if (prompt === 'login') {
          ctx.respond = false
          await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: options.autoApprove } }, { mergeWithLastSubmission: false })
          return
        }
        return finishConsent(ctx, details, details.session?.accountId ?? options.autoApprove)
      }
      ctx.type = 'html'
      ctx.body =
        prompt === 'login'
          ? page(
              'Sign in to the sandbox',
              `<h1>Sign in to the OpenID sandbox</h1>
<p>${escapeHtml(client)} asks you to sign in.</p>
<form method="post" action="/interaction/${escapeHtml(details.uid)}/login">
  <label for="username">User</label>
  <select id="username" name="username">${users.map((u) => `<option value="${escapeHtml(u.id)}">${escapeHtml(u.name)} (${escapeHtml(u.id)})</option>`).join('')}</select>
  <button type="submit">Sign in</button>
</form>
<form method="post" action="/interaction/${escapeHtml(details.uid)}/abort"><button type="submit">Cancel</button></form>`,
            )
          : page(
              'Allow access',
              `<h1>Allow access?</h1>
<p>${escapeHtml(client)} asks to read your profile and email.</p>
<form method="post" action="/interaction/${escapeHtml(details.uid)}/confirm"><button type="submit">Allow</button></form>
<form method="post" action="/interaction/${escapeHtml(details.uid)}/abort"><button type="submit">Deny</button></form>`,
            )
      return
    }
    if (ctx.method !== 'POST') return next()
    const form = new URLSearchParams((await readSmallBody(ctx.req, 10_000)).toString('utf8'))
    if (action === 'login') {
      const username = form.get('username') ?? ''
      if (!users.some((u) => u.id === username)) {
        ctx.status = 400
        ctx.body = page('Unknown user', '<h1>Unknown user</h1>')
        return
      }
      ctx.respond = false
      await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: username } }, { mergeWithLastSubmission: false })
      return
    }
    if (action === 'confirm') return finishConsent(ctx, details, details.session.accountId)
    ctx.respond = false
    await provider.interactionFinished(ctx.req, ctx.res, { error: 'access_denied', error_description: 'End-User aborted interaction' }, { mergeWithLastSubmission: false })
  }

  async function api(ctx: Context, next: Next) {
    if (ctx.path !== '/api' && !ctx.path.startsWith('/api/')) return next()
    stats.apiCalls++
    const bearer = /^Bearer (.+)$/i.exec(ctx.get('Authorization'))?.[1] ?? (typeof ctx.query.access_token === 'string' ? ctx.query.access_token : '')
    const token = bearer ? await provider.AccessToken.find(bearer) : undefined
    if (!token || token.isExpired) {
      ctx.status = 401
      ctx.set('WWW-Authenticate', 'Bearer error="invalid_token"')
      ctx.body = { error: 'invalid_token' }
      return
    }
    const user = users.find((u) => u.id === token.accountId)
    const path = ctx.path.slice('/api'.length)
    if (path === '/me' && ctx.method === 'GET') {
      ctx.body = { sub: user?.id ?? token.accountId, name: user?.name, email: user?.email }
    } else if (path === '/notes' && ctx.method === 'GET') {
      ctx.body = { notes: notes.get(token.accountId) ?? [] }
    } else if (path === '/notes' && ctx.method === 'POST') {
      let text: unknown
      try {
        text = JSON.parse((await readSmallBody(ctx.req, 100_000)).toString('utf8')).text
      } catch {
        text = undefined
      }
      if (typeof text !== 'string' || !text) {
        ctx.status = 400
        ctx.body = { error: 'invalid_request', error_description: 'text is required' }
        return
      }
      const list = notes.get(token.accountId) ?? []
      const note = { id: list.length + 1, text, createdAt: new Date().toISOString() }
      list.push(note)
      notes.set(token.accountId, list)
      ctx.status = 201
      ctx.body = note
    } else if (path === '/echo') {
      ctx.body = { method: ctx.method, query: ctx.query, headers: ctx.headers }
    } else {
      ctx.status = 404
      ctx.body = { error: 'not_found' }
    }
  }

  provider.use(async (ctx: Context, next: Next) => {
    await next()
    if (ctx.path === '/token/revocation' && ctx.status === 200) stats.revocations++
  })
  provider.use(interaction)
  provider.use(api)
  server.on('request', provider.callback())

  return {
    issuer: url,
    url,
    apiBaseUrl: `${url}/api`,
    stats,
    provider,
    async revokeGrantsFor(accountId) {
      for (const grantId of grantsByAccount.get(accountId) ?? []) {
        await Promise.all([provider.AccessToken.revokeByGrantId(grantId), provider.RefreshToken.revokeByGrantId(grantId), provider.AuthorizationCode.revokeByGrantId(grantId)])
        const grant = await provider.Grant.find(grantId)
        await grant?.destroy()
      }
      grantsByAccount.delete(accountId)
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}
