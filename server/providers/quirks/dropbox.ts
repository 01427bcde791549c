import { OAuth2Client } from '../../clients/oauth2.ts'
import { callProvider } from '../../clients/provider-http.ts'
import type { ParsedToken, Profile } from '../../clients/types.ts'

/**
 * Dropbox: its API takes POST without a body where others take GET (the profile), and a token is
 * revoked by a call made with that token, which ends its refresh token with it (not RFC 7009).
 */
export class DropboxClient extends OAuth2Client {
  override async getProfileInfo(token: ParsedToken): Promise<Profile> {
    return this.fetchProfile(token, 'POST', this.profileUrl())
  }

  protected override async revokeAt(endpoint: string, token: string, hint: 'access_token' | 'refresh_token'): Promise<boolean> {
    // A refresh token cannot sign the call; revoking the access token ends it too.
    if (hint === 'refresh_token') return true
    const answer = await callProvider(endpoint, { method: 'POST', headers: { Authorization: `Bearer ${token}` } }, 'upstream_unreachable')
    return answer.ok
  }
}
