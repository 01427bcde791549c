import { describe, expect, it, vi } from 'vitest'
import { ReadCache } from '../server/store/read-cache.ts'

describe('the read cache', () => {
  it('lets go of entries once their time is over: a flood of keys read once over a long time keeps only those of the last ttl', async () => {
    const cache = new ReadCache<string>(100)
    for (let t = 0; t < 10_000; t++) await cache.read(`session-${t}`, async () => `value-${t}`, t)
    // The keys read in the last 100 ms (9,900 to 9,999), not every key read since the start.
    expect(cache.size).toBe(100)
  })

  it('keeps an entry read again, or set, where its new end puts it, so that entries whose time is over ahead of it go', async () => {
    const cache = new ReadCache<string>(100)
    const loads: string[] = []
    const load = (value: string) => async () => (loads.push(value), value)
    await cache.read('a', load('a1'), 0)
    await cache.read('b', load('b1'), 50)
    // `a`'s time is over at 100: read again at 120, it ends at 220, after `b` (150).
    await cache.read('a', load('a2'), 120)
    cache.set('c', 'c1', 130)
    await cache.read('d', load('d1'), 160)
    // `b` went at 160; `a` (220), `c` (230) and `d` (260) stay, and `a` is answered from memory.
    expect(cache.size).toBe(3)
    expect(await cache.read('a', load('a3'), 170)).toBe('a2')
    expect(await cache.read('c', load('c2'), 170)).toBe('c1')
    expect(loads).toEqual(['a1', 'b1', 'a2', 'd1'])
  })

  it('shares one read among concurrent misses of a key, and forgets a read that failed', async () => {
    const cache = new ReadCache<string>(100)
    let loads = 0
    const load = async () => {
      loads++
      throw new Error('database away')
    }
    const [first, second] = [cache.read('k', load, 0), cache.read('k', load, 1)]
    await expect(first).rejects.toThrow('database away')
    await expect(second).rejects.toThrow('database away')
    expect([loads, cache.size]).toEqual([1, 0])
  })

  it('keeps no more than its bound, the oldest going first', async () => {
    const cache = new ReadCache<string>(60_000, 3)
    for (const key of ['a', 'b', 'c', 'd']) await cache.read(key, async () => key, 0)
    expect(cache.size).toBe(3)
    let reloaded = false
    await cache.read('a', async () => ((reloaded = true), 'a'), 1)
    expect(reloaded).toBe(true)
  })

  it("ends an entry's time by the time that passed, not by the wall clock: stepped back a minute (an NTP correction), it does not keep a revoked session for that minute", async () => {
    const cache = new ReadCache<string>(100)
    expect(await cache.read('session', async () => 'active')).toBe('active')
    vi.useFakeTimers({ toFake: ['Date'] })
    try {
      vi.setSystemTime(Date.now() - 60_000)
      await new Promise((resolve) => setTimeout(resolve, 150))
      expect(await cache.read('session', async () => 'revoked')).toBe('revoked')
    } finally {
      vi.useRealTimers()
    }
  })
})
