import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { hashId } from '../server/crypto/random.ts'
import { SecretBox } from '../server/crypto/secret-box.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'
import { migrate, openStore, parseDatabaseUrl, type Store } from '../server/store/index.ts'
import { storeOn } from '../server/store/index.ts'
import { rotateKeys } from '../server/store/key-rotation.ts'
import { databases } from './support/databases.ts'

const provider = (name: string, secret = 'client-secret-FINDME-1') =>
  buildProviderConfig(name, { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', clientId: `client-id-FINDME-${name}`, clientSecret: secret })

const tokens = {
  accessToken: 'access-token-FINDME-2',
  tokenSecret: 'token-secret-FINDME-3',
  refreshToken: 'refresh-token-FINDME-4',
  idToken: 'id-token-FINDME-5',
  expiresAt: 1_900_000_000_000,
  scope: 'read',
}

describe('parseDatabaseUrl', () => {
  it('reads sqlite paths relative to the working folder, absolute paths and postgres URLs', () => {
    expect(parseDatabaseUrl('sqlite://./data/x.sqlite3', '/srv/app')).toEqual({ kind: 'sqlite', location: '/srv/app/data/x.sqlite3' })
    expect(parseDatabaseUrl('sqlite:///var/db.sqlite3', '/srv/app')).toEqual({ kind: 'sqlite', location: '/var/db.sqlite3' })
    expect(parseDatabaseUrl('postgres://u@h:5432/db')).toEqual({ kind: 'postgres', location: 'postgres://u@h:5432/db' })
  })

  it('refuses anything else with a message', () => {
    expect(() => parseDatabaseUrl('mysql://x')).toThrow('DATABASE_URL must start with sqlite:// or postgres://, got "mysql:…"')
    expect(() => parseDatabaseUrl('sqlite://')).toThrow(/needs a file path/)
  })
})

describe.each(databases)('the store on $kind', (database) => {
  let url: string
  let drop: () => Promise<void>
  let store: Store
  const keys = parseKeys(generateKey())

  beforeEach(async () => {
    ;({ url, drop } = await database.create())
    store = openStore({ databaseUrl: url, keys })
    await migrate(store.db)
  })

  afterEach(async () => {
    await store.close()
    await drop()
  })

  it('creates every table, and migrating again changes nothing', async () => {
    for (const table of ['providers', 'users', 'accounts', 'sessions', 'login_flows']) expect(await store.db.schema.hasTable(table)).toBe(true)
    expect(await migrate(store.db)).toEqual([])
  })

  if (database.kind === 'sqlite') {
    it('creates the folder of the SQLite file, with WAL and foreign keys on', async () => {
      const location = parseDatabaseUrl(url).location
      expect(existsSync(dirname(location))).toBe(true)
      expect((await store.db.raw('PRAGMA journal_mode'))[0].journal_mode).toBe('wal')
      expect((await store.db.raw('PRAGMA foreign_keys'))[0].foreign_keys).toBe(1)
    })
  }

  it('keeps providers with their secrets decrypted, unique by name', async () => {
    const added = await store.providers.add(provider('github'))
    expect(added).toEqual(expect.objectContaining({ name: 'github', clientId: 'client-id-FINDME-github', clientSecret: 'client-secret-FINDME-1', protocol: 'oauth2', pkce: true }))
    expect(await store.providers.get('github')).toEqual(added)
    await expect(store.providers.add(provider('github'))).rejects.toThrow()
    await store.providers.update('github', { ...added, displayName: 'GitHub!', pkce: false })
    expect((await store.providers.get('github'))?.displayName).toBe('GitHub!')
    expect((await store.providers.get('github'))?.pkce).toBe(false)
    expect((await store.providers.list()).map((p) => p.name)).toEqual(['github'])
    expect(await store.providers.remove('github')).toBe(true)
    expect(await store.providers.get('github')).toBeNull()
  })

  it('keeps one account per (provider, identifier), and cascades deletes of providers and users', async () => {
    const p = await store.providers.add(provider('p1'))
    const user = await store.users.create('Ann')
    const id = await store.accounts.create({ providerId: p.id, identifier: '42', userId: user.id, displayName: 'Ann', ...tokens })
    expect(await store.accounts.get(id)).toEqual(expect.objectContaining({ provider: 'p1', identifier: '42', ...tokens, status: 'active' }))
    await expect(store.accounts.create({ providerId: p.id, identifier: '42', userId: user.id, displayName: null, ...tokens })).rejects.toThrow()
    await store.sessions.create('sess', { userId: user.id, createdAt: 1, idleExpiresAt: Date.now() + 1e6, absoluteExpiresAt: Date.now() + 1e6 })
    await store.loginFlows.create('flow', p.id, { provider: 'p1', next: '/' }, 60_000)
    await store.providers.remove('p1')
    expect(await store.accounts.get(id)).toBeNull()
    expect(await store.db('login_flows').count({ n: '*' }).first()).toEqual({ n: expect.anything() })
    expect(Number((await store.db('login_flows').count({ n: '*' }).first())?.n)).toBe(0)

    const p2 = await store.providers.add(provider('p2'))
    const id2 = await store.accounts.create({ providerId: p2.id, identifier: '7', userId: user.id, displayName: null, ...tokens })
    await store.db('users').where({ id: user.id }).delete()
    expect(await store.accounts.get(id2)).toBeNull()
    expect(await store.sessions.find('sess')).toBeNull()
  })

  it('keys sessions by a hash of their id, and ends them when idle or too old', async () => {
    const user = await store.users.create(null)
    const now = Date.now()
    await store.sessions.create('session-id-FINDME-6', { userId: user.id, createdAt: now, idleExpiresAt: now + 1000, absoluteExpiresAt: now + 5000 })
    const row = await store.db('sessions').first()
    expect(row.id_hash).toBe(hashId('session-id-FINDME-6'))
    expect(await store.sessions.find('session-id-FINDME-6', now)).toEqual(expect.objectContaining({ userId: user.id }))
    expect(await store.sessions.find('session-id-FINDME-6', now + 1000)).toBeNull()
    await store.sessions.extend('session-id-FINDME-6', now + 4000)
    expect(await store.sessions.find('session-id-FINDME-6', now + 3000)).not.toBeNull()
    expect(await store.sessions.find('session-id-FINDME-6', now + 5000)).toBeNull()
    expect(await store.sessions.removeExpired(now + 10_000)).toBe(1)
  })

  it('gives a login flow to exactly one consumer, once, and never after it expired', async () => {
    const p = await store.providers.add(provider('p'))
    await store.loginFlows.create('flow-1', p.id, { provider: 'p', state: 'st', next: '/x' }, 60_000)
    const results = await Promise.all([store.loginFlows.consume('flow-1'), store.loginFlows.consume('flow-1'), store.loginFlows.consume('flow-1')])
    expect(results.filter(Boolean)).toEqual([{ provider: 'p', state: 'st', next: '/x' }])
    expect(await store.loginFlows.consume('flow-1')).toBeNull()
    await store.loginFlows.create('flow-2', p.id, { provider: 'p', next: '/' }, 1)
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(await store.loginFlows.consume('flow-2')).toBeNull()
    await store.loginFlows.create('flow-3', p.id, { provider: 'p', next: '/' }, 1)
    await new Promise((resolve) => setTimeout(resolve, 5))
    expect(await store.loginFlows.removeExpired()).toBe(1)
  })

  it('re-encrypts every secret with a new first key in one transaction', async () => {
    const p = await store.providers.add(provider('p'))
    const user = await store.users.create(null)
    await store.accounts.create({ providerId: p.id, identifier: '1', userId: user.id, displayName: null, ...tokens })
    await store.loginFlows.create('flow', p.id, { provider: 'p', state: 'state-FINDME', next: '/' }, 60_000)
    const [newKey] = parseKeys(generateKey())
    const both = storeOn(store.db, new SecretBox([newKey, ...keys]))
    expect(await rotateKeys(both.db, both.box)).toBe(2 + 4 + 1)
    expect(await rotateKeys(both.db, both.box)).toBe(0)
    const onlyNew = storeOn(store.db, new SecretBox([newKey]))
    expect((await onlyNew.providers.get('p'))?.clientSecret).toBe('client-secret-FINDME-1')
    expect((await onlyNew.accounts.findForUser(user.id, 'p'))?.refreshToken).toBe('refresh-token-FINDME-4')
    expect((await onlyNew.loginFlows.consume('flow'))?.state).toBe('state-FINDME')
  })

  it('leaves every value as it was when one cannot be decrypted during rotation', async () => {
    await store.providers.add(provider('p'))
    const user = await store.users.create(null)
    const p = await store.providers.get('p')
    await store.accounts.create({ providerId: p!.id, identifier: '1', userId: user.id, displayName: null, ...tokens })
    await store.db('accounts').update({ id_token: 'aa1.zzzzzzzz.AAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAAAAAAAA' })
    const before = await store.db('providers').first()
    const [newKey] = parseKeys(generateKey())
    await expect(rotateKeys(store.db, new SecretBox([newKey, ...keys]))).rejects.toThrow(/accounts\.id_token: encrypted with unknown key id zzzzzzzz/)
    expect(await store.db('providers').first()).toEqual(before)
  })

  it('holds no secret in clear in a raw dump of the database', async () => {
    const p = await store.providers.add(provider('p'))
    const user = await store.users.create('Dumped User')
    await store.accounts.create({ providerId: p.id, identifier: '1', userId: user.id, displayName: null, ...tokens })
    await store.sessions.create('session-id-FINDME-6', { userId: user.id, createdAt: 1, idleExpiresAt: Date.now() + 1e6, absoluteExpiresAt: Date.now() + 1e6 })
    await store.loginFlows.create('flow-id-FINDME-7', p.id, { provider: 'p', state: 'state-FINDME-8', codeVerifier: 'verifier-FINDME-9', next: '/' }, 60_000)
    let dump = ''
    if (database.kind === 'sqlite') {
      const location = parseDatabaseUrl(url).location
      for (const file of readdirSync(dirname(location))) dump += readFileSync(`${dirname(location)}/${file}`).toString('latin1')
    } else {
      for (const table of ['providers', 'users', 'accounts', 'sessions', 'login_flows']) {
        dump += JSON.stringify((await store.db.raw(`SELECT t::text AS row FROM ${table} t`)).rows)
      }
    }
    expect(dump).toContain('Dumped User')
    expect(dump).not.toContain('FINDME')
  })
})
