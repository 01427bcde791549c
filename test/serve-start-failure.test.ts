import { request, type IncomingMessage } from 'node:http'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it, vi } from 'vitest'
import { generateKey } from '../server/crypto/keys.ts'
import { serve } from '../server/serve.ts'
import { freePort } from './support/demo-server.ts'
import { scratchFolder } from './support/scratch-folder.ts'

/** The answer to the request sent while the start was under way. */
let early: Promise<IncomingMessage & { text: string }> | undefined

// A start that fails after the port listens: the sandbox providers' start (the last step before the
// app) fails, once a request has connected and waits for the app. Whatever else could fail there
// (a provider port, the database going away) cannot be made to fail on cue from outside.
vi.mock('../server/sandbox/index.ts', () => ({
  startSandbox: async ({ publicUrl }: { publicUrl: URL }) => {
    const connected = new Promise<void>((resolve, reject) => {
      early = new Promise((answered, failed) => {
        const sent = request(new URL('/auth/providers', publicUrl), { headers: { host: publicUrl.host } }, (response) => {
          let text = ''
          response.setEncoding('utf8').on('data', (chunk: string) => (text += chunk)).on('end', () => answered(Object.assign(response, { text })))
        })
        sent.on('error', (error) => (failed(error), reject(error)))
        sent.on('socket', (socket) => socket.on('connect', () => resolve()))
        sent.end()
      })
    })
    await connected
    throw new Error('the sandbox providers could not start')
  },
}))

describe('all-access serve when its start fails after it listens', () => {
  it('answers a request that was waiting for the app 503 service_unavailable, as JSON no browser sniffs, and closes', async () => {
    const cwd = scratchFolder('aa-start-failure-')
    writeFileSync(join(cwd, 'index.html'), '<!doctype html>')
    const port = await freePort()
    const starting = serve({
      env: { PORT: String(port), HOST: '127.0.0.1', DATABASE_URL: `sqlite://${join(scratchFolder('aa-start-failure-db-'), 'db.sqlite3')}`, ALLACCESS_KEYS: generateKey(), ALLACCESS_STATIC_DIR: cwd },
      cwd,
      sandbox: true,
      log: () => {},
    })
    await expect(starting).rejects.toThrow('the sandbox providers could not start')

    const answer = await early!
    expect(answer.statusCode).toBe(503)
    expect(answer.headers['content-type']).toBe('application/json')
    expect(answer.headers['x-content-type-options']).toBe('nosniff')
    expect(answer.headers['cache-control']).toBe('no-store')
    expect(JSON.parse(answer.text)).toEqual({ error: 'service_unavailable', message: expect.any(String) })
    // Nothing listens any more.
    await expect(fetch(`http://127.0.0.1:${port}/auth/providers`)).rejects.toThrow()
  })
})
