import { OAuth2Client } from '../../clients/oauth2.ts'
import type { ParsedToken, Profile } from '../../clients/types.ts'
import { AllAccessError } from '../../errors.ts'

/** Linear has only a GraphQL API: the profile is the `viewer` query, and errors come with status 200. */
export class LinearClient extends OAuth2Client {
  override async getProfileInfo(token: ParsedToken): Promise<Profile> {
    const profile = await this.fetchProfile(token, 'POST', this.profileUrl(), { json: { query: '{ viewer { id name email } }' } })
    if (profile.errors) throw new AllAccessError('profile_request_failed', { detail: 'viewer query answered errors' })
    return profile
  }
}
