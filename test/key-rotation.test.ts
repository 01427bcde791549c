import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createAllAccess } from '../server/all-access.ts'
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { generateKey, parseKeys, rootKey } from '../server/crypto/keys.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'
import { KeyError } from '../server/crypto/keys.ts'
import { openStore, parseDatabaseUrl } from '../server/store/index.ts'
import { rotateKeys, unreadableSecrets } from '../server/store/key-rotation.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { startServe } from './support/demo-server.ts'
import { startEchoUpstream } from './support/echo-upstream.ts'
import { session } from './support/login.ts'
import { signedIn } from './support/signed-in.ts'
import { scratchFolder } from './support/scratch-folder.ts'

const CSRF = { 'X-CSRF': '1' }

/** Runs the real command from dist/, as an operator would in production. */
function cli(args: string[], env: Record<string, string>, cwd: string) {
  const result = spawnSync(process.execPath, [resolve('bin/all-access.js'), ...args], {
    cwd,
    env: { ...process.env, NODE_ENV: 'production', PUBLIC_URL: 'https://app.example', ...env },
    encoding: 'utf8',
  })
  return { code: result.status, stdout: result.stdout, stderr: result.stderr }
}

describe.each(databases)('key rotation on $kind', (database) => {
  let url: string
  let drop: () => Promise<void>
  let upstream: Awaited<ReturnType<typeof startEchoUpstream>>
  const running: TestBff[] = []
  const oldKey = generateKey()
  const newKey = generateKey()

  async function bffWith(keys: string): Promise<TestBff> {
    const bff = await startBff(url, { keys })
    running.push(bff)
    return bff
  }

  beforeEach(async () => {
    ;({ url, drop } = await database.create())
    upstream = await startEchoUpstream()
  })

  afterEach(async () => {
    for (const bff of running.splice(0)) await bff.close()
    await upstream.close()
    await drop()
  })

  it('signs nobody out: new,old then keys rotate then new alone keeps the session and its tokens', async () => {
    const before = await bffWith(oldKey)
    await before.addProvider('echo', { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', apiBaseUrl: `${upstream.url}/v1`, clientId: 'a', clientSecret: 'b' })
    const { browser } = await signedIn(before, 'echo', { accessToken: 'token-before-rotation' })
    expect((await session(browser, before.url)).authenticated).toBe(true)
    await before.close()
    running.splice(running.indexOf(before), 1)

    const both = await bffWith(`${newKey},${oldKey}`)
    expect(await rotateKeys(both.store.db, both.store.box)).toBeGreaterThan(0)
    expect((await session(browser, both.url)).authenticated).toBe(true)
    await both.close()
    running.splice(running.indexOf(both), 1)

    const after = await bffWith(newKey)
    // The browser's cookie names localhost, whatever the port: the same browser comes back.
    const info = await session(browser, after.url)
    expect(info.authenticated).toBe(true)
    const proxied = await browser.fetch(new URL('/api/echo/me', after.url), { headers: CSRF })
    expect(proxied.status).toBe(200)
    expect(upstream.received.at(-1)?.headers.authorization).toBe('Bearer token-before-rotation')
  })

  it('refuses to start with keys that lack a key id stored secrets use, naming it', async () => {
    const first = await bffWith(oldKey)
    await first.addProvider('echo', { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', clientId: 'a', clientSecret: 'b' })
    const [oldId] = parseKeys(oldKey).map((key) => key.id)
    const newId = parseKeys(newKey)[0].id
    const error = await createAllAccess({ publicUrl: 'http://localhost:1', databaseUrl: url, keys: parseKeys(newKey), log: { info: () => {}, error: () => {} } }).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(KeyError)
    expect((error as Error).message).toBe(
      `ALLACCESS_KEYS lacks key id ${oldId} used by stored secrets (the ids of its keys: ${newId}): add the key with that id, or use the same ALLACCESS_KEYS as the process that stored them`,
    )
    // With the old key listed after the new one it starts.
    const both = await createAllAccess({ publicUrl: 'http://localhost:1', store: openStore({ databaseUrl: url, keys: parseKeys(`${newKey},${oldKey}`) }), log: { info: () => {}, error: () => {} } })
    await both.store.close()
  })
})

describe('all-access serve with keys that lack a stored key id', () => {
  it('stops at start with one line naming the missing key id', async () => {
    const [database] = databases
    const { url, drop } = await database.create()
    const oldKey = generateKey()
    const store = openStore({ databaseUrl: url, keys: parseKeys(oldKey) })
    try {
      const bff = await startBff(url, { keys: oldKey })
      await bff.addProvider('echo', { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', clientId: 'a', clientSecret: 'b' })
      await bff.close()
      const failure = await startServe({ databaseUrl: url, keys: generateKey() }).catch((e: Error) => e)
      expect(failure).toBeInstanceOf(Error)
      const lines = (failure as Error).message.split('\n').filter(Boolean)
      expect(lines[0]).toBe('serve exited with 2:')
      expect(lines.slice(1)).toEqual([expect.stringMatching(new RegExp(`^all-access: ALLACCESS_KEYS lacks key id ${parseKeys(oldKey)[0].id} used by stored secrets`))])
    } finally {
      await store.close()
      await drop()
    }
  })
})

describe.each(databases)('a login flow stored under a key since dropped, on $kind', (database) => {
  it('keeps serve and keys rotate from starting only while it can still be used: once past its time it is no one\'s', async () => {
    const { url, drop } = await database.create()
    const oldKey = generateKey()
    const newKey = generateKey()
    const bff = await startBff(url, { keys: newKey })
    await bff.addProvider('echo', { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', clientId: 'a', clientSecret: 'b' })
    await bff.close()
    // An instance still started with the old key first began these logins, then the old key was dropped.
    const old = openStore({ databaseUrl: url, keys: parseKeys(oldKey) })
    const fresh = openStore({ databaseUrl: url, keys: parseKeys(newKey) })
    try {
      const provider = (await old.db('providers').where({ name: 'echo' }).first('id')) as { id: number }
      await old.loginFlows.create('abandoned', provider.id, { provider: 'echo', next: '/', state: 'state-1' }, -1)
      const started = await startServe({ databaseUrl: url, keys: newKey })
      expect(await fetch(new URL('/auth/providers', started.url)).then((r) => r.status)).toBe(200)
      await started.stop()
      await rotateKeys(fresh.db, fresh.box)
      expect(Number((await fresh.db('login_flows').count({ n: '*' }).first())?.n)).toBe(0)

      // One that a callback could still take is needed: without its key, serve stops and says which.
      await old.loginFlows.create('pending', provider.id, { provider: 'echo', next: '/', state: 'state-2' }, 60_000)
      const failure = await startServe({ databaseUrl: url, keys: newKey }).catch((e: Error) => e)
      expect(failure).toBeInstanceOf(Error)
      expect((failure as Error).message).toMatch(new RegExp(`ALLACCESS_KEYS lacks key id ${parseKeys(oldKey)[0].id} used by stored secrets`))
      await expect(rotateKeys(fresh.db, fresh.box)).rejects.toThrow()
    } finally {
      await old.close()
      await fresh.close()
      await drop()
    }
  })
})

describe.each(databases)('a first key of ALLACCESS_KEYS that is not random, on $kind', (database) => {
  /** A key as people make one by hand: a phrase of exactly 32 characters, base64-encoded. */
  const phraseKey = Buffer.from('correct horse battery staple 123').toString('base64')
  const zeroKey = Buffer.alloc(32).toString('base64')

  it('is refused by serve and by commands that write secrets, which write nothing; kept after a random key it is rotated away', async () => {
    const { url, drop } = await database.create()
    const cwd = scratchFolder('aa-weak-key-')
    try {
      expect(cli(['migrate'], { DATABASE_URL: url, ALLACCESS_KEYS: generateKey() }, cwd).code).toBe(0)
      for (const weak of [phraseKey, zeroKey]) {
        const added = cli(['providers', 'add', 'github', '--preset', 'github', '--client-id', 'id', '--client-secret', 'secret'], { DATABASE_URL: url, ALLACCESS_KEYS: weak }, cwd)
        expect(added).toEqual({ code: 2, stdout: '', stderr: expect.stringMatching(/^all-access: ALLACCESS_KEYS entry 1 is not random bytes .*keys rotate\n$/) })
        const failure = await startServe({ databaseUrl: url, keys: weak }).catch((e: Error) => e)
        expect(failure).toBeInstanceOf(Error)
        expect((failure as Error).message).toMatch(/ALLACCESS_KEYS entry 1 is not random bytes/)
      }
      const listed = cli(['providers', 'list', '--json'], { DATABASE_URL: url, ALLACCESS_KEYS: generateKey() }, cwd)
      expect(JSON.parse(listed.stdout).providers).toEqual([])

      // Secrets a deployment stored under a phrase key before it was refused: a random key first,
      // the phrase key after it, and keys rotate moves every value off it.
      const old = openStore({ databaseUrl: url, keys: [rootKey(Buffer.from(phraseKey, 'base64'))], cwd })
      try {
        await old.providers.add(buildProviderConfig('github', { preset: 'github', clientId: 'id', clientSecret: 'secret' }))
      } finally {
        await old.close()
      }
      const strong = generateKey()
      const rotated = cli(['keys', 'rotate'], { DATABASE_URL: url, ALLACCESS_KEYS: `${strong},${phraseKey}` }, cwd)
      expect([rotated.code, rotated.stdout]).toEqual([0, `re-encrypted 2 values with key ${parseKeys(strong)[0].id}\n`])
      const after = openStore({ databaseUrl: url, keys: parseKeys(strong), cwd })
      try {
        expect(await after.providers.get('github')).toMatchObject({ clientId: 'id', clientSecret: 'secret' })
      } finally {
        await after.close()
      }
    } finally {
      await drop()
    }
  })
})

describe.each(databases)('a secret written in clear into an encrypted column, on $kind', (database) => {
  it('is named by its column, never quoted, when serve refuses to start and when providers list warns', async () => {
    const { url, drop } = await database.create()
    const cwd = scratchFolder('aa-clear-secret-')
    const key = generateKey()
    // What an operator "fixing" a provider by hand writes: the secret itself.
    const secret = 'GOCSPX-kq81Zr2xWm6tNv0bY3pLhs'
    try {
      expect(cli(['migrate'], { DATABASE_URL: url, ALLACCESS_KEYS: key }, cwd).code).toBe(0)
      expect(cli(['providers', 'add', 'google', '--preset', 'google', '--client-id', 'id', '--client-secret', 'old'], { DATABASE_URL: url, ALLACCESS_KEYS: key }, cwd).code).toBe(0)
      const store = openStore({ databaseUrl: url, keys: parseKeys(key), cwd })
      try {
        await store.db('providers').where({ name: 'google' }).update({ client_secret: secret })
      } finally {
        await store.close()
      }
      /** Whether `text` holds 5 or more characters of the secret in a row. */
      const quotes = (text: string) => Array.from({ length: secret.length - 4 }, (_, i) => secret.slice(i, i + 5)).some((part) => text.includes(part))

      const failure = await startServe({ databaseUrl: url, keys: key }).catch((e: Error) => e)
      expect(failure).toBeInstanceOf(Error)
      const lines = (failure as Error).message.split('\n').filter(Boolean)
      expect(lines.slice(1)).toEqual([expect.stringMatching(/^all-access: stored secrets in providers\.client_secret are not all-access encrypted values/)])
      expect(quotes((failure as Error).message)).toBe(false)

      const listed = cli(['providers', 'list'], { DATABASE_URL: url, ALLACCESS_KEYS: key }, cwd)
      expect(listed.code).toBe(0)
      expect(listed.stderr).toMatch(/^all-access: stored secrets in providers\.client_secret are not all-access encrypted values/)
      expect(quotes(listed.stdout + listed.stderr)).toBe(false)
    } finally {
      await drop()
    }
  })
})

describe.each(databases)('keys rotate killed mid-way, on $kind', (database) => {
  const ACCOUNTS = 6000
  const TOKENS = ['access_token', 'token_secret', 'refresh_token', 'id_token'] as const

  it('leaves every value readable with both keys, and run again moves every one to the new key', async () => {
    const { url, drop } = await database.create()
    const cwd = scratchFolder('aa-killed-rotation-')
    const [oldKey, newKey] = [generateKey(), generateKey()]
    const [oldId, newId] = [parseKeys(oldKey)[0].id, parseKeys(newKey)[0].id]
    const old = openStore({ databaseUrl: url, keys: parseKeys(oldKey), cwd })
    const both = openStore({ databaseUrl: url, keys: parseKeys(`${newKey},${oldKey}`), cwd })
    try {
      expect(cli(['migrate'], { DATABASE_URL: url, ALLACCESS_KEYS: oldKey }, cwd).code).toBe(0)
      const provider = await old.providers.add(buildProviderConfig('echo', { authorizationUrl: 'https://idp.example/a', accessTokenUrl: 'https://idp.example/t', profileUrl: 'https://idp.example/me', clientId: 'a', clientSecret: 'b' }))
      const user = await old.users.create('Many Accounts')
      const now = Date.now()
      const rows = Array.from({ length: ACCOUNTS }, (_, i) => ({
        provider_id: provider.id,
        identifier: `user-${i}`,
        user_id: user.id,
        ...Object.fromEntries(TOKENS.map((column) => [column, old.box.encrypt(`accounts.${column}`, `${column}-${i}`)])),
        status: 'active',
        created_at: now,
        updated_at: now,
      }))
      await old.db.batchInsert('accounts', rows, 250)
      const underNewKey = async () => Number((await both.db('accounts').whereRaw('substr(access_token, 5, 8) = ?', [newId]).count({ n: '*' }).first())?.n)

      const rotation = spawn(process.execPath, [resolve('bin/all-access.js'), 'keys', 'rotate'], {
        cwd,
        env: { ...process.env, NODE_ENV: 'production', PUBLIC_URL: 'https://app.example', DATABASE_URL: url, ALLACCESS_KEYS: `${newKey},${oldKey}` },
        stdio: 'ignore',
      })
      const ended = new Promise<NodeJS.Signals | null>((done) => rotation.once('exit', (_code, signal) => done(signal)))
      // Killed once some batches are committed and before the last is.
      while ((await underNewKey()) === 0) await new Promise((done) => setTimeout(done, 5))
      rotation.kill('SIGKILL')
      expect(await ended).toBe('SIGKILL')
      const moved = await underNewKey()
      expect(moved).toBeGreaterThan(0)
      expect(moved).toBeLessThan(ACCOUNTS)

      // Every value reads, whichever key it is under.
      const read = async () => {
        const stored = await both.db('accounts').select('id', 'identifier', ...TOKENS).orderBy('id')
        return stored.map((row) => TOKENS.map((column) => both.box.decrypt(`accounts.${column}`, row[column])).join(' ') === TOKENS.map((column) => `${column}-${row.identifier.slice(5)}`).join(' '))
      }
      expect(new Set(await read())).toEqual(new Set([true]))

      // The provider's two values went first, in the batches the kill left whole.
      const again = cli(['keys', 'rotate'], { DATABASE_URL: url, ALLACCESS_KEYS: `${newKey},${oldKey}` }, cwd)
      expect([again.code, again.stdout]).toEqual([0, `re-encrypted ${(ACCOUNTS - moved) * TOKENS.length} values with key ${newId}\n`])
      expect(await underNewKey()).toBe(ACCOUNTS)
      expect(new Set(await read())).toEqual(new Set([true]))
      // Nothing left under the old key: the new key alone reads all.
      const newOnly = openStore({ databaseUrl: url, keys: parseKeys(newKey), cwd })
      try {
        expect(await unreadableSecrets(newOnly.db, newOnly.box)).toEqual({ missing: [], clear: [] })
      } finally {
        await newOnly.close()
      }
      if (database.kind === 'sqlite') {
        // Nor does the file: the killed run left its rewritten values' old copies in free pages and the log.
        const folder = dirname(parseDatabaseUrl(url).location)
        const bytes = readdirSync(folder).map((file) => readFileSync(join(folder, file)).toString('latin1')).join('\n')
        expect([bytes.includes(`aa1.${newId}.`), bytes.includes(`aa1.${oldId}.`)]).toEqual([true, false])
      }
    } finally {
      await old.close()
      await both.close()
      await drop()
    }
  }, 120_000)
})
