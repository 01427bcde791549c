import { OAuth2Client, type RefreshOptions } from '../../clients/oauth2.ts'
import type { ParsedToken } from '../../clients/types.ts'

/**
 * Figma refreshes at its own endpoint, `…/oauth/refresh` beside the token endpoint, without a grant
 * type, as its OAuth apps guide describes. Its changelog (16 May 2025) recommends the token endpoint
 * with `grant_type=refresh_token` instead and keeps this one "supported for now": the guide's way is
 * kept until Figma's pages agree.
 */
export class FigmaClient extends OAuth2Client {
  override async refreshAccessToken(refreshToken: string, options: RefreshOptions = {}): Promise<ParsedToken> {
    const endpoint = new URL('refresh', await this.tokenEndpoint()).toString()
    return this.tokenRequest({ refresh_token: refreshToken }, 'reauth_required', options.timeoutMs, endpoint)
  }
}
