import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import knex from 'knex'
import { createConnection, createServer as createNetServer, type AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import { TLSSocket } from 'node:tls'
import { join, resolve } from 'node:path'
import { generateKey, parseKeys, rootKey } from '../server/crypto/keys.ts'
import { hashId, randomToken } from '../server/crypto/random.ts'
import { SESSION_COOKIE } from '../server/session/cookies.ts'
import { presetConfig } from '../server/providers/fill-preset.ts'
import { PRESETS } from '../server/providers/presets.ts'
import { openStore, parseDatabaseUrl } from '../server/store/index.ts'
import type { ProviderRecord } from '../server/store/providers.ts'
import { ENCRYPTED_COLUMNS } from '../server/store/encrypted-columns.ts'
import { databases, TEST_DATABASE_URL } from './support/databases.ts'
import { BrowserSession } from './support/browser-session.ts'
import { within } from './support/eventually.ts'
import { session, startLogin } from './support/login.ts'
import { signedIn } from './support/signed-in.ts'
import { startBff } from './support/bff.ts'
import { startServe } from './support/demo-server.ts'
import { migrationSource } from '../migrations/index.ts'
import { PROVIDER_OPTIONS } from '../server/cli/provider-flags.ts'
import { scratchFolder } from './support/scratch-folder.ts'

const BIN = resolve('bin/all-access.js')

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the real command, as a user would from `cwd`. `undefined` in `env` removes the variable. */
function cli(args: string[], env: Record<string, string | undefined>, cwd: string, input = ''): Run {
  const merged: Record<string, string | undefined> = { ...process.env, NODE_ENV: 'test', PUBLIC_URL: undefined, PORT: undefined, ...env }
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name]
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd, env: merged, encoding: 'utf8', input })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** {@link cli}, without blocking this process: for a command that talks to a server the test runs. */
async function cliAsync(args: string[], env: Record<string, string | undefined>, cwd: string): Promise<Run> {
  const merged: Record<string, string | undefined> = { ...process.env, NODE_ENV: 'test', PUBLIC_URL: undefined, PORT: undefined, ...env }
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name]
  const child = spawn(process.execPath, [BIN, ...args], { cwd, env: merged, stdio: ['ignore', 'pipe', 'pipe'] })
  const run: Run = { code: null, stdout: '', stderr: '' }
  child.stdout.on('data', (chunk: Buffer) => (run.stdout += chunk))
  child.stderr.on('data', (chunk: Buffer) => (run.stderr += chunk))
  run.code = await new Promise<number | null>((resolve) => child.on('close', resolve))
  return run
}

const temporaryFolder = () => scratchFolder('aa-cli-')

/** What `providers add` prints: the provider, the callback URL to register, and any notes of its preset. */
const added = (name: string, protocol: string, ...notes: string[]) =>
  [`added provider ${name} (${protocol})`, `callback URL to register with the provider: http://localhost:3000/auth/callback/${name}`, ...notes].map((line) => line + '\n').join('')

/** A failure as the contract wants it: a non-zero exit, nothing on stdout, one line on stderr. */
const failure = (message: string) => ({ code: 2, stdout: '', stderr: `all-access: ${message}\n` })

describe.each(databases)('the all-access command on $kind', (database) => {
  let cwd: string
  let env: Record<string, string>
  let drop: () => Promise<void>
  const run = (...args: string[]) => cli(args, env, cwd)

  /** Every provider as stored, secrets decrypted: what "changes nothing" compares. */
  async function stored(keys = env.ALLACCESS_KEYS): Promise<ProviderRecord[]> {
    const store = openStore({ databaseUrl: env.DATABASE_URL, keys: parseKeys(keys), cwd })
    try {
      return await store.providers.list()
    } finally {
      await store.close()
    }
  }

  async function storedOne(name: string): Promise<ProviderRecord | undefined> {
    return (await stored()).find((p) => p.name === name)
  }

  /** The key id of every encrypted value in the database. */
  async function keyIdsInUse(): Promise<Set<string>> {
    const store = openStore({ databaseUrl: env.DATABASE_URL, keys: parseKeys(env.ALLACCESS_KEYS), cwd })
    try {
      const ids = new Set<string>()
      for (const [table, columns] of Object.entries(ENCRYPTED_COLUMNS)) {
        for (const row of await store.db(table).select(columns)) for (const column of columns) if (row[column]) ids.add(row[column].split('.')[1])
      }
      return ids
    } finally {
      await store.close()
    }
  }

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    cwd = temporaryFolder()
    env = { DATABASE_URL: created.url, ALLACCESS_KEYS: generateKey() }
  })

  afterAll(async () => {
    await drop?.()
  })

  it('migrates, then finds the database up to date', async () => {
    expect(run('migrate')).toEqual({ code: 0, stdout: `applied ${(await migrationSource.getMigrations([])).join(', ')}\n`, stderr: '' })
    expect(run('migrate')).toEqual({ code: 0, stdout: 'database is up to date\n', stderr: '' })
    expect(existsSync(join(cwd, 'data'))).toBe(false)
  })

  it('lists no providers yet, with a hint', () => {
    expect(run('providers', 'list')).toEqual({ code: 0, stdout: 'no providers (add one with: all-access providers add <name> --preset github --client-id … --client-secret …)\n', stderr: '' })
    expect(JSON.parse(run('providers', 'list', '--json').stdout)).toEqual({ providers: [] })
  })

  it('adds a provider from a preset and lists it, as text and JSON, without its client id or secret', async () => {
    expect(run('providers', 'add', 'github', '--preset', 'github', '--client-id', 'GH-ID-123', '--client-secret', 'GH-SECRET-456')).toEqual({
      code: 0,
      stdout: added('github', 'oauth2'),
      stderr: '',
    })
    const plain = run('providers', 'list')
    expect(plain).toEqual({ code: 0, stdout: 'github\toauth2\tenabled\tGitHub\n', stderr: '' })
    const json = run('providers', 'list', '--json')
    expect(json.code).toBe(0)
    expect(JSON.parse(json.stdout)).toEqual({
      providers: [
        {
          name: 'github',
          displayName: 'GitHub',
          protocol: 'oauth2',
          enabled: true,
          preset: 'github',
          presetParams: {},
          requestTokenUrl: null,
          authorizationUrl: 'https://github.com/login/oauth/authorize',
          accessTokenUrl: 'https://github.com/login/oauth/access_token',
          profileUrl: 'https://api.github.com/user',
          revocationUrl: 'https://api.github.com/applications',
          issuer: null,
          apiBaseUrl: 'https://api.github.com',
          scope: 'read:user user:email',
          scopeDelimiter: ' ',
          identifierPath: 'id',
          displayNamePath: 'name',
          pkce: true,
          tokenAuthMethod: 'client_secret_post',
          tokenPlacement: 'header',
          refresh: 'none',
          extraAuthorizationParams: {},
        },
      ],
    })
    for (const output of [plain, json]) {
      expect(output.stdout + output.stderr).not.toContain('GH-ID-123')
      expect(output.stdout + output.stderr).not.toContain('GH-SECRET-456')
    }
    expect(await storedOne('github')).toEqual(expect.objectContaining({ clientId: 'GH-ID-123', clientSecret: 'GH-SECRET-456', tokenAuthMethod: 'client_secret_post' }))
  })

  it('adds a provider with every flag, and stores each value', async () => {
    const result = run(
      'providers', 'add', 'everything',
      '--protocol', 'oidc',
      '--display-name', 'Every Flag',
      '--client-id', 'every-id',
      '--client-secret', 'every-secret',
      '--issuer', 'https://id.every.example',
      '--authorization-url', 'https://id.every.example/authorize',
      '--access-token-url', 'https://id.every.example/token',
      '--profile-url', 'https://id.every.example/userinfo',
      '--api-base-url', 'https://api.every.example/v2',
      '--revocation-url', 'https://id.every.example/revoke',
      '--scope', 'openid email',
      '--identifier-path', 'data.sub',
      '--no-pkce',
      '--token-auth', 'client_secret_post',
      '--token-placement', 'query',
      '--auth-param', 'prompt=consent',
      '--auth-param', 'hd=every.example',
      '--display-name-path', 'given_name family_name',
      '--refresh', 'static',
      '--scope-delimiter', 'comma',
    )
    expect(result).toEqual({ code: 0, stdout: added('everything', 'oidc'), stderr: '' })
    expect(await storedOne('everything')).toEqual({
      id: expect.any(Number),
      name: 'everything',
      displayName: 'Every Flag',
      protocol: 'oidc',
      requestTokenUrl: null,
      authorizationUrl: 'https://id.every.example/authorize',
      accessTokenUrl: 'https://id.every.example/token',
      profileUrl: 'https://id.every.example/userinfo',
      apiBaseUrl: 'https://api.every.example/v2',
      issuer: 'https://id.every.example',
      revocationUrl: 'https://id.every.example/revoke',
      scope: 'openid email',
      identifierPath: 'data.sub',
      clientId: 'every-id',
      clientSecret: 'every-secret',
      pkce: false,
      tokenAuthMethod: 'client_secret_post',
      tokenPlacement: 'query',
      extraAuthorizationParams: { prompt: 'consent', hd: 'every.example' },
      preset: null,
      presetParams: {},
      displayNamePath: 'given_name family_name',
      refresh: 'static',
      scopeDelimiter: ',',
    })
  })

  it('lists, in --json, every setting a flag of providers add and update sets, as stored, and never the client id or secret', () => {
    const listed = (name: string) => JSON.parse(run('providers', 'list', '--json').stdout).providers.find((p: { name: string }) => p.name === name)
    // Every value unlike its preset's and its default, so that a setting left out or shown as another's shows.
    const everyFlag = [
      '--preset', 'keycloak',
      '--param', 'domain=sso.listed.example',
      '--param', 'realm=ops',
      '--protocol', 'oidc',
      '--display-name', 'Listed Flags',
      '--client-id', 'LISTED-ID-345',
      '--client-secret', 'LISTED-SECRET-678',
      '--issuer', 'https://id.listed.example',
      '--authorization-url', 'https://id.listed.example/authorize',
      '--access-token-url', 'https://id.listed.example/token',
      '--profile-url', 'https://id.listed.example/userinfo',
      '--api-base-url', 'https://api.listed.example/v2',
      '--revocation-url', 'https://id.listed.example/revoke',
      '--scope', 'openid email',
      '--identifier-path', 'data.sub',
      '--no-pkce',
      '--token-auth', 'client_secret_post',
      '--token-placement', 'query',
      '--auth-param', 'prompt=consent',
      '--auth-param', 'hd=listed.example',
      '--display-name-path', 'given_name family_name',
      '--refresh', 'static',
      '--scope-delimiter', 'comma',
    ]
    expect(run('providers', 'add', 'listed', ...everyFlag).code).toBe(0)
    expect(listed('listed')).toEqual({
      name: 'listed',
      displayName: 'Listed Flags',
      protocol: 'oidc',
      enabled: true,
      preset: 'keycloak',
      presetParams: { domain: 'sso.listed.example', realm: 'ops' },
      requestTokenUrl: null,
      authorizationUrl: 'https://id.listed.example/authorize',
      accessTokenUrl: 'https://id.listed.example/token',
      profileUrl: 'https://id.listed.example/userinfo',
      revocationUrl: 'https://id.listed.example/revoke',
      issuer: 'https://id.listed.example',
      apiBaseUrl: 'https://api.listed.example/v2',
      scope: 'openid email',
      scopeDelimiter: ',',
      identifierPath: 'data.sub',
      displayNamePath: 'given_name family_name',
      pkce: false,
      tokenAuthMethod: 'client_secret_post',
      tokenPlacement: 'query',
      refresh: 'static',
      extraAuthorizationParams: { prompt: 'consent', hd: 'listed.example' },
    })
    // The flags one provider cannot hold with the others: a request token URL is OAuth 1.0a's, PKCE not.
    const pkce = ['--pkce']
    expect(run('providers', 'update', 'listed', ...pkce).code).toBe(0)
    expect(listed('listed')).toEqual(expect.objectContaining({ pkce: true, tokenPlacement: 'query' }))
    const oauth1 = ['--request-token-url', 'https://l.listed.example/rt', '--authorization-url', 'https://l.listed.example/a', '--access-token-url', 'https://l.listed.example/at', '--profile-url', 'https://l.listed.example/me', '--client-id', 'a', '--client-secret', 'b']
    expect(run('providers', 'add', 'listed-oauth1', ...oauth1).code).toBe(0)
    expect(listed('listed-oauth1')).toEqual(expect.objectContaining({ protocol: 'oauth1', requestTokenUrl: 'https://l.listed.example/rt', preset: null, displayNamePath: null, pkce: false }))
    // A flag added later is in this test's commands, or this fails until it is.
    const given = new Set([...everyFlag, ...pkce, ...oauth1].filter((arg) => arg.startsWith('--')).map((arg) => arg.slice(2)))
    expect([...given].sort()).toEqual(Object.keys(PROVIDER_OPTIONS).sort())
    const json = run('providers', 'list', '--json')
    expect(json.stdout + json.stderr).not.toMatch(/LISTED-ID-345|LISTED-SECRET-678/)
    expect(listed('listed')).not.toHaveProperty('clientId')
    expect(listed('listed')).not.toHaveProperty('clientSecret')
    for (const name of ['listed', 'listed-oauth1']) expect(run('providers', 'remove', name).code).toBe(0)
  })

  it('shows in --json every column of the providers table but its secrets and its row bookkeeping, so that a column added later cannot be left out unnoticed', async () => {
    // Kept out: the encrypted columns (`enabled` says whether both are set), and what no flag sets.
    const SECRET_COLUMNS = ['client_id', 'client_secret']
    const BOOKKEEPING_COLUMNS = ['id', 'created_at', 'updated_at']
    expect(SECRET_COLUMNS).toEqual([...ENCRYPTED_COLUMNS.providers])
    expect(run('providers', 'add', 'columns', ...OAUTH2).code).toBe(0)
    const shown = Object.keys(JSON.parse(run('providers', 'list', '--json').stdout).providers.find((p: { name: string }) => p.name === 'columns'))
    const store = openStore({ databaseUrl: env.DATABASE_URL, keys: parseKeys(env.ALLACCESS_KEYS), cwd })
    let columns: string[]
    try {
      columns = Object.keys(await store.db('providers').columnInfo())
    } finally {
      await store.close()
    }
    const key = (column: string) => column.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase())
    const keptOut = [...SECRET_COLUMNS, ...BOOKKEEPING_COLUMNS]
    expect(keptOut.filter((column) => !columns.includes(column))).toEqual([])
    expect(columns.filter((column) => !keptOut.includes(column) && !shown.includes(key(column)))).toEqual([])
    expect(shown.filter((name) => keptOut.map(key).includes(name))).toEqual([])
    // And nothing shown that is not stored, but whether the provider is enabled.
    expect(shown.filter((name) => !columns.map(key).includes(name))).toEqual(['enabled'])
    expect(run('providers', 'remove', 'columns').code).toBe(0)
  })

  it('infers oauth1 from a request token URL, oidc from an issuer, and oauth2 otherwise, with loopback http allowed', async () => {
    const oauth1 = ['--request-token-url', 'https://l.example/rt', '--authorization-url', 'https://l.example/a', '--access-token-url', 'https://l.example/at', '--profile-url', 'https://l.example/me']
    expect(run('providers', 'add', 'legacy', ...oauth1, '--client-id', 'a', '--client-secret', 'b')).toEqual({ code: 0, stdout: added('legacy', 'oauth1'), stderr: '' })
    expect(run('providers', 'add', 'acme', '--issuer', 'https://id.acme.example', '--client-id', 'a', '--client-secret', 'b')).toEqual({ code: 0, stdout: added('acme', 'oidc'), stderr: '' })
    const loopback = ['--authorization-url', 'http://localhost:8080/a', '--access-token-url', 'http://127.0.0.1:8080/t', '--profile-url', 'http://[::1]:8080/me']
    expect(run('providers', 'add', 'local', ...loopback, '--client-id', 'a', '--client-secret', 'b')).toEqual({ code: 0, stdout: added('local', 'oauth2'), stderr: '' })
    expect(await storedOne('legacy')).toEqual(expect.objectContaining({ protocol: 'oauth1', displayName: 'Legacy', identifierPath: 'id', requestTokenUrl: 'https://l.example/rt', pkce: false }))
    expect(JSON.parse(run('providers', 'list', '--json').stdout).providers.find((p: { name: string }) => p.name === 'legacy')).toEqual(expect.objectContaining({ protocol: 'oauth1', pkce: false }))
    expect(await storedOne('acme')).toEqual(expect.objectContaining({ protocol: 'oidc', identifierPath: 'sub', pkce: true, tokenAuthMethod: 'client_secret_basic' }))
    expect(await storedOne('local')).toEqual(expect.objectContaining({ protocol: 'oauth2', profileUrl: 'http://[::1]:8080/me' }))
  })

  it.each([
    ['twitter', 'oauth1', []],
    ['google', 'oidc', []],
    ['facebook', 'oauth2', []],
    ['microsoft', 'oidc', ['--param tenant not given: using common (directory (tenant) id, or common, organizations, consumers)']],
    ['bitbucket', 'oauth2', []],
    ['garmin', 'oauth2', []],
    ['garmin-oauth1', 'oauth1', [`note: ${PRESETS['garmin-oauth1'].setup}`]],
  ])('adds the %s preset as %s, with the preset values', async (preset, protocol, notes) => {
    expect(run('providers', 'add', `my-${preset}`, '--preset', preset, '--client-id', 'a', '--client-secret', 'b')).toEqual({ code: 0, stdout: added(`my-${preset}`, protocol, ...notes), stderr: '' })
    expect(PRESETS[preset].protocol).toBe(protocol)
    expect(await storedOne(`my-${preset}`)).toEqual(expect.objectContaining({ ...presetConfig(preset), clientId: 'a', clientSecret: 'b' }))
  })

  it('lets flags override a preset, value by value', async () => {
    const result = run('providers', 'add', 'ghe', '--preset', 'github', '--display-name', 'GitHub Enterprise', '--api-base-url', 'https://ghe.example/api/v3', '--scope', 'repo', '--token-auth', 'client_secret_basic', '--client-id', 'a', '--client-secret', 'b')
    // Its API moved, its logins, tokens and revocation not: each is named, as a GitHub Enterprise server would need them all.
    expect(result).toEqual({
      code: 0,
      stdout: added(
        'ghe',
        'oauth2',
        "note: --authorization-url is still the preset's https://github.com/login/oauth/authorize: give it too if this provider is elsewhere",
        "note: --access-token-url is still the preset's https://github.com/login/oauth/access_token: give it too if this provider is elsewhere",
        "note: --profile-url is still the preset's https://api.github.com/user: give it too if this provider is elsewhere",
        "note: --revocation-url is still the preset's https://api.github.com/applications: give it too if this provider is elsewhere",
      ),
      stderr: '',
    })
    const everywhere = ['--authorization-url', 'https://ghe.example/login/oauth/authorize', '--access-token-url', 'https://ghe.example/login/oauth/access_token', '--profile-url', 'https://ghe.example/api/v3/user', '--revocation-url', 'https://ghe.example/api/v3/applications']
    expect(run('providers', 'add', 'ghe-whole', '--preset', 'github', '--api-base-url', 'https://ghe.example/api/v3', ...everywhere, '--client-id', 'a', '--client-secret', 'b')).toEqual({ code: 0, stdout: added('ghe-whole', 'oauth2'), stderr: '' })
    expect(await storedOne('ghe')).toEqual(
      expect.objectContaining({
        displayName: 'GitHub Enterprise',
        apiBaseUrl: 'https://ghe.example/api/v3',
        scope: 'repo',
        tokenAuthMethod: 'client_secret_basic',
        authorizationUrl: 'https://github.com/login/oauth/authorize',
        profileUrl: 'https://api.github.com/user',
      }),
    )
  })

  it('reads the client secret from standard input with --client-secret -, and refuses an empty one', async () => {
    expect(cli(['providers', 'add', 'piped', '--preset', 'github', '--client-id', 'a', '--client-secret', '-'], env, cwd, 'piped-secret-789\n')).toEqual({ code: 0, stdout: added('piped', 'oauth2'), stderr: '' })
    expect((await storedOne('piped'))?.clientSecret).toBe('piped-secret-789')
    const before = await stored()
    expect(cli(['providers', 'add', 'piped2', '--preset', 'github', '--client-id', 'a', '--client-secret', '-'], env, cwd, '')).toEqual(failure('--client-secret -: standard input was empty'))
    expect(await stored()).toEqual(before)
  })

  it('takes a client secret that starts with "-" written --client-secret=-…, as its refusal says', async () => {
    expect(cli(['providers', 'add', 'dashed', '--preset', 'github', '--client-id', 'a', '--client-secret=-s3cr3t'], env, cwd)).toEqual({ code: 0, stdout: added('dashed', 'oauth2'), stderr: '' })
    expect((await storedOne('dashed'))?.clientSecret).toBe('-s3cr3t')
  })

  it('updates only the fields given, and keeps the client id and secret', async () => {
    const before = await storedOne('ghe')
    expect(run('providers', 'update', 'ghe', '--scope', 'repo read:org', '--no-pkce')).toEqual({ code: 0, stdout: 'updated provider ghe\n', stderr: '' })
    expect(await storedOne('ghe')).toEqual({ ...before, scope: 'repo read:org', pkce: false })
    expect(run('providers', 'update', 'ghe', '--client-secret', 'new-secret')).toEqual({ code: 0, stdout: 'updated provider ghe\n', stderr: '' })
    expect(await storedOne('ghe')).toEqual({ ...before, scope: 'repo read:org', pkce: false, clientSecret: 'new-secret' })
  })

  /** The parameters a login with `name` sends to the provider, read from a BFF on this database as it finds it. */
  async function authorizationParams(name: string): Promise<[string, string][]> {
    const bff = await startBff(env.DATABASE_URL, { keys: env.ALLACCESS_KEYS })
    try {
      return [...(await startLogin(new BrowserSession(), bff.url, name)).searchParams]
    } finally {
      await bff.close()
    }
  }

  const OAUTH2 = ['--authorization-url', 'https://idp.example/a', '--access-token-url', 'https://idp.example/t', '--profile-url', 'https://idp.example/me', '--client-id', 'a', '--client-secret', 'b']
  /** What every login of an OAuth 2.0 provider sends itself, before any extra parameter. */
  const OWN_PARAMS = ['client_id', 'redirect_uri', 'response_type', 'state', 'code_challenge', 'code_challenge_method']

  it('keeps authorization parameters named __proto__, constructor or prototype as parameters like any other, and a login sends them', async () => {
    expect(run('providers', 'add', 'proto', ...OAUTH2, '--auth-param', '__proto__=x', '--auth-param', 'constructor=y', '--auth-param', 'prototype=z')).toEqual({ code: 0, stdout: added('proto', 'oauth2'), stderr: '' })
    // Entries, not toEqual on an object: a literal's `__proto__` would set its prototype, not a key.
    expect(Object.entries((await storedOne('proto'))!.extraAuthorizationParams)).toEqual([['__proto__', 'x'], ['constructor', 'y'], ['prototype', 'z']])
    expect(run('providers', 'update', 'proto', '--auth-param', '__proto__=w', '--auth-param', 'prompt=login')).toEqual({ code: 0, stdout: 'updated provider proto\n', stderr: '' })
    expect(Object.entries((await storedOne('proto'))!.extraAuthorizationParams)).toEqual([['__proto__', 'w'], ['prompt', 'login']])
    expect((await authorizationParams('proto')).filter(([name]) => !OWN_PARAMS.includes(name))).toEqual([['__proto__', 'w'], ['prompt', 'login']])
    // With the login it started (an encrypted row of its own), which the key rotation below counts.
    expect(run('providers', 'remove', 'proto').code).toBe(0)
  })

  it("clears every extra authorization parameter with --auth-param '', a preset's too, and a login then sends none", async () => {
    expect(run('providers', 'add', 'cleared', ...OAUTH2, '--auth-param', 'prompt=login', '--auth-param', 'hd=example.com').code).toBe(0)
    expect(run('providers', 'update', 'cleared', '--auth-param', '')).toEqual({ code: 0, stdout: 'updated provider cleared\n', stderr: '' })
    expect(await storedOne('cleared')).toEqual(expect.objectContaining({ extraAuthorizationParams: {}, authorizationUrl: 'https://idp.example/a' }))
    expect((await authorizationParams('cleared')).map(([name]) => name)).toEqual(OWN_PARAMS)
    // Dropbox's preset asks for token_access_type=offline.
    expect(run('providers', 'add', 'dbx', '--preset', 'dropbox', '--client-id', 'a', '--client-secret', 'b', '--auth-param', '')).toMatchObject({ code: 0, stderr: '' })
    expect(await storedOne('dbx')).toEqual(expect.objectContaining({ preset: 'dropbox', extraAuthorizationParams: {} }))
    expect((await authorizationParams('dbx')).map(([name]) => name).sort()).toEqual([...OWN_PARAMS, 'scope'].sort())
    // With the logins they started, which the key rotation below counts.
    for (const name of ['cleared', 'dbx']) expect(run('providers', 'remove', name).code).toBe(0)
  })

  it("lists a provider's extra authorization parameters and its preset's parameters in --json, never its client id or secret, and none once cleared with --auth-param ''", () => {
    const listed = (name: string) => JSON.parse(run('providers', 'list', '--json').stdout).providers.find((p: { name: string }) => p.name === name)
    expect(run('providers', 'add', 'shown', ...OAUTH2.slice(0, -4), '--client-id', 'SHOWN-ID-789', '--client-secret', 'SHOWN-SECRET-012', '--auth-param', 'prompt=consent', '--auth-param', 'claims={"id_token": {"acr": null}}').code).toBe(0)
    expect(listed('shown')).toEqual(expect.objectContaining({ extraAuthorizationParams: { prompt: 'consent', claims: '{"id_token": {"acr": null}}' }, preset: null, presetParams: {} }))
    expect(run('providers', 'add', 'tenant', '--preset', 'keycloak', '--param', 'domain=sso.example.com', '--param', 'realm=acme', '--client-id', 'a', '--client-secret', 'b', '--auth-param', 'kc_idp_hint=github').code).toBe(0)
    expect(listed('tenant')).toEqual(expect.objectContaining({ extraAuthorizationParams: { kc_idp_hint: 'github' }, preset: 'keycloak', presetParams: { domain: 'sso.example.com', realm: 'acme' } }))
    const json = run('providers', 'list', '--json')
    expect(json.stdout + json.stderr).not.toMatch(/SHOWN-ID-789|SHOWN-SECRET-012/)
    expect(listed('shown')).not.toHaveProperty('clientId')
    expect(listed('shown')).not.toHaveProperty('clientSecret')
    expect(run('providers', 'update', 'tenant', '--auth-param', '')).toEqual({ code: 0, stdout: 'updated provider tenant\n', stderr: '' })
    expect(listed('tenant')).toEqual(expect.objectContaining({ extraAuthorizationParams: {}, preset: 'keycloak', presetParams: { domain: 'sso.example.com', realm: 'acme' } }))
    for (const name of ['shown', 'tenant']) expect(run('providers', 'remove', name).code).toBe(0)
  })

  it('turns PKCE on for an oauth1 provider updated to oauth2, as for any new oauth2 provider: its stored false said nothing of PKCE', async () => {
    const oauth1 = ['--request-token-url', 'https://l.example/rt', '--authorization-url', 'https://l.example/a', '--access-token-url', 'https://l.example/at', '--profile-url', 'https://l.example/me']
    expect(run('providers', 'add', 'switched', ...oauth1, '--client-id', 'a', '--client-secret', 'b').code).toBe(0)
    expect(run('providers', 'update', 'switched', '--protocol', 'oauth2', '--request-token-url', '')).toEqual({ code: 0, stdout: 'updated provider switched\n', stderr: '' })
    expect(await storedOne('switched')).toEqual(expect.objectContaining({ protocol: 'oauth2', requestTokenUrl: null, pkce: true }))
    expect(run('providers', 'update', 'switched', '--protocol', 'oauth1', '--request-token-url', 'https://l.example/rt')).toEqual({ code: 0, stdout: 'updated provider switched\n', stderr: '' })
    expect(run('providers', 'update', 'switched', '--protocol', 'oauth2', '--request-token-url', '', '--no-pkce').code).toBe(0)
    expect(await storedOne('switched')).toEqual(expect.objectContaining({ protocol: 'oauth2', pkce: false }))
  })

  it.each([
    [['sessions', 'revoke', '--all']],
    [['keys', 'rotate']],
    [['providers', 'list']],
    [['providers', 'remove', 'github']],
  ])("refuses %j on a database that all-access never migrated (a URL naming another app's database, or none: pg then takes the user's), in one line, and creates no table there", async (args) => {
    const { url, drop } = await database.create()
    try {
      // SQLite: a file that is there (an empty file is an empty database); PostgreSQL: a database with no table of ours.
      if (database.kind === 'sqlite') writeFileSync(parseDatabaseUrl(url).location, '')
      const where = database.kind === 'sqlite' ? parseDatabaseUrl(url).location : `database "${new URL(url).pathname.slice(1)}"`
      expect(cli(args, { DATABASE_URL: url, ALLACCESS_KEYS: generateKey() }, cwd)).toEqual(failure(`DATABASE_URL: ${where} holds no all-access tables (check the URL; all-access migrate creates them)`))
      const store = openStore({ databaseUrl: url, keys: parseKeys(generateKey()) })
      try {
        expect(await store.db.schema.hasTable('knex_migrations')).toBe(false)
      } finally {
        await store.close()
      }
    } finally {
      await drop()
    }
  })

  describe('refuses bad input with one line naming the problem, and changes nothing', () => {
    const secrets = ['--client-id', 'a', '--client-secret', 'b']
    it.each([
      ['an unknown flag', ['providers', 'add', 'x', '--issuer', 'https://id.example', ...secrets, '--bogus'], 'unknown flag --bogus'],
      ['a flag without its value', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--client-secret', 'b', '--client-id'], "Option '--client-id <value>' argument missing"],
      ['a bad URL', ['providers', 'add', 'x', '--issuer', 'not a url', ...secrets], '--issuer: "not a url" is not a URL'],
      ['http to a host that is not this machine', ['providers', 'add', 'x', '--profile-url', 'http://idp.example/me', '--authorization-url', 'https://idp.example/a', '--access-token-url', 'https://idp.example/t', ...secrets], '--profile-url: must use https (http is only allowed for localhost, 127.0.0.1 and [::1])'],
      ['a URL of another scheme', ['providers', 'add', 'x', '--issuer', 'ftp://id.example', ...secrets], '--issuer: must be an https URL, got ftp:'],
      ['a URL with a user name and password, which would never be sent (and would be listed)', ['providers', 'add', 'x', '--issuer', 'https://me:pw@id.example', ...secrets], '--issuer: must not hold a user name or password'],
      ['a URL with a space around it, kept as given but never the issuer the provider names', ['providers', 'add', 'x', '--issuer', 'https://id.example ', ...secrets], '--issuer: must not contain spaces or control characters'],
      ['a URL with a newline in it', ['providers', 'update', 'github', '--authorization-url', 'https://github.com/login/oauth/\nauthorize'], '--authorization-url: must not contain spaces or control characters'],
      ['an issuer with a query, which discovery would read as its own', ['providers', 'add', 'x', '--issuer', 'https://id.example?tenant=a', ...secrets], '--issuer: must not have a query (?…) or a fragment (#…)'],
      ['an issuer with a fragment', ['providers', 'add', 'x', '--issuer', 'https://id.example/#realm', ...secrets], '--issuer: must not have a query (?…) or a fragment (#…)'],
      ['an API base URL with a query the proxy would drop', ['providers', 'update', 'github', '--api-base-url', 'https://api.github.com/?key=k'], '--api-base-url: must not have a query (?…) or a fragment (#…)'],
      ['a missing --client-id', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--client-secret', 'b'], '--client-id is required'],
      ['a flag given twice, of which only the last would count', ['providers', 'add', 'x', '--issuer', 'https://id.example', ...secrets, '--client-id', 'c'], '--client-id given twice'],
      ['a --flag=value given twice', ['providers', 'update', 'github', '--scope=a', '--scope=b'], '--scope given twice'],
      ['a preset parameter given twice, of which only the last would count', ['providers', 'add', 'x', '--preset', 'okta', '--param', 'domain=acme.okta.com', '--param', 'domain=acme-test.okta.com', ...secrets], '--param domain given twice'],
      ['an authorization parameter given twice', ['providers', 'update', 'github', '--auth-param', 'prompt=login', '--auth-param', 'prompt=consent'], '--auth-param prompt given twice'],
      ['an update without a flag, which would change nothing', ['providers', 'update', 'github'], 'nothing to update: give the flags to change (all-access providers update github --scope …)'],
      ['a client id with spaces pasted around it', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--client-id', ' a ', '--client-secret', 'b'], '--client-id: must not start or end with a space'],
      ['a missing --client-secret', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--client-id', 'a'], '--client-secret is required'],
      ['an empty --client-secret', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--client-id', 'a', '--client-secret', ''], '--client-secret is required'],
      ['a duplicate name', ['providers', 'add', 'github', '--preset', 'github', ...secrets], 'provider "github" already exists (use: all-access providers update github)'],
      ['an invalid name', ['providers', 'add', 'Git_Hub', '--preset', 'github', ...secrets], 'provider name "Git_Hub" must be 1-50 characters of a-z, 0-9 and -'],
      ['a name too long', ['providers', 'add', 'a'.repeat(51), '--preset', 'github', ...secrets], `provider name "${'a'.repeat(51)}" must be 1-50 characters of a-z, 0-9 and -`],
      ['no name', ['providers', 'add', '--preset', 'github', ...secrets], 'a provider name is required'],
      ['two names', ['providers', 'add', 'one', 'two', '--preset', 'github', ...secrets], 'unexpected argument "two"'],
      // The rest of a secret with a space, unquoted: the message never repeats it.
      ['a client secret split by a space', ['providers', 'add', 'x', '--preset', 'github', '--client-id', 'a', '--client-secret', 's3cr3t', 'half-of-it'], 'unexpected argument after the value of --client-secret (quote a value that holds spaces, or give the secret as --client-secret - on standard input)'],
      ['a --client-secret=value split by a space', ['providers', 'update', 'github', '--client-secret=s3cr3t', 'half-of-it'], 'unexpected argument after the value of --client-secret (quote a value that holds spaces, or give the secret as --client-secret - on standard input)'],
      ['a client id split by a space', ['providers', 'update', 'github', '--client-id', 'my', 'app'], 'unexpected argument after the value of --client-id (quote a value that holds spaces)'],
      // A random secret may start with "-": the message says how to give it, and never repeats it.
      ['a client secret that starts with "-"', ['providers', 'add', 'x', '--preset', 'github', '--client-id', 'a', '--client-secret', '-s3cr3t'], '--client-secret: a value that starts with "-" is written --client-secret=-…, or give the secret as --client-secret - on standard input'],
      ['a scope that starts with "-"', ['providers', 'update', 'github', '--scope', '-read'], '--scope: a value that starts with "-" is written --scope=-…'],
      ['an unknown preset', ['providers', 'add', 'x', '--preset', 'myspace', ...secrets], '--preset: unknown preset "myspace" (all-access presets lists them)'],
      ['an unknown protocol', ['providers', 'add', 'x', '--protocol', 'saml', '--issuer', 'https://id.example', ...secrets], '--protocol: must be one of oauth1, oauth2, oidc, got "saml"'],
      ['a bad --token-auth', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--token-auth', 'private_key_jwt', ...secrets], '--token-auth: must be one of client_secret_basic, client_secret_post, got "private_key_jwt"'],
      ['a missing endpoint', ['providers', 'add', 'x', '--authorization-url', 'https://a.example/a', ...secrets], '--access-token-url is required for an oauth2 provider'],
      ['a request token URL on an oidc provider', ['providers', 'add', 'x', '--protocol', 'oidc', '--issuer', 'https://id.example', '--request-token-url', 'https://id.example/rt', ...secrets], '--request-token-url only applies to oauth1 providers, not oidc'],
      ['--pkce on an oauth1 provider', ['providers', 'add', 'x', '--request-token-url', 'https://l.example/rt', '--authorization-url', 'https://l.example/a', '--access-token-url', 'https://l.example/at', '--profile-url', 'https://l.example/me', '--pkce', ...secrets], '--pkce only applies to oauth2 and oidc providers, not oauth1'],
      ['--pkce with --no-pkce', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--pkce', '--no-pkce', ...secrets], '--pkce and --no-pkce contradict each other'],
      ['a display name too long for the database', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--display-name', 'D'.repeat(101), ...secrets], '--display-name: must be at most 100 characters'],
      ['an identifier path too long for the database', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--identifier-path', 'p'.repeat(201), ...secrets], '--identifier-path: must be at most 200 characters'],
      ['an authorization parameter all-access sets itself', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--auth-param', 'prompt=login', '--auth-param', 'state=fixed', ...secrets], '--auth-param: "state" is set by all-access itself'],
      ['no authorization parameter and one at once', ['providers', 'update', 'github', '--auth-param', '', '--auth-param', 'prompt=login'], '--auth-param "" clears every authorization parameter: give it alone'],
      // OpenID Connect Core §3.1.2.1: every login's ID token would be held to a max_age that is none.
      ['a max_age that is not a whole number of seconds', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--auth-param', 'max_age=1h', ...secrets], '--auth-param: max_age must be a whole number of seconds, got "1h"'],
      ['an authorization parameter that is not key=value', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--auth-param', 'prompt', ...secrets], '--auth-param: expected key=value, got "prompt"'],
      ['a control character in a value', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--scope', 'a\tb', ...secrets], '--scope: must not contain control characters'],
      ['an update of a missing provider', ['providers', 'update', 'nope', '--scope', 'x'], 'no provider named "nope"'],
      ['an update to an http URL', ['providers', 'update', 'github', '--authorization-url', 'http://evil.example/a'], '--authorization-url: must use https (http is only allowed for localhost, 127.0.0.1 and [::1])'],
      ['an update that would lose a required endpoint', ['providers', 'update', 'github', '--access-token-url', ''], '--access-token-url is required for an oauth2 provider'],
      ['an update clearing the client secret', ['providers', 'update', 'github', '--client-secret', ''], '--client-secret is required'],
      ['a preset without a parameter it needs', ['providers', 'add', 'x', '--preset', 'okta', ...secrets], '--preset okta needs --param domain=… (Okta org domain, e.g. acme.okta.com)'],
      ['a parameter the preset does not have', ['providers', 'add', 'x', '--preset', 'github', '--param', 'domain=ghe.example', ...secrets], '--param: the github preset has no parameter "domain" (it takes none)'],
      ['a parameter value that would change the URL', ['providers', 'add', 'x', '--preset', 'okta', '--param', 'domain=evil.example/x', ...secrets], '--param domain: "evil.example/x" may hold only letters, digits and . _ ~ : -'],
      // Assigned to a plain object, the key set its prototype: dropped unsaid, the preset re-applied as if given nothing.
      ['a preset parameter named __proto__', ['providers', 'add', 'x', '--preset', 'okta', '--param', 'domain=acme.okta.com', '--param', '__proto__=x', ...secrets], '--param: the okta preset has no parameter "__proto__" (it takes domain)'],
      ['a preset parameter named __proto__ on update', ['providers', 'update', 'github', '--param', '__proto__=x'], '--param: the github preset has no parameter "__proto__" (it takes none)'],
      ['a parameter without a preset', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--param', 'domain=a.example', ...secrets], '--param needs --preset'],
      ['a parameter for a provider made without a preset', ['providers', 'update', 'everything', '--param', 'domain=a.example'], '--param: provider "everything" was not made from a preset (add --preset)'],
      ['an unknown --refresh', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--refresh', 'sometimes', ...secrets], '--refresh: must be one of none, static, rotating, got "sometimes"'],
      ['a display-name path that is not dotted paths', ['providers', 'add', 'x', '--issuer', 'https://id.example', '--display-name-path', 'user..name', ...secrets], '--display-name-path: "user..name" is not dotted paths like name or user.first_name user.last_name'],
      ['a remove of a missing provider', ['providers', 'remove', 'nope'], 'no provider named "nope"'],
      ['a remove without a name', ['providers', 'remove'], 'usage: all-access providers remove <name>'],
      ['an unknown providers command', ['providers', 'frobnicate'], 'unknown providers command "frobnicate" (add, update, list, remove)'],
      ['an unknown command', ['launch'], 'unknown command "launch"'],
      ['an argument to migrate', ['migrate', 'now'], 'unexpected argument "now"'],
      ['an unknown keys command', ['keys', 'forget'], 'usage: all-access keys rotate'],
    ])('refuses %s', async (_, args, message) => {
      const before = await stored()
      const result = run(...args)
      expect(result).toEqual(failure(message))
      expect(await stored()).toEqual(before)
    })
  })

  it('refuses to add or update a provider with keys that lack the stored key id, as serve would refuse to start, and changes nothing', async () => {
    const storedId = rootKey(Buffer.from(env.ALLACCESS_KEYS, 'base64')).id
    const otherKey = generateKey()
    const otherId = rootKey(Buffer.from(otherKey, 'base64')).id
    const message = `ALLACCESS_KEYS lacks key id ${storedId} used by stored secrets (the ids of its keys: ${otherId}): add the key with that id, or use the same ALLACCESS_KEYS as the process that stored them`
    const before = await stored()
    const withOtherKey = (...args: string[]) => cli(args, { ...env, ALLACCESS_KEYS: otherKey }, cwd)
    expect(withOtherKey('providers', 'add', 'other-key', '--preset', 'github', '--client-id', 'a', '--client-secret', 'b')).toEqual(failure(message))
    expect(withOtherKey('providers', 'update', 'github', '--scope', 'repo')).toEqual(failure(message))
    expect(await stored()).toEqual(before)
    expect(await keyIdsInUse()).toEqual(new Set([storedId]))
  })

  it('refuses a --user beyond any user id (the column is a 32-bit integer) in one line, ending no session', () => {
    for (const user of ['2147483648', '3000000000', '9999999999999999']) {
      expect(run('sessions', 'revoke', '--user', user)).toEqual(failure(`--user: "${user}" is not a user id`))
    }
    expect(run('sessions', 'revoke', '--user', '2147483647')).toEqual({ code: 0, stdout: 'ended 0 sessions\n', stderr: '' })
  })

  it("ends one user's sessions with sessions revoke --user, and everybody's with --all, which a running BFF sees within a second", async () => {
    const bff = await startBff(env.DATABASE_URL, { keys: env.ALLACCESS_KEYS })
    await bff.addProvider('signed-in-with', { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', clientId: 'a', clientSecret: 'b' })
    try {
      const alice = await signedIn(bff, 'signed-in-with', {}, 'alice')
      // Alice's second browser: another session of the same user.
      const aliceElsewhere = new BrowserSession()
      const secondId = randomToken()
      await bff.store.sessions.create(hashId(secondId), { userId: alice.userId, createdAt: Date.now(), idleExpiresAt: Date.now() + 3_600_000, absoluteExpiresAt: Date.now() + 7_200_000 })
      aliceElsewhere.cookies.push({ name: SESSION_COOKIE, value: secondId, host: new URL(bff.url).hostname, path: '/', attributes: '' })
      const bob = await signedIn(bff, 'signed-in-with', {}, 'bob')
      // One session each that has ended, which the clean-up has not reached yet: nothing left to end.
      for (const { userId } of [alice, bob]) await bff.store.sessions.create(hashId(randomToken()), { userId, createdAt: Date.now() - 7_200_000, idleExpiresAt: Date.now() - 1_000, absoluteExpiresAt: Date.now() + 3_600_000 })
      const isSignedIn = async (browser: BrowserSession) => (await session(browser, bff.url)).authenticated
      const signedOutWithinASecond = (browser: BrowserSession) => within(1000, () => isSignedIn(browser), (authenticated) => !authenticated)
      for (const browser of [alice.browser, aliceElsewhere, bob.browser]) expect(await isSignedIn(browser)).toBe(true)

      expect(run('sessions', 'revoke', '--user', String(alice.userId))).toEqual({ code: 0, stdout: 'ended 2 sessions\n', stderr: '' })
      expect([await signedOutWithinASecond(alice.browser), await signedOutWithinASecond(aliceElsewhere)]).toEqual([false, false])
      expect(await isSignedIn(bob.browser)).toBe(true)

      expect(run('sessions', 'revoke', '--all')).toEqual({ code: 0, stdout: 'ended 1 session\n', stderr: '' })
      expect(await signedOutWithinASecond(bob.browser)).toBe(false)
      expect(run('sessions', 'revoke', '--all')).toEqual({ code: 0, stdout: 'ended 0 sessions\n', stderr: '' })
      // The ended one went with the others, uncounted.
      expect(Number((await bff.store.db('sessions').count({ n: '*' }).first())?.n)).toBe(0)
    } finally {
      await bff.store.providers.remove('signed-in-with')
      await bff.close()
    }
  })

  it('adds a per-tenant preset with its parameters filled in, and re-applies it when a parameter changes', async () => {
    expect(run('providers', 'add', 'okta', '--preset', 'okta', '--param', 'domain=acme.okta.com', '--client-id', 'a', '--client-secret', 'b')).toEqual({ code: 0, stdout: added('okta', 'oidc'), stderr: '' })
    expect(await storedOne('okta')).toEqual(
      expect.objectContaining({ issuer: 'https://acme.okta.com', revocationUrl: 'https://acme.okta.com/oauth2/v1/revoke', preset: 'okta', presetParams: { domain: 'acme.okta.com' }, refresh: 'rotating' }),
    )
    expect(run('providers', 'update', 'okta', '--param', 'domain=beta.okta.com')).toEqual({ code: 0, stdout: 'updated provider okta\n', stderr: '' })
    expect(await storedOne('okta')).toEqual(expect.objectContaining({ issuer: 'https://beta.okta.com', apiBaseUrl: 'https://beta.okta.com/api/v1', clientSecret: 'b' }))
  })

  it("names, after re-applying a preset, each value a flag of its add had set that is the preset's again", async () => {
    const flags = ['--display-name', 'My GH', '--scope', 'repo', '--identifier-path', 'node_id', '--api-base-url', 'https://ghe.example/api/v3']
    expect(run('providers', 'add', 'gh-custom', '--preset', 'github', ...flags, '--client-id', 'a', '--client-secret', 'b').code).toBe(0)
    expect(run('providers', 'update', 'gh-custom', '--preset', 'github', '--scope', 'repo')).toEqual({
      code: 0,
      stdout: [
        'updated provider gh-custom',
        `note: --api-base-url is now the preset's "https://api.github.com", no longer "https://ghe.example/api/v3"`,
        `note: --display-name is now the preset's "GitHub", no longer "My GH"`,
        `note: --identifier-path stays "node_id", by which this provider's accounts are found; the preset's is "id" (giving it would leave those accounts unfound: each user's next login would make a new user)`,
        '',
      ].join('\n'),
      stderr: '',
    })
    // The identifier path stays: the accounts linked so far are found by it.
    expect(await storedOne('gh-custom')).toEqual(expect.objectContaining({ scope: 'repo', identifierPath: 'node_id', apiBaseUrl: 'https://api.github.com' }))
    // Named by its flag, it changes.
    expect(run('providers', 'update', 'gh-custom', '--preset', 'github', ...flags.slice(0, 4), '--identifier-path', 'id').code).toBe(0)
    expect(await storedOne('gh-custom')).toEqual(expect.objectContaining({ identifierPath: 'id' }))
    // Given again, a value stays and nothing is said of it.
    expect(run('providers', 'update', 'gh-custom', '--preset', 'github', ...flags)).toEqual({ code: 0, stdout: 'updated provider gh-custom\n', stderr: '' })
    expect(run('providers', 'remove', 'gh-custom').code).toBe(0)
  })

  it("prints, after adding from a preset, the preset's setup note", async () => {
    const result = run('providers', 'add', 'sf', '--preset', 'salesforce', '--param', 'domain=acme.my.salesforce.com', '--client-id', 'a', '--client-secret', 'b')
    expect(result).toEqual({ code: 0, stdout: added('sf', 'oidc', `note: ${PRESETS.salesforce.setup}`), stderr: '' })
  })

  it('removes a provider', async () => {
    expect(run('providers', 'remove', 'legacy')).toEqual({ code: 0, stdout: 'removed provider legacy\n', stderr: '' })
    expect((await stored()).map((p) => p.name)).not.toContain('legacy')
    expect(run('providers', 'remove', 'legacy')).toEqual(failure('no provider named "legacy"'))
  })

  it('rotates keys: every value moves to the new first key, and then the old key can go', async () => {
    const oldKey = env.ALLACCESS_KEYS
    const newKey = generateKey()
    const newId = rootKey(Buffer.from(newKey, 'base64')).id
    const before = await stored()
    expect(await keyIdsInUse()).toEqual(new Set([rootKey(Buffer.from(oldKey, 'base64')).id]))

    const rotated = cli(['keys', 'rotate'], { ...env, ALLACCESS_KEYS: `${newKey},${oldKey}` }, cwd)
    // On PostgreSQL, what is left to do to retire the old key from the disk too.
    const vacuum = 'all-access: PostgreSQL keeps the old versions of the rewritten rows, under the old key, until VACUUM FULL providers, accounts, login_flows (at a quiet moment: it locks those tables while it runs)\n'
    expect(rotated).toEqual({ code: 0, stdout: `re-encrypted ${before.length * 2} values with key ${newId}\n`, stderr: database.kind === 'postgres' ? vacuum : '' })
    env.ALLACCESS_KEYS = newKey
    expect(await keyIdsInUse()).toEqual(new Set([newId]))
    expect(await stored(newKey)).toEqual(before)

    const withNewOnly = run('providers', 'list', '--json')
    expect(withNewOnly.code).toBe(0)
    expect(JSON.parse(withNewOnly.stdout).providers).toHaveLength(before.length)
    expect(run('providers', 'update', 'github', '--scope', 'user')).toEqual({ code: 0, stdout: 'updated provider github\n', stderr: '' })

    // Listed all the same, nothing decrypted, with a warning: what an operator who lost a key must see to clean up.
    const withOldOnly = cli(['providers', 'list', '--json'], { ...env, ALLACCESS_KEYS: oldKey }, cwd)
    expect([withOldOnly.code, JSON.parse(withOldOnly.stdout).providers, withOldOnly.stderr]).toEqual([
      0,
      JSON.parse(run('providers', 'list', '--json').stdout).providers,
      `all-access: stored secrets use key id ${newId}, which ALLACCESS_KEYS lacks: the BFF cannot read them\n`,
    ])
    expect(cli(['providers', 'update', 'github', '--scope', 'repo'], { ...env, ALLACCESS_KEYS: oldKey }, cwd).code).toBe(2)
    expect(cli(['keys', 'rotate'], { ...env, ALLACCESS_KEYS: `${newKey},${oldKey}` }, cwd)).toEqual({ code: 0, stdout: `re-encrypted 0 values with key ${newId}\n`, stderr: '' })
  })
})

describe('the all-access command without configuration', () => {
  it('finishes quietly when the reader of its output goes away early (`all-access presets | head`)', async () => {
    const child = spawn(process.execPath, [BIN, 'presets'], { cwd: temporaryFolder(), stdio: ['ignore', 'pipe', 'pipe'] })
    // Closed before the command writes a line: every line then meets EPIPE.
    child.stdout.destroy()
    let stderr = ''
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk))
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
  })

  it('finishes its work when the reader of its warnings goes away too (`all-access providers add … 2>&1 | head -0`)', async () => {
    const cwd = temporaryFolder()
    const env = { ...process.env, DATABASE_URL: undefined, ALLACCESS_KEYS: undefined }
    const child = spawn(process.execPath, [BIN, 'providers', 'add', 'github', '--preset', 'github', '--client-id', 'a', '--client-secret', 'b'], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] })
    // Its first line is a warning on stderr (the development key it generates): it meets EPIPE.
    child.stdout.destroy()
    child.stderr.destroy()
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
    expect(code).toBe(0)
    expect(cli(['providers', 'list'], { DATABASE_URL: undefined, ALLACCESS_KEYS: undefined }, cwd).stdout).toBe('github\toauth2\tenabled\tGitHub\n')
  })

  it('generates a development key into ./data/keys once, with a warning, and keeps using it with ./data/all-access.sqlite3', () => {
    const cwd = temporaryFolder()
    const unset = { DATABASE_URL: undefined, ALLACCESS_KEYS: undefined }
    const first = cli(['providers', 'add', 'github', '--preset', 'github', '--client-id', 'a', '--client-secret', 'b'], unset, cwd)
    expect(first).toEqual({
      code: 0,
      stdout: added('github', 'oauth2'),
      stderr:
        `all-access: ALLACCESS_KEYS is not set; generated a development key in ${join(cwd, 'data', 'keys')}. Set ALLACCESS_KEYS in production.\n` +
        `all-access: using the development database sqlite://./data/all-access.sqlite3 and the development key ${parseKeys(readFileSync(join(cwd, 'data', 'keys'), 'utf8'))[0].id} from ./data/keys (your app must use the same DATABASE_URL and ALLACCESS_KEYS)\n`,
    })
    expect(statSync(join(cwd, 'data', 'keys')).mode & 0o777).toBe(0o600)
    expect(readFileSync(join(cwd, 'data', 'keys'), 'utf8')).toMatch(/^[A-Za-z0-9+/]{43}=\n$/)
    expect(existsSync(join(cwd, 'data', 'all-access.sqlite3'))).toBe(true)
    const key = readFileSync(join(cwd, 'data', 'keys'), 'utf8')
    expect(cli(['providers', 'list'], unset, cwd)).toEqual({
      code: 0,
      stdout: 'github\toauth2\tenabled\tGitHub\n',
      stderr: `all-access: using the development database sqlite://./data/all-access.sqlite3 and the development key ${parseKeys(key)[0].id} from ./data/keys (your app must use the same DATABASE_URL and ALLACCESS_KEYS)\n`,
    })
    expect(readFileSync(join(cwd, 'data', 'keys'), 'utf8')).toBe(key)
  })

  it.each([['migrate'], ['serve']])('refuses to %s in production without keys, naming ALLACCESS_KEYS, and writes no key', (command) => {
    const cwd = temporaryFolder()
    const result = cli([command], { NODE_ENV: 'production', ALLACCESS_KEYS: undefined, DATABASE_URL: undefined }, cwd)
    expect(result).toEqual(failure('ALLACCESS_KEYS is not set: with NODE_ENV=production set ALLACCESS_KEYS to one or more base64 32-byte keys (openssl rand -base64 32)'))
    expect(existsSync(join(cwd, 'data', 'keys'))).toBe(false)
  })

  it.each([
    [{ PORT: 'eighty' }, 'PORT must be a whole number of at least 0, got "eighty"'],
    [{ PUBLIC_URL: 'not a url' }, 'PUBLIC_URL is not a URL: "not a url"'],
    [{ PUBLIC_URL: 'ftp://app.example' }, 'PUBLIC_URL must be http:// or https://'],
    // Callback URLs are built from the origin alone: a path would be dropped, and the URL registered with the provider never sent.
    [{ PUBLIC_URL: 'https://app.example.com/bff' }, "PUBLIC_URL must be an origin such as https://app.example.com, with no path, query, fragment, user name or password (the BFF's routes are /auth/* and /api/* at the root)"],
    [{ PUBLIC_URL: 'https://me:pw@app.example.com' }, "PUBLIC_URL must be an origin such as https://app.example.com, with no path, query, fragment, user name or password (the BFF's routes are /auth/* and /api/* at the root)"],
    [{ PUBLIC_URL: 'https://app.example.com/?x=1' }, "PUBLIC_URL must be an origin such as https://app.example.com, with no path, query, fragment, user name or password (the BFF's routes are /auth/* and /api/* at the root)"],
    [{ ALLACCESS_PROXY_TIMEOUT_MS: '0' }, 'ALLACCESS_PROXY_TIMEOUT_MS must be a whole number of at least 1, got "0"'],
    // Past the longest timer (2^31 - 1 ms) a time limit fires at once: every proxied call would time out.
    [{ ALLACCESS_PROXY_TIMEOUT_MS: '3000000000' }, 'ALLACCESS_PROXY_TIMEOUT_MS must be at most 2147483647, got "3000000000"'],
    [{ ALLACCESS_PROXY_MAX_BODY: '99999999999999999999' }, 'ALLACCESS_PROXY_MAX_BODY must be at most 9007199254740991, got "99999999999999999999"'],
    [{ PORT: '70000' }, 'PORT must be at most 65535, got 70000'],
    [{ PORT: '99999999999999999999' }, 'PORT must be at most 65535, got 99999999999999999999'],
    [{ ALLACCESS_PROXY_MAX_BODY: '10MB' }, 'ALLACCESS_PROXY_MAX_BODY must be a whole number of at least 0, got "10MB"'],
    [{ ALLACCESS_KEYS: 'short' }, 'ALLACCESS_KEYS entry 1 is not a base64 32-byte key (make one with: openssl rand -base64 32)'],
  ])('refuses to serve with bad configuration %j in one line', (bad, message) => {
    const result = cli(['serve'], { ALLACCESS_KEYS: generateKey(), DATABASE_URL: undefined, ...bad }, temporaryFolder())
    expect(result).toEqual(failure(message))
  })

  it('refuses to add a provider under a PUBLIC_URL with a path, whose callback URL it would print without the path', () => {
    const cwd = temporaryFolder()
    const result = cli(['providers', 'add', 'github', '--preset', 'github', '--client-id', 'a', '--client-secret', 'b'], { PUBLIC_URL: 'https://app.example.com/bff/', ALLACCESS_KEYS: generateKey(), DATABASE_URL: undefined }, cwd)
    expect(result).toEqual(failure("PUBLIC_URL must be an origin such as https://app.example.com, with no path, query, fragment, user name or password (the BFF's routes are /auth/* and /api/* at the root)"))
    expect(existsSync(join(cwd, 'data'))).toBe(false)
  })

  it('serves under a PUBLIC_URL with a trailing slash, an uppercase host or its default port: they are still the origin', () => {
    for (const publicUrl of ['https://App.Example.com/', 'https://app.example.com:443', 'http://localhost:3000/']) {
      const result = cli(['providers', 'add', 'github', '--preset', 'github', '--client-id', 'a', '--client-secret', 'b'], { PUBLIC_URL: publicUrl, ALLACCESS_KEYS: generateKey(), DATABASE_URL: undefined }, temporaryFolder())
      expect(result.code).toBe(0)
      expect(result.stdout).toContain(`callback URL to register with the provider: ${new URL(publicUrl).origin}/auth/callback/github\n`)
    }
  })

  it.each([
    ['an unknown scheme', 'mysql://localhost/db', 'DATABASE_URL must start with sqlite:// or postgres://, got "mysql:…"'],
    ['a malformed %-escape', 'sqlite://./data/100%.sqlite3', 'DATABASE_URL sqlite:// path has a malformed %-escape (write % as %25)'],
  ])('refuses a DATABASE_URL with %s in one line', (_, url, message) => {
    expect(cli(['migrate'], { DATABASE_URL: url, ALLACCESS_KEYS: generateKey() }, temporaryFolder())).toEqual(failure(message))
  })

  it.each([
    [['migrate']],
    [['providers', 'add', 'github', '--preset', 'github', '--client-id', 'a', '--client-secret', 'b']],
    [['serve']],
  ])('refuses %j on a sqlite DATABASE_URL with a query string (?mode=ro), once read as part of a new file\'s name, in one line, and makes no file', (args) => {
    const cwd = temporaryFolder()
    // serve would otherwise listen: on a port of its own choosing, and only until the guard's end.
    const result = spawnSync(process.execPath, [BIN, ...args], {
      cwd,
      env: { ...process.env, NODE_ENV: 'test', PUBLIC_URL: '', PORT: '0', HOST: '127.0.0.1', DATABASE_URL: 'sqlite://./app.sqlite3?mode=ro', ALLACCESS_KEYS: generateKey() },
      encoding: 'utf8',
      timeout: 20_000,
    })
    expect({ code: result.status, stdout: result.stdout, stderr: result.stderr }).toEqual(failure('DATABASE_URL sqlite:// takes no query string, got "?mode=ro" (write a ? of the file name as %3F)'))
    expect(readdirSync(cwd)).toEqual([])
  })

  it('opens a sqlite file whose name holds a ?, written %3F, in migrate, providers and serve alike', async () => {
    const cwd = temporaryFolder()
    const env = { DATABASE_URL: `sqlite://${join(cwd, 'app%3Fv2.sqlite3')}`, ALLACCESS_KEYS: generateKey() }
    expect(cli(['migrate'], env, cwd)).toMatchObject({ code: 0, stderr: '' })
    expect(cli(['providers', 'add', 'github', '--preset', 'github', '--client-id', 'a', '--client-secret', 'b'], env, cwd)).toMatchObject({ code: 0, stderr: '' })
    expect(readdirSync(cwd).filter((name) => name.endsWith('.sqlite3'))).toEqual(['app?v2.sqlite3'])
    // serve hands the URL on with its path made absolute: written back, the ? is escaped again.
    const serve = await startServe({ databaseUrl: env.DATABASE_URL, keys: env.ALLACCESS_KEYS })
    try {
      expect(await (await fetch(new URL('/auth/providers', serve.url))).json()).toEqual({ providers: [{ name: 'github', displayName: 'GitHub', protocol: 'oauth2' }] })
    } finally {
      await serve.stop()
    }
  })

  it.each([
    [['sessions'], 'usage: all-access sessions revoke --user ID | --all'],
    [['sessions', 'revoke'], 'sessions revoke needs exactly one of --user ID and --all'],
    [['sessions', 'revoke', '--user', '3', '--all'], 'sessions revoke needs exactly one of --user ID and --all'],
    [['sessions', 'revoke', '--user', 'bob'], '--user: "bob" is not a user id'],
  ])('refuses %j in one line', (args, message) => {
    expect(cli(args, { ALLACCESS_KEYS: generateKey(), DATABASE_URL: undefined }, temporaryFolder())).toEqual(failure(message))
  })

  it.each([
    [['sessions', 'revoke', '--all']],
    [['sessions', 'revoke', '--user', '1']],
    [['keys', 'rotate']],
    [['providers', 'list']],
    [['providers', 'update', 'github', '--scope', 'read:user']],
    [['providers', 'remove', 'github']],
  ])('refuses %j on a sqlite DATABASE_URL naming no database, in one line, rather than report success on a new empty one, and makes no file', (args) => {
    const cwd = temporaryFolder()
    // A mistyped path during an incident: "ended 0 sessions" would leave every real session live.
    expect(cli(args, { DATABASE_URL: 'sqlite://./data/all-acess.sqlite3', ALLACCESS_KEYS: undefined }, cwd)).toEqual(
      failure(`DATABASE_URL: no database at ${join(cwd, 'data', 'all-acess.sqlite3')} (check the path; all-access migrate creates a new one)`),
    )
    expect(existsSync(join(cwd, 'data'))).toBe(false)
  })

  it('says, without DATABASE_URL, that the development database it would use is not there, and makes none', () => {
    const cwd = temporaryFolder()
    expect(cli(['sessions', 'revoke', '--all'], { DATABASE_URL: undefined, ALLACCESS_KEYS: undefined }, cwd)).toEqual(
      failure(`no database at ${join(cwd, 'data', 'all-access.sqlite3')}, the development default (set DATABASE_URL to your app's, or run all-access migrate to create this one)`),
    )
    expect(existsSync(join(cwd, 'data'))).toBe(false)
  })

  it.each([
    [['migrate']],
    [['providers', 'add', 'github', '--preset', 'github', '--client-id', 'a', '--client-secret', 'b']],
    [['serve']],
    [['providers', 'list', '--json']],
    [['sessions', 'revoke', '--all']],
  ])('says in one line, on stderr alone, that a sqlite DATABASE_URL names a file that is not a SQLite database on %j, and leaves the file as it was, its mode too', (args) => {
    const cwd = temporaryFolder()
    // A path mistyped onto another file: the key file, a dump, an encrypted backup.
    const text = 'not a database, but a file an operator named by mistake\n'.repeat(100)
    writeFileSync(join(cwd, 'dump.sql'), text)
    // Shared with a group, which must still read it after the mistake.
    chmodSync(join(cwd, 'dump.sql'), 0o640)
    expect(cli(args, { DATABASE_URL: 'sqlite://./dump.sql', ALLACCESS_KEYS: generateKey(), PORT: '0', HOST: '127.0.0.1' }, cwd)).toEqual(failure(`DATABASE_URL: ${join(cwd, 'dump.sql')} is not a SQLite database (SQLITE_NOTADB)`))
    expect(readFileSync(join(cwd, 'dump.sql'), 'utf8')).toBe(text)
    expect(statSync(join(cwd, 'dump.sql')).mode & 0o777).toBe(0o640)
    expect(readdirSync(cwd)).toEqual(['dump.sql'])
  })

  it('says in one line, exit 3, that a SQLite database is damaged, rather than print a stack', () => {
    const cwd = temporaryFolder()
    const env = { DATABASE_URL: 'sqlite://./app.sqlite3', ALLACCESS_KEYS: generateKey() }
    expect(cli(['migrate'], env, cwd).code).toBe(0)
    // Its header kept, the pages after it overwritten: a disk's fault, or a copy taken mid-write.
    const file = join(cwd, 'app.sqlite3')
    const bytes = readFileSync(file)
    bytes.fill(0xff, 4096, Math.min(bytes.length, 4096 + 8192))
    writeFileSync(file, bytes)
    expect(cli(['providers', 'list'], env, cwd)).toEqual({ code: 3, stdout: '', stderr: 'all-access: the SQLite database is damaged (SQLITE_CORRUPT): restore it from a backup\n' })
  })

  it('says in one line which folder of a sqlite DATABASE_URL it cannot create', () => {
    const cwd = temporaryFolder()
    writeFileSync(join(cwd, 'a-file'), '')
    expect(cli(['migrate'], { DATABASE_URL: 'sqlite://./a-file/db.sqlite3', ALLACCESS_KEYS: generateKey() }, cwd)).toEqual(
      failure(`DATABASE_URL: cannot create the folder ${join(cwd, 'a-file')} (EEXIST)`),
    )
  })

  it('says in one line which certificate file of a postgres DATABASE_URL it cannot read, not with a stack trace', () => {
    const cwd = temporaryFolder()
    const missing = join(cwd, 'no-such-ca.pem')
    expect(cli(['migrate'], { DATABASE_URL: `postgres://postgres@127.0.0.1:1/none?sslrootcert=${missing}`, ALLACCESS_KEYS: generateKey() }, cwd)).toEqual(
      failure(`DATABASE_URL: cannot read ${missing} (ENOENT)`),
    )
  })

  it('says in one line that the database cannot be reached', () => {
    const result = cli(['migrate'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test', ALLACCESS_KEYS: generateKey() }, temporaryFolder())
    expect(result.code).toBe(3)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/^all-access: cannot reach the database \([^\n]*ECONNREFUSED[^\n]*\)\n$/)
  })

  it.skipIf(!TEST_DATABASE_URL)('says in one line, not with a stack trace, that a DATABASE_URL asking for TLS (sslmode=require) reaches a PostgreSQL without it', () => {
    const url = new URL(TEST_DATABASE_URL!)
    url.searchParams.set('sslmode', 'require')
    expect(cli(['migrate'], { DATABASE_URL: url.toString(), ALLACCESS_KEYS: generateKey() }, temporaryFolder())).toEqual({
      code: 3,
      stdout: '',
      stderr: 'all-access: cannot reach the database (The server does not support SSL connections)\n',
    })
  })

  it.skipIf(spawnSync('openssl', ['version']).status !== 0)("says in one line, not with a stack trace, that the database's TLS certificate is not one DATABASE_URL trusts", async () => {
    const folder = temporaryFolder()
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=localhost', '-keyout', join(folder, 'key.pem'), '-out', join(folder, 'cert.pem')])
    expect(made.status).toBe(0)
    // A PostgreSQL as far as TLS goes: it accepts the SSLRequest and shows a self-signed certificate.
    const server = createNetServer((socket) => {
      socket.once('data', () => {
        socket.write('S')
        new TLSSocket(socket, { isServer: true, key: readFileSync(join(folder, 'key.pem')), cert: readFileSync(join(folder, 'cert.pem')) }).on('error', () => {})
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      expect(await cliAsync(['migrate'], { DATABASE_URL: `postgres://postgres@localhost:${port}/test?sslmode=verify-full`, ALLACCESS_KEYS: generateKey() }, folder)).toEqual({
        code: 3,
        stdout: '',
        stderr: 'all-access: cannot reach the database (self-signed certificate)\n',
      })
    } finally {
      server.close()
    }
  })

  it.skipIf(!TEST_DATABASE_URL).each([
    ['a role PostgreSQL does not know', (url: URL) => (url.username = 'no_such_role_aa'), 'role "no_such_role_aa" does not exist'],
    ['no user name', (url: URL) => ((url.username = ''), (url.password = '')), 'no PostgreSQL user name specified in startup packet'],
  ])('says in one line, not with a stack trace, that the database refused the login of a DATABASE_URL with %s', (_, change, reason) => {
    const url = new URL(TEST_DATABASE_URL!)
    change(url)
    // pg falls back to $USER, $PGUSER without a user name in the URL: unset both, as a container may have.
    expect(cli(['migrate'], { DATABASE_URL: url.toString(), ALLACCESS_KEYS: generateKey(), USER: undefined, PGUSER: undefined }, temporaryFolder())).toEqual({
      code: 3,
      stdout: '',
      stderr: `all-access: the database refused the login (${reason})\n`,
    })
  })

  it.skipIf(!TEST_DATABASE_URL)('migrates and reads a DATABASE_URL whose host is an IPv6 address, written in brackets as URLs write it', async () => {
    const created = await databases.find((database) => database.kind === 'postgres')!.create()
    const url = new URL(created.url)
    const target = { host: url.hostname, port: Number(url.port || 5432) }
    // The machine's PostgreSQL, reached on IPv6's loopback through a relay of the test's own.
    const relay = createNetServer((client) => {
      const upstream = createConnection(target)
      client.on('error', () => upstream.destroy()).pipe(upstream).on('error', () => client.destroy()).pipe(client)
    })
    await new Promise<void>((resolve) => relay.listen(0, '::1', resolve))
    try {
      url.host = `[::1]:${(relay.address() as AddressInfo).port}`
      const env = { DATABASE_URL: url.toString(), ALLACCESS_KEYS: generateKey() }
      expect(await cliAsync(['migrate'], env, temporaryFolder())).toMatchObject({ code: 0, stderr: '' })
      expect(await cliAsync(['providers', 'list'], env, temporaryFolder())).toMatchObject({ code: 0, stderr: '' })
    } finally {
      relay.close()
      await created.drop()
    }
  })

  it('says in one line, not with a stack trace, that the database asks for a password (SCRAM) which DATABASE_URL does not give', async () => {
    /** A PostgreSQL backend message: its type, its length, its body. */
    const message = (type: string, body: Buffer) => Buffer.concat([Buffer.from(type), Buffer.from([0, 0, 0, 0].map((_, i) => ((body.length + 4) >> (8 * (3 - i))) & 255)), body])
    const authentication = (code: number, data: string) => message('R', Buffer.concat([Buffer.from([0, 0, 0, code]), Buffer.from(data)]))
    // PostgreSQL 14 and later by default: SCRAM-SHA-256, which pg answers only with a password.
    const server = createNetServer((socket) => {
      let step = 0
      socket.on('data', () => {
        if (step++ === 0) socket.write(authentication(10, 'SCRAM-SHA-256\0\0'))
        else socket.write(authentication(11, 'r=nonce,s=c2FsdA==,i=4096'))
      })
      socket.on('error', () => {})
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      // pg would take a password from PGPASSWORD or ~/.pgpass: neither is there.
      expect(await cliAsync(['providers', 'list'], { DATABASE_URL: `postgres://allaccess@127.0.0.1:${port}/allaccess`, ALLACCESS_KEYS: generateKey(), PGPASSWORD: undefined, PGPASSFILE: join(temporaryFolder(), 'none') }, temporaryFolder())).toEqual({
        code: 3,
        stdout: '',
        stderr: 'all-access: the database refused the login (it asks for a password, and DATABASE_URL gives none)\n',
      })
    } finally {
      server.close()
    }
  })

  it.skipIf(!TEST_DATABASE_URL).each([
    [
      "a role that may not create tables in the schema (PostgreSQL 15 and later grant that to the database's owner only)",
      (name: string, role: string) => [`REVOKE CREATE ON SCHEMA public FROM PUBLIC`, `GRANT CONNECT ON DATABASE ${name} TO ${role}`],
      'permission denied for schema public (42501)',
    ],
    ['a read-only server (a replica)', (name: string) => [`ALTER DATABASE ${name} SET default_transaction_read_only = on`], 'cannot execute CREATE TABLE in a read-only transaction (25006)'],
  ])("says in one line, not with pg's stack trace, that the database refused what migrate asks of it: %s", async (_, setUp, reason) => {
    const created = await databases.find((database) => database.kind === 'postgres')!.create()
    const url = new URL(created.url)
    const name = url.pathname.slice(1)
    const role = `${name}_role`
    const admin = openStore({ databaseUrl: created.url, keys: parseKeys(generateKey()) })
    try {
      await admin.db.raw(`CREATE ROLE ${role} LOGIN`)
      for (const statement of setUp(name, role)) await admin.db.raw(statement)
      url.username = role
      expect(cli(['migrate'], { DATABASE_URL: url.toString(), ALLACCESS_KEYS: generateKey() }, temporaryFolder())).toEqual({
        code: 3,
        stdout: '',
        stderr: `all-access: the database refused: ${reason}\n`,
      })
    } finally {
      await admin.close()
      await created.drop()
      const cleanUp = openStore({ databaseUrl: TEST_DATABASE_URL!, keys: parseKeys(generateKey()) })
      await cleanUp.db.raw(`DROP ROLE IF EXISTS ${role}`).finally(() => cleanUp.close())
    }
  })

  it('says in one line that the database did not answer, when its port takes the connection and then says nothing (a frozen server), not that the pool is full', async () => {
    const silent = createNetServer((socket) => socket.on('error', () => {}))
    const sockets = new Set<import('node:net').Socket>()
    silent.on('connection', (socket) => sockets.add(socket))
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = silent.address() as AddressInfo
      expect(await cliAsync(['providers', 'list'], { DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/test`, ALLACCESS_KEYS: generateKey() }, temporaryFolder())).toEqual({
        code: 3,
        stdout: '',
        stderr: 'all-access: cannot reach the database (it did not answer in time)\n',
      })
    } finally {
      for (const socket of sockets) socket.destroy()
      silent.close()
    }
  }, 60_000)

  it.skipIf(!TEST_DATABASE_URL)("migrates and reads a DATABASE_URL in libpq's host-less form, the host in ?host= as for a Unix socket", async () => {
    const created = await databases.find((database) => database.kind === 'postgres')!.create()
    try {
      const url = new URL(created.url)
      const env = { DATABASE_URL: `postgres://${url.username}@${url.pathname}?host=${url.hostname}&port=${url.port || 5432}`, ALLACCESS_KEYS: generateKey() }
      expect(cli(['migrate'], env, temporaryFolder())).toMatchObject({ code: 0, stderr: '' })
      expect(cli(['providers', 'list'], env, temporaryFolder())).toMatchObject({ code: 0, stderr: '' })
    } finally {
      await created.drop()
    }
  })

  it('lists every preset with its protocol, refresh, PKCE, revocation and parameters, without a database', () => {
    const cwd = temporaryFolder()
    const text = cli(['presets'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/none', ALLACCESS_KEYS: undefined }, cwd)
    expect(text.code).toBe(0)
    const lines = text.stdout.trimEnd().split('\n')
    expect(lines[0].split(/\s+/)).toEqual(['name', 'protocol', 'refresh', 'pkce', 'revocation', 'parameters'])
    expect(lines).toHaveLength(Object.keys(PRESETS).length + 1)
    expect(lines.find((line) => line.startsWith('okta '))?.split(/\s+/)).toEqual(['okta', 'oidc', 'rotating', 'yes', 'yes', 'domain'])
    expect(lines.find((line) => line.startsWith('github '))?.split(/\s+/)).toEqual(['github', 'oauth2', 'none', 'yes', 'yes', '-'])
    expect(lines.find((line) => line.startsWith('microsoft '))?.split(/\s+/)).toEqual(['microsoft', 'oidc', 'rotating', 'yes', 'no', '[tenant=common]'])
    expect(lines.find((line) => line.startsWith('garmin '))?.split(/\s+/)).toEqual(['garmin', 'oauth2', 'rotating', 'yes', 'yes', '-'])
    expect(lines.find((line) => line.startsWith('garmin-oauth1 '))?.split(/\s+/)).toEqual(['garmin-oauth1', 'oauth1', 'none', 'no', 'no', '-'])
    const json = cli(['presets', '--json'], {}, cwd)
    const { presets } = JSON.parse(json.stdout) as { presets: { name: string; params: unknown[] }[] }
    expect(presets.map((p) => p.name)).toEqual(Object.keys(PRESETS).sort())
    expect(presets.find((p) => p.name === 'keycloak')).toEqual(
      expect.objectContaining({ protocol: 'oidc', refresh: 'rotating', pkce: true, revocation: true, params: [
        { name: 'domain', required: true, default: null, example: 'keycloak.example.com' },
        { name: 'realm', required: true, default: null, example: 'acme' },
      ] }),
    )
    expect(presets.find((p) => p.name === 'garmin')).toEqual(
      expect.objectContaining({ protocol: 'oauth2', refresh: 'rotating', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_post', identifierPath: 'userId', params: [], docs: 'https://developerportal.garmin.com/sites/default/files/OAuth2PKCE_1.pdf' }),
    )
    expect(existsSync(join(cwd, 'data'))).toBe(false)
  })

  it('prints its usage on stderr when run without a command, and fails as bad input does (exit 2)', () => {
    const result = cli([], { ALLACCESS_KEYS: generateKey() }, temporaryFolder())
    expect(result.code).toBe(2)
    expect(result.stdout).toBe('')
    expect(result.stderr).toMatch(/^usage: all-access <command>\n/)
    expect(result.stderr).toContain('keys rotate')
    expect(result.stderr).toContain("an empty value clears one (--scope '', --auth-param '')")
  })

  it('prints its usage on stdout for help and --help, and succeeds', () => {
    for (const args of [['help'], ['--help']]) {
      const result = cli(args, { ALLACCESS_KEYS: generateKey() }, temporaryFolder())
      expect(result.code, args[0]).toBe(0)
      expect(result.stdout, args[0]).toMatch(/^usage: all-access <command>\n/)
    }
  })
})

describe('the all-access command on a SQLite file', () => {
  it.each([
    [['sessions', 'revoke', '--all']],
    [['providers', 'list']],
  ])("refuses %j on another app's SQLite database as it found it: not made owner-only, not switched to WAL, and no development key made", async (args) => {
    const cwd = temporaryFolder()
    const file = join(cwd, 'other-app.sqlite3')
    const other = knex({ client: 'sqlite3', connection: { filename: file }, useNullAsDefault: true })
    try {
      await other.schema.createTable('orders', (t) => t.increments('id'))
    } finally {
      await other.destroy()
    }
    // Shared with its app's group, which must still read it after a mistyped DATABASE_URL.
    chmodSync(file, 0o640)
    expect(cli(args, { DATABASE_URL: 'sqlite://./other-app.sqlite3', ALLACCESS_KEYS: undefined }, cwd)).toEqual(
      failure(`DATABASE_URL: ${file} holds no all-access tables (check the URL; all-access migrate creates them)`),
    )
    expect(statSync(file).mode & 0o777).toBe(0o640)
    const reopened = knex({ client: 'sqlite3', connection: { filename: file }, useNullAsDefault: true })
    try {
      expect(await reopened.raw('PRAGMA journal_mode')).toEqual([{ journal_mode: 'delete' }])
    } finally {
      await reopened.destroy()
    }
    expect(existsSync(join(cwd, 'data'))).toBe(false)
  })

  it('takes over a migration lock file that names its own process id, left by an earlier life of that id (a container whose PID 1 was killed mid-migration, then restarted)', async () => {
    const cwd = temporaryFolder()
    const lockFile = join(cwd, 'db.sqlite3.migrating')
    const env: Record<string, string | undefined> = { ...process.env, NODE_ENV: 'test', PUBLIC_URL: undefined, PORT: undefined, DATABASE_URL: 'sqlite://./db.sqlite3', ALLACCESS_KEYS: generateKey(), LOCK_FILE: lockFile, LOCK_HOST: hostname(), NODE: process.execPath, BIN }
    for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name]
    // `exec` keeps the shell's process id: the command runs as the very process the lock file names,
    // on this machine, as a restarted container's PID 1 does. Nothing else can hold that lock.
    const child = spawn('sh', ['-c', `printf '%s %s\\n' $$ "$LOCK_HOST" > "$LOCK_FILE" && exec "$NODE" "$BIN" migrate`], { cwd, env })
    const result = { status: null as number | null, stdout: '', stderr: '' }
    child.stdout.on('data', (chunk: Buffer) => (result.stdout += chunk))
    child.stderr.on('data', (chunk: Buffer) => (result.stderr += chunk))
    result.status = await new Promise<number | null>((resolve) => child.on('close', resolve))
    expect({ code: result.status, stderr: result.stderr }).toEqual({ code: 0, stderr: '' })
    expect(result.stdout).toMatch(/^applied /)
    expect(existsSync(lockFile)).toBe(false)
  }, 90_000)
})
