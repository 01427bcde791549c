// `npm run bench`: the figures all-access is judged by (issue #10), each beside its goal, and the
// size of the React library. Every server under test is a process of its own, the BFF started the
// way users start it (`all-access serve`); the load comes from yet another process; the targets
// take turns, so one run on one (noisy) machine holds every figure and every ratio.
// Numbers, not assertions: the tests never time anything.
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { transform } from 'esbuild'
import type { Job, LoadResult } from './load.ts'
import { signIn } from './login-flow.ts'
import { cpuMicros, freePort, ROOT, runCli, scratchRun, startBff, startLoad, startServer, stop, type Bff, type Started } from './processes.ts'
import { scratchPostgres } from './scratch-postgres.ts'

// Short rounds, targets taking turns: on a shared machine a neighbour's burst then spoils one round
// of one target, and the best round still shows what the machine can do. Fewer rounds for the
// secondary figures keep the whole bench, build included, under 3 minutes.
const SECONDS = 3
const CONNECTIONS = 32
const ROUNDS = { proxy: 3, sessions: 2, logins: 2 }
// Before a target's first round only: later rounds find its code compiled and its caches filled.
// A login runs five times the code of a proxied call through three routes, and V8 takes that much
// longer to compile it fully: a 1 s warm-up left the first login round 30% below the steady rate.
const WARM_UP_SECONDS = { proxy: 1, sessions: 1, logins: 5 }
const LOGIN_LOOPS = 8
const PROVIDER = 'bench'
const CLIENT_ID = 'bench-client'
const CSRF = { 'x-csrf': '1' }

const GOAL = {
  proxyRps: 0.5,
  proxyCpu: 3,
  returningLogins: 300,
  newLogins: 200,
  sessionCpu: 2,
  startupMs: 1000,
  /** The React library, minified and gzipped (issue #11). */
  libraryGzipBytes: 2500,
}

const began = performance.now()
// Other work on the machine skews every figure: printed with them.
const loadBefore = loadavg()[0]
const progress = (line: string) => process.stderr.write(`bench: ${((performance.now() - began) / 1000).toFixed(1).padStart(5)} s  ${line}\n`)

// 1. The React library as `npm run build` leaves it (ESM, React and TanStack Query external), minified
// as an app's bundler would (Vite keeps whitespace in library builds).
async function librarySize() {
  const built = readFileSync(join(ROOT, 'dist/client-lib/all-access-client.js'), 'utf8')
  const minified = Buffer.from((await transform(built, { minify: true, format: 'esm' })).code)
  return { built: built.length, minified: minified.length, gzip: gzipSync(minified, { level: 9 }).length }
}

// 2. The servers, each its own process.
interface Measured extends LoadResult {
  /** Successful calls (or logins) per second. */
  rate: number
  /** The server process's CPU time per call it answered, in microseconds. */
  cpuPerCall: number
}

interface BffTarget extends Bff {
  label: string
  /** Both starts, the first of which may also fill tsx's compile cache. */
  startups: number[]
  /** The signed-in browser's cookie header. */
  cookie: string
}

const run = scratchRun('aa-bench-', progress)
const temp = run.folder

async function main() {
  const library = await librarySize()
  const clientSecret = randomBytes(16).toString('hex')
  const serverEnv = { ...process.env, NODE_ENV: 'production' }
  progress('starting the upstream API, the bench OAuth provider and the load generator')
  const [upstream, provider, load] = await Promise.all([
    startServer('upstream.ts', serverEnv),
    startServer('provider.ts', { ...serverEnv, BENCH_CLIENT_ID: CLIENT_ID, BENCH_CLIENT_SECRET: clientSecret }),
    startLoad(),
  ])
  const apiBaseUrl = `${upstream.url}/v1`
  const proxyEnv = { ...serverEnv, BENCH_UPSTREAM_URL: apiBaseUrl, BENCH_TOKEN: 'bench-token' }
  const [bare, koa] = await Promise.all([startServer('bare-proxy.ts', proxyEnv), startServer('koa-proxy.ts', proxyEnv)])

  const databases = [{ label: 'SQLite', url: `sqlite://${join(temp, 'bench.sqlite3')}` }]
  if (process.env.BENCH_DATABASE_URL) {
    const scratch = await scratchPostgres(process.env.BENCH_DATABASE_URL)
    run.onCleanUp(scratch.drop)
    databases.push({ label: 'PostgreSQL', url: scratch.url })
  } else {
    progress('BENCH_DATABASE_URL is not set: PostgreSQL is left out (e.g. BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test)')
  }
  const staticDir = join(temp, 'static')
  mkdirSync(staticDir)
  const keys = randomBytes(32).toString('base64')

  const setUps = await Promise.all(
    databases.map(async (database) => {
      const env = {
        ...serverEnv,
        DATABASE_URL: database.url,
        ALLACCESS_KEYS: keys,
        ALLACCESS_STATIC_DIR: staticDir,
        // 8 loops from one address sign in hundreds of times a second: no login rate limit may stop them.
        ALLACCESS_LOGIN_RATE_LIMIT: process.env.ALLACCESS_LOGIN_RATE_LIMIT ?? '0',
      }
      // The CLI migrates the database and stores the provider, as an operator would (both databases at once: nothing is timed yet).
      progress(`all-access providers add on ${database.label}`)
      await runCli(['providers', 'add', PROVIDER, '--protocol', 'oauth2', '--client-id', CLIENT_ID, '--client-secret', clientSecret,
        '--authorization-url', `${provider.url}/authorize`, '--access-token-url', `${provider.url}/token`, '--profile-url', `${provider.url}/profile`,
        '--api-base-url', apiBaseUrl], env)
      return { label: `BFF ${database.label}`, env }
    }),
  )
  const bffs: BffTarget[] = []
  for (const { label, env: storeEnv } of setUps) {
    progress(`starting ${label}`)
    // Chosen while the other BFF listens, so the two cannot be given the same port.
    const port = await freePort()
    const env = { ...storeEnv, PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: `http://127.0.0.1:${port}` }
    const first = await startBff(env)
    await stop(first.child)
    const bff = await startBff(env)
    const startups = [first.startupMs, bff.startupMs]
    const cookie = await signIn(bff.url, PROVIDER, 'bench-proxy').catch((error: Error) => {
      throw new Error(`${label}: the bench's browser could not sign in: ${error.message}\n  the BFF's last lines:\n  ${bff.lastLines()}`)
    })
    bffs.push({ ...bff, label, startups, startupMs: Math.min(...startups), cookie })
  }

  // Each target answers as it should before any figure is taken.
  const expected = await (await fetch(`${apiBaseUrl}/data`)).text()
  for (const { url, cookie = '' } of [bare, koa, ...bffs] as (Started & { cookie?: string })[]) {
    const answer = await fetch(`${url}/api/${PROVIDER}/data`, { headers: { cookie, ...CSRF } })
    const body = await answer.text()
    if (answer.status !== 200 || body !== expected) throw new Error(`${url}/api/${PROVIDER}/data answered ${answer.status} ${body.slice(0, 200)}`)
  }
  for (const bff of bffs) {
    const session = await fetch(`${bff.url}/auth/session`, { headers: { cookie: bff.cookie, ...CSRF } })
    if (!((await session.json()) as { authenticated?: boolean }).authenticated) throw new Error(`${bff.label}: the bench's browser is not signed in`)
  }

  async function measure(target: Started & { lastLines?: () => string }, job: Job, label: string, warmUpSeconds: number): Promise<Measured> {
    progress(`${label}`)
    if (warmUpSeconds > 0) await load.run({ ...job, seconds: warmUpSeconds })
    const before = cpuMicros(target.child.pid)
    const result = await load.run({ ...job, seconds: SECONDS })
    const cpu = cpuMicros(target.child.pid) - before
    if (target.child.exitCode !== null || target.child.signalCode !== null) throw new Error(`${label}: the server under test exited\n  ${target.lastLines?.() ?? ''}`)
    return { ...result, rate: result.ok / result.seconds, cpuPerCall: cpu / result.answered }
  }
  const http = (url: string, cookie = ''): Job => ({ kind: 'http', url, headers: { cookie, ...CSRF }, connections: CONNECTIONS, seconds: SECONDS })

  /** Runs every target in turn, `count` times, and keeps each target's best round (by rate). */
  async function interleaved(section: keyof typeof ROUNDS, targets: { label: string; server: Started; job: Job }[]) {
    const rounds = new Map<string, Measured[]>(targets.map((t) => [t.label, []]))
    const count = ROUNDS[section]
    for (let round = 1; round <= count; round++) {
      for (const { label, server, job } of targets) rounds.get(label)!.push(await measure(server, job, `${section}, ${label}, round ${round}/${count}`, round === 1 ? WARM_UP_SECONDS[section] : 0))
    }
    return targets.map(({ label }) => {
      const all = rounds.get(label)!
      return { label, rounds: all, best: all.reduce((a, b) => (b.rate > a.rate ? b : a)) }
    })
  }

  const proxy = await interleaved('proxy', [
    { label: 'bare node:http + undici', server: bare, job: http(`${bare.url}/api/${PROVIDER}/data`) },
    { label: 'plain Koa proxy', server: koa, job: http(`${koa.url}/api/${PROVIDER}/data`) },
    ...bffs.map((bff) => ({ label: bff.label, server: bff, job: http(`${bff.url}/api/${PROVIDER}/data`, bff.cookie) })),
  ])
  const sessions = await interleaved('sessions', [
    { label: 'plain Koa JSON route', server: koa, job: http(`${koa.url}/json`) },
    ...bffs.map((bff) => ({ label: bff.label, server: bff, job: http(`${bff.url}/auth/session`, bff.cookie) })),
  ])
  const logins = await interleaved(
    'logins',
    (['returning', 'new'] as const).flatMap((users) =>
      bffs.map((bff) => ({ label: `${bff.label}, ${users} users`, server: bff, job: { kind: 'logins', bffUrl: bff.url, provider: PROVIDER, concurrency: LOGIN_LOOPS, seconds: SECONDS, users } as Job })),
    ),
  )

  report({ proxy, sessions, logins, bffs, library, upstreamBytes: Buffer.byteLength(expected) })
}

// 3. The report.
const fixed = (value: number, digits = 2) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a')
const ms = (value: number) => (value < 10 ? fixed(value, 2) : value < 100 ? fixed(value, 1) : fixed(value, 0)) + ' ms'
/** Whether a figure meets its goal; a figure that could not be taken (NaN) meets nothing. */
const verdict = (value: number, met: boolean) => (!Number.isFinite(value) ? 'n/a' : met ? 'met' : 'missed')

function table(head: string[], rows: string[][]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)))
  const line = (cells: string[]) => '  ' + cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('   ')
  console.log(line(head))
  for (const row of rows) console.log(line(row))
}

function failures(measured: { label: string; rounds: Measured[] }[]): void {
  for (const { label, rounds } of measured) {
    rounds.forEach((round, i) => {
      if (round.failed) console.log(`  ! ${label}, round ${i + 1}: ${round.failed} of ${round.ok + round.failed} calls failed (first: ${round.firstError})`)
    })
  }
}

function report({
  proxy,
  sessions,
  logins,
  bffs,
  library,
  upstreamBytes,
}: {
  proxy: { label: string; rounds: Measured[]; best: Measured }[]
  sessions: { label: string; rounds: Measured[]; best: Measured }[]
  logins: { label: string; rounds: Measured[]; best: Measured }[]
  bffs: BffTarget[]
  library: { built: number; minified: number; gzip: number }
  upstreamBytes: number
}): void {
  const rounds = (all: Measured[]) => all.map((m) => fixed(m.rate, 0)).join(' / ')
  console.log(`\nall-access bench: node ${process.version}, ${cpus().length} CPUs, load average ${loadBefore.toFixed(1)} before the bench; every server its own process, load from another.`)
  console.log(`Targets take turns, ${SECONDS} s a round (the first after a warm-up of ${WARM_UP_SECONDS.proxy} s, ${WARM_UP_SECONDS.logins} s for logins); best round of ${ROUNDS.proxy} (proxy), ${ROUNDS.sessions} (sessions), ${ROUNDS.logins} (logins).`)
  console.log(`CPU per call: the server process's user + system time during the round, over the calls it answered`)
  console.log(`(PostgreSQL's own processes are not counted; SQLite runs inside the BFF's and is).`)

  const [bare] = proxy
  console.log(`\nProxy: GET /api/${PROVIDER}/data, ${CONNECTIONS} connections, the upstream answering ${upstreamBytes} bytes of JSON`)
  table(
    ['target', 'req/s', 'p50', 'p99', 'CPU µs/call', 'req/s ÷ bare', 'CPU ÷ bare', 'rounds (req/s)'],
    proxy.map(({ label, rounds: all, best }) => {
      const isBff = label.startsWith('BFF')
      const rps = best.rate / bare.best.rate
      const cpu = best.cpuPerCall / bare.best.cpuPerCall
      return [
        label,
        fixed(best.rate, 0),
        ms(best.p50),
        ms(best.p99),
        fixed(best.cpuPerCall, 0),
        isBff ? `${fixed(rps)} (goal ≥ ${fixed(GOAL.proxyRps)}, ${verdict(rps, rps >= GOAL.proxyRps)})` : fixed(rps),
        isBff ? `${fixed(cpu)} (goal ≤ ${fixed(GOAL.proxyCpu)}, ${verdict(cpu, cpu <= GOAL.proxyCpu)})` : fixed(cpu),
        rounds(all),
      ]
    }),
  )
  failures(proxy)

  const [koaJson] = sessions
  console.log(`\nSession reads: GET /auth/session (signed in, X-CSRF: 1) beside a plain Koa JSON route, ${CONNECTIONS} connections`)
  table(
    ['target', 'req/s', 'p50', 'p99', 'CPU µs/call', 'CPU ÷ Koa JSON', 'rounds (req/s)'],
    sessions.map(({ label, rounds: all, best }) => {
      const cpu = best.cpuPerCall / koaJson.best.cpuPerCall
      const ratio = label.startsWith('BFF') ? `${fixed(cpu)} (goal ≤ ${fixed(GOAL.sessionCpu)}, ${verdict(cpu, cpu <= GOAL.sessionCpu)})` : fixed(cpu)
      return [label, fixed(best.rate, 0), ms(best.p50), ms(best.p99), fixed(best.cpuPerCall, 0), ratio, rounds(all)]
    }),
  )
  failures(sessions)

  console.log(`\nLogins: ${LOGIN_LOOPS} concurrent loops of login → provider authorization (approves at once) → callback → 302 to /`)
  table(
    ['target', 'logins/s', 'p50 login', 'p99 login', 'BFF CPU ms/login', 'rounds (logins/s)'],
    logins.map(({ label, rounds: all, best }) => {
      const goal = label.endsWith('returning users') ? GOAL.returningLogins : GOAL.newLogins
      return [label, `${fixed(best.rate, 0)} (goal ≥ ${goal}, ${verdict(best.rate, best.rate >= goal)})`, ms(best.p50), ms(best.p99), fixed(best.cpuPerCall / 1000), rounds(all)]
    }),
  )
  failures(logins)

  console.log(`\nServe start-up: spawning \`all-access serve\` to its "listening" line, database already migrated, best of 2 starts`)
  for (const bff of bffs) {
    const goal = `goal < ${GOAL.startupMs} ms, ${verdict(bff.startupMs, bff.startupMs < GOAL.startupMs)}`
    console.log(`  ${bff.label.padEnd(16)} ${ms(bff.startupMs)} (${goal}); starts ${bff.startups.map(ms).join(', ')}`)
  }

  const gzip = library.gzip / 1024
  const libraryGoal = `goal ≤ ${GOAL.libraryGzipBytes.toLocaleString('en')} B, ${verdict(library.gzip, library.gzip <= GOAL.libraryGzipBytes)}`
  console.log('\nReact library (dist/client-lib/all-access-client.js; esbuild minify, gzip -9, React and TanStack Query external)')
  console.log(`  built ${(library.built / 1024).toFixed(2)} kB, minified ${(library.minified / 1024).toFixed(2)} kB, minified + gzip ${library.gzip.toLocaleString('en')} B (${libraryGoal})`)
  console.log(`  ratio to next-auth/react (3.0 kB gzip): ${(gzip / 3.0).toFixed(2)}`)
  console.log(`  ratio to better-auth/react (12.3 kB gzip): ${(gzip / 12.3).toFixed(2)}`)
  console.log(`\nThe bench took ${((performance.now() - began) / 1000).toFixed(0)} s (after the build).`)
}

try {
  await main()
} catch (error) {
  // Once interrupted, the servers stopping under the bench is no news.
  if (!run.interrupted) console.error(`bench failed: ${(error as Error).stack ?? error}`)
  process.exitCode = 1
} finally {
  await run.cleanUp()
}
