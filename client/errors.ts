import { ERROR_CODES, PROXY_ERROR_CODES, type ErrorCode, type ProxyErrorCode } from '../shared/errors.ts'

/**
 * An error answer of the BFF itself: `{"error": code, "message": text}` (DESIGN.md, "HTTP routes").
 * `code` is the shared {@link ErrorCode} union, so a component can switch on it
 * (`reauth_required` → offer "Reconnect"); a code this version does not know reads as `server_error`.
 */
export class AllAccessClientError extends Error {
  // The fields are only declared: the constructor sets them (in the order a class field would have
  // put them), and a declared field costs the bundle nothing.
  /** The contract code, e.g. `reauth_required`, `not_authenticated`, `account_not_connected`. */
  declare readonly code: ErrorCode
  /** The HTTP status of the answer; 0 for a popup login's failure, which the popup reports without one. */
  declare readonly status: number

  constructor(code: ErrorCode, status: number, message: string) {
    super(message)
    this.code = code
    this.status = status
    this.name = 'AllAccessClientError'
  }
}

/**
 * A provider's own non-2xx answer, passed through the BFF's proxy unchanged: its status and its
 * body (parsed when it is JSON, else the text). Not a contract error, so it has no `code`.
 */
export class ProviderApiError extends Error {
  // Declared only, as in AllAccessClientError.
  /** The provider's HTTP status. */
  declare readonly status: number
  /** The provider's answer body: parsed JSON, or text. */
  declare readonly body: unknown

  constructor(status: number, body: unknown) {
    super(`The provider answered ${status}.`)
    this.status = status
    this.body = body
    this.name = 'ProviderApiError'
  }
}

/** A code as this version reads it: one it does not know is `server_error`. */
export function knownCode(code: unknown): ErrorCode {
  // The lists tested in place, here and below, not through shared's isErrorCode and isProxyErrorCode:
  // a wrapper of one line each costs the bundle 13 B.
  return ERROR_CODES.includes(code as ErrorCode) ? (code as ErrorCode) : 'server_error'
}

/** True when the account must sign in with its provider again before its API can be used. */
export function isReauthRequired(error: unknown): error is AllAccessClientError & { code: 'reauth_required' } {
  return error instanceof AllAccessClientError && error.code === 'reauth_required'
}

/**
 * Reads a non-2xx answer. On the BFF's own routes every failure is an AllAccessClientError (an
 * unknown code or a body that is not the contract's reads as `server_error`); on the proxy, only the
 * BFF's codes with a message are, and anything else is the provider's answer: ProviderApiError.
 */
export function errorFromAnswer(status: number, body: unknown, fromProxy?: boolean): Error {
  const { error: code, message } = (body ?? {}) as { error?: unknown; message?: unknown }
  // A message only counts in a body of the contract's shape.
  const text = typeof code === 'string' && typeof message === 'string' ? message : 'The server answered unexpectedly.'
  // On the proxy, only a body of that shape is the BFF's: `{"error":"server_error"}` alone is an API answering in RFC 6749's style.
  // A body that is the BFF's then reads as on its other routes: a proxy code is a code this version knows.
  if (fromProxy && !(PROXY_ERROR_CODES.includes(code as ProxyErrorCode) && text === message)) return new ProviderApiError(status, body)
  return new AllAccessClientError(knownCode(code), status, text)
}
