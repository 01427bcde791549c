import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { loadKeys, type RootKey } from './crypto/keys.ts'

export class ConfigError extends Error {
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
  poolMax: number
  /** How long one instance may hold an account's refresh lease (a crashed holder blocks others at most this long). */
  refreshLeaseMs: number
  production: boolean
}

export const PACKAGE_ROOT = resolve(fileURLToPath(new URL('.', import.meta.url)), '..')
/** The demo SPA as `npm run build` leaves it (the compiled server lives one folder deeper, in dist/). */
const DEFAULT_STATIC_DIR = PACKAGE_ROOT.endsWith('/dist') ? join(PACKAGE_ROOT, 'demo') : join(PACKAGE_ROOT, 'dist', 'demo')

function integer(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 0): number {
  const raw = env[name]
  if (raw === undefined || raw === '') return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < min) throw new ConfigError(`${name} must be a whole number of at least ${min}, got "${raw}"`)
  return Number(raw)
}

/** The database and keys alone: what the CLI's store commands need. */
export function loadStoreConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()) {
  return {
    databaseUrl: env.DATABASE_URL || 'sqlite://./data/all-access.sqlite3',
    keys: loadKeys({ env, devKeyFile: join(cwd, 'data', 'keys') }),
    poolMax: integer(env, 'ALLACCESS_DB_POOL_MAX', 10, 1),
  }
}

function loadPort(env: NodeJS.ProcessEnv): number {
  const port = integer(env, 'PORT', 3000)
  if (port > 65535) throw new ConfigError(`PORT must be at most 65535, got ${port}`)
  return port
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
  return publicUrl
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const port = loadPort(env)
  const publicUrl = loadPublicUrl(env)
  return {
    ...loadStoreConfig(env, cwd),
    port,
    host: env.HOST || 'localhost',
    publicUrl,
    staticDir: env.ALLACCESS_STATIC_DIR ? resolve(cwd, env.ALLACCESS_STATIC_DIR) : DEFAULT_STATIC_DIR,
    proxyTimeoutMs: integer(env, 'ALLACCESS_PROXY_TIMEOUT_MS', 30_000, 1),
    proxyMaxBody: integer(env, 'ALLACCESS_PROXY_MAX_BODY', 10 * 1024 * 1024, 0),
    refreshLeaseMs: integer(env, 'ALLACCESS_REFRESH_LEASE_MS', 15_000, 1000),
    production: env.NODE_ENV === 'production',
  }
}
