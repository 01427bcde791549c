import { ofetch } from 'ofetch'
import { AllAccessError } from '../errors.ts'
import type { ErrorCode } from '../../shared/errors.ts'

export const DEFAULT_TIMEOUT_MS = 30_000
export const USER_AGENT = 'all-access'

export interface ProviderAnswer {
  status: number
  ok: boolean
  headers: Headers
  text: string
}

/**
 * One HTTP exchange with a provider. Never throws on an HTTP status (callers decide what a 4xx
 * means); network failures become the given contract code, with the cause kept for the log.
 */
export async function callProvider(
  url: URL | string,
  init: { method: string; headers?: Record<string, string>; body?: string; timeoutMs?: number },
  failure: ErrorCode,
): Promise<ProviderAnswer> {
  try {
    const response = await ofetch.raw(String(url), {
      method: init.method.toUpperCase(),
      headers: { 'User-Agent': USER_AGENT, ...init.headers },
      body: init.body,
      responseType: 'text',
      ignoreResponseError: true,
      retry: 0,
      redirect: 'manual',
      timeout: init.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    })
    const text = (response._data as string | undefined) ?? ''
    return { status: response.status, ok: response.ok, headers: response.headers, text }
  } catch (cause) {
    const timedOut = (cause as Error).name === 'TimeoutError' || /timeout|aborted/i.test(String((cause as Error).message))
    throw new AllAccessError(failure === 'upstream_unreachable' && timedOut ? 'upstream_timeout' : failure, {
      detail: `${init.method.toUpperCase()} ${new URL(String(url)).origin}${new URL(String(url)).pathname}: ${(cause as Error).message}`,
      cause,
    })
  }
}

/** Parses a provider's answer: JSON, or a form-encoded body (token endpoints of OAuth 1.0a and some 2.0 providers). */
export function parseAnswerBody(text: string, contentType: string | null): unknown {
  const type = contentType ?? ''
  if (/json/i.test(type) || /^\s*[[{]/.test(text)) {
    try {
      return JSON.parse(text)
    } catch {
      return text
    }
  }
  if (/x-www-form-urlencoded|text\/plain/i.test(type) || /^[^\s<]+=[^\s]*$/.test(text.trim())) {
    return Object.fromEntries(new URLSearchParams(text.trim()))
  }
  return text
}
