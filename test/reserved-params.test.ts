import { describe, expect, it } from 'vitest'
import { OAuth2Client } from '../server/clients/oauth2.ts'
import { RESERVED_AUTHORIZATION_PARAMS } from '../server/clients/reserved-params.ts'
import { buildProviderConfig } from '../server/providers/provider-input.ts'

// One list decides both what `--auth-param` refuses and what the redirect keeps for itself.
const provider = (extraAuthorizationParams: Record<string, string> = {}) =>
  buildProviderConfig('idp', {
    authorizationUrl: 'https://idp.example/authorize',
    accessTokenUrl: 'https://idp.example/token',
    profileUrl: 'https://idp.example/me',
    clientId: 'client-1',
    clientSecret: 'secret-1',
    scope: 'read',
    extraAuthorizationParams,
  })

describe('the reserved authorization parameters', () => {
  it('are the ones that bind a login: the client, the redirect URI, state, PKCE, the nonce and the request token', () => {
    expect([...RESERVED_AUTHORIZATION_PARAMS].sort()).toEqual(
      ['client_id', 'code_challenge', 'code_challenge_method', 'nonce', 'oauth_token', 'redirect_uri', 'response_type', 'state'],
    )
  })

  it.each([...RESERVED_AUTHORIZATION_PARAMS])('cannot be given as --auth-param: %s', (name) => {
    expect(() => provider({ prompt: 'login', [name]: 'chosen' })).toThrow(`--auth-param: "${name}" is set by all-access itself`)
  })

  it('leave scope and any other default to --auth-param', () => {
    expect(provider({ scope: 'read write', prompt: 'consent' }).extraAuthorizationParams).toEqual({ scope: 'read write', prompt: 'consent' })
  })

  it('are never set on the redirect by a provider\'s extra parameters or the hook\'s, while scope is', async () => {
    const chosen = Object.fromEntries([...RESERVED_AUTHORIZATION_PARAMS].map((name) => [name, 'chosen']))
    // As stored before the CLI refused these names, or as a host app's hook returns them.
    const config = { ...provider(), extraAuthorizationParams: { ...chosen, scope: 'from-provider', prompt: 'consent' } }
    const client = new OAuth2Client(config)
    const flow = await client.startFlow()
    const url = new URL(await client.getRedirectUrl(flow, 'https://app.example/auth/callback/idp', { ...chosen, scope: 'from-hook' }))
    expect(Object.fromEntries(url.searchParams)).toEqual({
      client_id: 'client-1',
      redirect_uri: 'https://app.example/auth/callback/idp',
      response_type: 'code',
      state: flow.state,
      code_challenge: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      code_challenge_method: 'S256',
      scope: 'from-hook',
      prompt: 'consent',
    })
  })
})
