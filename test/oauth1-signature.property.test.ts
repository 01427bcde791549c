import fc from 'fast-check'
import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { oauth1AuthorizationHeader, oauth1SignatureBaseString } from '../server/clients/oauth1-signature.ts'
import { cases } from './support/property.ts'

// An implementation of RFC 5849 written from the text alone, byte by byte, sharing no code with the
// server's: what the server signs must be what this computes.

/** §3.6: each UTF-8 octet not in ALPHA / DIGIT / "-" / "." / "_" / "~" becomes `%XY`, X and Y upper-case hex. */
function encode(value: string): string {
  let encoded = ''
  for (const octet of new TextEncoder().encode(value)) {
    const unreserved = (octet >= 0x41 && octet <= 0x5a) || (octet >= 0x61 && octet <= 0x7a) || (octet >= 0x30 && octet <= 0x39) || octet === 0x2d || octet === 0x2e || octet === 0x5f || octet === 0x7e
    encoded += unreserved ? String.fromCharCode(octet) : `%${octet.toString(16).toUpperCase().padStart(2, '0')}`
  }
  return encoded
}

/** The inverse of percent-encoding: `%XY` octets, then UTF-8. */
function decode(value: string): string {
  const octets: number[] = []
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '%') {
      octets.push(parseInt(value.slice(i + 1, i + 3), 16))
      i += 2
    } else octets.push(value.charCodeAt(i))
  }
  // ignoreBOM: a value may start with U+FEFF, which a default TextDecoder would drop as a byte order mark.
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(new Uint8Array(octets))
}

/** §3.5.1: `OAuth name="value", …`, each name and value percent-encoded. */
function readHeader(header: string): Map<string, string> {
  expect(header.startsWith('OAuth ')).toBe(true)
  const params = new Map<string, string>()
  for (const part of header.slice('OAuth '.length).split(', ')) {
    const match = /^([A-Za-z0-9%._~-]+)="([A-Za-z0-9%._~-]*)"$/.exec(part)
    expect(match, part).not.toBeNull()
    const name = decode(match![1])
    expect(params.has(name), `${name} twice`).toBe(false)
    params.set(name, decode(match![2]))
  }
  return params
}

/** §3.4.1.3.2: encode, sort by name then value (byte order of the encoded form), join. */
function normalized(params: [string, string][]): string {
  return params
    .map(([name, value]) => [encode(name), encode(value)])
    .sort(([an, av], [bn, bv]) => (an === bn ? (av < bv ? -1 : av > bv ? 1 : 0) : an < bn ? -1 : 1))
    .map(([name, value]) => `${name}=${value}`)
    .join('&')
}

interface Request {
  method: string
  scheme: 'http' | 'https'
  host: string
  port: number | null
  segments: string[]
  query: [string, string][]
  /** Spaces in the query written as `+` (a form's way) instead of `%20`. */
  plusForSpace: boolean
  fragment: string | null
  form: [string, string][]
  consumer: { key: string; secret: string }
  token: { key: string; secret: string } | null
  oauthParams: { oauth_callback?: string; oauth_verifier?: string }
  fixed: { nonce: string; timestamp: number } | null
}

/** The request URL as a client writes it: host in any case, explicit default ports, a fragment. */
function urlOf(request: Request): string {
  const port = request.port === null ? '' : `:${request.port}`
  const path = `/${request.segments.map(encode).join('/')}`
  const query = request.query.map(([name, value]) => `${encode(name)}=${encode(value)}`.replace(/%20/g, request.plusForSpace ? '+' : '%20')).join('&')
  return `${request.scheme}://${request.host}${port}${path}${query ? `?${query}` : ''}${request.fragment === null ? '' : `#${request.fragment}`}`
}

/** §3.4.1.2: scheme and host in lower case, the default port left out, no query, no fragment. */
function baseStringUri(request: Request): string {
  const defaultPort = request.scheme === 'http' ? 80 : 443
  const port = request.port === null || request.port === defaultPort ? '' : `:${request.port}`
  return `${request.scheme}://${request.host.toLowerCase()}${port}/${request.segments.map(encode).join('/')}`
}

// Names and values of every kind: Unicode anywhere in its range, reserved and unreserved characters,
// empty strings, and a few names that repeat so that duplicates are common.
const text = fc.oneof(fc.string({ unit: 'binary', maxLength: 12 }), fc.constantFrom('', ' ', '+', '%', '%20', '&', '=', '?', '#', '/', 'a b', '~', '*', "!'()", 'é', '日本', '😀', 'oauth_token', 'A', 'a'))
const name = fc.oneof(text, fc.constantFrom('a', 'a', 'b', 'A', 'a1', 'status', 'oauth_extra'))
const parameters = fc.array(fc.tuple(name, text), { maxLength: 6 })
const mixedCase = (host: string) => fc.array(fc.boolean(), { minLength: host.length, maxLength: host.length }).map((upper) => [...host].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join(''))
const credentials = fc.record({ key: text.filter((key) => key !== ''), secret: text })

const request: fc.Arbitrary<Request> = fc.record({
  method: fc.constantFrom('GET', 'get', 'POST', 'Post', 'PUT', 'PATCH', 'DELETE', 'HEAD'),
  scheme: fc.constantFrom('http' as const, 'https' as const),
  host: fc.domain().chain(mixedCase),
  port: fc.option(fc.oneof(fc.constantFrom(80, 443, 8080), fc.integer({ min: 1, max: 65535 }))),
  // No `.` or `..` segments: the client resolves them before sending, as RFC 3986 says.
  segments: fc.array(text.filter((segment) => segment !== '.' && segment !== '..'), { maxLength: 4 }),
  query: parameters,
  plusForSpace: fc.boolean(),
  fragment: fc.option(fc.constantFrom('', 'top', 'a=b')),
  form: parameters,
  consumer: credentials,
  token: fc.option(credentials),
  oauthParams: fc.record({ oauth_callback: text, oauth_verifier: text }, { requiredKeys: [] }),
  fixed: fc.option(fc.record({ nonce: fc.stringMatching(/^[A-Za-z0-9]{1,40}$/), timestamp: fc.integer({ min: 0, max: 2 ** 32 }) })),
})

describe('oauth1AuthorizationHeader(input) against an independent RFC 5849 implementation', () => {
  it('carries every protocol parameter as given, and signs the base string RFC 5849 §3.4.1 defines, with the key §3.4.2 defines', () => {
    fc.assert(
      fc.property(request, (r) => {
        const url = urlOf(r)
        const header = oauth1AuthorizationHeader({
          method: r.method,
          url,
          form: new URLSearchParams(r.form),
          consumer: r.consumer,
          token: r.token,
          oauthParams: r.oauthParams,
          ...(r.fixed ?? {}),
        })
        const sent = readHeader(header)
        const expected = new Map<string, string>([
          ['oauth_consumer_key', r.consumer.key],
          ['oauth_signature_method', 'HMAC-SHA1'],
          ['oauth_version', '1.0'],
          ...(r.token ? [['oauth_token', r.token.key] as [string, string]] : []),
          ...Object.entries(r.oauthParams),
        ])
        for (const [param, value] of expected) expect(sent.get(param), param).toBe(value)
        if (r.fixed) {
          expect(sent.get('oauth_nonce')).toBe(r.fixed.nonce)
          expect(sent.get('oauth_timestamp')).toBe(String(r.fixed.timestamp))
        } else {
          expect(sent.get('oauth_nonce')).toMatch(/^[A-Za-z0-9]{32}$/)
          expect(sent.get('oauth_timestamp')).toMatch(/^\d+$/)
        }
        expect([...sent.keys()].sort()).toEqual([...expected.keys(), 'oauth_nonce', 'oauth_timestamp', 'oauth_signature'].sort())

        const protocol = [...sent].filter(([param]) => param !== 'oauth_signature')
        const baseString = [r.method.toUpperCase(), encode(baseStringUri(r)), encode(normalized([...r.query, ...r.form, ...protocol]))].join('&')
        expect(oauth1SignatureBaseString(r.method, url, [...r.form, ...protocol])).toBe(baseString)
        const key = `${encode(r.consumer.secret)}&${encode(r.token?.secret ?? '')}`
        expect(sent.get('oauth_signature')).toBe(createHmac('sha1', key).update(baseString).digest('base64'))
      }),
      cases(3_000),
    )
  })
})
