import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Logger } from '../log.ts'

/** Node's status for a request its parser refuses, by the error's code; any other is `400`. */
const REFUSED_STATUS: Record<string, number> = { HPE_HEADER_OVERFLOW: 431, HPE_CHUNK_EXTENSIONS_OVERFLOW: 413, ERR_HTTP_REQUEST_TIMEOUT: 408 }

/** What every refusal made before the app carries, as the app's own answers do. */
const REFUSAL_HEADERS = { 'X-Content-Type-Options': 'nosniff', 'Cache-Control': 'no-store', 'Content-Length': '0', Connection: 'close' }

/** The same, as lines written straight to a socket that has no response to write them through. */
const REFUSAL_HEADER_LINES = Object.entries(REFUSAL_HEADERS).map(([name, value]) => `${name}: ${value}\r\n`).join('')

/**
 * Whether an answer's head has gone out on the connection and its end not yet: Node's own test
 * before it answers a parse error. Not whether any byte was ever written: a kept-alive connection
 * whose earlier answer has ended is waiting for its next request, and is answered like a new one.
 */
function answering(socket: Socket): boolean {
  return (socket as Socket & { _httpMessage?: { headersSent: boolean } | null })._httpMessage?.headersSent === true
}

/**
 * The server's `clientError` listener: a request Node cannot read (malformed, headers too large,
 * too slow to arrive) never reaches the app. Node's own answer carried none of the headers every
 * answer must (`nosniff`, `no-store`), and nothing was logged: a client probing the parser left no trace.
 */
export function refuseUnreadableRequest(log: Logger): (error: NodeJS.ErrnoException, socket: Socket) => void {
  return (error, socket) => {
    // As Node does: no answer on a connection already answering (it would land inside another), nor on one gone.
    // Nor on one that never sent a byte (a browser's preconnect, left unused): it asked nothing.
    if (socket.writable && !answering(socket) && socket.bytesRead > 0) {
      const status = REFUSED_STATUS[error.code ?? ''] ?? 400
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${REFUSAL_HEADER_LINES}\r\n`)
      // The code only: it names what was wrong without repeating the client's bytes.
      log.info(`request unreadable ${status}: ${error.code ?? 'no code'}`, { status })
    }
    socket.destroy()
  }
}

function refuse(res: ServerResponse, status: number, why: string, log: Logger): void {
  res.writeHead(status, REFUSAL_HEADERS).end()
  log.info(`request refused ${status}: ${why}`, { status })
}

/**
 * The server's `checkExpectation` listener (RFC 9110 §10.1.1: an `Expect` other than
 * `100-continue` is answered `417`). Without one, Node answers it itself, bare and unlogged.
 */
export function refuseUnmetExpectation(log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (_req, res) => refuse(res, 417, 'Expect other than 100-continue', log)
}

/**
 * RFC 9112 §3.2: an HTTP/1.1 request without `Host` is answered `400`; true when it did so. Node
 * does it itself, bare and unlogged, unless the server is made with `requireHostHeader: false`,
 * as one that calls this first is.
 */
export function refusedWithoutHost(req: IncomingMessage, res: ServerResponse, log: Logger): boolean {
  if (req.httpVersion !== '1.1' || req.headers.host !== undefined) return false
  refuse(res, 400, 'HTTP/1.1 without Host', log)
  return true
}
