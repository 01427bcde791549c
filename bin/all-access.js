#!/usr/bin/env node
// Runs the built JavaScript in dist/: no TypeScript is compiled at start (`npm run build` makes dist/).
import { existsSync } from 'node:fs'

const entry = new URL('../dist/server/cli/index.js', import.meta.url)
if (!existsSync(entry)) {
  process.stderr.write('all-access: dist/ is missing; run `npm run build` first\n')
  process.exit(2)
}
const { main } = await import(entry.href)
// `all-access presets | head` (`2>&1` too): a reader that closed its end wants no more lines, and the
// command finishes its work without them, rather than die of EPIPE with a stack trace. (serve's log
// is its own.)
const readerGone = new Set()
if (process.argv[2] !== 'serve') {
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error) => {
      if (error.code !== 'EPIPE') throw error
      readerGone.add(stream)
    })
  }
}
const writeTo = (stream) => (line) => readerGone.has(stream) || stream.write(line + '\n')
const code = await main(process.argv.slice(2), { env: process.env, cwd: process.cwd(), out: writeTo(process.stdout), err: writeTo(process.stderr) })
// serve keeps running until a signal; every other command ends here, once its lines are written. Its
// own connections are closed, but one that failed half-way is not always (pg leaves a login it gave
// up on open until PostgreSQL's authentication_timeout, a minute): nothing is left for it to do.
if (process.argv[2] !== 'serve' || code !== 0) {
  const written = (stream) => new Promise((resolve) => (readerGone.has(stream) ? resolve() : stream.write('', resolve)))
  await Promise.all([written(process.stdout), written(process.stderr)])
  process.exit(code)
}
