import { createServer } from 'node:net'

/**
 * Ports for processes started later come from below Linux's ephemeral range (32768–60999): one the
 * system chose (listen on 0) and released could be handed again to the next server started on port
 * 0 (the soak's balancer is, right after it picks its instances' ports), or taken while a killed
 * instance restarts on it.
 */
export const FIRST_FREE_PORT = 20_000
export const EPHEMERAL_PORTS_START = 32_768

function canListen(port: number): Promise<boolean> {
  return new Promise((done) => {
    const server = createServer()
    server.once('error', () => done(false))
    server.listen(port, '127.0.0.1', () => server.close(() => done(true)))
  })
}

/** Ports of `count` from `first` that nothing listens on, taken in turn from a random start, so that two picks never give the same port. */
export function portPicker(first: number, count: number): () => Promise<number> {
  let next = Math.floor(Math.random() * count)
  return async () => {
    for (let tried = 0; tried < count; tried++) {
      const port = first + (next++ % count)
      if (await canListen(port)) return port
    }
    throw new Error(`no free port in ${first}–${first + count - 1}`)
  }
}
