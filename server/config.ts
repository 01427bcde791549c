import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AllAccessOptions } from './all-access.ts'
import { loadKeys, type RootKey } from './crypto/keys.ts'
import { InputError } from './input-error.ts'
import { parseDatabaseUrl } from './store/database.ts'
import { consoleLoggerFor, jsonLogger, LOG_FORMATS, type LogFormat } from './log.ts'
import { LONGEST_TIMER_MS } from './time-limit.ts'

export class ConfigError extends InputError {
  override name = 'ConfigError'
}

/** The BFF's settings, read from the environment (DESIGN.md, "Configuration"). */
export interface Config {
  port: number
  host: string
  publicUrl: URL
  databaseUrl: string
  keys: RootKey[]
  staticDir: string
  proxyTimeoutMs: number
  proxyMaxBody: number
  /** The largest answer `account.apiClient` reads. */
  apiClientMaxBody: number
  loginRateLimit: number
  maxPendingLogins: number
  /** Proxies in front whose `X-Forwarded-For` is believed (0: the peer address is the client's). */
  trustProxy: number
  poolMax: number
  /** How long one instance may hold an account's refresh lease (a crashed holder blocks others at most this long). */
  refreshLeaseMs: number
  /** `/healthz`, `/readyz` and `/metrics` on the main port (`ALLACCESS_METRICS=1`). */
  metrics: boolean
  /** A port of their own for them, on the same host (`ALLACCESS_METRICS_PORT`). */
  metricsPort: number | null
  logFormat: LogFormat
  production: boolean
}

export const PACKAGE_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..')
/** The demo SPA as `npm run build` leaves it (the compiled server lives one folder deeper, in dist/). */
const DEFAULT_STATIC_DIR = PACKAGE_ROOT.endsWith('/dist') ? join(PACKAGE_ROOT, 'demo') : join(PACKAGE_ROOT, 'dist', 'demo')

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new ConfigError(`${name} must be a whole number of at least ${min}, got "${raw}"`)
  // Past the longest timer a time limit fires at once; past 2^53 a number is not the one written.
  if (Number(raw) > max) throw new ConfigError(`${name} must be at most ${max}, got "${raw}"`)
  return Number(raw)
}

/** `DATABASE_URL`, or the development database. */
export function loadDatabaseUrl(env: NodeJS.ProcessEnv = process.env): string {
  return env.DATABASE_URL || 'sqlite://./data/all-access.sqlite3'
}

/** Where the development key is kept when ALLACCESS_KEYS is unset. */
export function devKeyFile(cwd: string): string {
  return join(cwd, 'data', 'keys')
}

/** The database and keys alone: what the CLI's store commands need. */
export function loadStoreConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd(), warn?: (message: string) => void) {
  return {
    databaseUrl: loadDatabaseUrl(env),
    keys: loadKeys({ env, devKeyFile: devKeyFile(cwd), warn }),
    poolMax: integer(env, 'ALLACCESS_DB_POOL_MAX', 10, 1),
  }
}

function loadPort(env: NodeJS.ProcessEnv, name = 'PORT', fallback = 3000): number {
  // No number's limit (2^53) before a port's: past it, too, the limit to name is 65535.
  const port = integer(env, name, fallback, 0, Infinity)
  if (port > 65535) throw new ConfigError(`${name} must be at most 65535, got ${env[name]}`)
  return port
}

function oneOf<T extends string>(env: NodeJS.ProcessEnv, name: string, allowed: readonly T[], fallback: T): T {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!(allowed as readonly string[]).includes(raw)) throw new ConfigError(`${name} must be ${allowed.join(' or ')}, got "${raw}"`)
  return raw as T
}

/** `ALLACCESS_METRICS_PORT`: unset, or a port other than the main one (0 picks a free one). */
function loadMetricsPort(env: NodeJS.ProcessEnv, port: number): number | null {
  if (env.ALLACCESS_METRICS_PORT === undefined || env.ALLACCESS_METRICS_PORT === '') return null
  const metricsPort = loadPort(env, 'ALLACCESS_METRICS_PORT', 0)
  if (metricsPort !== 0 && metricsPort === port) throw new ConfigError(`ALLACCESS_METRICS_PORT must differ from PORT (${port})`)
  return metricsPort
}

/** `PUBLIC_URL`, or this machine's address on `PORT`: the origin of every callback URL. */
export function loadPublicUrl(env: NodeJS.ProcessEnv = process.env): URL {
  const rawPublicUrl = env.PUBLIC_URL || `http://localhost:${loadPort(env)}`
  let publicUrl: URL
  try {
    publicUrl = new URL(rawPublicUrl)
  } catch {
    throw new ConfigError(`PUBLIC_URL is not a URL: "${rawPublicUrl}"`)
  }
  if (publicUrl.protocol !== 'https:' && publicUrl.protocol !== 'http:') throw new ConfigError('PUBLIC_URL must be http:// or https://')
  const problem = publicUrlProblem(publicUrl)
  if (problem) throw new ConfigError(`PUBLIC_URL ${problem}`)
  return publicUrl
}

/**
 * What keeps a URL from being the BFF's public origin, or null. The BFF's paths are fixed at the
 * root (`/auth/*`, `/api/*`, cookies on `/`), and callback URLs are built from the origin alone: a
 * path, query or user name given would be dropped silently, and the URL registered with a provider
 * from the README's `$PUBLIC_URL/auth/callback/<name>` would not be the one the BFF sends.
 */
export function publicUrlProblem(url: URL): string | null {
  if (url.username || url.password || url.pathname !== '/' || /[?#]/.test(url.href)) {
    return `must be an origin such as https://app.example.com, with no path, query, fragment, user name or password (the BFF's routes are /auth/* and /api/* at the root)`
  }
  return null
}

/**
 * A relative `sqlite://` path made absolute against `cwd`: createAllAccess reads the URL again where
 * no cwd is known, so `optionsFromEnv(env, cwd)` would otherwise open a file under the process's own.
 */
function anchoredDatabaseUrl(url: string, cwd: string): string {
  if (!url.startsWith('sqlite://')) return url
  let location: string
  try {
    location = parseDatabaseUrl(url, cwd).location
  } catch {
    // A malformed URL is told where the database is opened, as before.
    return url
  }
  return location === ':memory:' ? url : `sqlite://${location.replaceAll('%', '%25').replaceAll('?', '%3F')}`
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const port = loadPort(env)
  const publicUrl = loadPublicUrl(env)
  const logFormat = oneOf(env, 'ALLACCESS_LOG_FORMAT', LOG_FORMATS, 'text')
  // A json log is read by a collector line by line: the development key's warning is one of its lines.
  const warn = logFormat === 'json' ? (message: string) => jsonLogger.error(message) : undefined
  const store = loadStoreConfig(env, cwd, warn)
  return {
    ...store,
    databaseUrl: anchoredDatabaseUrl(store.databaseUrl, cwd),
    port,
    // An IPv6 address as a URL writes it, `[::1]`: listen() takes it bare, and would look the bracketed one up as a name.
    host: (env.HOST || 'localhost').replace(/^\[(.*)\]$/, '$1'),
    publicUrl,
    staticDir: env.ALLACCESS_STATIC_DIR ? resolve(cwd, env.ALLACCESS_STATIC_DIR) : DEFAULT_STATIC_DIR,
    proxyTimeoutMs: integer(env, 'ALLACCESS_PROXY_TIMEOUT_MS', 30_000, 1, LONGEST_TIMER_MS),
    proxyMaxBody: integer(env, 'ALLACCESS_PROXY_MAX_BODY', 10 * 1024 * 1024, 0),
    apiClientMaxBody: integer(env, 'ALLACCESS_API_CLIENT_MAX_BODY', 10 * 1024 * 1024, 1),
    loginRateLimit: integer(env, 'ALLACCESS_LOGIN_RATE_LIMIT', 30, 0),
    maxPendingLogins: integer(env, 'ALLACCESS_MAX_PENDING_LOGINS', 10_000, 1),
    trustProxy: integer(env, 'ALLACCESS_TRUST_PROXY', 0, 0),
    refreshLeaseMs: integer(env, 'ALLACCESS_REFRESH_LEASE_MS', 15_000, 1000, LONGEST_TIMER_MS - 5_000),
    metrics: oneOf(env, 'ALLACCESS_METRICS', ['0', '1'], '0') === '1',
    metricsPort: loadMetricsPort(env, port),
    logFormat,
    production: env.NODE_ENV === 'production',
  }
}

/**
 * `createAllAccess`'s options as the environment sets them (the README's Configuration table):
 * `createAllAccess({ ...optionsFromEnv(process.env), hooks })` configures a BFF mounted in your
 * own Koa app exactly as `all-access serve` is configured.
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()) {
  return optionsFromConfig(loadConfig(env, cwd))
}

export function optionsFromConfig(config: Config) {
  return {
    publicUrl: config.publicUrl,
    databaseUrl: config.databaseUrl,
    keys: config.keys,
    pool: { max: config.poolMax },
    proxy: { timeoutMs: config.proxyTimeoutMs, maxBody: config.proxyMaxBody },
    refresh: { leaseMs: config.refreshLeaseMs, waitMs: config.refreshLeaseMs + 5_000 },
    apiClient: { maxBody: config.apiClientMaxBody },
    loginLimits: { perAddressPerMinute: config.loginRateLimit, maxPendingLogins: config.maxPendingLogins },
    log: consoleLoggerFor(config.logFormat),
  } satisfies Partial<AllAccessOptions>
}
