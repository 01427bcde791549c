import crypto, { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/**
 * Bytes from the CSPRNG, taken from a pool filled 4 KiB at a time: a login needs a dozen random
 * values (state, verifier, nonce, ids, IVs), and one system call each showed in its profile.
 * Each byte is handed out once.
 */
const POOL_SIZE = 4096
let pool = randomBytes(POOL_SIZE)
let offset = 0

export function secureRandom(size: number): Buffer {
  if (size > POOL_SIZE) return randomBytes(size)
  if (offset + size > POOL_SIZE) {
    pool = randomBytes(POOL_SIZE)
    offset = 0
  }
  const bytes = Buffer.from(pool.subarray(offset, offset + size))
  pool.fill(0, offset, offset + size)
  offset += size
  return bytes
}

/** 256 bits of randomness, URL-safe: state values, session and flow ids. */
export function randomToken(bytes = 32): string {
  return secureRandom(bytes).toString('base64url')
}

/**
 * Ids are stored hashed, so a database dump cannot be replayed as a cookie. Every request hashes its
 * session id: the one-shot `crypto.hash` (Node 20.12 and later) costs a quarter of a `createHash`.
 */
export const hashId: (id: string) => string =
  typeof crypto.hash === 'function' ? (id) => crypto.hash('sha256', id, 'hex') : (id) => createHash('sha256').update(id).digest('hex')

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  // Lengths are not secret (state has a fixed length), but timingSafeEqual needs equal lengths.
  return left.length === right.length && timingSafeEqual(left, right)
}
