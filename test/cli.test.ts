import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { openStore } from '../server/store/index.ts'
import { databases } from './support/databases.ts'

const BIN = resolve('bin/all-access.js')

function cli(args: string[], env: Record<string, string | undefined>, cwd: string, input = '') {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, NODE_ENV: 'test', ...env }, encoding: 'utf8', input })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe.each(databases)('the all-access command on $kind', (database) => {
  let cwd: string
  let env: Record<string, string>
  let drop: () => Promise<void>
  const run = (...args: string[]) => cli(args, env, cwd)
  const list = () => JSON.parse(run('providers', 'list', '--json').stdout) as { providers: Record<string, unknown>[] }

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    cwd = mkdtempSync(join(tmpdir(), 'aa-cli-'))
    env = { DATABASE_URL: created.url, ALLACCESS_KEYS: generateKey() }
  })

  afterAll(async () => {
    await drop?.()
  })

  it('migrates', () => {
    const result = run('migrate')
    expect(result.code).toBe(0)
    expect(result.stdout).toMatch(/applied 20261128_01_initial|database is up to date/)
    expect(run('migrate').stdout.trim()).toBe('database is up to date')
  })

  it('adds a provider from a preset and lists it without secrets', () => {
    const added = run('providers', 'add', 'github', '--preset', 'github', '--client-id', 'GH-ID-123', '--client-secret', 'GH-SECRET-456')
    expect(added).toEqual({ code: 0, stdout: 'added provider github (oauth2)\n', stderr: '' })
    const plain = run('providers', 'list')
    expect(plain.stdout).toBe('github\toauth2\tenabled\tGitHub\n')
    const json = run('providers', 'list', '--json')
    expect(JSON.parse(json.stdout).providers).toEqual([
      expect.objectContaining({ name: 'github', displayName: 'GitHub', protocol: 'oauth2', enabled: true, authorizationUrl: 'https://github.com/login/oauth/authorize', apiBaseUrl: 'https://api.github.com' }),
    ])
    for (const output of [plain.stdout, json.stdout]) {
      expect(output).not.toContain('GH-ID-123')
      expect(output).not.toContain('GH-SECRET-456')
    }
  })

  it.each([
    ['twitter', 'oauth1'],
    ['google', 'oidc'],
    ['facebook', 'oauth2'],
    ['microsoft', 'oidc'],
    ['bitbucket', 'oauth2'],
  ])('adds the %s preset as %s', (preset, protocol) => {
    expect(run('providers', 'add', preset, '--preset', preset, '--client-id', 'a', '--client-secret', 'b')).toEqual({ code: 0, stdout: `added provider ${preset} (${protocol})\n`, stderr: '' })
  })

  it('lets flags override a preset and infers the protocol from the URLs given', () => {
    expect(run('providers', 'add', 'ghe', '--preset', 'github', '--display-name', 'GitHub Enterprise', '--api-base-url', 'https://ghe.example/api/v3', '--client-id', 'a', '--client-secret', 'b').code).toBe(0)
    expect(run('providers', 'add', 'legacy', '--request-token-url', 'https://l.example/rt', '--authorization-url', 'https://l.example/a', '--access-token-url', 'https://l.example/at', '--profile-url', 'https://l.example/me', '--client-id', 'a', '--client-secret', 'b').stdout).toBe('added provider legacy (oauth1)\n')
    expect(run('providers', 'add', 'acme', '--issuer', 'https://id.acme.example', '--client-id', 'a', '--client-secret', 'b').stdout).toBe('added provider acme (oidc)\n')
    expect(
      run('providers', 'add', 'local', '--authorization-url', 'http://localhost:8080/a', '--access-token-url', 'http://127.0.0.1:8080/t', '--profile-url', 'http://[::1]:8080/me',
        '--scope', 'read write', '--identifier-path', 'user.id', '--no-pkce', '--token-auth', 'client_secret_post', '--client-id', 'a', '--client-secret', 'b').stdout,
    ).toBe('added provider local (oauth2)\n')
    const providers = list().providers
    expect(providers.find((p) => p.name === 'ghe')).toEqual(expect.objectContaining({ displayName: 'GitHub Enterprise', apiBaseUrl: 'https://ghe.example/api/v3', authorizationUrl: 'https://github.com/login/oauth/authorize' }))
    expect(providers.find((p) => p.name === 'local')).toEqual(expect.objectContaining({ scope: 'read write', pkce: false }))
  })

  it('reads the client secret from standard input with --client-secret -', async () => {
    expect(cli(['providers', 'add', 'piped', '--preset', 'github', '--client-id', 'a', '--client-secret', '-'], env, cwd, 'piped-secret-789\n')).toEqual({ code: 0, stdout: 'added provider piped (oauth2)\n', stderr: '' })
    const store = openStore({ databaseUrl: env.DATABASE_URL, keys: parseKeys(env.ALLACCESS_KEYS) })
    try {
      expect((await store.providers.get('piped'))?.clientSecret).toBe('piped-secret-789')
    } finally {
      await store.close()
    }
    const empty = cli(['providers', 'add', 'piped2', '--preset', 'github', '--client-id', 'a', '--client-secret', '-'], env, cwd, '')
    expect(empty).toEqual({ code: 2, stdout: '', stderr: 'all-access: --client-secret -: standard input was empty\n' })
    expect(run('providers', 'remove', 'piped').code).toBe(0)
  })

  it('updates only the fields given and keeps the secrets', () => {
    expect(run('providers', 'update', 'ghe', '--scope', 'repo', '--no-pkce')).toEqual({ code: 0, stdout: 'updated provider ghe\n', stderr: '' })
    const ghe = list().providers.find((p) => p.name === 'ghe')
    expect(ghe).toEqual(expect.objectContaining({ scope: 'repo', pkce: false, displayName: 'GitHub Enterprise', enabled: true }))
  })

  describe('refuses bad input with one line and changes nothing', () => {
    it.each([
      [['providers', 'add', 'x', '--client-id', 'a', '--client-secret', 'b', '--bogus'], 'all-access: unknown flag --bogus'],
      [['providers', 'add', 'x', '--issuer', 'not a url', '--client-id', 'a', '--client-secret', 'b'], 'all-access: --issuer: "not a url" is not a URL'],
      [['providers', 'add', 'x', '--issuer', 'http://id.example', '--client-id', 'a', '--client-secret', 'b'], 'all-access: --issuer: must use https (http is only allowed for localhost, 127.0.0.1 and [::1])'],
      [['providers', 'add', 'x', '--issuer', 'ftp://id.example', '--client-id', 'a', '--client-secret', 'b'], 'all-access: --issuer: must be an https URL, got ftp:'],
      [['providers', 'add', 'x', '--issuer', 'https://id.example', '--client-secret', 'b'], 'all-access: --client-id is required'],
      [['providers', 'add', 'x', '--issuer', 'https://id.example', '--client-id', 'a'], 'all-access: --client-secret is required'],
      [['providers', 'add', 'github', '--preset', 'github', '--client-id', 'a', '--client-secret', 'b'], 'all-access: provider "github" already exists (use: all-access providers update github)'],
      [['providers', 'add', 'Git_Hub', '--preset', 'github', '--client-id', 'a', '--client-secret', 'b'], 'all-access: provider name "Git_Hub" must be 1-50 characters of a-z, 0-9 and -'],
      [['providers', 'add', 'x', '--preset', 'myspace', '--client-id', 'a', '--client-secret', 'b'], 'all-access: --preset: unknown preset "myspace" (known: twitter, github, google, facebook, microsoft, bitbucket)'],
      [['providers', 'add', 'x', '--protocol', 'saml', '--issuer', 'https://id.example', '--client-id', 'a', '--client-secret', 'b'], 'all-access: --protocol: must be one of oauth1, oauth2, oidc, got "saml"'],
      [['providers', 'add', 'x', '--issuer', 'https://id.example', '--token-auth', 'private_key_jwt', '--client-id', 'a', '--client-secret', 'b'], 'all-access: --token-auth: must be one of client_secret_basic, client_secret_post, got "private_key_jwt"'],
      [['providers', 'add', 'x', '--authorization-url', 'https://a.example/a', '--client-id', 'a', '--client-secret', 'b'], 'all-access: --access-token-url is required for an oauth2 provider'],
      [['providers', 'update', 'nope', '--scope', 'x'], 'all-access: no provider named "nope"'],
      [['providers', 'update', 'github', '--issuer', 'http://evil.example'], 'all-access: --issuer: must use https (http is only allowed for localhost, 127.0.0.1 and [::1])'],
      [['providers', 'remove', 'nope'], 'all-access: no provider named "nope"'],
      [['providers', 'frobnicate'], 'all-access: unknown providers command "frobnicate" (add, update, list, remove)'],
      [['launch'], 'all-access: unknown command "launch"'],
    ])('%j', (args, message) => {
      const before = list()
      const result = run(...args)
      expect(result.code).not.toBe(0)
      expect(result.stdout).toBe('')
      expect(result.stderr).toBe(`${message}\n`)
      expect(list()).toEqual(before)
    })
  })

  it('removes a provider', () => {
    expect(run('providers', 'remove', 'legacy')).toEqual({ code: 0, stdout: 'removed provider legacy\n', stderr: '' })
    expect(list().providers.map((p) => p.name)).not.toContain('legacy')
  })

  it('rotates keys: values move to the new first key, and then the old key can go', () => {
    const newKey = generateKey()
    const rotated = cli(['keys', 'rotate'], { ...env, ALLACCESS_KEYS: `${newKey},${env.ALLACCESS_KEYS}` }, cwd)
    expect(rotated.code).toBe(0)
    expect(rotated.stdout).toMatch(/^re-encrypted \d+ values with key [A-Za-z0-9_-]{8}\n$/)
    const withNewOnly = cli(['providers', 'list', '--json'], { ...env, ALLACCESS_KEYS: newKey }, cwd)
    expect(withNewOnly.code).toBe(0)
    expect(JSON.parse(withNewOnly.stdout).providers.find((p: { name: string }) => p.name === 'github').enabled).toBe(true)
    const withOldOnly = cli(['providers', 'list'], env, cwd)
    expect(withOldOnly.code).not.toBe(0)
    expect(withOldOnly.stderr).toMatch(/^all-access: providers\.client_id: encrypted with unknown key id/)
    env.ALLACCESS_KEYS = newKey
  })
})

describe('the all-access command without configuration', () => {
  it('generates a development key into ./data/keys and uses ./data/all-access.sqlite3', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'aa-cli-'))
    const result = cli(['providers', 'list'], { DATABASE_URL: undefined, ALLACCESS_KEYS: undefined }, cwd)
    expect(result.code).toBe(0)
    expect(result.stderr).toMatch(/ALLACCESS_KEYS is not set; generated a development key/)
    expect(statSync(join(cwd, 'data', 'keys')).mode & 0o777).toBe(0o600)
    expect(existsSync(join(cwd, 'data', 'all-access.sqlite3'))).toBe(true)
  })

  it('refuses to run in production without keys', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'aa-cli-'))
    const result = cli(['serve'], { NODE_ENV: 'production', ALLACCESS_KEYS: undefined, DATABASE_URL: undefined }, cwd)
    expect(result.code).not.toBe(0)
    expect(result.stderr).toBe('all-access: ALLACCESS_KEYS is not set: with NODE_ENV=production set ALLACCESS_KEYS to one or more base64 32-byte keys (openssl rand -base64 32)\n')
  })

  it.each([
    [{ PORT: 'eighty' }, 'all-access: PORT must be a whole number of at least 0, got "eighty"'],
    [{ PUBLIC_URL: 'not a url' }, 'all-access: PUBLIC_URL is not a URL: "not a url"'],
    [{ PUBLIC_URL: 'ftp://app.example' }, 'all-access: PUBLIC_URL must be http:// or https://'],
    [{ ALLACCESS_PROXY_TIMEOUT_MS: '0' }, 'all-access: ALLACCESS_PROXY_TIMEOUT_MS must be a whole number of at least 1, got "0"'],
    [{ ALLACCESS_KEYS: 'short' }, 'all-access: ALLACCESS_KEYS entry 1 is not a base64 32-byte key (make one with: openssl rand -base64 32)'],
  ])('refuses to serve with bad configuration %j in one line', (bad, message) => {
    const cwd = mkdtempSync(join(tmpdir(), 'aa-cli-'))
    const result = cli(['serve'], { ALLACCESS_KEYS: generateKey(), DATABASE_URL: undefined, ...bad }, cwd)
    expect(result.code).toBe(2)
    expect(result.stderr).toBe(`${message}\n`)
  })

  it('refuses an unknown DATABASE_URL scheme in one line', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'aa-cli-'))
    const result = cli(['migrate'], { DATABASE_URL: 'mysql://localhost/db', ALLACCESS_KEYS: generateKey() }, cwd)
    expect(result.code).not.toBe(0)
    expect(result.stderr).toBe('all-access: DATABASE_URL must start with sqlite:// or postgres://, got "mysql:…"\n')
  })

  it('says clearly that the database cannot be reached', () => {
    const cwd = mkdtempSync(join(tmpdir(), 'aa-cli-'))
    const result = cli(['migrate'], { DATABASE_URL: 'postgres://postgres@127.0.0.1:1/test', ALLACCESS_KEYS: generateKey() }, cwd)
    expect(result.code).not.toBe(0)
    expect(result.stderr).toMatch(/^all-access: cannot reach the database \(.*ECONNREFUSED.*\)\n$/)
  })
})
