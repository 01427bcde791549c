// What Koa itself costs: the bare proxy's job as one Koa middleware (no session, no database), and
// a JSON route shaped like a signed-in `GET /auth/session` answer for the session-read comparison.
import Koa from 'koa'
import { createServer } from 'node:http'
import { Pool } from 'undici'
import { FORWARDED_REQUEST_HEADERS as REQUEST_HEADERS, RETURNED_RESPONSE_HEADERS as RESPONSE_HEADERS } from '../server/proxy/headers.ts'
import { listen } from './child.ts'

const upstream = new URL(process.env.BENCH_UPSTREAM_URL ?? 'http://127.0.0.1:1/v1')
const token = process.env.BENCH_TOKEN ?? 'bench-token'
const pool = new Pool(upstream.origin)
const base = upstream.pathname.replace(/\/$/, '')

const SESSION = {
  authenticated: true,
  user: { id: '1', displayName: 'Bench user bench-proxy' },
  accounts: [{ provider: 'bench', identifier: 'bench-proxy', displayName: 'Bench user bench-proxy', status: 'active', connectedAt: '2025-01-01T00:00:00.000Z' }],
  expiresAt: '2025-01-01T02:00:00.000Z',
}

const app = new Koa()
app.use(async (ctx) => {
  ctx.set('Cache-Control', 'no-store')
  if (ctx.path === '/json') {
    ctx.body = SESSION
    return
  }
  const match = /^\/api\/bench\/(.*)$/.exec(ctx.path)
  if (!match || match[1].includes('..')) return ctx.throw(404)
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, 'user-agent': 'koa-proxy' }
  for (const name of REQUEST_HEADERS) if (ctx.get(name)) headers[name] = ctx.get(name)
  const hasBody = ctx.method !== 'GET' && ctx.method !== 'HEAD'
  const answer = await pool.request({ method: ctx.method as 'GET', path: `${base}/${match[1]}${ctx.search}`, headers, body: hasBody ? ctx.req : null })
  ctx.status = answer.statusCode
  for (const name of RESPONSE_HEADERS) {
    const value = answer.headers[name]
    if (value !== undefined) ctx.set(name, value)
  }
  // A client that leaves mid-answer aborts the upstream body: no error of the proxy's, and no crash.
  answer.body.on('error', () => {})
  ctx.body = answer.body
})
listen(createServer(app.callback()), 'koa proxy')
