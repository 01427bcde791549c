import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
}

export interface RecordedAnswer {
  status: number
  body?: string | Uint8Array
  type?: string
  /** Answers this much later (a slow route). */
  delayMs?: number
  /** More headers; a `Date` here replaces Node's own (a server whose clock is off). */
  headers?: Record<string, string>
}

/** A real HTTP server on 127.0.0.1 that records every request and answers what `answer` says. */
export async function startRecordingServer(answer: (request: RecordedRequest) => RecordedAnswer) {
  const received: RecordedRequest[] = []
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('end', () => {
      const request = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8') }
      received.push(request)
      const { status, body = '', type, delayMs, headers } = answer(request)
      const send = () => {
        res.writeHead(status, { ...headers, ...(type && { 'Content-Type': type }) })
        res.end(body)
      }
      if (delayMs) setTimeout(send, delayMs)
      else send()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
