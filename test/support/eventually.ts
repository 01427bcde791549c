import { DEFAULT_CACHE_MS } from '../../server/store/index.ts'

/** Waits until instances no longer answer from memory what was read before a write made behind their back. */
export function cacheLapse(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, DEFAULT_CACHE_MS + 50))
}

/**
 * Asks `read` until `done` accepts its answer or `ms` have passed, and returns the last answer: for
 * what the contract says every instance sees "within 1 s".
 */
export async function within<T>(ms: number, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await read()
    if (done(value) || Date.now() >= deadline) return value
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}
