import { OidcClient } from '../../clients/oidc.ts'
import type { RefreshOptions } from '../../clients/oauth2.ts'

/**
 * Yahoo lists `redirect_uri` among the parameters of a refresh as of a code exchange (OAuth 2.0
 * guide, "Exchange refresh token for new access token"): the refresh names its logins' callback URL.
 */
export class YahooClient extends OidcClient {
  protected override refreshGrant(refreshToken: string, options: RefreshOptions): Record<string, string> {
    const grant = super.refreshGrant(refreshToken, options)
    return options.callbackUrl ? { ...grant, redirect_uri: options.callbackUrl } : grant
  }
}
