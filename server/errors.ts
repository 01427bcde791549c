import type { ErrorCode } from '../shared/errors.ts'

/** The HTTP status each contract code answers with, unless a step says otherwise. */
const STATUS: Record<ErrorCode, number> = {
  csrf_required: 403,
  origin_not_allowed: 403,
  not_authenticated: 401,
  unknown_provider: 404,
  account_not_found: 404,
  account_not_connected: 403,
  invalid_path: 400,
  payload_too_large: 413,
  not_found: 404,
  method_not_allowed: 405,
  rate_limited: 429,
  access_denied: 400,
  invalid_state: 400,
  missing_code: 400,
  login_required: 400,
  issuer_mismatch: 400,
  request_token_failed: 502,
  provider_unavailable: 502,
  token_request_failed: 502,
  id_token_invalid: 400,
  profile_request_failed: 502,
  missing_identifier: 502,
  account_conflict: 409,
  reauth_required: 401,
  upstream_unreachable: 502,
  upstream_timeout: 504,
  service_unavailable: 503,
  server_error: 500,
}

const MESSAGES: Record<ErrorCode, string> = {
  csrf_required: 'This route needs the X-CSRF: 1 header.',
  origin_not_allowed: 'Requests from this origin are not allowed.',
  not_authenticated: 'Sign in first.',
  unknown_provider: 'No enabled provider has this name.',
  account_not_found: 'No account is linked for this provider.',
  account_not_connected: 'Connect this provider first.',
  invalid_path: 'The API path must be a plain relative path.',
  payload_too_large: 'The request body is too large.',
  not_found: 'No such route.',
  method_not_allowed: 'This route does not take this method.',
  rate_limited: 'Too many sign-ins started from this address; try again later.',
  access_denied: 'The sign-in was refused.',
  invalid_state: 'The sign-in could not be verified; start again.',
  missing_code: 'The provider sent no authorization code.',
  login_required: 'The provider needs you to sign in.',
  issuer_mismatch: 'The answer did not come from the expected provider.',
  request_token_failed: 'The provider refused the request token.',
  provider_unavailable: 'The provider could not be reached.',
  token_request_failed: 'The provider refused the token request.',
  id_token_invalid: 'The provider sent an invalid ID token.',
  profile_request_failed: 'The profile could not be loaded.',
  missing_identifier: 'The profile has no identifier.',
  account_conflict: 'This identity is already linked to another user.',
  reauth_required: 'Sign in with this provider again.',
  upstream_unreachable: "The provider's API could not be reached.",
  upstream_timeout: "The provider's API did not answer in time.",
  service_unavailable: 'The service is temporarily unavailable.',
  server_error: 'Something went wrong.',
}

/**
 * The one error of all-access: a contract code with its HTTP status. Steps throw it; the error
 * middleware answers JSON (or a redirect with `auth_error` on the login routes). `detail` is for
 * the log only and never reaches a client.
 */
export class AllAccessError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly detail?: string

  constructor(code: ErrorCode, options: { message?: string; status?: number; detail?: string; cause?: unknown } = {}) {
    super(options.message ?? MESSAGES[code], { cause: options.cause })
    this.name = 'AllAccessError'
    this.code = code
    this.status = options.status ?? STATUS[code]
    this.detail = options.detail
  }
}
