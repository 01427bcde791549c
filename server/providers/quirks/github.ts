import { OAuth2Client } from '../../clients/oauth2.ts'
import { callProvider } from '../../clients/provider-http.ts'

/**
 * GitHub has no RFC 7009 endpoint: an app deletes its grant for a user, the app's client id and
 * secret as Basic credentials and the user's access token in a JSON body (REST API, "Delete an app
 * authorization"), which ends every token of the app for that user. The preset's revocation URL is
 * GitHub's `/applications` API; the grant is under the app's client id. GitHub Enterprise: give both
 * `--api-base-url https://HOST/api/v3` and `--revocation-url https://HOST/api/v3/applications`.
 */
export class GitHubClient extends OAuth2Client {
  protected override async revokeAt(endpoint: string, token: string, hint: 'access_token' | 'refresh_token'): Promise<boolean> {
    // Only an access token names the grant; deleting the grant ends a GitHub App's refresh token too.
    if (hint === 'refresh_token') return true
    // The app's secret goes only to the GitHub whose API the tokens are for: a GitHub Enterprise
    // provider made from the preset with its own API base, but not its own revocation URL, would
    // otherwise send its secret and the user's token to api.github.com.
    if (!this.provider.apiBaseUrl || new URL(endpoint).origin !== new URL(this.provider.apiBaseUrl).origin) return false
    const clientId = this.provider.clientId ?? ''
    const url = `${endpoint.replace(/\/+$/, '')}/${encodeURIComponent(clientId)}/grant`
    const headers = {
      Authorization: `Basic ${Buffer.from(`${clientId}:${this.provider.clientSecret ?? ''}`).toString('base64')}`,
      Accept: 'application/vnd.github+json',
      'Content-Type': 'application/json',
      'X-GitHub-Api-Version': '2022-11-28',
    }
    const answer = await callProvider(url, { method: 'DELETE', headers, body: JSON.stringify({ access_token: token }) }, 'upstream_unreachable')
    return answer.ok
  }
}
