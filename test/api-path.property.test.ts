import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AllAccessError } from '../server/errors.ts'
import { resolveApiTarget } from '../server/proxy/api-path.ts'
import type { TestBff } from './support/bff.ts'
import { databases } from './support/databases.ts'
import type { EchoUpstream } from './support/echo-upstream.ts'
import { cases } from './support/property.ts'
import { rawRequest } from './support/raw-http.ts'
import { startSignedInEchoBff } from './support/signed-in.ts'

/**
 * The path as the most lenient server behind the API base might read it: percent-decoded until
 * nothing changes (double decoding included), backslashes as slashes, `;parameters` dropped from
 * each segment (as Tomcat does), then dot segments resolved.
 */
function asLenientServerReads(pathname: string): string {
  let decoded = pathname
  for (let previous = ''; previous !== decoded; ) {
    previous = decoded
    decoded = decoded.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)))
  }
  const resolved: string[] = []
  for (const segment of decoded.replace(/\\/g, '/').split('/').slice(1).map((part) => part.split(';')[0])) {
    if (segment === '..') resolved.pop()
    else if (segment !== '.') resolved.push(segment)
  }
  return `/${resolved.join('/')}`
}

/** UTF-8 decoded without refusing overlong forms (`c0 ae` is `.`), as old or careless decoders do; other bytes as Latin-1. */
function lenientUtf8(bytes: number[]): string {
  let text = ''
  for (let at = 0; at < bytes.length; ) {
    const lead = bytes[at]
    // Up to six bytes, as RFC 2279 had it before RFC 3629 stopped at four.
    const length = lead >= 0xc0 && lead < 0xe0 ? 2 : lead >= 0xe0 && lead < 0xf0 ? 3 : lead >= 0xf0 && lead < 0xf8 ? 4 : lead >= 0xf8 && lead < 0xfc ? 5 : lead >= 0xfc && lead < 0xfe ? 6 : 1
    const rest = bytes.slice(at + 1, at + length)
    if (length > 1 && rest.length === length - 1 && rest.every((byte) => (byte & 0xc0) === 0x80)) {
      const first = lead & (0xff >> (length + 1))
      text += String.fromCodePoint(Math.min(rest.reduce((code, byte) => (code << 6) | (byte & 0x3f), first), 0x10ffff))
      at += length
    } else {
      text += String.fromCharCode(lead)
      at += 1
    }
  }
  return text
}

/**
 * The path as a server might read it that decodes escapes as lenient UTF-8 (overlong forms
 * included) and folds Unicode compatibility forms (NFKC: a fullwidth `．` is `.`), until nothing
 * changes, then reads it as {@link asLenientServerReads} does.
 */
function asFoldingServerReads(pathname: string): string {
  let decoded = pathname
  for (let previous = ''; previous !== decoded; ) {
    previous = decoded
    const bytes: number[] = []
    for (let at = 0; at < decoded.length; at++) {
      if (decoded[at] === '%' && /^[0-9a-fA-F]{2}$/.test(decoded.slice(at + 1, at + 3))) {
        bytes.push(parseInt(decoded.slice(at + 1, at + 3), 16))
        at += 2
      } else {
        for (const byte of Buffer.from(decoded[at], 'utf8')) bytes.push(byte)
      }
    }
    decoded = lenientUtf8(bytes).normalize('NFKC')
  }
  return asLenientServerReads(decoded)
}

/** True when every reading of `pathname` stays strictly below `basePath`. */
function staysBelow(pathname: string, basePath: string): boolean {
  const base = asLenientServerReads(basePath).replace(/\/$/, '')
  return (
    pathname.startsWith(`${basePath.replace(/\/$/, '')}/`) &&
    asLenientServerReads(pathname).startsWith(`${base}/`) &&
    asFoldingServerReads(pathname).startsWith(`${asFoldingServerReads(basePath).replace(/\/$/, '')}/`)
  )
}

// What attackers combine to leave a base path: dot segments in every spelling, slashes, path
// parameters, schemes, hosts, whitespace and characters that URL parsers treat specially.
const PIECES = ['/', '//', '.', '..', '...', '..;', ';', ';x=1', '%2e', '%2E', '.%2e', '%2e%2e', '%2f', '%2F', '%5c', '%5C', '%25', '%252e', '%252f', '%40', '%3a', '%3f', '%23', '%3b', '%3B', '%u002e', '%c0%ae', '%c0%af', '%e0%80%ae', '%f8%80%80%80%ae', '%fc%80%80%80%80%af', '%e3%80%82', '%ef%bc%8e', '%ef%bc%8f', '%ef%bc%bc', '%ef%bc%85', '%e2%80%a5', '%ef%b9%92', '\\', '@', ':', '?', '#', '%', '%0a', '%00', '%7f', '\t', '\n', '\r', ' ', 'a', 'users', '42', 'v1', '\u3002', '\uff0e', '\uff0f', 'é', 'http:', 'https://evil.example', '//evil.example', 'evil.example', '&', '=', '~', '+', '!', '$', "'", '(', ')', '*', ',', '[', ']']
const piece = fc.oneof(fc.constantFrom(...PIECES), fc.webSegment(), fc.string({ maxLength: 3, unit: 'binary' }))
const rawPath = fc.oneof(
  fc.array(piece, { maxLength: 10 }).map((parts) => parts.join('')),
  // Segments joined by slashes: near-valid paths, where one bad segment is the whole attack.
  fc.array(fc.oneof(fc.webSegment(), piece), { minLength: 1, maxLength: 5 }).map((segments) => segments.join('/')),
)
const rawQuery = fc.oneof(fc.constant(''), fc.webQueryParameters(), fc.array(piece, { maxLength: 6 }).map((parts) => parts.join('')))
const BASES = ['https://api.example.com', 'https://api.example.com/', 'https://api.example.com/v2', 'https://api.example.com/v2/', 'http://127.0.0.1:8080/a/b', 'https://api.example.com:8443/x%20y/z']

describe('resolveApiTarget(apiBaseUrl, path, query) on generated input', () => {
  it('refuses with invalid_path, or gives a URL that every reading keeps below the API base', () => {
    fc.assert(
      fc.property(fc.constantFrom(...BASES), rawPath, rawQuery, (apiBaseUrl, path, query) => {
        let target: URL
        try {
          target = resolveApiTarget(apiBaseUrl, path, query)
        } catch (error) {
          expect(error).toBeInstanceOf(AllAccessError)
          expect((error as AllAccessError).code).toBe('invalid_path')
          return
        }
        const base = new URL(apiBaseUrl)
        const basePath = base.pathname.replace(/\/+$/, '')
        // As sent: the serialised URL, parsed again the way the HTTP client does.
        const sent = new URL(target.toString())
        expect(sent.origin).toBe(base.origin)
        expect(sent.username + sent.password + sent.hash).toBe('')
        // As read: by a server that decodes, re-slashes and resolves everything it can.
        expect(staysBelow(sent.pathname, basePath)).toBe(true)
      }),
      cases(20_000),
    )
  })
})

describe.each(databases)('the API proxy on generated paths on $kind', (database) => {
  let setting: Awaited<ReturnType<typeof startSignedInEchoBff>>
  let bff: TestBff
  let upstream: EchoUpstream
  let cookie: string

  beforeAll(async () => {
    setting = await startSignedInEchoBff(database)
    ;({ bff, upstream } = setting)
    cookie = setting.browser.cookieHeader(new URL(bff.url))
  })

  afterAll(() => setting?.close())

  it('answers 400 with nothing sent upstream, or 200 from below the API base only, and never a 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(rawPath, rawQuery, async (path, query) => {
        const before = upstream.received.length
        const answer = await rawRequest(bff.url, 'GET', `/api/echo/${path}${query ? `?${query}` : ''}`, [
          ['Cookie', cookie],
          ['X-CSRF', '1'],
        ])
        const reached = upstream.received.slice(before)
        expect([200, 400]).toContain(answer.status)
        if (answer.status === 400) {
          expect(reached).toEqual([])
        } else {
          expect(reached).toHaveLength(1)
          expect(staysBelow(new URL(reached[0].url, upstream.url).pathname, '/v1')).toBe(true)
        }
      }),
      cases(1_000),
    )
  })
})
