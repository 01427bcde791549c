import { describe, expect, it } from 'vitest'
import { safeNext } from '../server/flows/safe-next.ts'

describe('safeNext(next)', () => {
  it.each(['/', '/dashboard', '/a/b?tab=1#top', '/search?q=%2F%2Fevil'])('keeps the local path %s', (path) => {
    expect(safeNext(path)).toBe(path)
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
  ])('replaces %s (%s) with /', (value) => {
    expect(safeNext(value)).toBe('/')
  })

  it('replaces a missing or repeated parameter with /', () => {
    expect(safeNext(undefined)).toBe('/')
    expect(safeNext(['/a', '/b'])).toBe('/')
  })
})
