import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { join } from 'node:path'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { clientKey, LoginRateLimiter, PendingLogins } from '../server/flows/redirect/login-rate-limit.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'
import { migrate, openStore } from '../server/store/index.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startServe } from './support/demo-server.ts'
import { startRecordingServer } from './support/recording-server.ts'
import { scratchFolder } from './support/scratch-folder.ts'

describe('the pending-logins count', () => {
  it('asks the database at most once a second, counts its own starts in between, and refuses only on a fresh count', async () => {
    let inDatabase = 0
    let counts = 0
    const pending = new PendingLogins(async () => (counts++, inDatabase), 3)
    expect(await pending.full(1_000)).toBe(false)
    pending.started()
    inDatabase = 1
    expect(await pending.full(1_500)).toBe(false)
    pending.started()
    inDatabase = 2
    expect(counts).toBe(1)
    // Another instance's starts show up at the next count.
    inDatabase = 2
    expect(await pending.full(2_000)).toBe(false)
    expect(counts).toBe(2)
    pending.started()
    inDatabase = 3
    // At the cap by its own reckoning: counted again before refusing, whenever the last count was.
    expect(await pending.full(2_100)).toBe(true)
    inDatabase = 1
    expect(await pending.full(2_200)).toBe(false)
    expect(counts).toBe(4)
  })

  it('counts again after the clock was set back, rather than trusting its last count until the clock catches up', async () => {
    let inDatabase = 0
    const pending = new PendingLogins(async () => inDatabase, 3)
    expect(await pending.full(1_000_000)).toBe(false)
    // Other instances fill the cap; this one's clock is then set back an hour.
    inDatabase = 3
    expect(await pending.full(1_000_000 - 3_600_000)).toBe(true)
  })
})

describe.each(databases)('limits on login starts on $kind', (database) => {
  let drop: () => Promise<void>
  let dropCrowded: () => Promise<void>
  let bff: TestBff
  let crowded: TestBff
  let provider: Awaited<ReturnType<typeof startRecordingServer>>

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    provider = await startRecordingServer(() => ({ status: 200, type: 'application/x-www-form-urlencoded', body: 'oauth_token=rt&oauth_token_secret=rs&oauth_callback_confirmed=true' }))
    bff = await startBff(created.url, { loginLimits: { perAddressPerMinute: 3 } })
    const other = await database.create()
    dropCrowded = other.drop
    crowded = await startBff(other.url, { loginLimits: { maxPendingLogins: 2 } })
    for (const app of [bff, crowded]) {
      await app.addProvider('legacy', { requestTokenUrl: `${provider.url}/request`, authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${provider.url}/access`, profileUrl: `${provider.url}/me`, clientId: 'k', clientSecret: 's' })
    }
  })

  afterAll(async () => {
    await bff?.close()
    await crowded?.close()
    await provider?.close()
    await drop?.()
    await dropCrowded?.()
  })

  it('answers 429 rate_limited with Retry-After past the per-address limit, before any request-token call or row', async () => {
    await bff.store.db('login_flows').delete()
    provider.received.length = 0
    for (let i = 0; i < 3; i++) expect((await fetch(new URL('/auth/login/legacy', bff.url), { redirect: 'manual' })).status).toBe(302)
    const refused = await fetch(new URL('/auth/login/legacy', bff.url), { redirect: 'manual' })
    expect(refused.status).toBe(429)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(Number(refused.headers.get('retry-after'))).toBeLessThanOrEqual(20)
    expect(await refused.json()).toEqual({ error: 'rate_limited', message: expect.any(String) })
    expect(provider.received).toHaveLength(3)
    expect(Number((await bff.store.db('login_flows').count({ n: '*' }).first())?.n)).toBe(3)
  })

  it('answers 429 rate_limited once too many logins are pending, whoever starts them', async () => {
    await crowded.store.db('login_flows').delete()
    for (let i = 0; i < 2; i++) expect((await fetch(new URL('/auth/login/legacy', crowded.url), { redirect: 'manual' })).status).toBe(302)
    const refused = await fetch(new URL('/auth/login/legacy', crowded.url), { redirect: 'manual' })
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('60')
    // Expired flows do not count.
    await crowded.store.db('login_flows').update({ expires_at: Date.now() - 1 })
    expect((await fetch(new URL('/auth/login/legacy', crowded.url), { redirect: 'manual' })).status).toBe(302)
  })
})

describe('the per-address login limit', () => {
  it('remembers a bounded number of addresses, forgetting those that started longest ago (their limit starts afresh), never the busy ones', () => {
    const limiter = new LoginRateLimiter(2, 100)
    const now = 1_000_000
    expect([limiter.take('busy', now), limiter.take('busy', now)]).toEqual([0, 0])
    for (let i = 0; i < 1000; i++) {
      expect(limiter.take(`passer-by-${i}`, now)).toBe(0)
      // The busy address keeps asking, so it is never the one forgotten: still over its limit.
      if (i % 50 === 0) expect(limiter.take('busy', now)).toBeGreaterThan(0)
    }
    expect((limiter as unknown as { buckets: Map<string, unknown> }).buckets.size).toBeLessThanOrEqual(100)
    // A passer-by of long ago was forgotten: a full burst again.
    expect([limiter.take('passer-by-0', now), limiter.take('passer-by-0', now), limiter.take('passer-by-0', now)]).toEqual([0, 0, 30])
  })

  it('holds no client back for a clock set back (NTP stepping the system clock): the time it went back is no debt to pay off', () => {
    const limiter = new LoginRateLimiter(30)
    const now = 1_000_000_000
    expect(limiter.take('198.51.100.7', now)).toBe(0)
    // The clock goes back an hour between two starts: the second is the client's second of its burst.
    const earlier = now - 3_600_000
    expect(limiter.take('198.51.100.7', earlier)).toBe(0)
    expect(limiter.take('198.51.100.7', earlier + 1000)).toBe(0)
  })
})

describe('the client a login start is counted against', () => {
  it('is an IPv4 address however it is written (IPv4-mapped in any spelling, with a port), and an IPv6 /56 with or without brackets, port or zone', () => {
    for (const spelling of ['198.51.100.7', '::ffff:198.51.100.7', '::FFFF:198.51.100.7', '0:0:0:0:0:ffff:198.51.100.7', '::ffff:c633:6407', '198.51.100.7:443', '[::ffff:198.51.100.7]:443']) expect(clientKey(spelling), spelling).toBe('198.51.100.7')
    // Two IPv4 clients written IPv4-mapped in hex are two clients, not one network of zeros.
    expect(clientKey('::ffff:c633:6408')).toBe('198.51.100.8')
    for (const spelling of ['2001:db8:0:ff::1', '2001:DB8:0:FF:1:2:3:4', '[2001:db8:0:ff::1]:443', '[2001:db8:0:ff::1]', '2001:db8:0:ff::1%eth0']) expect(clientKey(spelling), spelling).toBe('2001:db8:0:0::/56')
    expect(clientKey('unknown')).toBe('unknown')
  })

  it('is the IPv4 address inside a NAT64 address (64:ff9b::/96, what a translator in front of an IPv6-only server writes): IPv4 clients are not one IPv6 network', () => {
    for (const spelling of ['64:ff9b::198.51.100.7', '64:FF9B::c633:6407', '[64:ff9b::198.51.100.7]:443', '64:ff9b:0:0:0:0:c633:6407']) expect(clientKey(spelling), spelling).toBe('198.51.100.7')
    expect(clientKey('64:ff9b::198.51.100.8')).toBe('198.51.100.8')
    // Past the /96, the network's own addresses: an IPv6 /56 as any.
    expect(clientKey('64:ff9b:0:1::1')).toBe('64:ff9b:0:0::/56')
  })

  it('is short for any name, however long: a client writing its own X-Forwarded-For (app.proxy without maxIpsCount) cannot fill the limiter with kilobytes per address', () => {
    const names = ['a'.repeat(8000), 'a'.repeat(7999) + 'b', 'x'.repeat(65)]
    const keys = names.map(clientKey)
    for (const key of keys) expect(key.length).toBeLessThanOrEqual(80)
    // Still one client per name.
    expect(new Set(keys).size).toBe(names.length)
    expect(clientKey('a'.repeat(8000))).toBe(keys[0])
  })
})

describe('the login rate limit of all-access serve behind a proxy', () => {
  /** The status of a start of a `legacy` login at `serveUrl`, by the client a trusted proxy names `from`. */
  const startsFrom = async (serveUrl: string, from: string) => (await fetch(new URL('/auth/login/legacy', serveUrl), { redirect: 'manual', headers: { 'X-Forwarded-For': from } })).status

  /** A database with the OAuth 1.0a provider `legacy`, whose request tokens come from a recording server. */
  async function legacyProviderDatabase() {
    const provider = await startRecordingServer(() => ({ status: 200, type: 'application/x-www-form-urlencoded', body: 'oauth_token=rt&oauth_token_secret=rs&oauth_callback_confirmed=true' }))
    const databaseUrl = `sqlite://${join(scratchFolder('aa-limits-'), 'db.sqlite3')}`
    const keys = generateKey()
    const store = openStore({ databaseUrl, keys: parseKeys(keys) })
    await migrate(store.db)
    await store.providers.add(buildProviderConfig('legacy', { requestTokenUrl: `${provider.url}/request`, authorizationUrl: `${provider.url}/authorize`, accessTokenUrl: `${provider.url}/access`, profileUrl: `${provider.url}/me`, clientId: 'k', clientSecret: 's' }))
    await store.close()
    return { provider, databaseUrl, keys }
  }

  it('counts each X-Forwarded-For client apart with ALLACCESS_TRUST_PROXY=1, and only the peer without it', async () => {
    const { provider, databaseUrl, keys } = await legacyProviderDatabase()
    for (const trust of ['1', '0']) {
      const serve = await startServe({ databaseUrl, keys, env: { ALLACCESS_LOGIN_RATE_LIMIT: '2', ALLACCESS_TRUST_PROXY: trust } })
      try {
        expect([await startsFrom(serve.url, '203.0.113.1'), await startsFrom(serve.url, '203.0.113.1'), await startsFrom(serve.url, '203.0.113.1')]).toEqual([302, 302, 429])
        expect(await startsFrom(serve.url, '203.0.113.2')).toBe(trust === '1' ? 302 : 429)
      } finally {
        await serve.stop()
      }
    }
    await provider.close()
  })

  it('makes room, once the pending logins reach their cap, by dropping the oldest of the client holding the most: a few addresses cannot shut everybody out', async () => {
    const { provider, databaseUrl, keys } = await legacyProviderDatabase()
    const serve = await startServe({ databaseUrl, keys, env: { ALLACCESS_MAX_PENDING_LOGINS: '4', ALLACCESS_LOGIN_RATE_LIMIT: '10', ALLACCESS_TRUST_PROXY: '1' } })
    const starts = (from: string) => startsFrom(serve.url, from)
    const store = openStore({ databaseUrl, keys: parseKeys(keys) })
    const [a, b, c] = ['203.0.113.1', '203.0.113.2', '203.0.113.3']
    /** Pending logins per client. */
    const held = async () => {
      const rows: { client_hash: string }[] = await store.db('login_flows').select('client_hash')
      return [a, b, c].map((client) => rows.filter((row) => row.client_hash === store.box.keyedHash(client)).length)
    }
    try {
      // One client fills the cap, and is refused beyond it: nobody holds more than it.
      expect([await starts(a), await starts(a), await starts(a), await starts(a), await starts(a)]).toEqual([302, 302, 302, 302, 429])
      // Another client gets in, in place of one of the first client's logins (its oldest: the store's test).
      expect(await starts(b)).toBe(302)
      expect(await held()).toEqual([3, 1, 0])
      expect(await starts(b)).toBe(302)
      expect(await held()).toEqual([2, 2, 0])
      // Shares even: a client holding as many as the most is refused, a newcomer is not.
      expect(await starts(b)).toBe(429)
      expect(await starts(c)).toBe(302)
      expect((await held()).reduce((sum, n) => sum + n)).toBe(4)
    } finally {
      await store.close()
      await serve.stop()
      await provider.close()
    }
  })

  it('takes no pending login from anybody for a start at the cap that then fails (a request token refused): a failing provider is no free way to push others out', async () => {
    const { provider, databaseUrl, keys } = await legacyProviderDatabase()
    const refusing = await startRecordingServer(() => ({ status: 500, body: 'down' }))
    const store = openStore({ databaseUrl, keys: parseKeys(keys) })
    await store.providers.add(buildProviderConfig('broken', { requestTokenUrl: `${refusing.url}/request`, authorizationUrl: `${refusing.url}/authorize`, accessTokenUrl: `${refusing.url}/access`, profileUrl: `${refusing.url}/me`, clientId: 'k', clientSecret: 's' }))
    const serve = await startServe({ databaseUrl, keys, env: { ALLACCESS_MAX_PENDING_LOGINS: '4', ALLACCESS_LOGIN_RATE_LIMIT: '10', ALLACCESS_TRUST_PROXY: '1' } })
    const start = async (name: string, from: string) => {
      const answer = await fetch(new URL(`/auth/login/${name}`, serve.url), { redirect: 'manual', headers: { 'X-Forwarded-For': from } })
      return `${answer.status} ${answer.headers.get('location')?.replace(/\?.*/, '') === `${provider.url}/authorize` ? 'provider' : answer.headers.get('location')}`
    }
    try {
      // Many users behind one address (a campus NAT) fill the cap.
      for (let i = 0; i < 4; i++) expect(await start('legacy', '203.0.113.1')).toBe('302 provider')
      for (let i = 0; i < 3; i++) expect(await start('broken', '203.0.113.2')).toBe('302 /?auth_error=request_token_failed')
      expect(await store.db('login_flows').where('client_hash', store.box.keyedHash('203.0.113.1')).count({ n: '*' }).first()).toEqual({ n: 4 })
      // A start that gets its flow still takes the oldest of theirs.
      expect(await start('legacy', '203.0.113.2')).toBe('302 provider')
      expect(await store.db('login_flows').where('client_hash', store.box.keyedHash('203.0.113.1')).count({ n: '*' }).first()).toEqual({ n: 3 })
    } finally {
      await store.close()
      await serve.stop()
      await provider.close()
      await refusing.close()
    }
  })

  it('counts a client the same behind a proxy that writes its port into X-Forwarded-For (Azure Application Gateway does): a new connection is not a new client', async () => {
    const { provider, databaseUrl, keys } = await legacyProviderDatabase()
    const serve = await startServe({ databaseUrl, keys, env: { ALLACCESS_LOGIN_RATE_LIMIT: '2', ALLACCESS_TRUST_PROXY: '1' } })
    const starts = (from: string) => startsFrom(serve.url, from)
    try {
      expect([await starts('203.0.113.1:50001'), await starts('203.0.113.1:50002'), await starts('203.0.113.1:50003')]).toEqual([302, 302, 429])
      expect([await starts('[2001:db8:1::1]:50001'), await starts('[2001:db8:1::2]:50002'), await starts('2001:db8:1::3')]).toEqual([302, 302, 429])
      expect(await starts('203.0.113.2:50001')).toBe(302)
    } finally {
      await serve.stop()
      await provider.close()
    }
  })

  it('counts the addresses of one IPv6 network (a /56, what one customer is given) as one client: a host that picks a new address per start gets no new limit', async () => {
    const { provider, databaseUrl, keys } = await legacyProviderDatabase()
    const serve = await startServe({ databaseUrl, keys, env: { ALLACCESS_LOGIN_RATE_LIMIT: '2', ALLACCESS_TRUST_PROXY: '1' } })
    const starts = (from: string) => startsFrom(serve.url, from)
    try {
      // Each start from a fresh address of the same network, written every way IPv6 allows.
      expect([await starts('2001:db8:0:1::1'), await starts('2001:DB8:0:1:0:0:0:2'), await starts('2001:db8::1:ffff:1:2:3'), await starts('2001:db8:0:ff:1::9')]).toEqual([302, 302, 429, 429])
      // Another network is another client.
      expect(await starts('2001:db8:0:100::1')).toBe(302)
      // An IPv4 client, also when written as an IPv4-mapped IPv6 address, is its own address.
      expect([await starts('203.0.113.7'), await starts('::ffff:203.0.113.7'), await starts('::ffff:203.0.113.7')]).toEqual([302, 302, 429])
      expect(await starts('203.0.113.8')).toBe(302)
    } finally {
      await serve.stop()
      await provider.close()
    }
  })
})
