import { DATABASE_LOGIN_REFUSED, DATABASE_MISSING, databaseRefusal, isDatabasePasswordMissing, isDatabaseUnavailable } from '../http/database-down.ts'
import { InputError } from '../input-error.ts'
import { existsSync } from 'node:fs'
import { loadDatabaseUrl, loadPublicUrl, loadStoreConfig } from '../config.ts'
import { buildProviderConfig, checkProviderName } from '../providers/provider-input.ts'
import knex from 'knex'
import { DatabaseUrlError, isSqlite, isUniqueViolation, parseDatabaseUrl, sqliteHoldsMigrations } from '../store/database.ts'
import { openStore, migrate, type Store } from '../store/index.ts'
import type { ProviderListing } from '../store/providers.ts'
import { checkKeysCoverStore, rotateKeys, unreadableSecrets } from '../store/key-rotation.ts'
import { parseFlags, parseProviderFlags, UsageError } from './provider-flags.ts'
import { afterAdding, afterPresetUpdate, presetSummary, presetTable } from './presets.ts'
import { PRESETS } from '../providers/presets.ts'
import { errorLine, jsonLine, textLine, withLinesCut, type LogFields } from '../log.ts'

export interface CliIo {
  env: NodeJS.ProcessEnv
  cwd: string
  out: (line: string) => void
  err: (line: string) => void
}

const USAGE = `usage: all-access <command>
  serve [--sandbox]                    start the BFF (--sandbox: also the local demo providers)
  migrate                              apply database migrations
  providers add <name> [flags]         add a provider (--preset, --client-id, --client-secret, URLs…)
  providers update <name> [flags]      change what the flags name; an empty value clears one (--scope '', --auth-param '')
  providers list [--json]              list providers (never prints secrets)
  providers remove <name>              remove a provider and its accounts
  presets [--json]                     the built-in provider presets and what each supports
  keys rotate                          re-encrypt every secret with the first key of ALLACCESS_KEYS
  sessions revoke --user ID | --all    end a user's sessions, or everybody's (every instance within a second)`


/**
 * The store a command works on. When the database or the keys are the development defaults, says
 * so: an app started with its own DATABASE_URL or ALLACCESS_KEYS would not see what this writes.
 * `existing`: a command on what is stored refuses a SQLite file that is not there, before any key
 * or file is made: it is a mistyped path, and a new empty database would let `sessions revoke --all`
 * end nobody's session and `keys rotate` re-encrypt nothing, both saying they succeeded.
 */
async function openCommandStore(io: CliIo, { existing = false } = {}): Promise<Store> {
  if (existing) {
    const target = parseDatabaseUrl(loadDatabaseUrl(io.env), io.cwd)
    if (target.kind === 'sqlite' && target.location !== ':memory:' && !existsSync(target.location)) {
      throw noDatabase(io, `no database at ${target.location} (check the path; all-access migrate creates a new one)`, `no database at ${target.location}`)
    }
    // Another app's file is refused as it was found: opening it would make it owner-only and WAL.
    if (target.kind === 'sqlite' && target.location !== ':memory:' && (await sqliteHoldsMigrations(target.location)) === false) {
      throw neverMigrated(io, target.location)
    }
  }
  const config = loadStoreConfig(io.env, io.cwd)
  const defaults = [
    io.env.DATABASE_URL ? null : `the development database ${config.databaseUrl}`,
    io.env.ALLACCESS_KEYS?.trim() ? null : `the development key ${config.keys[0].id} from ./data/keys`,
  ].filter(Boolean)
  if (defaults.length) io.err(`all-access: using ${defaults.join(' and ')} (your app must use the same DATABASE_URL and ALLACCESS_KEYS)`)
  return openStore({ databaseUrl: config.databaseUrl, keys: config.keys, cwd: io.cwd })
}

/**
 * Runs `action` on the migrated store. `writesSecrets`: refused, before anything is written, when the
 * keys lack a key id stored secrets use, as `serve` would refuse to start: a secret written with
 * other keys than the servers' (a typo, a shell without ALLACCESS_KEYS) breaks every server reading it.
 */
async function withStore<T>(io: CliIo, action: (store: Store) => Promise<T>, { writesSecrets = false, existing = true } = {}): Promise<T> {
  const store = await openCommandStore(io, { existing })
  try {
    if (existing) await refuseNeverMigrated(io, store)
    await migrate(store.db)
    if (writesSecrets) await checkKeysCoverStore(store.db, store.box)
    return await action(store)
  } finally {
    await store.close()
  }
}

/**
 * A command on what is stored, on a database all-access never migrated: the URL names another app's
 * database, or none (pg then takes the user's name: `postgres`, often there). Migrated, it would get
 * our tables, and `sessions revoke --all` would end nobody's session there, saying it succeeded.
 */
async function refuseNeverMigrated(io: CliIo, store: Store): Promise<void> {
  const target = parseDatabaseUrl(loadDatabaseUrl(io.env), io.cwd)
  // A database of this command alone, new each time (as openCommandStore lets it be).
  if (target.location === ':memory:' || (await store.db.schema.hasTable('knex_migrations'))) return
  const where = isSqlite(store.db)
    ? target.location
    : `database "${((await store.db.raw('SELECT current_database() AS name')) as { rows: { name: string }[] }).rows[0].name}"`
  throw neverMigrated(io, where)
}

/** A database all-access never migrated (another app's, or a mistyped name), refused by `where` it is. */
function neverMigrated(io: CliIo, where: string): DatabaseUrlError {
  return noDatabase(io, `${where} holds no all-access tables (check the URL; all-access migrate creates them)`, `no all-access database at ${where}`)
}

/**
 * A command on what is stored, refused for want of an all-access database: `named` when DATABASE_URL
 * names it, else `unset` of the development default, which nothing has created yet here.
 */
function noDatabase(io: CliIo, named: string, unset: string): DatabaseUrlError {
  return new DatabaseUrlError(
    io.env.DATABASE_URL ? `DATABASE_URL: ${named}` : `${unset}, the development default (set DATABASE_URL to your app's, or run all-access migrate to create this one)`,
  )
}

async function providers(args: string[], io: CliIo): Promise<number> {
  const [action, ...rest] = args
  switch (action) {
    case 'add': {
      const { name, input } = parseProviderFlags(rest)
      const config = buildProviderConfig(name, input)
      const callbackUrl = new URL(`/auth/callback/${name}`, loadPublicUrl(io.env)).toString()
      await withStore(io, async (store) => {
        if (await store.providers.get(name)) throw new UsageError(`provider "${name}" already exists (use: all-access providers update ${name})`)
        try {
          await store.providers.add(config)
        } catch (error) {
          if (isUniqueViolation(error)) throw new UsageError(`provider "${name}" already exists`)
          throw error
        }
      }, { writesSecrets: true, existing: false })
      io.out(`added provider ${name} (${config.protocol})`)
      for (const line of afterAdding(config, callbackUrl, input)) io.out(line)
      return 0
    }
    case 'update': {
      const { name, input } = parseProviderFlags(rest)
      checkProviderName(name)
      // Said "updated" with nothing given, an operator would take a forgotten flag for a change made.
      if (Object.values(input).every((value) => value === undefined)) throw new UsageError(`nothing to update: give the flags to change (all-access providers update ${name} --scope …)`)
      const notes = await withStore(io, async (store) => {
        const current = await store.providers.get(name)
        if (!current) throw new UsageError(`no provider named "${name}"`)
        const config = buildProviderConfig(name, input, current)
        await store.providers.update(name, config)
        return afterPresetUpdate(current, config, input)
      }, { writesSecrets: true })
      io.out(`updated provider ${name}`)
      for (const line of notes) io.out(line)
      return 0
    }
    case 'list': {
      const { values, positionals } = parseFlags(rest, { json: { type: 'boolean' } })
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`)
      const list = await withStore(io, async (store) => {
        // Listed all the same, so that an operator can see what is stored and remove it.
        const { missing, clear } = await unreadableSecrets(store.db, store.box)
        if (missing.length) io.err(`all-access: stored secrets use key id${missing.length > 1 ? 's' : ''} ${missing.join(', ')}, which ALLACCESS_KEYS lacks: the BFF cannot read them`)
        if (clear.length) io.err(`all-access: stored secrets in ${clear.join(', ')} are not all-access encrypted values (written in clear, or damaged): the BFF cannot read them`)
        return store.providers.listed()
      })
      const rows = list.map(listedSettings)
      if (values.json) io.out(JSON.stringify({ providers: rows }, null, 2))
      else if (rows.length === 0) io.out('no providers (add one with: all-access providers add <name> --preset github --client-id … --client-secret …)')
      else for (const row of rows) io.out(`${row.name}\t${row.protocol}\t${row.enabled ? 'enabled' : 'disabled'}\t${row.displayName}`)
      return 0
    }
    case 'remove': {
      const { positionals } = parseFlags(rest, {})
      if (positionals.length !== 1) throw new UsageError('usage: all-access providers remove <name>')
      const name = checkProviderName(positionals[0])
      const removed = await withStore(io, (store) => store.providers.remove(name))
      if (!removed) throw new UsageError(`no provider named "${name}"`)
      io.out(`removed provider ${name}`)
      return 0
    }
    default:
      throw new UsageError(action ? `unknown providers command "${action}" (add, update, list, remove)` : 'usage: all-access providers add|update|list|remove')
  }
}

/**
 * A provider as `providers list --json` shows it: every setting a `providers add` or `update` flag
 * sets, as stored (null when unset), so an operator can check them without reading the database.
 * Typed so that a setting added to the providers leaves this short of one and fails to compile.
 */
type ListedProvider = { [K in keyof Omit<ProviderListing, 'id'>]-?: NonNullable<ProviderListing[K]> | null }

function listedSettings(p: ProviderListing): ListedProvider {
  return {
    name: p.name,
    displayName: p.displayName,
    protocol: p.protocol,
    // Whether both client id and secret are set, never either: the client id is kept encrypted with
    // the secret, and the listing decrypts nothing, so it still works when a key is lost.
    enabled: p.enabled,
    preset: p.preset ?? null,
    presetParams: p.presetParams ?? {},
    requestTokenUrl: p.requestTokenUrl,
    authorizationUrl: p.authorizationUrl,
    accessTokenUrl: p.accessTokenUrl,
    profileUrl: p.profileUrl,
    revocationUrl: p.revocationUrl,
    issuer: p.issuer,
    apiBaseUrl: p.apiBaseUrl,
    scope: p.scope,
    scopeDelimiter: p.scopeDelimiter ?? null,
    identifierPath: p.identifierPath,
    displayNamePath: p.displayNamePath ?? null,
    pkce: p.pkce,
    tokenAuthMethod: p.tokenAuthMethod,
    tokenPlacement: p.tokenPlacement,
    refresh: p.refresh ?? null,
    // Not secrets, so stored unencrypted: the authorization parameters ride in the URL the browser is
    // sent to, and preset parameters are hosts and ids (Apple's team and key ids, not its key).
    extraAuthorizationParams: p.extraAuthorizationParams,
  }
}

const MAX_USER_ID = 2 ** 31 - 1

async function run(args: string[], io: CliIo): Promise<number> {
  const [command, ...rest] = args
  switch (command) {
    case 'migrate': {
      const { positionals } = parseFlags(rest, {})
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`)
      const store = await openCommandStore(io)
      const applied = await migrate(store.db).finally(() => store.close())
      io.out(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date')
      return 0
    }
    case 'providers':
      return providers(rest, io)
    case 'presets': {
      const { values, positionals } = parseFlags(rest, { json: { type: 'boolean' } })
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`)
      if (values.json) io.out(JSON.stringify({ presets: Object.keys(PRESETS).sort().map(presetSummary) }, null, 2))
      else for (const line of presetTable()) io.out(line)
      return 0
    }
    case 'keys': {
      if (rest[0] !== 'rotate' || rest.length > 1) throw new UsageError('usage: all-access keys rotate')
      const { count, sqlite } = await withStore(io, async (store) => ({ count: await rotateKeys(store.db, store.box), sqlite: isSqlite(store.db) }))
      io.out(`re-encrypted ${count} value${count === 1 ? '' : 's'} with key ${loadStoreConfig(io.env, io.cwd).keys[0].id}`)
      // SQLite's file is rewritten by the rotation itself; PostgreSQL's old row versions stay on disk.
      if (count > 0 && !sqlite) io.err('all-access: PostgreSQL keeps the old versions of the rewritten rows, under the old key, until VACUUM FULL providers, accounts, login_flows (at a quiet moment: it locks those tables while it runs)')
      return 0
    }
    case 'sessions': {
      const [action, ...flags] = rest
      if (action !== 'revoke') throw new UsageError('usage: all-access sessions revoke --user ID | --all')
      const { values, positionals } = parseFlags(flags, { user: { type: 'string' }, all: { type: 'boolean' } })
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`)
      if (Boolean(values.user) === Boolean(values.all)) throw new UsageError('sessions revoke needs exactly one of --user ID and --all')
      // User ids are 32-bit integers (PostgreSQL refuses a larger number in the query).
      if (values.user !== undefined && !(/^[1-9]\d{0,9}$/.test(values.user) && Number(values.user) <= MAX_USER_ID)) throw new UsageError(`--user: "${values.user}" is not a user id`)
      const ended = await withStore(io, (store) => (values.all ? store.sessions.removeAll() : store.sessions.removeForUser(Number(values.user))))
      io.out(`ended ${ended} session${ended === 1 ? '' : 's'}`)
      return 0
    }
    case 'serve': {
      const { values, positionals } = parseFlags(rest, { sandbox: { type: 'boolean' } })
      if (positionals.length) throw new UsageError(`unexpected argument "${positionals[0]}"`)
      const { serve } = await import('../serve.ts')
      await serve({ env: io.env, cwd: io.cwd, sandbox: Boolean(values.sandbox), log: io.err })
      return 0
    }
    case undefined:
      // Bad input, as the README's exit codes say (1 is kept for a bug): the usage goes where errors go.
      io.err(USAGE)
      return 2
    case 'help':
    case '--help':
      io.out(USAGE)
      return 0
    default:
      throw new UsageError(`unknown command "${command}"`)
  }
}

/**
 * How a failure's line is written: as a log line, cut to its limit and escaped, since what failed
 * may quote anyone (a provider's answer in an error's message). `serve` with
 * ALLACCESS_LOG_FORMAT=json says why it cannot start as a JSON object at the error level, like its
 * every other line, or a log collector would file the one line that matters in a crash loop as
 * unparsed text. (A value other than json or text is itself the failure, written as text.)
 */
function failureWriter(args: string[], io: CliIo): { err: (line: string, fields?: LogFields) => void } {
  const json = args[0] === 'serve' && io.env.ALLACCESS_LOG_FORMAT === 'json'
  const write = (line: string, fields?: LogFields) => io.err(json ? jsonLine('error', line, fields) : textLine(line, fields))
  return { err: withLinesCut({ info: write, error: write }).error }
}

/** Runs one CLI command; returns the exit code. Known problems print one line on stderr. */
export async function main(args: string[], commandIo: CliIo): Promise<number> {
  try {
    return await run(args, commandIo)
  } catch (error) {
    const io = failureWriter(args, commandIo)
    const e = error as Error
    const code = (error as { code?: string } | null | undefined)?.code
    if (e instanceof InputError) {
      // A value quoted in the message may hold a newline (or a terminal escape): the message stays one line.
      io.err(`all-access: ${e.message.replace(/[\u0000-\u001f]/g, (c) => JSON.stringify(c).slice(1, -1))}`)
      return 2
    }
    if (isDatabaseUnavailable(e) || code === DATABASE_MISSING) {
      // Knex's words for a connection not made in time blame a full pool and a missing .transacting().
      const reason = e instanceof knex.KnexTimeoutError ? 'it did not answer in time' : e.message.split('\n')[0]
      io.err(`all-access: cannot reach the database (${reason})`)
      return 3
    }
    // The settings' fault (DATABASE_URL's user or password), not a bug: one line, not pg's stack.
    if (DATABASE_LOGIN_REFUSED.includes(code ?? '')) {
      io.err(`all-access: the database refused the login (${e.message.split('\n')[0]})`)
      return 3
    }
    if (isDatabasePasswordMissing(e)) {
      io.err('all-access: the database refused the login (it asks for a password, and DATABASE_URL gives none)')
      return 3
    }
    // The database's own refusal (a privilege its role lacks, a read-only replica): the settings' or
    // the database administrator's to fix, in PostgreSQL's words, not pg's stack.
    const refusal = databaseRefusal(e)
    if (refusal) {
      io.err(`all-access: the database refused: ${refusal}`)
      return 3
    }
    // A damaged file (a disk's fault, a copy taken mid-write): a backup's to mend, not a bug's stack.
    if (code === 'SQLITE_CORRUPT') {
      io.err(`all-access: the SQLite database is damaged (SQLITE_CORRUPT): restore it from a backup`)
      return 3
    }
    io.err(...errorLine('all-access: ', error))
    return 1
  }
}
