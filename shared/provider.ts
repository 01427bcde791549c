export const PROTOCOLS = ['oauth1', 'oauth2', 'oidc'] as const
export type Protocol = (typeof PROTOCOLS)[number]

export const TOKEN_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const
export type TokenAuthMethod = (typeof TOKEN_AUTH_METHODS)[number]

/** Where an OAuth 2.0 access token goes on API calls: an `Authorization: Bearer` header or an `access_token` query parameter. */
export type TokenPlacement = 'header' | 'query'

/**
 * What a provider does with refresh tokens: gives none (no refresh is ever attempted), gives one
 * that stays valid (`static`), or gives a new one at every refresh that replaces the old one
 * (`rotating`, the safe assumption for a provider nobody described).
 */
export const REFRESH_SUPPORT = ['none', 'static', 'rotating'] as const
export type RefreshSupport = (typeof REFRESH_SUPPORT)[number]

/** How a provider separates the scopes of an authorization request (RFC 6749 says space; some want commas). */
export const SCOPE_DELIMITERS = [' ', ','] as const
export type ScopeDelimiter = (typeof SCOPE_DELIMITERS)[number]

/** Provider names appear in URLs and cookies, so they are kept to a safe alphabet. */
export const PROVIDER_NAME_PATTERN = /^[a-z0-9-]{1,50}$/

/** A provider as the BFF knows it, secrets included. Never sent to a browser. */
export interface ProviderConfig {
  name: string
  displayName: string
  protocol: Protocol
  requestTokenUrl: string | null
  authorizationUrl: string | null
  accessTokenUrl: string | null
  profileUrl: string | null
  apiBaseUrl: string | null
  issuer: string | null
  revocationUrl: string | null
  scope: string | null
  identifierPath: string
  clientId: string | null
  clientSecret: string | null
  pkce: boolean
  tokenAuthMethod: TokenAuthMethod
  tokenPlacement: TokenPlacement
  extraAuthorizationParams: Record<string, string>
  /** The preset the provider was made from (its quirks client comes with it); null for a hand-made one. */
  preset?: string | null
  /** The values given for the preset's parameters (`domain`, `tenant`, …). */
  presetParams?: Record<string, string>
  /** Dotted paths into the profile, space-separated, whose values joined make the display name; null: the usual fields. */
  displayNamePath?: string | null
  /** Default `rotating`: refresh whenever there is a refresh token, and keep the newest. */
  refresh?: RefreshSupport
  /** Default a space. Scopes are stored space-separated and joined with this in the authorization request. */
  scopeDelimiter?: ScopeDelimiter
}

/** What `GET /auth/providers` lists: enabled providers, no secrets. */
export interface PublicProvider {
  name: string
  displayName: string
  protocol: Protocol
}

/** A provider is enabled only when both its client id and secret are set (as in django-all-access). */
export function isEnabled(provider: Pick<ProviderConfig, 'clientId' | 'clientSecret'>): boolean {
  return Boolean(provider.clientId) && Boolean(provider.clientSecret)
}
