import { OAuth2Client } from '../../clients/oauth2.ts'
import type { ParsedToken, Profile } from '../../clients/types.ts'

/** The Notion API version all-access reads the profile with (Notion requires one on every call). */
export const NOTION_VERSION = '2022-06-28'

/** Notion: token requests are JSON with Basic client authentication, and every API call names a version. */
export class NotionClient extends OAuth2Client {
  protected override encodeTokenRequest(body: URLSearchParams, headers: Record<string, string>): string {
    headers['Content-Type'] = 'application/json'
    return JSON.stringify(Object.fromEntries(body))
  }

  override async getProfileInfo(token: ParsedToken): Promise<Profile> {
    return this.fetchProfile(token, 'GET', this.profileUrl(), { headers: { 'Notion-Version': NOTION_VERSION } })
  }
}
