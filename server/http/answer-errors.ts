import type { Context } from 'koa'
import type { ErrorBody, ErrorCode } from '../../shared/errors.ts'
import { AllAccessError } from '../errors.ts'
import { clientText, type Logger } from '../log.ts'
import { isDatabaseUnavailable } from './database-down.ts'

/**
 * Refusals of the request itself (another site's, a stale or replayed login, too many starts, a body
 * too large, a logout token anyone may post, a login its provider's own logout ended): their detail
 * is logged as information, since any client can cause one per request, and an operator alerting on
 * errors would be paged by a stranger. What a provider or the BFF itself got wrong stays an error.
 */
const REFUSALS_OF_THE_REQUEST: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['origin_not_allowed', 'invalid_state', 'rate_limited', 'payload_too_large', 'invalid_request', 'login_required'])

/** Turns anything a step threw into a contract error; the unexpected goes to the log, never the client. */
export function toAllAccessError(error: unknown, log: Logger, requestId: string): AllAccessError {
  if (error instanceof AllAccessError) {
    if (REFUSALS_OF_THE_REQUEST.has(error.code)) {
      // Its detail may quote the client (a header, a logout token's): cut as a request's path is.
      if (error.detail) log.info(`refused req=${requestId} ${error.code}: ${clientText(error.detail)}`)
    } else if (error.detail || error.status >= 500) log.error(`error req=${requestId} ${error.code}${error.detail ? ': ' + error.detail : ''}`)
    return error
  }
  if (isDatabaseUnavailable(error)) {
    log.error(`error req=${requestId} service_unavailable: ${(error as Error).message?.split('\n')[0]}`)
    return new AllAccessError('service_unavailable')
  }
  log.error(`error req=${requestId} server_error: ${(error as Error)?.stack ?? String(error)}`)
  return new AllAccessError('server_error')
}

/** The contract's error answer: the code's status and `{"error","message"}`. */
export function answerError(ctx: Context, error: AllAccessError): void {
  ctx.status = error.status
  ctx.body = { error: error.code, message: error.message } satisfies ErrorBody
}
