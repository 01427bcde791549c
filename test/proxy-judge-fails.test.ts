import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { OAuth2Client } from '../server/clients/oauth2.ts'
import { startBff, type TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { within } from './support/eventually.ts'
import { startEchoUpstream, type EchoUpstream } from './support/echo-upstream.ts'
import { signedIn } from './support/signed-in.ts'

/** A host app's client whose rule for telling a dead token fails: a bug of the host's, or its introspection down. */
class BrokenJudgeClient extends OAuth2Client {
  override async tokenRejected(): Promise<boolean> {
    throw new TypeError('the host rule broke')
  }
}

/** Longer than the test waits: only the call itself, not its time limit, lets go of the provider's answer in time. */
const TIME_LIMIT_MS = 60_000

describe.each(databases)("the API proxy on $kind, when a host client's judging of the token throws", (database) => {
  let drop: () => Promise<void>
  let bff: TestBff
  let upstream: EchoUpstream
  /** Whether the provider's answer was let go of before the browser's answer left, per request id. */
  const letGoBeforeAnswer = new Map<string, boolean>()

  beforeAll(async () => {
    const created = await database.create()
    drop = created.drop
    upstream = await startEchoUpstream()
    bff = await startBff(created.url, {
      proxy: { timeoutMs: TIME_LIMIT_MS },
      clients: { 'broken-judge': BrokenJudgeClient },
      // A host middleware with more to do once all-access has answered: the browser's answer is
      // held until the provider sees its own closed, or the test's wait is over.
      host: async (ctx, next) => {
        const before = upstream.stallsLetGo()
        await next()
        if (!ctx.path.startsWith('/api/broken-judge/')) return
        const after = await within(10_000, async () => upstream.stallsLetGo(), (n) => n > before)
        letGoBeforeAnswer.set(String(ctx.response.get('x-request-id')), after > before)
      },
    })
    await bff.addProvider('broken-judge', { authorizationUrl: 'https://idp.example/authorize', accessTokenUrl: 'https://idp.example/token', profileUrl: 'https://idp.example/me', clientId: 'id', clientSecret: 'secret', apiBaseUrl: `${upstream.url}/v1` })
  })

  afterAll(async () => {
    await bff?.close()
    await upstream?.close()
    await drop?.()
  })

  it("answers 500 server_error, logged under the request id, having let go of the provider's answer before answering", async () => {
    const { browser } = await signedIn(bff, 'broken-judge', { accessToken: 'token-judged' })
    // Headers and a first piece, then nothing: the answer stays open until the BFF lets go of it.
    const response = await browser.fetch(new URL('/api/broken-judge/stall-body', bff.url), { headers: { 'X-CSRF': '1' } })
    const requestId = response.headers.get('x-request-id') ?? ''
    expect([response.status, await response.json()]).toEqual([500, { error: 'server_error', message: 'Something went wrong.' }])
    expect(letGoBeforeAnswer.get(requestId)).toBe(true)
    expect(bff.errors).toContainEqual(expect.stringMatching(new RegExp(`^error req=${requestId} server_error: TypeError: the host rule broke`)))
  })
})
