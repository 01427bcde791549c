import Koa from 'koa'
import { symlinkSync } from 'node:fs'
import { createServer } from 'node:http'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { requestLog } from '../server/http/request-log.ts'
import type { Logger } from '../server/log.ts'
import { staticSite } from '../server/static-site.ts'
import { scratchFolder } from './support/scratch-folder.ts'

describe('the request log line of an answer that a later step threw', () => {
  it('names the status the client got, not the 404 Koa starts with', async () => {
    // A file the static site cannot read (here a symbolic link to itself): koa-send throws, Koa answers 500.
    const root = scratchFolder('aa-spa-')
    symlinkSync(join(root, 'loop'), join(root, 'loop'))
    const lines: string[] = []
    const log: Logger = { info: (line) => lines.push(line), error: (line) => lines.push(line) }
    const app = new Koa()
    app.silent = true
    app.use(requestLog(log))
    app.use(staticSite(root))
    app.use((ctx) => {
      if (ctx.path === '/thrown') ctx.throw(409, 'taken')
    })
    const server = createServer(app.callback())
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    try {
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
      const loop = await fetch(`${base}/loop`)
      const thrown = await fetch(`${base}/thrown`, { method: 'POST' })
      expect([loop.status, thrown.status]).toEqual([500, 409])
      expect(lines.map((line) => line.split(' ').slice(0, 3).join(' '))).toEqual(['GET /loop 500', 'POST /thrown 409'])
    } finally {
      server.close()
    }
  })
})
