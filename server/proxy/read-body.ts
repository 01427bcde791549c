import type { Context } from 'koa'
import { Transform, type Readable } from 'node:stream'
import { AllAccessError } from '../errors.ts'
import { refuseBodyReadBefore, RequestAbandonedError, requestChunks } from '../http/abandoned-request.ts'
import { askForBody } from '../http/expect-continue.ts'

/** Bodies up to this size are held whole, so the call can be retried once after a token refresh. */
export const BUFFERED_BODY_LIMIT = 256 * 1024

export type RequestBody =
  | { kind: 'none' }
  | { kind: 'buffered'; bytes: Buffer }
  /** Sent on as it arrives; it cannot be sent twice, so such a call is never retried. */
  | { kind: 'streamed'; stream: Readable }

/**
 * The browser's request body, refused with 413 beyond `maxBytes` before anything goes upstream when
 * its length is declared, and cut off with 413 as soon as it passes the limit when it is not.
 * Small bodies and forms (which OAuth 1.0a signs) are read whole, within `timeoutMs`; larger ones
 * stream through, under the time limit of the provider's call.
 */
export async function readRequestBody(ctx: Context, maxBytes: number, mustBuffer: boolean, timeoutMs: number): Promise<RequestBody> {
  if (ctx.method === 'GET' || ctx.method === 'HEAD') return { kind: 'none' }
  const declared = ctx.get('Content-Length') === '' ? null : Number(ctx.get('Content-Length'))
  if (declared !== null && declared > maxBytes) throw new AllAccessError('payload_too_large')
  if (declared === 0 || (declared === null && !ctx.get('Transfer-Encoding'))) return { kind: 'none' }
  refuseBodyReadBefore(ctx)
  if (mustBuffer || (declared !== null && declared <= BUFFERED_BODY_LIMIT)) {
    const chunks: Buffer[] = []
    let size = 0
    // An upload that stalls would otherwise hold its connection and what it sent until Node's own
    // request timeout (300 s by default): it gets what a streamed upload gets, the call's time limit.
    let stalled = false
    const timer = setTimeout(() => {
      stalled = true
      ctx.req.destroy()
    }, timeoutMs)
    try {
      for await (const chunk of requestChunks(ctx)) {
        size += chunk.length
        if (size > maxBytes) throw new AllAccessError('payload_too_large')
        chunks.push(chunk)
      }
    } catch (error) {
      if (stalled) throw new RequestAbandonedError(`the browser's upload stalled: not whole in ${timeoutMs} ms`)
      throw error
    } finally {
      clearTimeout(timer)
    }
    return { kind: 'buffered', bytes: Buffer.concat(chunks) }
  }
  let size = 0
  const limit = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      size += chunk.length
      done(size > maxBytes ? new AllAccessError('payload_too_large') : null, chunk)
    },
  })
  // `pipe` passes no failure on: without this, a browser gone mid-upload left the provider's request
  // (and one of its pooled connections) waiting for the rest of the body until the time limit.
  const abandoned = () => new RequestAbandonedError('the browser went away during the upload')
  // A request already over (its connection closed, or cut by a malformed chunk, while the proxy
  // read the session and the account) has no `close` left to come: refused before anything goes upstream.
  if (ctx.req.destroyed && !ctx.req.complete) throw abandoned()
  askForBody(ctx)
  ctx.req.pipe(limit)
  ctx.req.once('close', () => {
    if (!ctx.req.complete) limit.destroy(abandoned())
  })
  return { kind: 'streamed', stream: limit }
}
