import { readdirSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { Counter, Gauge, Registry } from 'prom-client'
import type { ErrorCode } from '../shared/errors.ts'
import { AllAccessError } from './errors.ts'
import { ABANDONED_STATUS, RequestAbandonedError } from './http/abandoned-request.ts'
import { TalliedCounter, TalliedHistogram } from './tallied-metrics.ts'
import type { Store } from './store/index.ts'
import { withTimeout } from './time-limit.ts'

/** Seconds, from fast local answers up to the proxy's default time limit. */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30]
/** A scrape must answer while the database is away: counting sessions gives up after this long. */
const COUNT_TIMEOUT_MS = 1000
/** Methods a label may name; Node's parser accepts a few dozen more, which all count as `other`. */
const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS']
/** How often the event loop is sampled (ms). Each sample is the time between two timer turns, this included. */
const EVENT_LOOP_RESOLUTION_MS = 20

/** What a refresh came to: new tokens, a refusal (the user must sign in again), or no answer. */
export type RefreshOutcome = 'refreshed' | 'refused' | 'failed'

/** The refresh counter, as the account layer sees it. */
export interface RefreshMetrics {
  refresh<T>(provider: string, attempt: Promise<T>): Promise<T>
}

export const NO_REFRESH_METRICS: RefreshMetrics = { refresh: (_provider, attempt) => attempt }

function codeOf(error: unknown): ErrorCode {
  return error instanceof AllAccessError ? error.code : 'server_error'
}

/**
 * One BFF's metrics, in a registry of its own (several BFFs in one process never share a series).
 * Labels are route templates, methods, statuses, provider names and contract codes: configuration
 * and a bounded vocabulary, never a user id, a token or a path as requested.
 */
export class BffMetrics {
  /** The `allaccess_` series, to merge with a host app's registry. */
  readonly registry = new Registry()
  /** The process's memory and descriptors: on `/metrics` only. */
  private readonly processMetrics = new Registry()
  // Counted on every request and every proxied call: tallied (see TalliedMetric), the rest by prom-client.
  private readonly requests = new TalliedCounter(this.registry, { name: 'allaccess_http_requests_total', help: 'Requests answered, by route template, method and status.', labelNames: ['route', 'method', 'status'] })
  private readonly durations = new TalliedHistogram(this.registry, { name: 'allaccess_http_request_duration_seconds', help: 'Time to answer a request, by route template.', labelNames: ['route'], buckets: LATENCY_BUCKETS })
  private readonly upstreams = new TalliedHistogram(this.registry, { name: 'allaccess_proxy_upstream_duration_seconds', help: "Time until the provider's API answered the proxy (its status) or failed (the error code), by provider.", labelNames: ['provider', 'outcome'], buckets: LATENCY_BUCKETS })
  private readonly logins = new Counter({ name: 'allaccess_logins_total', help: 'Logins completed, by provider.', labelNames: ['provider'], registers: [this.registry] })
  private readonly loginFailures = new Counter({ name: 'allaccess_login_failures_total', help: 'Logins that ended in an auth_error redirect, by provider and code.', labelNames: ['provider', 'code'], registers: [this.registry] })
  private readonly refreshes = new Counter({ name: 'allaccess_token_refreshes_total', help: 'OAuth 2.0 token refreshes sent to providers, by provider and outcome (refreshed, refused, failed).', labelNames: ['provider', 'outcome'], registers: [this.registry] })
  private readonly eventLoop = monitorEventLoopDelay({ resolution: EVENT_LOOP_RESOLUTION_MS })

  constructor(store: Store) {
    this.eventLoop.enable()
    const eventLoop = this.eventLoop
    new Gauge({
      name: 'allaccess_active_sessions',
      help: 'Sessions that have not ended, counted at scrape time (NaN when the database cannot be counted).',
      registers: [this.registry],
      async collect() {
        this.set(await withTimeout(store.sessions.countLive(), COUNT_TIMEOUT_MS).catch(() => Number.NaN))
      },
    })
    new Gauge({
      name: 'allaccess_db_pool_connections',
      help: 'Database pool connections in use and idle, and acquisitions and creations waiting.',
      labelNames: ['state'],
      registers: [this.registry],
      collect() {
        const pool = poolOf(store)
        this.set({ state: 'used' }, pool?.numUsed() ?? 0)
        this.set({ state: 'free' }, pool?.numFree() ?? 0)
        this.set({ state: 'pending_acquire' }, pool?.numPendingAcquires() ?? 0)
        this.set({ state: 'pending_create' }, pool?.numPendingCreates() ?? 0)
      },
    })
    new Gauge({
      name: 'allaccess_db_pool_max',
      help: 'The most connections the database pool opens.',
      registers: [this.registry],
      collect() {
        this.set(poolOf(store)?.max ?? 0)
      },
    })
    // prom-client's standard names, read at scrape time (its default collectors start observers that
    // outlive a BFF; several BFFs in one process would each add their own). Kept out of `registry`:
    // a host app's registry with prom-client's default metrics has these names, and merging threw.
    new Gauge({
      name: 'process_resident_memory_bytes',
      help: 'Resident memory size in bytes.',
      registers: [this.processMetrics],
      collect() {
        this.set(process.memoryUsage.rss())
      },
    })
    new Gauge({
      name: 'nodejs_heap_size_used_bytes',
      help: 'Process heap size used from Node.js in bytes.',
      registers: [this.processMetrics],
      collect() {
        this.set(process.memoryUsage().heapUsed)
      },
    })
    new Gauge({
      name: 'process_open_fds',
      help: 'Number of open file descriptors (-1 where the system does not tell).',
      registers: [this.processMetrics],
      collect() {
        this.set(openDescriptors())
      },
    })
    new Gauge({
      name: 'allaccess_event_loop_lag_seconds',
      help: 'Event-loop delay since the previous scrape: median, 90th and 99th percentiles, and maximum (quantile 1).',
      labelNames: ['quantile'],
      registers: [this.registry],
      collect() {
        // A sample is the time between two timer turns: the lag is what exceeds the resolution.
        const lag = (nanoseconds: number) => (eventLoop.count === 0 ? 0 : Math.max(0, nanoseconds / 1e9 - EVENT_LOOP_RESOLUTION_MS / 1000))
        this.set({ quantile: '0.5' }, lag(eventLoop.percentile(50)))
        this.set({ quantile: '0.9' }, lag(eventLoop.percentile(90)))
        this.set({ quantile: '0.99' }, lag(eventLoop.percentile(99)))
        this.set({ quantile: '1' }, lag(eventLoop.max))
        eventLoop.reset()
      },
    })
  }

  /** Each route's series, bound once: `route` is a template, and method and status a few values each. */
  private readonly routeSeries = new Map<string, { time: ReturnType<TalliedHistogram<'route'>['labels']>; counts: Map<number, { inc(): void }> }>()

  requestEnded(route: string, method: string, status: number, seconds: number): void {
    let series = this.routeSeries.get(route)
    if (!series) {
      series = { time: this.durations.labels({ route }), counts: new Map() }
      this.routeSeries.set(route, series)
    }
    const known = METHODS.indexOf(method)
    const verb = known < 0 ? 'other' : method
    // Statuses are three digits: one key per method (`other` last) and status, without building a string.
    const key = status * 8 + (known < 0 ? METHODS.length : known)
    let count = series.counts.get(key)
    if (!count) {
      count = this.requests.labels({ route, method: verb, status: String(status) })
      series.counts.set(key, count)
    }
    count.inc()
    series.time.observe(seconds)
  }

  /** Times one proxied call until the provider's answer (its headers) or the failure. */
  async upstream<T extends { answer: { status: number } }>(provider: string, call: Promise<T>): Promise<T> {
    const started = performance.now()
    const seconds = () => (performance.now() - started) / 1000
    try {
      const answered = await call
      this.upstreams.observe({ provider, outcome: String(answered.answer.status) }, seconds())
      return answered
    } catch (error) {
      // A browser gone before the answer is no failure of the provider's nor of the BFF's: counted as its request is.
      this.upstreams.observe({ provider, outcome: error instanceof RequestAbandonedError ? String(ABANDONED_STATUS) : codeOf(error) }, seconds())
      throw error
    }
  }

  loginSucceeded(provider: string): void {
    this.logins.inc({ provider })
  }

  /** `provider` is unknown when the failure came before the provider was read (the database away). */
  loginFailed(provider: string | undefined, code: ErrorCode): void {
    this.loginFailures.inc({ provider: provider ?? '', code })
  }

  async refresh<T>(provider: string, attempt: Promise<T>): Promise<T> {
    try {
      const refreshed = await attempt
      this.refreshes.inc({ provider, outcome: 'refreshed' satisfies RefreshOutcome })
      return refreshed
    } catch (error) {
      this.refreshes.inc({ provider, outcome: (codeOf(error) === 'reauth_required' ? 'refused' : 'failed') satisfies RefreshOutcome })
      throw error
    }
  }

  /** The Prometheus text exposition of every metric, the process's included. */
  scrape(): Promise<string> {
    return Registry.merge([this.registry, this.processMetrics]).metrics()
  }

  get contentType(): string {
    return this.registry.contentType
  }

  close(): void {
    this.eventLoop.disable()
  }
}

/** Entries of /proc/self/fd (Linux), less the one the listing itself opens; -1 elsewhere. */
function openDescriptors(): number {
  try {
    return readdirSync('/proc/self/fd').length - 1
  } catch {
    return -1
  }
}

interface TarnPool {
  max: number
  numUsed(): number
  numFree(): number
  numPendingAcquires(): number
  numPendingCreates(): number
}

/** Knex's tarn pool; gone once the store is closed. */
function poolOf(store: Store): TarnPool | undefined {
  return (store.db.client as { pool?: TarnPool }).pool
}
