import type { Server } from 'node:http'

/**
 * Starts one of the bench's servers on an ephemeral loopback port and tells the bench where, over
 * the IPC channel `fork` opened (or on stdout when run by hand). A server whose bench has gone (the
 * channel closed) exits, so a crashed bench leaves no server behind.
 */
export function listen(server: Server, name: string): void {
  server.listen(0, '127.0.0.1', () => {
    const { port } = server.address() as { port: number }
    if (process.send) process.send({ port })
    else console.log(`${name} listening on http://127.0.0.1:${port}`)
  })
  process.on('disconnect', () => process.exit(0))
}
