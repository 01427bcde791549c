import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import { request as httpRequest } from 'node:http'
import { calculateJwkThumbprint, decodeJwt, exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type JWTPayload } from 'jose'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { hashId, randomToken } from '../server/crypto/random.ts'
import type { Profile } from '../server/clients/types.ts'
import { defaultHooks } from '../server/hooks.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'
import { migrate, openStore, type Store } from '../server/store/index.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { TEST_DATABASE_URL, databases } from './support/databases.ts'
import { freePort, startServe, type RunningServe } from './support/demo-server.ts'
import { within } from './support/eventually.ts'
import { authError, login, rowCounts, session } from './support/login.ts'
import { startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'
import { signOutAtProvider } from './support/provider-sign-out.ts'
import { startDocumentedProvider } from './support/documented-provider.ts'

const EVENT = 'http://schemas.openid.net/event/backchannel-logout'
const SECRET = 'rp-secret-0123456789abcdef'

/** An RS256 private key as a JWK, with its thumbprint as `kid`. */
async function rsaKey(kid?: string): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk = await exportJWK(privateKey)
  return { ...jwk, kid: kid ?? (await calculateJwkThumbprint(jwk)), alg: 'RS256', use: 'sig' }
}

async function countRows(db: Store['db'], table: string): Promise<number> {
  const [{ n }] = await db(table).count({ n: '*' })
  return Number(n)
}

/** Posts a logout token as an OpenID provider does: a form, no cookie, no CSRF header. */
function postLogoutToken(bffUrl: string, token: string | null, provider = 'idp'): Promise<Response> {
  return fetch(new URL(`/auth/backchannel-logout/${provider}`, bffUrl), {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: token === null ? '' : new URLSearchParams({ logout_token: token }).toString(),
  })
}

describe.each(databases)('OpenID Connect back-channel logout on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let idp: RunningOidcSandbox
  let opKey: JWK

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url)
    opKey = await rsaKey()
    const client = (clientId: string) => ({
      clientId,
      clientSecret: SECRET,
      redirectUris: [`${bff.url}/auth/callback/idp`, `${bff.url}/auth/callback/idp-by-email`],
      backchannelLogoutUri: `${bff.url}/auth/backchannel-logout/idp`,
      postLogoutRedirectUris: [`${bff.url}/`],
    })
    idp = await startOidcSandbox({ clients: [client('rp'), client('other-rp')], autoApprove: 'alice', signingKey: opKey })
    await bff.addProvider('idp', { issuer: idp.issuer, apiBaseUrl: idp.apiBaseUrl, clientId: 'rp', clientSecret: SECRET, scope: 'openid profile' })
    // The same provider and client, disabled (no client secret): it takes no logout tokens either.
    await bff.addProvider('disabled', { issuer: idp.issuer, clientId: 'rp', clientSecret: SECRET, scope: 'openid profile' })
    await bff.store.db('providers').where({ name: 'disabled' }).update({ client_secret: null })
  })

  afterAll(async () => {
    await bff?.close()
    await idp?.close()
    await drop?.()
  })

  /** A browser signed in through the provider (its own provider session, so its own `sid`). */
  async function signedIn() {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const info = await session(browser, bff.url)
    if (!info.authenticated) throw new Error('not signed in')
    const account = await bff.store.accounts.findForUser(Number(info.user.id), 'idp')
    const claims = decodeJwt(account!.idToken!)
    return { browser, userId: info.user.id, sid: claims.sid as string, sub: claims.sub as string }
  }

  /** A logout token signed with the provider's own key unless told otherwise; `undefined` members are left out. */
  async function logoutToken(claims: Record<string, unknown>, key: JWK = opKey): Promise<string> {
    const now = Math.floor(Date.now() / 1000)
    const payload = Object.fromEntries(
      Object.entries({ iss: idp.issuer, aud: 'rp', iat: now, exp: now + 120, jti: randomToken(12), events: { [EVENT]: {} }, ...claims }).filter(([, value]) => value !== undefined),
    )
    return new SignJWT(payload as JWTPayload).setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'logout+jwt' }).sign(await importJWK(key, 'RS256'))
  }

  it('ends the session that signed in with the sid when the user signs out at the provider, and only that one', async () => {
    const here = await signedIn()
    const elsewhere = await signedIn()
    expect(here.sid).toEqual(expect.any(String))
    expect(elsewhere.sid).not.toBe(here.sid)
    const before = await countRows(bff.store.db, 'sessions')

    await signOutAtProvider(here.browser, `${idp.url}/session/end`)

    expect(await session(here.browser, bff.url)).toEqual({ authenticated: false })
    expect((await session(elsewhere.browser, bff.url)).authenticated).toBe(true)
    expect(await countRows(bff.store.db, 'sessions')).toBe(before - 1)
    expect(await countRows(bff.store.db, 'logout_tokens')).toBeGreaterThan(0)
  })

  it('keeps no sid in clear: a session stores its hash', async () => {
    const { sid } = await signedIn()
    const rows = await bff.store.db('sessions').select('*')
    expect(JSON.stringify(rows)).not.toContain(sid)
    expect(rows.some((row) => typeof row.provider_sid_hash === 'string' && row.provider_sid_hash.length === 64)).toBe(true)
  })

  it('answers 400 invalid_request to forged tokens and changes nothing', async () => {
    const victim = await signedIn()
    const foreignKey = await rsaKey(opKey.kid)
    const now = Math.floor(Date.now() / 1000)
    const forgeries: Record<string, string> = {
      'signed with another key under the same kid': await logoutToken({ sid: victim.sid }, foreignKey),
      'for another client (aud)': await logoutToken({ sid: victim.sid, aud: 'other-rp' }),
      'from another issuer': await logoutToken({ sid: victim.sid, iss: 'http://127.0.0.1:1' }),
      'with a nonce': await logoutToken({ sid: victim.sid, nonce: 'n-0S6_WzA2Mj' }),
      'without events': await logoutToken({ sid: victim.sid, events: undefined }),
      'with another event': await logoutToken({ sid: victim.sid, events: { 'http://schemas.openid.net/event/other': {} } }),
      'with the event not an object': await logoutToken({ sid: victim.sid, events: { [EVENT]: true } }),
      'with neither sid nor sub': await logoutToken({}),
      // Read as no sid, these would end every session of the user rather than the one named.
      'with a sid that is a number, beside the sub': await logoutToken({ sid: 123, sub: victim.sub }),
      'with an empty sid, beside the sub': await logoutToken({ sid: '', sub: victim.sub }),
      'with a sub that is a number, beside the sid': await logoutToken({ sid: victim.sid, sub: 7 }),
      'issued far in the future': await logoutToken({ sid: victim.sid, iat: now + 600, exp: now + 720 }),
      'issued long ago': await logoutToken({ sid: victim.sid, iat: now - 3600, exp: now + 60 }),
      expired: await logoutToken({ sid: victim.sid, iat: now - 200, exp: now - 80 }),
      'without jti': await logoutToken({ sid: victim.sid, jti: undefined }),
      'unsigned (alg none)': `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: idp.issuer, aud: 'rp', iat: now, jti: 'x', sid: victim.sid, events: { [EVENT]: {} } })).toString('base64url')}.`,
      'not a JWT': 'not-a-jwt',
    }
    const sessions = await countRows(bff.store.db, 'sessions')
    const seen = await countRows(bff.store.db, 'logout_tokens')
    for (const [what, token] of Object.entries(forgeries)) {
      const answer = await postLogoutToken(bff.url, token)
      expect(answer.status, what).toBe(400)
      expect(await answer.json(), what).toEqual({ error: 'invalid_request', message: expect.any(String) })
    }
    const missing = await postLogoutToken(bff.url, null)
    expect(missing.status).toBe(400)
    expect(await missing.json()).toEqual({ error: 'invalid_request', message: expect.any(String) })
    expect((await session(victim.browser, bff.url)).authenticated).toBe(true)
    expect(await countRows(bff.store.db, 'sessions')).toBe(sessions)
    expect(await countRows(bff.store.db, 'logout_tokens')).toBe(seen)
    // None of them leaked into the log.
    for (const token of Object.values(forgeries)) expect(bff.logs.join('\n')).not.toContain(token)
  })

  it('answers 400 invalid_request to a form carrying logout_token twice, and ends no session', async () => {
    const victim = await signedIn()
    const sessions = await countRows(bff.store.db, 'sessions')
    const valid = await logoutToken({ sid: victim.sid })
    for (const tokens of [[valid, 'not-a-jwt'], [valid, valid]]) {
      const answer = await fetch(new URL('/auth/backchannel-logout/idp', bff.url), {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: tokens.map((token) => `logout_token=${encodeURIComponent(token)}`).join('&'),
      })
      expect(answer.status).toBe(400)
      expect(await answer.json()).toEqual({ error: 'invalid_request', message: expect.any(String) })
    }
    expect((await session(victim.browser, bff.url)).authenticated).toBe(true)
    expect(await countRows(bff.store.db, 'sessions')).toBe(sessions)
  })

  it('refuses a replayed token with 400, even for a session made since with the same sid', async () => {
    const first = await signedIn()
    // Issued a moment ago, as a token delivered a little late is: the new login's ID token is newer.
    const token = await logoutToken({ sid: first.sid, sub: first.sub, iat: Math.floor(Date.now() / 1000) - 2 })
    const answer = await postLogoutToken(bff.url, token)
    expect(answer.status).toBe(200)
    expect(await session(first.browser, bff.url)).toEqual({ authenticated: false })

    // The provider session still exists (the token was made here, not by a sign-out): a new login
    // has the same sid, in an ID token the provider issued after the logout token, and signs in.
    expect(authError(await login(first.browser, bff.url, 'idp'))).toBeNull()
    const again = await session(first.browser, bff.url)
    expect(again.authenticated).toBe(true)
    const sessions = await countRows(bff.store.db, 'sessions')
    const seen = await countRows(bff.store.db, 'logout_tokens')
    const replay = await postLogoutToken(bff.url, token)
    expect(replay.status).toBe(400)
    expect(await replay.json()).toEqual({ error: 'invalid_request', message: expect.any(String) })
    expect((await session(first.browser, bff.url)).authenticated).toBe(true)
    expect(await countRows(bff.store.db, 'sessions')).toBe(sessions)
    expect(await countRows(bff.store.db, 'logout_tokens')).toBe(seen)
  })

  it('ends every session of the user linked to sub when the token has no sid', async () => {
    const one = await signedIn()
    const two = await signedIn()
    expect(two.userId).toBe(one.userId)
    // Issued a second ago: the logins of the tests that follow, in ID tokens issued since, go on.
    const answer = await postLogoutToken(bff.url, await logoutToken({ sub: one.sub, iat: Math.floor(Date.now() / 1000) - 1 }))
    expect(answer.status).toBe(200)
    expect(await session(one.browser, bff.url)).toEqual({ authenticated: false })
    expect(await session(two.browser, bff.url)).toEqual({ authenticated: false })
    expect(await countRows(bff.store.db, 'sessions')).toBe(0)
  })

  it('accepts a token whose iat and exp have microseconds, as RFC 7519 NumericDates may', async () => {
    const { browser, sid } = await signedIn()
    const now = Math.floor(Date.now() / 1000)
    const answer = await postLogoutToken(bff.url, await logoutToken({ sid, iat: now - 0.876543, exp: now + 119.123457 }))
    expect(answer.status).toBe(200)
    expect(await session(browser, bff.url)).toEqual({ authenticated: false })
  })

  // Such a provider (the salesforce preset, any --identifier-path) names accounts by another claim
  // than sub: a sub-only token must still find the account that signed in with that sub.
  it('ends the sessions of the user linked to sub when the provider names its users by another claim', async () => {
    await bff.addProvider('idp-by-email', { issuer: idp.issuer, apiBaseUrl: idp.apiBaseUrl, clientId: 'rp', clientSecret: SECRET, scope: 'openid profile email', identifierPath: 'email' })
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp-by-email')
    const info = await session(browser, bff.url)
    if (!info.authenticated) throw new Error('not signed in')
    const account = await bff.store.accounts.findForUser(Number(info.user.id), 'idp-by-email')
    expect(account!.identifier).toBe('alice@sandbox.example')
    const { sub } = decodeJwt(account!.idToken!)
    const answer = await postLogoutToken(bff.url, await logoutToken({ sub }), 'idp-by-email')
    expect(answer.status).toBe(200)
    expect(await session(browser, bff.url)).toEqual({ authenticated: false })
  })

  it('reads no form past 16 KiB, even one sent without a length: a valid token in it ends no session', async () => {
    const victim = await signedIn()
    const url = new URL('/auth/backchannel-logout/idp', bff.url)
    const body = `logout_token=${await logoutToken({ sid: victim.sid })}&padding=${'x'.repeat(32 * 1024)}`
    // No Content-Length: the body comes chunked, and only its size as read can refuse it.
    const sending = httpRequest({ host: url.hostname, port: url.port, method: 'POST', path: url.pathname, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } })
    const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
      sending.on('error', reject)
      sending.on('response', (response) => {
        let text = ''
        response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => resolve({ status: response.statusCode ?? 0, body: text }))
      })
    })
    // Written in two pieces: a body given whole to end() would be sent with its length.
    sending.write(body.slice(0, 1024))
    sending.end(body.slice(1024))
    const { status, body: answered } = await answer
    expect(status).toBe(400)
    expect(JSON.parse(answered)).toEqual({ error: 'invalid_request', message: expect.any(String) })
    expect((await session(victim.browser, bff.url)).authenticated).toBe(true)
  })

  it('logs a logout token whose sender went away half-way as abandoned (499), not as the database being down', async () => {
    const url = new URL('/auth/backchannel-logout/idp', bff.url)
    const sending = httpRequest({ host: url.hostname, port: url.port, method: 'POST', path: url.pathname, headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': '1000' } })
    sending.on('error', () => {})
    // Cut once the first piece has left, not after a fixed 200 ms: cut before the connection is made, it
    // sends nothing at all. Whether the server already reads the body or not, the outcome is the same.
    await new Promise((resolve) => sending.write('logout_token=eyJ', resolve))
    sending.destroy()
    const abandoned = (line: string) => line.startsWith('POST /auth/backchannel-logout/idp 499 ')
    expect(await within(2000, async () => bff.logs.filter(abandoned).length, (n) => n > 0)).toBe(1)
    expect(bff.logs.join('\n')).not.toMatch(/service_unavailable|server_error/)
  })

  it('forgets used tokens once they are too old to be accepted anyway', async () => {
    const { sid } = await signedIn()
    expect((await postLogoutToken(bff.url, await logoutToken({ sid }))).status).toBe(200)
    const seen = await countRows(bff.store.db, 'logout_tokens')
    expect(seen).toBeGreaterThan(0)
    expect(await bff.store.logoutTokens.removeExpired(Date.now())).toBe(0)
    expect(await bff.store.logoutTokens.removeExpired(Date.now() + 10 * 60 * 1000)).toBe(seen)
    expect(await countRows(bff.store.db, 'logout_tokens')).toBe(0)
  })

  it('still ends a session through the provider it signed in with after the user connected a second OpenID provider', async () => {
    const second = await startOidcSandbox({
      clients: [{ clientId: 'rp2', clientSecret: SECRET, redirectUris: [`${bff.url}/auth/callback/idp2`], backchannelLogoutUri: `${bff.url}/auth/backchannel-logout/idp2` }],
      autoApprove: 'alice',
    })
    try {
      await bff.addProvider('idp2', { issuer: second.issuer, clientId: 'rp2', clientSecret: SECRET, scope: 'openid profile' })
      const one = await signedIn()
      await login(one.browser, bff.url, 'idp2')
      const linked = await session(one.browser, bff.url)
      expect(linked.authenticated && linked.accounts.map((a) => a.provider).sort()).toEqual(['idp', 'idp2'])
      const two = await signedIn()

      // The user signs out at the provider the session signed in with: its sid names this session.
      expect((await postLogoutToken(bff.url, await logoutToken({ sid: one.sid }))).status).toBe(200)
      expect(await session(one.browser, bff.url)).toEqual({ authenticated: false })
      expect((await session(two.browser, bff.url)).authenticated).toBe(true)
    } finally {
      await second.close()
    }
  })

  it('ends a session through the second OpenID provider connected to it, by that provider\'s sid', async () => {
    const secondKey = await rsaKey()
    const second = await startOidcSandbox({
      clients: [{ clientId: 'rp3', clientSecret: SECRET, redirectUris: [`${bff.url}/auth/callback/idp3`], backchannelLogoutUri: `${bff.url}/auth/backchannel-logout/idp3` }],
      autoApprove: 'alice',
      signingKey: secondKey,
    })
    try {
      await bff.addProvider('idp3', { issuer: second.issuer, clientId: 'rp3', clientSecret: SECRET, scope: 'openid profile' })
      const one = await signedIn()
      await login(one.browser, bff.url, 'idp3')
      const info = await session(one.browser, bff.url)
      if (!info.authenticated) throw new Error('not signed in')
      const account = await bff.store.accounts.findForUser(Number(info.user.id), 'idp3')
      const sid = decodeJwt(account!.idToken!).sid as string
      expect(sid).toEqual(expect.any(String))
      const two = await signedIn()
      // The sid of idp3 is nothing to idp: its logout token for that sid ends no session.
      expect((await postLogoutToken(bff.url, await logoutToken({ sid }))).status).toBe(200)
      expect((await session(one.browser, bff.url)).authenticated).toBe(true)

      const now = Math.floor(Date.now() / 1000)
      const token = await new SignJWT({ iss: second.issuer, aud: 'rp3', iat: now, exp: now + 120, jti: randomToken(12), sid, events: { [EVENT]: {} } })
        .setProtectedHeader({ alg: 'RS256', kid: secondKey.kid, typ: 'logout+jwt' })
        .sign(await importJWK(secondKey, 'RS256'))
      expect((await postLogoutToken(bff.url, token, 'idp3')).status).toBe(200)
      expect(await session(one.browser, bff.url)).toEqual({ authenticated: false })
      expect((await session(two.browser, bff.url)).authenticated).toBe(true)
    } finally {
      await second.close()
    }
  })

  it('answers 404 unknown_provider for a provider it does not know or that is disabled, and 405 to a GET', async () => {
    for (const name of ['nobody', 'disabled']) {
      const unknown = await postLogoutToken(bff.url, await logoutToken({ sub: 'alice' }), name)
      expect(unknown.status, name).toBe(404)
      expect(await unknown.json()).toEqual({ error: 'unknown_provider', message: expect.any(String) })
    }
    const get = await fetch(new URL('/auth/backchannel-logout/idp', bff.url))
    expect(get.status).toBe(405)
    expect(get.headers.get('allow')).toContain('POST')
  })
})

/** A logout token as a provider signs it with `key`; `claims` name at least `iss`, `aud` and `sid` or `sub`. */
async function signedLogoutToken(key: JWK, claims: Record<string, unknown>): Promise<string> {
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ iat: now, exp: now + 120, jti: randomToken(12), events: { [EVENT]: {} }, ...claims } as JWTPayload)
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'logout+jwt' })
    .sign(await importJWK(key, 'RS256'))
}

/** A point in the login a hook passes through; once armed, it holds the next login there until the test lets it go on. */
class LoginGate {
  private armed: { reached: (profile: Profile) => void; released: Promise<void> } | undefined
  private release = () => {}

  /** `reached` gives the held login's profile (with the ID token's `sid`); `release` lets it go on. */
  arm(): { reached: Promise<Profile>; release: () => void } {
    const released = new Promise<void>((resolve) => (this.release = resolve))
    const reached = new Promise<Profile>((resolve) => (this.armed = { reached: resolve, released }))
    return { reached, release: this.release }
  }

  /** Disarms it and lets a held login go on: a failed test leaves no login hanging for the teardown. */
  open(): void {
    this.armed = undefined
    this.release()
  }

  async pass(profile: Profile): Promise<void> {
    const armed = this.armed
    if (!armed) return
    this.armed = undefined
    armed.reached(profile)
    await armed.released
  }
}

/**
 * Logins that a back-channel logout for their own `sid` reaches before they are stored: the provider
 * session they carry is over, so no session may be left carrying it. On PostgreSQL the logout
 * reaches another instance than the login, as behind a load balancer.
 */
describe.each(databases)('back-channel logout racing a login on $kind', (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let other: TestBff
  const keys = generateKey()
  /** Between the token exchange (and the profile) and the login's transaction. */
  const afterTokens = new LoginGate()
  /** Inside the login's transaction, where a new user is made. */
  const makingUser = new LoginGate()
  const sandboxes: { [name: string]: { idp: RunningOidcSandbox; key: JWK } } = {}

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    bff = await startBff(created.url, {
      keys,
      hooks: {
        getUserId: async (args) => {
          await afterTokens.pass(args.profile)
          return defaultHooks.getUserId(args)
        },
        getOrCreateUser: async (args) => {
          await makingUser.pass(args.profile)
          return defaultHooks.getOrCreateUser(args)
        },
      },
    })
    other = database.kind === 'postgres' ? await startBff(created.url, { keys }) : bff
    // idp3 signs bob in: an identity new to the BFF, so its login makes a user inside its transaction.
    // idp4 to idp6 are for logouts by `sub`, each its own provider: a user logged out on one signs in on the others.
    for (const [name, user] of [['idp', 'alice'], ['idp2', 'alice'], ['idp3', 'bob'], ['idp4', 'alice'], ['idp5', 'alice'], ['idp6', 'bob']] as const) {
      const key = await rsaKey()
      const idp = await startOidcSandbox({
        clients: [{ clientId: 'rp', clientSecret: SECRET, redirectUris: [`${bff.url}/auth/callback/${name}`], backchannelLogoutUri: `${bff.url}/auth/backchannel-logout/${name}` }],
        autoApprove: user,
        signingKey: key,
      })
      sandboxes[name] = { idp, key }
      await bff.addProvider(name, { issuer: idp.issuer, clientId: 'rp', clientSecret: SECRET, scope: 'openid profile' })
    }
  })

  afterEach(() => {
    afterTokens.open()
    makingUser.open()
  })

  afterAll(async () => {
    if (other !== bff) await other?.close()
    await bff?.close()
    for (const { idp } of Object.values(sandboxes)) await idp.close()
    await drop?.()
  })

  /**
   * The provider's logout token naming `value` as its `sid`, or as its `sub` alone (every session of
   * that user), issued now (or at `iat`), posted to the instance the logout reaches.
   */
  async function logOut(provider: string, claim: 'sid' | 'sub', value: unknown, iat = Math.floor(Date.now() / 1000)): Promise<Response> {
    expect(value).toEqual(expect.any(String))
    const { idp, key } = sandboxes[provider]
    return postLogoutToken(other.url, await signedLogoutToken(key, { iss: idp.issuer, aud: 'rp', [claim]: value, iat }), provider)
  }

  /** The BFF's clean-up, run as if at `time`. */
  async function cleanUpAt(time: number) {
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      vi.setSystemTime(time)
      return await bff.allAccess.cleanUp()
    } finally {
      vi.useRealTimers()
    }
  }

  /** Whether a logout posted meanwhile answered, or waits for the login's transaction to end: on PostgreSQL for a lock, on SQLite for the one connection. */
  async function answeredOrWaiting(answer: Promise<Response>): Promise<'answered' | 'waiting'> {
    let answered = false
    void answer.then(
      () => (answered = true),
      () => (answered = true),
    )
    const waiting = async () => {
      if (database.kind === 'sqlite') return (bff.store.db.client as { pool: { numPendingAcquires(): number } }).pool.numPendingAcquires() > 0
      const { rows } = await other.store.db.raw('SELECT count(*) AS n FROM pg_locks WHERE NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())')
      return Number(rows[0].n) > 0
    }
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 20))) {
      if (answered) return 'answered'
      if (await waiting()) return 'waiting'
    }
    throw new Error('the logout neither answered nor waited for the login')
  }

  // By sid: that provider session ended. By sub alone: every session of that user ended.
  it.each([
    ['sid', 'idp', 'its sid was'],
    ['sub', 'idp4', 'its user was'],
  ] as const)('refuses login_required a login whose %s is logged out between its token exchange and its commit, and stores nothing', async (claim, provider, said) => {
    const browser = new BrowserSession()
    const before = await rowCounts(bff.store.db)
    const logsBefore = bff.logs.length
    const gate = afterTokens.arm()
    const signingIn = login(browser, bff.url, provider)
    const profile = await gate.reached

    expect((await logOut(provider, claim, profile[claim])).status).toBe(200)
    gate.release()

    expect(authError(await signingIn)).toBe('login_required')
    expect(await session(browser, bff.url)).toEqual({ authenticated: false })
    expect(await rowCounts(bff.store.db)).toEqual(before)
    // One line, at info (a provider's logout is nobody's fault), saying why.
    const lines = bff.logs.slice(logsBefore).filter((line) => / login_required\b/.test(line))
    expect(lines).toEqual([expect.stringMatching(new RegExp(`^refused req=\\S+ login_required: provider=${provider}: ${said} logged out \\(back-channel logout\\) before the login was stored$`))])
  })

  it('ends the session a login was linking a provider into when that provider logs out its sid before the link is stored', async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const info = await session(browser, bff.url)
    if (!info.authenticated) throw new Error('not signed in')
    const gate = afterTokens.arm()
    const linking = login(browser, bff.url, 'idp2')
    const { sid } = await gate.reached

    expect((await logOut('idp2', 'sid', sid)).status).toBe(200)
    // No session carries that sid yet: the logout alone ended nothing.
    expect((await session(browser, bff.url)).authenticated).toBe(true)
    gate.release()

    expect(authError(await linking)).toBe('login_required')
    expect(await session(browser, bff.url)).toEqual({ authenticated: false })
    expect(await bff.store.db('sessions').where({ user_id: Number(info.user.id) })).toEqual([])
    expect(await bff.store.accounts.findForUser(Number(info.user.id), 'idp2')).toBeNull()
  })

  // idp3 and idp6 sign in a user new to them: the login makes that user inside its transaction.
  it.each([
    ['sid', 'idp3'],
    ['sub', 'idp6'],
  ] as const)('makes a logout by %s that comes while the login is storing its session wait for it, and end that session', async (claim, provider) => {
    const browser = new BrowserSession()
    const gate = makingUser.arm()
    const signingIn = login(browser, bff.url, provider)
    const profile = await gate.reached

    // Nothing is committed yet: without waiting, the logout would find no session (or no user) to end.
    const logout = logOut(provider, claim, profile[claim])
    expect(await answeredOrWaiting(logout)).toBe('waiting')
    gate.release()

    // The login was stored first: it succeeds, and the logout then ends its session.
    expect(authError(await signingIn)).toBeNull()
    expect((await logout).status).toBe(200)
    expect(await within(1000, () => session(browser, bff.url), (info) => !info.authenticated)).toEqual({ authenticated: false })
    expect(other.logs.filter((line) => line.startsWith('back-channel logout ') && line.includes(`provider=${provider} `)).at(-1)).toMatch(/ ended=1$/)
  })

  it('refuses invalid_state a login with a sid not stored within four minutes of its callback, and stores nothing: the BFF forgets ended sids', async () => {
    const browser = new BrowserSession()
    const before = await rowCounts(bff.store.db)
    const gate = afterTokens.arm()
    const signingIn = login(browser, bff.url, 'idp')
    await gate.reached
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      vi.setSystemTime(Date.now() + 4 * 60 * 1000 + 1000)
      gate.release()
      expect(authError(await signingIn)).toBe('invalid_state')
    } finally {
      vi.useRealTimers()
    }
    expect(await session(browser, bff.url)).toEqual({ authenticated: false })
    expect(await rowCounts(bff.store.db)).toEqual(before)
    expect(bff.logs.filter((line) => line.includes('the login took over 4 minutes to be stored after its callback began'))).toEqual([expect.stringMatching(/^error req=\S+ the login took over/)])
  })

  it("remembers a logged-out sid, by its hash, for the login flow's time and five minutes more, then forgets it at clean-up", async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp')
    const info = await session(browser, bff.url)
    if (!info.authenticated) throw new Error('not signed in')
    const sid = decodeJwt((await bff.store.accounts.findForUser(Number(info.user.id), 'idp'))!.idToken!).sid
    const sent = Date.now()
    // Issued 20 s ahead (a provider's clock inside the 30 s allowed): every ID token the provider
    // issues meanwhile for that sid, in the session it keeps here, is older than the logout.
    const endedAt = Math.floor(Date.now() / 1000) + 20
    expect((await logOut('idp', 'sid', sid, endedAt)).status).toBe(200)
    const answered = Date.now()
    expect(await within(1000, () => session(browser, bff.url), (now) => !now.authenticated)).toEqual({ authenticated: false })

    const rows = await bff.store.db('ended_sign_ins').select('*')
    expect(JSON.stringify(rows)).not.toContain(sid as string)
    const [row] = rows.filter((each) => each.sid_hash === hashId(sid as string))
    const kept = bff.allAccess.runtime.flowTtlMs + 5 * 60 * 1000
    expect(Number(row.expires_at)).toBeGreaterThanOrEqual(sent + kept)
    expect(Number(row.expires_at)).toBeLessThanOrEqual(answered + kept)
    expect(Number(row.ended_at)).toBe(endedAt * 1000)

    // Meanwhile a login with a fresh sid (a new provider session) signs in; one with that sid, in an
    // ID token no newer than the logout, does not.
    const elsewhere = new BrowserSession()
    expect(authError(await login(elsewhere, bff.url, 'idp'))).toBeNull()
    expect((await session(elsewhere, bff.url)).authenticated).toBe(true)
    expect(authError(await login(browser, bff.url, 'idp'))).toBe('login_required')
    expect((await bff.allAccess.cleanUp()).endedSignIns).toBe(0)

    expect((await cleanUpAt(Number(row.expires_at))).endedSignIns).toBeGreaterThanOrEqual(1)
    expect(await bff.store.db('ended_sign_ins').where({ sid_hash: row.sid_hash })).toEqual([])
    // Past that time (here: the provider's session lives on), the same sid signs in again.
    expect(authError(await login(browser, bff.url, 'idp'))).toBeNull()
    expect((await session(browser, bff.url)).authenticated).toBe(true)
  })
  it("remembers a logged-out user, by the hash of sub, and refuses only logins whose ID token is no newer than the logout; clean-up forgets them", async () => {
    const browser = new BrowserSession()
    await login(browser, bff.url, 'idp5')
    const info = await session(browser, bff.url)
    if (!info.authenticated) throw new Error('not signed in')
    const { sub } = decodeJwt((await bff.store.accounts.findForUser(Number(info.user.id), 'idp5'))!.idToken!)

    // Issued 5 s ago: a login the provider lets in now, after it, goes on.
    expect((await logOut('idp5', 'sub', sub, Math.floor(Date.now() / 1000) - 5)).status).toBe(200)
    expect(await within(1000, () => session(browser, bff.url), (now) => !now.authenticated)).toEqual({ authenticated: false })
    expect(authError(await login(browser, bff.url, 'idp5'))).toBeNull()
    expect((await session(browser, bff.url)).authenticated).toBe(true)

    // Issued 20 s ahead (a provider's clock inside the 30 s allowed): it ends that session, and every
    // ID token the provider issues meanwhile is older than the logout, in any browser.
    const sent = Date.now()
    const endedAt = Math.floor(Date.now() / 1000) + 20
    expect((await logOut('idp5', 'sub', sub, endedAt)).status).toBe(200)
    const answered = Date.now()
    expect(await within(1000, () => session(browser, bff.url), (now) => !now.authenticated)).toEqual({ authenticated: false })
    const elsewhere = new BrowserSession()
    expect(authError(await login(elsewhere, bff.url, 'idp5'))).toBe('login_required')
    expect(await session(elsewhere, bff.url)).toEqual({ authenticated: false })

    const rows = await bff.store.db('ended_subjects').select('*')
    const idp5 = (await bff.store.providers.get('idp5'))!
    expect(JSON.stringify(rows)).not.toContain(`"${sub as string}"`)
    const [row] = rows.filter((each) => each.sub_hash === hashId(sub as string) && each.provider_id === idp5.id)
    const kept = bff.allAccess.runtime.flowTtlMs + 5 * 60 * 1000
    expect(Number(row.expires_at)).toBeGreaterThanOrEqual(sent + kept)
    expect(Number(row.expires_at)).toBeLessThanOrEqual(answered + kept)
    // The later of the two logouts.
    expect(Number(row.ended_at)).toBe(endedAt * 1000)

    expect((await cleanUpAt(Number(row.expires_at))).endedSignIns).toBeGreaterThanOrEqual(1)
    expect(await bff.store.db('ended_subjects').where({ provider_id: idp5.id, sub_hash: row.sub_hash })).toEqual([])
    expect(authError(await login(elsewhere, bff.url, 'idp5'))).toBeNull()
    expect((await session(elsewhere, bff.url)).authenticated).toBe(true)
  })
})

describe.each(databases)("back-channel logout while the provider's key set fails on $kind", (database) => {
  it('fetches the key set once for any number of posted tokens, anyone may post: a failed fetch is remembered, as a failed discovery is', async () => {
    const { url, drop } = await database.create()
    const bff = await startBff(url)
    const provider = await startDocumentedProvider({ discovery: {}, answers: { '/jwks': () => ({ status: 503, body: { error: 'busy' } }) } })
    try {
      await bff.addProvider('idp', { issuer: provider.url, clientId: 'c', clientSecret: 's' })
      // Needs no key of the provider's: the BFF must fetch the keys to find that out.
      const junk = `${Buffer.from('{"alg":"RS256","kid":"any"}').toString('base64url')}.${Buffer.from('{"sub":"alice"}').toString('base64url')}.AAAA`
      for (let i = 0; i < 5; i++) {
        const answer = await postLogoutToken(bff.url, junk)
        expect(answer.status).toBe(502)
        expect(await answer.json()).toEqual({ error: 'provider_unavailable', message: expect.any(String) })
      }
      expect(provider.at('/jwks')).toHaveLength(1)
    } finally {
      await provider.close()
      await bff.close()
      await drop()
    }
  })

  it("answers 502 provider_unavailable, as a login does, when the key set gives the token's key unusable (no modulus): the provider's trouble, for it to send again, not a bad token", async () => {
    const { url, drop } = await database.create()
    const bff = await startBff(url)
    const provider = await startDocumentedProvider({ discovery: {}, answers: { '/jwks': () => ({ body: { keys: [{ kty: 'RSA', kid: 'any', alg: 'RS256', use: 'sig', e: 'AQAB' }] } }) } })
    try {
      await bff.addProvider('idp', { issuer: provider.url, clientId: 'c', clientSecret: 's' })
      const token = `${Buffer.from('{"alg":"RS256","kid":"any"}').toString('base64url')}.${Buffer.from('{"sub":"alice"}').toString('base64url')}.AAAA`
      const answer = await postLogoutToken(bff.url, token)
      expect([answer.status, (await answer.json()).error]).toEqual([502, 'provider_unavailable'])
    } finally {
      await provider.close()
      await bff.close()
      await drop()
    }
  })
})

const postgres = databases.find((d) => d.kind === 'postgres')

/**
 * Two `all-access serve` processes on one PostgreSQL behind one PUBLIC_URL: the provider's logout
 * reaches one of them, and both must stop honouring the session within the contract's second,
 * though each answers recent session reads from memory.
 */
describe.skipIf(!TEST_DATABASE_URL)('back-channel logout across two instances on PostgreSQL', () => {
  let drop: () => Promise<void>
  let store: Store
  let idp: RunningOidcSandbox
  let a: RunningServe
  let b: RunningServe
  const keys = generateKey()

  beforeAll(async () => {
    const created = await postgres!.create()
    drop = created.drop
    store = openStore({ databaseUrl: created.url, keys: parseKeys(keys) })
    await migrate(store.db)
    const portA = await freePort()
    const publicUrl = `http://localhost:${portA}`
    idp = await startOidcSandbox({
      clients: [{ clientId: 'rp', clientSecret: SECRET, redirectUris: [`${publicUrl}/auth/callback/idp`], backchannelLogoutUri: `${publicUrl}/auth/backchannel-logout/idp` }],
      autoApprove: 'alice',
    })
    await store.providers.add(buildProviderConfig('idp', { issuer: idp.issuer, apiBaseUrl: idp.apiBaseUrl, clientId: 'rp', clientSecret: SECRET, scope: 'openid profile' }))
    ;[a, b] = await Promise.all([
      startServe({ databaseUrl: created.url, keys, port: portA, env: { PUBLIC_URL: publicUrl } }),
      startServe({ databaseUrl: created.url, keys, env: { PUBLIC_URL: publicUrl } }),
    ])
  })

  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()])
    await idp?.close()
    await store?.close()
    await drop?.()
  })

  it('ends the session on both instances within a second of signing out at the provider', async () => {
    const browser = new BrowserSession()
    await login(browser, a.url, 'idp')
    // Both instances have just read the session: each holds it in memory.
    for (const instance of [a, b]) expect((await session(browser, instance.url)).authenticated).toBe(true)

    await signOutAtProvider(browser, `${idp.url}/session/end`)

    for (const instance of [a, b]) {
      expect(await within(1000, () => session(browser, instance.url), (info) => !info.authenticated), instance.url).toEqual({ authenticated: false })
    }
    expect(await countRows(store.db, 'sessions')).toBe(0)
  })
})
