import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { spawnSync } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createServer, type Server } from 'node:http'
import { readdirSync, readFileSync } from 'node:fs'
import type { AddressInfo } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { decodeJwt } from 'jose'
import knexFactory, { type Knex } from 'knex'
import type { Context, Next } from 'koa'
import { generateKey, rootKey } from '../server/crypto/keys.ts'
import { createOAuth1ProviderApp, OAuth1ProviderState, type OAuth1AccessToken, type OAuth1RequestToken } from '../server/sandbox/oauth1-provider.ts'
import { BrowserSession } from './support/browser-session.ts'
import { databases } from './support/databases.ts'
import { freePort, startServe, type RunningServe } from './support/demo-server.ts'
import { login, session, startLogin } from './support/login.ts'
import { startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'
import { signOutAtProvider } from './support/provider-sign-out.ts'
import { scratchFolder } from './support/scratch-folder.ts'

/**
 * DESIGN.md, "Secrets at rest": a raw dump of the database holds no token, client secret or session
 * data in clear. Checked from outside: providers added with the command line, every kind of login
 * and call `serve` makes against real providers, then every table and column dumped raw.
 */
const CSRF = { 'X-CSRF': '1' }
const BIN = resolve('bin/all-access.js')
const SESSION = 'allaccess_session'
const FLOW = 'allaccess_flow'

function cli(args: string[], env: Record<string, string>, input = '') {
  const result = spawnSync(process.execPath, [BIN, ...args], { cwd: scratchFolder('aa-at-rest-'), env: { ...process.env, NODE_ENV: 'test', ...env }, encoding: 'utf8', input })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** A Map that also keeps every entry it was ever given: the provider forgets spent tokens, the test must not. */
class RememberingMap<K, V> extends Map<K, V> {
  readonly everSet: [K, V][] = []
  override set(key: K, value: V): this {
    this.everSet?.push([key, value])
    return super.set(key, value)
  }
}

class RememberingOAuth1State extends OAuth1ProviderState {
  override readonly requestTokens = new RememberingMap<string, OAuth1RequestToken>()
  override readonly accessTokens = new RememberingMap<string, OAuth1AccessToken>()
}

/** The sandbox OAuth 1.0a provider, its records kept for the test to read. */
async function startRememberingOAuth1Provider(consumer: { key: string; secret: string }) {
  const server: Server = createServer()
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const state = new RememberingOAuth1State()
  server.on('request', createOAuth1ProviderApp({ consumers: [consumer], autoApprove: 'alice', publicUrl: url }, state).callback())
  return {
    url,
    state,
    close: () => new Promise<void>((done) => (server.closeAllConnections(), server.close(() => done()))),
  }
}

/**
 * The forms a value takes when written into a column: as it is, URL-encoded, hex, and base64 or
 * base64url at each of the three alignments a value can have inside a longer encoded text (only the
 * characters made of the value's own bits, which do not depend on what surrounds it).
 */
function writtenForms(value: string): string[] {
  const bytes = Buffer.from(value)
  const forms = [value, encodeURIComponent(value), bytes.toString('hex'), bytes.toString('hex').toUpperCase()]
  for (let shift = 0; shift < 3; shift++) {
    const shifted = Buffer.concat([Buffer.alloc(shift), bytes])
    for (const encoding of ['base64', 'base64url'] as const) {
      forms.push(shifted.toString(encoding).slice(Math.ceil((shift * 8) / 6), Math.floor(((shift + bytes.length) * 8) / 6)))
    }
  }
  return forms
}

/** Every row of every table as text, and on SQLite also every byte of its files (database, log, shared memory). */
async function rawDump(databaseUrl: string): Promise<string> {
  const sqlite = databaseUrl.startsWith('sqlite://')
  const location = databaseUrl.slice('sqlite://'.length)
  const db: Knex = sqlite
    ? knexFactory({ client: 'sqlite3', connection: { filename: location }, useNullAsDefault: true })
    : knexFactory({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 1 } })
  try {
    const parts: string[] = []
    if (sqlite) {
      const folder = dirname(location)
      for (const file of readdirSync(folder)) parts.push(readFileSync(join(folder, file)).toString('latin1'))
      const tables: string[] = await db('sqlite_master').where({ type: 'table' }).pluck('name')
      for (const table of tables) for (const row of await db(table).select('*')) parts.push(Object.values(row).map(String).join('\t'))
    } else {
      const tables: string[] = await db('information_schema.tables').where({ table_schema: 'public' }).pluck('table_name')
      for (const table of tables) for (const { row } of (await db.raw(`SELECT t::text AS row FROM "${table}" t`)).rows as { row: string }[]) parts.push(row)
    }
    return parts.join('\n')
  } finally {
    await db.destroy()
  }
}

const keyId = (key: string) => rootKey(Buffer.from(key, 'base64')).id
/**
 * The strings of `text` whose S256 is one of `challenges`: each run of verifier characters (RFC 7636
 * §4.1) whole, and every part of it of one of `lengths`, those of the verifiers the provider was sent.
 */
function pkceVerifiersIn(text: string, challenges: Set<string>, lengths: Set<number>): string[] {
  const s256 = (verifier: string) => createHash('sha256').update(verifier).digest('base64url')
  const found: string[] = []
  for (const [run] of text.matchAll(/[A-Za-z0-9._~-]{43,}/g)) {
    const candidates = run.length <= 128 ? [run] : []
    for (const length of lengths) for (let at = 0; at + length <= run.length; at++) candidates.push(run.slice(at, at + length))
    found.push(...candidates.filter((candidate) => challenges.has(s256(candidate))))
  }
  return found
}

describe.each(databases)('a raw dump of the database on $kind', (database) => {
  let databaseUrl: string
  let drop: () => Promise<void>
  let serve: RunningServe | undefined
  let idp: RunningOidcSandbox
  let legacy: Awaited<ReturnType<typeof startRememberingOAuth1Provider>>
  let port: number
  const oldKey = generateKey()
  const newKey = generateKey()
  // Never starting with "-", which the command line would read as a flag.
  const client = { clientId: `rp-${randomBytes(12).toString('hex')}`, clientSecret: `cs-${randomBytes(24).toString('base64url')}` }
  const consumer = { key: `consumer-${randomBytes(12).toString('hex')}`, secret: `cs-${randomBytes(24).toString('base64url')}` }
  /** Not a secret: it goes out in every authorization URL, and providers list --json prints it. */
  const authParam = `audience-${randomBytes(8).toString('hex')}`
  /** What the OpenID provider was sent at its token endpoint, and what it answered. */
  const tokenRequests: Record<string, unknown>[] = []
  const tokenAnswers: Record<string, unknown>[] = []
  const bff = () => `http://localhost:${port}`

  beforeAll(async () => {
    ;({ url: databaseUrl, drop } = await database.create())
    port = await freePort()
    idp = await startOidcSandbox({
      clients: [
        {
          ...client,
          redirectUris: [`${bff()}/auth/callback/idp`],
          backchannelLogoutUri: `${bff()}/auth/backchannel-logout/idp`,
          postLogoutRedirectUris: [`${bff()}/`],
        },
      ],
      autoApprove: 'alice',
      instrument: (provider) =>
        provider.use(async (ctx: Context, next: Next) => {
          await next()
          if (ctx.path !== '/token') return
          tokenRequests.push({ ...(ctx.oidc?.params ?? {}) })
          if (ctx.body && typeof ctx.body === 'object') tokenAnswers.push({ ...(ctx.body as Record<string, unknown>) })
        }),
    })
    legacy = await startRememberingOAuth1Provider(consumer)
  })

  afterAll(async () => {
    await serve?.stop()
    await idp?.close()
    await legacy?.close()
    await drop?.()
  })

  it('holds no token, client secret, code, state, nonce, verifier or cookie value, in clear or encoded, before and after keys rotate', async () => {
    const env = { DATABASE_URL: databaseUrl, ALLACCESS_KEYS: oldKey }
    const added = [
      cli(['providers', 'add', 'idp', '--issuer', idp.issuer, '--api-base-url', idp.apiBaseUrl, '--scope', 'openid profile email', '--client-id', client.clientId, '--client-secret', '-', '--auth-param', `audience=${authParam}`], env, client.clientSecret),
      cli(['providers', 'add', 'legacy', '--request-token-url', `${legacy.url}/oauth/request_token`, '--authorization-url', `${legacy.url}/oauth/authorize`, '--access-token-url', `${legacy.url}/oauth/access_token`, '--profile-url', `${legacy.url}/1.1/account/verify_credentials.json`, '--api-base-url', `${legacy.url}/1.1`, '--identifier-path', 'id_str', '--client-id', consumer.key, '--client-secret', consumer.secret], env),
    ]
    expect(added.map((run) => [run.code, run.stderr])).toEqual([[0, ''], [0, '']])
    serve = await startServe({ databaseUrl, keys: oldKey, port })
    const api = (browser: BrowserSession, path: string) => browser.fetch(new URL(path, bff()), { headers: CSRF })

    // A login the provider ends on its side: its back-channel logout ends the session here. First:
    // signing out there also revokes its tokens, which the later logins of the same user replace.
    const signedOut = new BrowserSession()
    await login(signedOut, bff(), 'idp')
    await signOutAtProvider(signedOut, `${idp.url}/session/end`)
    expect(await session(signedOut, bff())).toEqual({ authenticated: false })

    // Signed in with OpenID, a linked OAuth 1.0a account, a call through each.
    const signedIn = new BrowserSession()
    await login(signedIn, bff(), 'idp')
    await login(signedIn, bff(), 'legacy')
    const linked = await session(signedIn, bff())
    expect(linked.authenticated && linked.accounts.map((account) => account.provider).sort()).toEqual(['idp', 'legacy'])
    expect((await api(signedIn, '/api/idp/me')).status).toBe(200)
    expect((await api(signedIn, '/api/legacy/account/verify_credentials.json')).status).toBe(200)

    // The provider forgets the access token: the call refreshes, and the rotated refresh token is stored.
    const grants = idp.stats.refreshGrants
    await (await idp.provider.AccessToken.find(tokenAnswers.at(-1)!.access_token as string))?.destroy()
    expect((await api(signedIn, '/api/idp/me')).status).toBe(200)
    expect(idp.stats.refreshGrants - grants).toBe(1)

    // A popup login.
    const popup = new BrowserSession()
    const page = await popup.navigate(new URL('/auth/login/idp?display=popup', bff()))
    expect([page.response.status, page.url.pathname]).toEqual([200, '/auth/callback/idp'])
    await page.response.body?.cancel()
    expect((await session(popup, bff())).authenticated).toBe(true)

    // Logins left at the provider's door.
    const pending = new BrowserSession()
    const openid = await startLogin(pending, bff(), 'idp')
    const oauth1 = await startLogin(pending, bff(), 'legacy')
    expect([openid.searchParams.get('audience'), oauth1.searchParams.has('oauth_token')]).toEqual([authParam, true])

    /** Each value once, with what it is. */
    const secrets = new Map<string, string>()
    const keep = (name: string, value: unknown) => {
      if (typeof value === 'string' && value !== '' && !secrets.has(value)) secrets.set(value, name)
    }
    /** Every value the providers and the browsers have seen so far. */
    const collect = () => {
      keep('client id', client.clientId)
      keep('client secret', client.clientSecret)
      keep('consumer key', consumer.key)
      keep('consumer secret', consumer.secret)
      for (const answer of tokenAnswers) {
        for (const name of ['access_token', 'refresh_token', 'id_token']) keep(name, answer[name])
        if (typeof answer.id_token === 'string') keep('sid', decodeJwt(answer.id_token).sid)
      }
      for (const request of tokenRequests) for (const name of ['code', 'code_verifier', 'refresh_token']) keep(name, request[name])
      for (const [token, { secret, verifier }] of legacy.state.requestTokens.everSet) {
        keep('request token', token)
        keep('request token secret', secret)
        keep('oauth verifier', verifier)
      }
      for (const [token, { secret }] of legacy.state.accessTokens.everSet) {
        keep('oauth1 access token', token)
        keep('oauth1 token secret', secret)
      }
      for (const name of ['state', 'nonce', 'code_challenge']) keep(name, openid.searchParams.get(name))
      keep('pending request token', oauth1.searchParams.get('oauth_token'))
      // The pending logins' client address, whose plain SHA-256 gives it back to whoever tries all 2^32.
      keep('client address hash', createHash('sha256').update('127.0.0.1').digest('hex'))
      for (const browser of [signedIn, popup, signedOut, pending]) {
        for (const { header } of browser.setCookieHeaders) {
          const [pair] = header.split(';')
          if (pair.startsWith(`${SESSION}=`) || pair.startsWith(`${FLOW}=`)) keep(pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1))
        }
      }
    }
    collect()
    const count = (name: string) => [...secrets.values()].filter((kept) => kept === name).length
    // What the test collected is what it meant to: every kind, and as many as the logins made.
    expect({
      access: count('access_token'),
      refresh: count('refresh_token'),
      codes: count('code'),
      verifiers: count('code_verifier'),
      sids: count('sid'),
      requestTokens: count('request token') + count('pending request token'),
      requestTokenSecrets: count('request token secret'),
      oauth1TokenSecrets: count('oauth1 token secret'),
      clientSecrets: count('client secret') + count('consumer secret'),
      sessions: count(SESSION),
      flows: count(FLOW),
    }).toEqual({ access: 4, refresh: 4, codes: 3, verifiers: 3, sids: 3, requestTokens: 2, requestTokenSecrets: 2, oauth1TokenSecrets: 1, clientSecrets: 2, sessions: 4, flows: 6 })
    // A refresh within the second of its login is answered the very ID token of that login (no at_hash).
    expect(count('id_token')).toBeGreaterThanOrEqual(3)
    const challenges = new Set([openid.searchParams.get('code_challenge')!])
    const verifierLengths = new Set(tokenRequests.map((request) => String(request.code_verifier ?? '').length).filter(Boolean))

    const check = (dump: string) => {
      collect()
      // The dump is real: it holds what is not secret.
      for (const plain of ['Alice Liddell', 'legacy', authParam, idp.issuer]) expect([plain, dump.includes(plain)]).toEqual([plain, true])
      const found = [...secrets].flatMap(([value, name]) => writtenForms(value).filter((form) => dump.includes(form)).map((form) => `${name} as ${form}`))
      expect(found).toEqual([])
      // The verifier of a login still pending is known only by its challenge.
      expect(pkceVerifiersIn(dump, challenges, verifierLengths)).toEqual([])
    }
    check(await rawDump(databaseUrl))

    // Rotated while serve runs, then serve with the new key alone: nobody signed out, nothing in clear.
    const rotated = cli(['keys', 'rotate'], { ...env, ALLACCESS_KEYS: `${newKey},${oldKey}` })
    expect([rotated.code, rotated.stdout]).toEqual([0, `re-encrypted ${rotated.stdout.match(/\d+/)?.[0]} values with key ${keyId(newKey)}\n`])
    // Nor any value under the retired key (on SQLite, in its free pages or its log either).
    const rotatedDump = await rawDump(databaseUrl)
    expect([rotatedDump.includes(`aa1.${keyId(newKey)}.`), rotatedDump.includes(`aa1.${keyId(oldKey)}.`)]).toEqual([true, false])
    check(rotatedDump)
    await serve.stop()
    serve = await startServe({ databaseUrl, keys: newKey, port })
    expect((await session(signedIn, bff())).authenticated).toBe(true)
    expect((await api(signedIn, '/api/legacy/account/verify_credentials.json')).status).toBe(200)
    expect((await api(signedIn, '/api/idp/me')).status).toBe(200)
    // A login begun under the old key ends under the new one (its flow cookie is the OAuth 1.0a one, started last).
    const finished = await pending.navigate(oauth1, { stopAt: (to) => to.origin === bff() && !to.pathname.startsWith('/auth/') })
    expect([finished.stopped, finished.url.search]).toEqual([true, ''])
    expect((await session(pending, bff())).authenticated).toBe(true)
    check(await rawDump(databaseUrl))
  }, 120_000)
})
