import { OAuth2Client } from '../../clients/oauth2.ts'
import type { ParsedToken, Profile } from '../../clients/types.ts'
import { AllAccessError } from '../../errors.ts'

/** HubSpot names the user only in the metadata of the access token, read at a URL ending with the token. */
export class HubSpotClient extends OAuth2Client {
  override async getProfileInfo(token: ParsedToken): Promise<Profile> {
    const url = `${this.profileUrl().replace(/\/$/, '')}/${encodeURIComponent(token.accessToken)}`
    try {
      return await this.fetchProfile(null, 'GET', url)
    } catch (error) {
      // The URL holds the token: keep it out of the detail that goes to the log.
      if (error instanceof AllAccessError) throw new AllAccessError(error.code, { detail: error.detail?.split(token.accessToken).join('…') })
      throw error
    }
  }
}
