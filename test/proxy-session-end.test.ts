import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { request } from 'node:http'
import { hashId, randomToken } from '../server/crypto/random.ts'
import { SESSION_COOKIE } from '../server/session/cookies.ts'
import { databases } from './support/databases.ts'
import { startSignedInEchoBff } from './support/signed-in.ts'

type Echo = Awaited<ReturnType<typeof startSignedInEchoBff>>

/**
 * The proxy reads the session as a call arrives, then reads the call's body and waits for a token
 * refresh: a session ended meanwhile (a revocation, a logout elsewhere) must not still reach the
 * provider with the user's token once that is done. README: ending sessions "takes effect on every
 * instance within a second".
 */
describe.each(databases)('a proxied call whose session ends while it is under way, on $kind', (database) => {
  let echo: Echo

  beforeAll(async () => {
    echo = await startSignedInEchoBff(database)
  })

  afterAll(async () => {
    await echo?.close()
  })

  /** A session for a new user of `echo`, whose idle end the first call moves on: that write shows the call has read it. */
  async function sessionAboutToSlide(): Promise<{ id: string; userId: number }> {
    const { store } = echo.bff
    const provider = await store.providers.get('echo')
    const user = await store.users.create('Uploader')
    await store.accounts.create({ providerId: provider!.id, identifier: randomToken(6), userId: user.id, displayName: null, accessToken: 'token-uploader', tokenSecret: null, refreshToken: null, idToken: null, expiresAt: null, scope: null })
    const id = randomToken()
    const now = Date.now()
    await store.sessions.create(hashId(id), { userId: user.id, createdAt: now, idleExpiresAt: now + 60 * 60_000, absoluteExpiresAt: now + 7 * 24 * 60 * 60_000 })
    return { id, userId: user.id }
  }

  async function slid(id: string): Promise<boolean> {
    const row = await echo.bff.store.db('sessions').where({ id_hash: hashId(id) }).first()
    return Number(row.idle_expires_at) > Date.now() + 2 * 60 * 60_000
  }

  it('answers 401 not_authenticated, and sends nothing upstream, when the session is revoked while the body is on its way', async () => {
    const { id, userId } = await sessionAboutToSlide()
    const body = '{"note":"sent after the revocation"}'
    const url = new URL('/api/echo/upload', echo.bff.url)
    const answer = new Promise<{ status: number; body: string; setCookie: string[] }>((resolve, reject) => {
      const call = request(url, { method: 'POST', headers: { 'X-CSRF': '1', 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), Cookie: `${SESSION_COOKIE}=${id}` } }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (chunk: Buffer) => chunks.push(chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), setCookie: res.headers['set-cookie'] ?? [] }))
      })
      call.on('error', reject)
      call.flushHeaders()
      // The call has read the session and the account once it slid the session on; its body is still to come.
      void (async () => {
        while (!(await slid(id))) await new Promise((done) => setTimeout(done, 10))
        expect(await echo.bff.store.sessions.removeForUser(userId)).toBe(1)
        call.end(body)
      })().catch(reject)
    })
    const { status, body: answered, setCookie } = await answer
    expect({ status, error: JSON.parse(answered).error }).toEqual({ status: 401, error: 'not_authenticated' })
    expect(echo.upstream.received.filter((each) => each.body === body)).toEqual([])
    // The browser is told as a dead cookie's next request would be: the cookie goes.
    expect(setCookie.some((header) => header.startsWith(`${SESSION_COOKIE}=;`))).toBe(true)
  })
})
