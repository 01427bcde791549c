import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { hashId } from '../server/crypto/random.ts'
import { FLOW_COOKIE, SESSION_COOKIE } from '../server/session/cookies.ts'
import type { TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import { cases } from './support/property.ts'
import { rawRequest, type RawAnswer } from './support/raw-http.ts'
import { startSignedInEchoBff } from './support/signed-in.ts'

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** Another id than `id`, one character changed, dropped or added: close to a live session, never it. */
function nearMiss(id: string): fc.Arbitrary<string> {
  const at = fc.nat({ max: id.length - 1 })
  const other = (c: string) => fc.constantFrom(...BASE64URL.replace(c, ''))
  return fc.oneof(
    at.chain((i) => other(id[i]).map((c) => id.slice(0, i) + c + id.slice(i + 1))),
    at.map((i) => id.slice(0, i) + id.slice(i + 1)),
    fc.tuple(at, fc.constantFrom(...BASE64URL)).map(([i, c]) => id.slice(0, i) + c + id.slice(i)),
  )
}

/**
 * Header values as a hostile client writes them: any text, separators, quotes, control characters.
 * Not CR or LF: those end the header, and what follows is another header, not this one's value.
 */
const junk = fc.oneof(fc.string({ unit: 'binary', maxLength: 20 }), fc.constantFrom('', ' ', ';', ';;', '=', '==', '"', '\\', ',', '\t', '\u0000', '\u007f', 'é', '%00', '%3B', '%0d%0a')).map((value) => value.replace(/[\r\n]/g, ''))

function answerIsNoSignIn(answer: RawAnswer): void {
  expect(answer.status).toBeLessThan(500)
  const sessionSet = (answer.headers['set-cookie'] ?? '').split('\n').filter((cookie) => cookie.startsWith(`${SESSION_COOKIE}=`) && !cookie.startsWith(`${SESSION_COOKIE}=;`))
  expect(sessionSet).toEqual([])
}

describe.each(databases)('cookies and the Origin check on generated headers on $kind', (database) => {
  let setting: Awaited<ReturnType<typeof startSignedInEchoBff>>
  let bff: TestBff
  let sessionId: string
  let cookieValue: fc.Arbitrary<string>

  beforeAll(async () => {
    setting = await startSignedInEchoBff(database)
    bff = setting.bff
    sessionId = setting.browser.cookie(SESSION_COOKIE)!.value
    cookieValue = fc.oneof(junk, nearMiss(sessionId), fc.stringMatching(/^[A-Za-z0-9_-]{43}$/), nearMiss(sessionId).map((id) => `"${id}"`), nearMiss(sessionId).map((id) => ` ${id} `))
  })

  afterAll(() => setting?.close())

  /** A Cookie header of generated pairs: the BFF's cookie names, near misses of the live session's id, and junk. */
  const cookieHeader = () => {
    const name = fc.oneof(fc.constantFrom(SESSION_COOKIE, `__Host-${SESSION_COOKIE}`, FLOW_COOKIE, `${SESSION_COOKIE} `, SESSION_COOKIE.toUpperCase(), ''), junk)
    const pair = fc.oneof(fc.tuple(name, cookieValue).map(([n, v]) => `${n}=${v}`), junk)
    return fc.array(pair, { minLength: 1, maxLength: 5 }).chain((pairs) => fc.constantFrom(pairs.join('; '), pairs.join(';'), pairs.join(', ')))
  }

  it('reads the live session, as a control, answered as JSON with the headers of every BFF answer', async () => {
    const answer = await rawRequest(bff.url, 'GET', '/auth/session', [['Cookie', `${SESSION_COOKIE}=${sessionId}`], ['X-CSRF', '1']])
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.body).authenticated).toBe(true)
    expect(answer.headers).toMatchObject({
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(answer.body)),
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-request-id': expect.stringMatching(/^[0-9a-f]{16}$/),
    })
    const head = await rawRequest(bff.url, 'HEAD', '/auth/session', [['Cookie', `${SESSION_COOKIE}=${sessionId}`], ['X-CSRF', '1']])
    expect({ status: head.status, body: head.body, type: head.headers['content-type'], length: head.headers['content-length'] }).toEqual({
      status: 200,
      body: '',
      type: 'application/json; charset=utf-8',
      length: answer.headers['content-length'],
    })
  })

  it('answers each read with what the account and the session are then, though it keeps answers between reads', async () => {
    const read = async () => JSON.parse((await rawRequest(bff.url, 'GET', '/auth/session?slide=false', [['Cookie', `${SESSION_COOKIE}=${sessionId}`], ['X-CSRF', '1']])).body)
    const first = await read()
    expect(await read()).toEqual(first)
    expect(first.accounts.map((a: { status: string }) => a.status)).toEqual(['active'])
    const account = (await bff.store.accounts.findForUser(Number(first.user.id), 'echo'))!
    const idHash = hashId(sessionId)
    const idleEnd = (await bff.store.sessions.find(idHash))!.idleExpiresAt
    try {
      await bff.store.accounts.setStatus(account.id, 'reauth_required')
      expect((await read()).accounts.map((a: { status: string }) => a.status)).toEqual(['reauth_required'])
      await bff.store.sessions.extend(idHash, idleEnd - 60_000)
      expect(await read()).toEqual({ ...first, accounts: [{ ...first.accounts[0], status: 'reauth_required' }], expiresAt: new Date(idleEnd - 60_000).toISOString() })
    } finally {
      await bff.store.accounts.setStatus(account.id, 'active')
      await bff.store.sessions.extend(idHash, idleEnd)
    }
    expect(await read()).toEqual(first)
  })

  it('never signs in a request whose Cookie header is generated, and never answers 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(cookieHeader(), async (cookie) => {
        const answer = await rawRequest(bff.url, 'GET', '/auth/session', [['Cookie', cookie], ['X-CSRF', '1']])
        answerIsNoSignIn(answer)
        if (answer.status === 200) expect(JSON.parse(answer.body)).toEqual({ authenticated: false })
        else expect(answer.status).toBe(400)
      }),
      cases(1_000),
    )
  })

  it('never ends a login callback carrying a generated Cookie header in a session, and never answers 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(cookieHeader(), junk, async (cookie, state) => {
        const answer = await rawRequest(bff.url, 'GET', `/auth/callback/echo?code=c&state=${encodeURIComponent(state)}`, [['Cookie', cookie]])
        answerIsNoSignIn(answer)
        if (answer.status === 302) expect(answer.headers.location).toBe('/?auth_error=invalid_state')
        else expect(answer.status).toBe(400)
      }),
      cases(1_000),
    )
  })

  it('lets the live session through only without an Origin or with its own, answering 403 origin_not_allowed to any other (an empty one too), and never 5xx', async () => {
    const own = new URL(bff.url).origin
    const origin = fc.oneof(
      junk,
      fc.constantFrom(own, '', ' ', `${own}/`, own.toUpperCase(), own.replace('localhost', '127.0.0.1'), own.replace('http:', 'https:'), `${own}.evil.example`, `${own}@evil.example`, 'null', `${own}, ${own}`, `${own}\u0000`, ` ${own}`, `${own}\t`),
      fc.webUrl(),
    )
    await fc.assert(
      fc.asyncProperty(origin.map((value) => value.replace(/[\r\n]/g, '')), fc.constantFrom(['POST', '/auth/logout'], ['DELETE', '/auth/accounts/echo'], ['GET', '/api/echo/me']), async (value, [method, path]) => {
        // What Node hands the BFF: the value without the spaces and tabs around it.
        const seen = value.replace(/^[ \t]+|[ \t]+$/g, '')
        const allowed = seen === own
        // An allowed request is sent as a read: the session and its account must outlive the run.
        const answer = await rawRequest(bff.url, allowed ? 'GET' : method, allowed ? '/auth/session' : path, [['Cookie', `${SESSION_COOKIE}=${sessionId}`], ['X-CSRF', '1'], ['Origin', value]])
        expect(answer.status).toBeLessThan(500)
        if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(value)) expect([400, 403]).toContain(answer.status)
        else if (allowed) expect({ status: answer.status, authenticated: JSON.parse(answer.body).authenticated }).toEqual({ status: 200, authenticated: true })
        else expect({ status: answer.status, body: JSON.parse(answer.body) }).toEqual({ status: 403, body: { error: 'origin_not_allowed', message: 'Requests from this origin are not allowed.' } })
      }),
      cases(1_000),
    )
    // No refused request logged out or disconnected anyone.
    const session = await rawRequest(bff.url, 'GET', '/auth/session', [['Cookie', `${SESSION_COOKIE}=${sessionId}`], ['X-CSRF', '1']])
    expect(JSON.parse(session.body)).toMatchObject({ authenticated: true, accounts: [{ provider: 'echo' }] })
  })
})
