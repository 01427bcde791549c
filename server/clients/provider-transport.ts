import type { Readable } from 'node:stream'
import { Agent, type Dispatcher } from 'undici'
import { LONGEST_TIMER_MS } from '../time-limit.ts'

/**
 * The one HTTP client of all-access towards providers: undici with a keep-alive pool per origin,
 * used by the login steps, `apiClient` and the proxy alike. Node streams end to end, no WHATWG
 * `fetch` layer on the hot path.
 */
const agent = new Agent({ keepAliveTimeout: 10_000, keepAliveMaxTimeout: 60_000, connections: 256 })

/** Reads a header of an answer whatever its shape (undici's object, or WHATWG `Headers`). */
export interface HeaderReader {
  get(name: string): string | null
}

export interface TransportAnswer {
  status: number
  headers: HeaderReader
  /** undici's raw headers, lower-case names. */
  rawHeaders: Record<string, string | string[] | undefined>
  body: Readable & { dump?(options?: { limit: number }): Promise<void> }
}

export interface TransportRequest {
  method: string
  headers: Record<string, string>
  body?: string | Buffer | Readable | null
  signal: AbortSignal
}

export function headerReader(raw: Record<string, string | string[] | undefined>): HeaderReader {
  return {
    get(name) {
      const value = raw[name.toLowerCase()]
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value
    },
  }
}

/** Sends one request; redirects are never followed (an API answering 302 is passed on as it is). */
export async function send(url: URL, request: TransportRequest): Promise<TransportAnswer> {
  const answer: Dispatcher.ResponseData = await agent.request({
    origin: url.origin,
    path: url.pathname + url.search,
    method: request.method as Dispatcher.HttpMethod,
    headers: request.headers,
    body: request.body ?? null,
    signal: request.signal,
    // The caller's signal bounds the whole exchange; undici's own limits would only cut it shorter.
    headersTimeout: 0,
    bodyTimeout: 0,
  })
  const rawHeaders = answer.headers as Record<string, string | string[] | undefined>
  return { status: answer.statusCode, headers: headerReader(rawHeaders), rawHeaders, body: answer.body }
}

/** Reads a body whole, giving up as soon as it passes `maxBytes` (the rest is never buffered). */
export async function readCapped(body: AsyncIterable<Uint8Array> | null | undefined, maxBytes: number): Promise<Buffer> {
  if (!body) return Buffer.alloc(0)
  const chunks: Uint8Array[] = []
  let size = 0
  for await (const chunk of body) {
    size += chunk.byteLength
    if (size > maxBytes) {
      ;(body as { destroy?: () => void }).destroy?.()
      throw new AnswerTooLarge(`answer over ${maxBytes} bytes`)
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** An answer over its cap: the failure code says what could not be read. */
export class AnswerTooLarge extends Error {
  override name = 'AnswerTooLarge'
}

/** The provider took longer than the call's time limit: kept as the cause of the contract error. */
export class ProviderTimeout extends Error {
  override name = 'ProviderTimeout'
}

/** True when `error`, or an error it was caused by, is a provider that did not answer in time. */
export function timedOut(error: unknown): boolean {
  for (let e = error; e instanceof Error; e = e.cause) if (e instanceof ProviderTimeout) return true
  return false
}

/**
 * An abort signal that fires after `ms`, the means to stop its timer once the answer is read, and
 * to fire it sooner when nobody waits for the answer any more.
 */
export function deadline(ms: number): { signal: AbortSignal; clear(): void; abort(reason: Error): void } {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new ProviderTimeout(`no complete answer in ${ms} ms`)), Math.min(ms, LONGEST_TIMER_MS))
  return {
    signal: controller.signal,
    clear: () => clearTimeout(timer),
    abort(reason) {
      clearTimeout(timer)
      controller.abort(reason)
    },
  }
}
