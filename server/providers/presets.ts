import type { ProviderConfig } from '../../shared/provider.ts'

/** Preset values: everything of a provider but its name and credentials. */
export type ProviderPreset = Partial<Omit<ProviderConfig, 'name' | 'clientId' | 'clientSecret'>> &
  Pick<ProviderConfig, 'displayName' | 'protocol' | 'identifierPath'>

/**
 * The six providers django-all-access ships, with the endpoints they answer on today. Bitbucket
 * retired OAuth 1.0a, so its preset is OAuth 2.0; Google and Microsoft are OpenID Connect and take
 * their endpoints from discovery.
 */
export const PRESETS: Record<string, ProviderPreset> = {
  twitter: {
    displayName: 'X (Twitter)',
    protocol: 'oauth1',
    requestTokenUrl: 'https://api.twitter.com/oauth/request_token',
    authorizationUrl: 'https://api.twitter.com/oauth/authenticate',
    accessTokenUrl: 'https://api.twitter.com/oauth/access_token',
    profileUrl: 'https://api.twitter.com/1.1/account/verify_credentials.json',
    apiBaseUrl: 'https://api.twitter.com',
    identifierPath: 'id_str',
  },
  github: {
    displayName: 'GitHub',
    protocol: 'oauth2',
    authorizationUrl: 'https://github.com/login/oauth/authorize',
    accessTokenUrl: 'https://github.com/login/oauth/access_token',
    profileUrl: 'https://api.github.com/user',
    apiBaseUrl: 'https://api.github.com',
    scope: 'read:user user:email',
    identifierPath: 'id',
    tokenAuthMethod: 'client_secret_post',
  },
  google: {
    displayName: 'Google',
    protocol: 'oidc',
    issuer: 'https://accounts.google.com',
    profileUrl: 'https://openidconnect.googleapis.com/v1/userinfo',
    apiBaseUrl: 'https://www.googleapis.com',
    scope: 'openid email profile',
    identifierPath: 'sub',
    tokenAuthMethod: 'client_secret_post',
    // Google only issues a refresh token when asked for offline access.
    extraAuthorizationParams: { access_type: 'offline', prompt: 'consent' },
  },
  facebook: {
    displayName: 'Facebook',
    protocol: 'oauth2',
    authorizationUrl: 'https://www.facebook.com/v23.0/dialog/oauth',
    accessTokenUrl: 'https://graph.facebook.com/v23.0/oauth/access_token',
    profileUrl: 'https://graph.facebook.com/v23.0/me?fields=id,name,email',
    apiBaseUrl: 'https://graph.facebook.com/v23.0',
    scope: 'public_profile email',
    identifierPath: 'id',
    tokenAuthMethod: 'client_secret_post',
  },
  microsoft: {
    displayName: 'Microsoft',
    protocol: 'oidc',
    issuer: 'https://login.microsoftonline.com/common/v2.0',
    profileUrl: 'https://graph.microsoft.com/oidc/userinfo',
    apiBaseUrl: 'https://graph.microsoft.com/v1.0',
    scope: 'openid profile email offline_access User.Read',
    identifierPath: 'sub',
    tokenAuthMethod: 'client_secret_post',
  },
  bitbucket: {
    displayName: 'Bitbucket',
    protocol: 'oauth2',
    authorizationUrl: 'https://bitbucket.org/site/oauth2/authorize',
    accessTokenUrl: 'https://bitbucket.org/site/oauth2/access_token',
    profileUrl: 'https://api.bitbucket.org/2.0/user',
    apiBaseUrl: 'https://api.bitbucket.org/2.0',
    scope: 'account',
    identifierPath: 'uuid',
  },
}
