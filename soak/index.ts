// `npm run soak [-- --duration 600 --users 16]`: two `all-access serve` on one PostgreSQL behind a
// round-robin balancer, a crowd of browsers running an SPA's traffic through it, and faults injected
// on a schedule: the upstream resetting connections, the token endpoint slow then down, PostgreSQL
// gone (a TCP relay cut: the machine's server is never touched), one instance SIGKILLed and
// restarted, grants revoked at the provider. Prints what it saw and what it checked; exits non-zero
// when a check fails (issue #14).
import { randomBytes } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { command, freePort, runCli, scratchRun, startBff, startServer, stop, type Bff } from '../bench/processes.ts'
import type { ProviderCounts } from '../bench/provider.ts'
import { scratchPostgres } from '../bench/scratch-postgres.ts'
import type { UpstreamCounts } from '../bench/upstream.ts'
import { parseExposition, sampleValue } from '../test/support/prometheus.ts'
import { startTcpRelay } from '../test/support/tcp-relay.ts'
import { startBalancer } from './balancer.ts'
import { Recorder, type Outcome } from './browser.ts'
import { judge, type Checked, type FaultWindow, type MemoryPoint, type Scrape } from './checks.ts'
import { collectGarbage, inspectorUrl } from './collect-garbage.ts'
import { OAUTH1, OAUTH2, SoakUser, type Problem } from './users.ts'

const CLIENT_ID = 'soak-client'
/**
 * Access tokens live 30 s: the BFF refreshes a token granted for under two minutes once half its
 * life is spent, so each is refreshed after about 15 s of use, often enough for a 60-s run.
 */
const TOKEN_SECONDS = 30
/** A short lease, so a SIGKILLed holder blocks others briefly; the refresh gives up 2 s before it ends. */
const LEASE_MS = 5000
const SCRAPE_EVERY_MS = 2000
const THINK_MS: [number, number] = [40, 200]

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`)
  const raw = at === -1 ? process.env[`SOAK_${name.toUpperCase()}`] : process.argv[at + 1]
  if (raw === undefined) return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new Error(`--${name} must be a whole number of at least 1, got "${raw}"`)
  return Number(raw)
}

const began = performance.now()
const seconds = () => (performance.now() - began) / 1000
const progress = (line: string) => process.stderr.write(`soak: ${seconds().toFixed(1).padStart(6)} s  ${line}\n`)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

const run = scratchRun('aa-soak-', progress)
const temp = run.folder

interface Instance {
  name: string
  env: NodeJS.ProcessEnv
  metricsUrl: string
  bff?: Bff
  /** When each of its processes started listening (soak seconds). */
  lives: { startedAt: number; endedAt?: number; pid?: number; baselineFds?: number; inspector?: string }[]
}

async function main(): Promise<Checked[]> {
  const duration = option('duration', 600)
  const userCount = option('users', 16)
  const adminUrl = process.env.SOAK_DATABASE_URL || process.env.TEST_DATABASE_URL
  if (!adminUrl) throw new Error('set SOAK_DATABASE_URL (or TEST_DATABASE_URL) to a PostgreSQL server where a scratch database may be created, e.g. postgres://postgres@127.0.0.1:5432/test')

  const warmUp = Math.max(10, duration * 0.1)
  const tail = Math.max(12, duration * 0.2)
  const loadBefore = loadavg()[0]
  const clientSecret = randomBytes(16).toString('hex')
  const tokenKey = randomBytes(32).toString('base64')
  const serverEnv = { ...process.env, NODE_ENV: 'production' }
  const providerEnv = { ...serverEnv, BENCH_CLIENT_ID: CLIENT_ID, BENCH_CLIENT_SECRET: clientSecret, BENCH_TOKEN_KEY: tokenKey }

  progress(`starting the providers, the upstream API and a scratch database (${duration} s soak, ${userCount} users)`)
  const [provider, oauth1, upstream, scratch] = await Promise.all([
    startServer('provider.ts', { ...providerEnv, BENCH_REFRESH: '1', BENCH_TOKEN_SECONDS: String(TOKEN_SECONDS) }),
    startServer('oauth1-provider.ts', { ...providerEnv, BENCH_OAUTH1_USERS: String(userCount) }),
    startServer('upstream.ts', providerEnv),
    scratchPostgres(adminUrl),
  ])
  run.onCleanUp(scratch.drop)
  const direct = new URL(scratch.url)
  const relay = await startTcpRelay(direct.hostname, Number(direct.port || 5432))
  run.onCleanUp(() => relay.close())
  const relayed = new URL(scratch.url)
  relayed.host = `127.0.0.1:${relay.port}`

  const keys = randomBytes(32).toString('base64')
  const staticDir = join(temp, 'static')
  mkdirSync(staticDir)
  const storeEnv = { ...serverEnv, DATABASE_URL: relayed.toString(), ALLACCESS_KEYS: keys }
  await runCli(['providers', 'add', OAUTH2, '--protocol', 'oauth2', '--client-id', CLIENT_ID, '--client-secret', clientSecret, '--refresh', 'rotating',
    '--authorization-url', `${provider.url}/authorize`, '--access-token-url', `${provider.url}/token`, '--profile-url', `${provider.url}/profile`,
    '--api-base-url', `${upstream.url}/v1`], storeEnv)
  await runCli(['providers', 'add', OAUTH1, '--protocol', 'oauth1', '--client-id', CLIENT_ID, '--client-secret', clientSecret,
    '--request-token-url', `${oauth1.url}/oauth/request_token`, '--authorization-url', `${oauth1.url}/oauth/authorize`,
    '--access-token-url', `${oauth1.url}/oauth/access_token`, '--profile-url', `${oauth1.url}/1.1/account/verify_credentials.json`,
    '--api-base-url', `${oauth1.url}/1.1`, '--identifier-path', 'id_str'], storeEnv)

  const ports = [await freePort(), await freePort()]
  const balancer = await startBalancer(ports.map((port) => new URL(`http://127.0.0.1:${port}`)))
  run.onCleanUp(() => balancer.close())
  const instances: Instance[] = []
  for (const [i, port] of ports.entries()) {
    const metricsPort = await freePort()
    const env = {
      ...storeEnv,
      PORT: String(port),
      HOST: '127.0.0.1',
      PUBLIC_URL: balancer.url,
      ALLACCESS_STATIC_DIR: staticDir,
      ALLACCESS_METRICS_PORT: String(metricsPort),
      ALLACCESS_LOGIN_RATE_LIMIT: '0',
      ALLACCESS_REFRESH_LEASE_MS: String(LEASE_MS),
      ALLACCESS_LOG_FORMAT: 'json',
    }
    instances.push({ name: `instance ${'ab'[i]}`, env, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`, lives: [] })
  }
  const problems: Problem[] = []
  const recorder = new Recorder(began)
  const now = () => recorder.now() / 1000

  /** The BFFs' error lines (the detail behind any 500), kept for the report. */
  const errorLines: string[] = []
  const keepErrors = (name: string) => (chunk: string) => {
    // The faults' own errors (an upstream gone, the database away) are expected; anything else is kept.
    const expected = /upstream_unreachable|upstream_timeout|service_unavailable|token_request_failed/
    for (const line of chunk.split('\n')) {
      if (!line.includes('"level":"error"') || expected.test(line) || errorLines.length >= 50) continue
      // A cut answer is the upstream fault's doing; anything else (a 500's stack) is shown first.
      if (/answer cut/.test(line)) errorLines.push(`${name}: ${line}`)
      else errorLines.unshift(`${name}: ${line}`)
    }
  }

  async function launch(instance: Instance): Promise<void> {
    let inspector: string | undefined
    const keep = keepErrors(instance.name)
    const output = (chunk: string) => {
      inspector ??= inspectorUrl(chunk)
      keep(chunk)
    }
    // The inspector on a loopback port of its own: the soak asks it for a full collection before reading the heap.
    const bff = await startBff(instance.env, output, ['--inspect=127.0.0.1:0'])
    instance.bff = bff
    const life: Instance['lives'][number] = { startedAt: now(), pid: bff.child.pid, inspector }
    instance.lives.push(life)
    bff.child.once('exit', (code, signal) => {
      life.endedAt = now()
      if (!killing.has(instance) && !stopping) problems.push({ at: recorder.now(), user: -1, what: `${instance.name} exited (${signal ?? code}) unasked; its last lines:\n  ${bff.lastLines()}` })
    })
    // Descriptors at rest, before any traffic reached this process: what it must come back to.
    life.baselineFds = (await scrape(instance))?.fds
  }
  const killing = new Set<Instance>()
  let stopping = false

  const scrapes: Scrape[] = []
  async function scrape(instance: Instance): Promise<Scrape | undefined> {
    try {
      const answer = await fetch(instance.metricsUrl, { signal: AbortSignal.timeout(5000) })
      const samples = parseExposition(await answer.text())
      const value = (name: string, labels: Record<string, string> = {}) => sampleValue(samples, name, labels) ?? Number.NaN
      const sample: Scrape = {
        at: now(),
        instance: instance.name,
        life: instance.lives.length - 1,
        heap: value('nodejs_heap_size_used_bytes'),
        rss: value('process_resident_memory_bytes'),
        fds: value('process_open_fds'),
        lagP90: value('allaccess_event_loop_lag_seconds', { quantile: '0.9' }),
        lagP99: value('allaccess_event_loop_lag_seconds', { quantile: '0.99' }),
        lagMax: value('allaccess_event_loop_lag_seconds', { quantile: '1' }),
        poolUsed: value('allaccess_db_pool_connections', { state: 'used' }),
        refreshes: value('allaccess_token_refreshes_total', { provider: OAUTH2, outcome: 'refreshed' }),
      }
      return sample
    } catch {
      return undefined
    }
  }

  progress('starting the two instances behind the balancer')
  await Promise.all(instances.map(launch))
  const readyAnswer = await fetch(`${balancer.url}/auth/providers`)
  if (readyAnswer.status !== 200) throw new Error(`the balancer's /auth/providers answered ${readyAnswer.status}`)

  // The traffic, the scraper and the fault schedule run side by side until the end.
  const users = Array.from({ length: userCount }, (_, i) => new SoakUser(i, balancer.url, recorder, problems))
  let trafficOver = false
  const trafficStart = now()
  const traffic = Promise.all(users.map((user, i) => sleep((i * 1000) / userCount).then(() => user.run(() => trafficOver, THINK_MS))))
  const scraper = (async () => {
    while (!trafficOver) {
      for (const instance of instances) {
        const sample = await scrape(instance)
        if (sample) scrapes.push(sample)
      }
      await sleep(SCRAPE_EVERY_MS)
    }
  })()

  // The heap each process keeps (after a full collection) and its RSS, every few seconds after warm-up.
  const memory: MemoryPoint[] = []
  const collections: number[] = []
  const memoryEvery = Math.max(10, (duration - warmUp) / 8)
  async function measureMemory(): Promise<void> {
    for (const instance of instances) {
      const life = instance.lives.at(-1)
      if (!life?.inspector || life.endedAt !== undefined || now() < life.startedAt + 10) continue
      try {
        collections.push(now())
        await collectGarbage(life.inspector)
        const sample = await scrape(instance)
        if (sample) memory.push({ at: sample.at, instance: instance.name, life: sample.life, heap: sample.heap, rss: sample.rss })
      } catch {
        // Killed meanwhile: that life's series ends here.
      }
    }
  }
  const memoryWatch = (async () => {
    await sleep(warmUp * 1000)
    // The last measurement a second before the traffic stops, still under load like the first.
    for (;;) {
      await measureMemory()
      const left = duration - 1 - (now() - trafficStart)
      if (left < 0.5) break
      await sleep(Math.min(memoryEvery, left) * 1000)
    }
  })()

  const windows: FaultWindow[] = []
  async function fault(name: FaultWindow['name'], seconds: number, start: () => Promise<unknown>, end: () => Promise<unknown>): Promise<void> {
    const window: FaultWindow = { name, from: now(), to: Number.POSITIVE_INFINITY }
    windows.push(window)
    progress(`fault: ${name} for ${seconds.toFixed(1)} s`)
    await start()
    await sleep(seconds * 1000)
    await end()
    window.to = now()
  }
  const revoked: number[] = []
  async function revokeOne(): Promise<void> {
    const user = users.find((u) => u.signedIn && u.connected.has(OAUTH2) && !u.revoked && !u.needsLogin && !revoked.includes(u.index))
    if (!user) return
    revoked.push(user.index)
    user.revoked = true
    await command(provider.child, { revoke: `soak-${user.index}` })
    progress(`revoked the ${OAUTH2} grant of user ${user.index}`)
  }

  const faults: [FaultWindow['name'], (length: number) => Promise<void>][] = [
    ['upstream reset', (length) => fault('upstream reset', length,
      async () => {
        await command(upstream.child, { fault: 'reset-before-headers' })
        setTimeout(() => void command(upstream.child, { fault: 'reset-mid-body' }), (length * 1000) / 2)
      },
      () => command(upstream.child, { fault: 'none' }))],
    ['token endpoint slow', (length) => fault('token endpoint slow', length,
      () => command(provider.child, { tokenEndpoint: { mode: 'slow', delayMs: LEASE_MS - 1000 } }),
      () => command(provider.child, { tokenEndpoint: { mode: 'ok' } }))],
    ['token endpoint down', (length) => fault('token endpoint down', length,
      () => command(provider.child, { tokenEndpoint: { mode: 'down' } }),
      () => command(provider.child, { tokenEndpoint: { mode: 'ok' } }))],
    ['database away', (length) => fault('database away', length, () => relay.cut(), () => relay.restore())],
    ['instance killed', (length) => fault('instance killed', length,
      async () => {
        const victim = instances[1]
        killing.add(victim)
        victim.bff?.child.kill('SIGKILL')
      },
      async () => {
        const victim = instances[1]
        await launch(victim)
        killing.delete(victim)
      })],
  ]

  const faultsEnd = duration - tail
  const spacing = Math.min(16, (faultsEnd - warmUp) / faults.length)
  const length = Math.max(2, spacing * 0.4)
  await sleep((warmUp - (now() - trafficStart)) * 1000)
  progress('warm-up over')
  for (let n = 0; now() - trafficStart + spacing <= faultsEnd + 0.5; n++) {
    const started = now()
    if (n % faults.length === 0) {
      await revokeOne()
      await revokeOne()
    }
    await faults[n % faults.length][1](length)
    await sleep(Math.max(0, spacing - (now() - started)) * 1000)
  }
  await memoryWatch
  await sleep(Math.max(0, duration - (now() - trafficStart)) * 1000)
  trafficOver = true
  const trafficEnd = now()
  progress('traffic over: letting requests finish')
  await traffic
  await scraper

  // Recovery: with every fault over, each person gets back everything they had.
  progress('recovery: every user signs in and calls both APIs')
  await Promise.all(users.map((user) => user.settle()))
  // At rest: keep-alive connections time out (Node's server after 5 s), then the descriptors are counted.
  await sleep(6000)
  const atRest = await Promise.all(instances.map((instance) => scrape(instance)))
  const ready = await Promise.all(instances.map(async (instance) => (await fetch(instance.metricsUrl.replace('/metrics', '/readyz')).catch(() => undefined))?.status))

  const db = new pg.Client({ connectionString: scratch.url })
  await db.connect()
  const accounts = (
    await db.query<{ provider: string; identifier: string; user_id: number; status: string; refresh_lease_owner: string | null }>(
      'SELECT p.name AS provider, a.identifier, a.user_id, a.status, a.refresh_lease_owner FROM accounts a JOIN providers p ON p.id = a.provider_id',
    )
  ).rows
  const userRows = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM users')).rows[0].n)
  const connections = Number((await db.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()')).rows[0].n)
  await db.end()

  const providerCounts = await command<ProviderCounts>(provider.child, { counts: true })
  const upstreamCounts = await command<UpstreamCounts>(upstream.child, { counts: true })
  progress('stopping')
  stopping = true
  await Promise.all(instances.map((instance) => (instance.bff ? stop(instance.bff.child) : undefined)))

  const checked = judge({
    duration,
    warmUp: trafficStart + warmUp,
    trafficEnd,
    outcomes: recorder.outcomes.map((o: Outcome) => ({ ...o, start: o.start / 1000, end: o.end / 1000 })),
    windows,
    problems,
    users,
    revoked,
    scrapes,
    memory,
    collections,
    atRest: atRest.map((sample, i) => ({ instance: instances[i].name, sample, baseline: instances[i].lives.at(-1)?.baselineFds })),
    ready,
    lives: instances.map((instance) => ({ instance: instance.name, lives: instance.lives })),
    accounts,
    userRows,
    connections,
    poolMax: 10,
    providerCounts,
    upstreamCounts,
    errorLines,
  })
  console.log(`\nall-access soak: ${duration} s of traffic, ${userCount} users, node ${process.version}, ${cpus().length} CPUs, load average ${loadBefore.toFixed(1)} before; ${new Date().toISOString().slice(0, 10)}`)
  return checked
}

let failed = true
try {
  const checked = await main()
  failed = checked.some((check) => !check.ok)
  console.log(failed ? '\nSOAK FAILED: see the checks marked FAIL above.' : '\nSoak passed: every check held.')
} catch (error) {
  console.error(`soak failed to run: ${(error as Error).stack ?? error}`)
} finally {
  await run.cleanUp()
  progress(`done in ${seconds().toFixed(0)} s`)
}
process.exitCode = failed ? 1 : 0
