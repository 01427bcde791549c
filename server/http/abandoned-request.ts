import type { Context } from 'koa'
import { AllAccessError } from '../errors.ts'
import type { Logger } from '../log.ts'
import { askForBody } from './expect-continue.ts'
import { Readable } from 'node:stream'

/**
 * The caller went away before its request's body arrived whole. Nobody waits for the answer, and
 * it is neither the database's failure nor the provider's: Node reports the cut connection as
 * `ECONNRESET`, which would otherwise read as the database being unreachable.
 */
export class RequestAbandonedError extends Error {
  override name = 'RequestAbandonedError'
}

/**
 * Node's HTTP parser failing on the caller's own request (a connection closed mid-body, a malformed
 * chunk): Koa reports it on the response too, but no answer of the server's failed.
 */
export function isCallerParseError(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code
  return typeof code === 'string' && code.startsWith('HPE_')
}

/** What a write to, or a pipe into, a connection its client closed fails with. */
const CLIENT_GONE = new Set(['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE'])

/**
 * Whether an answer was cut because its client left (a closed tab, a cancelled download). A proxied
 * answer's body fails with the same codes when the provider resets its own connection (undici hands
 * on the socket's ECONNRESET): that is the provider's failure, and only then does the body that
 * pipeAnswer sends hold the error itself. A file's stream has no such code of its own.
 */
export function clientWentAway(error: Error & { code?: unknown }, ctx: { body?: unknown; respond?: boolean } | undefined): boolean {
  if (typeof error.code !== 'string' || !CLIENT_GONE.has(error.code)) return false
  return !(ctx?.respond === false && ctx.body instanceof Readable && ctx.body.errored === error)
}

/** nginx's "client closed request": what the log line and the metrics show for such a request. */
export const ABANDONED_STATUS = 499

/**
 * Refuses a request whose body some middleware before the BFF already read (a host app's body
 * parser): nothing of it is left to read, so a proxied call went upstream with an empty body and a
 * `200`, and a form_post login or a logout token was lost, without a word. A `500` instead, and an
 * error line saying what to change.
 */
export function refuseBodyReadBefore(ctx: Context): void {
  if (ctx.req.readableEnded && (Number(ctx.get('Content-Length') || 0) > 0 || ctx.get('Transfer-Encoding') !== '')) {
    throw new AllAccessError('server_error', { detail: "the request's body was read before allAccess.middleware (a body parser mounted before it?): mount allAccess.middleware first" })
  }
}

/** The request's body as it arrives; a connection cut before its end throws {@link RequestAbandonedError}. */
export async function* requestChunks(ctx: Context): AsyncGenerator<Buffer> {
  askForBody(ctx)
  try {
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) yield chunk
  } catch (cause) {
    throw new RequestAbandonedError('the caller went away before its request arrived whole', { cause })
  }
}

/** Records an abandoned request: no error answer (nobody would read it), a status of its own, a line in the log. */
export function answerAbandoned(ctx: Context, error: RequestAbandonedError, log: Logger): void {
  log.info(`request abandoned req=${ctx.state.requestId}: ${error.message}`)
  ctx.body = ''
  ctx.status = ABANDONED_STATUS
}
