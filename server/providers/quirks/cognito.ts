import type { LogoutUrlOptions } from '../../clients/base.ts'
import { OidcClient } from '../../clients/oidc.ts'

/**
 * Amazon Cognito: its discovery names its `/logout` endpoint as `end_session_endpoint`, but that
 * endpoint ignores `post_logout_redirect_uri` and refuses a request without `logout_uri` (with
 * `client_id`), which must be one of the app client's allowed sign-out URLs.
 */
export class CognitoClient extends OidcClient {
  override async getLogoutUrl(options: LogoutUrlOptions): Promise<string | null> {
    const standard = await super.getLogoutUrl(options)
    if (!standard) return null
    const url = new URL(standard)
    url.searchParams.set('logout_uri', options.postLogoutRedirectUri)
    return url.toString()
  }
}
