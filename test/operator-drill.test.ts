import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { createConnection, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net'
import { join, resolve } from 'node:path'
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose'
import knex, { type Knex } from 'knex'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { hashId, randomToken } from '../server/crypto/random.ts'
import { SESSION_COOKIE } from '../server/session/cookies.ts'
import { ENCRYPTED_COLUMNS } from '../server/store/encrypted-columns.ts'
import { openStore } from '../server/store/index.ts'
import { migrationSource } from '../migrations/index.ts'
import { BrowserSession } from './support/browser-session.ts'
import { TEST_DATABASE_URL, databases } from './support/databases.ts'
import { freePort, startServe, type RunningServe } from './support/demo-server.ts'
import { startEchoUpstream } from './support/echo-upstream.ts'
import { cacheLapse, within } from './support/eventually.ts'
import { authError, session } from './support/login.ts'
import { DEMO_USERS, startOidcSandbox, type RunningOidcSandbox } from './support/oidc-sandbox.ts'
import { sandboxLogin } from './support/sandbox-login.ts'
import { scratchFolder } from './support/scratch-folder.ts'

/**
 * The README's "Production with PostgreSQL" and "Incident response", run as an operator would:
 * `all-access serve` processes from dist/ (build first), users signed in through a real OpenID
 * provider, and the commands exactly as the README writes them, each checked for the outcome the
 * README promises.
 */

const BIN = resolve('bin/all-access.js')
const CSRF = { 'X-CSRF': '1' }
const SECOND = 1000
const postgres = databases.find((d) => d.kind === 'postgres')

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** `npx all-access …` in an operator's shell: production, with the servers' DATABASE_URL and keys. */
function operator(args: string[], env: Record<string, string>, input = ''): Run {
  const result = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, NODE_ENV: 'production', ...env }, encoding: 'utf8', input })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

/** {@link operator} without blocking the test, for a command that waits on something the test holds. */
function operatorLater(args: string[], env: Record<string, string>): { child: ChildProcess; done: Promise<Run> } {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NODE_ENV: 'production', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const run: Run = { code: null, stdout: '', stderr: '' }
  child.stdout!.on('data', (chunk: Buffer) => (run.stdout += chunk))
  child.stderr!.on('data', (chunk: Buffer) => (run.stderr += chunk))
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ ...run, code })))
  return { child, done }
}

/** The README's shell line that prints a key's id, run as written with the key in `$KEY`. */
function keyIdByShell(key: string): string {
  const line = `printf %s "$KEY" | base64 -d | (printf 'all-access key id'; cat) | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | cut -c1-8`
  const result = spawnSync('sh', ['-c', line], { env: { ...process.env, KEY: key }, encoding: 'utf8' })
  expect(result.status).toBe(0)
  return result.stdout.trim()
}

async function rsaKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true })
  const jwk = await exportJWK(privateKey)
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'RS256', use: 'sig' }
}

describe.skipIf(!TEST_DATABASE_URL)('the README\'s incident response, drilled on two serve instances on one PostgreSQL', () => {
  let databaseUrl: string
  let drop: () => Promise<void>
  let db: Knex
  let idp: RunningOidcSandbox
  let idpPort: number
  let opKey: JWK
  let publicUrl: string
  let ports: [number, number]
  const instances: RunningServe[] = []
  const secret = 'first-client-secret-0123456789'

  const startIdp = async (clientSecret: string) =>
    startOidcSandbox({
      clients: [{ clientId: 'drill', clientSecret, redirectUris: [`${publicUrl}/auth/callback/idp`] }],
      port: idpPort,
      signingKey: opKey,
      // Mallory holds an account of her own at the provider: the thief of a stolen laptop.
      users: [...DEMO_USERS, { id: 'mallory', name: 'Mallory', email: 'mallory@sandbox.example' }],
    })

  /** Both instances, started with `keys`, one after the other: a rolling restart behind a balancer. */
  async function restartBoth(keys: string, between?: () => Promise<void>): Promise<void> {
    for (const index of [0, 1]) {
      await instances[index]?.stop()
      instances[index] = await startServe({ databaseUrl, keys, port: ports[index], env: { PUBLIC_URL: publicUrl } })
      if (index === 0) await between?.()
    }
  }

  const [a, b] = [() => instances[0], () => instances[1]]
  const signedIn = async (browser: BrowserSession, on: RunningServe) => (await session(browser, on.url)).authenticated
  const api = (browser: BrowserSession, on: RunningServe) => browser.fetch(new URL('/api/idp/me', on.url), { headers: CSRF })
  /** Signed in, with an API call that works, on both instances: what "signs nobody out" means to a user. */
  async function usableOnBoth(browser: BrowserSession): Promise<number[]> {
    const statuses: number[] = []
    for (const on of [a(), b()]) {
      expect(await signedIn(browser, on)).toBe(true)
      const response = await api(browser, on)
      await response.arrayBuffer()
      statuses.push(response.status)
    }
    return statuses
  }
  const signedOutWithinASecond = (browser: BrowserSession, on: RunningServe) => within(SECOND, () => signedIn(browser, on), (yes) => !yes)

  beforeAll(async () => {
    const created = await postgres!.create()
    ;({ url: databaseUrl, drop } = created)
    db = knex({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 1 } })
    ports = [await freePort(), await freePort()]
    idpPort = await freePort()
    publicUrl = `http://localhost:${ports[0]}`
    opKey = await rsaKey()
    idp = await startIdp(secret)
  }, 60_000)

  afterAll(async () => {
    await Promise.all(instances.map((instance) => instance.stop()))
    await idp?.close()
    await db?.destroy()
    await drop?.()
  })

  it('ends a stolen laptop\'s user with the README\'s query and sessions revoke --user, on both instances, and rotates a leaked key with nobody signed out until sessions revoke --all', async () => {
    const oldKey = generateKey()
    const newKey = generateKey()
    const env = { DATABASE_URL: databaseUrl, PUBLIC_URL: publicUrl }
    expect(operator(['migrate'], { ...env, ALLACCESS_KEYS: oldKey }).code).toBe(0)
    expect(operator(['providers', 'add', 'idp', '--issuer', idp.issuer, '--api-base-url', idp.apiBaseUrl, '--client-id', 'drill', '--client-secret', '-', '--scope', 'openid profile email'], { ...env, ALLACCESS_KEYS: oldKey }, `${secret}\n`).code).toBe(0)
    await restartBoth(oldKey)

    const alice = new BrowserSession()
    const bob = new BrowserSession()
    await sandboxLogin(alice, a().url, 'idp', 'alice')
    await sandboxLogin(bob, a().url, 'idp', 'bob')
    for (const browser of [alice, bob]) expect(await usableOnBoth(browser)).toEqual([200, 200])

    // A laptop is stolen: the README's query, with the provider's name and the user's id there.
    const query = "SELECT user_id FROM accounts JOIN providers ON providers.id = accounts.provider_id WHERE providers.name = 'idp' AND identifier = 'alice'"
    const found = spawnSync('psql', [databaseUrl, '-At', '-c', query], { encoding: 'utf8' })
    expect(found.status).toBe(0)
    const aliceId = found.stdout.trim()
    const aliceSession = await session(alice, a().url)
    expect(aliceSession.authenticated && aliceSession.user.id).toBe(aliceId)
    // The thief, with alice's cookie, links an identity of her own: a login started while signed in links.
    const thief = new BrowserSession()
    thief.cookies.push({ ...alice.cookie(SESSION_COOKIE)! })
    await sandboxLogin(thief, a().url, 'idp', 'mallory')
    const linked = await session(thief, a().url)
    expect(linked.authenticated && linked.user.id).toBe(aliceId)
    // The link gave the thief's session a new id in place of the stolen one: one session to end.
    expect(operator(['sessions', 'revoke', '--user', aliceId], { ...env, ALLACCESS_KEYS: oldKey })).toEqual({ code: 0, stdout: 'ended 1 session\n', stderr: '' })
    expect(await signedOutWithinASecond(alice, b())).toBe(false)
    expect(await signedOutWithinASecond(alice, a())).toBe(false)
    expect(await signedOutWithinASecond(thief, a())).toBe(false)
    // Ending sessions is not enough: the linked identity signs the thief in as alice again.
    const again = new BrowserSession()
    await sandboxLogin(again, a().url, 'idp', 'mallory')
    const back = await session(again, a().url)
    expect(back.authenticated && back.user.id).toBe(aliceId)
    // The README's next step: list the user's accounts, delete the one she does not know, end the sessions again.
    const listing = `SELECT accounts.id, providers.name, identifier, accounts.created_at FROM accounts JOIN providers ON providers.id = accounts.provider_id WHERE user_id = ${aliceId} ORDER BY accounts.created_at`
    const accounts = spawnSync('psql', [databaseUrl, '-At', '-F', ' ', '-c', listing], { encoding: 'utf8' })
    expect(accounts.status).toBe(0)
    const rows = accounts.stdout.trim().split('\n').map((line) => line.split(' '))
    // One account per provider: mallory's identity replaced alice's own at idp.
    expect(rows.map(([, provider, identifier]) => `${provider}:${identifier}`)).toEqual(['idp:mallory'])
    const deleted = spawnSync('psql', [databaseUrl, '-At', '-c', `DELETE FROM accounts WHERE id = ${rows[0]![0]}`], { encoding: 'utf8' })
    expect(deleted.stdout.trim()).toBe('DELETE 1')
    expect(operator(['sessions', 'revoke', '--user', aliceId], { ...env, ALLACCESS_KEYS: oldKey })).toEqual({ code: 0, stdout: 'ended 1 session\n', stderr: '' })
    await cacheLapse()
    const locked = new BrowserSession()
    await sandboxLogin(locked, a().url, 'idp', 'mallory')
    const own = await session(locked, a().url)
    expect(own.authenticated && own.user.id).not.toBe(aliceId)
    expect(await usableOnBoth(bob)).toEqual([200, 200])
    // "The user signs in again on the devices they still have": with her identity replaced, as a new user.
    await sandboxLogin(alice, a().url, 'idp', 'alice')
    expect(await usableOnBoth(alice)).toEqual([200, 200])
    const returned = await session(alice, a().url)
    expect(returned.authenticated && returned.user.id).not.toBe(aliceId)

    // An encryption key leaks. Several instances: first old,new everywhere, then new,old.
    await restartBoth(`${oldKey},${newKey}`)
    for (const browser of [alice, bob]) expect(await usableOnBoth(browser)).toEqual([200, 200])
    // Between the two restarts of the second round, A writes with the new key and B, on old,new, reads it.
    const carol = new BrowserSession()
    await restartBoth(`${newKey},${oldKey}`, async () => {
      await sandboxLogin(carol, a().url, 'idp', 'bob')
      expect(await usableOnBoth(carol)).toEqual([200, 200])
    })
    for (const browser of [alice, bob, carol]) expect(await usableOnBoth(browser)).toEqual([200, 200])

    const rotated = operator(['keys', 'rotate'], { ...env, ALLACCESS_KEYS: `${newKey},${oldKey}` })
    const newId = keyIdByShell(newKey)
    expect(rotated.code).toBe(0)
    expect(rotated.stdout).toMatch(new RegExp(`^re-encrypted [1-9]\\d* values with key ${newId}\\n$`))
    expect(rotated.stderr).toContain('VACUUM FULL providers, accounts, login_flows')
    // Every stored secret is under the new key now: the old key can go.
    const ids = new Set<string>()
    for (const [table, columns] of Object.entries(ENCRYPTED_COLUMNS)) {
      for (const row of await db(table).select(columns)) for (const column of columns) if (row[column]) ids.add(row[column].split('.')[1])
    }
    expect(ids).toEqual(new Set([newId]))
    expect(ids.has(keyIdByShell(oldKey))).toBe(false)

    // Drop the old key and restart again: "Rotating signs nobody out".
    await restartBoth(newKey)
    for (const browser of [alice, bob, carol]) expect(await usableOnBoth(browser)).toEqual([200, 200])

    // "so end every session as well".
    // Alice's, bob's, carol's and mallory's own.
    expect(operator(['sessions', 'revoke', '--all'], { ...env, ALLACCESS_KEYS: newKey })).toEqual({ code: 0, stdout: 'ended 4 sessions\n', stderr: '' })
    for (const browser of [alice, bob, carol]) {
      for (const on of [a(), b()]) expect(await signedOutWithinASecond(browser, on)).toBe(false)
    }

    // A provider's client secret leaks: a new one at the provider, stored from standard input.
    const newSecret = 'second-client-secret-9876543210'
    await idp.close()
    idp = await startIdp(newSecret)
    // The provider refuses the old secret now: until it is stored, no login finishes.
    const refused = await sandboxLogin(new BrowserSession(), a().url, 'idp', 'alice')
    expect(authError(refused)).not.toBeNull()
    expect(operator(['providers', 'update', 'idp', '--client-secret', '-'], { ...env, ALLACCESS_KEYS: newKey }, `${newSecret}\n`)).toEqual({ code: 0, stdout: 'updated provider idp\n', stderr: '' })
    await cacheLapse()
    const dave = new BrowserSession()
    await sandboxLogin(dave, a().url, 'idp', 'alice')
    expect(await usableOnBoth(dave)).toEqual([200, 200])
    expect(operator(['sessions', 'revoke', '--all'], { ...env, ALLACCESS_KEYS: newKey })).toEqual({ code: 0, stdout: 'ended 1 session\n', stderr: '' })

    // "providers remove <name> removes every account of that provider at once", tokens with them.
    // alice's, bob's and mallory's.
    expect(Number((await db('accounts').count({ n: '*' }).first())?.n)).toBe(3)
    expect(operator(['providers', 'remove', 'idp'], { ...env, ALLACCESS_KEYS: newKey })).toEqual({ code: 0, stdout: 'removed provider idp\n', stderr: '' })
    expect(Number((await db('accounts').count({ n: '*' }).first())?.n)).toBe(0)
  }, 240_000)
})

describe.skipIf(!TEST_DATABASE_URL)('the README\'s refresh lease, drilled on two serve instances on one PostgreSQL', () => {
  let databaseUrl: string
  let drop: () => Promise<void>
  let db: Knex
  let idp: RunningOidcSandbox
  const instances: RunningServe[] = []
  const keys = generateKey()

  beforeAll(async () => {
    ;({ url: databaseUrl, drop } = await postgres!.create())
    db = knex({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 1 } })
    const ports = [await freePort(), await freePort()]
    const publicUrl = `http://localhost:${ports[0]}`
    idp = await startOidcSandbox({ clients: [{ clientId: 'lease', clientSecret: 'lease-secret-0123456789', redirectUris: [`${publicUrl}/auth/callback/idp`] }], autoApprove: 'alice' })
    const env = { DATABASE_URL: databaseUrl, ALLACCESS_KEYS: keys, PUBLIC_URL: publicUrl }
    expect(operator(['migrate'], env).code).toBe(0)
    expect(operator(['providers', 'add', 'idp', '--issuer', idp.issuer, '--api-base-url', idp.apiBaseUrl, '--client-id', 'lease', '--client-secret', '-', '--scope', 'openid profile email'], env, 'lease-secret-0123456789\n').code).toBe(0)
    // A 3-s lease: a call on A waits for A's own refresh 1 s (the lease less 2 s), one on B 8 s (the lease and 5 s).
    for (const port of ports) instances.push(await startServe({ databaseUrl, keys, port, env: { PUBLIC_URL: publicUrl, ALLACCESS_REFRESH_LEASE_MS: '3000' } }))
  }, 60_000)

  afterAll(async () => {
    idp?.stallTokenRequests(0)
    await Promise.all(instances.map((instance) => instance.stop()))
    await idp?.close()
    await db?.destroy()
    await drop?.()
  })

  it('answers 504 upstream_timeout on A and on B while the provider holds the refresh, and keeps the refresh going: the next call uses its tokens, with no second grant', async () => {
    const [a, b] = instances
    const browser = new BrowserSession()
    await sandboxLogin(browser, a.url, 'idp')
    const api = (on: RunningServe) => browser.fetch(new URL('/api/idp/me', on.url), { headers: CSRF })
    expect((await api(b)).status).toBe(200)
    // The access token's time is up, as an hour later.
    const [account] = await db('accounts').select('id', 'refresh_token')
    await db('accounts').where({ id: account.id }).update({ expires_at: Date.now() - 1000 })
    await cacheLapse()
    const grantsBefore = idp.stats.refreshGrants
    idp.stallTokenRequests(60_000)

    const onA = await api(a)
    expect([onA.status, (await onA.json()).error]).toEqual([504, 'upstream_timeout'])
    // A's refresh still holds the lease, renewed while the provider holds its token request.
    const onB = await api(b)
    expect([onB.status, (await onB.json()).error]).toEqual([504, 'upstream_timeout'])
    expect((await db('accounts').where({ id: account.id }).first('refresh_lease_owner')).refresh_lease_owner).toBeTruthy()

    idp.stallTokenRequests(0)
    const stored = await within(20_000, async () => (await db('accounts').where({ id: account.id }).first('refresh_token', 'refresh_lease_owner')), (row) => row.refresh_token !== account.refresh_token && !row.refresh_lease_owner)
    expect(stored.refresh_token).not.toBe(account.refresh_token)
    await cacheLapse()
    expect((await api(b)).status).toBe(200)
    expect(idp.stats.refreshGrants - grantsBefore).toBe(1)
  }, 90_000)
})

describe('the README\'s warning on keys rotate run from a shell with the keys the wrong way round', () => {
  let serve: RunningServe | undefined

  afterAll(async () => {
    await serve?.stop()
  })

  it('moves every secret back to the first key, old, and a server already on new alone answers 500', async () => {
    const databaseUrl = `sqlite://${join(scratchFolder('aa-drill-'), 'db.sqlite3')}`
    const [oldKey, newKey] = [generateKey(), generateKey()]
    const env = { DATABASE_URL: databaseUrl }
    expect(operator(['migrate'], { ...env, ALLACCESS_KEYS: oldKey }).code).toBe(0)
    // Its API is a closed port: nothing may leave the machine, whatever the BFF does.
    expect(operator(['providers', 'add', 'idp', '--authorization-url', 'https://idp.example/a', '--access-token-url', 'https://idp.example/t', '--profile-url', 'https://idp.example/me', '--api-base-url', 'http://127.0.0.1:1/api', '--client-id', 'a', '--client-secret', 'b'], { ...env, ALLACCESS_KEYS: oldKey }).code).toBe(0)
    expect(operator(['keys', 'rotate'], { ...env, ALLACCESS_KEYS: `${newKey},${oldKey}` })).toEqual({ code: 0, stdout: `re-encrypted 2 values with key ${keyIdByShell(newKey)}\n`, stderr: '' })
    serve = await startServe({ databaseUrl, keys: newKey })
    // A user signed in since, whose token is stored under the new key.
    const browser = await signedInByHand(databaseUrl, newKey, 'idp', serve.url)
    const api = () => browser.fetch(new URL('/api/idp/me', serve!.url), { headers: CSRF })
    // Read and sent: the closed port answers 502 upstream_unreachable.
    expect((await api()).status).toBe(502)

    expect(operator(['keys', 'rotate'], { ...env, ALLACCESS_KEYS: `${oldKey},${newKey}` })).toEqual({ code: 0, stdout: `re-encrypted 3 values with key ${keyIdByShell(oldKey)}\n`, stderr: '' })
    await cacheLapse()
    const answer = await api()
    expect([answer.status, (await answer.json()).error]).toEqual([500, 'server_error'])
  }, 60_000)
})

/**
 * A TCP relay to PostgreSQL that can freeze: its connections stay open and nothing more passes
 * either way, as with a database host that hangs (not one that refuses, which the other tests cut).
 */
/**
 * A browser whose user is signed in with an account at `provider`, written in the database as a
 * login would write them (the sign-in is not what these drills are about).
 */
async function signedInByHand(databaseUrl: string, keys: string, provider: string, serveUrl: string): Promise<BrowserSession> {
  const store = openStore({ databaseUrl, keys: parseKeys(keys) })
  const id = randomToken()
  try {
    const { id: providerId } = (await store.providers.get(provider))!
    const user = await store.users.create('Operator')
    await store.accounts.create({ providerId, identifier: 'operator', userId: user.id, displayName: null, accessToken: 'token', tokenSecret: null, refreshToken: null, idToken: null, expiresAt: null, scope: null })
    await store.sessions.create(hashId(id), { userId: user.id, createdAt: Date.now(), idleExpiresAt: Date.now() + 3_600_000, absoluteExpiresAt: Date.now() + 3_600_000 })
  } finally {
    await store.close()
  }
  const browser = new BrowserSession()
  browser.cookies.push({ name: SESSION_COOKIE, value: id, host: new URL(serveUrl).hostname, path: '/', attributes: '' })
  return browser
}

async function startFreezingRelay(target: URL) {
  const pairs = new Set<[Socket, Socket]>()
  let frozen = false
  const server = createNetServer((client) => {
    const upstream = createConnection({ host: target.hostname, port: Number(target.port || 5432) })
    const pair: [Socket, Socket] = [client, upstream]
    pairs.add(pair)
    const forget = () => {
      pairs.delete(pair)
      client.destroy()
      upstream.destroy()
    }
    client.on('error', forget).on('close', forget)
    upstream.on('error', forget).on('close', forget)
    if (frozen) return
    client.pipe(upstream).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    freeze() {
      frozen = true
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream)
        upstream.unpipe(client)
        client.pause()
        upstream.pause()
      }
    },
    thaw() {
      frozen = false
      for (const [client, upstream] of pairs) client.pipe(upstream).pipe(client)
    },
    async close() {
      for (const [client, upstream] of pairs) {
        client.destroy()
        upstream.destroy()
      }
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

describe.skipIf(!TEST_DATABASE_URL)('the README\'s readiness probe, with a database that hangs', () => {
  let drop: () => Promise<void>
  let relay: Awaited<ReturnType<typeof startFreezingRelay>> | undefined
  let serve: RunningServe | undefined

  afterAll(async () => {
    relay?.thaw()
    await serve?.stop()
    await relay?.close()
    await drop?.()
  })

  it('answers /readyz 503 service_unavailable rather than hang, /healthz 200 and /metrics (active_sessions NaN) all along, and ready again once the database answers', async () => {
    let databaseUrl: string
    ;({ url: databaseUrl, drop } = await postgres!.create())
    const target = new URL(databaseUrl)
    relay = await startFreezingRelay(target)
    const relayed = new URL(databaseUrl)
    relayed.hostname = '127.0.0.1'
    relayed.port = String(relay.port)
    serve = await startServe({ databaseUrl: relayed.toString(), env: { ALLACCESS_METRICS_PORT: '0' } })
    const operations = /all-access health and metrics on (\S+)/.exec(serve.output())![1]
    const probe = async (path: string) => {
      const response = await fetch(`${operations}${path}`)
      return { status: response.status, body: await response.json() }
    }
    expect(await probe('/readyz')).toEqual({ status: 200, body: { status: 'ready' } })

    relay.freeze()
    // Three probes in a row, as a load balancer keeps asking: each answered, none left hanging on the pool.
    for (let i = 0; i < 3; i++) {
      expect(await probe('/readyz')).toEqual({ status: 503, body: { error: 'service_unavailable', message: expect.any(String) } })
      expect(await probe('/healthz')).toEqual({ status: 200, body: { status: 'live' } })
    }
    // The scrape answers too, its count of sessions NaN while the database is away (prom-client writes Nan, which Prometheus reads as NaN).
    const scrape = await fetch(`${operations}/metrics`)
    expect(scrape.status).toBe(200)
    expect(await scrape.text()).toMatch(/^allaccess_active_sessions nan$/im)

    relay.thaw()
    expect(await within(20_000, () => probe('/readyz'), ({ status }) => status === 200)).toEqual({ status: 200, body: { status: 'ready' } })
  }, 90_000)
})

describe.skipIf(!TEST_DATABASE_URL)('the README\'s connections: at most ALLACCESS_DB_POOL_MAX an instance', () => {
  const role = `aa_drill_${randomToken(6).toLowerCase().replace(/[^a-z0-9]/g, '')}`
  let admin: Knex
  let drop: (() => Promise<void>) | undefined
  let serve: RunningServe | undefined

  beforeAll(() => {
    admin = knex({ client: 'pg', connection: TEST_DATABASE_URL, pool: { min: 0, max: 1 } })
  })

  afterAll(async () => {
    await serve?.stop()
    await drop?.()
    await admin.raw(`DROP ROLE IF EXISTS ${role}`)
    await admin.destroy()
  })

  it('migrates and serves on a role PostgreSQL allows just one connection, with ALLACCESS_DB_POOL_MAX=1', async () => {
    // What an operator sizing instances × pool to max_connections (or a role's limit) relies on.
    await admin.raw(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 1`)
    const created = await postgres!.create()
    drop = created.drop
    await admin.raw(`ALTER DATABASE ${new URL(created.url).pathname.slice(1)} OWNER TO ${role}`)
    const url = new URL(created.url)
    url.username = role
    const databaseUrl = url.toString()
    const keys = generateKey()
    expect(operator(['migrate'], { DATABASE_URL: databaseUrl, ALLACCESS_KEYS: keys })).toEqual({ code: 0, stdout: expect.stringMatching(/^applied /), stderr: '' })
    // Started on a database already migrated, it still takes the migration lock: one connection for both.
    serve = await startServe({ databaseUrl, keys, env: { ALLACCESS_DB_POOL_MAX: '1' } })
    const providers = await fetch(new URL('/auth/providers', serve.url))
    expect(providers.status).toBe(200)
  }, 60_000)
})

describe.skipIf(!TEST_DATABASE_URL)('the README\'s migration lock, met from the command line', () => {
  let databaseUrl: string
  let drop: () => Promise<void>
  let holder: ChildProcess | undefined

  beforeAll(async () => {
    ;({ url: databaseUrl, drop } = await postgres!.create())
  })

  afterAll(async () => {
    holder?.kill('SIGKILL')
    await drop?.()
  })

  it('waits while another process migrates, and goes on once the holder dies', async () => {
    const keys = generateKey()
    // Another migrator, as `migrate` takes the lock: a PostgreSQL advisory lock of its own session.
    const hold = `import pg from 'pg'
const client = new pg.Client(process.env.DATABASE_URL)
await client.connect()
await client.query('SELECT pg_advisory_lock($1)', [0x616c6c61])
console.log('holding')
setInterval(() => {}, 1000)`
    holder = spawn(process.execPath, ['--input-type=module', '-e', hold], { env: { ...process.env, DATABASE_URL: databaseUrl }, stdio: ['ignore', 'pipe', 'inherit'] })
    await new Promise<void>((ready) => holder!.stdout!.on('data', (chunk: Buffer) => chunk.toString().includes('holding') && ready()))

    // Giving up after the 60 s is store.test.ts's, with a wait of 1 s: here it would hold a worker for a minute.
    // "The lock dies with its holder": a migrator killed mid-migration leaves nothing to clear by hand.
    const waiting = operatorLater(['migrate'], { DATABASE_URL: databaseUrl, ALLACCESS_KEYS: keys })
    // It asked for the lock and was refused at least once: it waits on the holder, not ahead of it.
    const watcher = knex({ client: 'pg', connection: databaseUrl, pool: { min: 0, max: 1 } })
    try {
      const askers = () => watcher.raw("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'SELECT pg_try_advisory_lock%'")
      expect(Number((await within(20_000, askers, ({ rows }) => Number(rows[0].n) > 0)).rows[0].n)).toBe(1)
    } finally {
      await watcher.destroy()
    }
    expect(waiting.child.exitCode).toBeNull()
    const holderGone = new Promise((gone) => holder!.on('exit', gone))
    holder.kill('SIGKILL')
    await holderGone
    const applied = await waiting.done
    expect({ code: applied.code, stderr: applied.stderr }).toEqual({ code: 0, stderr: '' })
    expect(applied.stdout).toMatch(/^applied /)
  }, 60_000)

  it('applies the migrations once when four processes, migrate and serve, start together on a new database', async () => {
    const { url, drop: dropNew } = await postgres!.create()
    const keys = generateKey()
    const running: RunningServe[] = []
    try {
      const migrators = [0, 1].map(() => operatorLater(['migrate'], { DATABASE_URL: url, ALLACCESS_KEYS: keys }).done)
      running.push(...(await Promise.all([0, 1].map(() => startServe({ databaseUrl: url, keys })))))
      const runs = await Promise.all(migrators)
      const all = (await migrationSource.getMigrations([])).join(', ')
      // Each migrate ran whole: either it applied every migration, or it found them applied.
      for (const run of runs) expect(run).toEqual({ code: 0, stdout: expect.stringMatching(new RegExp(`^(applied ${all}|database is up to date)\\n$`)), stderr: '' })
      const db = knex({ client: 'pg', connection: url, pool: { min: 0, max: 1 } })
      try {
        expect((await db('knex_migrations').orderBy('id').pluck('name')).join(', ')).toBe(all)
      } finally {
        await db.destroy()
      }
      for (const serve of running) expect((await fetch(new URL('/auth/providers', serve.url))).status).toBe(200)
    } finally {
      await Promise.all(running.map((serve) => serve.stop()))
      await dropNew()
    }
  }, 120_000)
})

describe('the README\'s SIGTERM, met by an operator with a health port', () => {
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>
  let serve: RunningServe | undefined

  beforeAll(async () => {
    upstream = await startEchoUpstream()
  })

  afterEach(async () => {
    upstream.releaseHeld()
    await serve?.stop('SIGKILL')
  })

  afterAll(() => upstream?.close())

  /** A serve with a health port and a signed-in user whose API call the upstream holds. */
  async function heldRequest(): Promise<{ serve: RunningServe; operations: string; inFlight: Promise<Response> }> {
    const databaseUrl = `sqlite://${join(scratchFolder('aa-drill-'), 'db.sqlite3')}`
    const keys = generateKey()
    const env = { DATABASE_URL: databaseUrl, ALLACCESS_KEYS: keys }
    expect(operator(['migrate'], env).code).toBe(0)
    expect(operator(['providers', 'add', 'echo', '--authorization-url', 'https://idp.example/a', '--access-token-url', 'https://idp.example/t', '--profile-url', 'https://idp.example/me', '--api-base-url', `${upstream.url}/v1`, '--client-id', 'a', '--client-secret', 'b'], env).code).toBe(0)
    serve = await startServe({ databaseUrl, keys, env: { ALLACCESS_METRICS_PORT: '0' } })
    const operations = /all-access health and metrics on (\S+)/.exec(serve.output())?.[1]
    expect(operations).toBeDefined()
    expect((await fetch(`${operations}/readyz`)).status).toBe(200)
    // A user signed in, written in the database as a login would (the sign-in is not what is drilled here).
    const browser = await signedInByHand(databaseUrl, keys, 'echo', serve.url)
    const inFlight = browser.fetch(new URL('/api/echo/held', serve.url), { headers: CSRF })
    return { serve, operations: operations!, inFlight }
  }

  it('closes the health port at once, so probes see the instance leave while its request drains, then answers that request and exits 0', async () => {
    const held = await heldRequest()
    expect(await within(10_000, async () => upstream.held(), (n) => n === 1)).toBe(1)
    held.serve.process.kill('SIGTERM')
    expect(await within(10_000, async () => held.serve.output().includes('all-access stopping (SIGTERM)'), Boolean)).toBe(true)
    // The request is still held, and the probes already find nobody.
    expect(upstream.held()).toBe(1)
    await expect(fetch(`${held.operations}/readyz`)).rejects.toThrow()
    await expect(fetch(`${held.operations}/healthz`)).rejects.toThrow()
    upstream.releaseHeld()
    const response = await held.inFlight
    expect(response.status).toBe(200)
    expect(await held.serve.exited).toBe(0)
    // Every pending line is written at exit: the request is there, the probes are not ("not written to the log").
    expect(held.serve.output()).toMatch(/^GET \/api\/echo\/held 200 /m)
    expect(held.serve.output()).not.toMatch(/healthz|readyz/)
  }, 60_000)

  it('writes no line for the health and metrics routes on the main port either (ALLACCESS_METRICS=1)', async () => {
    serve = await startServe({ env: { ALLACCESS_METRICS: '1' } })
    for (const path of ['/healthz', '/readyz', '/metrics', '/auth/providers']) expect((await fetch(new URL(path, serve.url))).status).toBe(200)
    expect(await serve.stop()).toBe(0)
    expect(serve.output()).toMatch(/^GET \/auth\/providers 200 /m)
    expect(serve.output()).not.toMatch(/healthz|readyz|metrics/)
  }, 60_000)

  it('stops waiting for a request that never ends after the drain, and still exits 0', async () => {
    const held = await heldRequest()
    expect(await within(10_000, async () => upstream.held(), (n) => n === 1)).toBe(1)
    const outcome = held.inFlight.then((response) => response.status, () => 'connection closed')
    held.serve.process.kill('SIGTERM')
    // Never released: the drain's ten seconds end it, and the process exits on its own.
    expect(await held.serve.exited).toBe(0)
    expect(await outcome).toBe('connection closed')
  }, 60_000)
})
