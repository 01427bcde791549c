import { createHash } from 'node:crypto'
import { AllAccessError } from '../errors.ts'
import { constantTimeEqual, randomToken } from '../crypto/random.ts'
import { BaseOAuthClient, type FlowSecrets } from './base.ts'
import { answerFieldText, callProvider, parseAnswerBody } from './provider-http.ts'
import type { AuthorizedRequest, CallbackInput, ClientToken, ParsedToken } from './types.ts'

/** PKCE S256 challenge of a verifier (RFC 7636 §4.2). */
export function codeChallenge(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url')
}

/**
 * The refusals of a `prompt=none` request (OpenID Connect Core §3.1.2.6): the provider would have to
 * show the user a page, to sign in, consent or pick an account. The remedy is the same for all, a
 * login the user sees, so all are `login_required`.
 */
const NEEDS_THE_USER = new Set(['login_required', 'interaction_required', 'consent_required', 'account_selection_required'])

/**
 * A token endpoint's answer that the grant it was sent is no good (RFC 6749 §5.2 `invalid_grant`:
 * made up, expired, used already, or revoked; GitHub says `bad_verification_code` of a code): the
 * doing of whoever brought the code, or of a user who revoked the app, not something an operator
 * must mend (a wrong client secret is `invalid_client`).
 */
const GRANT_REFUSED = new Set(['invalid_grant', 'bad_verification_code'])

/** What a refresh may be given besides the refresh token. */
export interface RefreshOptions {
  timeoutMs?: number
  /** The ID token the account holds (OpenID Connect): a refreshed ID token must name the same subject. */
  idToken?: string | null
  /** The callback URL of the provider's logins, for a provider that wants `redirect_uri` in a refresh too (Yahoo). */
  callbackUrl?: string
}

/** OAuth 2.0 authorization code grant with state and PKCE (RFC 6749, RFC 7636, RFC 9700). */
export class OAuth2Client extends BaseOAuthClient {
  get sessionKey(): string {
    return `allaccess-${this.provider.name}-request-state`
  }

  /**
   * A fresh state: 256 random bits (the seed used 32 characters; more costs nothing). An override
   * must stay unguessable. Unlike django-all-access, null is no way to go without one:
   * {@link checkApplicationState} requires the state back, so every callback would fail
   * `invalid_state`; override both to change that.
   */
  getApplicationState(): string | null {
    return randomToken()
  }

  async startFlow(): Promise<FlowSecrets> {
    const flow: FlowSecrets = {}
    const state = this.getApplicationState()
    if (state) flow.state = state
    if (this.provider.pkce) flow.codeVerifier = randomToken(48)
    return flow
  }

  async getRedirectArgs(flow: FlowSecrets, callbackUrl: string): Promise<Record<string, string>> {
    const args: Record<string, string> = {
      client_id: this.provider.clientId ?? '',
      redirect_uri: callbackUrl,
      response_type: 'code',
    }
    if (flow.state) args.state = flow.state
    const scope = this.joinedScope()
    if (scope) args.scope = scope
    if (flow.codeVerifier) {
      args.code_challenge = codeChallenge(flow.codeVerifier)
      args.code_challenge_method = 'S256'
    }
    return args
  }

  /** Fails when either side's state is missing or they differ; compared in constant time. */
  checkApplicationState(params: URLSearchParams, flow: FlowSecrets): void {
    const returned = params.get('state')
    if (!returned || !flow.state || !constantTimeEqual(returned, flow.state)) throw new AllAccessError('invalid_state')
  }

  /** RFC 9207: an `iss` in the authorization response must name the provider's issuer, when it is known. */
  protected async checkIssuer(iss: string | null): Promise<void> {
    if (iss !== null && this.provider.issuer !== null && iss !== this.provider.issuer) {
      // The callback's query brought it, which its client may have written: a refusal of the request.
      throw new AllAccessError('issuer_mismatch', { detail: 'authorization response iss differs', refusal: true })
    }
  }

  async checkCallback({ params, flow }: CallbackInput): Promise<void> {
    this.checkApplicationState(params, flow)
    await this.checkIssuer(params.get('iss'))
    // Present at all, even empty (repeated: check-callback.ts), the provider refused.
    const error = params.get('error')
    if (error !== null && NEEDS_THE_USER.has(error)) throw new AllAccessError('login_required')
    if (error !== null) throw new AllAccessError('access_denied', { message: error === 'access_denied' || !error ? undefined : `The provider answered ${error}.`.slice(0, 200) })
    if (!params.get('code')) throw new AllAccessError('missing_code')
  }

  protected async tokenEndpoint(): Promise<string> {
    if (!this.provider.accessTokenUrl) throw new AllAccessError('token_request_failed', { detail: `${this.provider.name} has no token URL` })
    return this.provider.accessTokenUrl
  }

  /** Adds the client's credentials the way the provider wants them (RFC 6749 §2.3.1). */
  protected async authenticateClient(body: URLSearchParams, headers: Record<string, string>): Promise<void> {
    const clientId = this.provider.clientId ?? ''
    const clientSecret = this.provider.clientSecret ?? ''
    if (this.provider.tokenAuthMethod === 'client_secret_post') {
      body.set('client_id', clientId)
      body.set('client_secret', clientSecret)
      return
    }
    // Each part is form-encoded before joining, which strict servers such as oidc-provider check.
    const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+')
    headers.Authorization = `Basic ${Buffer.from(`${encode(clientId)}:${encode(clientSecret)}`).toString('base64')}`
  }

  /** The body of a token request: a form (RFC 6749 §4.1.3); a provider that wants JSON overrides this and sets the type. */
  protected encodeTokenRequest(body: URLSearchParams, headers: Record<string, string>): string {
    headers['Content-Type'] = 'application/x-www-form-urlencoded'
    return body.toString()
  }

  /** POSTs a grant to the token endpoint (or `endpoint`) with the provider's client authentication. */
  protected async tokenRequest(
    grant: Record<string, string>,
    failure: 'token_request_failed' | 'reauth_required',
    timeoutMs?: number,
    endpoint?: string,
  ): Promise<ParsedToken> {
    const body = new URLSearchParams(grant)
    const headers: Record<string, string> = { Accept: 'application/json' }
    await this.authenticateClient(body, headers)
    const encoded = this.encodeTokenRequest(body, headers)
    const answer = await callProvider(endpoint ?? (await this.tokenEndpoint()), { method: 'POST', headers, body: encoded, timeoutMs }, 'token_request_failed')
    const token = answer.ok ? this.parseRawToken(answer.text, answer.headers.get('content-type')) : null
    if (!token) {
      const reason = (parseAnswerBody(answer.text, answer.headers.get('content-type')) as { error?: unknown })?.error
      // A provider in trouble (5xx) or shedding load (429, 408) has not refused the refresh token:
      // the user need not sign in again.
      const transient = answer.status >= 500 || answer.status === 429 || answer.status === 408
      const code = failure === 'reauth_required' && transient ? 'upstream_unreachable' : failure
      const refusal = !transient && typeof reason === 'string' && GRANT_REFUSED.has(reason)
      const said = typeof reason === 'string' ? ' ' + answerFieldText(reason, 50, [grant.code, grant.code_verifier, grant.refresh_token, this.provider.clientSecret]) : ''
      throw new AllAccessError(code, { detail: `token endpoint answered ${answer.status}${said}`, refusal })
    }
    return token
  }

  async getAccessToken({ params, flow, callbackUrl }: CallbackInput): Promise<ParsedToken> {
    const grant: Record<string, string> = { grant_type: 'authorization_code', code: params.get('code') ?? '', redirect_uri: callbackUrl }
    if (flow.codeVerifier) grant.code_verifier = flow.codeVerifier
    return this.tokenRequest(grant, 'token_request_failed')
  }

  /** Whether an account's token can be refreshed: there is a refresh token, and the provider refreshes at all. */
  canRefresh(refreshToken: string | null): boolean {
    return Boolean(refreshToken) && this.provider.refresh !== 'none'
  }

  /**
   * Trades a refresh token for new tokens (RFC 6749 §6); a refusal means the user must sign in again.
   * `idToken` is the ID token the account holds: OpenID Connect checks a refreshed one against it.
   */
  async refreshAccessToken(refreshToken: string, options: RefreshOptions = {}): Promise<ParsedToken> {
    return this.tokenRequest(this.refreshGrant(refreshToken, options), 'reauth_required', options.timeoutMs)
  }

  /** The parameters of a refresh (RFC 6749 §6); a provider that wants others overrides this. */
  protected refreshGrant(refreshToken: string, _options: RefreshOptions): Record<string, string> {
    return { grant_type: 'refresh_token', refresh_token: refreshToken }
  }

  /** The RFC 7009 revocation endpoint, when the provider has one. */
  async revocationEndpoint(): Promise<string | null> {
    return this.provider.revocationUrl
  }

  /** Revokes a token. Resolves false when the provider has no endpoint or refused. */
  async revokeToken(token: string, hint: 'access_token' | 'refresh_token'): Promise<boolean> {
    const endpoint = await this.revocationEndpoint()
    return endpoint ? this.revokeAt(endpoint, token, hint) : false
  }

  /** Revokes a token at the provider's revocation endpoint, as RFC 7009 says; a provider with its own way overrides this. */
  protected async revokeAt(endpoint: string, token: string, hint: 'access_token' | 'refresh_token'): Promise<boolean> {
    const body = new URLSearchParams({ token, token_type_hint: hint })
    const headers: Record<string, string> = {}
    await this.authenticateClient(body, headers)
    const answer = await callProvider(endpoint, { method: 'POST', headers, body: this.encodeTokenRequest(body, headers) }, 'upstream_unreachable')
    return answer.ok
  }

  /**
   * Reads a token response given as JSON or as a query string (GitHub without Accept). Error bodies,
   * even those sent with status 200, and bodies without an access token give null.
   */
  parseRawToken(raw: string, contentType: string | null = null): ParsedToken | null {
    return this.readToken(parseAnswerBody(raw, contentType))
  }

  /** A token answer already parsed, or the part of one that holds the token (Slack's `authed_user`): null when it holds none. */
  protected readToken(body: unknown): ParsedToken | null {
    if (!body || typeof body !== 'object' || Array.isArray(body)) return null
    const values = body as Record<string, unknown>
    if (values.error || typeof values.access_token !== 'string' || !values.access_token) return null
    // Number() of an object runs its toString: `{"toString":null}` would throw.
    const expiresIn = typeof values.expires_in === 'number' || typeof values.expires_in === 'string' ? Number(values.expires_in) : Number.NaN
    // Whole milliseconds a bigint column holds: a fraction or a lifetime past 2^53 ms would fail the login's write.
    const expiresAt = Number.isFinite(expiresIn) && expiresIn > 0 ? Date.now() + Math.round(expiresIn * 1000) : null
    const text = (key: string) => (typeof values[key] === 'string' && values[key] ? (values[key] as string) : null)
    return {
      accessToken: values.access_token,
      tokenSecret: null,
      refreshToken: text('refresh_token'),
      idToken: text('id_token'),
      expiresAt: expiresAt !== null && Number.isSafeInteger(expiresAt) ? expiresAt : null,
      // RFC 6749 §3.3: scope tokens are printable ASCII; a scope with control characters is not one (and PostgreSQL refuses U+0000).
      scope: /[\u0000-\u001f\u007f]/.test(text('scope') ?? '') ? null : text('scope'),
      raw: values,
    }
  }

  authorizeRequest(request: { method: string; url: URL }, token: ClientToken | null = this.token): AuthorizedRequest {
    const url = new URL(request.url)
    if (!token?.accessToken) return { url, headers: {} }
    if (this.provider.tokenPlacement === 'query') {
      url.search = withAccessToken(url.search, token.accessToken)
      return { url, headers: {} }
    }
    return { url, headers: { Authorization: `Bearer ${token.accessToken}` } }
  }
}

/**
 * A query with the token as its `access_token`, after the rest as written: searchParams would
 * rewrite all of it (`pretty` as `pretty=`, `%20` as `+`, `,` as `%2C`). An `access_token` already
 * there, however its name is escaped, goes: the provider must read the account's token only.
 */
function withAccessToken(search: string, token: string): string {
  const kept = search
    .slice(1)
    .split('&')
    .filter((pair) => pair !== '' && formDecoded(pair.split('=', 1)[0]) !== 'access_token')
  return [...kept, `access_token=${encodeURIComponent(token)}`].join('&')
}

/** A query component decoded as a form decodes it (`+` a space); as written when it is not valid percent-encoding. */
function formDecoded(component: string): string {
  try {
    return decodeURIComponent(component.replaceAll('+', ' '))
  } catch {
    return component
  }
}
