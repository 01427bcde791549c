import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { hashId, randomToken } from '../server/crypto/random.ts'
import { DEFAULT_CACHE_MS, migrate, openStore, type Store } from '../server/store/index.ts'
import { databases } from './support/databases.ts'

/**
 * Two stores on one database, each with its own read cache, as two instances behind a load
 * balancer: what one remembers of a session must not outvote what the other wrote since.
 */
describe.each(databases)('a session read on two instances on $kind', (database) => {
  let drop: () => Promise<void>
  let a: Store
  let b: Store

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    const keys = parseKeys(generateKey())
    a = openStore({ databaseUrl: created.url, keys, cacheMs: DEFAULT_CACHE_MS })
    b = openStore({ databaseUrl: created.url, keys, cacheMs: DEFAULT_CACHE_MS })
    await migrate(a.db)
  })

  afterAll(async () => {
    await a?.close()
    await b?.close()
    await drop?.()
  })

  it('is live on B once A slid it on, though B remembers it with the idle end it had before: no sign-out of a live session', async () => {
    const user = await a.users.create('Alice')
    const idHash = hashId(randomToken())
    const start = Date.now()
    const idleEnd = start + 60_000
    await a.sessions.create(idHash, { userId: user.id, createdAt: start, idleExpiresAt: idleEnd, absoluteExpiresAt: start + 3_600_000 })
    // B reads it (a poll that does not slide): B now remembers the idle end for its 750 ms.
    expect((await b.sessions.find(idHash))?.idleExpiresAt).toBe(idleEnd)
    // The user, on A, slides it on.
    await a.sessions.extend(idHash, idleEnd + 600_000)
    // B, asked past the old idle end (the `now` it is read at), still within what it remembers.
    const seen = await b.sessions.find(idHash, idleEnd + 1)
    expect(seen?.idleExpiresAt).toBe(idleEnd + 600_000)
  })

  it('is ended on B once its end has passed there too: the read again finds it so', async () => {
    const user = await a.users.create('Bob')
    const idHash = hashId(randomToken())
    const start = Date.now()
    await a.sessions.create(idHash, { userId: user.id, createdAt: start, idleExpiresAt: start + 60_000, absoluteExpiresAt: start + 3_600_000 })
    expect(await b.sessions.find(idHash)).not.toBeNull()
    expect(await b.sessions.find(idHash, start + 60_001)).toBeNull()
  })
})
