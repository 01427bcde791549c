import knexFactory, { type Knex } from 'knex'
import { chmodSync, closeSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { hostname } from 'node:os'
import { dirname, resolve } from 'node:path'
import pgConnectionString from 'pg-connection-string'
import { migratedTables, migrationSource } from '../../migrations/index.ts'
import { InputError } from '../input-error.ts'
import { keepStatementsPrepared, type SqliteConnection } from './sqlite-statements.ts'

export type DatabaseKind = 'sqlite' | 'postgres'

/** Whether an optional peer dependency can be loaded from where all-access is installed. */
export function installed(name: string): boolean {
  try {
    createRequire(import.meta.url).resolve(name)
    return true
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND') return false
    throw error
  }
}

export interface DatabaseTarget {
  kind: DatabaseKind
  /** SQLite: an absolute file path or `:memory:`; PostgreSQL: the connection string. */
  location: string
}

export class DatabaseUrlError extends InputError {
  override name = 'DatabaseUrlError'
}

/** Reads `DATABASE_URL`: `sqlite://PATH` (relative to `cwd`, or absolute as `sqlite:///abs/path`) or `postgres://…`. */
export function parseDatabaseUrl(url: string, cwd = process.cwd()): DatabaseTarget {
  if (url.startsWith('sqlite://')) {
    // Other tools' options (`?mode=ro`, `?cache=shared`) were read as part of the file name: a new
    // database named `x?mode=ro` took every write, the one named beside it none.
    const query = url.indexOf('?')
    if (query !== -1) throw new DatabaseUrlError(`DATABASE_URL sqlite:// takes no query string, got "${url.slice(query)}" (write a ? of the file name as %3F)`)
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
    // libpq's host-less form (`postgres://app@/appdb?host=/var/run/postgresql`: a Unix socket, or the
    // host in PGHOST) is no URL to WHATWG's parser; pg reads it with a stand-in host, and so does this check.
    if (!URL.canParse(url) && !URL.canParse(url.replace('@/', '@localhost/'))) throw new DatabaseUrlError('DATABASE_URL is not a valid postgres:// URL')
    return { kind: 'postgres', location: url }
  }
  throw new DatabaseUrlError(`DATABASE_URL must start with sqlite:// or postgres://, got "${url.split(':')[0]}:…"`)
}

/** A write refused by a unique index (PostgreSQL 23505; SQLite names the kind only in its message). */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string }
  return e?.code === '23505' || (e?.code === 'SQLITE_CONSTRAINT' && /UNIQUE constraint failed/.test(e.message ?? ''))
}

/** Whether a Knex instance runs on SQLite (one connection, no row locks) rather than PostgreSQL. */
export function isSqlite(db: Knex): boolean {
  return (db.client as { dialect?: string }).dialect === 'sqlite3'
}

/**
 * The database's clock, in milliseconds since the epoch, as an SQL expression: what times that
 * several instances compare (refresh leases) are read on, so that an instance whose own clock runs
 * ahead does not take a lease that is still running on the holder's.
 */
export function databaseNow(db: Knex): Knex.Raw {
  return isSqlite(db) ? db.raw(`CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)`) : db.raw('(extract(epoch from statement_timestamp()) * 1000)::bigint')
}

export interface PoolOptions {
  min?: number
  max?: number
}

/**
 * A postgres:// URL as pg's connection settings. pg-connection-string keeps an IPv6 host's brackets
 * (`postgres://app@[2001:db8::5]/app`, as URLs write it), which the resolver then fails to find:
 * the address goes without them.
 */
function pgConnection(url: string): Knex.PgConnectionConfig {
  const connection = pgConnectionString.parse(url) as Knex.PgConnectionConfig
  const bracketed = /^\[([0-9a-f:.]+(?:%[^\]]+)?)\]$/i.exec(connection.host ?? '')
  if (bracketed) connection.host = bracketed[1]
  // pg waits for ever on a server that takes the connection and says nothing (frozen, or a proxy
  // whose backend is gone), its socket open: Knex gave up on it, but closing the pool then waited
  // 20 s more for it. It gives up a second after Knex, whose timeout is then the one reported.
  connection.connectionTimeoutMillis = CONNECT_TIMEOUT_MS + 1000
  return connection
}

/** How long a connection to PostgreSQL may take to be made, or taken from the pool. */
export const CONNECT_TIMEOUT_MS = 10_000

const SILENT_KNEX_LOG = { warn: () => {}, error: () => {}, debug: () => {}, deprecate: () => {} }

/**
 * A SQLite file that is not a database (DATABASE_URL mistyped onto a dump, a key file, a backup) is
 * the settings' fault, named as such: SQLite's own words name neither the setting nor the file.
 */
function notADatabase(error: Error | null, location: string): Error | null {
  if ((error as { code?: string } | null)?.code !== 'SQLITE_NOTADB') return error
  return notADatabaseError(location)
}

function notADatabaseError(location: string): DatabaseUrlError {
  return new DatabaseUrlError(`DATABASE_URL: ${location} is not a SQLite database (SQLITE_NOTADB)`)
}

/** The first 16 bytes of every SQLite database file (https://www.sqlite.org/fileformat.html, 1.3.1). */
const SQLITE_HEADER = Buffer.from('SQLite format 3\0', 'latin1')

/**
 * Whether `location` holds something other than a SQLite database: read before openDatabase makes the
 * file owner-only, which SQLite's own refusal came after (a text file shared with a group lost its
 * group's access). False when there is no file, an empty one (a new database) or none to read: the
 * opening then says what it finds.
 */
function holdsOtherData(location: string): boolean {
  let fd: number
  try {
    fd = openSync(location, 'r')
  } catch {
    return false
  }
  try {
    const head = Buffer.alloc(SQLITE_HEADER.length)
    const read = readSync(fd, head, 0, head.length, 0)
    return read > 0 && !(read === head.length && head.equals(SQLITE_HEADER))
  } catch {
    return false
  } finally {
    closeSync(fd)
  }
}

/**
 * Whether the SQLite file at `location` holds Knex's migrations table, read on a read-only
 * connection: openDatabase makes the file owner-only and switches it to WAL, which a command that
 * then refuses another app's database must not have done to it. Null when a read-only connection
 * cannot tell (a WAL file whose shared memory it cannot make).
 */
export async function sqliteHoldsMigrations(location: string): Promise<boolean | null> {
  const sqlite3 = loadSqliteDriver()
  return new Promise((resolve, reject) => {
    const db = new sqlite3.Database(location, sqlite3.OPEN_READONLY, (error) => {
      if (error) return db.close(() => resolve(null))
      db.get("SELECT 1 AS found FROM sqlite_master WHERE type = 'table' AND name = 'knex_migrations'", (error: Error | null, row: unknown) =>
        db.close(() => {
          const refused = notADatabase(error, location)
          if (refused instanceof DatabaseUrlError) reject(refused)
          else resolve(error ? null : row !== undefined)
        }),
      )
    })
  })
}

/**
 * sqlite3, whose native binding its install script fetches or builds: npm 12 runs that script only
 * when the app's `allowScripts` lists sqlite3 (npm 11 only warns), and without the binding every
 * command ended in the bindings package's stack trace, as a bug of ours would.
 */
function loadSqliteDriver(): typeof import('sqlite3') {
  try {
    return createRequire(import.meta.url)('sqlite3')
  } catch (error) {
    // The bindings package's first line ends in "Tried:", before the paths it looked in.
    const said = String((error as Error)?.message ?? error).split('\n')[0].replace(/\s*Tried:$/, '')
    throw new DatabaseUrlError(
      `DATABASE_URL is a sqlite:// URL, and the sqlite3 package cannot load (${said}): if npm skipped its install script, allow it with npm install-scripts approve sqlite3, then npm rebuild sqlite3`,
    )
  }
}

export function openDatabase(target: DatabaseTarget, pool: PoolOptions = {}): Knex {
  if (target.kind === 'sqlite') {
    loadSqliteDriver()
    if (target.location !== ':memory:') {
      // Owner only: the folder, the file, and so the WAL and shared-memory files SQLite makes with the file's mode.
      try {
        mkdirSync(dirname(target.location), { recursive: true, mode: 0o700 })
      } catch (error) {
        throw new DatabaseUrlError(`DATABASE_URL: cannot create the folder ${dirname(target.location)} (${(error as NodeJS.ErrnoException).code})`)
      }
      if (holdsOtherData(target.location)) throw notADatabaseError(target.location)
      try {
        closeSync(openSync(target.location, 'a', 0o600))
        chmodSync(target.location, 0o600)
      } catch (error) {
        throw new DatabaseUrlError(`DATABASE_URL: cannot create the file ${target.location} (${(error as NodeJS.ErrnoException).code})`)
      }
    }
    return knexFactory({
      client: 'sqlite3',
      connection: { filename: target.location },
      useNullAsDefault: true,
      // An error message must never carry a bound value: it may be a token.
      compileSqlOnError: false,
      // Knex would print a failed connection on stdout (into `providers list --json`'s output too):
      // callers turn it into one clear message.
      log: SILENT_KNEX_LOG,
      // One connection: SQLite serialises writers anyway, and one connection keeps transactions simple.
      pool: {
        min: 1,
        max: 1,
        afterCreate: (connection: SqliteConnection & { exec(sql: string, done: (error: Error | null) => void): void }, done: (error: Error | null, connection: unknown) => void) => {
          // WAL with synchronous=NORMAL: a commit is not an fsync (the WAL is synced at checkpoints), and the
          // database stays consistent through a crash; a power cut may lose the last commits only.
          connection.exec('PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;', (error) =>
            done(notADatabase(error, target.location), keepStatementsPrepared(connection)),
          )
        },
      },
    })
  }
  if (!installed('pg')) throw new DatabaseUrlError('DATABASE_URL is a postgres:// URL, which needs the pg package: npm install pg')
  try {
    return knexFactory({
      client: 'pg',
      // Read here with the parser (and version) Knex reads a URL with, but from every form pg takes: Knex
      // takes a URL its WHATWG parser refuses, libpq's host-less one among them, for a SQLite file name.
      connection: pgConnection(target.location),
      compileSqlOnError: false,
      // Knex would print every failed connection attempt; callers turn them into one clear message.
      log: SILENT_KNEX_LOG,
      pool: { min: pool.min ?? 0, max: pool.max ?? 10 },
      acquireConnectionTimeout: CONNECT_TIMEOUT_MS,
    })
  } catch (error) {
    // The URL's sslrootcert, sslcert or sslkey, read as it is parsed: a path of the settings, not a bug.
    const { code, path } = error as NodeJS.ErrnoException
    if (code && path) throw new DatabaseUrlError(`DATABASE_URL: cannot read ${path} (${code})`)
    throw error
  }
}

/** Migrations could not run: another process kept them locked past the deadline. */
export class MigrationLockError extends InputError {
  override name = 'MigrationLockError'
}

export interface MigrateOptions {
  /** How long to wait for another process's migration before giving up; default 60 s. */
  deadlineMs?: number
}

/**
 * Applies pending migrations, at most once however many processes start together. Each migrator
 * first takes a lock of ours that dies with its holder (a PostgreSQL advisory lock, or on SQLite a
 * lock file naming a live process), and waits for it up to a deadline. Holding it, a knex lock row
 * still set can only be a crashed migrator's, so it is cleared: no stale lock blocks later starts.
 */
export async function migrate(knex: Knex, { deadlineMs = 60_000 }: MigrateOptions = {}): Promise<string[]> {
  const lock = await migrationLock(knex, deadlineMs)
  try {
    const db = lock.db
    const before = await appliedMigrations(db)
    await refuseNewerMigrations(before)
    if (!before.length) await refuseTablesInTheWay(db)
    if (await db.schema.hasTable('knex_migrations_lock')) await db.migrate.forceFreeMigrationsLock({ migrationSource })
    const [, applied] = (await db.migrate.latest({ migrationSource })) as [number, string[]]
    return applied
  } finally {
    await lock.release()
  }
}

/** The names of the migrations the database has had, in order; none on a new database. */
async function appliedMigrations(knex: Knex): Promise<string[]> {
  return (await knex.schema.hasTable('knex_migrations')) ? knex('knex_migrations').orderBy('name').pluck('name') : []
}

/** The database was migrated by a newer all-access than this one. */
export class MigrationVersionError extends InputError {
  override name = 'MigrationVersionError'
}

/**
 * A version rolled back after a newer one migrated the database finds migrations it does not know:
 * Knex calls that a corrupt migration directory, in a stack trace. It is a version mismatch, named
 * as one; nothing is applied, since this version's code does not know the newer schema.
 */
async function refuseNewerMigrations(applied: string[]): Promise<void> {
  const known = new Set(await migrationSource.getMigrations([]))
  const unknown = applied.filter((name) => !known.has(name))
  if (unknown.length && unknown.length === applied.length) {
    throw new MigrationVersionError(
      `migrations: the database holds another application's Knex migrations (${namesInBrief(unknown)}) and none of all-access's: give all-access a database of its own`,
    )
  }
  if (unknown.length) {
    throw new MigrationVersionError(
      `migrations: the database has migrations this version of all-access does not know (${namesInBrief(unknown)}): a newer all-access migrated it; run that version, or restore a backup taken before it`,
    )
  }
}

/** The first few of a list that may be another application's hundreds of migrations. */
function namesInBrief(names: string[]): string {
  return names.length > 3 ? `${names.slice(0, 3).join(', ')} and ${names.length - 3} more` : names.join(', ')
}

/** A database that another application's tables keep all-access's first migration from creating its own. */
export class DatabaseInUseError extends InputError {
  override name = 'DatabaseInUseError'
}

/**
 * Before the first migration (none applied yet): a table of all-access's name already there is another application's.
 * Refused before Knex creates its own two tables, so the database is left as it was found, instead of
 * failing on `relation "users" already exists` with knex_migrations left behind.
 */
async function refuseTablesInTheWay(knex: Knex): Promise<void> {
  const found: string[] = []
  for (const table of migratedTables) if (await knex.schema.hasTable(table)) found.push(table)
  if (found.length) {
    throw new DatabaseInUseError(
      `migrations: the database already has ${found.length === 1 ? 'a table' : 'tables'} named ${found.join(', ')}, which all-access would create: it is another application's; give all-access a database of its own`,
    )
  }
}

/** The database lacks migrations this version needs: nothing applied them (`createAllAccess` with `migrate: false`). */
export class MigrationsPendingError extends InputError {
  override name = 'MigrationsPendingError'
}

/**
 * For a BFF told not to migrate: refuses a database without every migration this version knows,
 * naming them, before it answers anything. Started anyway, it answered `/readyz` ready and then
 * `500 server_error` on every route that reads the missing table or column. Reads only.
 */
export async function refusePendingMigrations(knex: Knex): Promise<void> {
  const applied = new Set(await appliedMigrations(knex))
  const pending = (await migrationSource.getMigrations([])).filter((name) => !applied.has(name))
  if (pending.length) throw new MigrationsPendingError(`migrations: the database lacks ${pending.join(', ')}: run all-access migrate first (or leave createAllAccess's migrate option on)`)
}

interface MigrationLock {
  /** Where the migrations run: on PostgreSQL the lock's own connection, so the pool opens none meanwhile. */
  db: Knex
  release(): Promise<void>
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
/** Any fixed number: it names "all-access migrations" among the database's advisory locks. */
const ADVISORY_LOCK_KEY = 0x616c6c61

function lockTimeout(deadlineMs: number, where: string): MigrationLockError {
  return new MigrationLockError(`migrations: another process is still applying migrations (${where}); waited ${Math.round(deadlineMs / 1000)} s, start again once it has finished`)
}

async function migrationLock(knex: Knex, waited: number): Promise<MigrationLock> {
  const config = knex.client.config as Knex.Config
  // The message names the wait asked for: computed from the clock, a millisecond gone by turned 500 ms into "0 s".
  const deadline = Date.now() + waited
  if (config.client === 'pg') {
    // A connection of its own, on which the migrations then run too: an instance opens no more than
    // its pool's ALLACCESS_DB_POOL_MAX connections, even while it migrates (a role's connection limit
    // sized to the pool had refused the pool's first connection beside the lock's, and the start).
    const holder = knexFactory({ ...config, pool: { min: 1, max: 1 } })
    try {
      for (let attempt = 0; ; attempt++) {
        const { rows } = await holder.raw('SELECT pg_try_advisory_lock(?) AS taken', [ADVISORY_LOCK_KEY])
        if (rows[0].taken) break
        if (Date.now() > deadline) throw lockTimeout(waited, 'PostgreSQL advisory lock')
        await sleep(Math.min(50 * 2 ** attempt, 500))
      }
    } catch (error) {
      await holder.destroy()
      throw error
    }
    // Ending the connection frees the advisory lock, also when this process dies mid-migration.
    return { db: holder, release: () => holder.destroy() }
  }
  const filename = (config.connection as { filename: string }).filename
  if (filename === ':memory:') return { db: knex, release: async () => {} }
  const lockFile = `${filename}.migrating`
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(lockFile, `${process.pid} ${hostname()}\n`, { flag: 'wx', mode: 0o600 })
      heldLockFiles.add(lockFile)
      return {
        db: knex,
        release: async () => {
          heldLockFiles.delete(lockFile)
          rmSync(lockFile, { force: true })
        },
      }
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error
    }
    if (lockHolderIsGone(lockFile)) {
      rmSync(lockFile, { force: true })
      continue
    }
    if (Date.now() > deadline) throw lockTimeout(waited, `${lockFile} is held`)
    await sleep(Math.min(50 * 2 ** attempt, 500))
  }
}

/** The SQLite lock files this process holds (two stores of one process may migrate one file). */
const heldLockFiles = new Set<string>()

/** True when the lock file names a process of this machine that no longer runs: provably stale. */
function lockHolderIsGone(lockFile: string): boolean {
  let content: string
  try {
    content = readFileSync(lockFile, 'utf8')
  } catch {
    return false
  }
  const [pid, host] = content.trim().split(' ')
  // Written but not yet filled in by a live process: not stale.
  if (!pid || host !== hostname()) return false
  // This process's own id, on a lock it does not hold: an earlier process of that id died holding it.
  // A container's PID 1 restarted after a kill mid-migration (same hostname, same id) would otherwise
  // wait on itself, and give up, at every start.
  if (Number(pid) === process.pid) return !heldLockFiles.has(lockFile)
  try {
    process.kill(Number(pid), 0)
    return false
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH'
  }
}
