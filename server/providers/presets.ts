import type { Preset } from './preset.ts'
import { AppleClient } from './quirks/apple.ts'
import { CognitoClient } from './quirks/cognito.ts'
import { DropboxClient } from './quirks/dropbox.ts'
import { FacebookClient } from './quirks/facebook.ts'
import { FigmaClient } from './quirks/figma.ts'
import { FlickrClient } from './quirks/flickr.ts'
import { GarminClient } from './quirks/garmin.ts'
import { GitHubClient } from './quirks/github.ts'
import { HubSpotClient } from './quirks/hubspot.ts'
import { LinearClient } from './quirks/linear.ts'
import { LineClient } from './quirks/line.ts'
import { LinkedInClient } from './quirks/linkedin.ts'
import { NotionClient } from './quirks/notion.ts'
import { RequestTokenByGetClient } from './quirks/request-token-by-get.ts'
import { SlackClient } from './quirks/slack.ts'
import { SlackAppClient } from './quirks/slack-app.ts'
import { StravaClient } from './quirks/strava.ts'
import { TikTokClient } from './quirks/tiktok.ts'
import { TrelloClient } from './quirks/trello.ts'
import { TwitterClient } from './quirks/twitter.ts'
import { VkClient } from './quirks/vk.ts'
import { YahooClient } from './quirks/yahoo.ts'
import { YandexClient } from './quirks/yandex.ts'

export type { Preset, PresetCapabilities, PresetEndpoints, PresetParam } from './preset.ts'

/**
 * Every built-in provider, as its documentation (`docs`) describes it. OpenID Connect presets name
 * the issuer and take the rest from discovery; `{name}` in an endpoint is filled from
 * `--param name=value`. To add one, see docs/providers.md.
 */
export const PRESETS: Record<string, Preset> = {
  // OpenID Connect
  google: {
    displayName: 'Google',
    protocol: 'oidc',
    endpoints: {
      issuer: 'https://accounts.google.com',
      profileUrl: 'https://openidconnect.googleapis.com/v1/userinfo',
      apiBaseUrl: 'https://www.googleapis.com',
      revocationUrl: 'https://oauth2.googleapis.com/revoke',
    },
    scope: 'openid email profile',
    // Google only issues a refresh token when asked for offline access.
    extraAuthorizationParams: { access_type: 'offline', prompt: 'consent' },
    supports: { refresh: 'static', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'name' },
    docs: 'https://developers.google.com/identity/openid-connect/openid-connect',
  },
  microsoft: {
    displayName: 'Microsoft',
    protocol: 'oidc',
    endpoints: {
      issuer: 'https://login.microsoftonline.com/{tenant}/v2.0',
      profileUrl: 'https://graph.microsoft.com/oidc/userinfo',
      apiBaseUrl: 'https://graph.microsoft.com/v1.0',
    },
    scope: 'openid profile email offline_access User.Read',
    params: [{ name: 'tenant', example: '72f988bf-86f1-41af-91ab-2d7cd011db47', default: 'common', meaning: 'directory (tenant) id, or common, organizations, consumers' }],
    supports: { refresh: 'rotating', pkce: true, revocation: false, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'name' },
    docs: 'https://learn.microsoft.com/en-us/entra/identity-platform/v2-protocols-oidc',
  },
  apple: {
    displayName: 'Apple',
    protocol: 'oidc',
    endpoints: { issuer: 'https://appleid.apple.com', revocationUrl: 'https://appleid.apple.com/auth/revoke' },
    scope: 'name email',
    // Apple sends the name and email only to a form_post callback.
    extraAuthorizationParams: { response_mode: 'form_post' },
    params: [
      { name: 'team_id', example: 'ABCDE12345', meaning: 'Apple developer team id, the issuer of the client secret' },
      { name: 'key_id', example: 'XYZ987WVUT', meaning: 'id of the Sign in with Apple private key' },
    ],
    supports: { refresh: 'static', pkce: false, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'user.name.firstName user.name.lastName' },
    client: AppleClient,
    docs: 'https://developer.apple.com/documentation/sign_in_with_apple/request_an_authorization_to_the_sign_in_with_apple_server',
    setup:
      'the client id is the Services ID; the client secret is the .p8 private key (--client-secret - < AuthKey_KEYID.p8); Apple answers with a form POST to the callback URL',
  },
  gitlab: {
    displayName: 'GitLab',
    protocol: 'oidc',
    endpoints: {
      issuer: 'https://{domain}',
      profileUrl: 'https://{domain}/oauth/userinfo',
      apiBaseUrl: 'https://{domain}/api/v4',
      revocationUrl: 'https://{domain}/oauth/revoke',
    },
    scope: 'openid profile email',
    params: [{ name: 'domain', example: 'gitlab.example.com', default: 'gitlab.com', meaning: 'host of a self-managed GitLab' }],
    supports: { refresh: 'rotating', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'name' },
    docs: 'https://docs.gitlab.com/integration/openid_connect_provider/',
  },
  okta: {
    displayName: 'Okta',
    protocol: 'oidc',
    endpoints: { issuer: 'https://{domain}', apiBaseUrl: 'https://{domain}/api/v1', revocationUrl: 'https://{domain}/oauth2/v1/revoke' },
    scope: 'openid profile email offline_access',
    params: [{ name: 'domain', example: 'acme.okta.com', meaning: 'Okta org domain' }],
    supports: { refresh: 'rotating', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'name' },
    docs: 'https://developer.okta.com/docs/api/openapi/okta-oauth/guides/overview/',
  },
  auth0: {
    displayName: 'Auth0',
    protocol: 'oidc',
    // Auth0's issuer ends with a slash, and discovery must match it exactly.
    endpoints: { issuer: 'https://{domain}/', revocationUrl: 'https://{domain}/oauth/revoke' },
    scope: 'openid profile email offline_access',
    params: [{ name: 'domain', example: 'acme.us.auth0.com', meaning: 'Auth0 tenant domain' }],
    // A Regular Web Application's "Authentication Method" defaults to Client Secret (Post).
    supports: { refresh: 'rotating', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'name' },
    docs: 'https://auth0.com/docs/api/authentication',
  },
  keycloak: {
    displayName: 'Keycloak',
    protocol: 'oidc',
    endpoints: { issuer: 'https://{domain}/realms/{realm}', revocationUrl: 'https://{domain}/realms/{realm}/protocol/openid-connect/revoke' },
    scope: 'openid profile email',
    params: [
      { name: 'domain', example: 'keycloak.example.com', meaning: 'Keycloak host' },
      { name: 'realm', example: 'acme', meaning: 'realm name' },
    ],
    supports: { refresh: 'rotating', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'name' },
    docs: 'https://www.keycloak.org/securing-apps/oidc-layers',
  },
  cognito: {
    displayName: 'Amazon Cognito',
    protocol: 'oidc',
    // The revocation endpoint is on the user pool's domain, which discovery names.
    endpoints: { issuer: 'https://cognito-idp.{region}.amazonaws.com/{user_pool_id}' },
    scope: 'openid profile email',
    params: [
      { name: 'region', example: 'eu-west-1', meaning: 'AWS region of the user pool' },
      { name: 'user_pool_id', example: 'eu-west-1_AbCdEf123', meaning: 'user pool id' },
    ],
    supports: { refresh: 'static', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'username' },
    client: CognitoClient,
    setup: "for provider sign-out, add the app's address (PUBLIC_URL with a trailing /) to the app client's allowed sign-out URLs",
    docs: 'https://docs.aws.amazon.com/cognito/latest/developerguide/federation-endpoints.html',
  },
  salesforce: {
    displayName: 'Salesforce',
    protocol: 'oidc',
    endpoints: { issuer: 'https://{domain}', revocationUrl: 'https://{domain}/services/oauth2/revoke' },
    scope: 'openid profile email refresh_token api',
    params: [{ name: 'domain', example: 'acme.my.salesforce.com', default: 'login.salesforce.com', meaning: 'login host (My Domain, or test.salesforce.com for sandboxes)' }],
    supports: { refresh: 'static', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'user_id', displayNamePath: 'name' },
    docs: 'https://help.salesforce.com/s/articleView?id=sf.remoteaccess_using_openid.htm',
    setup: "API calls go to the org's own host: set --api-base-url https://<my-domain>.my.salesforce.com/services/data",
  },
  line: {
    displayName: 'LINE',
    protocol: 'oidc',
    endpoints: { issuer: 'https://access.line.me', profileUrl: 'https://api.line.me/oauth2/v2.1/userinfo', apiBaseUrl: 'https://api.line.me', revocationUrl: 'https://api.line.me/oauth2/v2.1/revoke' },
    scope: 'openid profile email',
    supports: { refresh: 'static', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'name' },
    client: LineClient,
    docs: 'https://developers.line.biz/en/docs/line-login/integrate-line-login/',
  },
  yahoo: {
    displayName: 'Yahoo',
    protocol: 'oidc',
    endpoints: { issuer: 'https://api.login.yahoo.com', profileUrl: 'https://api.login.yahoo.com/openid/v1/userinfo' },
    scope: 'openid profile email',
    supports: { refresh: 'static', pkce: false, revocation: false, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'name' },
    client: YahooClient,
    docs: 'https://developer.yahoo.com/sign-in-with-yahoo/',
  },
  twitch: {
    displayName: 'Twitch',
    protocol: 'oidc',
    endpoints: {
      issuer: 'https://id.twitch.tv/oauth2',
      profileUrl: 'https://id.twitch.tv/oauth2/userinfo',
      apiBaseUrl: 'https://api.twitch.tv/helix',
      revocationUrl: 'https://id.twitch.tv/oauth2/revoke',
    },
    scope: 'openid user:read:email',
    // Twitch's userinfo holds only the claims asked for by name.
    extraAuthorizationParams: { claims: '{"userinfo":{"preferred_username":null,"email":null,"picture":null}}' },
    supports: { refresh: 'rotating', pkce: false, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'preferred_username' },
    docs: 'https://dev.twitch.tv/docs/authentication/getting-tokens-oidc/',
    setup: 'Helix API calls also need a Client-Id header with the client id: send it with each request through the proxy',
  },
  slack: {
    displayName: 'Slack',
    protocol: 'oidc',
    endpoints: { issuer: 'https://slack.com', profileUrl: 'https://slack.com/api/openid.connect.userInfo', apiBaseUrl: 'https://slack.com/api' },
    scope: 'openid profile email',
    supports: { refresh: 'none', pkce: false, revocation: false, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'name' },
    client: SlackClient,
    docs: 'https://docs.slack.dev/authentication/sign-in-with-slack/',
  },
  linkedin: {
    displayName: 'LinkedIn',
    protocol: 'oidc',
    endpoints: { issuer: 'https://www.linkedin.com/oauth', profileUrl: 'https://api.linkedin.com/v2/userinfo', apiBaseUrl: 'https://api.linkedin.com' },
    scope: 'openid profile email',
    supports: { refresh: 'static', pkce: false, revocation: false, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'name' },
    client: LinkedInClient,
    docs: 'https://learn.microsoft.com/en-us/linkedin/consumer/integrations/self-serve/sign-in-with-linkedin-v2',
  },
  zitadel: {
    displayName: 'ZITADEL',
    protocol: 'oidc',
    endpoints: { issuer: 'https://{domain}', revocationUrl: 'https://{domain}/oauth/v2/revoke' },
    scope: 'openid profile email offline_access',
    params: [{ name: 'domain', example: 'acme-a1b2c3.zitadel.cloud', meaning: 'ZITADEL instance domain' }],
    supports: { refresh: 'rotating', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'name' },
    docs: 'https://zitadel.com/docs/apis/openidoauth/endpoints',
  },
  authentik: {
    displayName: 'authentik',
    protocol: 'oidc',
    endpoints: { issuer: 'https://{domain}/application/o/{slug}/', revocationUrl: 'https://{domain}/application/o/revoke/' },
    scope: 'openid profile email offline_access',
    params: [
      { name: 'domain', example: 'auth.example.com', meaning: 'authentik host' },
      { name: 'slug', example: 'all-access', meaning: "the application's slug" },
    ],
    supports: { refresh: 'rotating', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'sub', displayNamePath: 'name' },
    docs: 'https://docs.goauthentik.io/add-secure-apps/providers/oauth2/',
  },

  // OAuth 2.0
  github: {
    displayName: 'GitHub',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://github.com/login/oauth/authorize',
      accessTokenUrl: 'https://github.com/login/oauth/access_token',
      profileUrl: 'https://api.github.com/user',
      apiBaseUrl: 'https://api.github.com',
      revocationUrl: 'https://api.github.com/applications',
    },
    scope: 'read:user user:email',
    // OAuth apps' tokens never expire and come without a refresh token (GitHub Apps' may: --refresh rotating).
    supports: { refresh: 'none', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'id', displayNamePath: 'name' },
    client: GitHubClient,
    docs: 'https://docs.github.com/en/apps/oauth-apps/building-oauth-apps/authorizing-oauth-apps',
  },
  facebook: {
    displayName: 'Facebook',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://www.facebook.com/v23.0/dialog/oauth',
      accessTokenUrl: 'https://graph.facebook.com/v23.0/oauth/access_token',
      profileUrl: 'https://graph.facebook.com/v23.0/me?fields=id,name,email',
      apiBaseUrl: 'https://graph.facebook.com/v23.0',
      revocationUrl: 'https://graph.facebook.com/v23.0/me/permissions',
    },
    scope: 'public_profile email',
    supports: { refresh: 'none', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ',', identifierPath: 'id', displayNamePath: 'name' },
    client: FacebookClient,
    docs: 'https://developers.facebook.com/docs/facebook-login/guides/advanced/manual-flow',
  },
  bitbucket: {
    displayName: 'Bitbucket',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://bitbucket.org/site/oauth2/authorize',
      accessTokenUrl: 'https://bitbucket.org/site/oauth2/access_token',
      profileUrl: 'https://api.bitbucket.org/2.0/user',
      apiBaseUrl: 'https://api.bitbucket.org/2.0',
    },
    scope: 'account',
    supports: { refresh: 'static', pkce: false, revocation: false, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'uuid', displayNamePath: 'display_name' },
    docs: 'https://developer.atlassian.com/cloud/bitbucket/oauth-2/',
  },
  discord: {
    displayName: 'Discord',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://discord.com/oauth2/authorize',
      accessTokenUrl: 'https://discord.com/api/oauth2/token',
      profileUrl: 'https://discord.com/api/users/@me',
      apiBaseUrl: 'https://discord.com/api',
      revocationUrl: 'https://discord.com/api/oauth2/token/revoke',
    },
    scope: 'identify email',
    supports: { refresh: 'rotating', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'id', displayNamePath: 'global_name' },
    docs: 'https://discord.com/developers/docs/topics/oauth2',
  },
  spotify: {
    displayName: 'Spotify',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://accounts.spotify.com/authorize',
      accessTokenUrl: 'https://accounts.spotify.com/api/token',
      profileUrl: 'https://api.spotify.com/v1/me',
      apiBaseUrl: 'https://api.spotify.com/v1',
    },
    scope: 'user-read-private user-read-email',
    supports: { refresh: 'rotating', pkce: true, revocation: false, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'id', displayNamePath: 'display_name' },
    docs: 'https://developer.spotify.com/documentation/web-api/tutorials/code-flow',
  },
  dropbox: {
    displayName: 'Dropbox',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://www.dropbox.com/oauth2/authorize',
      accessTokenUrl: 'https://api.dropboxapi.com/oauth2/token',
      profileUrl: 'https://api.dropboxapi.com/2/users/get_current_account',
      apiBaseUrl: 'https://api.dropboxapi.com/2',
      revocationUrl: 'https://api.dropboxapi.com/2/auth/token/revoke',
    },
    scope: 'account_info.read',
    // Short-lived tokens come with a refresh token only for offline access.
    extraAuthorizationParams: { token_access_type: 'offline' },
    supports: { refresh: 'static', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'account_id', displayNamePath: 'name.display_name' },
    client: DropboxClient,
    docs: 'https://developers.dropbox.com/oauth-guide',
  },
  box: {
    displayName: 'Box',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://account.box.com/api/oauth2/authorize',
      accessTokenUrl: 'https://api.box.com/oauth2/token',
      profileUrl: 'https://api.box.com/2.0/users/me',
      apiBaseUrl: 'https://api.box.com/2.0',
      revocationUrl: 'https://api.box.com/oauth2/revoke',
    },
    supports: { refresh: 'rotating', pkce: false, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'id', displayNamePath: 'name' },
    docs: 'https://developer.box.com/guides/authentication/oauth2/',
  },
  reddit: {
    displayName: 'Reddit',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://www.reddit.com/api/v1/authorize',
      accessTokenUrl: 'https://www.reddit.com/api/v1/access_token',
      profileUrl: 'https://oauth.reddit.com/api/v1/me',
      apiBaseUrl: 'https://oauth.reddit.com',
      revocationUrl: 'https://www.reddit.com/api/v1/revoke_token',
    },
    scope: 'identity',
    // Without duration=permanent Reddit gives a one-hour token and no refresh token.
    extraAuthorizationParams: { duration: 'permanent' },
    supports: { refresh: 'static', pkce: false, revocation: true, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'id', displayNamePath: 'name' },
    docs: 'https://github.com/reddit-archive/reddit/wiki/OAuth2',
    // r/redditdev, "Introducing the Responsible Builder Policy + new approval process for API access" (November 2025).
    setup: "since November 2025 a new app needs Reddit's approval before its logins work (Responsible Builder Policy: request access at support.reddithelp.com); an app approved before keeps working",
  },
  atlassian: {
    displayName: 'Atlassian',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://auth.atlassian.com/authorize',
      accessTokenUrl: 'https://auth.atlassian.com/oauth/token',
      profileUrl: 'https://api.atlassian.com/me',
      apiBaseUrl: 'https://api.atlassian.com',
    },
    scope: 'read:me offline_access',
    extraAuthorizationParams: { audience: 'api.atlassian.com', prompt: 'consent' },
    supports: { refresh: 'rotating', pkce: false, revocation: false, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'account_id', displayNamePath: 'name' },
    docs: 'https://developer.atlassian.com/cloud/jira/platform/oauth-2-3lo-apps/',
  },
  figma: {
    displayName: 'Figma',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://www.figma.com/oauth',
      accessTokenUrl: 'https://api.figma.com/v1/oauth/token',
      profileUrl: 'https://api.figma.com/v1/me',
      apiBaseUrl: 'https://api.figma.com/v1',
    },
    scope: 'current_user:read',
    supports: { refresh: 'static', pkce: true, revocation: false, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'id', displayNamePath: 'handle' },
    client: FigmaClient,
    docs: 'https://developers.figma.com/docs/rest-api/oauth-apps/',
  },
  notion: {
    displayName: 'Notion',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://api.notion.com/v1/oauth/authorize',
      accessTokenUrl: 'https://api.notion.com/v1/oauth/token',
      profileUrl: 'https://api.notion.com/v1/users/me',
      apiBaseUrl: 'https://api.notion.com/v1',
      revocationUrl: 'https://api.notion.com/v1/oauth/revoke',
    },
    extraAuthorizationParams: { owner: 'user' },
    supports: { refresh: 'rotating', pkce: false, revocation: true, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'bot.owner.user.id', displayNamePath: 'bot.owner.user.name' },
    client: NotionClient,
    docs: 'https://developers.notion.com/docs/authorization',
    setup: 'API calls through the proxy need a Notion-Version header',
  },
  linear: {
    displayName: 'Linear',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://linear.app/oauth/authorize',
      accessTokenUrl: 'https://api.linear.app/oauth/token',
      profileUrl: 'https://api.linear.app/graphql',
      apiBaseUrl: 'https://api.linear.app',
      revocationUrl: 'https://api.linear.app/oauth/revoke',
    },
    scope: 'read',
    supports: { refresh: 'rotating', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ',', identifierPath: 'data.viewer.id', displayNamePath: 'data.viewer.name' },
    client: LinearClient,
    docs: 'https://linear.app/developers/oauth-2-0-authentication',
  },
  zoom: {
    displayName: 'Zoom',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://zoom.us/oauth/authorize',
      accessTokenUrl: 'https://zoom.us/oauth/token',
      profileUrl: 'https://api.zoom.us/v2/users/me',
      apiBaseUrl: 'https://api.zoom.us/v2',
      revocationUrl: 'https://zoom.us/oauth/revoke',
    },
    scope: 'user:read:user',
    supports: { refresh: 'rotating', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'id', displayNamePath: 'display_name' },
    docs: 'https://developers.zoom.us/docs/integrations/oauth/',
  },
  strava: {
    displayName: 'Strava',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://www.strava.com/oauth/authorize',
      accessTokenUrl: 'https://www.strava.com/oauth/token',
      profileUrl: 'https://www.strava.com/api/v3/athlete',
      apiBaseUrl: 'https://www.strava.com/api/v3',
      revocationUrl: 'https://www.strava.com/oauth/deauthorize',
    },
    scope: 'read',
    supports: { refresh: 'rotating', pkce: false, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ',', identifierPath: 'id', displayNamePath: 'firstname lastname' },
    client: StravaClient,
    docs: 'https://developers.strava.com/docs/authentication/',
  },
  patreon: {
    displayName: 'Patreon',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://www.patreon.com/oauth2/authorize',
      accessTokenUrl: 'https://www.patreon.com/api/oauth2/token',
      profileUrl: 'https://www.patreon.com/api/oauth2/v2/identity?fields%5Buser%5D=full_name,email',
      apiBaseUrl: 'https://www.patreon.com/api/oauth2/v2',
    },
    scope: 'identity identity[email]',
    supports: { refresh: 'rotating', pkce: false, revocation: false, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'data.id', displayNamePath: 'data.attributes.full_name' },
    docs: 'https://docs.patreon.com/#oauth',
  },
  x: {
    displayName: 'X',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://x.com/i/oauth2/authorize',
      accessTokenUrl: 'https://api.x.com/2/oauth2/token',
      profileUrl: 'https://api.x.com/2/users/me',
      apiBaseUrl: 'https://api.x.com/2',
      revocationUrl: 'https://api.x.com/2/oauth2/revoke',
    },
    scope: 'tweet.read users.read offline.access',
    supports: { refresh: 'rotating', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'data.id', displayNamePath: 'data.name' },
    docs: 'https://docs.x.com/fundamentals/authentication/oauth-2-0/authorization-code',
  },
  tiktok: {
    displayName: 'TikTok',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://www.tiktok.com/v2/auth/authorize/',
      accessTokenUrl: 'https://open.tiktokapis.com/v2/oauth/token/',
      profileUrl: 'https://open.tiktokapis.com/v2/user/info/?fields=open_id,union_id,avatar_url,display_name',
      apiBaseUrl: 'https://open.tiktokapis.com/v2',
      revocationUrl: 'https://open.tiktokapis.com/v2/oauth/revoke/',
    },
    scope: 'user.info.basic',
    supports: { refresh: 'rotating', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ',', identifierPath: 'data.user.open_id', displayNamePath: 'data.user.display_name' },
    client: TikTokClient,
    docs: 'https://developers.tiktok.com/doc/login-kit-web',
  },
  paypal: {
    displayName: 'PayPal',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://www.paypal.com/signin/authorize',
      accessTokenUrl: 'https://api-m.paypal.com/v1/oauth2/token',
      profileUrl: 'https://api-m.paypal.com/v1/identity/oauth2/userinfo?schema=paypalv1.1',
      apiBaseUrl: 'https://api-m.paypal.com',
    },
    scope: 'openid profile email',
    extraAuthorizationParams: { flowEntry: 'static' },
    supports: { refresh: 'static', pkce: false, revocation: false, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'user_id', displayNamePath: 'name' },
    docs: 'https://developer.paypal.com/docs/log-in-with-paypal/integrate/',
  },
  mastodon: {
    displayName: 'Mastodon',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://{instance}/oauth/authorize',
      accessTokenUrl: 'https://{instance}/oauth/token',
      profileUrl: 'https://{instance}/api/v1/accounts/verify_credentials',
      apiBaseUrl: 'https://{instance}/api/v1',
      revocationUrl: 'https://{instance}/oauth/revoke',
    },
    scope: 'read:accounts',
    params: [{ name: 'instance', example: 'mastodon.social', meaning: 'host of the Mastodon server' }],
    supports: { refresh: 'none', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'id', displayNamePath: 'display_name' },
    docs: 'https://docs.joinmastodon.org/methods/oauth/',
  },
  gitea: {
    displayName: 'Gitea',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://{domain}/login/oauth/authorize',
      accessTokenUrl: 'https://{domain}/login/oauth/access_token',
      profileUrl: 'https://{domain}/api/v1/user',
      apiBaseUrl: 'https://{domain}/api/v1',
    },
    scope: 'read:user',
    params: [{ name: 'domain', example: 'gitea.example.com', meaning: 'host of the Gitea server' }],
    supports: { refresh: 'rotating', pkce: true, revocation: false, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'id', displayNamePath: 'full_name' },
    docs: 'https://docs.gitea.com/development/oauth2-provider',
  },
  yandex: {
    displayName: 'Yandex',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://oauth.yandex.com/authorize',
      accessTokenUrl: 'https://oauth.yandex.com/token',
      profileUrl: 'https://login.yandex.ru/info?format=json',
      apiBaseUrl: 'https://login.yandex.ru',
    },
    scope: 'login:info login:email',
    supports: { refresh: 'static', pkce: true, revocation: false, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ' ', identifierPath: 'id', displayNamePath: 'display_name' },
    client: YandexClient,
    docs: 'https://yandex.com/dev/id/doc/en/user-information',
  },
  vk: {
    displayName: 'VK ID',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://id.vk.com/authorize',
      accessTokenUrl: 'https://id.vk.com/oauth2/auth',
      profileUrl: 'https://id.vk.com/oauth2/user_info',
      apiBaseUrl: 'https://api.vk.com/method',
      revocationUrl: 'https://id.vk.com/oauth2/revoke',
    },
    scope: 'vkid.personal_info email',
    // VK ID's refresh sends the device_id of the login back: VkClient keeps it with the refresh token.
    supports: { refresh: 'rotating', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'user.user_id', displayNamePath: 'user.first_name user.last_name' },
    client: VkClient,
    docs: 'https://id.vk.com/about/business/go/docs/en/vkid/latest/vk-id/connection/api-integration/api-description',
  },
  hubspot: {
    displayName: 'HubSpot',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://app.hubspot.com/oauth/authorize',
      accessTokenUrl: 'https://api.hubapi.com/oauth/2026-03/token',
      profileUrl: 'https://api.hubapi.com/oauth/2026-03/token/introspect',
      apiBaseUrl: 'https://api.hubapi.com',
    },
    scope: 'oauth',
    supports: { refresh: 'static', pkce: false, revocation: false, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'user_id', displayNamePath: 'user' },
    client: HubSpotClient,
    docs: 'https://developers.hubspot.com/docs/api-reference/latest/authentication/manage-oauth-tokens',
  },
  'slack-app': {
    displayName: 'Slack',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://slack.com/oauth/v2/authorize',
      accessTokenUrl: 'https://slack.com/api/oauth.v2.access',
      profileUrl: 'https://slack.com/api/auth.test',
      apiBaseUrl: 'https://slack.com/api',
    },
    scope: 'users:read',
    supports: { refresh: 'none', pkce: false, revocation: false, tokenAuthMethod: 'client_secret_basic', scopeDelimiter: ',', identifierPath: 'user_id', displayNamePath: 'user' },
    client: SlackAppClient,
    docs: 'https://docs.slack.dev/authentication/installing-with-oauth',
  },
  garmin: {
    displayName: 'Garmin',
    protocol: 'oauth2',
    endpoints: {
      authorizationUrl: 'https://connect.garmin.com/oauth2Confirm',
      accessTokenUrl: 'https://diauth.garmin.com/di-oauth2-service/oauth/token',
      profileUrl: 'https://apis.garmin.com/wellness-api/rest/user/id',
      apiBaseUrl: 'https://apis.garmin.com',
      revocationUrl: 'https://apis.garmin.com/wellness-api/rest/user/registration',
    },
    // No scope: the user grants the app's permissions on Garmin's consent page. The Health API names
    // the user by an id only, the same for every token of that user.
    supports: { refresh: 'rotating', pkce: true, revocation: true, tokenAuthMethod: 'client_secret_post', scopeDelimiter: ' ', identifierPath: 'userId', displayNamePath: null },
    client: GarminClient,
    docs: 'https://developerportal.garmin.com/sites/default/files/OAuth2PKCE_1.pdf',
  },

  // OAuth 1.0a
  twitter: {
    displayName: 'X (Twitter)',
    protocol: 'oauth1',
    endpoints: {
      requestTokenUrl: 'https://api.twitter.com/oauth/request_token',
      authorizationUrl: 'https://api.twitter.com/oauth/authenticate',
      accessTokenUrl: 'https://api.twitter.com/oauth/access_token',
      profileUrl: 'https://api.twitter.com/1.1/account/verify_credentials.json',
      apiBaseUrl: 'https://api.twitter.com',
      // X API v1.1's invalidate_token, the one revocation of OAuth 1.0a tokens (made by TwitterClient).
      revocationUrl: 'https://api.x.com/1.1/oauth/invalidate_token',
    },
    supports: { refresh: 'none', pkce: false, revocation: true, tokenAuthMethod: null, scopeDelimiter: ' ', identifierPath: 'id_str', displayNamePath: 'name' },
    client: TwitterClient,
    docs: 'https://docs.x.com/resources/fundamentals/authentication/oauth-1-0a/obtaining-user-access-tokens',
  },
  trello: {
    displayName: 'Trello',
    protocol: 'oauth1',
    endpoints: {
      requestTokenUrl: 'https://trello.com/1/OAuthGetRequestToken',
      authorizationUrl: 'https://trello.com/1/OAuthAuthorizeToken',
      accessTokenUrl: 'https://trello.com/1/OAuthGetAccessToken',
      profileUrl: 'https://api.trello.com/1/members/me',
      apiBaseUrl: 'https://api.trello.com/1',
    },
    scope: 'read',
    supports: { refresh: 'none', pkce: false, revocation: false, tokenAuthMethod: null, scopeDelimiter: ',', identifierPath: 'id', displayNamePath: 'fullName' },
    client: TrelloClient,
    docs: 'https://developer.atlassian.com/cloud/trello/guides/rest-api/authorization/',
  },
  flickr: {
    displayName: 'Flickr',
    protocol: 'oauth1',
    endpoints: {
      requestTokenUrl: 'https://www.flickr.com/services/oauth/request_token',
      authorizationUrl: 'https://www.flickr.com/services/oauth/authorize',
      accessTokenUrl: 'https://www.flickr.com/services/oauth/access_token',
      profileUrl: 'https://api.flickr.com/services/rest?method=flickr.test.login&format=json&nojsoncallback=1',
      apiBaseUrl: 'https://api.flickr.com/services',
    },
    extraAuthorizationParams: { perms: 'read' },
    supports: { refresh: 'none', pkce: false, revocation: false, tokenAuthMethod: null, scopeDelimiter: ' ', identifierPath: 'user.id', displayNamePath: 'user.username._content' },
    client: FlickrClient,
    docs: 'https://www.flickr.com/services/api/auth.oauth.html',
  },
  'garmin-oauth1': {
    displayName: 'Garmin',
    protocol: 'oauth1',
    endpoints: {
      requestTokenUrl: 'https://connectapi.garmin.com/oauth-service/oauth/request_token',
      authorizationUrl: 'https://connect.garmin.com/oauthConfirm',
      accessTokenUrl: 'https://connectapi.garmin.com/oauth-service/oauth/access_token',
      profileUrl: 'https://apis.garmin.com/wellness-api/rest/user/id',
      apiBaseUrl: 'https://apis.garmin.com',
    },
    // The Health API names the user by an id only.
    supports: { refresh: 'none', pkce: false, revocation: false, tokenAuthMethod: null, scopeDelimiter: ' ', identifierPath: 'userId', displayNamePath: null },
    docs: 'https://developer.garmin.com/gc-developer-program/health-api/',
    setup:
      'Garmin retires OAuth 1.0a on 2026-12-31, and this preset with it: for an app Garmin has moved to OAuth 2.0, use the garmin preset with its OAuth 2.0 client id and secret',
  },
  discogs: {
    displayName: 'Discogs',
    protocol: 'oauth1',
    endpoints: {
      requestTokenUrl: 'https://api.discogs.com/oauth/request_token',
      authorizationUrl: 'https://www.discogs.com/oauth/authorize',
      accessTokenUrl: 'https://api.discogs.com/oauth/access_token',
      profileUrl: 'https://api.discogs.com/oauth/identity',
      apiBaseUrl: 'https://api.discogs.com',
    },
    // Its 401 ("You must authenticate to access this resource.") answers a call with no or bad
    // authentication alike and names no dead token, so it is passed on, the account kept active.
    supports: { refresh: 'none', pkce: false, revocation: false, tokenAuthMethod: null, scopeDelimiter: ' ', identifierPath: 'id', displayNamePath: 'username' },
    client: RequestTokenByGetClient,
    docs: 'https://www.discogs.com/developers/#page:authentication',
  },
}
