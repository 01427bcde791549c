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

export interface CommandMessage {
  commandId: number
  command: unknown
}

export interface CommandReply {
  commandId: number
  result?: unknown
  error?: string
}

/**
 * Answers the commands its parent sends with `command()` (bench/processes.ts) over the IPC channel:
 * the soak turns faults on and off and reads the servers' own counts this way.
 */
export function onCommand(handle: (command: never) => unknown): void {
  process.on('message', (message: Partial<CommandMessage>) => {
    if (typeof message.commandId !== 'number') return
    const { commandId } = message
    Promise.resolve()
      .then(() => handle(message.command as never))
      .then(
        (result) => process.send?.({ commandId, result } satisfies CommandReply),
        (error: Error) => process.send?.({ commandId, error: error.message } satisfies CommandReply),
      )
  })
}
