import { DEFAULT_CACHE_MS } from '../../server/store/index.ts'

/** Waits until instances no longer answer from memory what was read before a write made behind their back. */
export function cacheLapse(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, DEFAULT_CACHE_MS + 50))
}

/**
 * Asks `read` until `done` accepts its answer or `ms` have passed, and returns the last answer: for
 * what the contract says every instance sees "within 1 s". Past the deadline the answer returned is
 * that of a read begun after it: one begun before it may rightly answer from memory, and how long it
 * then takes to come back (a loaded machine, a busy instance) is no part of the contract. Judging it
 * had left a read begun at 750 ms less than 250 ms to come back.
 */
export async function within<T>(ms: number, read: () => Promise<T>, done: (value: T) => boolean): Promise<T> {
  const deadline = Date.now() + ms
  for (;;) {
    const late = Date.now() >= deadline
    const value = await read()
    if (done(value) || late) return value
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, Math.min(50, deadline - Date.now()))))
  }
}
