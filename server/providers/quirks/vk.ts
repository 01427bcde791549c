import type { RejectionEvidence } from '../../clients/base.ts'
import { OAuth2Client } from '../../clients/oauth2.ts'
import type { CallbackInput, ParsedToken, Profile } from '../../clients/types.ts'
import { shortFailureJson } from './short-failure-answer.ts'

/** VK's "User authorization failed": the token sent is expired, revoked or invalid. */
const DEAD_TOKEN_CODE = 5
/** An error answer echoes the call's parameters (`request_params`): a few hundred bytes. */
const FAILURE_ANSWER_LIMIT = 4096

/**
 * VK ID: the authorization response carries a `device_id` that the code exchange must send back
 * (with the state), and the profile is asked for by POSTing the token as a form field.
 *
 * The API (`api.vk.com/method`) reads the token from `Authorization: Bearer` ("Формат запросов",
 * dev.vk.com/api/api-requests) and answers every failure with 200 and an `error` object: a dead
 * token is error 5. Without reading it the account never became `reauth_required`, and the app got a
 * 200 for each call. VK ID's tokens last an hour and the preset cannot refresh them, so this is the
 * answer every VK account meets an hour after its login.
 */
export class VkClient extends OAuth2Client {
  override async tokenRejected(answer: RejectionEvidence): Promise<boolean> {
    if (await super.tokenRejected(answer)) return true
    if (answer.status !== 200) return false
    const error = (await shortFailureJson(answer, FAILURE_ANSWER_LIMIT))?.error
    return typeof error === 'object' && error !== null && (error as { error_code?: unknown }).error_code === DEAD_TOKEN_CODE
  }

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
