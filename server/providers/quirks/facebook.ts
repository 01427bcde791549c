import { OAuth2Client } from '../../clients/oauth2.ts'
import { callProvider } from '../../clients/provider-http.ts'

/**
 * Facebook has no RFC 7009 endpoint: an app de-authorizes itself for a user with
 * `DELETE /{user-id}/permissions` made with the user's token (Facebook Login, "Revoking
 * Authorization and Token Invalidation for Login"), which invalidates every user token of the app.
 * The preset's revocation URL names the user as `me`, the user of the token.
 */
export class FacebookClient extends OAuth2Client {
  protected override async revokeAt(endpoint: string, token: string, hint: 'access_token' | 'refresh_token'): Promise<boolean> {
    // Facebook gives no refresh token: there is nothing else to end.
    if (hint === 'refresh_token') return true
    const { url, headers } = this.authorizeRequest({ method: 'DELETE', url: new URL(endpoint) }, { accessToken: token })
    const answer = await callProvider(url, { method: 'DELETE', headers }, 'upstream_unreachable')
    return answer.ok
  }
}
