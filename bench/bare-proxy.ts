// The reference the BFF's proxy is measured against: the least a proxy with the same job can do.
// `ANY /api/bench/<path>` goes to BENCH_UPSTREAM_URL + /<path> with a fixed bearer token; only
// the headers the BFF allows cross in either direction; bodies are streamed both ways.
import { createServer, type IncomingHttpHeaders } from 'node:http'
import { pipeline } from 'node:stream'
import { Pool } from 'undici'
import { FORWARDED_REQUEST_HEADERS as REQUEST_HEADERS, RETURNED_RESPONSE_HEADERS as RESPONSE_HEADERS } from '../server/proxy/headers.ts'
import { listen } from './child.ts'

const upstream = new URL(process.env.BENCH_UPSTREAM_URL ?? 'http://127.0.0.1:1/v1')
const token = process.env.BENCH_TOKEN ?? 'bench-token'
const pool = new Pool(upstream.origin)
const base = upstream.pathname.replace(/\/$/, '')
const ROUTE = /^\/api\/bench\/([^?]*)(\?.*)?$/

function pick(source: IncomingHttpHeaders | Record<string, string | string[] | undefined>, names: string[], into: Record<string, string | string[]>) {
  for (const name of names) {
    const value = source[name]
    if (value !== undefined) into[name] = value
  }
  return into
}

const server = createServer((req, res) => {
  const match = ROUTE.exec(req.url ?? '')
  if (!match || match[1].includes('..')) {
    res.writeHead(404, { 'Content-Type': 'application/json' }).end('{"error":"not_found"}')
    return
  }
  const method = req.method ?? 'GET'
  const hasBody = method !== 'GET' && method !== 'HEAD'
  pool
    .request({
      method: method as 'GET',
      path: `${base}/${match[1]}${match[2] ?? ''}`,
      headers: pick(req.headers, REQUEST_HEADERS, { authorization: `Bearer ${token}`, 'user-agent': 'bare-proxy' }),
      body: hasBody ? req : null,
    })
    .then(
      ({ statusCode, headers, body }) => {
        res.writeHead(statusCode, pick(headers, RESPONSE_HEADERS, { 'cache-control': 'no-store' }))
        pipeline(body, res, () => {})
      },
      () => {
        if (!res.headersSent) res.writeHead(502, { 'Content-Type': 'application/json' })
        res.end('{"error":"upstream_unreachable"}')
      },
    )
})
listen(server, 'bare proxy')
