import { hashId } from '../crypto/random.ts'

/** How long a cookie id's hash is kept after the id was last seen: one to two of these. */
export const ID_HASH_MEMORY_MS = 60_000
/** How many ids one generation holds at most; past this it turns early. */
const GENERATION_LIMIT = 10_000

/**
 * The hash of each session cookie id seen lately: a browser sends the same id with every call, and
 * hashing it each time was a tenth of a session read. Kept in two generations that turn every
 * {@link ID_HASH_MEMORY_MS}: an id seen again moves to the newer one, and an id not seen for two turns
 * (a session that ended, a browser gone) is let go, rather than kept among thousands until a bound is
 * reached. Only the database must never hold the ids; memory holds them while they are in use.
 */
export class SessionIdHashes {
  private recent = new Map<string, string>()
  private older = new Map<string, string>()
  private turnsAt = 0

  constructor(private readonly hash: (id: string) => string = hashId) {}

  of(id: string, now = Date.now()): string {
    if (now >= this.turnsAt || this.recent.size >= GENERATION_LIMIT) {
      this.older = this.recent
      this.recent = new Map()
      this.turnsAt = now + ID_HASH_MEMORY_MS
    }
    let idHash = this.recent.get(id)
    if (idHash === undefined) {
      idHash = this.older.get(id) ?? this.hash(id)
      // A copy: the id read from the Cookie header is a slice of it, and as a key it would keep the
      // whole header (up to 16 KB) for as long as the id is remembered.
      this.recent.set(Buffer.from(id).toString(), idHash)
    }
    return idHash
  }

  /** How many ids are remembered, in both generations. */
  get size(): number {
    return this.recent.size + this.older.size
  }
}
