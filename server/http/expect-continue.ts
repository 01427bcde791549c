import type { Context } from 'koa'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

/** Answers whose request waits for `100 Continue` before it sends its body, not yet told to. */
const held = new WeakSet<ServerResponse>()

/**
 * The server's `checkContinue` listener: the request goes to the server's request listeners with
 * its `100 Continue` held back until a step reads the body ({@link askForBody}). Node otherwise
 * says `100 Continue` before any handler runs, and a client that waits for it (curl over 1 MiB)
 * sent its whole upload only to be refused (401, 403, 404, 413 on the declared length). Answered
 * without it, Node closes the connection after the answer (RFC 9110 §10.1.1): no body follows.
 */
export function holdContinue(server: Server): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    held.add(res)
    server.emit('request', req, res)
  }
}

/** Before the body is read: a client waiting for `100 Continue` is told to send it now. */
export function askForBody(ctx: Context): void {
  if (held.delete(ctx.res) && !ctx.res.headersSent) ctx.res.writeContinue()
}
