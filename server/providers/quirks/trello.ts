import type { RejectionEvidence } from '../../clients/base.ts'
import { OAuthClient } from '../../clients/oauth1.ts'

/** What Trello's API answers, as plain text with a 401, for a token that has expired or been revoked. */
const DEAD_TOKEN_ANSWERS = new Set(['expired token', 'invalid token'])

/**
 * Trello names a dead token in the text of its 401 (ruby-trello's `InvalidAccessToken`), not with
 * an `oauth_problem`: its OAuth 1.0a tokens expire (30 days unless the authorization asked for
 * `expiration=never`), and without this the account never became `reauth_required`.
 */
export class TrelloClient extends OAuthClient {
  override async tokenRejected(answer: RejectionEvidence): Promise<boolean> {
    if (await super.tokenRejected(answer)) return true
    if (answer.status !== 401) return false
    const text = (await answer.body()).trim()
    return text.length <= 16 && DEAD_TOKEN_ANSWERS.has(text.toLowerCase())
  }
}
