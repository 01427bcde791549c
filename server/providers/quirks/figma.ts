import type { RejectionEvidence } from '../../clients/base.ts'
import { OAuth2Client, type RefreshOptions } from '../../clients/oauth2.ts'
import type { ParsedToken } from '../../clients/types.ts'
import { shortFailureJson } from './short-failure-answer.ts'

/**
 * Figma's words for a token it does not know (revoked, expired, or never issued), in either of its
 * error shapes (`ErrorResponsePayloadWithErrMessage`, `…WithErrorBoolean` in figma/rest-api-spec):
 * `{"status":403,"err":"Invalid token"}` or `{"status":403,"error":true,"message":"Invalid token"}`.
 * Its other 403s ("Limited by Figma plan", "Incorrect account type", a missing scope) keep the token
 * alive.
 */
const DEAD_TOKEN_MESSAGE = 'Invalid token'
/** Such an answer is some forty bytes. */
const FAILURE_ANSWER_LIMIT = 1024

/**
 * Figma refreshes at its own endpoint, `…/oauth/refresh` beside the token endpoint, without a grant
 * type, as its OAuth apps guide describes. Its changelog (16 May 2025) recommends the token endpoint
 * with `grant_type=refresh_token` instead and keeps this one "supported for now": the guide's way is
 * kept until Figma's pages agree.
 *
 * The REST API refuses a dead token with 403, not 401: without reading it the account was never
 * refreshed nor made `reauth_required`. Figma answers "Invalid token" to a call without a token
 * too, which the BFF never makes: it always sends the account's as the `Authorization: Bearer`
 * header Figma's OAuth tokens go in.
 */
export class FigmaClient extends OAuth2Client {
  override async tokenRejected(answer: RejectionEvidence): Promise<boolean> {
    if (await super.tokenRejected(answer)) return true
    if (answer.status !== 403) return false
    const body = await shortFailureJson(answer, FAILURE_ANSWER_LIMIT)
    return body !== null && (body.err === DEAD_TOKEN_MESSAGE || body.message === DEAD_TOKEN_MESSAGE)
  }

  override async refreshAccessToken(refreshToken: string, options: RefreshOptions = {}): Promise<ParsedToken> {
    const endpoint = new URL('refresh', await this.tokenEndpoint()).toString()
    return this.tokenRequest({ refresh_token: refreshToken }, 'reauth_required', options.timeoutMs, endpoint)
  }
}
