import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import Koa from 'koa'
import { createServer, type Server } from 'node:http'
import { createAllAccess, type AllAccess } from '../server/all-access.ts'
import { generateKey, parseKeys } from '../server/crypto/keys.ts'
import { databases } from './support/databases.ts'

// What the README's "Mounting" section says of an app's own routes beside the BFF's fixed prefixes.
describe('an app mounting all-access beside routes of its own', () => {
  let allAccess: AllAccess
  let server: Server
  let url: string
  let drop: () => Promise<void>

  beforeAll(async () => {
    const created = await databases[0].create()
    drop = created.drop
    server = createServer()
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    url = `http://localhost:${(server.address() as { port: number }).port}`
    allAccess = await createAllAccess({ databaseUrl: created.url, keys: parseKeys(generateKey()), publicUrl: url, log: { info() {}, error() {} } })
    const app = new Koa()
    const own = (path: string, body: string): Koa.Middleware => async (ctx, next) => {
      if (ctx.path === path) ctx.body = body
      else await next()
    }
    app.use(own('/api/own-before', 'the app answered'))
    app.use(allAccess.middleware)
    app.use(own('/api/own-after', 'never reached'))
    app.use(own('/hello', 'hello from the app'))
    server.on('request', app.callback())
  })

  afterAll(async () => {
    server.closeAllConnections()
    await new Promise((resolve) => server.close(resolve))
    await allAccess.close()
    await drop()
  })

  it('answers its own /api route when it comes before allAccess.middleware', async () => {
    const answer = await fetch(`${url}/api/own-before`)
    expect([answer.status, await answer.text()]).toEqual([200, 'the app answered'])
  })

  it('never reaches an /api route placed after allAccess.middleware, which answers the whole prefix itself', async () => {
    const answer = await fetch(`${url}/api/own-after`, { headers: { 'X-CSRF': '1' } })
    // Read as a proxied call of a provider named "own-after" by a browser that is not signed in.
    expect([answer.status, (await answer.json()).error]).toEqual([401, 'not_authenticated'])
  })

  it('passes every path outside /auth and /api on to the app', async () => {
    const answer = await fetch(`${url}/hello`)
    expect([answer.status, await answer.text()]).toEqual([200, 'hello from the app'])
  })
})
