import type { Metric, Registry } from 'prom-client'

type Labels<L extends string> = Record<L, string>

/** A value as prom-client's `get()` reports it, which its registry formats. */
interface Value {
  value: number
  labels: Record<string, string | number>
  metricName?: string
}

/** One label set's numbers. A series let go by `reset()` comes back, from zero, when next counted. */
abstract class Series<L extends string> {
  /** False once `reset()` let the series go. */
  live = true

  constructor(
    readonly labels: Labels<L>,
    private readonly owner: TalliedMetric<L, Series<L>>,
    readonly key: string,
  ) {}

  protected counted(): void {
    if (!this.live) this.owner.revive(this)
  }

  abstract clear(): void
}

/**
 * A counter or histogram whose every series is a few plain numbers. prom-client's own `inc()` and
 * `observe()` build, check and hash a label object on every call: a microsecond of every request,
 * more than all the rest of its bookkeeping. The registry reads a tallied metric through `get()`, as
 * it reads its own (`metrics()`, `getMetricsAsJSON()`, `Registry.merge`), and clears it through
 * `reset()`; the text is the one prom-client's Counter and Histogram write (a test compares them).
 */
abstract class TalliedMetric<L extends string, S extends Series<L>> {
  readonly aggregator = 'sum'
  private readonly series = new Map<string, S>()

  constructor(
    registry: Registry,
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'histogram',
    private readonly labelNames: readonly L[],
  ) {
    // The registry's type names prom-client's own classes; it only ever calls get() and reset().
    registry.registerMetric(this as unknown as Metric)
  }

  protected abstract create(labels: Labels<L>, key: string): S
  protected abstract values(series: S): Value[]

  /**
   * The series of these labels, made on first use: counting on it needs no labels again (as
   * prom-client's `labels()`). Label values are a bounded vocabulary (routes, codes).
   */
  labels(labels: Labels<L>): S {
    let key = ''
    for (const name of this.labelNames) key += `${labels[name]}\u0000`
    let series = this.series.get(key)
    if (!series) {
      series = this.create({ ...labels }, key)
      this.series.set(key, series)
    }
    return series
  }

  revive(series: Series<L>): void {
    series.live = true
    if (!this.series.has(series.key)) this.series.set(series.key, series as S)
  }

  async get() {
    return { name: this.name, help: this.help, type: this.type, values: [...this.series.values()].flatMap((series) => this.values(series)), aggregator: this.aggregator }
  }

  reset(): void {
    for (const series of this.series.values()) {
      series.live = false
      series.clear()
    }
    this.series.clear()
  }
}

class Count<L extends string> extends Series<L> {
  value = 0

  inc(): void {
    this.counted()
    this.value++
  }

  clear(): void {
    this.value = 0
  }
}

export class TalliedCounter<L extends string> extends TalliedMetric<L, Count<L>> {
  constructor(registry: Registry, options: { name: string; help: string; labelNames: readonly L[] }) {
    super(registry, options.name, options.help, 'counter', options.labelNames)
  }

  inc(labels: Labels<L>): void {
    this.labels(labels).inc()
  }

  protected create(labels: Labels<L>, key: string): Count<L> {
    return new Count(labels, this, key)
  }

  protected values({ labels, value }: Count<L>): Value[] {
    return [{ value, labels: { ...labels } }]
  }
}

class Observations<L extends string> extends Series<L> {
  /** Observations per bucket (not cumulative), the last one past every bound (`+Inf`). */
  readonly buckets: number[]
  sum = 0
  count = 0

  constructor(
    labels: Labels<L>,
    owner: TalliedMetric<L, Series<L>>,
    key: string,
    private readonly bounds: readonly number[],
  ) {
    super(labels, owner, key)
    this.buckets = new Array<number>(bounds.length + 1).fill(0)
  }

  observe(value: number): void {
    this.counted()
    // The first bucket whose bound is at least the value, as prom-client counts it.
    let bucket = 0
    while (bucket < this.bounds.length && value > this.bounds[bucket]) bucket++
    this.buckets[bucket]++
    this.sum += value
    this.count++
  }

  clear(): void {
    this.buckets.fill(0)
    this.sum = 0
    this.count = 0
  }
}

export class TalliedHistogram<L extends string> extends TalliedMetric<L, Observations<L>> {
  private readonly bounds: readonly number[]

  constructor(registry: Registry, options: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[] }) {
    super(registry, options.name, options.help, 'histogram', options.labelNames)
    this.bounds = options.buckets
  }

  observe(labels: Labels<L>, value: number): void {
    this.labels(labels).observe(value)
  }

  protected create(labels: Labels<L>, key: string): Observations<L> {
    return new Observations(labels, this as TalliedMetric<L, Series<L>>, key, this.bounds)
  }

  protected values({ labels, buckets, sum, count }: Observations<L>): Value[] {
    let cumulative = 0
    const values: Value[] = this.bounds.map((le, i) => ({ value: (cumulative += buckets[i]), labels: { le, ...labels }, metricName: `${this.name}_bucket` }))
    values.push({ value: count, labels: { le: '+Inf', ...labels }, metricName: `${this.name}_bucket` })
    values.push({ value: sum, labels: { ...labels }, metricName: `${this.name}_sum` }, { value: count, labels: { ...labels }, metricName: `${this.name}_count` })
    return values
  }
}
