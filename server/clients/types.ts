import type { LoginFlow } from '../store/login-flows.ts'

/**
 * A token response, parsed: the tokens an account keeps (encrypted), and `raw`, every field the
 * provider sent (user_id, screen_name, …), which is not kept.
 */
export interface ParsedToken {
  accessToken: string
  /** OAuth 1.0a token secret. */
  tokenSecret: string | null
  refreshToken: string | null
  idToken: string | null
  /** Epoch ms, or null when the provider gave no lifetime. */
  expiresAt: number | null
  scope: string | null
  raw: Record<string, unknown>
}

/** The token a client signs API calls with: a stored account's or a fresh login's. */
export interface ClientToken {
  accessToken: string | null
  tokenSecret?: string | null
}

export type Profile = Record<string, unknown>

/** What the callback hands the client: its query parameters and the flow record started at redirect. */
export interface CallbackInput {
  params: URLSearchParams
  flow: LoginFlow
  callbackUrl: string
}

// Each option left `undefined` is left out (`query: page ? { page } : undefined`, with exactOptionalPropertyTypes too).
export interface ApiRequestOptions {
  /** Query parameters, added to any already in the URL (and signed, for OAuth 1.0a). */
  query?: Record<string, string | number | boolean | readonly string[]> | URLSearchParams | undefined
  /** A form body (`application/x-www-form-urlencoded`), as python-requests' `data=`: signed on OAuth 1.0a. An array value repeats its field. */
  body?: Record<string, string | number | boolean | readonly string[]> | URLSearchParams | undefined
  /** A JSON body (never part of an OAuth 1.0a signature), sent as `application/json` unless `headers` name another Content-Type. */
  json?: unknown
  headers?: Record<string, string> | undefined
  /** Milliseconds before the call is abandoned, the answer's last byte included; default 30 s. */
  timeoutMs?: number | undefined
  /**
   * Largest answer body read, in bytes; a larger one fails (`payload_too_large`) without being held
   * in memory. `account.apiClient` sets it from `apiClient.maxBody` (default 10 MiB).
   */
  maxBytes?: number | undefined
}

export interface ApiResponse<T = unknown> {
  status: number
  ok: boolean
  headers: Headers
  /** Parsed JSON when the answer is JSON, a form-decoded object for form answers, else the text. */
  body: T
  text: string
}

/** A request ready to send with the provider's authentication attached. */
export interface AuthorizedRequest {
  url: URL
  headers: Record<string, string>
}

