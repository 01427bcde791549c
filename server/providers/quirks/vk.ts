import { OAuth2Client } from '../../clients/oauth2.ts'
import type { CallbackInput, ParsedToken, Profile } from '../../clients/types.ts'

/**
 * VK ID: the authorization response carries a `device_id` that the code exchange must send back
 * (with the state), and the profile is asked for by POSTing the token as a form field.
 */
export class VkClient extends OAuth2Client {
  override async getAccessToken({ params, flow, callbackUrl }: CallbackInput): Promise<ParsedToken> {
    const grant: Record<string, string> = {
      grant_type: 'authorization_code',
      code: params.get('code') ?? '',
      redirect_uri: callbackUrl,
      device_id: params.get('device_id') ?? '',
      state: flow.state ?? '',
    }
    if (flow.codeVerifier) grant.code_verifier = flow.codeVerifier
    return this.tokenRequest(grant, 'token_request_failed')
  }

  override async getProfileInfo(token: ParsedToken): Promise<Profile> {
    return this.fetchProfile(null, 'POST', this.profileUrl(), { body: { client_id: this.provider.clientId ?? '', access_token: token.accessToken } })
  }
}
