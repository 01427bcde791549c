import { randomBytes } from 'node:crypto'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { describe, expect, it } from 'vitest'
import { hashId } from '../server/crypto/random.ts'
import { cookieValue, SESSION_COOKIE } from '../server/session/cookies.ts'
import { ID_HASH_MEMORY_MS, SessionIdHashes } from '../server/session/id-hashes.ts'

describe("the session cookie ids' hashes kept in memory", () => {
  const counted = () => {
    const hashed: string[] = []
    const hashes = new SessionIdHashes((id) => (hashed.push(id), hashId(id)))
    return { hashes, hashed }
  }

  it('hashes an id once while it keeps being seen, and gives the same hash as hashing it', () => {
    const { hashes, hashed } = counted()
    // Seen every 40 s for ten minutes: each turn finds it in the newer generation or the older one.
    for (let t = 0; t < 10 * 60_000; t += 40_000) expect(hashes.of('cookie-id', t)).toBe(hashId('cookie-id'))
    expect(hashed).toEqual(['cookie-id'])
  })

  it('lets go of an id not seen for two turns (a session that ended), and of the many ids of sessions long gone', () => {
    const { hashes, hashed } = counted()
    for (let i = 0; i < 5_000; i++) hashes.of(`old-${i}`, i)
    hashes.of('live', 0)
    hashes.of('live', ID_HASH_MEMORY_MS)
    hashes.of('live', 2 * ID_HASH_MEMORY_MS)
    // Only the id still in use (in both generations), and a forgotten one is hashed again when it comes back.
    expect(hashes.size).toBe(2)
    hashes.of('old-1', 2 * ID_HASH_MEMORY_MS)
    expect(hashed.filter((id) => id === 'old-1')).toHaveLength(2)
  })

  it('turns early when a generation is full, so that a flood of ids in a minute keeps at most two generations', () => {
    const { hashes } = counted()
    for (let i = 0; i < 50_000; i++) hashes.of(`flood-${i}`, 0)
    expect(hashes.size).toBeLessThanOrEqual(20_000)
  })

  it("keeps an id's 43 characters, not the Cookie header it was read from: a flood of ids in padded headers holds no megabytes", () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const hashes = new SessionIdHashes()
    // What a browser (or a flood of made-up ids) sends: the id among other cookies, up to Node's 16 KB of headers.
    const idIn = (padding: string) => cookieValue(`${padding}; ${SESSION_COOKIE}=${randomBytes(32).toString('base64url')}`, SESSION_COOKIE)!
    gc()
    const before = process.memoryUsage().heapUsed
    for (let i = 0; i < 2_000; i++) hashes.of(idIn(`pad=${i}${'x'.repeat(16_000)}`), 0)
    gc()
    const kept = process.memoryUsage().heapUsed - before
    expect(hashes.size).toBe(2_000)
    // 2,000 ids and their hashes take well under a megabyte; the headers around them, 32 MB.
    expect(kept).toBeLessThan(4_000_000)
  })
})
