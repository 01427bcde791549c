import type { ErrorCode } from '../../shared/errors.ts'
import { AllAccessError } from '../errors.ts'

export const DEFAULT_TIMEOUT_MS = 30_000
export const USER_AGENT = 'all-access'
/** The cap on token, profile, discovery and JWKS answers: far above any real one, far below harm. */
export const PROVIDER_ANSWER_LIMIT = 1024 * 1024

export interface ProviderAnswer {
  status: number
  ok: boolean
  headers: Headers
  text: string
}

export interface ProviderRequest {
  method: string
  headers?: Record<string, string>
  body?: string
  /** Covers the whole exchange, the body's last byte included. */
  timeoutMs?: number
  /** Largest answer body read; beyond it the call fails. Default {@link PROVIDER_ANSWER_LIMIT}. */
  maxBytes?: number
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

/** An answer over its cap: the failure code says what could not be read. */
export class AnswerTooLarge extends Error {
  override name = 'AnswerTooLarge'
}

/** Reads a body stream to text, giving up as soon as it passes `maxBytes` (the rest is never buffered). */
export async function readCapped(body: ReadableStream<Uint8Array> | null, maxBytes: number): Promise<string> {
  if (!body) return ''
  const chunks: Uint8Array[] = []
  let size = 0
  const reader = body.getReader()
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    size += value.byteLength
    if (size > maxBytes) {
      await reader.cancel().catch(() => {})
      throw new AnswerTooLarge(`answer over ${maxBytes} bytes`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/**
 * One HTTP exchange with a provider. Never throws on an HTTP status (callers decide what a 4xx
 * means); network failures, time-outs and answers over the cap become the given contract code,
 * with the cause kept for the log.
 */
export async function callProvider(url: URL | string, init: ProviderRequest, failure: ErrorCode): Promise<ProviderAnswer> {
  const target = new URL(String(url))
  const where = `${init.method.toUpperCase()} ${target.origin}${target.pathname}`
  const timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const signal = AbortSignal.timeout(timeoutMs)
  try {
    const response = await fetch(target, {
      method: init.method.toUpperCase(),
      headers: { 'User-Agent': USER_AGENT, ...init.headers },
      body: init.body,
      redirect: 'manual',
      signal,
    })
    const text = await readCapped(response.body, init.maxBytes ?? PROVIDER_ANSWER_LIMIT)
    return { status: response.status, ok: response.ok, headers: response.headers, text }
  } catch (cause) {
    if (cause instanceof AnswerTooLarge) {
      throw new AllAccessError(failure === 'upstream_unreachable' ? 'payload_too_large' : failure, {
        message: failure === 'upstream_unreachable' ? "The provider's answer is larger than the API client's limit." : undefined,
        detail: `${where}: ${cause.message}`,
        cause,
      })
    }
    if (signal.aborted) {
      throw new AllAccessError(failure === 'upstream_unreachable' ? 'upstream_timeout' : failure, {
        detail: `${where}: no complete answer in ${timeoutMs} ms`,
        cause: new ProviderTimeout(`no complete answer in ${timeoutMs} ms`, { cause }),
      })
    }
    throw new AllAccessError(failure, { detail: `${where}: ${((cause as Error).cause as Error)?.message ?? (cause as Error).message}`, cause })
  }
}

/** `type/subtype` of a Content-Type, lower case, without parameters. */
function mediaType(contentType: string | null): string {
  return (contentType ?? '').split(';', 1)[0].trim().toLowerCase()
}

/**
 * Parses a provider's answer: JSON, or a form-encoded body (token endpoints of OAuth 1.0a and some
 * 2.0 providers answer so, some as text/plain). The content type decides first; providers that
 * mislabel (JSON as text/javascript, a form as text/html) are read by the body's shape. Every path
 * is linear in the size: no backtracking pattern ever sees the body.
 */
export function parseAnswerBody(text: string, contentType: string | null): unknown {
  const type = mediaType(contentType)
  const first = text.trimStart()[0]
  const json = type === 'application/json' || type.endsWith('+json') || (type !== 'application/x-www-form-urlencoded' && (first === '{' || first === '['))
  if (json) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }
  if (type === 'application/x-www-form-urlencoded' || looksLikeForm(text)) {
    return Object.fromEntries(new URLSearchParams(text.trim()))
  }
  return text
}

/** `a=1&b=2`: an `=`, and no whitespace or markup. One pass, no pattern. */
function looksLikeForm(text: string): boolean {
  const body = text.trim()
  if (!body.includes('=')) return false
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i)
    if (c <= 0x20 || c === 0x3c /* < */) return false
  }
  return true
}
