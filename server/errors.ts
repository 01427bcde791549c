import { ERROR_MESSAGES } from '../shared/error-messages.ts'
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
  invalid_request: 400,
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

/** Codes that refuse the request itself, whatever step throws them (see {@link AllAccessError.refusal}). */
const REFUSALS_OF_THE_REQUEST: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['origin_not_allowed', 'invalid_state', 'rate_limited', 'payload_too_large', 'invalid_request', 'login_required'])

/**
 * The one error of all-access: a contract code with its HTTP status. Steps throw it; the error
 * middleware answers JSON (or a redirect with `auth_error` on the login routes). `detail` is for
 * the log only and never reaches a client.
 */
export class AllAccessError extends Error {
  readonly code: ErrorCode
  readonly status: number
  readonly detail?: string
  /**
   * Whether the request itself is refused for what its client sent or did (another site's start, a
   * stale or replayed login, too many starts, a body too large, a logout token anyone may post, a
   * login its provider's own logout ended, a callback its client made up): any client can cause one
   * a request, so its detail is logged as information, not as an error. What a provider or the BFF
   * got wrong is an error. The code decides, unless the step that throws can tell (`issuer_mismatch`:
   * the `iss` a callback's query brought, or the ID token's).
   */
  readonly refusal: boolean

  constructor(code: ErrorCode, options: { message?: string; status?: number; detail?: string; cause?: unknown; refusal?: boolean } = {}) {
    super(options.message ?? ERROR_MESSAGES[code], { cause: options.cause })
    this.name = 'AllAccessError'
    this.code = code
    this.status = options.status ?? STATUS[code]
    this.detail = options.detail
    this.refusal = options.refusal ?? REFUSALS_OF_THE_REQUEST.has(code)
  }
}
