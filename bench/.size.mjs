import { readFileSync } from 'node:fs'
import { gzipSync } from 'node:zlib'
import { transform } from 'esbuild'
const f = process.argv[2] ?? 'dist/client-lib/all-access-client.js'
const built = readFileSync(f, 'utf8')
const m = (await transform(built, { minify: true, format: 'esm' })).code
console.log(m.length, gzipSync(m, { level: 9 }).length)
if (process.argv[3]) console.log(m)
