import knexFactory, { type Knex } from 'knex'
import { mkdirSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { migrationSource } from '../../migrations/index.ts'

export type DatabaseKind = 'sqlite' | 'postgres'

export interface DatabaseTarget {
  kind: DatabaseKind
  /** SQLite: an absolute file path or `:memory:`; PostgreSQL: the connection string. */
  location: string
}

export class DatabaseUrlError extends Error {
  override name = 'DatabaseUrlError'
}

/** Reads `DATABASE_URL`: `sqlite://PATH` (relative to `cwd`, or absolute as `sqlite:///abs/path`) or `postgres://…`. */
export function parseDatabaseUrl(url: string, cwd = process.cwd()): DatabaseTarget {
  if (url.startsWith('sqlite://')) {
    let path: string
    try {
      path = decodeURIComponent(url.slice('sqlite://'.length))
    } catch {
      throw new DatabaseUrlError('DATABASE_URL sqlite:// path has a malformed %-escape (write % as %25)')
    }
    if (!path) throw new DatabaseUrlError('DATABASE_URL sqlite:// needs a file path, e.g. sqlite://./data/all-access.sqlite3')
    return { kind: 'sqlite', location: path === ':memory:' ? path : resolve(cwd, path) }
  }
  if (/^postgres(ql)?:\/\//.test(url)) {
    try {
      new URL(url)
    } catch {
      throw new DatabaseUrlError('DATABASE_URL is not a valid postgres:// URL')
    }
    return { kind: 'postgres', location: url }
  }
  throw new DatabaseUrlError(`DATABASE_URL must start with sqlite:// or postgres://, got "${url.split(':')[0]}:…"`)
}

export interface PoolOptions {
  min?: number
  max?: number
}

export function openDatabase(target: DatabaseTarget, pool: PoolOptions = {}): Knex {
  if (target.kind === 'sqlite') {
    if (target.location !== ':memory:') {
      try {
        mkdirSync(dirname(target.location), { recursive: true })
      } catch (error) {
        throw new DatabaseUrlError(`DATABASE_URL: cannot create the folder ${dirname(target.location)} (${(error as NodeJS.ErrnoException).code})`)
      }
    }
    return knexFactory({
      client: 'sqlite3',
      connection: { filename: target.location },
      useNullAsDefault: true,
      // One connection: SQLite serialises writers anyway, and one connection keeps transactions simple.
      pool: {
        min: 1,
        max: 1,
        afterCreate: (connection: { exec(sql: string, done: (error: Error | null) => void): void }, done: (error: Error | null, connection: unknown) => void) => {
          connection.exec('PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000;', (error) => done(error, connection))
        },
      },
    })
  }
  return knexFactory({
    client: 'pg',
    connection: target.location,
    // Knex would print every failed connection attempt; callers turn them into one clear message.
    log: { warn: () => {}, error: () => {}, debug: () => {}, deprecate: () => {} },
    pool: { min: pool.min ?? 0, max: pool.max ?? 10 },
    acquireConnectionTimeout: 10_000,
  })
}

/**
 * Applies pending migrations. Several instances starting at once race to create knex's own
 * bookkeeping tables; the losers wait and try again, and find the work done.
 */
export async function migrate(knex: Knex, attempts = 5): Promise<string[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      const [, applied] = (await knex.migrate.latest({ migrationSource })) as [number, string[]]
      return applied
    } catch (error) {
      const racing = /already exists|duplicate key|Migration table is already locked|SQLITE_BUSY|UNIQUE constraint/i.test((error as Error).message)
      if (!racing || attempt >= attempts) throw error
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt + Math.random() * 200))
    }
  }
}
