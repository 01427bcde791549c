import { describe, expect, it } from 'vitest'
import { withoutOpeningDigits, withoutSecrets } from '../server/proxy/headers.ts'
import { cpuMsSince } from './support/cpu-time.ts'

const TOKEN = 'gho_16C7e42F292c6912E7710c838347Ae178B4a'

describe('withoutSecrets(headers, secrets)', () => {
  it('drops a header that carries the token as sent, percent-encoded or encoded again, and keeps the others', () => {
    const encoded = encodeURIComponent(TOKEN).replace(/[a-z]/gi, (c) => `%${c.charCodeAt(0).toString(16)}`)
    const headers = {
      link: `<https://api.example.com/items?page=2&access_token=${TOKEN}>; rel="next"`,
      etag: `"${encoded}"`,
      'content-location': `/items?t=${encodeURIComponent(encoded)}`,
      'x-ratelimit-remaining': '41',
      'content-disposition': 'attachment; filename="100%25.txt"',
    }
    expect(withoutSecrets(headers, [TOKEN])).toEqual({ 'x-ratelimit-remaining': '41', 'content-disposition': 'attachment; filename="100%25.txt"' })
  })

  it("drops a header where an escape's opener stands just before the token and takes its opening hex digits, as sent or percent-encoded", () => {
    const token = '41ab/cdef+0123456789'
    for (const written of [token, encodeURIComponent(token)]) {
      for (const opener of ['%', '%25', '%4']) {
        const headers = { link: `<https://api.example.com/items?q=${opener}${written}>; rel="next"`, 'x-ratelimit-remaining': '41' }
        expect(withoutSecrets(headers, [token]), `${opener}${written}`).toEqual({ 'x-ratelimit-remaining': '41' })
      }
    }
  })

  it('keeps three quarters of a short secret when it looks past its opening digits, so a secret of a hex digit or two does not take every header with it', () => {
    expect(['b', '4a', '4ab', '4abc', '12abcdef', '41abcdef0123456789'].map(withoutOpeningDigits)).toEqual(['b', '4a', '4ab', 'abc', 'abcdef', 'cdef0123456789'])
    expect(withoutSecrets({ link: '<https://api.example.com/items?q=%4b>', 'x-ratelimit-remaining': '41', server: 'nginx' }, ['b'])).toEqual({ 'x-ratelimit-remaining': '41', server: 'nginx' })
  })

  it('reads a header of escapes nested thousands deep in time linear in its length, and drops it: the token could hide below the depth it decodes', () => {
    // `%2525…2541`: each round of decoding takes off one `25`. Decoded to the end, this took seconds.
    const deep = `%${'25'.repeat(32 * 1024)}41`
    const started = process.cpuUsage()
    expect(withoutSecrets({ link: deep, 'x-ratelimit-remaining': '41' }, [TOKEN])).toEqual({ 'x-ratelimit-remaining': '41' })
    expect(cpuMsSince(started)).toBeLessThan(200)
  })
})
