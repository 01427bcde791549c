import Koa, { type Middleware } from 'koa'
import { realpathSync, statSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { basename, dirname, join, resolve } from 'node:path'
import { createAllAccess } from './all-access.ts'
import { ConfigError, devKeyFile, loadConfig, optionsFromConfig } from './config.ts'
import { installed, parseDatabaseUrl } from './store/database.ts'
import { AllAccessError } from './errors.ts'
import { clientWentAway, isCallerParseError } from './http/abandoned-request.ts'
import { answerError, toAllAccessError } from './http/answer-errors.ts'
import { holdContinue } from './http/expect-continue.ts'
import { requestLog } from './http/request-log.ts'
import { refusedWithoutHost, refuseUnmetExpectation, refuseUnreadableRequest } from './http/unreadable-request.ts'
import { setSecurityHeaders } from './http/security-headers.ts'
import { readRestOfBodyAfterAnswer } from './http/unread-body.ts'
import { consoleLoggerFor, withLinesCut, type Logger } from './log.ts'
import { isInside, staticSite } from './static-site.ts'
import { DEFAULT_CACHE_MS, migrate, openStore } from './store/index.ts'
import { checkKeysCoverStore } from './store/key-rotation.ts'
import { withTimeout } from './time-limit.ts'

export interface ServeOptions {
  env: NodeJS.ProcessEnv
  cwd: string
  sandbox: boolean
  log?: (line: string) => void
}

/** How long SIGTERM waits for requests in flight before closing anyway. */
const DRAIN_MS = 10_000
/** How long SIGTERM then waits for the sandbox and the database pool to close: a query that never comes back holds the pool open. */
const CLOSE_MS = 3_000

/** `all-access serve`: the BFF and the demo SPA on one origin, until SIGTERM or SIGINT. */
export async function serve(options: ServeOptions): Promise<Server> {
  const config = loadConfig(options.env, options.cwd)
  // A mistyped folder would answer 404 to every page of the SPA, with nothing said.
  if (options.env.ALLACCESS_STATIC_DIR && !isFolder(config.staticDir)) throw new ConfigError(`ALLACCESS_STATIC_DIR: no folder at ${config.staticDir}`)
  const exposed = secretFileIn(config.staticDir, config.databaseUrl, options.env, options.cwd)
  if (exposed) throw new ConfigError(`ALLACCESS_STATIC_DIR: ${config.staticDir} holds ${exposed}, and would serve it to anyone: point it at the SPA's build folder`)
  // Its own lines are cut as the BFF's are: a static file's error names the path a client asked for.
  const log: Logger = withLinesCut(consoleLoggerFor(config.logFormat))
  const store = openStore({ databaseUrl: config.databaseUrl, keys: config.keys, cwd: options.cwd, pool: { max: config.poolMax }, cacheMs: DEFAULT_CACHE_MS })
  try {
    await migrate(store.db)
    await checkKeysCoverStore(store.db, store.box)
  } catch (error) {
    await store.close().catch(() => {})
    throw error
  }

  // Listen first: with PORT=0 and no PUBLIC_URL, the public URL (and so every callback URL) names the port given.
  const server = createRefusingServer(log)
  // Node cuts a request not received whole in 300 s, and a streamed upload may take as long as the
  // proxy's own limit says: a longer ALLACCESS_PROXY_TIMEOUT_MS would be cut short with a reset.
  server.requestTimeout = Math.max(server.requestTimeout, config.proxyTimeoutMs + 1_000)
  // Requests that reach the port before the app is ready (a restarted instance a balancer already
  // sends to) wait for it, rather than hanging with no handler; if the start fails they get a 503.
  const early = new EarlyRequests(server)
  try {
    await listen(server, config.host, config.port, 'PORT')
  } catch (error) {
    await store.close().catch(() => {})
    throw error
  }
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  if (!options.env.PUBLIC_URL && config.port === 0) config.publicUrl = new URL(`http://localhost:${port}`)

  const stops: (() => Promise<void>)[] = []
  let allAccess: Awaited<ReturnType<typeof createAllAccess>>
  try {
    if (options.sandbox) {
      // The sandbox's OpenID provider is a peer dependency: production installs do without it.
      if (!installed('oidc-provider')) throw new ConfigError('serve --sandbox needs the oidc-provider package: npm install oidc-provider')
      const { startSandbox } = await import('./sandbox/index.ts')
      const sandbox = await startSandbox({ store, publicUrl: config.publicUrl, log })
      stops.push(sandbox.close)
    }
    const fromConfig = optionsFromConfig(config)
    // Nothing around the BFF's routes in this app rewrites an answer: proxied bodies may go out directly.
    allAccess = await createAllAccess({ ...fromConfig, proxy: { ...fromConfig.proxy, pipeDirectly: true }, store, log, migrate: false })
  } catch (error) {
    early.refuse()
    server.close()
    for (const close of stops) await close().catch(() => {})
    await store.close().catch(() => {})
    throw error
  }
  const app = new Koa({ proxy: config.trustProxy > 0, maxIpsCount: config.trustProxy })
  // What fails after the answer's headers went out (a proxied body the provider cut, a file that
  // cannot be read on): one log line, not a stack on stderr.
  // Koa reports a cut body twice (the socket's error and the pipe's premature close): one line a request.
  const reported = new WeakSet<object>()
  app.on('error', (error: Error & { code?: unknown }, ctx?: { state?: { requestId?: string }; body?: unknown; respond?: boolean }) => {
    // No answer was cut: the request's handler logs it as abandoned (499).
    if (isCallerParseError(error)) return
    if (reported.has(ctx ?? error)) return
    reported.add(ctx ?? error)
    const id = ctx?.state?.requestId ?? '-'
    // A browser that left mid-answer is nothing to alert on.
    if (clientWentAway(error, ctx)) log.info(`answer cut req=${id}: the client went away (${error.code as string})`)
    else log.error(`error req=${id} answer cut: ${error.message}`)
  })
  if (config.metrics) app.use(allAccess.operations)
  // The BFF's routes and the operations routes set their own headers.
  app.use(allAccess.middleware)
  app.use(async (ctx, next) => {
    // Every answer, the SPA's 404s included, is read only as what it says it is.
    ctx.set('X-Content-Type-Options', 'nosniff')
    try {
      await next()
    } catch (error) {
      // A file that cannot be read: Koa's own answer dropped every header set (nosniff, the request
      // id), said no code of the contract's, and its log line read as an answer cut mid-way. What
      // the file's answer had set goes (a year-long cache on a hashed asset's name), as Koa's did.
      for (const name of ctx.res.getHeaderNames()) if (name !== 'x-request-id') ctx.res.removeHeader(name)
      setSecurityHeaders(ctx)
      answerError(ctx, toAllAccessError(error, log, ctx.state.requestId))
    }
    // Answered before its body arrived whole (nothing here reads one).
    readRestOfBodyAfterAnswer(ctx)
  })
  app.use(requestLog(log))
  app.use(staticSite(config.staticDir))
  // The answers in flight: at SIGTERM those not yet begun are sent with `Connection: close`, as is
  // every later one, so that no client sends another request on a connection the drain then closes.
  let stopping = false
  const inFlight = new Set<ServerResponse>()
  // One listener for all (no closure per request: this runs on every request's path).
  function answered(this: ServerResponse) {
    inFlight.delete(this)
  }
  const handle = app.callback()
  early.serve((req, res) => {
    if (refusedWithoutHost(req, res, log)) return
    if (stopping) res.shouldKeepAlive = false
    else {
      inFlight.add(res)
      res.on('close', answered)
    }
    void handle(req, res)
  })
  const operationsServer = config.metricsPort === null ? null : await listenForOperations(allAccess.operations, config.host, config.metricsPort, log).catch(async (error: Error) => {
    server.close()
    for (const close of stops) await close().catch(() => {})
    await allAccess.close().catch(() => {})
    await store.close().catch(() => {})
    throw error
  })
  log.info(`all-access listening on ${origin(config.host, port)} (public URL ${config.publicUrl.origin})`)
  if (operationsServer) log.info(`all-access health and metrics on ${origin(config.host, (operationsServer.address() as AddressInfo).port)}`)

  const stop = async (signal: string) => {
    if (stopping) return
    stopping = true
    for (const res of inFlight) if (!res.headersSent) res.shouldKeepAlive = false
    log.info(`all-access stopping (${signal})`)
    // Probes find the instance gone at once, so a load balancer stops sending while requests drain.
    operationsServer?.closeAllConnections()
    operationsServer?.close()
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    // Keep-alive connections become idle as their last request ends: close them as they do.
    const sweep = setInterval(() => server.closeIdleConnections(), 50)
    server.closeIdleConnections()
    const drained = await Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), DRAIN_MS).unref())])
    clearInterval(sweep)
    if (!drained) server.closeAllConnections()
    for (const close of stops) await withTimeout(close(), CLOSE_MS).catch(() => {})
    // Its clean-up stops, and one under way ends, before the pool it uses closes.
    await withTimeout(allAccess.close(), CLOSE_MS).catch(() => {})
    await withTimeout(store.close(), CLOSE_MS).catch(() => {})
    process.exit(0)
  }
  // A second signal while draining means "now": exit at once.
  const onSignal = (signal: string) => {
    if (stopping) {
      log.info(`all-access stopping at once (${signal} again)`)
      process.exit(1)
    }
    void stop(signal)
  }
  process.on('SIGTERM', () => onSignal('SIGTERM'))
  process.on('SIGINT', () => onSignal('SIGINT'))
  return server
}

/**
 * The SQLite database or the development key file, when it lies under the static folder (as with
 * `ALLACCESS_STATIC_DIR=.`, whose `data/` holds both by default): a GET would hand it out.
 */
function secretFileIn(staticDir: string, databaseUrl: string, env: NodeJS.ProcessEnv, cwd: string): string | null {
  const database = parseDatabaseUrl(databaseUrl, cwd)
  if (database.kind === 'sqlite' && database.location !== ':memory:' && isUnder(staticDir, database.location)) return `the database ${database.location}`
  const keyFile = devKeyFile(cwd)
  if (!env.ALLACCESS_KEYS?.trim() && isUnder(staticDir, keyFile)) return `the development key ${keyFile}`
  return null
}

/** Judged where both lead: a static folder that is a link to the project, or a database reached through one, holds it all the same. */
function isUnder(folder: string, path: string): boolean {
  return isInside(realLocation(folder), realLocation(path))
}

/** Where `path` leads once every link on the way is followed; a part not made yet (the database on a first start) is taken as written. */
function realLocation(path: string): string {
  const notYet: string[] = []
  for (let existing = resolve(path); ; existing = dirname(existing)) {
    try {
      return join(realpathSync.native(existing), ...notYet)
    } catch {
      if (dirname(existing) === existing) return resolve(path)
      notYet.unshift(basename(existing))
    }
  }
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}

function origin(host: string, port: number): string {
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** `ALLACCESS_METRICS_PORT`: health and metrics alone on a port of their own; anything else there is `404 not_found`. */
async function listenForOperations(operations: Middleware, host: string, port: number, log: Logger): Promise<Server> {
  const app = new Koa()
  app.use(operations)
  app.use((ctx) => {
    // Every answer says nosniff, this port's 404s too (and, like its three routes', is never cached).
    setSecurityHeaders(ctx)
    answerError(ctx, new AllAccessError('not_found'))
  })
  const server = createRefusingServer(log)
  const handle = app.callback()
  server.on('request', (req, res) => {
    if (!refusedWithoutHost(req, res, log)) void handle(req, res)
  })
  await listen(server, host, port, 'ALLACCESS_METRICS_PORT')
  return server
}

/** What `listen` fails with when the address, not the port, is wrong: a name that does not resolve, an address of another machine. */
const HOST_ERRORS = new Set(['EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL'])

/**
 * A server whose own refusals, made before any app sees the request (one Node cannot parse, an
 * Expect it cannot meet), carry nosniff and no-store and are logged, as the app's answers are. Its
 * request handler calls refusedWithoutHost first: Node's own answer to a request without Host is bare.
 * `100 Continue` waits until a body is read: a refusal goes out before the client sends it.
 */
function createRefusingServer(log: Logger): Server {
  const server = createServer({ requireHostHeader: false })
  server.on('clientError', refuseUnreadableRequest(log))
  server.on('checkExpectation', refuseUnmetExpectation(log))
  server.on('checkContinue', holdContinue(server))
  return server
}

/**
 * Listens on `host`:`port`. A port another process holds, one below 1024, an address not of this
 * machine: one line naming the setting at fault, as for any other bad setting, not a stack trace.
 */
async function listen(server: Server, host: string, port: number, setting: 'PORT' | 'ALLACCESS_METRICS_PORT'): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, host, () => resolve())
    })
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code
    throw new ConfigError(`${code && HOST_ERRORS.has(code) ? 'HOST' : setting}: cannot listen on ${origin(host, port)} (${code ?? (error as Error).message})`)
  }
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void

/** The server's request handler from the moment it listens: requests wait until the app is ready. */
class EarlyRequests {
  private handler: Handler | undefined
  private waiting: [IncomingMessage, ServerResponse][] = []

  constructor(server: Server) {
    server.on('request', (req, res) => (this.handler ? this.handler(req, res) : this.waiting.push([req, res])))
  }

  serve(handler: Handler): void {
    this.handler = handler
    for (const [req, res] of this.waiting.splice(0)) handler(req, res)
  }

  /** The start failed: the waiting requests, and any later one, are told so. */
  refuse(): void {
    this.serve((_req, res) => {
      const { status, code, message } = new AllAccessError('service_unavailable')
      res.writeHead(status, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store', Connection: 'close' }).end(JSON.stringify({ error: code, message }))
    })
  }
}
