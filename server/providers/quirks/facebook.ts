import type { RejectionEvidence } from '../../clients/base.ts'
import { OAuth2Client } from '../../clients/oauth2.ts'
import { callProvider } from '../../clients/provider-http.ts'
import { shortFailureJson } from './short-failure-answer.ts'

/**
 * The Graph API's codes of a login or token that has "expired, been revoked, or is otherwise
 * invalid" (190, Access token has expired; 102, API Session), when they come without a subcode
 * ("Handling Errors", developers.facebook.com/docs/graph-api/guides/error-handling).
 */
const DEAD_TOKEN_CODES = new Set([102, 190])
/**
 * The subcodes of those whose answer is a new login: 458 app not installed, 460 password changed,
 * 463 expired, 467 invalid access token. Not 459 (checkpointed) nor 464 (unconfirmed user), which
 * the user mends at facebook.com with the same token, nor 492 (a Page role).
 */
const DEAD_TOKEN_SUBCODES = new Set([458, 460, 463, 467])
/** An error answer is a few hundred bytes, with its messages for the user. */
const FAILURE_ANSWER_LIMIT = 4096

/**
 * Facebook has no RFC 7009 endpoint: an app de-authorizes itself for a user with
 * `DELETE /{user-id}/permissions` made with the user's token (Facebook Login, "Revoking
 * Authorization and Token Invalidation for Login"), which invalidates every user token of the app.
 * The preset's revocation URL names the user as `me`, the user of the token.
 *
 * The Graph API answers a dead token with 400 and an `OAuthException`, not 401: without reading it
 * the account never became `reauth_required`.
 */
export class FacebookClient extends OAuth2Client {
  override async tokenRejected(answer: RejectionEvidence): Promise<boolean> {
    if (await super.tokenRejected(answer)) return true
    if (answer.status !== 400) return false
    const error = (await shortFailureJson(answer, FAILURE_ANSWER_LIMIT))?.error
    if (typeof error !== 'object' || error === null) return false
    const { code, error_subcode: subcode } = error as { code?: unknown; error_subcode?: unknown }
    if (typeof code !== 'number' || !DEAD_TOKEN_CODES.has(code)) return false
    return subcode === undefined || (typeof subcode === 'number' && DEAD_TOKEN_SUBCODES.has(subcode))
  }

  protected override async revokeAt(endpoint: string, token: string, hint: 'access_token' | 'refresh_token'): Promise<boolean> {
    // Facebook gives no refresh token: there is nothing else to end.
    if (hint === 'refresh_token') return true
    const { url, headers } = this.authorizeRequest({ method: 'DELETE', url: new URL(endpoint) }, { accessToken: token })
    const answer = await callProvider(url, { method: 'DELETE', headers }, 'upstream_unreachable')
    return answer.ok
  }
}
