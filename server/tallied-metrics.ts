import type { Metric, Registry } from 'prom-client'

type Labels<L extends string> = Record<L, string>

/** A value as prom-client's `get()` reports it, which its registry formats. */
interface Value {
  value: number
  labels: Record<string, string | number>
  metricName?: string
}

/**
 * A counter or histogram whose every series is a few plain numbers. prom-client's own `inc()` and
 * `observe()` build, check and hash a label object on every call: a microsecond of every request,
 * more than all the rest of its bookkeeping. The registry reads a tallied metric through `get()`, as
 * it reads its own (`metrics()`, `getMetricsAsJSON()`, `Registry.merge`), and clears it through
 * `reset()`; the text is the one prom-client's Counter and Histogram write (a test compares them).
 */
abstract class TalliedMetric<L extends string, S extends { labels: Labels<L> }> {
  readonly aggregator = 'sum'
  protected readonly series = new Map<string, S>()

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

  protected abstract create(labels: Labels<L>): S
  protected abstract values(series: S): Value[]

  /** The series of these labels, made on first use. Label values are a bounded vocabulary (routes, codes). */
  protected seriesOf(labels: Labels<L>): S {
    let key = ''
    for (const name of this.labelNames) key += `${labels[name]}\u0000`
    let series = this.series.get(key)
    if (!series) {
      series = this.create({ ...labels })
      this.series.set(key, series)
    }
    return series
  }

  async get() {
    return { name: this.name, help: this.help, type: this.type, values: [...this.series.values()].flatMap((series) => this.values(series)), aggregator: this.aggregator }
  }

  reset(): void {
    this.series.clear()
  }
}

export class TalliedCounter<L extends string> extends TalliedMetric<L, { labels: Labels<L>; value: number }> {
  constructor(registry: Registry, options: { name: string; help: string; labelNames: readonly L[] }) {
    super(registry, options.name, options.help, 'counter', options.labelNames)
  }

  inc(labels: Labels<L>): void {
    this.seriesOf(labels).value++
  }

  protected create(labels: Labels<L>) {
    return { labels, value: 0 }
  }

  protected values({ labels, value }: { labels: Labels<L>; value: number }): Value[] {
    return [{ value, labels: { ...labels } }]
  }
}

interface Observations<L extends string> {
  labels: Labels<L>
  /** Observations per bucket (not cumulative), the last one past every bound (`+Inf`). */
  buckets: number[]
  sum: number
  count: number
}

export class TalliedHistogram<L extends string> extends TalliedMetric<L, Observations<L>> {
  private readonly bounds: readonly number[]

  constructor(registry: Registry, options: { name: string; help: string; labelNames: readonly L[]; buckets: readonly number[] }) {
    super(registry, options.name, options.help, 'histogram', options.labelNames)
    this.bounds = options.buckets
  }

  observe(labels: Labels<L>, value: number): void {
    const series = this.seriesOf(labels)
    // The first bucket whose bound is at least the value, as prom-client counts it.
    let bucket = 0
    while (bucket < this.bounds.length && value > this.bounds[bucket]) bucket++
    series.buckets[bucket]++
    series.sum += value
    series.count++
  }

  protected create(labels: Labels<L>): Observations<L> {
    return { labels, buckets: new Array<number>(this.bounds.length + 1).fill(0), sum: 0, count: 0 }
  }

  protected values({ labels, buckets, sum, count }: Observations<L>): Value[] {
    let cumulative = 0
    const values: Value[] = this.bounds.map((le, i) => ({ value: (cumulative += buckets[i]), labels: { le, ...labels }, metricName: `${this.name}_bucket` }))
    values.push({ value: count, labels: { le: '+Inf', ...labels }, metricName: `${this.name}_bucket` })
    values.push({ value: sum, labels: { ...labels }, metricName: `${this.name}_sum` }, { value: count, labels: { ...labels }, metricName: `${this.name}_count` })
    return values
  }
}
