import { createServer, type IncomingHttpHeaders } from 'node:http'
import { brotliCompressSync, deflateRawSync, deflateSync, gzipSync } from 'node:zlib'

/** `deflate-raw` is raw deflate data (RFC 1951, no zlib header) sent as `deflate`, as some servers send it. */
const ENCODERS: Record<string, (body: Buffer) => Buffer> = { gzip: gzipSync, br: brotliCompressSync, deflate: deflateSync, 'deflate-raw': deflateRawSync }
/** The Content-Encoding a coding of {@link ENCODERS} is sent under. */
const named = (coding: string) => (coding === 'deflate-raw' ? 'deflate' : coding)

export interface EchoedRequest {
  method: string
  /** The raw request target as it arrived (path and query). */
  url: string
  headers: IncomingHttpHeaders
  body: string
}

/**
 * An API that records what it receives. `/slow` waits before answering, `/held` answers only when
 * `releaseHeld()` lets it (`held()` counts those waiting, `heldLetGo()` those the BFF closed unanswered), `/status/<n>` answers n (405 with `Allow: GET, HEAD`),
 * `/set-cookie` answers with a Set-Cookie header, `/reject` answers 401 for any token in `rejected`,
 * `/stall-body` stops after its headers (`stallsLetGo` counts those whose connection the BFF then
 * closed; `uploadsCut` counts requests whose body never ended), `/oauth1-token-rejected` is an OAuth 1.0a provider's dead-token 401, `/oauth1-timestamp-refused` one about the request only, `/oauth1-401-gzipped?problem=P` a gzipped 401 naming `oauth_problem` P and the token in its body, `/oauth1-401-long?problem=P&kb=N` such a 401 padded with N kilobytes (`&coding=`, `&named=`, `&chunked=1`, `&hold=MS`; a coding `deflate-raw` is raw deflate named `deflate`, here and below), `/redirect` answers 302 with a Location and a WWW-Authenticate challenge, `/paged` answers a pagination Link built from the request URL and an ETag naming the credentials it got, `/plain` answers text (and `Accept-Ranges: bytes`), `/download?mb=N` N megabytes each opening with the token, written as fast as they are taken, `/token-echo` writes the token it got back into its body in 7-byte pieces (`?coding=gzip` gzipped whole, or any other coding named but not applied; `?transfer=gzip` gzipped as a transfer coding; `&status=304` as a 304), `/gzip-padded?kb=N&status=S` N kilobytes of empty gzip members before a dead-token problem, `/gzip-trailing` a gzipped OAuth 1.0a problem (`?problem=`, default token_rejected; `&coding=` another coding, `&status=S`) followed by zeros and an answer never ended (`trailingLetGo` counts those let go), `/gzipped` answers gzip-compressed text unless asked for identity (`?coding=` names others, applied in order where known; `&size=N` N zeros instead)
 * (RFC 9110 §12.5.3: a request without Accept-Encoding accepts any coding), `/gzipped-always` even then.
 */
export async function startEchoUpstream() {
  const received: EchoedRequest[] = []
  const rejected = new Set<string>()
  let stallsLetGo = 0
  let uploadsCut = 0
  let downloadWritten = 0
  let trailingLetGo = 0
  let longCut = 0
  const arrived: string[] = []
  const held: (() => void)[] = []
  let heldLetGo = 0
  const server = createServer((req, res) => {
    arrived.push(req.url ?? '')
    req.once('close', () => {
      if (!req.complete) uploadsCut++
    })
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const entry = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      received.push(entry)
      const { pathname: path, searchParams: query } = new URL(entry.url, 'http://x')
      const token = (req.headers.authorization ?? '').replace(/^Bearer /, '')
      if (rejected.has(token)) {
        res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Bearer error="invalid_token"' })
        res.end('{"error":"invalid_token"}')
        return
      }
      if (path.endsWith('/stall-body')) {
        // Headers and a first piece, then nothing: only a time limit on the whole answer ends it.
        res.writeHead(200, { 'Content-Type': 'application/json' })
        res.write('{"partial":')
        res.once('close', () => stallsLetGo++)
        return
      }
      if (path.endsWith('/oauth1-timestamp-refused')) {
        // RFC 5849 problem reporting about the request, not the token: a clock off, a retry fixes it.
        res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'OAuth realm="api", oauth_problem="timestamp_refused"' })
        res.end('{"error":"timestamp refused"}')
        return
      }
      if (path.endsWith('/oauth1-token-rejected')) {
        res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'OAuth realm="api", oauth_problem="token_rejected"' })
        res.end('{"error":"token rejected"}')
        return
      }
      if (path.endsWith('/oauth1-401-gzipped')) {
        // A 401 compressed although the call asked for identity, naming its problem only in the body
        // (`?problem=`) and quoting the token it refused.
        const token = /oauth_token="([^"]*)"/.exec(req.headers.authorization ?? '')?.[1] ?? ''
        const body = JSON.stringify({ oauth_problem: query.get('problem'), token: decodeURIComponent(token) })
        res.writeHead(401, { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' })
        res.end(gzipSync(body))
        return
      }
      if (path.endsWith('/oauth1-401-long')) {
        // A 401 naming `oauth_problem` P (`?problem=`) and quoting the token it refused, padded with
        // `&kb=N` kilobytes; `&coding=` gzipped or deflated; `&chunked=1` sent in two pieces, the
        // second its last 8 bytes, `&hold=MS` apart (the answer stays open that long after the first).
        const token = /oauth_token="([^"]*)"/.exec(req.headers.authorization ?? '')?.[1] ?? ''
        const text = JSON.stringify({ oauth_problem: query.get('problem'), token: decodeURIComponent(token), padding: 'x'.repeat(Number(query.get('kb') ?? 0) * 1024) })
        const coding = query.get('coding')
        const body = coding ? ENCODERS[coding]!(Buffer.from(text)) : Buffer.from(text)
        // `&named=C` names coding C without applying it: a body no decoder can read.
        const name = query.get('named') ?? (coding && named(coding))
        res.writeHead(401, { 'Content-Type': 'application/json', ...(name ? { 'Content-Encoding': name } : {}) })
        if (!query.get('chunked')) return void res.end(body)
        res.once('close', () => {
          if (!res.writableFinished) longCut++
        })
        res.write(body.subarray(0, -8))
        setTimeout(() => res.end(body.subarray(-8)), Number(query.get('hold') ?? 0))
        return
      }
      if (path.endsWith('/redirect')) {
        // A redirect elsewhere with a challenge: a fetch would follow the one, a browser prompt for the other.
        res.writeHead(302, { 'Content-Type': 'application/json', Location: 'https://evil.example/landing', 'WWW-Authenticate': 'Basic realm="upstream"' })
        res.end('{"moved":true}')
        return
      }
      if (path.endsWith('/paged')) {
        // A pagination Link built from the request URL, and an ETag naming the credentials it was
        // asked with: what a provider may echo of the token it received.
        const credentials = encodeURIComponent(req.headers.authorization ?? query.get('access_token') ?? '')
        res.writeHead(200, { 'Content-Type': 'application/json', Link: `<http://${req.headers.host}${entry.url}&page=2>; rel="next"`, ETag: `"${credentials}"`, 'X-RateLimit-Remaining': '41' })
        res.end('{"page":1}')
        return
      }
      if (path.endsWith('/token-echo')) {
        // The token the call was made with, written back the way APIs do (a Graph API paging URL,
        // a debug field), in pieces that cut it: what the proxy must never pass on.
        const token = (req.headers.authorization ?? '').replace(/^Bearer /, '') || (query.get('access_token') ?? '')
        const body = JSON.stringify({ data: [1], debug: token, paging: { next: `http://${req.headers.host}${path}?access_token=${encodeURIComponent(token)}&after=QVF` } })
        const coding = query.get('coding')
        const status = Number(query.get('status') ?? 200)
        // `?transfer=gzip`: gzipped as a transfer coding (RFC 9112 7), never asked for, under the chunked framing (a coding it cannot apply is only named).
        const transfer = query.get('transfer')
        res.writeHead(status, { 'Content-Type': 'application/json', ...(coding ? { 'Content-Encoding': coding } : {}), ...(transfer ? { 'Transfer-Encoding': `${transfer}, chunked` } : {}) })
        if (status === 304) {
          res.end()
          return
        }
        if (transfer) {
          res.end(ENCODERS[transfer]?.(coding === 'gzip' ? gzipSync(body) : Buffer.from(body)) ?? body)
          return
        }
        if (coding) {
          res.end(coding === 'gzip' ? gzipSync(body) : body)
          return
        }
        const pieces = body.match(/[^]{1,7}/g) ?? []
        const writeNext = () => (pieces.length ? res.write(pieces.shift(), () => setTimeout(writeNext, 1)) : res.end())
        writeNext()
        return
      }
      if (path.endsWith('/download')) {
        // `?mb=N` megabytes, the token that called at the start of each, written only as fast as they are taken.
        const token = (req.headers.authorization ?? '').replace(/^Bearer /, '')
        const megabyte = Buffer.from(`${token}\n${'x'.repeat(1024 * 1024 - token.length - 1)}`)
        let left = Number(query.get('mb') ?? 1)
        downloadWritten = 0
        res.writeHead(200, { 'Content-Type': 'text/plain' })
        const writeOn = () => {
          while (left > 0) {
            left--
            downloadWritten += megabyte.length
            if (!res.write(megabyte)) return void res.once('drain', writeOn)
          }
          res.end()
        }
        writeOn()
        return
      }
      if (path.endsWith('/gzip-padded')) {
        // `?kb=N` kilobytes of empty gzip members, which decode to nothing, then one holding an OAuth
        // 1.0a dead-token problem; `&status=S` answers S.
        const empty = gzipSync(Buffer.alloc(0))
        const padding = Buffer.concat(Array.from({ length: Math.ceil((Number(query.get('kb') ?? 1) * 1024) / empty.length) }, () => empty))
        res.writeHead(Number(query.get('status') ?? 200), { 'Content-Type': 'application/json', 'Content-Encoding': 'gzip' })
        res.end(Buffer.concat([padding, gzipSync('{"oauth_problem":"token_rejected"}')]))
        return
      }
      if (path.endsWith('/gzip-trailing')) {
        // A gzipped body whose coding ends before the answer: zeros follow, then nothing, the answer
        // never ended. The body is what the coding held; only the reader letting go ends the answer.
        const coding = query.get('coding') ?? 'gzip'
        res.writeHead(Number(query.get('status') ?? 200), { 'Content-Type': 'application/json', 'Content-Encoding': named(coding) })
        res.write(Buffer.concat([ENCODERS[coding]!(Buffer.from(JSON.stringify({ oauth_problem: query.get('problem') ?? 'token_rejected' }))), Buffer.alloc(16 * 1024)]))
        res.once('close', () => trailingLetGo++)
        return
      }
      if (path.endsWith('/plain')) {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': '5', 'Accept-Ranges': 'bytes' })
        res.end('plain')
        return
      }
      if (path.endsWith('/gzipped') || path.endsWith('/gzipped-always')) {
        const identity = !path.endsWith('-always') && /^\s*identity\s*$/i.test(req.headers['accept-encoding'] ?? '')
        const coding = query.get('coding') ?? 'gzip'
        // `?size=N`: N zeros instead, which compress a thousandfold.
        let body: Buffer = query.has('size') ? Buffer.alloc(Number(query.get('size')), '0') : Buffer.from('zipped')
        for (const applied of coding.split(',').map((name) => name.trim())) body = ENCODERS[applied]?.(body) ?? body
        // `?range=FIRST-LAST`: those bytes of the body (encoded, unless asked for identity), as a 206.
        const range = /^(\d+)-(\d+)$/.exec(query.get('range') ?? '')
        if (range) {
          const sent = identity ? Buffer.from('zipped') : body
          const [first, last] = [Number(range[1]), Math.min(Number(range[2]), sent.length - 1)]
          res.writeHead(206, { 'Content-Type': 'text/plain', ...(identity ? {} : { 'Content-Encoding': coding }), 'Content-Range': `bytes ${first}-${last}/${sent.length}` })
          res.end(sent.subarray(first, last + 1))
          return
        }
        res.writeHead(200, identity ? { 'Content-Type': 'text/plain', 'Accept-Ranges': 'bytes' } : { 'Content-Type': 'text/plain', 'Accept-Ranges': 'bytes', 'Content-Encoding': coding.split(',').map((name) => named(name.trim())).join(', ') })
        res.end(identity ? 'zipped' : body)
        return
      }
      if (path.endsWith('/held')) {
        res.once('close', () => {
          if (!res.headersSent) heldLetGo++
        })
        held.push(() => {
          res.writeHead(200, { 'Content-Type': 'application/json' })
          res.end('{"held":true}')
        })
        return
      }
      if (path.endsWith('/slow')) {
        setTimeout(() => {
          res.writeHead(200, { 'Content-Type': 'application/json' })
          res.end('{"slow":true}')
        }, 1500).unref()
        return
      }
      const status = /\/status\/(\d{3})$/.exec(path)
      const headers: Record<string, string | string[]> = { 'Content-Type': 'application/json', ETag: '"v1"', 'X-Internal-Secret': 'upstream-only' }
      if (path.endsWith('/set-cookie')) headers['Set-Cookie'] = ['upstream=1; Path=/', 'tracking=2; Path=/']
      // A 405 names the methods the resource takes (RFC 9110 §15.5.6).
      if (status?.[1] === '405') headers.Allow = 'GET, HEAD'
      res.writeHead(status ? Number(status[1]) : 200, headers)
      res.end(JSON.stringify({ method: entry.method, url: entry.url, body: entry.body }))
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    rejected,
    stallsLetGo: () => stallsLetGo,
    /** Bytes the last `/download` has written so far. */
    downloadWritten: () => downloadWritten,
    /** `/gzip-trailing` answers whose connection the reader closed. */
    trailingLetGo: () => trailingLetGo,
    /** `/oauth1-401-long` answers sent in two pieces whose connection closed before the second. */
    longCut: () => longCut,
    /** `/held` requests waiting for `releaseHeld()`. */
    held: () => held.length,
    /** `/held` requests whose connection the BFF closed before they were answered. */
    heldLetGo: () => heldLetGo,
    /** Answers every `/held` request waiting. */
    releaseHeld: () => {
      for (const answer of held.splice(0)) answer()
    },
    /** Requests whose body was cut before its end. */
    uploadsCut: () => uploadsCut,
    /** The target of every request as its headers arrived, whether or not its body ever ended. */
    arrived,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

export type EchoUpstream = Awaited<ReturnType<typeof startEchoUpstream>>
