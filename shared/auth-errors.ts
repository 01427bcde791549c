import type { ErrorCode } from './errors.ts'

/**
 * What a person is told when a login fails with each code: the `auth_error` a failed login comes
 * back with (DESIGN.md, the login redirect and the callback). The same sentences are the `message`
 * of these codes' JSON answers (see `ERROR_MESSAGES`). A module of its own, so that the React
 * library carries only these.
 */
export const AUTH_ERROR_MESSAGES = {
  access_denied: 'Sign-in was cancelled or refused.',
  invalid_state: 'The sign-in expired or could not be verified. Please try again.',
  missing_code: 'The provider did not complete the sign-in.',
  login_required: 'The provider needs you to sign in.',
  issuer_mismatch: 'The sign-in answer did not come from the expected provider.',
  request_token_failed: 'The provider could not start the sign-in.',
  provider_unavailable: 'The provider could not be reached. Please try again later.',
  token_request_failed: 'The provider did not accept the sign-in.',
  id_token_invalid: 'The provider sent an invalid identity token.',
  profile_request_failed: 'Your profile could not be loaded from the provider.',
  missing_identifier: 'The provider did not say who you are.',
  account_conflict: 'That account is already linked to another user.',
  service_unavailable: 'The service is temporarily unavailable. Please try again later.',
} as const satisfies Partial<Record<ErrorCode, string>>

/**
 * The sentence to show for a login failure code. Any other (`server_error`, or a code this version
 * does not know) reads as a sign-in that went wrong.
 */
export function authErrorMessage(code: string): string {
  return (AUTH_ERROR_MESSAGES as Partial<Record<string, string>>)[code] ?? 'Something went wrong during sign-in.'
}
