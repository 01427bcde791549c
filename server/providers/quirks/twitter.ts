import { OAuthClient } from '../../clients/oauth1.ts'
import { callProvider } from '../../clients/provider-http.ts'
import type { ClientToken } from '../../clients/types.ts'

/**
 * X (Twitter) revokes an OAuth 1.0a access token with `POST /1.1/oauth/invalidate_token`, signed
 * with that very token and carrying nothing else (X API v1.1, "POST oauth/invalidate_token"); its
 * answer is 200 `{"access_token": …}`, and the token then answers error 89 everywhere.
 */
export class TwitterClient extends OAuthClient {
  override async revocationEndpoint(): Promise<string | null> {
    return this.provider.revocationUrl
  }

  override async revokeToken(token: ClientToken): Promise<boolean> {
    const endpoint = await this.revocationEndpoint()
    if (!endpoint || !token.accessToken) return false
    const url = new URL(endpoint)
    const { headers } = this.authorizeRequest({ method: 'POST', url }, token)
    const answer = await callProvider(url, { method: 'POST', headers }, 'upstream_unreachable')
    return answer.ok
  }
}
