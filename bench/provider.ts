// A local OAuth 2.0 provider that approves every authorization at once: the login bench's provider,
// and how the bench signs its browser in. The browser picks who signs in with the `X-Bench-User`
// header on the authorization request, as a person would pick an account.
// GET /authorize (code flow, state and PKCE S256 required) → 302 to redirect_uri with code and state;
// POST /token (client_secret_basic or _post; single-use code, redirect_uri and verifier checked) →
// a bearer token; GET /profile with that token → {"id","name"}.
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { listen } from './child.ts'

const CLIENT_ID = process.env.BENCH_CLIENT_ID ?? 'bench-client'
const CLIENT_SECRET = process.env.BENCH_CLIENT_SECRET ?? 'bench-secret'
const CODE_TTL_MS = 60_000
// Codes a browser never redeems expire; this bounds the map between sweeps.
const MAX_CODES = 20_000
const USER = /^[\w.-]{1,100}$/

interface Grant {
  user: string
  redirectUri: string
  challenge: string
  expiresAt: number
}
const codes = new Map<string, Grant>()
// Tokens name their user and carry a MAC, so the profile endpoint needs no token table.
const tokenKey = randomBytes(32)
const mac = (user: string) => createHmac('sha256', tokenKey).update(user).digest('base64url')

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' }).end(JSON.stringify(body))
}

function sameText(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
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
  json(res, 200, { access_token: `${Buffer.from(grant.user).toString('base64url')}.${mac(grant.user)}`, token_type: 'Bearer', expires_in: 3600 })
}

function profile(req: IncomingMessage, res: ServerResponse): void {
  const [, encoded = '', tag = ''] = /^Bearer ([\w-]+)\.([\w-]+)$/.exec(req.headers.authorization ?? '') ?? []
  const user = Buffer.from(encoded, 'base64url').toString('utf8')
  if (!USER.test(user) || !sameText(tag, mac(user))) return json(res, 401, { error: 'invalid_token' })
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
  req.on('end', () => token(req, res, body))
})
listen(server, 'bench provider')
