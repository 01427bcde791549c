import type { Knex } from 'knex'

/**
 * Recent reads kept in memory for at most `ttlMs`. Writes made through this process forget what
 * they change at once; writes by other processes (another instance, the CLI) are seen within
 * `ttlMs`, which is how every instance honours a logout, a revoked session or a changed provider
 * within the contract's second. Concurrent misses for one key share one read. `ttlMs` 0 reads
 * through every time.
 */
export class ReadCache<V> {
  private readonly entries = new Map<string, { value: Promise<V>; until: number }>()

  constructor(
    readonly ttlMs: number,
    private readonly maxEntries = 50_000,
  ) {}

  // The monotonic clock: the wall clock stepped back (an NTP correction) would keep entries, a
  // revoked session among them, for as long as the step.
  read(key: string, load: () => Promise<V>, now = performance.now()): Promise<V> {
    if (this.ttlMs <= 0) return load()
    const cached = this.entries.get(key)
    if (cached && cached.until > now) return cached.value
    const value = load()
    const entry = { value, until: now + this.ttlMs }
    this.put(key, entry, now)
    value.catch(() => {
      if (this.entries.get(key) === entry) this.entries.delete(key)
    })
    return value
  }

  /** Replaces a key's value, as a write of this process just made it. */
  set(key: string, value: V, now = performance.now()): void {
    if (this.ttlMs > 0) this.put(key, { value: Promise.resolve(value), until: now + this.ttlMs }, now)
  }

  /** How many entries are kept, those whose time is over but not yet let go included. */
  get size(): number {
    return this.entries.size
  }

  /**
   * Keeps the entries in the order their time ends, the key taken out and put back last, so that
   * those whose time is over are let go from the front as new ones come: a session, an account
   * with its decrypted tokens, read once and never again, is not kept until the bound pushes it out.
   */
  private put(key: string, entry: { value: Promise<V>; until: number }, now: number): void {
    for (const [oldest, { until }] of this.entries) {
      if (until > now) break
      this.entries.delete(oldest)
    }
    this.entries.delete(key)
    this.entries.set(key, entry)
    // The oldest entry goes first: a flood of keys cannot grow memory past the bound.
    if (this.entries.size > this.maxEntries) this.entries.delete(this.entries.keys().next().value as string)
  }

  forget(key: string): void {
    this.entries.delete(key)
  }

  clear(): void {
    this.entries.clear()
  }
}

/** Runs `then` once the transaction `trx` has ended, committed or not (at once outside one). */
export function afterTransaction(trx: Knex, then: () => void): void {
  const ended = (trx as Knex.Transaction).executionPromise
  if (ended) void ended.then(then, then)
  else then()
}

/** How long instances may answer from memory: well inside the contract's one second. */
export const DEFAULT_CACHE_MS = 750

/** The reads every request makes, cached once per store and shared by its repositories. */
export interface StoreCaches {
  providers: ReadCache<unknown>
  sessions: ReadCache<unknown>
  accounts: ReadCache<unknown>
  users: ReadCache<unknown>
}

export function storeCaches(ttlMs: number): StoreCaches {
  return { providers: new ReadCache(ttlMs), sessions: new ReadCache(ttlMs), accounts: new ReadCache(ttlMs), users: new ReadCache(ttlMs) }
}
