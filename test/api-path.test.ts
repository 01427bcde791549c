import { describe, expect, it } from 'vitest'
import { resolveApiTarget } from '../server/proxy/api-path.ts'

const BASE = 'https://api.example.com/v2'

describe('resolveApiTarget(apiBaseUrl, path, query)', () => {
  it('joins a plain relative path and query below the base URL', () => {
    expect(resolveApiTarget(BASE, 'users/42/repos', 'per_page=5&sort=updated').toString()).toBe('https://api.example.com/v2/users/42/repos?per_page=5&sort=updated')
    expect(resolveApiTarget('https://api.example.com', 'me', '').toString()).toBe('https://api.example.com/me')
    expect(resolveApiTarget(BASE + '/', 'a/b/', '').toString()).toBe('https://api.example.com/v2/a/b/')
  })

  it('keeps harmless percent-encoding as it came', () => {
    expect(resolveApiTarget(BASE, 'search/hello%20world', 'q=a%2Fb').pathname).toBe('/v2/search/hello%20world')
  })

  // Each of these would leave the base path, reach another host, or be read differently by the provider.
  it.each([
    ['..', 'a parent segment'],
    ['../admin', 'a leading parent segment'],
    ['users/../../admin', 'a parent segment in the middle'],
    ['./users', 'a current-directory segment'],
    ['..;/admin', 'a parent segment with a path parameter (Tomcat drops it)'],
    ['users/..;x=1/..;/admin', 'parent segments with path parameters in the middle'],
    ['.;/users', 'a current-directory segment with a path parameter'],
    ['..%3b/admin', 'a parent segment with an encoded path parameter (a decoding proxy before Tomcat makes it `..;`)'],
    ['users/..%3Bx/..%3b/admin', 'parent segments with encoded path parameters in the middle'],
    ['.%3b/users', 'a current-directory segment with an encoded path parameter'],
    ['%2e%2e/admin', 'an encoded parent segment'],
    ['%2E%2E/admin', 'an upper-case encoded parent segment'],
    ['.%2e/admin', 'a half-encoded parent segment'],
    ['users%2f..%2fadmin', 'an encoded slash'],
    ['users%2F..%2Fadmin', 'an upper-case encoded slash'],
    ['users%5c..%5cadmin', 'an encoded backslash'],
    ['users\\..\\admin', 'backslashes'],
    ['%252e%252e/admin', 'a double-encoded parent segment'],
    ['users%252fadmin', 'a double-encoded slash'],
    ['/evil.example/x', 'a leading slash (//host once joined)'],
    ['users//admin', 'an empty segment'],
    ['@evil.example/x', 'an at sign'],
    ['user@evil.example', 'an at sign after a name'],
    ['%40evil.example', 'an encoded at sign'],
    ['https:/evil.example', 'a scheme'],
    ['javascript:alert(1)', 'a script scheme'],
    ['users%00', 'an encoded NUL'],
    ['users\u0000', 'a NUL'],
    ['users%0d%0aHost:evil', 'an encoded CRLF'],
    ['users\r\nHost: evil', 'a CRLF'],
    ['users%zz', 'a malformed escape'],
    ['users%', 'a dangling percent'],
    ['', 'an empty path'],
    ['a b', 'a raw space'],
    ['%c0%ae%c0%ae/admin', 'a parent segment in overlong UTF-8 (read as dots by lenient decoders)'],
    ['users%c0%af..%c0%afadmin', 'an overlong UTF-8 slash'],
    ['%e0%80%ae%e0%80%ae/admin', 'a parent segment in three-byte overlong UTF-8'],
    ['%f0%80%80%ae/admin', 'a dot in four-byte overlong UTF-8'],
    ['%f8%80%80%80%ae%f8%80%80%80%ae/admin', 'a parent segment in five-byte overlong UTF-8 (RFC 2279 had such forms, and decoders of its time read them)'],
    ['users%fc%80%80%80%80%af..%fc%80%80%80%80%afadmin', 'a slash in six-byte overlong UTF-8'],
    ['%ef%bc%8e%ef%bc%8e/admin', 'fullwidth dots (NFKC reads them as a parent segment)'],
    ['users%ef%bc%8f..%ef%bc%8fadmin', 'fullwidth slashes'],
    ['users%ef%bc%bc..%ef%bc%bcadmin', 'fullwidth backslashes'],
    ['%e2%80%a5/admin', 'a two dot leader (NFKC: `..`)'],
    ['.%ef%b9%92/admin', 'a dot and a small full stop'],
    ['..%ef%bc%9bx/admin', 'a parent segment whose path parameter starts with a fullwidth semicolon'],
    ['%ef%bc%852e%ef%bc%852e/admin', 'fullwidth percent signs (NFKC: `%2e%2e`)'],
    ['users%c2%85admin', 'an encoded C1 control (NEL)'],
  ])('refuses %j (%s) with invalid_path', (path) => {
    expect(() => resolveApiTarget(BASE, path, '')).toThrow(expect.objectContaining({ code: 'invalid_path', status: 400 }))
  })

  it('keeps encoded characters that fold to nothing special', () => {
    expect(resolveApiTarget(BASE, 'search/caf%C3%A9/%E3%80%82/%e2%80%a6', '').pathname).toBe('/v2/search/caf%C3%A9/%E3%80%82/%e2%80%a6')
  })

  it('refuses control characters in the query', () => {
    expect(() => resolveApiTarget(BASE, 'users', 'a=%0d%0aX')).toThrow(expect.objectContaining({ code: 'invalid_path' }))
  })
})
