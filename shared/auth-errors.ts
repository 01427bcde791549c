import type { ErrorCode } from './errors.ts'

const PROVIDER_FAILED = 'The provider did not complete the sign-in.'

/**
 * What a person is told when a login fails with each code: the `auth_error` a failed login comes
 * back with (DESIGN.md, the login redirect and the callback). The same sentences are the `message`
 * of these codes' JSON answers (see `ERROR_MESSAGES`). A module of its own, so that the React
 * library carries only these.
 */
export const AUTH_ERROR_MESSAGES = {
  access_denied: 'Sign-in was cancelled or refused.',
  invalid_state: 'The sign-in expired. Please try again.',
  login_required: 'The provider needs you to sign in.',
  account_conflict: 'That account is already linked to another user.',
  provider_unavailable: 'The provider could not be reached. Please try again later.',
  service_unavailable: 'The service is temporarily unavailable. Please try again later.',
  // Which step failed is for the log: to the person it is one failure of the provider's.
  missing_code: PROVIDER_FAILED,
  issuer_mismatch: PROVIDER_FAILED,
  request_token_failed: PROVIDER_FAILED,
  token_request_failed: PROVIDER_FAILED,
  id_token_invalid: PROVIDER_FAILED,
  profile_request_failed: PROVIDER_FAILED,
  missing_identifier: PROVIDER_FAILED,
} as const satisfies Partial<Record<ErrorCode, string>>

/**
 * The sentence to show for a login failure code. Any other (`server_error`, or a code this version
 * does not know) reads as a sign-in that went wrong.
 */
export function authErrorMessage(code: string): string {
  // A code named like an inherited property (`__proto__`, `toString`) finds that property, not a sentence.
  const message = (AUTH_ERROR_MESSAGES as Partial<Record<string, unknown>>)[code]
  return typeof message == 'string' ? message : 'Something went wrong during sign-in.'
}
