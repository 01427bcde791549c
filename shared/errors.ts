/** Every error code of the external contract (DESIGN.md). Server answers and client errors carry one. */
export const ERROR_CODES = [
  // request checks
  'csrf_required',
  'origin_not_allowed',
  'not_authenticated',
  'unknown_provider',
  'account_not_found',
  'account_not_connected',
  'invalid_path',
  'payload_too_large',
  'not_found',
  'method_not_allowed',
  'rate_limited',
  // back-channel logout
  'invalid_request',
  // login redirect and callback
  'access_denied',
  'invalid_state',
  'missing_code',
  'login_required',
  'issuer_mismatch',
  'request_token_failed',
  'provider_unavailable',
  'token_request_failed',
  'id_token_invalid',
  'profile_request_failed',
  'missing_identifier',
  'account_conflict',
  // provider API calls
  'reauth_required',
  'upstream_unreachable',
  'upstream_timeout',
  // anything else
  'service_unavailable',
  'server_error',
] as const

export type ErrorCode = (typeof ERROR_CODES)[number]

/**
 * The codes the proxy route (`ANY /api/:provider/…`) answers with itself: its own refusals, the
 * CSRF checks and what any route may answer. Any other body there is the provider's own, so a
 * provider answering `{"error":"access_denied"}` does not pass for a failed login.
 */
export const PROXY_ERROR_CODES = [
  'csrf_required',
  'origin_not_allowed',
  'not_authenticated',
  'unknown_provider',
  'account_not_connected',
  'invalid_path',
  'payload_too_large',
  'method_not_allowed',
  'reauth_required',
  'upstream_unreachable',
  'upstream_timeout',
  'service_unavailable',
  'server_error',
] as const satisfies readonly ErrorCode[]

export type ProxyErrorCode = (typeof PROXY_ERROR_CODES)[number]

export function isProxyErrorCode(value: unknown): value is ProxyErrorCode {
  return (PROXY_ERROR_CODES as readonly unknown[]).includes(value)
}

/** The body of every JSON error answer. */
export interface ErrorBody {
  error: ErrorCode
  message: string
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return (ERROR_CODES as readonly unknown[]).includes(value)
}
