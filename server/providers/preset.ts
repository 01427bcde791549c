import type { ClientClass } from '../clients/index.ts'
import type { Protocol, RefreshSupport, ScopeDelimiter, TokenAuthMethod, TokenPlacement } from '../../shared/provider.ts'

/** A value a per-tenant provider needs (`--param domain=acme.okta.com`); without a default it is required. */
export interface PresetParam {
  name: string
  /** A typical value, shown by `all-access presets` and in the error for a missing parameter. */
  example: string
  default?: string
  /** What the value is, for the docs. */
  meaning: string
}

/** What a provider does, as its documentation says: the facts a login, a refresh and a disconnect rely on. */
export interface PresetCapabilities {
  refresh: RefreshSupport
  pkce: boolean
  /** Tokens can be revoked on disconnect (RFC 7009, or the provider's own call made by the preset's client). */
  revocation: boolean
  /** How the client authenticates at the token endpoint; null for OAuth 1.0a, which signs instead. */
  tokenAuthMethod: TokenAuthMethod | null
  scopeDelimiter: ScopeDelimiter
  /** Dotted path to the provider's user id in the profile. */
  identifierPath: string
  /** Dotted paths (space-separated, joined with a space) to the user's name; null: the usual fields. */
  displayNamePath: string | null
}

/** The provider's addresses. `{name}` stands for the preset parameter of that name. */
export interface PresetEndpoints {
  requestTokenUrl?: string
  authorizationUrl?: string
  accessTokenUrl?: string
  profileUrl?: string
  apiBaseUrl?: string
  issuer?: string
  revocationUrl?: string
}

/** One provider as a data record: everything but the credentials, which only the user gives. */
export interface Preset {
  displayName: string
  protocol: Protocol
  endpoints: PresetEndpoints
  /** Space-separated, as `--scope` takes it; sent joined with the scope delimiter. */
  scope?: string
  extraAuthorizationParams?: Record<string, string>
  tokenPlacement?: TokenPlacement
  supports: PresetCapabilities
  params?: PresetParam[]
  /** The client subclass that handles what the provider does differently from the protocol. */
  client?: ClientClass
  /** Where the endpoints, capabilities and profile shape come from. */
  docs: string
  /** What the person adding the provider still has to know or do, printed by `providers add`. */
  setup?: string
}
