// The heap a process keeps, not the garbage it has yet to collect: the soak starts each BFF with
// `--inspect` on a loopback port and asks V8 for a full collection (Chrome DevTools Protocol,
// HeapProfiler.collectGarbage) right before it reads the heap from /metrics.
import { WebSocket } from 'undici'

/** The inspector's WebSocket address, from the "Debugger listening on ws://…" line Node prints at start. */
export function inspectorUrl(output: string): string | undefined {
  return /Debugger listening on (ws:\/\/\S+)/.exec(output)?.[1]
}

/** One full garbage collection in the process behind `url`; resolves once V8 reports it done. */
export function collectGarbage(url: string, timeoutMs = 10_000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const socket = new WebSocket(url)
    const timer = setTimeout(() => {
      socket.close()
      reject(new Error(`no garbage collection in ${timeoutMs} ms`))
    }, timeoutMs)
    socket.addEventListener('open', () => socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' })))
    socket.addEventListener('message', (event) => {
      if ((JSON.parse(String(event.data)) as { id?: number }).id !== 1) return
      clearTimeout(timer)
      socket.close()
      resolve()
    })
    socket.addEventListener('error', () => {
      clearTimeout(timer)
      reject(new Error(`cannot reach the inspector at ${url}`))
    })
  })
}
