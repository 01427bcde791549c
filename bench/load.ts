// The load generator, in a process of its own so it never shares a CPU budget with a server under
// test. The bench sends it one job at a time over IPC and reads the server's CPU time around it.
import autocannon from 'autocannon'
import { signIn } from './login-flow.ts'

export interface HttpJob {
  kind: 'http'
  url: string
  headers: Record<string, string>
  connections: number
  seconds: number
}

export interface LoginJob {
  kind: 'logins'
  bffUrl: string
  provider: string
  concurrency: number
  seconds: number
  /** returning: each loop signs the same user in again and again; new: a user never seen before each time. */
  users: 'returning' | 'new'
}

export type Job = HttpJob | LoginJob

export interface LoadResult {
  /** Calls that succeeded: 2xx answers, or logins that ended back in the app. */
  ok: number
  /** Calls that did not: other answers, network errors and timeouts, failed logins. */
  failed: number
  /** Calls the server answered, whatever the answer: what its CPU time is divided by. */
  answered: number
  firstError?: string
  seconds: number
  /** Milliseconds per call (per whole login for a login job). */
  p50: number
  p99: number
}

const MAX_LOGINS_PER_LOOP = 100_000
let freshUser = 0

function percentile(sorted: Float64Array, q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : NaN
}

function latencies(times: number[]) {
  const sorted = Float64Array.from(times).sort()
  return { p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) }
}

async function http(job: HttpJob): Promise<LoadResult> {
  // autocannon's own histogram has 1 ms steps: keep every response time for sub-millisecond percentiles.
  const times: number[] = []
  let failedStatus = 0
  let firstStatus: number | undefined
  const result = await new Promise<autocannon.Result>((resolve, reject) => {
    const options = { url: job.url, headers: job.headers, connections: job.connections, duration: job.seconds, timeout: 10 }
    const run = autocannon(options, (error, done) => (error ? reject(error) : resolve(done)))
    run.on('response', (_client, statusCode, _bytes, responseTime) => {
      times.push(responseTime)
      if (statusCode < 200 || statusCode > 299) {
        failedStatus++
        firstStatus ??= statusCode
      }
    })
  })
  const errors = result.errors + result.timeouts
  return {
    ok: times.length - failedStatus,
    failed: failedStatus + errors,
    answered: times.length,
    firstError: firstStatus !== undefined ? `answered ${firstStatus}` : errors ? `${errors} network errors or timeouts` : undefined,
    seconds: (result.finish.getTime() - result.start.getTime()) / 1000,
    ...latencies(times),
  }
}

async function logins(job: LoginJob): Promise<LoadResult> {
  const times: number[] = []
  let failed = 0
  let firstError: string | undefined
  const started = performance.now()
  const deadline = started + job.seconds * 1000
  await Promise.all(
    Array.from({ length: job.concurrency }, async (_, loop) => {
      for (let n = 0; n < MAX_LOGINS_PER_LOOP && performance.now() < deadline; n++) {
        const user = job.users === 'returning' ? `returning-${loop}` : `new-${process.pid}-${freshUser++}`
        const begun = performance.now()
        try {
          await signIn(job.bffUrl, job.provider, user)
          times.push(performance.now() - begun)
        } catch (error) {
          failed++
          firstError ??= (error as Error).message
        }
      }
    }),
  )
  return { ok: times.length, failed, answered: times.length + failed, firstError, seconds: (performance.now() - started) / 1000, ...latencies(times) }
}

export interface JobMessage {
  id: number
  job: Job
}

process.on('message', ({ id, job }: JobMessage) => {
  const running = job.kind === 'http' ? http(job) : logins(job)
  running.then(
    (result) => process.send?.({ id, result }),
    (error: Error) => process.send?.({ id, error: error.stack ?? String(error) }),
  )
})
process.on('disconnect', () => process.exit(0))
process.send?.({ ready: true })
