import { createHmac } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { oauth1AuthorizationHeader, oauth1SignatureBaseString, percentEncode, type OAuth1SignInput } from '../server/clients/oauth1-signature.ts'

/** The header's parameters as a server reads them: `name="percent-encoded value"`, comma separated. */
function headerParams(header: string): Record<string, string> {
  expect(header).toMatch(/^OAuth [a-z_]+="[A-Za-z0-9%._~-]*"(, [a-z_]+="[A-Za-z0-9%._~-]*")*$/)
  return Object.fromEntries(
    header
      .slice('OAuth '.length)
      .split(', ')
      .map((part) => {
        const [, name, value] = /^([^=]+)="([^"]*)"$/.exec(part) ?? []
        return [decodeURIComponent(name), decodeURIComponent(value)]
      }),
  )
}

const signatureOf = (input: OAuth1SignInput) => headerParams(oauth1AuthorizationHeader(input)).oauth_signature

describe('oauth1AuthorizationHeader(input) known answers', () => {
  // https://developer.x.com/en/docs/authentication/oauth-1-0a/creating-a-signature
  const twitter = {
    method: 'POST',
    form: { status: 'Hello Ladies + Gentlemen, a signed OAuth request!' },
    consumer: { key: 'xvz1evFS4wEEPTGEFPHBog', secret: 'kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw' },
    token: { key: '370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb', secret: 'LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE' },
    nonce: 'kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg',
    timestamp: 1318622958,
  }

  it("matches Twitter's example on the 1.1 URL", () => {
    expect(signatureOf({ ...twitter, url: 'https://api.twitter.com/1.1/statuses/update.json?include_entities=true' })).toBe('hCtSmYh+iHYCEqBWrE7C7hYmtUk=')
  })

  it("matches Twitter's example on the older /1/ URL, with a lower-case method", () => {
    expect(signatureOf({ ...twitter, method: 'post', url: 'https://api.twitter.com/1/statuses/update.json?include_entities=true' })).toBe('tnnArxj06cWHq44gCs1OSKk/jLY=')
  })

  // RFC 5849 §1.2, whose requests carry no oauth_version.
  const client = { key: 'dpf43f3p2l4k3l03', secret: 'kd94hf93k423kf44' }

  it('matches RFC 5849 §1.2 temporary credentials request', () => {
    const header = oauth1AuthorizationHeader({
      method: 'POST',
      url: 'https://photos.example.net/initiate',
      consumer: client,
      oauthParams: { oauth_callback: 'http://printer.example.com/ready' },
      timestamp: 137131200,
      nonce: 'wIjqoS',
      version: null,
    })
    expect(headerParams(header).oauth_signature).toBe('74KNZJeDHnMBp0EMJ9ZHt/XKycU=')
    expect(header).not.toContain('oauth_version')
  })

  it('matches RFC 5849 §1.2 token credentials request', () => {
    expect(
      signatureOf({
        method: 'POST',
        url: 'https://photos.example.net/token',
        consumer: client,
        token: { key: 'hh5s93j4hdidpola', secret: 'hdhd0244k9j7ao03' },
        oauthParams: { oauth_verifier: 'hfdp7dh39dks9884' },
        timestamp: 137131201,
        nonce: 'walatlh',
        version: null,
      }),
    ).toBe('gKgrFCywp7rO0OXSjdot/IHF7IU=')
  })

  it('matches RFC 5849 §1.2 protected resource request with query parameters', () => {
    expect(
      signatureOf({
        method: 'GET',
        url: 'http://photos.example.net/photos?file=vacation.jpg&size=original',
        consumer: client,
        token: { key: 'nnch734d00sl2jdk', secret: 'pfkkdhi9sl3r4s00' },
        timestamp: 137131202,
        nonce: 'chapoH',
        version: null,
      }),
    ).toBe('MdpQcU8iPSUjWoN/UDMsK2sui9I=')
  })
})

describe('oauth1SignatureBaseString(method, url, params)', () => {
  // RFC 5849 §3.4.1.1: repeated (`a3`) and percent-encoded (`c%40`) names, query and form body together.
  const url = 'http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b'
  const form = new URLSearchParams('c2&a3=2+q')
  const protocol = {
    oauth_consumer_key: '9djdj82h48djs9d2',
    oauth_token: 'kkk9d7dh3k39sjv7',
    oauth_signature_method: 'HMAC-SHA1',
    oauth_timestamp: '137131201',
    oauth_nonce: '7d8f3e4a',
  }
  const rfcBaseString =
    'POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7'

  it('gives the exact RFC 5849 §3.4.1.1 base string', () => {
    expect(oauth1SignatureBaseString('POST', url, [...form, ...Object.entries(protocol)])).toBe(rfcBaseString)
  })

  it('is what oauth1AuthorizationHeader signs for that request', () => {
    const header = oauth1AuthorizationHeader({
      method: 'POST',
      url,
      form,
      consumer: { key: protocol.oauth_consumer_key, secret: 'consumer secret' },
      token: { key: protocol.oauth_token, secret: 'token&secret' },
      nonce: protocol.oauth_nonce,
      timestamp: Number(protocol.oauth_timestamp),
      version: null,
    })
    const expected = createHmac('sha1', 'consumer%20secret&token%26secret').update(rfcBaseString).digest('base64')
    expect(headerParams(header).oauth_signature).toBe(expected)
  })

  it('keeps a form parameter that shares its name with a query parameter', () => {
    const base = oauth1SignatureBaseString('POST', 'https://e.example/x?a=1', [['a', '2']])
    expect(base).toBe('POST&https%3A%2F%2Fe.example%2Fx&a%3D1%26a%3D2')
  })

  it('normalises scheme and host case, drops the default port and the fragment, keeps other ports', () => {
    expect(oauth1SignatureBaseString('get', 'HTTPS://API.Example.COM:443/Path?q=1#frag', [])).toBe('GET&https%3A%2F%2Fapi.example.com%2FPath&q%3D1')
    expect(oauth1SignatureBaseString('GET', 'http://example.com:8080', [])).toBe('GET&http%3A%2F%2Fexample.com%3A8080%2F&')
  })

  it('sorts by encoded name, then by value', () => {
    const base = oauth1SignatureBaseString('GET', 'http://e.example/', [['a1', 'x'], ['a', 'z'], ['a', 'y'], ['A', '1']])
    expect(decodeURIComponent(base.split('&')[2])).toBe('A=1&a=y&a=z&a1=x')
  })

  it('refuses a URL that is not http(s)', () => {
    expect(() => oauth1SignatureBaseString('GET', 'ftp://e.example/', [])).toThrow(TypeError)
  })
})

describe('percentEncode(value)', () => {
  it('encodes everything but the RFC 3986 unreserved characters, in upper-case hex', () => {
    expect(percentEncode("Az09-._~ !'()*+/=&%é")).toBe('Az09-._~%20%21%27%28%29%2A%2B%2F%3D%26%25%C3%A9')
  })
})

describe('oauth1AuthorizationHeader(input) format', () => {
  const consumer = { key: 'key with space', secret: 'secret' }

  it('puts every protocol parameter in the header, percent-encoded, with HMAC-SHA1 and oauth_version 1.0', () => {
    const header = oauth1AuthorizationHeader({ method: 'POST', url: 'https://example.com/request_token', consumer, oauthParams: { oauth_callback: 'https://app.example/auth/callback/x?a=b c' } })
    expect(header).toContain('oauth_callback="https%3A%2F%2Fapp.example%2Fauth%2Fcallback%2Fx%3Fa%3Db%20c"')
    expect(header).toContain('oauth_consumer_key="key%20with%20space"')
    const params = headerParams(header)
    expect(Object.keys(params).sort()).toEqual(['oauth_callback', 'oauth_consumer_key', 'oauth_nonce', 'oauth_signature', 'oauth_signature_method', 'oauth_timestamp', 'oauth_version'])
    expect(params.oauth_signature_method).toBe('HMAC-SHA1')
    expect(params.oauth_version).toBe('1.0')
    expect(params.oauth_nonce).toMatch(/^[A-Za-z0-9]{32}$/)
    expect(params.oauth_timestamp).toMatch(/^\d{10}$/)
    expect(Math.abs(Number(params.oauth_timestamp) - Date.now() / 1000)).toBeLessThan(5)
  })

  it('signs oauth_callback and oauth_verifier as well as carrying them', () => {
    const input = { method: 'POST', url: 'https://example.com/token', consumer, token: { key: 'rt', secret: 'rts' }, nonce: 'abcdefgh12345678', timestamp: 1700000000 }
    const withVerifier = headerParams(oauth1AuthorizationHeader({ ...input, oauthParams: { oauth_verifier: 'v e' } }))
    expect(withVerifier.oauth_verifier).toBe('v e')
    expect(withVerifier.oauth_token).toBe('rt')
    const otherVerifier = signatureOf({ ...input, oauthParams: { oauth_verifier: 'v f' } })
    expect(otherVerifier).not.toBe(withVerifier.oauth_signature)
    const expected = createHmac('sha1', 'secret&rts')
      .update(oauth1SignatureBaseString('POST', input.url, Object.entries(withVerifier).filter(([name]) => name !== 'oauth_signature')))
      .digest('base64')
    expect(withVerifier.oauth_signature).toBe(expected)
  })

  it('signs a form given as a record with repeated values like the same URLSearchParams', () => {
    const input = { method: 'POST', url: 'https://example.com/x?z=1', consumer, nonce: 'abcdefgh12345678', timestamp: 1700000000 }
    expect(signatureOf({ ...input, form: { a: ['2', '1'], b: '' } })).toBe(signatureOf({ ...input, form: new URLSearchParams([['a', '2'], ['a', '1'], ['b', '']]) }))
    expect(signatureOf({ ...input, form: { a: ['2', '1'] } })).not.toBe(signatureOf({ ...input, form: { a: '2' } }))
  })

  it('leaves oauth_token out without a token', () => {
    expect(headerParams(oauth1AuthorizationHeader({ method: 'GET', url: 'https://e.example/', consumer, token: null })).oauth_token).toBeUndefined()
  })

  it('gives every request a fresh nonce', () => {
    const nonces = new Set(Array.from({ length: 50 }, () => headerParams(oauth1AuthorizationHeader({ method: 'GET', url: 'https://e.example/', consumer })).oauth_nonce))
    expect(nonces.size).toBe(50)
  })

  it('refuses a timestamp that is not whole seconds', () => {
    expect(() => oauth1AuthorizationHeader({ method: 'GET', url: 'https://e.example/', consumer, timestamp: 1700000000.5 })).toThrow(TypeError)
  })
})
