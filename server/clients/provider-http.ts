import type { ErrorCode } from '../../shared/errors.ts'
import { cutText } from '../cut-text.ts'
import { AllAccessError } from '../errors.ts'
import { codingsToUndo, letGo, readDecoded, UnreadableCoding } from './content-coding.ts'
import { AnswerTooLarge, deadline, send } from './provider-transport.ts'

export const DEFAULT_TIMEOUT_MS = 30_000
/**
 * What every request to a provider carries, the proxy's included. Identity coding: without
 * Accept-Encoding a provider may compress its answer (RFC 9110 §12.5.3); one that does anyway is
 * decoded (content-coding.ts).
 */
export const PROVIDER_REQUEST_HEADERS: Readonly<Record<string, string>> = { 'user-agent': 'all-access', 'accept-encoding': 'identity' }
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

/**
 * One HTTP exchange with a provider. Never throws on an HTTP status (callers decide what a 4xx
 * means); network failures, time-outs and answers over the cap become the given contract code,
 * with the cause kept for the log.
 */
export async function callProvider(url: URL | string, init: ProviderRequest, failure: ErrorCode): Promise<ProviderAnswer> {
  const target = new URL(String(url))
  // A URL from a discovery document is the provider's: its origin and the start of its path name it in a log line.
  const where = `${init.method.toUpperCase()} ${cutText(target.origin + target.pathname)}`
  const timeoutMs = init.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const limit = deadline(timeoutMs)
  try {
    const method = init.method.toUpperCase()
    const answer = await send(target, { method, headers: { ...PROVIDER_REQUEST_HEADERS, ...lowerCase(init.headers) }, body: init.body, signal: limit.signal })
    let codings: string[]
    try {
      // A 204's or 304's coding names no body of its own. A HEAD's names the GET's, and is read as
      // the GET's would be (its empty body decodes to nothing): its headers then match the GET's.
      codings = answer.status === 204 || answer.status === 304 ? [] : codingsToUndo(answer.headers.get('content-encoding'), answer.headers.get('transfer-encoding'))
    } catch (error) {
      letGo([answer.body])
      throw error
    }
    const read = (await readDecoded(answer.body, codings, init.maxBytes ?? PROVIDER_ANSWER_LIMIT)).toString()
    // A byte order mark is dropped as fetch's text() drops it: JSON.parse and forms would choke on it.
    const text = read.charCodeAt(0) === 0xfeff ? read.slice(1) : read
    const headers = toHeaders(answer.rawHeaders)
    // The text is decoded: its coding (and the length of the coded bytes) no longer describe it.
    if (codings.length) for (const name of ['content-encoding', 'content-length']) headers.delete(name)
    return { status: answer.status, ok: answer.status >= 200 && answer.status < 300, headers, text }
  } catch (cause) {
    if (cause instanceof AnswerTooLarge) {
      throw new AllAccessError(failure === 'upstream_unreachable' ? 'payload_too_large' : failure, {
        message: failure === 'upstream_unreachable' ? "The provider's answer is larger than the API client's limit." : undefined,
        detail: `${where}: ${cause.message}`,
        cause,
      })
    }
    if (limit.signal.aborted) {
      throw new AllAccessError(failure === 'upstream_unreachable' ? 'upstream_timeout' : failure, { detail: `${where}: no complete answer in ${timeoutMs} ms`, cause: limit.signal.reason })
    }
    // undici's and Node's words may quote the provider (a discovered host, whole, in getaddrinfo's); ours cut what they quote.
    const said = cause instanceof UnreadableCoding ? cause.message : cutText((cause as Error).message)
    throw new AllAccessError(failure, { detail: `${where}: ${said}`, cause })
  } finally {
    limit.clear()
  }
}

/** The answer's headers as WHATWG `Headers`, what `apiClient` callers and jose expect. */
function toHeaders(raw: Record<string, string | string[] | undefined>): Headers {
  const headers = new Headers()
  for (const [name, value] of Object.entries(raw)) {
    if (Array.isArray(value)) for (const item of value) headers.append(name, item)
    else if (value !== undefined) headers.set(name, value)
  }
  return headers
}

/** undici wants one spelling per header name; callers write them as they like. */
function lowerCase(headers: Record<string, string> = {}): Record<string, string> {
  const lower: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) lower[name.toLowerCase()] = value
  return lower
}

/**
 * A field of a provider's answer as text for a log detail, at most `max` characters and a mark of
 * its length, whatever JSON it holds: `String()` throws on an object such as `{"toString":null}`.
 * Control characters are escaped (a line break of the provider's would start a log line of its
 * making) before the cut: escaped after it, each of `max` of them took six.
 *
 * `sent`: the secrets the request carried (a code, a verifier, a token, the client secret), taken out
 * before the cut, which could leave part of one: an answer that quotes what it refused must not put
 * it in the log (DESIGN.md, "Logs"). A value under 8 characters is no random secret, and as likely a
 * word of the provider's own: taken out, it would garble the text.
 */
export function answerFieldText(value: unknown, max = 50, sent: readonly (string | null | undefined)[] = []): string {
  const text = sent.reduce<string>((said, secret) => (secret && secret.length >= 8 ? said.replaceAll(secret, '[redacted]') : said), asText(value))
  return cutText(text.replace(/[\u0000-\u001f]/g, (c) => JSON.stringify(c).slice(1, -1)), max)
}

/** JSON.stringify walks by recursion: a field nested deeper than the stack (400 kB of `[`) throws a RangeError. */
function asText(value: unknown): string {
  if (typeof value === 'string') return value
  try {
    return JSON.stringify(value) ?? 'undefined'
  } catch {
    return '(JSON nested too deep to show)'
  }
}

/** `type/subtype` of a Content-Type, lower case, without parameters. */
export function mediaType(contentType: string | null): string {
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
