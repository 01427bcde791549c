import { OAuth2Client } from '../../clients/oauth2.ts'
import { callProvider } from '../../clients/provider-http.ts'

/**
 * Garmin has no RFC 7009 endpoint: `DELETE /wellness-api/rest/user/registration` made with the
 * user's token removes the user from the app, and Garmin requires it wherever the user is given a
 * way to take back the consent to share Garmin data (Connect Developer Program Start Guide, "Delete
 * User Access Token"), as a disconnect is. It takes an access token that still works, and Garmin's
 * last a day (`expires_in: 86400`): most disconnects come later, so the refresh token is first
 * exchanged for a fresh one.
 */
export class GarminClient extends OAuth2Client {
  protected override async revokeAt(endpoint: string, token: string, hint: 'access_token' | 'refresh_token'): Promise<boolean> {
    const accessToken = hint === 'refresh_token' ? (await this.refreshAccessToken(token)).accessToken : token
    const { url, headers } = this.authorizeRequest({ method: 'DELETE', url: new URL(endpoint) }, { accessToken })
    const answer = await callProvider(url, { method: 'DELETE', headers }, 'upstream_unreachable')
    // The refresh token goes first: by then the registration is gone, and Garmin refuses the old
    // access token as unauthorized, as it does an expired one.
    return answer.ok || (hint === 'access_token' && answer.status === 401)
  }
}
