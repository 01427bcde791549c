import { createConnection, createServer, type Server, type Socket } from 'node:net'

/**
 * A TCP relay to a real server that can be cut and restored: the database "going away" and
 * coming back, without touching the machine's PostgreSQL.
 */
export async function startTcpRelay(targetHost: string, targetPort: number) {
  const sockets = new Set<Socket>()
  let server: Server | null = null
  let port = 0

  async function open(): Promise<void> {
    server = createServer((client) => {
      const upstream = createConnection({ host: targetHost, port: targetPort })
      sockets.add(client).add(upstream)
      const forget = () => {
        sockets.delete(client)
        sockets.delete(upstream)
        client.destroy()
        upstream.destroy()
      }
      client.on('error', forget).on('close', forget)
      upstream.on('error', forget).on('close', forget)
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => server!.listen(port, '127.0.0.1', resolve))
    port = (server.address() as { port: number }).port
  }

  await open()
  return {
    get port() {
      return port
    },
    /** Drops every connection and refuses new ones. */
    async cut() {
      for (const socket of sockets) socket.destroy()
      sockets.clear()
      await new Promise<void>((resolve) => server?.close(() => resolve()))
      server = null
    },
    restore: open,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      if (server) await new Promise<void>((resolve) => server!.close(() => resolve()))
    },
  }
}
