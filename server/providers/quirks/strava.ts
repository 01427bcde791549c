import { OAuth2Client } from '../../clients/oauth2.ts'
import { callProvider } from '../../clients/provider-http.ts'

/**
 * Strava has no RFC 7009 endpoint: `POST /oauth/deauthorize` with the access token as a query
 * parameter (Authentication, "Deauthorization") ends every access and refresh token the app holds
 * for the athlete. It takes only an access token that still works, and Strava's last six hours:
 * most disconnects come later, so the refresh token is first exchanged for a fresh one.
 */
export class StravaClient extends OAuth2Client {
  protected override async revokeAt(endpoint: string, token: string, hint: 'access_token' | 'refresh_token'): Promise<boolean> {
    const accessToken = hint === 'refresh_token' ? (await this.refreshAccessToken(token)).accessToken : token
    const url = new URL(endpoint)
    url.searchParams.set('access_token', accessToken)
    const answer = await callProvider(url, { method: 'POST' }, 'upstream_unreachable')
    // The refresh token goes first: by then the access token has nothing left to end, and Strava
    // refuses it as it refuses an expired one.
    return answer.ok || (hint === 'access_token' && answer.status === 401)
  }
}
