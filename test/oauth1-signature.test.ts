import { describe, expect, it } from 'vitest'
import { hmacSha1, oauth1AuthorizationHeader, oauth1SignatureBaseString, percentEncode } from '../server/clients/oauth1-signature.ts'

function headerParams(header: string): Record<string, string> {
  expect(header.startsWith('OAuth ')).toBe(true)
  return Object.fromEntries(header.slice(6).split(', ').map((part) => {
    const [, key, value] = /^([^=]+)="([^"]*)"$/.exec(part) ?? []
    return [decodeURIComponent(key), decodeURIComponent(value)]
  }))
}

const twitter = {
  consumer: { key: 'xvz1evFS4wEEPTGEFPHBog', secret: 'kAcSOqF21Fu85e7zjz7ZN2U4ZRhfV3WpwPAoE3Z7kBw' },
  token: { key: '370773112-GmHxMAgYyLbNEtIKZeRNFsMKPR9EyMZeS9weJAEb', secret: 'LswwdoUaIvS8ltyTt5jkRh4J50vUPVVHtR2YPi5kE' },
  nonce: 'kYjzVBB8Y0ZFabxSWbWovY3uYSQ2pTgmZeNu2VS4cg',
  timestamp: 1318622958,
  form: { status: 'Hello Ladies + Gentlemen, a signed OAuth request!' },
}

describe('oauth1AuthorizationHeader(request)', () => {
  it("matches Twitter's known-answer signature", () => {
    const header = oauth1AuthorizationHeader({ method: 'POST', url: 'https://api.twitter.com/1.1/statuses/update.json?include_entities=true', ...twitter })
    expect(headerParams(header).oauth_signature).toBe('hCtSmYh+iHYCEqBWrE7C7hYmtUk=')
    const older = oauth1AuthorizationHeader({ method: 'post', url: 'https://api.twitter.com/1/statuses/update.json?include_entities=true', ...twitter })
    expect(headerParams(older).oauth_signature).toBe('tnnArxj06cWHq44gCs1OSKk/jLY=')
  })

  it('puts every protocol parameter in the header, percent-encoded, and signs HMAC-SHA1', () => {
    const header = oauth1AuthorizationHeader({
      method: 'POST',
      url: 'https://example.com/request_token',
      consumer: { key: 'key', secret: 'secret' },
      oauthParams: { oauth_callback: 'https://app.example/auth/callback/x?a=b c' },
    })
    const params = headerParams(header)
    expect(params.oauth_signature_method).toBe('HMAC-SHA1')
    expect(params.oauth_callback).toBe('https://app.example/auth/callback/x?a=b c')
    expect(header).toContain('oauth_callback="https%3A%2F%2Fapp.example%2Fauth%2Fcallback%2Fx%3Fa%3Db%20c"')
    expect(params.oauth_nonce).toMatch(/^[A-Za-z0-9]{32}$/)
    expect(params.oauth_timestamp).toMatch(/^\d{10}$/)
    expect(params.oauth_version).toBe('1.0')
    expect(params.oauth_token).toBeUndefined()
  })

  it('signs encoded and repeated query parameters and form parameters as RFC 5849 normalises them', () => {
    const input = {
      method: 'POST',
      url: 'https://example.com/api?c%40=1&a3=a&a3=2+q&b5=%3D%253D',
      form: new URLSearchParams([['c2', ''], ['a3', '2 q']]),
      consumer: { key: 'ck', secret: 'cs' },
      token: { key: 'tk', secret: 'ts' },
      oauthParams: { oauth_verifier: 'v e' },
      nonce: 'abcdefgh12345678',
      timestamp: 1700000000,
    }
    const params = headerParams(oauth1AuthorizationHeader(input))
    const url = new URL(input.url)
    const signed: [string, string][] = [...url.searchParams, ...input.form, ...Object.entries(params).filter(([k]) => k !== 'oauth_signature')]
    const expected = hmacSha1(oauth1SignatureBaseString('POST', 'https://example.com/api', signed), 'cs&ts')
    expect(params.oauth_signature).toBe(expected)
    expect(params.oauth_verifier).toBe('v e')
  })

  it('gives a fresh nonce to every request', () => {
    const nonces = new Set(Array.from({ length: 20 }, () => headerParams(oauth1AuthorizationHeader({ method: 'GET', url: 'https://e.example/', consumer: { key: 'k', secret: 's' } })).oauth_nonce))
    expect(nonces.size).toBe(20)
  })
})

describe('RFC 5849 known answers', () => {
  const client = { key: 'dpf43f3p2l4k3l03', secret: 'kd94hf93k423kf44' }
  const sign = (method: string, url: string, params: Record<string, string>, tokenSecret = '') => {
    const all: [string, string][] = [...new URL(url).searchParams, ...Object.entries({ oauth_consumer_key: client.key, oauth_signature_method: 'HMAC-SHA1', ...params })]
    return hmacSha1(oauth1SignatureBaseString(method, url, all), `${percentEncode(client.secret)}&${percentEncode(tokenSecret)}`)
  }

  it('§1.2 temporary credentials', () => {
    expect(sign('POST', 'https://photos.example.net/initiate', { oauth_timestamp: '137131200', oauth_nonce: 'wIjqoS', oauth_callback: 'http://printer.example.com/ready' })).toBe('74KNZJeDHnMBp0EMJ9ZHt/XKycU=')
  })

  it('§1.2 token credentials', () => {
    expect(sign('POST', 'https://photos.example.net/token', { oauth_token: 'hh5s93j4hdidpola', oauth_timestamp: '137131201', oauth_nonce: 'walatlh', oauth_verifier: 'hfdp7dh39dks9884' }, 'hdhd0244k9j7ao03')).toBe('gKgrFCywp7rO0OXSjdot/IHF7IU=')
  })

  it('§1.2 protected resource with query parameters', () => {
    expect(sign('GET', 'http://photos.example.net/photos?file=vacation.jpg&size=original', { oauth_token: 'nnch734d00sl2jdk', oauth_timestamp: '137131202', oauth_nonce: 'chapoH' }, 'pfkkdhi9sl3r4s00')).toBe('MdpQcU8iPSUjWoN/UDMsK2sui9I=')
  })

  it('§3.4.1.1 base string with repeated and encoded parameter names', () => {
    const url = 'http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b'
    const params: [string, string][] = [
      ...new URL(url).searchParams,
      ['c2', ''],
      ['a3', '2 q'],
      ['oauth_consumer_key', '9djdj82h48djs9d2'],
      ['oauth_token', 'kkk9d7dh3k39sjv7'],
      ['oauth_signature_method', 'HMAC-SHA1'],
      ['oauth_timestamp', '137131201'],
      ['oauth_nonce', '7d8f3e4a'],
    ]
    expect(oauth1SignatureBaseString('POST', url, params)).toBe(
      'POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7',
    )
  })
})
