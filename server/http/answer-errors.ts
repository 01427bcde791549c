import type { Context } from 'koa'
import type { ErrorBody } from '../../shared/errors.ts'
import { AllAccessError } from '../errors.ts'
import { cutText } from '../cut-text.ts'
import { errorLine, type Logger } from '../log.ts'
import { isDatabaseUnavailable } from './database-down.ts'

/** Turns anything a step threw into a contract error; the unexpected goes to the log, never the client. */
export function toAllAccessError(error: unknown, log: Logger, requestId: string): AllAccessError {
  if (error instanceof AllAccessError) {
    // Any client can cause a refusal once a request: an operator alerting on errors would be paged by a stranger.
    if (error.refusal) {
      // Its detail may quote the client (a header, a logout token's): cut as a request's path is.
      if (error.detail) log.info(`refused req=${requestId} ${error.code}: ${cutText(error.detail)}`)
    } else if (error.detail || error.status >= 500) log.error(`error req=${requestId} ${error.code}${error.detail ? ': ' + error.detail : ''}`)
    return error
  }
  if (isDatabaseUnavailable(error)) {
    log.error(`error req=${requestId} service_unavailable: ${(error as Error).message?.split('\n')[0]}`)
    return new AllAccessError('service_unavailable')
  }
  log.error(...errorLine(`error req=${requestId} server_error: `, error, { req: requestId }))
  return new AllAccessError('server_error')
}

/** The contract's error answer: the code's status and `{"error","message"}`. */
export function answerError(ctx: Context, error: AllAccessError): void {
  ctx.status = error.status
  ctx.body = { error: error.code, message: error.message } satisfies ErrorBody
}
