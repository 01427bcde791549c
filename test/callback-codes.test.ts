import { spawnSync } from 'node:child_process'
import { resolve } from 'node:path'
import knex, { type Knex } from 'knex'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKey } from '../server/crypto/keys.ts'
import type { ErrorCode } from '../shared/errors.ts'
import { BrowserSession } from './support/browser-session.ts'
import { databases } from './support/databases.ts'
import { startServe, type RunningServe } from './support/demo-server.ts'
import { startMisbehavingProviders, type MisbehavingProviders, type Misbehaviour } from './support/misbehaving-providers.ts'

/**
 * DESIGN.md's callback failure codes, from outside: `all-access serve` in its own process, providers
 * added with the command line, and a browser's redirects through providers that each get one thing
 * wrong. Every failure must end the way the contract says (a redirect to `/?auth_error=<code>`, or a
 * popup login's page posting the code), sign nobody in, drop the flow cookie, write no row, and log
 * the code without a code, state or token of the login.
 */
const SESSION = 'allaccess_session'
const FLOW = 'allaccess_flow'
const PROVIDERS = { oauth2: 'plain-oauth2', oidc: 'openid', oauth1: 'oauth1a' } as const
type Protocol = keyof typeof PROVIDERS

/** Each way a provider gets a login wrong, by protocol, and the code DESIGN.md names for it. */
const FAILURES: { protocol: Protocol; what: Misbehaviour; code: ErrorCode; sends: string }[] = [
  { protocol: 'oauth2', what: 'no-code', code: 'missing_code', sends: 'the state back without a code' },
  { protocol: 'oauth2', what: 'foreign-iss', code: 'issuer_mismatch', sends: 'an RFC 9207 iss of another issuer' },
  { protocol: 'oauth2', what: 'token-refused', code: 'token_request_failed', sends: 'a 401 invalid_client from its token endpoint' },
  { protocol: 'oauth2', what: 'token-error-quotes-code', code: 'token_request_failed', sends: 'a token error that quotes the code' },
  { protocol: 'oauth2', what: 'token-without-access-token', code: 'token_request_failed', sends: 'a token answer without an access token' },
  { protocol: 'oauth2', what: 'profile-fails', code: 'profile_request_failed', sends: 'a 500 from its profile endpoint' },
  { protocol: 'oauth2', what: 'profile-not-json', code: 'profile_request_failed', sends: 'a page instead of a JSON profile' },
  { protocol: 'oauth2', what: 'profile-without-id', code: 'missing_identifier', sends: 'a profile without the identifier' },
  { protocol: 'oidc', what: 'no-code', code: 'missing_code', sends: 'the state back without a code' },
  { protocol: 'oidc', what: 'foreign-iss', code: 'issuer_mismatch', sends: 'an RFC 9207 iss of another issuer' },
  { protocol: 'oidc', what: 'id-token-foreign-iss', code: 'issuer_mismatch', sends: 'an ID token of another issuer' },
  { protocol: 'oidc', what: 'token-fails', code: 'token_request_failed', sends: 'a 500 from its token endpoint' },
  { protocol: 'oidc', what: 'token-error-quotes-code', code: 'token_request_failed', sends: 'a token error that quotes the code' },
  { protocol: 'oidc', what: 'no-id-token', code: 'id_token_invalid', sends: 'a token answer without an ID token' },
  { protocol: 'oidc', what: 'id-token-bad-signature', code: 'id_token_invalid', sends: 'an ID token signed by another key' },
  { protocol: 'oidc', what: 'id-token-other-nonce', code: 'id_token_invalid', sends: "an ID token with another login's nonce" },
  { protocol: 'oidc', what: 'id-token-other-audience', code: 'id_token_invalid', sends: 'an ID token for another client' },
  { protocol: 'oidc', what: 'profile-fails', code: 'profile_request_failed', sends: 'a 500 from its userinfo endpoint' },
  { protocol: 'oidc', what: 'userinfo-other-sub', code: 'profile_request_failed', sends: 'userinfo of another subject' },
  { protocol: 'oidc', what: 'sub-with-nul', code: 'missing_identifier', sends: 'a subject with a NUL character' },
  { protocol: 'oauth1', what: 'no-code', code: 'missing_code', sends: 'the request token back without an oauth_verifier' },
  { protocol: 'oauth1', what: 'token-refused', code: 'token_request_failed', sends: 'a 401 from its access token endpoint' },
  { protocol: 'oauth1', what: 'token-fails', code: 'token_request_failed', sends: 'a 500 from its access token endpoint' },
  { protocol: 'oauth1', what: 'profile-fails', code: 'profile_request_failed', sends: 'a 500 from its profile endpoint' },
  { protocol: 'oauth1', what: 'profile-without-id', code: 'missing_identifier', sends: 'a profile without the identifier' },
]
const ENDINGS = ['redirect', 'popup'] as const

/** One attribute of a Set-Cookie header, `undefined` when absent, `true` when it has no value. */
function attribute(header: string, name: string): string | true | undefined {
  for (const part of header.split(';').slice(1)) {
    const [key, ...value] = part.trim().split('=')
    if (key.toLowerCase() === name.toLowerCase()) return value.length ? value.join('=') : true
  }
  return undefined
}

/** What a popup login's last page posts to its opener, and to which origin. */
async function popupMessage(response: Response) {
  const html = await response.text()
  const unescape = (text: string) => text.replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
  const body = /<body data-message="([^"]*)" data-origin="([^"]*)">/.exec(html)
  return { status: response.status, message: body && JSON.parse(unescape(body[1])), origin: body && unescape(body[2]) }
}

/** `npx all-access …` as an operator runs it against the server's database. */
function cli(args: string[], env: Record<string, string>): void {
  const run = spawnSync(process.execPath, [resolve('bin/all-access.js'), ...args], { env: { ...process.env, NODE_ENV: 'test', ...env }, encoding: 'utf8' })
  if (run.status !== 0) throw new Error(`all-access ${args.join(' ')} exited ${run.status}: ${run.stderr}`)
}

/** The database as a reader beside the server sees it: SQLite opened read-only, or a PostgreSQL connection. */
function reader(databaseUrl: string): Knex {
  if (!databaseUrl.startsWith('sqlite://')) return knex({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 1 } })
  const file = databaseUrl.slice('sqlite://'.length)
  return knex({ client: 'sqlite3', connection: { filename: `file:${file}?mode=ro`, flags: ['OPEN_URI'] }, useNullAsDefault: true, pool: { min: 1, max: 1 } })
}

/** Rows of every table a login writes or uses up. */
async function rows(db: Knex): Promise<Record<string, number>> {
  const counts: Record<string, number> = {}
  for (const table of ['users', 'accounts', 'sessions', 'login_flows']) counts[table] = Number((await db(table).count({ count: '*' }))[0].count)
  return counts
}

describe.each(databases)('the callback failure codes through `all-access serve` on $kind, with providers that get one thing wrong', (database) => {
  let providers: MisbehavingProviders
  let serve: RunningServe
  let db: Knex
  let drop: () => Promise<void>

  beforeAll(async () => {
    providers = await startMisbehavingProviders()
    const created = await database.create()
    drop = created.drop
    const keys = generateKey()
    const env = { DATABASE_URL: created.url, ALLACCESS_KEYS: keys }
    const client = ['--client-id', providers.clientId, '--client-secret', providers.clientSecret]
    cli(['migrate'], env)
    const { oauth2, oidc, oauth1 } = providers
    cli(['providers', 'add', PROVIDERS.oauth2, '--protocol', 'oauth2', '--issuer', oauth2, '--authorization-url', `${oauth2}/authorize`, '--access-token-url', `${oauth2}/token`, '--profile-url', `${oauth2}/me`, ...client], env)
    cli(['providers', 'add', PROVIDERS.oidc, '--issuer', oidc, ...client], env)
    cli(['providers', 'add', PROVIDERS.oauth1, '--protocol', 'oauth1', '--request-token-url', `${oauth1}/request_token`, '--authorization-url', `${oauth1}/authorize`, '--access-token-url', `${oauth1}/access_token`, '--profile-url', `${oauth1}/me`, ...client], env)
    serve = await startServe({ databaseUrl: created.url, keys })
    db = reader(created.url)
  })

  afterAll(async () => {
    await serve?.stop()
    await db?.destroy()
    await providers?.close()
    await drop?.()
  })

  /**
   * A login as a browser makes it: the start, the provider's redirect back with what it sends, and
   * the callback, whose answer is returned, with the flow cookie the start set.
   */
  async function login(protocol: Protocol, popup = false) {
    const browser = new BrowserSession()
    const bff = new URL(serve.url)
    const start = new URL(`/auth/login/${PROVIDERS[protocol]}${popup ? '?display=popup' : ''}`, bff)
    const result = await browser.navigate(start, { stopAt: (to) => to.origin === bff.origin && !to.pathname.startsWith('/auth/') })
    const callback = result.hops.at(-1)!
    // The browser went to the provider and came back to the callback (no invalid_state: with the Lax flow cookie).
    expect(result.hops.some((hop) => hop.origin !== bff.origin)).toBe(true)
    expect([callback.origin, callback.pathname]).toEqual([bff.origin, `/auth/callback/${PROVIDERS[protocol]}`])
    const flow = browser.setCookieHeaders.find((c) => c.header.startsWith(`${FLOW}=`))?.header ?? ''
    const flowValue = /^[^=]+=([^;]*)/.exec(flow)?.[1] ?? ''
    expect(flowValue).toMatch(/^[A-Za-z0-9_-]{43}$/)
    return { browser, response: result.response, flowValue }
  }

  /**
   * The lines the server logged for one request, once `complete` accepts them: the request line goes
   * to stdout and an error line to stderr, each written in batches of its own.
   */
  async function linesOf(requestId: string, complete: (lines: string[]) => boolean): Promise<string[]> {
    const read = () => serve.output().split('\n').filter((line) => line.includes(`req=${requestId}`))
    for (let tries = 0; !complete(read()) && tries < 200; tries++) await new Promise((done) => setTimeout(done, 25))
    return read()
  }

  it.each(Object.keys(PROVIDERS) as Protocol[])('signs in through the %s provider while it behaves, writing the user, the account and the session', async (protocol) => {
    providers.misbehave('none')
    const before = await rows(db)
    const { browser, response } = await login(protocol)
    expect([response.status, response.headers.get('location')]).toEqual([302, '/'])
    expect(browser.cookie(SESSION)).toBeDefined()
    expect(await rows(db)).toEqual({ ...before, users: before.users + 1, accounts: before.accounts + 1, sessions: before.sessions + 1 })
  })

  describe.each(ENDINGS)('a login ending in a %s', (ending) => {
    it.each(FAILURES)(`fails a $protocol login whose provider sends $sends with $code, signing nobody in, writing nothing, and logging the code but no secret`, async ({ protocol, what, code }) => {
      providers.misbehave(what)
      const before = await rows(db)
      const [logFrom, secretsFrom] = [serve.output().length, providers.secrets.length]
      const { browser, response, flowValue } = await login(protocol, ending === 'popup')

      if (ending === 'redirect') expect([response.status, response.headers.get('location')]).toEqual([302, `/?auth_error=${code}`])
      else expect(await popupMessage(response)).toEqual({ status: 200, message: { type: 'all-access:login', ok: false, error: code }, origin: serve.url })

      expect(response.headers.get('cache-control')).toBe('no-store')
      // The flow cookie deleted, and no session cookie of any name.
      const set = response.headers.getSetCookie()
      expect(set).toHaveLength(1)
      expect(set[0]).toMatch(new RegExp(`^${FLOW}=;`))
      expect(new Date(String(attribute(set[0], 'expires'))).getTime()).toBeLessThan(Date.now())
      expect(browser.cookies).toEqual([])
      expect(await rows(db)).toEqual(before)

      const requestLine = (line: string) => line.includes(`GET /auth/callback/${PROVIDERS[protocol]} ${response.status} `)
      const namesCode = (line: string) => new RegExp(`\\b${code}\\b`).test(line)
      const lines = await linesOf(response.headers.get('x-request-id') ?? 'none', (seen) => seen.some(requestLine) && seen.some(namesCode))
      expect(lines.filter(requestLine)).toHaveLength(1)
      expect(lines.filter(namesCode)).toHaveLength(1)
      // Not in that request's lines, nor anywhere in what the server logged since the login began.
      const logged = serve.output().slice(logFrom)
      expect([flowValue, ...providers.secrets.slice(secretsFrom)].filter((secret) => logged.includes(secret))).toEqual([])
    })
  })
})
