import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { safeNext } from '../server/flows/safe-next.ts'

const APP = 'https://app.example'

/** What a browser does with the `Location` the BFF sends: resolves it against the page's origin. */
function browserTarget(location: string): URL {
  return new URL(location, APP)
}

/** Whether a server or proxy that decodes the path once more, then resolves it, still stays on this site. */
function decodedOnceTarget(location: string): boolean {
  const target = new URL(decodeURIComponent(location), APP)
  return target.origin === APP && !/^\/[/\\]/.test(target.pathname)
}

describe('safeNext(next)', () => {
  it.each(['/', '/dashboard', '/a/b?tab=1#top', '/search?q=%2F%2Fevil', '/a/./b/../c'])('keeps the local path %s, resolved', (path) => {
    expect(safeNext(path)).toBe(new URL(path, APP).pathname + new URL(path, APP).search + new URL(path, APP).hash)
  })

  it.each([
    ['//evil.example', 'a protocol-relative URL'],
    ['/\\evil.example', 'a backslash after the slash'],
    ['https://evil.example/', 'an absolute URL'],
    ['javascript:alert(1)', 'a script scheme'],
    ['evil.example/path', 'a path without leading slash'],
    ['/%2F%2Fevil.example', 'an encoded protocol-relative URL'],
    ['/%5Cevil.example', 'an encoded backslash'],
    ['/foo\nbar', 'a newline'],
    ['/foo\u0000', 'a NUL'],
    ['/%0d%0aSet-Cookie:x=1', 'encoded CRLF'],
    ['/\t/evil.example', 'a tab'],
    ['', 'an empty value'],
    ['/%E0%A4%A', 'a malformed escape'],
    ['/.//evil.example', 'a dot segment before //'],
    ['/%2e//evil.example', 'an encoded dot segment before //'],
    ['/%2E%2E//evil.example', 'an encoded double-dot segment before //'],
    ['/a/..//evil.example', 'a double-dot segment before //'],
    ['/a/b/../..//evil.example', 'two double-dot segments before //'],
    ['/./\\evil.example', 'a dot segment before a backslash'],
    // Resolving the dot segments leaves a path that is itself refused: the value sent is judged again.
    ['/./%2F%2Fevil.example', 'a dot segment before an encoded protocol-relative URL'],
    ['/a/../%5Cevil.example', 'a double-dot segment before an encoded backslash'],
    // A server that decodes once more and then resolves would make these `//evil.example`.
    ['/..%2f/evil.example', 'a double-dot segment before an encoded slash and a slash'],
    ['/..%2F%2Fevil.example', 'a double-dot segment before two encoded slashes'],
    ['/a/../..%5c/evil.example', 'a double-dot segment before an encoded backslash and a slash'],
    ['/%2e%2e%2f/evil.example', 'an encoded double-dot segment and slash before a slash'],
  ])('replaces %j (%s) with /', (value) => {
    expect(safeNext(value)).toBe('/')
  })

  it('replaces a missing or repeated parameter with /', () => {
    expect(safeNext(undefined)).toBe('/')
    expect(safeNext(['/a', '/b'])).toBe('/')
  })

  // Pieces attackers combine: dot segments in every spelling, slashes, backslashes, whitespace the
  // URL parser drops, schemes and hosts.
  const PIECES = ['/', '//', '\\', '/\\', '.', '..', '/.', '/..', '%2e', '%2E', '%2e%2e', '.%2e', '%2f', '%2F', '%5c', '%5C', '%252f', '\t', '\n', '\r', ' ', '%09', '%0a', '%00', '@', ':', 'http:', 'https:', 'javascript:', '//evil.example', 'evil.example', 'a', '?', '#', '%', '\u3002', '\uff0f']

  it('sends only Locations a browser resolves to the same origin, over every 1- to 3-piece combination', () => {
    const corpus: string[] = []
    for (const a of PIECES) for (const b of PIECES) for (const c of ['', ...PIECES]) corpus.push(a + b + c, `/${a}${b}${c}`)
    expect(corpus.length).toBeGreaterThan(100_000)
    for (const value of corpus) {
      const location = safeNext(value)
      expect(location.startsWith('/'), value).toBe(true)
      expect(browserTarget(location).origin, JSON.stringify(value)).toBe(APP)
      expect(decodedOnceTarget(location), JSON.stringify(value)).toBe(true)
    }
  })

  it('sends only same-origin Locations for generated input, and is stable on its own output', () => {
    const piece = fc.oneof(fc.constantFrom(...PIECES), fc.string({ maxLength: 4 }), fc.webPath())
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 8 }).map((parts) => parts.join('')), (value) => {
        const location = safeNext(value)
        expect(browserTarget(location).origin).toBe(APP)
        expect(location.startsWith('/') && !location.startsWith('//')).toBe(true)
        expect(safeNext(location)).toBe(location)
        expect(decodedOnceTarget(location)).toBe(true)
      }),
      { numRuns: 20_000 },
    )
  })
})
