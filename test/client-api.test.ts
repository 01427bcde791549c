import { describe, expect, it } from 'vitest'
import { apiPath, createAllAccessClient } from '../client/api.ts'
import { AllAccessClientError, ProviderApiError } from '../client/errors.ts'

/** The framework-free client: what it sends for each call, recorded by a fetch that answers like the BFF. */
function recordingClient(answer: (url: string, init: RequestInit) => Response) {
  const calls: { url: string; init: RequestInit }[] = []
  const client = createAllAccessClient({
    baseUrl: 'https://app.example',
    fetch: async (input, init = {}) => {
      calls.push({ url: String(input), init })
      return answer(String(input), init)
    },
  })
  return { client, calls }
}

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })

describe('createAllAccessClient', () => {
  it('sends X-CSRF: 1 on every call', async () => {
    const { client, calls } = recordingClient(() => json(200, { authenticated: false }))
    await client.getSession()
    await client.api('github', 'user')
    for (const call of calls) expect(new Headers(call.init.headers).get('X-CSRF')).toBe('1')
  })

  it('builds proxy URLs from a relative path and query, and sends JSON or form bodies', async () => {
    const { client, calls } = recordingClient(() => json(200, {}))
    await client.api('github', '/repos/a b/ü', { query: { per_page: 5, q: 'x&y', skip: undefined } })
    expect(calls[0].url).toBe('https://app.example/api/github/repos/a%20b/%C3%BC?per_page=5&q=x%26y')
    await client.api('sandbox-oidc', 'notes', { method: 'POST', json: { text: 'hi' } })
    expect(new Headers(calls[1].init.headers).get('Content-Type')).toBe('application/json')
    expect(calls[1].init.body).toBe('{"text":"hi"}')
    await client.api('twitter', 'statuses/update.json', { method: 'POST', form: { status: 'a b&c' } })
    expect(new Headers(calls[2].init.headers).get('Content-Type')).toBe('application/x-www-form-urlencoded')
    expect(calls[2].init.body).toBe('status=a+b%26c')
  })

  it('does not encode an already encoded path twice', () => {
    expect(apiPath('search/hello%20world')).toBe('search/hello%20world')
    expect(apiPath('a/b:c@d')).toBe('a/b:c@d')
  })

  it('turns a contract error into AllAccessClientError with its code and status', async () => {
    const { client } = recordingClient(() => json(401, { error: 'reauth_required', message: 'Sign in with this provider again.' }))
    await expect(client.api('github', 'user')).rejects.toEqual(expect.objectContaining({ name: 'AllAccessClientError', code: 'reauth_required', status: 401 }))
  })

  it("passes the provider's own error answer on as ProviderApiError", async () => {
    const { client } = recordingClient(() => json(404, { message: 'Not Found' }))
    const error = await client.api('github', 'nope').catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ProviderApiError)
    expect(error).toEqual(expect.objectContaining({ status: 404, body: { message: 'Not Found' } }))
  })

  it('reads an unknown or missing code from the BFF as server_error', async () => {
    const { client } = recordingClient(() => new Response('<html>bad gateway</html>', { status: 502, headers: { 'Content-Type': 'text/html' } }))
    const error = await client.getSession().catch((e: unknown) => e)
    expect(error).toBeInstanceOf(AllAccessClientError)
    expect(error).toEqual(expect.objectContaining({ code: 'server_error', status: 502 }))
  })

  it('gives login URLs with next', () => {
    expect(createAllAccessClient().loginUrl('github', { next: '/after?x=1' })).toBe('/auth/login/github?next=%2Fafter%3Fx%3D1')
  })
})
