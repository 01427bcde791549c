import fc from 'fast-check'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { PROTOCOLS, PROVIDER_NAME_PATTERN, REFRESH_SUPPORT, SCOPE_DELIMITERS, TOKEN_AUTH_METHODS } from '../shared/provider.ts'
import { main } from '../server/cli/index.ts'
import { parseProviderFlags, UsageError } from '../server/cli/provider-flags.ts'
import { ConfigError, loadConfig } from '../server/config.ts'
import { generateKey, KeyError } from '../server/crypto/keys.ts'
import { LOG_FORMATS } from '../server/log.ts'
import { buildProviderConfig, ProviderInputError } from '../server/providers/provider-input.ts'
import { providerUrlProblem } from '../server/providers/provider-url.ts'
import { DatabaseUrlError, parseDatabaseUrl } from '../server/store/database.ts'
import { cases } from './support/property.ts'
import { scratchFolder } from './support/scratch-folder.ts'

const FLAGS = ['preset', 'protocol', 'display-name', 'client-id', 'client-secret', 'request-token-url', 'authorization-url', 'access-token-url', 'profile-url', 'api-base-url', 'issuer', 'revocation-url', 'scope', 'identifier-path', 'no-pkce', 'pkce', 'token-auth', 'token-placement', 'auth-param', 'param', 'display-name-path', 'refresh', 'scope-delimiter', 'json', 'user', 'all', 'sandbox']
// Values a user (or a script gone wrong) may type: the flags' own vocabulary, URLs of every kind,
// key=value pairs, and names that trip careless JavaScript lookups.
const WORDS = ['github', 'okta', 'keycloak', 'oauth1', 'oauth2', 'oidc', 'space', 'comma', ' ', ',', 'none', 'static', 'rotating', 'header', 'query', 'client_secret_basic', 'client_secret_post', 'https://idp.example/authorize', 'https://idp.example', 'http://localhost:8080/x', 'http://127.0.0.1/x', 'http://evil.example/x', 'javascript:alert(1)', 'ftp://x', '//x', 'id', 'user.id', 'a..b', '.', 'domain=acme.okta.com', 'tenant=common', 'state=x', 'prompt=login', '=x', 'x=', '__proto__', 'constructor', 'toString', 'hasOwnProperty', '__proto__=x', 'constructor=x', '--', '-', '-x', '--unknown', '', '\u0000', '\n', 'a\nb', 'x\r', '\t', '\u001b[31m', 'é', '3', 'bob']
const word = fc.oneof(fc.constantFrom(...WORDS), fc.string({ unit: 'binary', maxLength: 10 }))
const flag = fc.oneof(
  fc.constantFrom(...FLAGS).map((name) => `--${name}`),
  fc.tuple(fc.constantFrom(...FLAGS), word).map(([name, value]) => `--${name}=${value}`),
)
const COMPLETE = ['my-provider', '--client-id', 'c', '--client-secret', 's', '--authorization-url', 'https://i.example/a', '--access-token-url', 'https://i.example/t', '--profile-url', 'https://i.example/me']
const args = fc
  .oneof(
    fc.array(fc.oneof(flag, word, fc.constantFrom('github', 'my-provider', 'A', 'a b')), { maxLength: 12 }),
    // A provider that would be added, and what else is given: most such cases get past parsing.
    fc.array(fc.oneof(flag, flag, word), { maxLength: 4 }).map((extra) => [...COMPLETE, ...extra]),
  )
  // `--client-secret -` reads the secret from standard input: not what a generated case may do.
  .filter((list) => !list.some((arg, i) => arg === '--client-secret=-' || (arg === '--client-secret' && list[i + 1] === '-')))

/** What `providers add` makes of its arguments. */
function build(list: string[]) {
  const { name, input } = parseProviderFlags(list)
  return buildProviderConfig(name, input)
}

/** A ProviderConfig the store may keep: every field of the type it claims, every URL one that passed the rule. */
function expectWellFormed(config: ReturnType<typeof buildProviderConfig>): void {
  expect(config.name).toMatch(PROVIDER_NAME_PATTERN)
  expect(PROTOCOLS).toContain(config.protocol)
  expect(TOKEN_AUTH_METHODS).toContain(config.tokenAuthMethod)
  expect(['header', 'query']).toContain(config.tokenPlacement)
  expect(REFRESH_SUPPORT).toContain(config.refresh)
  expect(SCOPE_DELIMITERS).toContain(config.scopeDelimiter)
  for (const field of ['requestTokenUrl', 'authorizationUrl', 'accessTokenUrl', 'profileUrl', 'apiBaseUrl', 'issuer', 'revocationUrl'] as const) {
    const url = config[field]
    if (url !== null) expect(providerUrlProblem(url), `${field} ${url}`).toBeNull()
  }
  for (const field of ['displayName', 'scope', 'identifierPath', 'clientId', 'clientSecret', 'displayNamePath'] as const) expect(config[field] === null || typeof config[field] === 'string').toBe(true)
  for (const record of [config.extraAuthorizationParams, config.presetParams ?? {}]) {
    expect(Object.getPrototypeOf(record)).toBe(Object.prototype)
    for (const value of Object.values(record)) expect(typeof value).toBe('string')
  }
}

describe('the command line on generated flags', () => {
  it('parseProviderFlags and buildProviderConfig give a well-formed provider or one UsageError or ProviderInputError', () => {
    fc.assert(
      fc.property(args, (list) => {
        let config
        try {
          config = build(list)
        } catch (error) {
          if (!(error instanceof UsageError || error instanceof ProviderInputError)) throw error
          return
        }
        expectWellFormed(config)
      }),
      cases(10_000),
    )
  })

  it('a whole command exits 0, or 2 with one line on stderr, never with a stack', async () => {
    const cwd = scratchFolder('aa-cli-property-')
    const env = { DATABASE_URL: 'sqlite://:memory:', ALLACCESS_KEYS: generateKey(), NODE_ENV: 'test' }
    const command = fc.oneof(
      fc.constantFrom(['providers', 'add'], ['providers', 'update'], ['providers', 'list'], ['providers', 'remove'], ['presets'], ['keys', 'rotate'], ['sessions', 'revoke'], ['migrate'], ['help']),
      fc.array(word, { maxLength: 2 }),
    )
    await fc.assert(
      fc.asyncProperty(command, args, async (words, list) => {
        fc.pre([...words, ...list][0] !== 'serve')
        const out: string[] = []
        const err: string[] = []
        const code = await main([...words, ...list], { env, cwd, out: (line) => out.push(line), err: (line) => err.push(line) })
        if (code === 0) return
        expect({ code, lines: err.length }).toEqual({ code: 2, lines: 1 })
        // No command at all is bad input too, answered with the usage.
        if (words.length + list.length === 0) expect(err[0]).toMatch(/^usage: all-access <command>\n/)
        else expect(err[0]).toMatch(/^all-access: [^\n]+$/)
      }),
      cases(2_000),
    )
  })

  it('writes a newline or terminal escape quoted from the input as an escape, keeping the message on one line', async () => {
    const err: string[] = []
    const io = { env: {}, cwd: tmpdir(), out: () => {}, err: (line: string) => err.push(line) }
    expect(await main(['a\nb'], io)).toBe(2)
    expect(await main(['providers', 'add', 'x', '--protocol', '\u001b[31mred'], io)).toBe(2)
    expect(err).toEqual(['all-access: unknown command "a\\nb"', 'all-access: --protocol: must be one of oauth1, oauth2, oidc, got "\\u001b[31mred"'])
  })

  it.each(['toString', 'constructor', '__proto__'])('refuses --scope-delimiter %s, a name every JavaScript object has', (name) => {
    expect(() => build([...COMPLETE, '--scope-delimiter', name])).toThrow(new ProviderInputError(`--scope-delimiter: must be space or comma, got "${name}"`))
  })

  it('flags with values of 100 kB are judged in one pass', () => {
    const long = fc.tuple(fc.constantFrom('a', 'a.', '.a', 'a ', ' ', '=', 'a=', '%', ':', '/', 'é'), fc.string({ maxLength: 3 })).map(([unit, tail]) => unit.repeat(100_000 / unit.length) + tail)
    const flagName = fc.constantFrom('scope', 'identifier-path', 'display-name-path', 'display-name', 'auth-param', 'param', 'client-id', 'api-base-url', 'preset', 'protocol', 'refresh', 'scope-delimiter')
    fc.assert(
      fc.property(flagName, long, (name, value) => {
        try {
          build([...COMPLETE, `--${name}`, value])
        } catch (error) {
          if (!(error instanceof UsageError || error instanceof ProviderInputError)) throw error
        }
      }),
      cases(100),
    )
  })
})

describe('the configuration on generated environments', () => {
  const VARIABLES = ['PORT', 'HOST', 'PUBLIC_URL', 'DATABASE_URL', 'ALLACCESS_KEYS', 'ALLACCESS_STATIC_DIR', 'ALLACCESS_PROXY_TIMEOUT_MS', 'ALLACCESS_PROXY_MAX_BODY', 'ALLACCESS_DB_POOL_MAX', 'ALLACCESS_REFRESH_LEASE_MS', 'ALLACCESS_API_CLIENT_MAX_BODY', 'ALLACCESS_LOGIN_RATE_LIMIT', 'ALLACCESS_MAX_PENDING_LOGINS', 'ALLACCESS_TRUST_PROXY', 'ALLACCESS_METRICS', 'ALLACCESS_METRICS_PORT', 'ALLACCESS_LOG_FORMAT']
  const value = fc.oneof(fc.constantFrom('', '0', '1', '3000', '65535', '65536', '-1', '1e3', '0x10', ' 1', '1.5', 'json', 'text', 'JSON', 'http://localhost:3000', 'https://app.example', 'ftp://x', '\n', '1\n', 'sqlite://./x', 'postgres://h/db', 'mysql://x', generateKey(), `${generateKey()},${generateKey()}`, '__proto__', 'toString'), fc.string({ unit: 'binary', maxLength: 12 }))
  const environment = fc.dictionary(fc.constantFrom(...VARIABLES), value).map((env) => ({ NODE_ENV: 'test', ALLACCESS_KEYS: generateKey(), ...env }))
  const cwd = scratchFolder('aa-config-property-')

  it('loadConfig gives settings within their ranges, or one ConfigError or KeyError', () => {
    fc.assert(
      fc.property(environment, (env) => {
        let config
        try {
          config = loadConfig(env, cwd)
        } catch (error) {
          if (!(error instanceof ConfigError || error instanceof KeyError)) throw error
          return
        }
        expect(Number.isInteger(config.port) && config.port >= 0 && config.port <= 65535).toBe(true)
        expect(['http:', 'https:']).toContain(config.publicUrl.protocol)
        expect(config.metricsPort === null || (config.metricsPort >= 0 && config.metricsPort <= 65535 && (config.metricsPort === 0 || config.metricsPort !== config.port))).toBe(true)
        expect(LOG_FORMATS).toContain(config.logFormat)
        expect(typeof config.metrics).toBe('boolean')
        for (const number of [config.proxyTimeoutMs, config.proxyMaxBody, config.apiClientMaxBody, config.loginRateLimit, config.maxPendingLogins, config.trustProxy, config.poolMax, config.refreshLeaseMs]) expect(Number.isSafeInteger(number) && number >= 0).toBe(true)
        expect(config.keys.length).toBeGreaterThan(0)
      }),
      cases(5_000),
    )
  })

  it('parseDatabaseUrl gives a SQLite file or a PostgreSQL URL, or one DatabaseUrlError', () => {
    const url = fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.tuple(fc.constantFrom('sqlite://', 'postgres://', 'postgresql://', 'sqlite:', 'mysql://'), fc.string({ unit: 'binary', maxLength: 16 })).map(([scheme, rest]) => scheme + rest))
    fc.assert(
      fc.property(url, (text) => {
        try {
          const target = parseDatabaseUrl(text, cwd)
          expect(['sqlite', 'postgres']).toContain(target.kind)
        } catch (error) {
          if (!(error instanceof DatabaseUrlError)) throw error
        }
      }),
      cases(5_000),
    )
  })
})
