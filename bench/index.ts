// `npm run bench`: prints the figures all-access is judged by (size of the React library, cost of
// the BFF's proxy and session routes) with ratios to the references in shared/reference/anchors.md.
// Numbers, not assertions: the tests never time anything.
import { readFileSync } from 'node:fs'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { transform } from 'esbuild'
import { startBff } from '../test/support/bff.ts'
import { startEchoUpstream } from '../test/support/echo-upstream.ts'
import { signedIn } from '../test/support/signed-in.ts'

const CSRF = { 'X-CSRF': '1' }

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
}

async function timeRequests(label: string, count: number, call: () => Promise<Response>) {
  for (let i = 0; i < 50; i++) await (await call()).arrayBuffer() // warm-up
  const times: number[] = []
  for (let i = 0; i < count; i++) {
    const started = performance.now()
    const response = await call()
    await response.arrayBuffer()
    if (!response.ok) throw new Error(`${label}: ${response.status}`)
    times.push(performance.now() - started)
  }
  times.sort((a, b) => a - b)
  return { label, median: quantile(times, 0.5), p95: quantile(times, 0.95) }
}

async function throughput(count: number, concurrency: number, call: () => Promise<Response>) {
  let next = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < count) await (await call()).arrayBuffer()
    }),
  )
  return count / ((performance.now() - started) / 1000)
}

const ms = (value: number) => `${value.toFixed(2)} ms`

// 1. The React library as `npm run build` leaves it (ESM, React and TanStack Query external), minified
// as an app's bundler would (Vite keeps whitespace in library builds).
const built = readFileSync('dist/client-lib/all-access-client.js', 'utf8')
const library = Buffer.from((await transform(built, { minify: true, format: 'esm' })).code)
const gzip = gzipSync(library, { level: 9 }).length
console.log('React library (dist/client-lib/all-access-client.js)')
console.log(`  built ${(built.length / 1024).toFixed(2)} kB, minified ${(library.length / 1024).toFixed(2)} kB, minified + gzip ${(gzip / 1024).toFixed(2)} kB`)
console.log(`  ratio to next-auth/react (3.0 kB gzip): ${(gzip / 1024 / 3.0).toFixed(2)}`)
console.log(`  ratio to better-auth/react (12.3 kB gzip): ${(gzip / 1024 / 12.3).toFixed(2)}`)

// 2. The BFF on SQLite, with an API on loopback: what the proxy adds to a call, and the session route.
const upstream = await startEchoUpstream()
const bff = await startBff(`sqlite://${join(mkdtempSync(join(tmpdir(), 'aa-bench-')), 'db.sqlite3')}`)
try {
  await bff.addProvider('echo', { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', apiBaseUrl: `${upstream.url}/v1`, clientId: 'a', clientSecret: 'b' })
  const { browser } = await signedIn(bff, 'echo', { accessToken: 'bench-token' })
  const count = 1000
  const direct = await timeRequests('direct to the API', count, () => fetch(`${upstream.url}/v1/items?page=2`, { headers: { Authorization: 'Bearer bench-token' } }))
  const proxied = await timeRequests('through the BFF proxy', count, () => browser.fetch(new URL('/api/echo/items?page=2', bff.url), { headers: CSRF }))
  const sessionRead = await timeRequests('GET /auth/session (signed in)', count, () => browser.fetch(new URL('/auth/session', bff.url), { headers: CSRF }))
  console.log('\nLatency on loopback, SQLite, one client at a time (median / p95)')
  for (const row of [direct, proxied, sessionRead]) console.log(`  ${row.label.padEnd(32)} ${ms(row.median)} / ${ms(row.p95)}`)
  console.log(`  proxy overhead per call: ${ms(proxied.median - direct.median)} (median), ratio proxied/direct ${(proxied.median / direct.median).toFixed(2)}`)
  upstream.received.length = 0
  const directRps = await throughput(2000, 20, () => fetch(`${upstream.url}/v1/items`, { headers: { Authorization: 'Bearer bench-token' } }))
  upstream.received.length = 0
  const proxiedRps = await throughput(2000, 20, () => browser.fetch(new URL('/api/echo/items', bff.url), { headers: CSRF }))
  upstream.received.length = 0
  console.log('\nThroughput, 20 concurrent clients')
  console.log(`  direct ${directRps.toFixed(0)} req/s, through the proxy ${proxiedRps.toFixed(0)} req/s, ratio ${(proxiedRps / directRps).toFixed(2)}`)
} finally {
  await bff.close()
  await upstream.close()
}
