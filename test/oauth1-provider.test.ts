import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { oauth1AuthorizationHeader } from '../server/clients/oauth1-signature.ts'
import { startOAuth1Provider, type RunningOAuth1Provider } from '../server/sandbox/oauth1-provider.ts'

const consumer = { key: 'ck', secret: 'cs-0123456789' }
const callback = 'http://127.0.0.1:9/callback'

/** The strict test provider must refuse what a careless signer would get wrong. */
describe('the strict OAuth 1.0a test provider', () => {
  let provider: RunningOAuth1Provider
  let access: { key: string; secret: string }

  async function post(url: string, init: { token?: { key: string; secret: string } | null; oauthParams?: Record<string, string>; form?: URLSearchParams; header?: string } = {}) {
    const authorization = init.header ?? oauth1AuthorizationHeader({ method: 'POST', url, consumer, token: init.token, oauthParams: init.oauthParams, form: init.form })
    return fetch(url, {
      method: 'POST',
      headers: { Authorization: authorization, ...(init.form ? { 'Content-Type': 'application/x-www-form-urlencoded' } : {}) },
      body: init.form?.toString(),
      redirect: 'manual',
    })
  }

  async function requestToken() {
    const response = await post(provider.requestTokenUrl, { oauthParams: { oauth_callback: callback } })
    expect(response.status).toBe(200)
    const values = new URLSearchParams(await response.text())
    expect(values.get('oauth_callback_confirmed')).toBe('true')
    return { key: values.get('oauth_token')!, secret: values.get('oauth_token_secret')! }
  }

  async function authorize(token: string, manual = false): Promise<string> {
    if (!manual) {
      const response = await fetch(`${provider.authorizationUrl}?oauth_token=${token}`, { redirect: 'manual' })
      return new URL(response.headers.get('location')!).searchParams.get('oauth_verifier')!
    }
    const pageHtml = await (await fetch(`${provider.authorizationUrl}?oauth_token=${token}`)).text()
    expect(pageHtml).toContain('<button type="submit" name="decision" value="allow">Allow</button>')
    const response = await fetch(provider.authorizationUrl, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ oauth_token: token, user: '1002', decision: 'allow' }).toString(),
      redirect: 'manual',
    })
    expect(response.status).toBe(302)
    return new URL(response.headers.get('location')!).searchParams.get('oauth_verifier')!
  }

  beforeAll(async () => {
    provider = await startOAuth1Provider({ consumers: [consumer], autoApprove: 'alice' })
    const request = await requestToken()
    const verifier = await authorize(request.key)
    const response = await post(provider.accessTokenUrl, { token: request, oauthParams: { oauth_verifier: verifier } })
    expect(response.status).toBe(200)
    const values = new URLSearchParams(await response.text())
    access = { key: values.get('oauth_token')!, secret: values.get('oauth_token_secret')! }
    expect(values.get('screen_name')).toBe('alice')
  })

  afterAll(() => provider?.close())

  it('runs the three-legged flow through the HTML page too', async () => {
    const manual = await startOAuth1Provider({ consumers: [consumer] })
    try {
      const original = provider
      provider = manual
      const request = await requestToken()
      const verifier = await authorize(request.key, true)
      const response = await post(manual.accessTokenUrl, { token: request, oauthParams: { oauth_verifier: verifier } })
      expect(new URLSearchParams(await response.text()).get('screen_name')).toBe('bob')
      provider = original
    } finally {
      await manual.close()
    }
  })

  it('answers the profile signed with the access token', async () => {
    const response = await fetch(provider.profileUrl, { headers: { Authorization: oauth1AuthorizationHeader({ method: 'GET', url: provider.profileUrl, consumer, token: access }) } })
    expect(response.status).toBe(200)
    expect(await response.json()).toEqual({ id: 1001, id_str: '1001', screen_name: 'alice', name: 'Alice Liddell' })
  })

  it('refuses a wrong consumer secret', async () => {
    const header = oauth1AuthorizationHeader({ method: 'POST', url: provider.requestTokenUrl, consumer: { key: 'ck', secret: 'wrong' }, oauthParams: { oauth_callback: callback } })
    expect((await post(provider.requestTokenUrl, { header })).status).toBe(401)
    expect(provider.requests.at(-1)?.reason).toBe('signature does not match')
  })

  it('refuses a request token without an absolute callback', async () => {
    expect((await post(provider.requestTokenUrl, { oauthParams: { oauth_callback: 'oob' } })).status).toBe(401)
  })

  it('refuses a form body that was not signed as sent', async () => {
    const url = `${provider.apiBaseUrl}/statuses/update.json`
    const header = oauth1AuthorizationHeader({ method: 'POST', url, consumer, token: access, form: new URLSearchParams({ status: 'signed' }) })
    const response = await fetch(url, { method: 'POST', headers: { Authorization: header, 'Content-Type': 'application/x-www-form-urlencoded' }, body: 'status=tampered' })
    expect(response.status).toBe(401)
    expect(provider.statuses).toEqual([])
  })

  it('refuses a query that was not signed as sent', async () => {
    const url = `${provider.apiBaseUrl}/statuses/home_timeline.json?count=1`
    const header = oauth1AuthorizationHeader({ method: 'GET', url, consumer, token: access })
    expect((await fetch(url.replace('count=1', 'count=2'), { headers: { Authorization: header } })).status).toBe(401)
    expect((await fetch(url, { headers: { Authorization: header } })).status).toBe(200)
  })

  it('refuses a reused nonce', async () => {
    const header = oauth1AuthorizationHeader({ method: 'GET', url: provider.profileUrl, consumer, token: access })
    expect((await fetch(provider.profileUrl, { headers: { Authorization: header } })).status).toBe(200)
    expect((await fetch(provider.profileUrl, { headers: { Authorization: header } })).status).toBe(401)
    expect(provider.requests.at(-1)?.reason).toBe('nonce already used')
  })

  it('refuses a stale timestamp', async () => {
    const header = oauth1AuthorizationHeader({ method: 'GET', url: provider.profileUrl, consumer, token: access, timestamp: Math.floor(Date.now() / 1000) - 3600 })
    expect((await fetch(provider.profileUrl, { headers: { Authorization: header } })).status).toBe(401)
    expect(provider.requests.at(-1)?.reason).toBe('stale or malformed timestamp')
  })

  it('refuses PLAINTEXT signatures', async () => {
    const header = oauth1AuthorizationHeader({ method: 'GET', url: provider.profileUrl, consumer, token: access }).replace('HMAC-SHA1', 'PLAINTEXT')
    expect((await fetch(provider.profileUrl, { headers: { Authorization: header } })).status).toBe(401)
    expect(provider.requests.at(-1)?.reason).toBe('only HMAC-SHA1 is accepted')
  })

  it('refuses a reused request token and a wrong verifier', async () => {
    const request = await requestToken()
    const verifier = await authorize(request.key)
    expect((await post(provider.accessTokenUrl, { token: request, oauthParams: { oauth_verifier: 'wrong' + verifier.slice(5) } })).status).toBe(401)
    // The failed attempt spent the request token.
    expect((await post(provider.accessTokenUrl, { token: request, oauthParams: { oauth_verifier: verifier } })).status).toBe(401)
  })

  it('refuses a request token on the API and a revoked access token', async () => {
    const request = await requestToken()
    expect((await fetch(provider.profileUrl, { headers: { Authorization: oauth1AuthorizationHeader({ method: 'GET', url: provider.profileUrl, consumer, token: request }) } })).status).toBe(401)
    provider.revokeUserTokens('1001')
    expect((await fetch(provider.profileUrl, { headers: { Authorization: oauth1AuthorizationHeader({ method: 'GET', url: provider.profileUrl, consumer, token: access }) } })).status).toBe(401)
  })
})
