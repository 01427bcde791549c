import type { ProviderConfig } from '../../shared/provider.ts'
import { PRESETS } from '../providers/presets.ts'
import { BaseOAuthClient } from './base.ts'
import { OAuthClient } from './oauth1.ts'
import { OAuth2Client } from './oauth2.ts'
import { OidcClient } from './oidc.ts'
import type { ClientToken } from './types.ts'

export type ClientClass = new (provider: ProviderConfig, token?: ClientToken | null) => BaseOAuthClient

/** Per-provider client overrides, by provider name (how a host app adapts one provider). */
export type ClientOverrides = Record<string, ClientClass>

/**
 * Picks the client for a provider, as django-all-access's `get_client` does: the host app's
 * override, else the client of the provider's preset (its quirks), else the protocol's.
 */
export function getClient(provider: ProviderConfig, token: ClientToken | null = null, overrides: ClientOverrides = {}): BaseOAuthClient {
  const Client = overrides[provider.name] ?? presetClient(provider) ?? (provider.protocol === 'oauth1' ? OAuthClient : provider.protocol === 'oidc' ? OidcClient : OAuth2Client)
  return new Client(provider, token)
}

/** A preset's client speaks its preset's protocol: a provider switched to another protocol does without it. */
function presetClient(provider: ProviderConfig): ClientClass | undefined {
  const preset = provider.preset && Object.hasOwn(PRESETS, provider.preset) ? PRESETS[provider.preset] : undefined
  return preset?.protocol === provider.protocol ? preset.client : undefined
}

export { BaseOAuthClient, OAuthClient, OAuth2Client, OidcClient }
