import type { Context } from 'koa'

/** How long the rest of an unread body may stop coming before its connection is cut. */
export const UNREAD_BODY_IDLE_MS = 5_000
/** How long it is read at most, however it trickles in (nginx's `lingering_time`). */
export const UNREAD_BODY_MAX_MS = 30_000

/**
 * An answer sent before its request's body arrived whole (a 413 on the declared length, a refusal
 * that never read the body): the rest is read and dropped once the answer is out, so that the
 * client, still sending, gets to read it and can send its next request on the connection.
 * Closed at once instead, the connection met the client's next bytes with a reset, which took the
 * answer with it (RFC 9112 §9.6): an upload over the limit failed as a network error, not `413
 * payload_too_large`. A body that stops coming is cut after {@link UNREAD_BODY_IDLE_MS} without a
 * byte, and one still coming after {@link UNREAD_BODY_MAX_MS}: either would hold the connection
 * until Node's request time-out.
 */
export function readRestOfBodyAfterAnswer(ctx: Context): void {
  const { req, res } = ctx
  if (req.complete) return
  // Already cut (the client left, or a read of it broke off): nothing more will come.
  if (req.destroyed) {
    ctx.set('Connection', 'close')
    return
  }
  res.once('finish', () => {
    if (req.complete || req.destroyed) return
    const cut = setTimeout(() => req.socket.destroy(), UNREAD_BODY_IDLE_MS).unref()
    const stop = () => clearTimeout(cut)
    req.once('end', stop).once('close', stop)
    // Whatever was reading it (a proxied upload the provider answered early) stopped.
    req.unpipe()
    const readUntil = Date.now() + UNREAD_BODY_MAX_MS
    req.on('data', () => Date.now() < readUntil && cut.refresh()).resume()
  })
}
