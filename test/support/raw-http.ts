import { connect } from 'node:net'

export interface RawAnswer {
  status: number
  /** Header names in lower case; repeated headers joined with `\n`. */
  headers: Record<string, string>
  body: string
}

/**
 * One HTTP/1.1 request written byte for byte as given (UTF-8), whatever its target and header
 * values hold: `fetch` and `node:http` refuse, normalise or encode what a hostile client sends
 * as it is. Answers the first response on the connection.
 */
export function rawRequest(base: string, method: string, target: string, headers: [string, string][] = []): Promise<RawAnswer> {
  const url = new URL(base)
  const head = [`${method} ${target} HTTP/1.1`, `Host: ${url.host}`, ...headers.map(([name, value]) => `${name}: ${value}`), 'Connection: close', '', ''].join('\r\n')
  return new Promise((resolve, reject) => {
    const socket = connect({ host: url.hostname === 'localhost' ? '127.0.0.1' : url.hostname, port: Number(url.port) })
    const chunks: Buffer[] = []
    socket.setTimeout(10_000, () => socket.destroy(new Error(`no answer to ${JSON.stringify(head)}`)))
    socket.on('data', (chunk: Buffer) => chunks.push(chunk))
    socket.on('error', reject)
    socket.on('close', () => {
      try {
        resolve(firstResponse(Buffer.concat(chunks)))
      } catch (error) {
        reject(error)
      }
    })
    socket.write(Buffer.from(head, 'utf8'))
  })
}

function firstResponse(bytes: Buffer): RawAnswer {
  const end = bytes.indexOf('\r\n\r\n')
  if (end < 0) throw new Error(`no complete response: ${JSON.stringify(bytes.toString('latin1'))}`)
  const [statusLine, ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n')
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine)?.[1])
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = name in headers ? `${headers[name]}\n${value}` : value
  }
  const length = Number(headers['content-length'] ?? bytes.length)
  return { status, headers, body: bytes.subarray(end + 4, end + 4 + length).toString('utf8') }
}
