import { AUTH_ERROR_MESSAGES } from './auth-errors.ts'
import type { ErrorCode } from './errors.ts'

/**
 * The `message` of each code's JSON answer (`{"error","message"}`): a login failure's sentence is
 * the one the React library shows for it, every other code's is written here, once.
 */
export const ERROR_MESSAGES: Record<ErrorCode, string> = {
  ...AUTH_ERROR_MESSAGES,
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
  invalid_request: 'The logout token is missing or not valid.',
  reauth_required: 'Sign in with this provider again.',
  upstream_unreachable: "The provider's API could not be reached.",
  upstream_timeout: "The provider's API did not answer in time.",
  server_error: 'Something went wrong.',
}
