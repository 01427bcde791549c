import { OAuth2Client } from '../../clients/oauth2.ts'
import type { ParsedToken, Profile } from '../../clients/types.ts'
import { AllAccessError } from '../../errors.ts'

/** The v1 metadata endpoint, which HubSpot retires on 16 February 2027: providers added before the preset moved keep it. */
const V1_METADATA = /\/oauth\/v1\/access-tokens\/?$/

/**
 * HubSpot names the user only in the metadata of the access token. Its date-based OAuth API gives it
 * by introspection, the client's credentials and the token in a form; the v1 API gave it at a URL
 * ending with the token. The metadata repeats the token: it is dropped from the profile.
 */
export class HubSpotClient extends OAuth2Client {
  override async getProfileInfo(token: ParsedToken): Promise<Profile> {
    const { token: _repeated, ...profile } = await this.tokenMetadata(token.accessToken)
    if (profile.active === false) throw new AllAccessError('profile_request_failed', { detail: 'introspection says the token is not active' })
    return profile
  }

  private async tokenMetadata(accessToken: string): Promise<Profile> {
    const url = this.profileUrl()
    if (!V1_METADATA.test(new URL(url).pathname)) {
      const body = { token: accessToken, token_type_hint: 'access_token', client_id: this.provider.clientId ?? '', client_secret: this.provider.clientSecret ?? '' }
      return this.fetchProfile(null, 'POST', url, { body })
    }
    try {
      return await this.fetchProfile(null, 'GET', `${url.replace(/\/$/, '')}/${encodeURIComponent(accessToken)}`)
    } catch (error) {
      // The URL holds the token, percent-encoded where it has to be: keep it out of the detail that goes to the log.
      if (error instanceof AllAccessError) {
        const detail = error.detail?.split(accessToken).join('…').split(encodeURIComponent(accessToken)).join('…')
        throw new AllAccessError(error.code, { detail })
      }
      throw error
    }
  }
}
