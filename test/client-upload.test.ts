import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAllAccessClient, type AllAccessClient } from '../client/index.ts'
import { BrowserSession } from './support/browser-session.ts'
import { startServe, type RunningServe } from './support/demo-server.ts'
import { sandboxLogin } from './support/sandbox-login.ts'

/**
 * Uploads through a real BFF (`all-access serve --sandbox`, its own process) to its providers: the
 * framework-free client with the cookies of a browser signed in with both sandbox providers.
 */
describe('uploading a file through the proxy', () => {
  let bff: RunningServe
  let client: AllAccessClient

  beforeAll(async () => {
    bff = await startServe({ sandbox: true })
    const browser = new BrowserSession()
    await sandboxLogin(browser, bff.url, 'sandbox-oidc')
    // Signed in, the second login links the OAuth 1.0a account to the same user.
    await sandboxLogin(browser, bff.url, 'sandbox-oauth1')
    client = createAllAccessClient({ baseUrl: bff.url, fetch: (input, init) => browser.fetch(String(input), init) })
  })

  afterAll(() => bff?.stop())

  it('sends FormData to an OAuth 1.0a API as multipart, signed without its parts, which the strict provider accepts', async () => {
    const upload = new FormData()
    upload.append('media', new File(['bytes of a photo'], 'photo.jpg', { type: 'image/jpeg' }))
    upload.append('status', 'a b&c')
    // The provider's echo of what it verified: the query it signed, and no form parameter.
    await expect(client.api('sandbox-oauth1', 'echo.json', { method: 'POST', query: { x: '1' }, body: upload })).resolves.toMatchObject({
      method: 'POST',
      query: { x: '1' },
      form: {},
    })
  })

  it('sends a file to an OAuth 2.0 API with its own type, and FormData as multipart', async () => {
    type Echo = { method: string; headers: Record<string, string> }
    const answer = await client.api<Echo>('sandbox-oidc', 'echo', { method: 'PUT', body: new Blob(['a photo'], { type: 'image/png' }) })
    expect([answer.method, answer.headers['content-type'], answer.headers['content-length']]).toEqual(['PUT', 'image/png', '7'])
    const upload = new FormData()
    upload.append('media', new File(['bytes of a photo'], 'photo.jpg', { type: 'image/jpeg' }))
    const multipart = await client.api<Echo>('sandbox-oidc', 'echo', { method: 'POST', body: upload })
    expect(multipart.headers['content-type']).toMatch(/^multipart\/form-data; boundary=/)
    expect(Number(multipart.headers['content-length'])).toBeGreaterThan('bytes of a photo'.length)
  })
})
