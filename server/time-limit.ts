/** The longest delay Node's timers take (about 24.8 days): a longer one fires at once. */
export const LONGEST_TIMER_MS = 2 ** 31 - 1

/** `promise`, or a rejection once `ms` have passed: for checks that must answer while the database hangs. */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}
