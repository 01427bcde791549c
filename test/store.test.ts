import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { hostname } from 'node:os'
import knexFactory from 'knex'
import { migratedTables, migrationSource } from '../migrations/index.ts'
import { dirname, join } from 'node:path'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { hashId } from '../server/crypto/random.ts'
import { createAllAccess } from '../server/all-access.ts'
import { SecretBox } from '../server/crypto/secret-box.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'
import type { AccountTokens } from '../server/store/accounts.ts'
import { DatabaseInUseError, DatabaseUrlError, MigrationLockError, MigrationsPendingError, MigrationVersionError, openDatabase } from '../server/store/database.ts'
import { migrate, openStore, parseDatabaseUrl, storeOn, type Store } from '../server/store/index.ts'
import { ENCRYPTED_COLUMNS } from '../server/store/encrypted-columns.ts'
import { rotateKeys } from '../server/store/key-rotation.ts'
import { DEFAULT_SESSION_TIMEOUTS, Sessions } from '../server/session/sessions.ts'
import { databases } from './support/databases.ts'
import { scratchFolder } from './support/scratch-folder.ts'

const TABLES = ['providers', 'users', 'accounts', 'sessions', 'login_flows']
/** Every migration, in the order a new database gets them. */
const MIGRATIONS = await migrationSource.getMigrations([])

const provider = (name: string, overrides: Parameters<typeof buildProviderConfig>[1] = {}) =>
  buildProviderConfig(name, {
    authorizationUrl: 'https://idp.example/authorize',
    accessTokenUrl: 'https://idp.example/token',
    profileUrl: 'https://idp.example/me',
    clientId: `client-id-${name}`,
    clientSecret: `client-secret-${name}`,
    ...overrides,
  })

const tokens: AccountTokens = {
  accessToken: 'access-token-1',
  tokenSecret: 'token-secret-1',
  refreshToken: 'refresh-token-1',
  idToken: 'id-token-1',
  expiresAt: 1_900_000_000_000,
  scope: 'read write',
}

const HOUR = 3_600_000
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

describe('parseDatabaseUrl', () => {
  it('reads a sqlite path relative to the working folder', () => {
    expect(parseDatabaseUrl('sqlite://./data/x.sqlite3', '/srv/app')).toEqual({ kind: 'sqlite', location: '/srv/app/data/x.sqlite3' })
    expect(parseDatabaseUrl('sqlite://data/x.sqlite3', '/srv/app')).toEqual({ kind: 'sqlite', location: '/srv/app/data/x.sqlite3' })
  })

  it('reads an absolute sqlite path, %-escapes decoded, and :memory:', () => {
    expect(parseDatabaseUrl('sqlite:///var/db.sqlite3', '/srv/app')).toEqual({ kind: 'sqlite', location: '/var/db.sqlite3' })
    expect(parseDatabaseUrl('sqlite:///var/my%20db.sqlite3')).toEqual({ kind: 'sqlite', location: '/var/my db.sqlite3' })
    expect(parseDatabaseUrl('sqlite://:memory:')).toEqual({ kind: 'sqlite', location: ':memory:' })
  })

  it('takes postgres:// and postgresql:// URLs as they are', () => {
    expect(parseDatabaseUrl('postgres://u:p@h:5432/db')).toEqual({ kind: 'postgres', location: 'postgres://u:p@h:5432/db' })
    expect(parseDatabaseUrl('postgresql://h/db?sslmode=require')).toEqual({ kind: 'postgres', location: 'postgresql://h/db?sslmode=require' })
    // libpq's host-less form, which pg reads too: the host (a Unix socket's folder) in ?host=, or in PGHOST.
    expect(parseDatabaseUrl('postgres://app@/appdb?host=/var/run/postgresql')).toEqual({ kind: 'postgres', location: 'postgres://app@/appdb?host=/var/run/postgresql' })
  })

  it.each([
    ['mysql://localhost/db', 'DATABASE_URL must start with sqlite:// or postgres://, got "mysql:…"'],
    ['sqlite:data.sqlite3', 'DATABASE_URL must start with sqlite:// or postgres://, got "sqlite:…"'],
    ['sqlite://', 'DATABASE_URL sqlite:// needs a file path, e.g. sqlite://./data/all-access.sqlite3'],
    ['sqlite://./data/100%.sqlite3', 'DATABASE_URL sqlite:// path has a malformed %-escape (write % as %25)'],
    ['postgres://u:secret@[bad/db', 'DATABASE_URL is not a valid postgres:// URL'],
  ])('refuses %j with a message that names the problem and no password', (url, message) => {
    expect(() => parseDatabaseUrl(url)).toThrow(new DatabaseUrlError(message))
  })
})

describe('openDatabase on SQLite', () => {
  it('creates the missing folders of the file', async () => {
    const dir = scratchFolder('aa-store-')
    const db = openDatabase(parseDatabaseUrl(`sqlite://${join(dir, 'a', 'b', 'db.sqlite3')}`))
    try {
      await migrate(db)
      expect(existsSync(join(dir, 'a', 'b', 'db.sqlite3'))).toBe(true)
    } finally {
      await db.destroy()
    }
  })

  it('says which folder it cannot create, in one line', () => {
    const dir = scratchFolder('aa-store-')
    writeFileSync(join(dir, 'a-file'), '')
    expect(() => openDatabase(parseDatabaseUrl(`sqlite://${join(dir, 'a-file', 'sub', 'db.sqlite3')}`))).toThrow(
      new DatabaseUrlError(`DATABASE_URL: cannot create the folder ${join(dir, 'a-file', 'sub')} (ENOTDIR)`),
    )
  })

  it('opens a relative path from the cwd given to openStore', async () => {
    const dir = scratchFolder('aa-store-')
    const store = openStore({ databaseUrl: 'sqlite://./data/db.sqlite3', keys: parseKeys(generateKey()), cwd: dir })
    try {
      await migrate(store.db)
      expect(existsSync(join(dir, 'data', 'db.sqlite3'))).toBe(true)
    } finally {
      await store.close()
    }
  })
})

describe.each(databases)('the store on $kind', (database) => {
  let url: string
  let drop: () => Promise<void>
  let store: Store
  const keys = parseKeys(generateKey())
  const extraStores: Store[] = []

  /** A second store on the same database, as another BFF instance would have. */
  function anotherInstance(box = store.box): Store {
    const other = openStore({ databaseUrl: url, keys: box.keys })
    extraStores.push(other)
    return other
  }

  const count = async (table: string, db = store.db) => Number((await db(table).count({ n: '*' }).first())?.n)

  /** The database's tables, sorted, as its own catalogue lists them. */
  async function tablesOf(db: Store['db']): Promise<string[]> {
    const names =
      database.kind === 'sqlite'
        ? await db('sqlite_master').where({ type: 'table' }).whereNot('name', 'like', 'sqlite_%').pluck('name')
        : await db('pg_tables').where('schemaname', db.raw('current_schema()')).pluck('tablename')
    return (names as string[]).sort()
  }

  /** A new database on which another application has written `sql` first. */
  async function anotherApplicationsDatabase(sql: string[]): Promise<{ other: Store; dropOther: () => Promise<void> }> {
    const { url: fresh, drop: dropOther } = await database.create()
    const other = openStore({ databaseUrl: fresh, keys })
    for (const statement of sql) await other.db.raw(statement)
    return { other, dropOther }
  }

  beforeEach(async () => {
    ;({ url, drop } = await database.create())
    store = openStore({ databaseUrl: url, keys })
    await migrate(store.db)
  })

  afterEach(async () => {
    for (const other of extraStores.splice(0)) await other.close()
    await store.close()
    await drop()
  })

  describe('migrations', () => {
    it('create every table, and a second run applies nothing and keeps the data', async () => {
      for (const table of TABLES) expect(await store.db.schema.hasTable(table)).toBe(true)
      // The list migrate checks a new database against names every table the migrations made.
      expect(await tablesOf(store.db)).toEqual([...migratedTables, 'knex_migrations', 'knex_migrations_lock'].sort())
      await store.providers.add(provider('kept'))
      expect(await migrate(store.db)).toEqual([])
      expect(await migrate(store.db)).toEqual([])
      expect((await store.providers.list()).map((p) => p.name)).toEqual(['kept'])
    })

    it('apply once when two instances migrate a new database at the same moment', async () => {
      const { url: fresh, drop: dropFresh } = await database.create()
      const one = openStore({ databaseUrl: fresh, keys })
      const two = openStore({ databaseUrl: fresh, keys })
      try {
        const applied = await Promise.all([migrate(one.db), migrate(two.db)])
        expect(applied.flat()).toEqual(MIGRATIONS)
        expect(await count('knex_migrations', one.db)).toBe(MIGRATIONS.length)
        for (const table of TABLES) expect(await two.db.schema.hasTable(table)).toBe(true)
      } finally {
        await one.close()
        await two.close()
        await dropFresh()
      }
    })
    /** Holds the migration lock the way a migrating process would, until `release`. */
    async function holdMigrationLock(fresh: string): Promise<{ release(): Promise<void> }> {
      if (database.kind === 'sqlite') {
        const lockFile = `${parseDatabaseUrl(fresh).location}.migrating`
        // Another live process of this machine (this one's own id on a lock it does not hold is a dead holder's).
        writeFileSync(lockFile, `${process.ppid} ${hostname()}\n`)
        return { release: async () => rmSync(lockFile, { force: true }) }
      }
      const holder = knexFactory({ client: 'pg', connection: fresh, pool: { min: 1, max: 1 } })
      await holder.raw('SELECT pg_advisory_lock(?)', [0x616c6c61])
      return { release: () => holder.destroy() }
    }

    it('wait for another process that migrates for longer than a few retries, then find the work done', async () => {
      const { url: fresh, drop: dropFresh } = await database.create()
      const one = openStore({ databaseUrl: fresh, keys })
      const lock = await holdMigrationLock(fresh)
      try {
        const waiting = migrate(one.db)
        await sleep(3000)
        // Meanwhile the other process applies everything, then lets go.
        const other = openStore({ databaseUrl: fresh, keys })
        await other.db.migrate.latest({ migrationSource })
        await other.close()
        await lock.release()
        expect(await waiting).toEqual([])
        expect(await count('knex_migrations', one.db)).toBe(MIGRATIONS.length)
      } finally {
        await lock.release()
        await one.close()
        await dropFresh()
      }
    })

    it('give up at the deadline with one line when another process keeps migrating', async () => {
      const { url: fresh, drop: dropFresh } = await database.create()
      const one = openStore({ databaseUrl: fresh, keys })
      const lock = await holdMigrationLock(fresh)
      try {
        const error = await migrate(one.db, { deadlineMs: 500 }).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(MigrationLockError)
        expect((error as Error).message).toMatch(/^migrations: another process is still applying migrations \(.*\); waited 1 s, start again once it has finished$/)
        expect(await one.db.schema.hasTable('providers')).toBe(false)
      } finally {
        await lock.release()
        await one.close()
        await dropFresh()
      }
    })

    it('clear the knex lock a crashed migrator left set', async () => {
      await store.db.migrate.rollback({ migrationSource })
      // A migrator killed between taking knex's lock and freeing it leaves is_locked = 1 behind.
      await store.db('knex_migrations_lock').update({ is_locked: 1 })
      expect(await migrate(store.db, { deadlineMs: 2000 })).toEqual(MIGRATIONS)
      expect(Number((await store.db('knex_migrations_lock').first()).is_locked)).toBe(0)
    })

    it("refuse another application's database that Knex migrated, in one line saying so, and change nothing", async () => {
      const { other, dropOther } = await anotherApplicationsDatabase([
        'CREATE TABLE knex_migrations (id INTEGER PRIMARY KEY, name VARCHAR(255), batch INTEGER, migration_time TIMESTAMP)',
        'CREATE TABLE orders (id INTEGER PRIMARY KEY)',
        ...['20240101_orders', '20240102_customers', '20240103_invoices', '20240104_refunds', '20240105_taxes'].map(
          (name, i) => `INSERT INTO knex_migrations (id, name, batch) VALUES (${i + 1}, '${name}', 1)`,
        ),
      ])
      try {
        const error = await migrate(other.db).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(MigrationVersionError)
        // Not "a newer all-access migrated it", which sent the operator looking for a version that never existed.
        expect((error as Error).message).toBe(
          "migrations: the database holds another application's Knex migrations (20240101_orders, 20240102_customers, 20240103_invoices and 2 more) and none of all-access's: give all-access a database of its own",
        )
        expect(await tablesOf(other.db)).toEqual(['knex_migrations', 'orders'])
      } finally {
        await other.close()
        await dropOther()
      }
    })

    it("refuse a database whose tables have all-access's names, in one line naming them, and create nothing", async () => {
      const { other, dropOther } = await anotherApplicationsDatabase(['CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT)', 'CREATE TABLE sessions (sid TEXT PRIMARY KEY)'])
      try {
        const error = await migrate(other.db).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(DatabaseInUseError)
        expect((error as Error).message).toBe(
          "migrations: the database already has tables named users, sessions, which all-access would create: it is another application's; give all-access a database of its own",
        )
        // Not even Knex's own two tables: the database is as its application left it.
        expect(await tablesOf(other.db)).toEqual(['sessions', 'users'])
      } finally {
        await other.close()
        await dropOther()
      }
    })

    it('refuse, in one line naming them, a database that a newer version migrated further, and change nothing', async () => {
      // An instance rolled back to this version after a newer one added a migration.
      await store.db('knex_migrations').insert({ name: '20991231_01_newer', batch: 2, migration_time: new Date() })
      const error = await migrate(store.db).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(MigrationVersionError)
      expect((error as Error).message).toBe(
        'migrations: the database has migrations this version of all-access does not know (20991231_01_newer): a newer all-access migrated it; run that version, or restore a backup taken before it',
      )
      expect(await count('knex_migrations')).toBe(MIGRATIONS.length + 1)
      expect(Number((await store.db('knex_migrations_lock').first()).is_locked)).toBe(0)
    })

    it("keep live sessions and their providers' sids through the migration that adds the replaced session's hash", async () => {
      // Knex may rebuild a SQLite table it alters, and dropping the old sessions table under foreign
      // keys deletes every session_sign_ins row with it: back-channel logouts would then end nobody.
      await store.db.migrate.down({ migrationSource })
      expect(await store.db('knex_migrations').orderBy('name', 'desc').first('name')).toEqual({ name: MIGRATIONS[MIGRATIONS.length - 2] })
      await store.providers.add(provider('oidc'))
      const providerId = (await store.providers.get('oidc'))!.id
      const user = await store.users.create('Kept')
      await store.db('sessions').insert({ id_hash: 'a'.repeat(64), user_id: user.id, created_at: Date.now(), idle_expires_at: Date.now() + 60_000, absolute_expires_at: Date.now() + 60_000, provider_id: providerId, provider_sid_hash: 'b'.repeat(64) })
      await store.db('session_sign_ins').insert({ session_id_hash: 'a'.repeat(64), provider_id: providerId, sid_hash: 'b'.repeat(64) })
      await migrate(store.db)
      expect(await count('sessions')).toBe(1)
      expect(await count('session_sign_ins')).toBe(1)
    })

    it('keep a BFF told not to migrate from starting on a database that lacks one, naming it, rather than answer /readyz ready and every route 500', async () => {
      const last = MIGRATIONS[MIGRATIONS.length - 1]
      await store.db.migrate.down({ migrationSource })
      const error = await createAllAccess({ publicUrl: 'http://localhost:3000', store, migrate: false }).catch((e: unknown) => e)
      expect(error).toBeInstanceOf(MigrationsPendingError)
      expect((error as Error).message).toBe(`migrations: the database lacks ${last}: run all-access migrate first (or leave createAllAccess's migrate option on)`)
      expect(await count('knex_migrations')).toBe(MIGRATIONS.length - 1)
      // Once migrated, it starts.
      await migrate(store.db)
      const bff = await createAllAccess({ publicUrl: 'http://localhost:3000', store, migrate: false })
      await bff.close()
    })

    it('keep a BFF told not to migrate from starting on a new database, naming every migration, and create no table', async () => {
      const { url: fresh, drop: dropFresh } = await database.create()
      const empty = openStore({ databaseUrl: fresh, keys })
      try {
        const error = await createAllAccess({ publicUrl: 'http://localhost:3000', store: empty, migrate: false }).catch((e: unknown) => e)
        expect(error).toBeInstanceOf(MigrationsPendingError)
        expect((error as Error).message).toBe(`migrations: the database lacks ${MIGRATIONS.join(', ')}: run all-access migrate first (or leave createAllAccess's migrate option on)`)
        expect(await empty.db.schema.hasTable('knex_migrations')).toBe(false)
      } finally {
        await empty.close()
        await dropFresh()
      }
    })

    if (database.kind === 'sqlite') {
      it('take over a lock file whose process has died', async () => {
        const { url: fresh, drop: dropFresh } = await database.create()
        const lockFile = `${parseDatabaseUrl(fresh).location}.migrating`
        const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' })
        writeFileSync(lockFile, `${dead.stdout} ${hostname()}\n`)
        const one = openStore({ databaseUrl: fresh, keys })
        try {
          expect(await migrate(one.db, { deadlineMs: 2000 })).toEqual(MIGRATIONS)
          expect(existsSync(lockFile)).toBe(false)
        } finally {
          await one.close()
          await dropFresh()
        }
      })
    }
  })

  it('never puts a bound value into an error message', async () => {
    const error = await store.db('no_such_table').where({ token: 'BOUND-SECRET-51c2' }).first().catch((e: Error) => e)
    expect(error).toBeInstanceOf(Error)
    expect(String((error as Error).message)).not.toContain('BOUND-SECRET-51c2')
  })

  if (database.kind === 'sqlite') {
    it('keeps the folder, the database file, its WAL and shared memory readable by the owner only', async () => {
      const dir = scratchFolder('aa-modes-')
      const file = join(dir, 'data', 'all-access.sqlite3')
      const own = openStore({ databaseUrl: `sqlite://${file}`, keys })
      try {
        await migrate(own.db)
        await own.users.create('Ann')
        expect(statSync(join(dir, 'data')).mode & 0o777).toBe(0o700)
        for (const path of [file, `${file}-wal`, `${file}-shm`]) expect([path, statSync(path).mode & 0o777]).toEqual([path, 0o600])
      } finally {
        await own.close()
      }
    })
  }

  if (database.kind === 'sqlite') {
    it('runs SQLite with WAL and foreign keys on', async () => {
      expect(await store.db.raw('PRAGMA journal_mode')).toEqual([{ journal_mode: 'wal' }])
      expect(await store.db.raw('PRAGMA foreign_keys')).toEqual([{ foreign_keys: 1 }])
      expect(existsSync(`${parseDatabaseUrl(url).location}-wal`)).toBe(true)
    })
  }

  describe('providers', () => {
    it('round-trip every field, with the client id and secret decrypted', async () => {
      const config = buildProviderConfig('acme', {
        displayName: 'Acme ID',
        issuer: 'https://id.acme.example',
        apiBaseUrl: 'https://api.acme.example/v1',
        revocationUrl: 'https://id.acme.example/revoke',
        scope: 'openid email',
        identifierPath: 'user.sub',
        clientId: 'acme-client',
        clientSecret: 'acme-secret',
        pkce: false,
        tokenAuthMethod: 'client_secret_post',
        tokenPlacement: 'query',
        extraAuthorizationParams: { prompt: 'consent', access_type: 'offline' },
      })
      const added = await store.providers.add(config)
      expect(added).toEqual({ ...config, id: expect.any(Number) })
      expect(await store.providers.get('acme')).toEqual(added)
      expect(await store.providers.list()).toEqual([added])
    })

    it('store the client id and secret encrypted with the current key and the column as authenticated data', async () => {
      await store.providers.add(provider('p'))
      const row = await store.db('providers').where({ name: 'p' }).first()
      expect(row.client_id).toMatch(new RegExp(`^aa1\\.${store.box.currentKeyId}\\.`))
      expect(row.client_secret).toMatch(new RegExp(`^aa1\\.${store.box.currentKeyId}\\.`))
      expect(store.box.decrypt('providers.client_secret', row.client_secret)).toBe('client-secret-p')
      expect(() => store.box.decrypt('providers.client_id', row.client_secret)).toThrow(/^providers\.client_id: stored value failed authentication/)
    })

    it('list by name', async () => {
      for (const name of ['zeta', 'alpha', 'mid']) await store.providers.add(provider(name))
      expect((await store.providers.list()).map((p) => p.name)).toEqual(['alpha', 'mid', 'zeta'])
    })

    it('update every field given, keeping the row id, and re-encrypt new secrets', async () => {
      const added = await store.providers.add(provider('gh'))
      const updated = await store.providers.update('gh', { ...added, displayName: 'GitHub!', pkce: false, clientSecret: 'rotated-secret', scope: null })
      expect(updated).toEqual({ ...added, displayName: 'GitHub!', pkce: false, clientSecret: 'rotated-secret', scope: null })
      expect(await store.providers.get('gh')).toEqual(updated)
    })

    it('answer null to get and update of a missing provider, and false to its removal', async () => {
      expect(await store.providers.get('ghost')).toBeNull()
      expect(await store.providers.update('ghost', provider('ghost'))).toBeNull()
      expect(await store.providers.remove('ghost')).toBe(false)
      expect(await store.providers.list()).toEqual([])
    })

    it('remove a provider by name', async () => {
      await store.providers.add(provider('gone'))
      await store.providers.add(provider('stays'))
      expect(await store.providers.remove('gone')).toBe(true)
      expect(await store.providers.get('gone')).toBeNull()
      expect((await store.providers.list()).map((p) => p.name)).toEqual(['stays'])
    })

    it('refuse a second provider of the same name and keep the first', async () => {
      await store.providers.add(provider('dup'))
      await expect(store.providers.add(provider('dup', { clientSecret: 'other' }))).rejects.toThrow(/unique|duplicate/i)
      expect((await store.providers.list()).map((p) => [p.name, p.clientSecret])).toEqual([['dup', 'client-secret-dup']])
    })
  })

  describe('users and accounts', () => {
    it('create users with or without a display name', async () => {
      const ann = await store.users.create('Ann')
      const anonymous = await store.users.create(null)
      expect(ann).toEqual({ id: expect.any(Number), displayName: 'Ann' })
      expect(anonymous.id).not.toBe(ann.id)
      expect(await store.users.get(ann.id)).toEqual(ann)
      expect(await store.users.get(anonymous.id)).toEqual({ id: anonymous.id, displayName: null })
      expect(await store.users.get(999_999)).toBeNull()
    })

    it('keep an account with its tokens decrypted, found by id, identity, user and provider', async () => {
      const p = await store.providers.add(provider('p1'))
      const user = await store.users.create('Ann')
      const before = Date.now()
      const id = await store.accounts.create({ providerId: p.id, identifier: '42', userId: user.id, displayName: 'Ann A.', ...tokens })
      const account = await store.accounts.get(id)
      expect(account).toEqual({
        id,
        providerId: p.id,
        provider: 'p1',
        identifier: '42',
        userId: user.id,
        displayName: 'Ann A.',
        ...tokens,
        status: 'active',
        createdAt: expect.any(Number),
        updatedAt: expect.any(Number),
      })
      expect(account!.createdAt).toBeGreaterThanOrEqual(before)
      expect(await store.accounts.findByIdentity(p.id, '42')).toEqual(account)
      expect(await store.accounts.findForUser(user.id, 'p1')).toEqual(account)
      expect(await store.accounts.listForUser(user.id)).toEqual([account])
      expect(await store.accounts.findByIdentity(p.id, '43')).toBeNull()
      expect(await store.accounts.findForUser(user.id, 'other')).toBeNull()
      expect(await store.accounts.get(id + 1000)).toBeNull()
    })

    it('store each token encrypted under its own column name', async () => {
      const p = await store.providers.add(provider('p1'))
      const user = await store.users.create(null)
      const id = await store.accounts.create({ providerId: p.id, identifier: '1', userId: user.id, displayName: null, ...tokens })
      const row = await store.db('accounts').where({ id }).first()
      for (const column of ENCRYPTED_COLUMNS.accounts) {
        expect(row[column]).toMatch(/^aa1\./)
        expect(store.box.decrypt(`accounts.${column}`, row[column])).toBe(tokens[column.replace(/_(.)/g, (_: string, c: string) => c.toUpperCase()) as keyof AccountTokens])
      }
    })

    it('keep missing tokens as NULL', async () => {
      const p = await store.providers.add(provider('p1'))
      const user = await store.users.create(null)
      const none = { accessToken: 'only-this', tokenSecret: null, refreshToken: null, idToken: null, expiresAt: null, scope: null }
      const id = await store.accounts.create({ providerId: p.id, identifier: '1', userId: user.id, displayName: null, ...none })
      expect(await store.accounts.get(id)).toEqual(expect.objectContaining(none))
      expect(await store.db('accounts').where({ id }).first()).toEqual(expect.objectContaining({ token_secret: null, refresh_token: null, id_token: null, expires_at: null }))
    })

    it('allow one account per (provider, identifier), the same identifier at another provider, and several providers per user', async () => {
      const p1 = await store.providers.add(provider('p1'))
      const p2 = await store.providers.add(provider('p2'))
      const ann = await store.users.create('Ann')
      const bob = await store.users.create('Bob')
      await store.accounts.create({ providerId: p1.id, identifier: '42', userId: ann.id, displayName: null, ...tokens })
      await expect(store.accounts.create({ providerId: p1.id, identifier: '42', userId: bob.id, displayName: null, ...tokens })).rejects.toThrow(/unique|duplicate/i)
      await store.accounts.create({ providerId: p2.id, identifier: '42', userId: ann.id, displayName: null, ...tokens })
      expect((await store.accounts.listForUser(ann.id)).map((a) => [a.provider, a.identifier])).toEqual([['p1', '42'], ['p2', '42']])
      expect(await store.accounts.listForUser(bob.id)).toEqual([])
    })

    it("summarise a user's accounts for the session route without their tokens, and follow this process's writes at once even when cached", async () => {
      const cached = openStore({ databaseUrl: url, keys, cacheMs: 60_000 })
      try {
        const p1 = await store.providers.add(provider('p1'))
        const p2 = await store.providers.add(provider('p2'))
        const ann = await cached.users.create('Ann')
        const first = await cached.accounts.create({ providerId: p2.id, identifier: '7', userId: ann.id, displayName: 'Ann at p2', ...tokens })
        const created = (await cached.accounts.get(first))!.createdAt
        expect(await cached.accounts.summariesForUser(ann.id)).toEqual([
          { provider: 'p2', identifier: '7', displayName: 'Ann at p2', status: 'active', connectedAt: new Date(created).toISOString() },
        ])
        const second = await cached.accounts.create({ providerId: p1.id, identifier: '8', userId: ann.id, displayName: null, ...tokens })
        await cached.accounts.setStatus(first, 'reauth_required')
        expect((await cached.accounts.summariesForUser(ann.id)).map((a) => [a.provider, a.status, a.displayName])).toEqual([
          ['p2', 'reauth_required', 'Ann at p2'],
          ['p1', 'active', null],
        ])
        await cached.accounts.unlink(second)
        expect((await cached.accounts.summariesForUser(ann.id)).map((a) => a.provider)).toEqual(['p2'])
        expect(JSON.stringify(await cached.accounts.summariesForUser(ann.id))).not.toContain(tokens.accessToken)
      } finally {
        await cached.close()
      }
    })

    it('replace tokens after a login or a refresh, set the status, and remove', async () => {
      const p = await store.providers.add(provider('p1'))
      const user = await store.users.create('Ann')
      const id = await store.accounts.create({ providerId: p.id, identifier: '1', userId: user.id, displayName: null, ...tokens })
      await store.accounts.setStatus(id, 'reauth_required')
      expect((await store.accounts.get(id))?.status).toBe('reauth_required')
      const fresh = { ...tokens, accessToken: 'access-token-2', refreshToken: 'refresh-token-2', expiresAt: 1_950_000_000_000 }
      expect(await store.accounts.renewAfterLogin(p.id, '2', { displayName: 'Other', ...fresh })).toBeNull()
      const renewed = await store.accounts.renewAfterLogin(p.id, '1', { displayName: 'New Name', ...fresh })
      expect(renewed).toEqual({ id, createdAt: (await store.accounts.get(id))?.createdAt, user: { id: user.id, displayName: 'Ann' }, refreshToken: 'refresh-token-2' })
      expect(await store.accounts.get(id)).toEqual(expect.objectContaining({ displayName: 'New Name', ...fresh, status: 'active' }))
      // A login without a refresh token keeps the account's, and says which it kept.
      const withoutRefresh = await store.accounts.renewAfterLogin(p.id, '1', { displayName: 'New Name', ...fresh, refreshToken: null })
      expect(withoutRefresh?.refreshToken).toBe('refresh-token-2')
      expect(await store.accounts.get(id)).toEqual(expect.objectContaining({ ...fresh, refreshToken: 'refresh-token-2' }))
      await store.accounts.updateTokens(id, { ...fresh, accessToken: 'access-token-3', refreshToken: null })
      expect(await store.accounts.get(id)).toEqual(expect.objectContaining({ accessToken: 'access-token-3', refreshToken: null, displayName: 'New Name' }))
      expect(await store.accounts.unlink(id)).toEqual({ id, accessToken: 'access-token-3', tokenSecret: 'token-secret-1', refreshToken: null })
      expect(await store.accounts.unlink(id)).toBeNull()
      expect(await store.accounts.get(id)).toBeNull()
    })

    it('need a new login when the provider refuses a token, unless a login wrote new ones since it was read', async () => {
      const p = await store.providers.add(provider('p1'))
      const user = await store.users.create(null)
      const id = await store.accounts.create({ providerId: p.id, identifier: '1', userId: user.id, displayName: null, ...tokens })
      const read = (await store.accounts.get(id))!
      // A login renews the tokens between the call's read and the provider's refusal of the old one.
      await new Promise((resolve) => setTimeout(resolve, 5))
      await store.accounts.renewAfterLogin(p.id, '1', { displayName: null, ...tokens, accessToken: 'after-login' })
      expect(await store.accounts.tokenRefused(id, read.updatedAt)).toBe(false)
      expect((await store.accounts.get(id))?.status).toBe('active')
      const current = (await store.accounts.get(id))!
      expect(await store.accounts.tokenRefused(id, current.updatedAt)).toBe(true)
      expect((await store.accounts.get(id))?.status).toBe('reauth_required')
    })

    it('keep a refresh lease through a login that brings no refresh token, so a rotated one the refresh gets is stored', async () => {
      const p = await store.providers.add(provider('p1'))
      const user = await store.users.create(null)
      const id = await store.accounts.create({ providerId: p.id, identifier: 'x', userId: user.id, displayName: null, ...tokens, refreshToken: 'R1', expiresAt: 1 })
      expect(await store.accounts.takeRefreshLease(id, 'A', 15_000)).toBe(true)
      // A login without a refresh token keeps R1, which the refresh out with it is spending.
      await store.accounts.renewAfterLogin(p.id, 'x', { displayName: null, ...tokens, accessToken: 'a2', refreshToken: null })
      expect(await store.accounts.storeRefreshed(id, 'A', { ...tokens, accessToken: 'a3', refreshToken: 'R2' })).toBe(true)
      expect((await store.accounts.get(id))?.refreshToken).toBe('R2')
      // A login with a grant of its own frees the lease: the old grant's refresh must not overwrite it.
      expect(await store.accounts.takeRefreshLease(id, 'A', 15_000)).toBe(true)
      await store.accounts.renewAfterLogin(p.id, 'x', { displayName: null, ...tokens, accessToken: 'a4', refreshToken: 'R3' })
      expect(await store.accounts.storeRefreshed(id, 'A', { ...tokens, accessToken: 'a5', refreshToken: 'R4' })).toBe(false)
      expect(await store.accounts.get(id)).toEqual(expect.objectContaining({ accessToken: 'a4', refreshToken: 'R3' }))
    })

    it('need a new login when the provider refuses a refresh, unless a login without a refresh token wrote the account meanwhile: its lease is freed either way', async () => {
      const p = await store.providers.add(provider('p1'))
      const user = await store.users.create(null)
      const id = await store.accounts.create({ providerId: p.id, identifier: 'x', userId: user.id, displayName: null, ...tokens, refreshToken: 'R1', expiresAt: 1 })
      const lease = async () => store.db('accounts').where({ id }).first('refresh_lease_owner', 'refresh_lease_until')
      expect(await store.accounts.takeRefreshLease(id, 'A', 15_000)).toBe(true)
      const read = (await store.accounts.get(id))!
      await new Promise((resolve) => setTimeout(resolve, 5))
      await store.accounts.renewAfterLogin(p.id, 'x', { displayName: null, ...tokens, accessToken: 'a2', refreshToken: null })
      expect(await store.accounts.refreshRefused(id, 'A', read.updatedAt)).toBe(false)
      expect(await store.accounts.get(id)).toEqual(expect.objectContaining({ status: 'active', accessToken: 'a2' }))
      expect(await lease()).toEqual({ refresh_lease_owner: null, refresh_lease_until: null })
      expect(await store.accounts.takeRefreshLease(id, 'A', 15_000)).toBe(true)
      const current = (await store.accounts.get(id))!
      expect(await store.accounts.refreshRefused(id, 'A', current.updatedAt)).toBe(true)
      expect((await store.accounts.get(id))?.status).toBe('reauth_required')
      expect(await lease()).toEqual({ refresh_lease_owner: null, refresh_lease_until: null })
    })

    // PostgreSQL only: SQLite's one connection runs the two transactions one after the other.
    it.skipIf(database.kind !== 'postgres')('of one user at one provider stay one when two links replace it at once', async () => {
      const p = await store.providers.add(provider('p1'))
      const user = await store.users.create(null)
      await store.accounts.create({ providerId: p.id, identifier: 'A', userId: user.id, displayName: null, ...tokens })
      const other = anotherInstance()
      let firstRemoved!: () => void
      const removed = new Promise<void>((resolve) => (firstRemoved = resolve))
      const link = (db: Store, identifier: string, afterRemove: () => Promise<void>) =>
        db.db.transaction(async (trx) => {
          await db.accounts.removeForUserAt(user.id, p.id, trx)
          await afterRemove()
          await db.accounts.create({ providerId: p.id, identifier, userId: user.id, displayName: null, ...tokens }, trx)
        })
      // The first link holds its removal open while the second starts its own.
      const first = link(store, 'B', async () => {
        firstRemoved()
        await new Promise((resolve) => setTimeout(resolve, 300))
      })
      await removed
      const second = link(other, 'C', async () => {})
      await Promise.all([first, second])
      expect(await store.db('accounts').where({ user_id: user.id, provider_id: p.id }).pluck('identifier')).toEqual(['C'])
    })

    it("time refresh leases on the database's clock: an instance whose own clock runs ahead does not take one still running", async () => {
      const p = await store.providers.add(provider('p1'))
      const user = await store.users.create(null)
      const id = await store.accounts.create({ providerId: p.id, identifier: '1', userId: user.id, displayName: null, ...tokens, refreshToken: 'R1' })
      expect(await store.accounts.takeRefreshLease(id, 'A', 15_000)).toBe(true)
      // Instance B's clock a minute ahead: by its own, A's lease ended 45 s ago.
      vi.useFakeTimers({ toFake: ['Date'] })
      try {
        vi.setSystemTime(Date.now() + 60_000)
        expect(await store.accounts.takeRefreshLease(id, 'B', 15_000)).toBe(false)
        await store.accounts.renewRefreshLease(id, 'A', 15_000)
        expect(await store.accounts.takeRefreshLease(id, 'B', 15_000)).toBe(false)
      } finally {
        vi.useRealTimers()
      }
      // A lease that ran out on the database's clock is taken.
      await store.accounts.renewRefreshLease(id, 'A', -1)
      expect(await store.accounts.takeRefreshLease(id, 'B', 15_000)).toBe(true)
      const until = Number((await store.db('accounts').where({ id }).first('refresh_lease_until')).refresh_lease_until)
      expect(Math.abs(until - (Date.now() + 15_000))).toBeLessThan(5_000)
    })

    it('store refreshed tokens only for the holder of the refresh lease', async () => {
      const p = await store.providers.add(provider('p1'))
      const user = await store.users.create(null)
      const id = await store.accounts.create({ providerId: p.id, identifier: '1', userId: user.id, displayName: null, ...tokens })
      await store.db('accounts').where({ id }).update({ refresh_lease_owner: 'instance-a', refresh_lease_until: Date.now() + 10_000 })
      expect(await store.accounts.storeRefreshed(id, 'instance-b', { ...tokens, accessToken: 'from-b' })).toBe(false)
      expect((await store.accounts.get(id))?.accessToken).toBe('access-token-1')
      expect(await store.accounts.storeRefreshed(id, 'instance-a', { ...tokens, accessToken: 'from-a' })).toBe(true)
      expect((await store.accounts.get(id))?.accessToken).toBe('from-a')
      expect(await store.db('accounts').where({ id }).first()).toEqual(expect.objectContaining({ refresh_lease_owner: null, refresh_lease_until: null }))
    })
  })

  describe('deletes', () => {
    it('of a provider take its accounts and login flows with it, and nothing else', async () => {
      const gone = await store.providers.add(provider('gone'))
      const stays = await store.providers.add(provider('stays'))
      const user = await store.users.create('Ann')
      const goneAccount = await store.accounts.create({ providerId: gone.id, identifier: '1', userId: user.id, displayName: null, ...tokens })
      const staysAccount = await store.accounts.create({ providerId: stays.id, identifier: '1', userId: user.id, displayName: null, ...tokens })
      await store.sessions.create('session-1', { userId: user.id, createdAt: Date.now(), idleExpiresAt: Date.now() + HOUR, absoluteExpiresAt: Date.now() + HOUR })
      await store.loginFlows.create('flow-gone', gone.id, { provider: 'gone', next: '/' }, 60_000)
      await store.loginFlows.create('flow-stays', stays.id, { provider: 'stays', next: '/' }, 60_000)

      expect(await store.providers.remove('gone')).toBe(true)
      expect(await store.accounts.get(goneAccount)).toBeNull()
      expect(await store.accounts.get(staysAccount)).not.toBeNull()
      expect(await store.db('login_flows').pluck('id_hash')).toEqual([hashId('flow-stays')])
      expect(await store.users.get(user.id)).not.toBeNull()
      expect(await store.sessions.find('session-1')).not.toBeNull()
    })

    it('of a user take their accounts and sessions with them, and nothing else', async () => {
      const p = await store.providers.add(provider('p'))
      const ann = await store.users.create('Ann')
      const bob = await store.users.create('Bob')
      const annAccount = await store.accounts.create({ providerId: p.id, identifier: 'ann', userId: ann.id, displayName: null, ...tokens })
      const bobAccount = await store.accounts.create({ providerId: p.id, identifier: 'bob', userId: bob.id, displayName: null, ...tokens })
      const live = { createdAt: Date.now(), idleExpiresAt: Date.now() + HOUR, absoluteExpiresAt: Date.now() + HOUR }
      await store.sessions.create('ann-session', { userId: ann.id, ...live })
      await store.sessions.create('bob-session', { userId: bob.id, ...live })

      expect(await store.db('users').where({ id: ann.id }).delete()).toBe(1)
      expect(await store.accounts.get(annAccount)).toBeNull()
      expect(await store.sessions.find('ann-session')).toBeNull()
      expect(await count('sessions')).toBe(1)
      expect(await store.accounts.get(bobAccount)).not.toBeNull()
      expect(await store.sessions.find('bob-session')).not.toBeNull()
      expect(await store.providers.get('p')).not.toBeNull()
    })

    it('refuse an account or session for a user that does not exist', async () => {
      const p = await store.providers.add(provider('p'))
      await expect(store.accounts.create({ providerId: p.id, identifier: '1', userId: 999_999, displayName: null, ...tokens })).rejects.toThrow(/foreign key/i)
      await expect(store.sessions.create('s', { userId: 999_999, createdAt: 1, idleExpiresAt: 2, absoluteExpiresAt: 3 })).rejects.toThrow(/foreign key/i)
    })
  })

  describe('sessions', () => {
    it('are kept under the SHA-256 of their id, never the id itself', async () => {
      const user = await store.users.create(null)
      const sessions = new Sessions(store.sessions, { secure: false }, DEFAULT_SESSION_TIMEOUTS)
      const started = await sessions.start(user.id, undefined)
      const rows = await store.db('sessions').select('*')
      expect(rows).toHaveLength(1)
      expect(rows[0].id_hash).toBe(hashId(started.id))
      expect(JSON.stringify(rows)).not.toContain(started.id)
      expect(await sessions.find(hashId(started.id))).toEqual(expect.objectContaining({ userId: user.id }))
      expect(await sessions.find(started.id)).toBeNull()
    })

    it('are found until their idle end, which extending moves, and never past their absolute end', async () => {
      const user = await store.users.create(null)
      const now = Date.now()
      await store.sessions.create('s', { userId: user.id, createdAt: now, idleExpiresAt: now + 1000, absoluteExpiresAt: now + 5000 })
      expect(await store.sessions.find('s', now)).toEqual({ userId: user.id, createdAt: now, idleExpiresAt: now + 1000, absoluteExpiresAt: now + 5000, providerId: null, sidHash: null })
      expect(await store.sessions.find('s', now + 999)).not.toBeNull()
      expect(await store.sessions.find('s', now + 1000)).toBeNull()
      await store.sessions.extend('s', now + 4000)
      expect(await store.sessions.find('s', now + 3999)).toEqual(expect.objectContaining({ idleExpiresAt: now + 4000 }))
      await store.sessions.extend('s', now + 9000)
      expect(await store.sessions.find('s', now + 4999)).not.toBeNull()
      expect(await store.sessions.find('s', now + 5000)).toBeNull()
      expect(await store.sessions.find('unknown', now)).toBeNull()
    })

    it('record where they signed in, and a login that links another provider keeps the sign-in that has a sid', async () => {
      const user = await store.users.create(null)
      const [oidc, oauth1, other] = await Promise.all(['oidc', 'oauth1', 'other-oidc'].map((name) => store.providers.add(provider(name))))
      const sessions = new Sessions(store.sessions, { secure: false }, DEFAULT_SESSION_TIMEOUTS)
      const first = await sessions.start(user.id, undefined, undefined, { providerId: oidc.id, sid: 'sid-1' })
      expect(await sessions.find(first.idHash)).toEqual(expect.objectContaining({ providerId: oidc.id, sidHash: hashId('sid-1') }))
      const linked = await sessions.start(user.id, first, undefined, { providerId: oauth1.id, sid: null })
      expect(await sessions.find(linked.idHash)).toEqual(expect.objectContaining({ providerId: oidc.id, sidHash: hashId('sid-1') }))
      const relinked = await sessions.start(user.id, linked, undefined, { providerId: other.id, sid: 'sid-2' })
      expect(await sessions.find(relinked.idHash)).toEqual(expect.objectContaining({ providerId: other.id, sidHash: hashId('sid-2') }))
      const plain = await sessions.start(user.id, undefined, undefined, { providerId: oauth1.id, sid: null })
      expect(await sessions.find(plain.idHash)).toEqual(expect.objectContaining({ providerId: oauth1.id, sidHash: null }))

      expect(await store.sessions.removeBySid(other.id, hashId('sid-1'))).toBe(0)
      expect(await store.sessions.removeBySid(other.id, hashId('sid-2'))).toBe(1)
      expect(await sessions.find(relinked.idHash)).toBeNull()
      expect(await sessions.find(plain.idHash)).not.toBeNull()
    })

    it('end by the sid of every OpenID provider they signed in with, the first one after another was linked too', async () => {
      const user = await store.users.create(null)
      const [first, second] = await Promise.all(['oidc-a', 'oidc-b'].map((name) => store.providers.add(provider(name))))
      const sessions = new Sessions(store.sessions, { secure: false }, DEFAULT_SESSION_TIMEOUTS)
      const signedIn = await sessions.start(user.id, undefined, undefined, { providerId: first.id, sid: 'sid-a' })
      const linked = await sessions.start(user.id, signedIn, undefined, { providerId: second.id, sid: 'sid-b' })
      const again = await sessions.start(user.id, linked, undefined, { providerId: second.id, sid: 'sid-b' })
      expect(await store.sessions.removeBySid(second.id, hashId('sid-a'))).toBe(0)
      expect(await store.sessions.removeBySid(first.id, hashId('sid-a'))).toBe(1)
      expect(await sessions.find(again.idHash)).toBeNull()
      expect(Number((await store.db('session_sign_ins').count({ n: '*' }).first())?.n)).toBe(0)
    })

    it('made before sign-ins had their own table still end by their sid once migrated', async () => {
      const user = await store.users.create(null)
      const p = await store.providers.add(provider('oidc'))
      // That migration only: those after it are not about sessions.
      await store.db.migrate.down({ migrationSource, name: '20261204_01_session_sign_ins' })
      const live = { createdAt: Date.now(), idleExpiresAt: Date.now() + 60_000, absoluteExpiresAt: Date.now() + 60_000 }
      await store.db('sessions').insert({ id_hash: 'old', user_id: user.id, created_at: live.createdAt, idle_expires_at: live.idleExpiresAt, absolute_expires_at: live.absoluteExpiresAt, provider_id: p.id, provider_sid_hash: hashId('sid-old') })
      await migrate(store.db)
      expect(await store.sessions.removeBySid(p.id, hashId('sid-old'))).toBe(1)
    })

    it('of the user linked to an identity all end, and no one else\'s', async () => {
      const p = await store.providers.add(provider('p'))
      const [ann, bob] = await Promise.all([store.users.create('Ann'), store.users.create('Bob')])
      await store.accounts.create({ providerId: p.id, identifier: 'ann-at-p', userId: ann.id, displayName: null, ...tokens })
      await store.accounts.create({ providerId: p.id, identifier: 'bob-at-p', userId: bob.id, displayName: null, ...tokens })
      const live = { createdAt: Date.now(), idleExpiresAt: Date.now() + 60_000, absoluteExpiresAt: Date.now() + 60_000 }
      for (const [id, userId] of [['ann-1', ann.id], ['ann-2', ann.id], ['bob-1', bob.id]] as const) await store.sessions.create(id, { userId, ...live })
      expect(await store.sessions.removeForIdentity(p.id, 'nobody')).toBe(0)
      expect(await store.sessions.removeForIdentity(p.id, 'ann-at-p')).toBe(2)
      expect(await store.db('sessions').pluck('id_hash')).toEqual(['bob-1'])
    })

    it("of the user whose account signed in with a sub all end, when the account's identifier is another claim", async () => {
      const p = await store.providers.add(provider('p'))
      const [ann, bob] = await Promise.all([store.users.create('Ann'), store.users.create('Bob')])
      await store.accounts.create({ providerId: p.id, identifier: 'ann@example.com', userId: ann.id, displayName: null, subject: 'sub-ann', ...tokens })
      // Bob's identifier is Ann's sub, as an identifier path may read: with a sub of its own, it is not hers.
      await store.accounts.create({ providerId: p.id, identifier: 'sub-ann', userId: bob.id, displayName: null, subject: 'sub-bob', ...tokens })
      const live = { createdAt: Date.now(), idleExpiresAt: Date.now() + 60_000, absoluteExpiresAt: Date.now() + 60_000 }
      for (const [id, userId] of [['ann-1', ann.id], ['bob-1', bob.id]] as const) await store.sessions.create(id, { userId, ...live })
      expect(await store.sessions.removeForIdentity(p.id, 'ann@example.com')).toBe(0)
      expect(await store.sessions.removeForIdentity(p.id, 'sub-ann')).toBe(1)
      expect(await store.db('sessions').pluck('id_hash')).toEqual(['bob-1'])
      // A later login with a new sub (renewed) is what counts.
      expect(await store.accounts.renewAfterLogin(p.id, 'sub-ann', { displayName: null, subject: 'sub-bob-2', ...tokens })).not.toBeNull()
      expect(await store.sessions.removeForIdentity(p.id, 'sub-bob')).toBe(0)
      expect(await store.sessions.removeForIdentity(p.id, 'sub-bob-2')).toBe(1)
    })

    it('remember a logout token once per provider, until it is too old to matter', async () => {
      const now = Date.now()
      expect(await store.logoutTokens.remember(1, 'jti-1', now + 1000)).toBe(true)
      expect(await store.logoutTokens.remember(1, 'jti-1', now + 1000)).toBe(false)
      expect(await store.logoutTokens.remember(2, 'jti-1', now + 1000)).toBe(true)
      expect(JSON.stringify(await store.db('logout_tokens').select('*'))).not.toContain('jti-1')
      expect(await store.logoutTokens.removeExpired(now + 999)).toBe(0)
      expect(await store.logoutTokens.removeExpired(now + 1000)).toBe(2)
    })

    it('that ended, by idleness or age, are removed, and live ones kept', async () => {
      const user = await store.users.create(null)
      const now = Date.now()
      await store.sessions.create('live', { userId: user.id, createdAt: now, idleExpiresAt: now + 1000, absoluteExpiresAt: now + 5000 })
      await store.sessions.create('idle', { userId: user.id, createdAt: now, idleExpiresAt: now, absoluteExpiresAt: now + 5000 })
      await store.sessions.create('old', { userId: user.id, createdAt: now, idleExpiresAt: now + 1000, absoluteExpiresAt: now - 1 })
      expect(await store.sessions.removeExpired(now)).toBe(2)
      expect(await store.db('sessions').pluck('id_hash')).toEqual(['live'])
      expect(await store.sessions.removeExpired(now)).toBe(0)
      expect(await store.sessions.removeExpired(now + 1000)).toBe(1)
    })

    it('are removed one by one or all of a user at once', async () => {
      const ann = await store.users.create(null)
      const bob = await store.users.create(null)
      const live = { createdAt: Date.now(), idleExpiresAt: Date.now() + HOUR, absoluteExpiresAt: Date.now() + HOUR }
      for (const id of ['a1', 'a2']) await store.sessions.create(id, { userId: ann.id, ...live })
      await store.sessions.create('b1', { userId: bob.id, ...live })
      await store.sessions.remove('b1')
      expect(await store.sessions.find('b1')).toBeNull()
      expect(await store.sessions.removeForUser(ann.id)).toBe(2)
      expect(await count('sessions')).toBe(0)
    })

    // PostgreSQL only: SQLite's one connection runs a read queued after the delete after it.
    it.skipIf(database.kind !== 'postgres')('once removed, are not answered from memory by a read that ran while the delete waited', async () => {
      const cached = openStore({ databaseUrl: url, keys, cacheMs: 60_000 })
      const locker = anotherInstance()
      try {
        const user = await cached.users.create(null)
        await cached.sessions.create('s', { userId: user.id, createdAt: Date.now(), idleExpiresAt: Date.now() + HOUR, absoluteExpiresAt: Date.now() + HOUR })
        // Another transaction holds the row: the delete (a logout) waits for it, a plain read does not.
        const held = await locker.db.transaction()
        await held('sessions').where({ id_hash: 's' }).forUpdate()
        const removing = cached.sessions.remove('s')
        await new Promise((resolve) => setTimeout(resolve, 200))
        expect(await cached.sessions.find('s')).not.toBeNull()
        await held.commit()
        await removing
        expect(await count('sessions', cached.db)).toBe(0)
        expect(await cached.sessions.find('s')).toBeNull()
      } finally {
        await cached.close()
      }
    })
  })

  describe('login flows', () => {
    /** What a login start at the cap does: choose whose pending login makes room, then take it. */
    async function makeRoomFor(on: Store, client: string): Promise<boolean> {
      const room = await on.loginFlows.roomFor(client)
      return room !== null && (await on.loginFlows.makeRoom(room))
    }

    const flow = { provider: 'p', state: 'state-1', codeVerifier: 'verifier-1', nonce: 'nonce-1', next: '/after', userId: 7 }

    it('are given back once, whole, and are gone after', async () => {
      const p = await store.providers.add(provider('p'))
      await store.loginFlows.create('flow-1', p.id, flow, 60_000)
      expect(await store.db('login_flows').pluck('id_hash')).toEqual([hashId('flow-1')])
      expect(await store.loginFlows.consume('flow-1')).toEqual(flow)
      expect(await store.loginFlows.consume('flow-1')).toBeNull()
      expect(await count('login_flows')).toBe(0)
      expect(await store.loginFlows.consume('never-made')).toBeNull()
    })

    it('are not given back once expired, and are deleted by that attempt', async () => {
      const p = await store.providers.add(provider('p'))
      await store.loginFlows.create('late', p.id, flow, 1000)
      // A second after it was made, read once it exists: a clock read before create() could be a
      // millisecond earlier than the flow's own, and its expiry then still a millisecond away.
      expect(await store.loginFlows.consume('late', Date.now() + 1000)).toBeNull()
      expect(await count('login_flows')).toBe(0)
      await store.loginFlows.create('on-time', p.id, flow, 60_000)
      expect(await store.loginFlows.consume('on-time', Date.now() + 59_000)).toEqual(flow)
    })

    it("make room for a client by dropping the oldest pending login of the one holding the most, only when it holds two more; expired ones and those of nobody known count for nothing", async () => {
      const p = await store.providers.add(provider('p'))
      for (const [at, [id, client]] of ([['a1', 'a'], ['a2', 'a'], ['a3', 'a'], ['b1', 'b']] as const).entries()) {
        await store.loginFlows.create(id, p.id, flow, 60_000, client)
        // Apart by a millisecond each, which one after another need not be.
        await store.db('login_flows').where('id_hash', hashId(id)).update({ created_at: Date.now() - 1000 + at })
      }
      await store.loginFlows.create('old-row', p.id, flow, 60_000)
      await store.loginFlows.create('a-expired', p.id, flow, -1, 'a')
      const pending = async () => (await store.db('login_flows').where('expires_at', '>', Date.now()).orderBy('id_hash').pluck('id_hash')).sort()
      expect(await makeRoomFor(store, 'a')).toBe(false)
      expect(await makeRoomFor(store, 'b')).toBe(true)
      expect(await pending()).toEqual([hashId('a2'), hashId('a3'), hashId('b1'), hashId('old-row')].sort())
      expect(await makeRoomFor(store, 'b')).toBe(false)
      expect(await makeRoomFor(store, 'c')).toBe(true)
      expect(await count('login_flows')).toBe(4)
    })

    it('make room for each of several newcomers arriving at once, on one instance or two, while the client holding the most has logins to spare', async () => {
      const p = await store.providers.add(provider('p'))
      for (let i = 0; i < 20; i++) await store.loginFlows.create(`heavy-${i}`, p.id, flow, 60_000, 'heavy')
      const other = anotherInstance()
      // Each makes room by deleting one row: racing, they must not all pick the same one and lose.
      const made = await Promise.all(Array.from({ length: 6 }, (_, i) => makeRoomFor(i % 2 ? other : store, `newcomer-${i}`)))
      expect(made).toEqual(Array(6).fill(true))
      expect(await count('login_flows')).toBe(14)
    })

    it('are given to exactly one of many concurrent consumers on one instance', async () => {
      const p = await store.providers.add(provider('p'))
      await store.loginFlows.create('raced', p.id, flow, 60_000)
      const results = await Promise.all(Array.from({ length: 8 }, () => store.loginFlows.consume('raced')))
      expect(results.filter((r) => r !== null)).toEqual([flow])
    })

    if (database.kind === 'postgres') {
      it('are given to exactly one of two instances consuming at the same moment', async () => {
        const p = await store.providers.add(provider('p'))
        const other = anotherInstance()
        for (let round = 0; round < 10; round++) {
          await store.loginFlows.create(`raced-${round}`, p.id, flow, 60_000)
          const results = await Promise.all([store.loginFlows.consume(`raced-${round}`), other.loginFlows.consume(`raced-${round}`)])
          expect(results.filter((r) => r !== null)).toEqual([flow])
        }
      })
    }

    it('that expired are removed, and live ones kept', async () => {
      const p = await store.providers.add(provider('p'))
      await store.loginFlows.create('live', p.id, flow, 60_000)
      await store.loginFlows.create('expired', p.id, flow, -1)
      expect(await store.loginFlows.removeExpired()).toBe(1)
      expect(await store.db('login_flows').pluck('id_hash')).toEqual([hashId('live')])
    })
  })

  describe('key rotation', () => {
    /** Every encrypted value in the database, as `table.column` → key id. */
    async function keyIdsInUse(db = store.db): Promise<Set<string>> {
      const ids = new Set<string>()
      for (const [table, columns] of Object.entries(ENCRYPTED_COLUMNS)) {
        for (const row of await db(table).select(columns)) {
          for (const column of columns) if (row[column] !== null) ids.add(row[column].split('.')[1])
        }
      }
      return ids
    }

    async function fill() {
      const p = await store.providers.add(provider('p'))
      const user = await store.users.create(null)
      const accountId = await store.accounts.create({ providerId: p.id, identifier: '1', userId: user.id, displayName: null, ...tokens })
      await store.loginFlows.create('flow', p.id, { provider: 'p', state: 'state-1', next: '/' }, 60_000)
      return { user, accountId }
    }

    it('re-encrypts every encrypted column with the new first key, after which the old key can be dropped', async () => {
      const { user } = await fill()
      const [newKey] = parseKeys(generateKey())
      const both = new SecretBox([newKey, ...keys])
      expect(await keyIdsInUse()).toEqual(new Set([keys[0].id]))
      expect(await rotateKeys(store.db, both)).toBe(2 + 4 + 1)
      expect(await keyIdsInUse()).toEqual(new Set([newKey.id]))
      expect(await rotateKeys(store.db, both)).toBe(0)

      const onlyNew = storeOn(store.db, new SecretBox([newKey]))
      expect(await onlyNew.providers.get('p')).toEqual(expect.objectContaining({ clientId: 'client-id-p', clientSecret: 'client-secret-p' }))
      expect(await onlyNew.accounts.findForUser(user.id, 'p')).toEqual(expect.objectContaining(tokens))
      expect(await onlyNew.loginFlows.consume('flow')).toEqual({ provider: 'p', state: 'state-1', next: '/' })
      await expect(store.providers.get('p')).rejects.toThrow(`providers.client_id of provider p: encrypted with unknown key id ${newKey.id}`)
    })

    it('leaves NULL values NULL and counts only what it rewrote', async () => {
      const p = await store.providers.add(provider('p'))
      const user = await store.users.create(null)
      await store.accounts.create({ providerId: p.id, identifier: '1', userId: user.id, displayName: null, accessToken: 'a', tokenSecret: null, refreshToken: null, idToken: null, expiresAt: null, scope: null })
      expect(await rotateKeys(store.db, new SecretBox([parseKeys(generateKey())[0], ...keys]))).toBe(2 + 1)
      expect(await store.db('accounts').first()).toEqual(expect.objectContaining({ token_secret: null, refresh_token: null, id_token: null }))
    })

    it('changes nothing when one value cannot be decrypted, and names its row for the operator to find', async () => {
      const { accountId } = await fill()
      await store.db('accounts').update({ id_token: `aa1.zzzzzzzz.${'A'.repeat(16)}.${'A'.repeat(28)}` })
      const before = await Promise.all(TABLES.map((table) => store.db(table).select('*')))
      const [newKey] = parseKeys(generateKey())
      const problem = `accounts.id_token of account ${accountId}: encrypted with unknown key id zzzzzzzz (is its key missing from ALLACCESS_KEYS?)`
      await expect(rotateKeys(store.db, new SecretBox([newKey, ...keys]))).rejects.toThrow(problem)
      await expect(store.accounts.get(accountId)).rejects.toThrow(problem)
      expect(await Promise.all(TABLES.map((table) => store.db(table).select('*')))).toEqual(before)
      expect(await keyIdsInUse()).toEqual(new Set([keys[0].id, 'zzzzzzzz']))
    })

    it('does not overwrite tokens another instance stores while it runs', async () => {
      const { accountId } = await fill()
      const [newKey] = parseKeys(generateKey())
      const rotating = new SecretBox([newKey, ...keys])
      const server = anotherInstance()
      // A server refreshing the token holds the account row while the rotation starts.
      const refresh = await server.db.transaction()
      await server.accounts.updateTokens(accountId, { ...tokens, accessToken: 'refreshed-access', refreshToken: 'refreshed-refresh' }, refresh)
      const rotation = rotateKeys(anotherInstance(rotating).db, rotating).then(String, (error: Error) => error.message)
      await sleep(database.kind === 'postgres' ? 500 : 50)
      await refresh.commit()
      expect(await rotation).toBe(String(2 + 4 + 1))
      const account = await storeOn(store.db, new SecretBox([newKey])).accounts.get(accountId)
      expect(account).toEqual(expect.objectContaining({ accessToken: 'refreshed-access', refreshToken: 'refreshed-refresh' }))
    })

    it("locks a batch of rows at a time (SQLite's one write lock, PostgreSQL's row locks), not all of them for the whole rotation, as a running server's writes wait for them", async () => {
      const p = await store.providers.add(provider('p'))
      const user = await store.users.create(null)
      for (let i = 0; i < 1200; i++) await store.accounts.create({ providerId: p.id, identifier: String(i), userId: user.id, displayName: null, ...tokens })
      const [newKey] = parseKeys(generateKey())
      const rotating = anotherInstance(new SecretBox([newKey, ...keys]))
      // The rewrites of each transaction the rotation runs.
      const transactions: number[] = []
      rotating.db.on('query', ({ sql }: { sql: string }) => {
        if (/^begin/i.test(sql)) transactions.push(0)
        else if (/^update [`"]accounts[`"]/i.test(sql)) transactions[transactions.length - 1]++
      })
      expect(await rotateKeys(rotating.db, rotating.box)).toBe(2 + 1200 * 4)
      expect(transactions.reduce((a, b) => a + b)).toBe(1200)
      expect(Math.max(...transactions)).toBeLessThanOrEqual(500)
      expect(await keyIdsInUse()).toEqual(new Set([newKey.id]))
    })

    it('reads a batch of rows at a time, also when it first checks that every value decrypts, never a whole table', async () => {
      const p = await store.providers.add(provider('p'))
      const user = await store.users.create(null)
      for (let i = 0; i < 1200; i++) await store.accounts.create({ providerId: p.id, identifier: String(i), userId: user.id, displayName: null, ...tokens })
      const rotating = anotherInstance(new SecretBox([parseKeys(generateKey())[0], ...keys]))
      // The rows each query of the rotation answered.
      const answered: number[] = []
      rotating.db.on('query-response', (response: unknown) => {
        if (Array.isArray(response)) answered.push(response.length)
      })
      expect(await rotateKeys(rotating.db, rotating.box)).toBe(2 + 1200 * 4)
      expect(Math.max(...answered)).toBe(500)
    })

    it('finishes, when run again, a rotation cut short, with every value readable meanwhile', async () => {
      const { user } = await fill()
      const [newKey] = parseKeys(generateKey())
      const both = new SecretBox([newKey, ...keys])
      // Cut short after the providers: their values use the new key, the others still the old one.
      await store.db('providers').update({ client_id: both.encrypt('providers.client_id', 'client-id-p'), client_secret: both.encrypt('providers.client_secret', 'client-secret-p') })
      const server = storeOn(store.db, both)
      expect(await server.providers.get('p')).toEqual(expect.objectContaining({ clientSecret: 'client-secret-p' }))
      expect(await server.accounts.findForUser(user.id, 'p')).toEqual(expect.objectContaining(tokens))
      expect(await rotateKeys(store.db, both)).toBe(4 + 1)
      expect(await keyIdsInUse()).toEqual(new Set([newKey.id]))
    })

    if (database.kind === 'sqlite') {
      it('leaves no copy of a value under the old key in the database file or its log, with a server still open on it', async () => {
        const p = await store.providers.add(provider('p'))
        const user = await store.users.create(null)
        // Enough rows, of varied lengths, that pages split and free space is left behind.
        for (let i = 0; i < 300; i++) {
          await store.accounts.create({ providerId: p.id, identifier: String(i), userId: user.id, displayName: null, ...tokens, accessToken: `access-${'x'.repeat(i % 40)}-${i}` })
        }
        const [newKey] = parseKeys(generateKey())
        const both = new SecretBox([newKey, ...keys])
        // A server that has read the database, as one running with ALLACCESS_KEYS=new,old has.
        const server = anotherInstance(both)
        expect(await server.accounts.get(1)).not.toBeNull()
        expect(await rotateKeys(anotherInstance(both).db, both)).toBe(2 + 300 * 4)
        const folder = dirname(parseDatabaseUrl(url).location)
        const copies = readdirSync(folder).map((file) => readFileSync(join(folder, file)).toString('latin1').split(`aa1.${keys[0].id}.`).length - 1)
        expect(copies.reduce((a, b) => a + b)).toBe(0)
        expect(await server.accounts.get(1)).toEqual(expect.objectContaining({ refreshToken: tokens.refreshToken }))
      })
    }

    if (database.kind === 'postgres') {
      /** Resolves once a statement matching `statement` waits for a lock another transaction holds. */
      async function waitingOnALock(statement: string): Promise<void> {
        for (;;) {
          const { rows } = await store.db.raw("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database() AND query ILIKE ?", [`%${statement}%`])
          if (rows.length) return
          await sleep(20)
        }
      }

      it('end, when revoked while a login replaces one of them, the session that login makes too', async () => {
        const user = await store.users.create(null)
        const p = await store.providers.add(provider('oidc'))
        const sessions = new Sessions(store.sessions, { secure: false }, DEFAULT_SESSION_TIMEOUTS)
        await store.accounts.create({ providerId: p.id, identifier: 'user-1', userId: user.id, displayName: null, subject: 'sub-1', ...tokens })
        const stolen = await sessions.start(user.id, undefined, undefined, { providerId: p.id, sid: 'sid-1' })
        for (const revoke of [
          (other: Store) => other.sessions.removeForUser(user.id),
          (other: Store) => other.sessions.removeAll(),
          (other: Store) => other.db.transaction((trx) => other.sessions.removeBySid(p.id, hashId('sid-1'), trx)),
          (other: Store) => other.db.transaction((trx) => other.sessions.removeForIdentity(p.id, 'sub-1', trx)),
        ]) {
          const previous = await sessions.start(user.id, undefined, undefined, { providerId: p.id, sid: 'sid-1' })
          // A login linking another provider to the session: it has replaced the session, not yet committed.
          const login = await store.db.transaction()
          let replacement
          try {
            replacement = await sessions.start(user.id, previous, login, { providerId: p.id, sid: null })
            const revoked = revoke(anotherInstance())
            await waitingOnALock('')
            await login.commit()
            await revoked
          } finally {
            if (!login.isCompleted()) await login.rollback()
          }
          expect(await store.db('sessions').where({ id_hash: replacement.idHash }).first(), revoke.toString()).toBeUndefined()
        }
        expect(await sessions.find(stolen.idHash)).toBeNull()
      })

      it('runs a batch again that PostgreSQL cancelled to break a deadlock with the expired-flow purge', async () => {
        const p = await store.providers.add(provider('p'))
        for (const id of ['flow-a', 'flow-b']) await store.loginFlows.create(id, p.id, { provider: 'p', next: '/' }, 60_000)
        // A batch locks flows in key order; a purge holding the last and then asking for the first closes the circle.
        const [first, last] = [hashId('flow-a'), hashId('flow-b')].sort()
        // Each waiter looks for a deadlock once, deadlock_timeout after it starts waiting (1 s by
        // default), and the first to look is cancelled. The rotation waits first, so it is the one,
        // unless the purge's second delete comes after that look: on a busy machine it once did,
        // and the purge was cancelled instead. 5 s for both instances opened below leaves room.
        const { rows } = await store.db.raw('SELECT current_database() AS name')
        await store.db.raw("ALTER DATABASE ?? SET deadlock_timeout = '5s'", [rows[0].name])
        const [newKey] = parseKeys(generateKey())
        const rotating = new SecretBox([newKey, ...keys])
        const purge = await anotherInstance().db.transaction()
        try {
          await purge('login_flows').where('id_hash', last).delete()
          const rotation = rotateKeys(anotherInstance(rotating).db, rotating)
          await waitingOnALock('from "login_flows"')
          // PostgreSQL cancels the one that waited longest, the rotation's batch: the purge goes on.
          expect(await purge('login_flows').where('id_hash', first).delete().then(() => 'purged', (error: { code?: string }) => error.code)).toBe('purged')
          await purge.commit()
          // The provider's two values; the flows went with the purge.
          expect(await rotation).toBe(2)
        } finally {
          if (!purge.isCompleted()) await purge.rollback()
        }
        expect(await keyIdsInUse()).toEqual(new Set([newKey.id]))
      })

      it('lets logins start and accounts be created while it runs, and deadlocks with no login', async () => {
        const { user, accountId } = await fill()
        const providerId = (await store.providers.get('p'))!.id
        const [newKey] = parseKeys(generateKey())
        const rotating = new SecretBox([newKey, ...keys])
        // A login that replaces the user's account at this provider holds the old account's row
        // (deleted) while it creates the new one, which names the provider row the rotation has read.
        const login = await anotherInstance().db.transaction()
        try {
          await login('accounts').where({ id: accountId }).delete()
          const rotation = rotateKeys(anotherInstance(rotating).db, rotating)
          await waitingOnALock('from "accounts"')
          const server = anotherInstance()
          const started = server.loginFlows.create('flow-during-rotation', providerId, { provider: 'p', state: 'state-2', next: '/' }, 60_000)
          const outcome = await Promise.race([started.then(() => 'started'), waitingOnALock('insert into "login_flows"').then(() => 'waited for the rotation')])
          expect(outcome).toBe('started')
          await store.accounts.create({ providerId, identifier: '2', userId: user.id, displayName: null, ...tokens }, login)
          await login.commit()
          // The provider and both flows: the account it waited for was deleted, and the new one came after it read.
          expect(await rotation).toBe(2 + 0 + 2)
        } finally {
          if (!login.isCompleted()) await login.rollback()
        }
        const onlyNew = storeOn(store.db, new SecretBox([newKey]))
        expect(await onlyNew.loginFlows.consume('flow-during-rotation')).toEqual({ provider: 'p', state: 'state-2', next: '/' })
      })
    }
  })

  it('encrypts exactly the columns that key rotation re-encrypts, each under its own name', async () => {
    const p = await store.providers.add(provider('p'))
    const user = await store.users.create('Listed User')
    await store.accounts.create({ providerId: p.id, identifier: '1', userId: user.id, displayName: null, ...tokens })
    await store.loginFlows.create('flow', p.id, { provider: 'p', state: 'state-1', next: '/' }, 60_000)
    await store.sessions.create(hashId('session'), { userId: user.id, createdAt: 1, idleExpiresAt: Date.now() + HOUR, absoluteExpiresAt: Date.now() + HOUR })
    const listed = Object.entries(ENCRYPTED_COLUMNS).flatMap(([table, columns]) => columns.map((column) => `${table}.${column}`))
    const encrypted: string[] = []
    for (const table of TABLES) {
      for (const row of await store.db(table).select('*')) {
        for (const [column, value] of Object.entries(row)) {
          if (typeof value !== 'string' || !value.startsWith('aa1.')) continue
          encrypted.push(`${table}.${column}`)
          // Decrypts under its own `table.column` name, as the stores and key rotation both name it.
          expect(store.box.decrypt(`${table}.${column}`, value)).toEqual(expect.any(String))
        }
      }
    }
    expect(encrypted.sort()).toEqual(listed.sort())
  })

  it('holds no secret, token or id in clear in a raw dump of the database', async () => {
    const secrets = {
      clientId: 'CLIENT-ID-b7d1e2',
      clientSecret: 'CLIENT-SECRET-9f3a7c',
      accessToken: 'ACCESS-TOKEN-4c8e1b',
      tokenSecret: 'TOKEN-SECRET-2a6d9f',
      refreshToken: 'REFRESH-TOKEN-7e3b5a',
      idToken: 'ID-TOKEN-eyJhbGciOiJSUzI1NiJ9',
      sessionId: 'SESSION-ID-1f4c7d',
      flowId: 'FLOW-ID-8b2e6a',
      state: 'STATE-5d9a3e',
      codeVerifier: 'VERIFIER-3c7f1b',
      nonce: 'NONCE-6e2a8d',
      requestToken: 'REQUEST-TOKEN-9a1c5e',
      requestTokenSecret: 'REQUEST-SECRET-4b8d2f',
    }
    const p = await store.providers.add(provider('dumped', { clientId: secrets.clientId, clientSecret: secrets.clientSecret }))
    const user = await store.users.create('Dumped User')
    await store.accounts.create({
      providerId: p.id,
      identifier: 'identifier-1',
      userId: user.id,
      displayName: null,
      accessToken: secrets.accessToken,
      tokenSecret: secrets.tokenSecret,
      refreshToken: secrets.refreshToken,
      idToken: secrets.idToken,
      expiresAt: null,
      scope: 'read',
    })
    await store.sessions.create(hashId(secrets.sessionId), { userId: user.id, createdAt: 1, idleExpiresAt: Date.now() + HOUR, absoluteExpiresAt: Date.now() + HOUR })
    const { state, codeVerifier, nonce, requestToken, requestTokenSecret } = secrets
    await store.loginFlows.create(secrets.flowId, p.id, { provider: 'dumped', state, codeVerifier, nonce, requestToken, requestTokenSecret, next: '/' }, 60_000)

    const dump = async () => {
      if (database.kind === 'sqlite') {
        const folder = dirname(parseDatabaseUrl(url).location)
        return readdirSync(folder).map((file) => readFileSync(join(folder, file)).toString('latin1')).join('\n')
      }
      const tables: string[] = await store.db('information_schema.tables').where({ table_schema: 'public' }).pluck('table_name')
      expect(tables).toEqual(expect.arrayContaining(TABLES))
      let text = ''
      for (const table of tables) text += JSON.stringify((await store.db.raw(`SELECT t::text AS row FROM "${table}" t`)).rows)
      return text
    }

    const check = (text: string) => {
      // The dump is real: it holds what is not secret.
      expect(text).toContain('Dumped User')
      expect(text).toContain('identifier-1')
      for (const [name, value] of Object.entries(secrets)) {
        for (const encoded of [value, Buffer.from(value).toString('base64').slice(0, 12), Buffer.from(value).toString('hex')]) {
          expect(text.includes(encoded), `${name} appears in the dump as ${encoded}`).toBe(false)
        }
      }
    }

    check(await dump())
    if (database.kind === 'sqlite') {
      // Closing checkpoints the WAL into the main file: still nothing in clear.
      await store.close()
      check(await dump())
      store = openStore({ databaseUrl: url, keys })
    }
  })
})
