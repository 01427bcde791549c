import type { RejectionEvidence } from '../../clients/base.ts'
import { OAuth2Client } from '../../clients/oauth2.ts'
import type { ParsedToken, Profile } from '../../clients/types.ts'
import { AllAccessError } from '../../errors.ts'
import { shortFailureJson } from './short-failure-answer.ts'

/**
 * A GraphQL error answer is `{"errors":[{"message","extensions":{"type","code","statusCode",
 * "userPresentableMessage",…}}]}`, a few hundred bytes.
 */
const FAILURE_ANSWER_LIMIT = 2048

/** Linear has only a GraphQL API: the profile is the `viewer` query, and errors come with status 200. */
export class LinearClient extends OAuth2Client {
  override async getProfileInfo(token: ParsedToken): Promise<Profile> {
    const profile = await this.fetchProfile(token, 'POST', this.profileUrl(), { json: { query: '{ viewer { id name email } }' } })
    if (profile.errors) throw new AllAccessError('profile_request_failed', { detail: 'viewer query answered errors' })
    return profile
  }

  /**
   * Linear refuses a token it no longer knows with an "authentication error" (code
   * `AUTHENTICATION_ERROR`, "Authentication required, not authenticated"), which clients have met
   * under status 400 as well as 401, and Linear answers other GraphQL errors with 200: without
   * reading them the account was never refreshed nor made `reauth_required`. Its SDK
   * (`parseLinearError`) types an answer by its first error whatever the status; so does this. The
   * BFF always sends the account's token, so "not authenticated" is the token's refusal, not a call
   * made without one.
   */
  override async tokenRejected(answer: RejectionEvidence): Promise<boolean> {
    if (await super.tokenRejected(answer)) return true
    if (answer.status !== 200 && answer.status !== 400) return false
    const errors = (await shortFailureJson(answer, FAILURE_ANSWER_LIMIT))?.errors
    const first: unknown = Array.isArray(errors) ? errors[0] : null
    const extensions = typeof first === 'object' && first !== null ? (first as { extensions?: unknown }).extensions : null
    if (typeof extensions !== 'object' || extensions === null) return false
    const { type, code } = extensions as { type?: unknown; code?: unknown }
    return type === 'authentication error' || code === 'AUTHENTICATION_ERROR'
  }
}
