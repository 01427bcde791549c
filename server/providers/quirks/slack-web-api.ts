import type { RejectionEvidence } from '../../clients/base.ts'
import { shortFailureJson } from './short-failure-answer.ts'

/**
 * The Web API errors that name the token itself as dead (the "Errors" of every method page):
 * `token_revoked` (the user or workspace is deleted, or the app removed), `token_expired` (token
 * rotation), `account_inactive` (a deleted user or workspace), `invalid_auth` (the token is invalid,
 * or refused from this server's address, which a new login does not mend either). Not
 * `not_authed` (no token sent: the BFF always sends one), nor `missing_scope`, `ratelimited`…
 */
const DEAD_TOKEN_ERRORS = new Set(['token_revoked', 'token_expired', 'account_inactive', 'invalid_auth'])
/** A failure answer is `{"ok":false,"error":"…"}` with perhaps a warning or response_metadata. */
const FAILURE_ANSWER_LIMIT = 1024

/**
 * Whether a Slack Web API answer says the token is dead. Slack answers every method's failure with
 * HTTP 200 and `"ok": false`, a revoked token's included, so without this the account never became
 * `reauth_required`. Only a short answer is read.
 */
export async function slackTokenDead(answer: RejectionEvidence): Promise<boolean> {
  if (answer.status !== 200) return false
  const body = await shortFailureJson(answer, FAILURE_ANSWER_LIMIT)
  return body !== null && body.ok === false && typeof body.error === 'string' && DEAD_TOKEN_ERRORS.has(body.error)
}
