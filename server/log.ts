/** Where all-access writes: one line per request and one per error, never a secret (DESIGN.md, "Logs"). */
export interface Logger {
  info(line: string): void
  error(line: string): void
}

export const consoleLogger: Logger = {
  info: (line) => process.stdout.write(line + '\n'),
  error: (line) => process.stderr.write(line + '\n'),
}

export const silentLogger: Logger = { info: () => {}, error: () => {} }
