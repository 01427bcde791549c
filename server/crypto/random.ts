import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

/** 256 bits of randomness, URL-safe: state values, session and flow ids. */
export function randomToken(bytes = 32): string {
  return randomBytes(bytes).toString('base64url')
}

/** Ids are stored hashed, so a database dump cannot be replayed as a cookie. */
export function hashId(id: string): string {
  return createHash('sha256').update(id).digest('hex')
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a)
  const right = Buffer.from(b)
  // Lengths are not secret (state has a fixed length), but timingSafeEqual needs equal lengths.
  return left.length === right.length && timingSafeEqual(left, right)
}
