import { AllAccessError } from '../../errors.ts'
import type { RejectionEvidence } from '../../clients/base.ts'
import { OAuth2Client, type RefreshOptions } from '../../clients/oauth2.ts'
import { callProvider, parseAnswerBody } from '../../clients/provider-http.ts'
import type { CallbackInput, ParsedToken, Profile } from '../../clients/types.ts'
import { randomToken } from '../../crypto/random.ts'
import { shortFailureJson } from './short-failure-answer.ts'

/** VK's "User authorization failed": the token sent is expired, revoked or invalid. */
const DEAD_TOKEN_CODE = 5
/** An error answer echoes the call's parameters (`request_params`): a few hundred bytes. */
const FAILURE_ANSWER_LIMIT = 4096

/**
 * A refresh token as the account keeps it: with the `device_id` of the login, which VK ID's refresh
 * must send back and which no other part of the account has room for. Encrypted with it.
 */
function keptWithDevice(token: ParsedToken, deviceId: string): ParsedToken {
  return { ...token, refreshToken: token.refreshToken && deviceId ? JSON.stringify([token.refreshToken, deviceId]) : null }
}

/** The refresh token and device_id of {@link keptWithDevice}; null for a token kept otherwise (before this client kept them). */
function withDevice(kept: string | null): [refreshToken: string, deviceId: string] | null {
  try {
    const value: unknown = kept?.startsWith('[') ? JSON.parse(kept) : null
    return Array.isArray(value) && value.length === 2 && value.every((part) => typeof part === 'string' && part) ? (value as [string, string]) : null
  } catch {
    return null
  }
}

/**
 * VK ID: the authorization response carries a `device_id` that the code exchange must send back
 * (with the state), the profile is asked for by POSTing the token as a form field, and a refresh
 * sends the `device_id` of the login again. Its access tokens last an hour.
 *
 * The API (`api.vk.com/method`) reads the token from `Authorization: Bearer` ("Формат запросов",
 * dev.vk.com/api/api-requests) and answers every failure with 200 and an `error` object: a dead
 * token is error 5, which a status alone would pass on as a success, the account never refreshed.
 */
export class VkClient extends OAuth2Client {
  /** Set once a disconnect has taken back the app's permissions: the access token kept then has nothing left to end. */
  private permissionsRevoked = false

  override async getAccessToken({ params, flow, callbackUrl }: CallbackInput): Promise<ParsedToken> {
    const deviceId = params.get('device_id') ?? ''
    const grant: Record<string, string> = {
      grant_type: 'authorization_code',
      code: params.get('code') ?? '',
      redirect_uri: callbackUrl,
      device_id: deviceId,
      state: flow.state ?? '',
    }
    if (flow.codeVerifier) grant.code_verifier = flow.codeVerifier
    return keptWithDevice(await this.tokenRequest(grant, 'token_request_failed'), deviceId)
  }

  override canRefresh(refreshToken: string | null): boolean {
    return super.canRefresh(refreshToken) && withDevice(refreshToken) !== null
  }

  override async refreshAccessToken(kept: string, options: RefreshOptions = {}): Promise<ParsedToken> {
    const parts = withDevice(kept)
    if (!parts) throw new AllAccessError('reauth_required', { detail: 'the refresh token was kept without the device_id VK ID needs' })
    const [refreshToken, deviceId] = parts
    // A state of its own, as for the code exchange: VK ID answers it back.
    const token = await this.tokenRequest({ grant_type: 'refresh_token', refresh_token: refreshToken, device_id: deviceId, state: randomToken(16) }, 'reauth_required', options.timeoutMs)
    return keptWithDevice(token, deviceId)
  }

  override async tokenRejected(answer: RejectionEvidence): Promise<boolean> {
    if (await super.tokenRejected(answer)) return true
    if (answer.status !== 200) return false
    const error = (await shortFailureJson(answer, FAILURE_ANSWER_LIMIT))?.error
    return typeof error === 'object' && error !== null && (error as { error_code?: unknown }).error_code === DEAD_TOKEN_CODE
  }

  /**
   * VK ID has no RFC 7009 endpoint: `POST /oauth2/revoke` with the client id and an access token
   * takes back the app's permissions, every token of the grant with them, and answers
   * `{"response": 1}`. The access token a disconnect finds has most often expired (an hour), so the
   * refresh token, which goes first, is exchanged for one that works.
   */
  protected override async revokeAt(endpoint: string, token: string, hint: 'access_token' | 'refresh_token'): Promise<boolean> {
    if (hint === 'access_token' && this.permissionsRevoked) return true
    // Kept without its device_id (before this client kept the pair), it cannot be exchanged: the
    // access token, revoked next, takes back the grant alone. Not a failure to alert on.
    if (hint === 'refresh_token' && !withDevice(token)) return true
    const accessToken = hint === 'refresh_token' ? (await this.refreshAccessToken(token)).accessToken : token
    const body = new URLSearchParams({ client_id: this.provider.clientId ?? '', access_token: accessToken }).toString()
    const answer = await callProvider(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body }, 'upstream_unreachable')
    const parsed = parseAnswerBody(answer.text, answer.headers.get('content-type')) as { response?: unknown } | null
    this.permissionsRevoked = answer.ok && parsed?.response === 1
    return this.permissionsRevoked
  }

  override async getProfileInfo(token: ParsedToken): Promise<Profile> {
    return this.fetchProfile(null, 'POST', this.profileUrl(), { body: { client_id: this.provider.clientId ?? '', access_token: token.accessToken } })
  }
}
