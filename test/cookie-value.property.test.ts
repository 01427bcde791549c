import fc from 'fast-check'
import Koa from 'koa'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { describe, expect, it } from 'vitest'
import { cookieValue, SESSION_COOKIE } from '../server/session/cookies.ts'

const app = new Koa()

/** What Koa's `ctx.cookies.get(name)`, which the BFF used before, answers for this header. */
function jarValue(header: string | undefined, name: string): string | undefined {
  const ctx = app.createContext({ headers: { cookie: header }, socket: {} } as unknown as IncomingMessage, {} as ServerResponse)
  return ctx.cookies.get(name)
}

const NAMES = [SESSION_COOKIE, `__Host-${SESSION_COOKIE}`, 'allaccess_flow', `x${SESSION_COOKIE}`, `${SESSION_COOKIE}x`, 'a']
// Pieces a header is made of, including the ones a parser trips on: separators, spaces, quotes,
// `=` inside values, names that contain the one asked for.
const piece = fc.oneof(
  fc.constantFrom(...NAMES, ';', '; ', ' ', '=', '"', ';;', '=;', 'v', 'EP_mzHpXXQQvqZUiPQwAglPoWGcKuJrAQ0mlFnFoseI'),
  fc.string({ maxLength: 6 }),
)

describe('cookieValue', () => {
  it('reads a header as the cookies package does', () => {
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 14 }), fc.constantFrom(...NAMES), (pieces, name) => {
        const header = pieces.join('')
        expect(cookieValue(header, name)).toBe(jarValue(header, name))
      }),
      { numRuns: 20_000 },
    )
  })

  it('takes the first of two cookies with the name, and no cookie whose name only ends or starts with it', () => {
    expect(cookieValue(`x${SESSION_COOKIE}=a; ${SESSION_COOKIE}x=b; ${SESSION_COOKIE}=c; ${SESSION_COOKIE}=d`, SESSION_COOKIE)).toBe('c')
    expect(cookieValue(`x${SESSION_COOKIE}=a`, SESSION_COOKIE)).toBeUndefined()
    expect(cookieValue(`  ${SESSION_COOKIE}=`, SESSION_COOKIE)).toBe('')
    expect(cookieValue(`${SESSION_COOKIE}="q"`, SESSION_COOKIE)).toBe('q')
    expect(cookieValue(undefined, SESSION_COOKIE)).toBeUndefined()
    expect(cookieValue('', SESSION_COOKIE)).toBeUndefined()
  })
})
