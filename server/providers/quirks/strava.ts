import { OAuth2Client } from '../../clients/oauth2.ts'
import { callProvider } from '../../clients/provider-http.ts'

/**
 * Strava has no RFC 7009 endpoint: `POST /oauth/deauthorize` with the access token as a query
 * parameter (Authentication, "Deauthorization") ends every access and refresh token the app holds
 * for the athlete.
 */
export class StravaClient extends OAuth2Client {
  override async revokeToken(token: string, hint: 'access_token' | 'refresh_token'): Promise<boolean> {
    const endpoint = await this.revocationEndpoint()
    if (!endpoint) return false
    // Only an access token can be sent; deauthorizing with it ends the refresh token too.
    if (hint === 'refresh_token') return true
    const url = new URL(endpoint)
    url.searchParams.set('access_token', token)
    const answer = await callProvider(url, { method: 'POST' }, 'upstream_unreachable')
    return answer.ok
  }
}
