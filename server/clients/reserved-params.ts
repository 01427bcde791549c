/**
 * The authorization request parameters that bind a redirect to its login: the client, the redirect
 * URI, state, PKCE, the nonce, the OAuth 1.0a request token. Extra authorization parameters (a
 * provider's `--auth-param`, the `getAdditionalParameters` hook) may change defaults such as
 * `scope`, as in django-all-access, but never set one of these.
 */
export const RESERVED_AUTHORIZATION_PARAMS: ReadonlySet<string> = new Set([
  'response_type',
  'client_id',
  'redirect_uri',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
  'oauth_token',
])

/** The extra parameters a login may add: all but the reserved ones. */
export function withoutReservedParams(params: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(params).filter(([name]) => !RESERVED_AUTHORIZATION_PARAMS.has(name)))
}

/**
 * The seconds a `max_age` authorization parameter asks for (OpenID Connect Core §3.1.2.1: a whole
 * number of seconds); null for any other value, which the ID token could not be held to.
 */
export function maxAgeSeconds(value: string): number | null {
  return /^\d{1,10}$/.test(value) ? Number(value) : null
}
