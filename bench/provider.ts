// A local OAuth 2.0 provider that approves every authorization at once: the login bench's provider,
// and how the bench signs its browser in. The browser picks who signs in with the `X-Bench-User`
// header on the authorization request, as a person would pick an account.
// GET /authorize (code flow, state and PKCE S256 required) → 302 to redirect_uri with code and state;
// POST /token (client_secret_basic or _post; single-use code, redirect_uri and verifier checked) →
// a bearer token; GET /profile with that token → {"id","name"}.
// For the soak (BENCH_REFRESH=1): tokens live BENCH_TOKEN_SECONDS and come with a refresh token that
// rotates at each use; the soak revokes grants, slows or stops the token endpoint and reads the
// provider's count of refreshes over the IPC channel (`onCommand`). The access token names its user
// and expiry under a MAC keyed with BENCH_TOKEN_KEY, so the soak's API (bench/upstream.ts) checks
// it without asking the provider.
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { accessToken, sameText, tokenUser, USER } from './bearer-token.ts'
import { listen, onCommand } from './child.ts'

const CLIENT_ID = process.env.BENCH_CLIENT_ID ?? 'bench-client'
const CLIENT_SECRET = process.env.BENCH_CLIENT_SECRET ?? 'bench-secret'
const CODE_TTL_MS = 60_000
// Codes a browser never redeems expire; this bounds the map between sweeps.
const MAX_CODES = 20_000
const TOKEN_SECONDS = Number(process.env.BENCH_TOKEN_SECONDS ?? 3600)
const REFRESH = process.env.BENCH_REFRESH === '1'
/**
 * A refresh sent while the access token still had longer than this to live was not needed: the
 * BFF refreshes 60 s before expiry (REFRESH_MARGIN_MS), or once half its life is spent for a token
 * granted for under two minutes; the rest is slack for clocks and queues.
 */
const EARLY_REFRESH_MS = Math.min(60_000, (TOKEN_SECONDS * 1000) / 2) + 5_000

interface Grant {
  user: string
  redirectUri: string
  challenge: string
  expiresAt: number
}
const codes = new Map<string, Grant>()
// Tokens name their user and expiry and carry a MAC, so the profile endpoint needs no token table.
const tokenKey = process.env.BENCH_TOKEN_KEY ? Buffer.from(process.env.BENCH_TOKEN_KEY, 'base64') : randomBytes(32)
/** A refresh token and the grant it belongs to; kept once used, so a second use is seen. */
interface RefreshGrant {
  user: string
  /** When the access token issued with it expires (ms). */
  accessExpiresAt: number
  used: boolean
}
const refreshTokens = new Map<string, RefreshGrant>()
const counts = { codeGrants: 0, refreshGrants: 0, reusedRefreshTokens: 0, earlyRefreshes: 0, revokedRefusals: 0, abandonedByClient: 0, revokedGrants: 0 }
export type ProviderCounts = typeof counts
/** Faults the soak injects into the token endpoint. */
let tokenEndpoint: { mode: 'ok' } | { mode: 'slow'; delayMs: number } | { mode: 'down' } = { mode: 'ok' }

/** Issues an access token (and, for the soak, a fresh refresh token of the same grant). */
function tokenAnswer(user: string) {
  const expiresAt = Date.now() + TOKEN_SECONDS * 1000
  const answer: Record<string, unknown> = { access_token: accessToken(tokenKey, user, expiresAt), token_type: 'Bearer', expires_in: TOKEN_SECONDS }
  if (REFRESH) {
    const refreshToken = randomBytes(24).toString('base64url')
    refreshTokens.set(refreshToken, { user, accessExpiresAt: expiresAt, used: false })
    answer.refresh_token = refreshToken
  }
  return answer
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify(body))
}

function authorize(url: URL, req: IncomingMessage, res: ServerResponse): void {
  const p = url.searchParams
  const user = String(req.headers['x-bench-user'] ?? 'bench-user')
  const redirectUri = p.get('redirect_uri') ?? ''
  if (p.get('client_id') !== CLIENT_ID || p.get('response_type') !== 'code' || !p.get('state') || !p.get('code_challenge') || p.get('code_challenge_method') !== 'S256' || !URL.canParse(redirectUri) || !USER.test(user)) {
    return json(res, 400, { error: 'invalid_request' })
  }
  const now = Date.now()
  if (codes.size >= MAX_CODES) for (const [code, grant] of codes) if (grant.expiresAt < now) codes.delete(code)
  if (codes.size >= MAX_CODES) return json(res, 503, { error: 'temporarily_unavailable' })
  const code = randomBytes(16).toString('base64url')
  codes.set(code, { user, redirectUri, challenge: p.get('code_challenge') ?? '', expiresAt: now + CODE_TTL_MS })
  const target = new URL(redirectUri)
  target.searchParams.set('code', code)
  target.searchParams.set('state', p.get('state') ?? '')
  res.writeHead(302, { Location: target.toString() }).end()
}

function clientOf(req: IncomingMessage, form: URLSearchParams): [string, string] {
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')
  if (!basic) return [form.get('client_id') ?? '', form.get('client_secret') ?? '']
  const decoded = Buffer.from(basic[1], 'base64').toString('utf8')
  const colon = decoded.indexOf(':')
  const part = (text: string) => decodeURIComponent(text.replace(/\+/g, ' '))
  return [part(decoded.slice(0, colon)), part(decoded.slice(colon + 1))]
}

function token(req: IncomingMessage, res: ServerResponse, body: string): void {
  const form = new URLSearchParams(body)
  const [id, secret] = clientOf(req, form)
  if (id !== CLIENT_ID || !sameText(secret, CLIENT_SECRET)) return json(res, 401, { error: 'invalid_client' })
  if (form.get('grant_type') === 'refresh_token' && REFRESH) return refresh(res, form.get('refresh_token') ?? '')
  const code = form.get('code') ?? ''
  const grant = codes.get(code)
  codes.delete(code)
  const verifier = form.get('code_verifier') ?? ''
  if (
    form.get('grant_type') !== 'authorization_code' ||
    !grant ||
    grant.expiresAt < Date.now() ||
    grant.redirectUri !== form.get('redirect_uri') ||
    !sameText(createHash('sha256').update(verifier).digest('base64url'), grant.challenge)
  ) {
    return json(res, 400, { error: 'invalid_grant' })
  }
  counts.codeGrants++
  json(res, 200, tokenAnswer(grant.user))
}

/** RFC 6749 §6 with rotation: each refresh token works once, a revoked grant's not at all. */
function refresh(res: ServerResponse, refreshToken: string): void {
  const grant = refreshTokens.get(refreshToken)
  if (!grant) {
    counts.revokedRefusals++
    return json(res, 400, { error: 'invalid_grant' })
  }
  if (grant.used) {
    // The BFF sent a rotated-out token: two refreshes for one expiry.
    counts.reusedRefreshTokens++
    return json(res, 400, { error: 'invalid_grant' })
  }
  grant.used = true
  counts.refreshGrants++
  if (grant.accessExpiresAt - Date.now() > EARLY_REFRESH_MS) counts.earlyRefreshes++
  json(res, 200, tokenAnswer(grant.user))
}

function profile(req: IncomingMessage, res: ServerResponse): void {
  const user = tokenUser(req.headers.authorization, tokenKey)
  if (!user) return json(res, 401, { error: 'invalid_token' })
  json(res, 200, { id: user, name: `Bench user ${user}` })
}

const server = createServer((req, res) => {
  const url = new URL(req.url ?? '/', 'http://provider')
  if (req.method === 'GET' && url.pathname === '/authorize') return authorize(url, req, res)
  if (req.method === 'GET' && url.pathname === '/profile') return profile(req, res)
  if (req.method !== 'POST' || url.pathname !== '/token') return json(res, 404, { error: 'not_found' })
  let body = ''
  req.setEncoding('utf8')
  req.on('data', (chunk: string) => {
    body += chunk
    if (body.length > 8192) req.destroy()
  })
  req.on('end', () => {
    if (tokenEndpoint.mode === 'down') return json(res, 503, { error: 'temporarily_unavailable' })
    if (tokenEndpoint.mode === 'ok') return token(req, res, body)
    // Slow: a client that gave up meanwhile gets nothing, and nothing is granted (a rotation it
    // never saw would leave it holding a spent refresh token; real providers allow a grace period).
    setTimeout(() => {
      if (res.destroyed || req.socket.destroyed) counts.abandonedByClient++
      else token(req, res, body)
    }, tokenEndpoint.delayMs)
  })
})
listen(server, 'bench provider')

export type ProviderCommand = { tokenEndpoint: typeof tokenEndpoint } | { revoke: string } | { counts: true }

onCommand((command: ProviderCommand) => {
  if ('tokenEndpoint' in command) tokenEndpoint = command.tokenEndpoint
  else if ('revoke' in command) {
    // The user withdrew the app's access: every refresh token of theirs stops working.
    for (const [refreshToken, grant] of refreshTokens) if (grant.user === command.revoke && !grant.used) refreshTokens.delete(refreshToken)
    counts.revokedGrants++
  }
  return { ...counts }
})
