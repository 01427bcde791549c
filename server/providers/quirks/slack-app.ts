import type { FlowSecrets, RejectionEvidence } from '../../clients/base.ts'
import { OAuth2Client } from '../../clients/oauth2.ts'
import { answerFieldText, parseAnswerBody } from '../../clients/provider-http.ts'
import type { ParsedToken, Profile } from '../../clients/types.ts'
import { AllAccessError } from '../../errors.ts'
import { slackTokenDead } from './slack-web-api.ts'

/**
 * A Slack app acting for its user (OAuth v2): the user's scopes go in `user_scope` (`scope` is the
 * bot's), and the user's token comes nested in `authed_user`. Slack answers errors with status 200
 * and `"ok": false`, a dead token's included.
 */
export class SlackAppClient extends OAuth2Client {
  override async getRedirectArgs(flow: FlowSecrets, callbackUrl: string): Promise<Record<string, string>> {
    const { scope, ...args } = await super.getRedirectArgs(flow, callbackUrl)
    return scope ? { ...args, user_scope: scope } : args
  }

  override parseRawToken(raw: string, contentType: string | null = null): ParsedToken | null {
    const body = parseAnswerBody(raw, contentType) as { ok?: unknown; authed_user?: unknown } | null
    if (!body || typeof body !== 'object' || body.ok !== true) return null
    // Read where it is: written out as JSON to be parsed again, a user nested deeper than the stack
    // (100,000 lists, 200 kB, under the cap) threw a RangeError: a server_error, not token_request_failed.
    const token = this.readToken(body.authed_user)
    return token && { ...token, raw: body as Record<string, unknown> }
  }

  override async getProfileInfo(token: ParsedToken): Promise<Profile> {
    const profile = await super.getProfileInfo(token)
    if (profile.ok !== true) throw new AllAccessError('profile_request_failed', { detail: `auth.test answered ${answerFieldText(profile.error, 50, [token.accessToken])}` })
    return profile
  }

  override async tokenRejected(answer: RejectionEvidence): Promise<boolean> {
    return (await super.tokenRejected(answer)) || slackTokenDead(answer)
  }
}
