import type { Context } from 'koa'
import { Readable } from 'node:stream'
import { prematureClose, RedactedBody } from '../proxy/token-redaction.ts'

/** Koa's statuses.empty: answers that carry no body. */
const BODILESS = new Set([204, 205, 304])

/**
 * Sends a stream body (a proxied answer) now, as Koa's response step would send it, but with
 * `pipe` rather than `stream.pipeline`: on Node 20 pipeline makes an AbortController for every
 * answer, watches both streams' ends and aborts the controller when done, building a DOMException
 * and its stack trace; a third of a proxied call's CPU time, measured. As with pipeline, the body is
 * destroyed when the browser goes away, and a failure on either side cuts the answer and reaches
 * the app's `error` listeners. Koa sends nothing more (`ctx.respond = false`), so middleware around
 * this one can no longer rewrite the body (compression; koa-compress is told to leave it as it is):
 * only for apps where none does.
 */
export function pipeAnswer(ctx: Context): void {
  const body = ctx.body
  if (!(body instanceof Readable) || ctx.respond === false || !ctx.writable || ctx.method === 'HEAD' || BODILESS.has(ctx.status)) return
  ctx.respond = false
  // koa-compress around the BFF would still name its coding in the headers, which go out with the
  // first piped byte, after it: every compressed answer was then undecodable. `ctx.compress = false`
  // is its way of leaving an answer alone.
  ;(ctx as { compress?: boolean }).compress = false
  const res = ctx.res
  let ended = false
  const end = (error?: Error) => {
    if (ended) return
    ended = true
    if (!error) return
    body.destroy()
    res.destroy(error)
    if (ctx.app.listenerCount('error')) ctx.onerror(error)
  }
  body.once('error', end)
  res.on('error', end)
  res.once('close', () => end(res.writableFinished ? undefined : prematureClose()))
  if (body instanceof RedactedBody) body.pipeTo(res)
  else body.pipe(res)
}
