import type { Server } from 'node:http'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { generateKey } from '../server/crypto/keys.ts'
import { serve } from '../server/serve.ts'
import { scratchFolder } from './support/scratch-folder.ts'

// `serve` in this process: what Node will wait for cannot be seen from outside short of waiting
// 300 s for a cut. The SIGTERM handlers it adds are this worker's, and no test sends one.
const started: Server[] = []
afterEach(() => {
  for (const server of started.splice(0)) {
    server.closeAllConnections()
    server.close()
  }
})

async function serveWith(env: Record<string, string>): Promise<Server> {
  const cwd = scratchFolder('aa-timeout-')
  writeFileSync(join(cwd, 'index.html'), '<!doctype html>')
  const server = await serve({
    env: { PORT: '0', HOST: '127.0.0.1', DATABASE_URL: `sqlite://${join(scratchFolder('aa-timeout-db-'), 'db.sqlite3')}`, ALLACCESS_KEYS: generateKey(), ALLACCESS_STATIC_DIR: cwd, ...env },
    cwd,
    sandbox: false,
    log: () => {},
  })
  started.push(server)
  return server
}

describe('all-access serve: how long a request may take to arrive', () => {
  it("lets an upload run as long as ALLACCESS_PROXY_TIMEOUT_MS allows, past Node's 300 s", async () => {
    const server = await serveWith({ ALLACCESS_PROXY_TIMEOUT_MS: '600000' })
    // Past the proxy's own limit, so the proxy answers 504 before Node resets the connection.
    expect(server.requestTimeout).toBeGreaterThan(600_000)
    expect(server.headersTimeout).toBeLessThanOrEqual(60_000)
  })

  it("keeps Node's 300 s under the default proxy limit", async () => {
    const server = await serveWith({})
    expect(server.requestTimeout).toBe(300_000)
  })
})
