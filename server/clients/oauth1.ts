import { AllAccessError } from '../errors.ts'
import { constantTimeEqual } from '../crypto/random.ts'
import { BaseOAuthClient, type FlowSecrets } from './base.ts'
import { oauth1AuthorizationHeader } from './oauth1-signature.ts'
import { callProvider } from './provider-http.ts'
import type { AuthorizedRequest, CallbackInput, ClientToken, ParsedToken } from './types.ts'

/** OAuth 1.0a (RFC 5849) with HMAC-SHA1, as Twitter/X still requires. */
export class OAuthClient extends BaseOAuthClient {
  get sessionKey(): string {
    return `allaccess-${this.provider.name}-request-token`
  }

  /** How the request token is asked for: RFC 5849 §2.1 recommends POST; a few providers document only GET. */
  protected readonly requestTokenMethod: 'GET' | 'POST' = 'POST'

  private get consumer() {
    return { key: this.provider.clientId ?? '', secret: this.provider.clientSecret ?? '' }
  }

  async startFlow(callbackUrl: string): Promise<FlowSecrets> {
    const { token, secret } = await this.getRequestToken(callbackUrl)
    return { requestToken: token, requestTokenSecret: secret }
  }

  /** Fetches a request token for an absolute callback; the provider must confirm the callback (1.0a). */
  async getRequestToken(callbackUrl: string): Promise<{ token: string; secret: string }> {
    const url = new URL(this.provider.requestTokenUrl ?? '')
    const method = this.requestTokenMethod
    const authorization = oauth1AuthorizationHeader({ method, url: url.toString(), consumer: this.consumer, oauthParams: { oauth_callback: callbackUrl } })
    const answer = await callProvider(url, { method, headers: { Authorization: authorization } }, 'request_token_failed')
    const values = new URLSearchParams(answer.text)
    const token = values.get('oauth_token')
    const secret = values.get('oauth_token_secret')
    if (!answer.ok || !token || !secret || values.get('oauth_callback_confirmed') !== 'true') {
      throw new AllAccessError('request_token_failed', { detail: `request token answered ${answer.status}` })
    }
    return { token, secret }
  }

  /** The request token, and the scope for the OAuth 1.0a providers that take one at authorization (Trello). */
  async getRedirectArgs(flow: FlowSecrets): Promise<Record<string, string>> {
    const args: Record<string, string> = { oauth_token: flow.requestToken ?? '' }
    const scope = this.joinedScope()
    if (scope) args.scope = scope
    return args
  }

  async checkCallback({ params, flow }: CallbackInput): Promise<void> {
    if (params.has('denied')) throw new AllAccessError('access_denied')
    const token = params.get('oauth_token')
    if (!token || !flow.requestToken || !constantTimeEqual(token, flow.requestToken)) throw new AllAccessError('invalid_state')
    if (!params.get('oauth_verifier')) throw new AllAccessError('missing_code')
  }

  async getAccessToken({ params, flow }: CallbackInput): Promise<ParsedToken> {
    const url = new URL(this.provider.accessTokenUrl ?? '')
    const authorization = oauth1AuthorizationHeader({
      method: 'POST',
      url: url.toString(),
      consumer: this.consumer,
      token: { key: flow.requestToken ?? '', secret: flow.requestTokenSecret ?? '' },
      oauthParams: { oauth_verifier: params.get('oauth_verifier') ?? '' },
    })
    const answer = await callProvider(url, { method: 'POST', headers: { Authorization: authorization } }, 'token_request_failed')
    const token = answer.ok ? this.parseRawToken(answer.text) : null
    if (!token) throw new AllAccessError('token_request_failed', { detail: `access token answered ${answer.status}` })
    return token
  }

  parseRawToken(raw: string): ParsedToken | null {
    const values = Object.fromEntries(new URLSearchParams(raw.trim()))
    if (!values.oauth_token || !values.oauth_token_secret) return null
    return { accessToken: values.oauth_token, tokenSecret: values.oauth_token_secret, refreshToken: null, idToken: null, expiresAt: null, scope: null, raw: values }
  }

  authorizeRequest(request: { method: string; url: URL; form?: URLSearchParams }, token: ClientToken | null = this.token): AuthorizedRequest {
    const authorization = oauth1AuthorizationHeader({
      method: request.method,
      url: request.url.toString(),
      form: request.form,
      consumer: this.consumer,
      token: token?.accessToken ? { key: token.accessToken, secret: token.tokenSecret ?? '' } : null,
    })
    return { url: request.url, headers: { Authorization: authorization } }
  }
}
