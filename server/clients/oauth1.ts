import { AllAccessError } from '../errors.ts'
import { constantTimeEqual } from '../crypto/random.ts'
import { BaseOAuthClient, type FlowSecrets, type RejectionEvidence } from './base.ts'
import { oauth1AuthorizationHeader } from './oauth1-signature.ts'
import { callProvider, parseAnswerBody } from './provider-http.ts'
import type { AuthorizedRequest, CallbackInput, ClientToken, ParsedToken } from './types.ts'

/** OAuth Problem Reporting's codes that mean the access token itself is dead. */
const DEAD_TOKEN_PROBLEMS = new Set(['token_expired', 'token_revoked', 'token_rejected'])
/** Twitter's "Invalid or expired token". */
const TWITTER_INVALID_TOKEN = 89

/** OAuth 1.0a (RFC 5849) with HMAC-SHA1, as Twitter/X still requires. */
export class OAuthClient extends BaseOAuthClient {
  /**
   * An OAuth 1.0a 401 may only mean a bad signature or a stale timestamp: the token is refused only
   * when the provider says so, with an `oauth_problem` naming the token (in `WWW-Authenticate` or
   * the body) or Twitter's error 89.
   */
  override async tokenRejected(answer: RejectionEvidence): Promise<boolean> {
    if (answer.status !== 401) return false
    const challenge = /oauth_problem="?([a-z_]+)/i.exec(answer.headers.get('www-authenticate') ?? '')?.[1]
    if (challenge && DEAD_TOKEN_PROBLEMS.has(challenge)) return true
    const body = parseAnswerBody(await answer.body(), answer.headers.get('content-type')) as { oauth_problem?: unknown; errors?: unknown } | string
    if (typeof body !== 'object' || body === null) return false
    if (typeof body.oauth_problem === 'string' && DEAD_TOKEN_PROBLEMS.has(body.oauth_problem)) return true
    return Array.isArray(body.errors) && body.errors.some((error: { code?: unknown }) => error?.code === TWITTER_INVALID_TOKEN)
  }

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
    // Trimmed as the access token answer is: a line break at the end would spoil oauth_callback_confirmed.
    const values = new URLSearchParams(answer.text.trim())
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
    // Twitter sends `denied`; providers that follow OAuth Problem Reporting send `oauth_problem` (`user_refused`).
    if (params.has('denied')) throw new AllAccessError('access_denied')
    const problem = params.get('oauth_problem')
    if (problem !== null) throw new AllAccessError('access_denied', { message: problem === 'user_refused' || !problem ? undefined : `The provider answered ${problem}.`.slice(0, 200) })
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
    // The consumer's key and secret just got the request token: a 400 or 401 now refuses the verifier
    // or that token, which the callback brought (made up, or after the token expired).
    const refusal = answer.status === 400 || answer.status === 401
    if (!token) throw new AllAccessError('token_request_failed', { detail: `access token answered ${answer.status}`, refusal })
    return token
  }

  parseRawToken(raw: string): ParsedToken | null {
    const values = Object.fromEntries(new URLSearchParams(raw.trim()))
    if (!values.oauth_token || !values.oauth_token_secret) return null
    return { accessToken: values.oauth_token, tokenSecret: values.oauth_token_secret, refreshToken: null, idToken: null, expiresAt: null, scope: null, raw: values }
  }

  /**
   * Where the provider revokes an access token, or null. OAuth 1.0a defines no revocation: only a
   * client that knows its provider's own call has one (and overrides {@link revokeToken} with it).
   */
  async revocationEndpoint(): Promise<string | null> {
    return null
  }

  /** Revokes an access token (key and secret). Resolves false when the provider has no way or refused. */
  async revokeToken(_token: ClientToken): Promise<boolean> {
    return false
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
