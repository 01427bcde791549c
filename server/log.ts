import { writeSync } from 'node:fs'

/** Where all-access writes: one line per request and one per error, never a secret (DESIGN.md, "Logs"). */
export interface Logger {
  info(line: string): void
  error(line: string): void
}

/**
 * Lines for one file descriptor, written once per turn of the event loop: a pipe's writes are
 * synchronous system calls on Linux, and one per request was the proxy's largest single cost.
 * What is pending is written before the process exits.
 */
class BatchedLines {
  private pending = ''
  private scheduled = false

  constructor(private readonly fd: number) {
    process.once('exit', () => this.flush())
  }

  write(line: string): void {
    this.pending += line + '\n'
    if (this.pending.length > 64 * 1024) this.flush()
    else if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }

  private flush(): void {
    this.scheduled = false
    const text = this.pending
    this.pending = ''
    if (!text) return
    try {
      writeSync(this.fd, text)
    } catch (error) {
      // A non-blocking pipe that is full: let the stream queue it. A closed one must not stop the server.
      if ((error as NodeJS.ErrnoException).code === 'EAGAIN') (this.fd === 1 ? process.stdout : process.stderr).write(text)
    }
  }
}

const out = new BatchedLines(1)
const err = new BatchedLines(2)

export const consoleLogger: Logger = {
  info: (line) => out.write(line),
  error: (line) => err.write(line),
}

export const silentLogger: Logger = { info: () => {}, error: () => {} }
