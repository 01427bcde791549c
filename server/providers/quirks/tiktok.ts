import { createHash } from 'node:crypto'
import type { FlowSecrets } from '../../clients/base.ts'
import { OAuth2Client } from '../../clients/oauth2.ts'
import { answerFieldText } from '../../clients/provider-http.ts'
import type { ParsedToken, Profile } from '../../clients/types.ts'
import { AllAccessError } from '../../errors.ts'

/**
 * TikTok: the client id is called `client_key`, in the authorization request and at the token
 * endpoint. Its PKCE challenge is the SHA-256 of the verifier in hex, not RFC 7636's base64url
 * (Login Kit: "You must use hex encoding of SHA256 to generate the code challenge"); the method is
 * still called `S256`.
 */
export class TikTokClient extends OAuth2Client {
  override async getRedirectArgs(flow: FlowSecrets, callbackUrl: string): Promise<Record<string, string>> {
    const { client_id: clientKey, ...args } = await super.getRedirectArgs(flow, callbackUrl)
    if (flow.codeVerifier) args.code_challenge = createHash('sha256').update(flow.codeVerifier).digest('hex')
    return { client_key: clientKey, ...args }
  }

  protected override async authenticateClient(body: URLSearchParams): Promise<void> {
    body.set('client_key', this.provider.clientId ?? '')
    body.set('client_secret', this.provider.clientSecret ?? '')
  }

  /** TikTok answers every call with an `error` object, whose code is `ok` when all went well. */
  override async getProfileInfo(token: ParsedToken): Promise<Profile> {
    const profile = await super.getProfileInfo(token)
    const code = (profile.error as { code?: unknown } | undefined)?.code
    if (code !== undefined && code !== 'ok') throw new AllAccessError('profile_request_failed', { detail: `user info answered ${answerFieldText(code, 50, [token.accessToken])}` })
    return profile
  }
}
