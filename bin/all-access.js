#!/usr/bin/env node
// Runs the TypeScript source through tsx, so the command is always the code in this checkout.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../server/cli/index.ts')
const code = await main(process.argv.slice(2), {
  env: process.env,
  cwd: process.cwd(),
  out: (line) => process.stdout.write(line + '\n'),
  err: (line) => process.stderr.write(line + '\n'),
})
// serve keeps running until a signal; every other command ends here.
if (process.argv[2] !== 'serve' || code !== 0) process.exitCode = code
