import type { ProviderConfig } from '../../shared/provider.ts'
import { BaseOAuthClient } from './base.ts'
import { OAuthClient } from './oauth1.ts'
import { OAuth2Client } from './oauth2.ts'
import { OidcClient } from './oidc.ts'
import type { ClientToken } from './types.ts'

export type ClientClass = new (provider: ProviderConfig, token?: ClientToken | null) => BaseOAuthClient

/** Per-provider client overrides, by provider name (how a host app adapts one provider). */
export type ClientOverrides = Record<string, ClientClass>

/** Picks the client for a provider, as django-all-access's `get_client` does. */
export function getClient(provider: ProviderConfig, token: ClientToken | null = null, overrides: ClientOverrides = {}): BaseOAuthClient {
  const Client = overrides[provider.name] ?? (provider.protocol === 'oauth1' ? OAuthClient : provider.protocol === 'oidc' ? OidcClient : OAuth2Client)
  return new Client(provider, token)
}

export { BaseOAuthClient, OAuthClient, OAuth2Client, OidcClient }
