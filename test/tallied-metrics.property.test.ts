import fc from 'fast-check'
import { Counter, Histogram, Registry } from 'prom-client'
import { describe, expect, it } from 'vitest'
import { TalliedCounter, TalliedHistogram } from '../server/tallied-metrics.ts'

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 1]
const route = fc.constantFrom('/auth/session', '/api/:provider', 'unmatched', 'a "quoted"\\route')
const call = fc.record({
  route,
  method: fc.constantFrom('GET', 'POST', 'other'),
  status: fc.constantFrom('200', '404', '502'),
  // Bounds themselves, values between and past them, and zero.
  seconds: fc.oneof(fc.constantFrom(0, ...BUCKETS, 2), fc.double({ min: 0, max: 3, noNaN: true })),
})

/** The same metrics twice: prom-client's own classes, and the tallied ones the BFF counts with. */
function pair() {
  const own = new Registry()
  const tallied = new Registry()
  return {
    own,
    tallied,
    ownCounter: new Counter({ name: 'requests_total', help: 'Requests.', labelNames: ['route', 'method', 'status'], registers: [own] }),
    ownHistogram: new Histogram({ name: 'duration_seconds', help: 'Time "taken".', labelNames: ['route'], buckets: BUCKETS, registers: [own] }),
    talliedCounter: new TalliedCounter(tallied, { name: 'requests_total', help: 'Requests.', labelNames: ['route', 'method', 'status'] }),
    talliedHistogram: new TalliedHistogram(tallied, { name: 'duration_seconds', help: 'Time "taken".', labelNames: ['route'], buckets: BUCKETS }),
  }
}

describe('tallied metrics', () => {
  it('write the text prom-client writes for the same observations', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(call, { maxLength: 60 }), async (calls) => {
        const m = pair()
        for (const { route, method, status, seconds } of calls) {
          m.ownCounter.inc({ route, method, status })
          m.ownHistogram.observe({ route }, seconds)
          m.talliedCounter.inc({ route, method, status })
          m.talliedHistogram.observe({ route }, seconds)
        }
        expect(await m.tallied.metrics()).toBe(await m.own.metrics())
      }),
      { numRuns: 300 },
    )
  })

  it('are merged with other registries and reset with them, as prom-client metrics are', async () => {
    const m = pair()
    for (const [route, seconds] of [['/a', 0.003], ['/b', 0.2], ['/a', 5]] as const) {
      m.ownCounter.inc({ route, method: 'GET', status: '200' })
      m.ownHistogram.observe({ route }, seconds)
      m.talliedCounter.inc({ route, method: 'GET', status: '200' })
      m.talliedHistogram.observe({ route }, seconds)
    }
    const merged = Registry.merge([m.tallied, new Registry()])
    expect(await merged.metrics()).toBe(await m.own.metrics())
    const json = await m.tallied.getMetricsAsJSON()
    expect(json.map(({ name, type }) => [name, type])).toEqual([['requests_total', 'counter'], ['duration_seconds', 'histogram']])
    // Series bound before a reset count again after it, from zero, as prom-client's children do.
    const labels = { route: '/a', method: 'GET', status: '200' }
    const [ownChild, talliedChild] = [m.ownCounter.labels(labels), m.talliedCounter.labels(labels)]
    const [ownTime, talliedTime] = [m.ownHistogram.labels({ route: '/a' }), m.talliedHistogram.labels({ route: '/a' })]
    m.tallied.resetMetrics()
    m.own.resetMetrics()
    expect(await m.tallied.metrics()).toBe(await m.own.metrics())
    ownChild.inc()
    talliedChild.inc()
    ownTime.observe(0.02)
    talliedTime.observe(0.02)
    m.talliedCounter.inc({ route: '/c', method: 'POST', status: '201' })
    m.ownCounter.inc({ route: '/c', method: 'POST', status: '201' })
    expect(await m.tallied.metrics()).toBe(await m.own.metrics())
    expect(await m.tallied.metrics()).toContain('requests_total{route="/a",method="GET",status="200"} 1')
  })
})
