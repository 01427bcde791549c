import type { ProviderConfig } from '../../shared/provider.ts'
import { AllAccessError } from '../errors.ts'
import type { LoginFlow } from '../store/login-flows.ts'
import { callProvider, parseAnswerBody, PROVIDER_ANSWER_LIMIT } from './provider-http.ts'
import { withoutReservedParams } from './reserved-params.ts'
import type { HeaderReader } from './provider-transport.ts'
import type { ApiRequestOptions, ApiResponse, AuthorizedRequest, CallbackInput, ClientToken, ParsedToken, Profile } from './types.ts'

/** What a client may look at to decide whether an API answer refused the token. */
export interface RejectionEvidence {
  status: number
  headers: HeaderReader
  body(): Promise<string>
  /**
   * The body as text when it is at most `limit` bytes long, declared or not (a short answer sent
   * chunked); null for a longer one, which is read no further than that, and passed on whole.
   */
  shortBody(limit: number): Promise<string | null>
}

/** The flow fields a client fills in before the redirect (state, verifier, nonce, request token). */
export type FlowSecrets = Omit<LoginFlow, 'provider' | 'next' | 'sessionIdHash' | 'popup' | 'maxAge'>

/**
 * What every provider client does (django-all-access's BaseOAuthClient): build the redirect, turn
 * the callback into a token, load the profile, and sign API requests. Subclass `OAuthClient` or
 * `OAuth2Client` (not this class) to adapt one provider.
 */
export abstract class BaseOAuthClient {
  constructor(
    readonly provider: ProviderConfig,
    /** The token API requests are signed with (an account's, or a fresh login's). */
    readonly token: ClientToken | null = null,
  ) {}

  /** Names what this client keeps between redirect and callback (the seed's session key). */
  abstract get sessionKey(): string

  /** Creates the flow's secrets before the redirect: OAuth 1.0a's request token, OAuth 2.0's state and PKCE verifier. */
  abstract startFlow(callbackUrl: string): Promise<FlowSecrets>

  /** The query parameters of the redirect to the provider. */
  abstract getRedirectArgs(flow: FlowSecrets, callbackUrl: string): Promise<Record<string, string>>

  /** The provider's authorization URL with the redirect args, then the provider's extra parameters and `extra` (never a reserved one). */
  async getRedirectUrl(flow: FlowSecrets, callbackUrl: string, extra: Record<string, string> = {}): Promise<string> {
    const url = new URL(await this.authorizationEndpoint())
    const own = await this.getRedirectArgs(flow, callbackUrl)
    const args = { ...own, ...withoutReservedParams({ ...this.provider.extraAuthorizationParams, ...extra }) }
    for (const [key, value] of Object.entries(args)) url.searchParams.set(key, value)
    return url.toString()
  }

  /** The provider's scopes (stored space-separated) joined the way it wants them; null when there are none. */
  protected joinedScope(): string | null {
    const scopes = (this.provider.scope ?? '').split(/\s+/).filter(Boolean)
    return scopes.length ? scopes.join(this.provider.scopeDelimiter ?? ' ') : null
  }

  protected async authorizationEndpoint(): Promise<string> {
    if (!this.provider.authorizationUrl) throw new AllAccessError('provider_unavailable', { detail: `${this.provider.name} has no authorization URL` })
    return this.provider.authorizationUrl
  }

  /** Validates the callback before any token request: refusal, state, issuer, code. Throws a contract code. */
  abstract checkCallback(input: CallbackInput): Promise<void>

  /** Exchanges the callback for a token. Only call after `checkCallback`. */
  abstract getAccessToken(input: CallbackInput): Promise<ParsedToken>

  /** Reads a token endpoint's body; null for an error body or garbage. */
  abstract parseRawToken(raw: string, contentType?: string | null): ParsedToken | null

  /** Attaches this client's authentication to a request (signature or bearer token). */
  abstract authorizeRequest(request: { method: string; url: URL; form?: URLSearchParams }, token?: ClientToken | null): AuthorizedRequest

  /** The user's profile from the provider's profile URL, as JSON (override for providers that differ). */
  async getProfileInfo(token: ParsedToken): Promise<Profile> {
    return this.fetchProfile(token, 'GET', this.profileUrl())
  }

  protected profileUrl(): string {
    if (!this.provider.profileUrl) throw new AllAccessError('profile_request_failed', { detail: `${this.provider.name} has no profile URL` })
    return this.provider.profileUrl
  }

  /** One profile request (signed with `token` when given), whose answer must be a JSON object. */
  protected async fetchProfile(token: ParsedToken | null, method: string, url: string, options: ApiRequestOptions = {}): Promise<Profile> {
    const answer = await this.send(method, url, options, token, 'profile_request_failed')
    if (!answer.ok || typeof answer.body !== 'object' || answer.body === null) {
      throw new AllAccessError('profile_request_failed', { detail: `profile answered ${answer.status}` })
    }
    return answer.body as Profile
  }

  /**
   * Whether an API answer means the provider refused the account's token itself, not just this one
   * request. OAuth 2.0: a 401 (RFC 6750 §3.1). `body` reads the answer's body, for clients that
   * need it to judge.
   */
  async tokenRejected(answer: RejectionEvidence): Promise<boolean> {
    return answer.status === 401
  }

  /**
   * Where to send the browser so the user signs out at the provider too, or null when the provider
   * offers no such page (OAuth 1.0a and plain OAuth 2.0 do not).
   */
  async getLogoutUrl(_options: LogoutUrlOptions): Promise<string | null> {
    return null
  }

  /**
   * Calls the provider's API as the token's owner (the seed's `request(method, url, **kwargs)`).
   * Resolves with the answer whatever its status; rejects only when the provider cannot be reached.
   */
  async request<T = unknown>(method: string, url: string, options: ApiRequestOptions = {}): Promise<ApiResponse<T>> {
    return this.send<T>(method, url, options, this.token, 'upstream_unreachable')
  }

  protected async send<T>(
    method: string,
    target: string,
    options: ApiRequestOptions,
    token: ClientToken | null,
    failure: 'upstream_unreachable' | 'profile_request_failed',
  ): Promise<ApiResponse<T>> {
    const url = new URL(target)
    if (options.query) {
      const extra = (options.query instanceof URLSearchParams ? options.query : toParams(options.query)).toString()
      // Appended to the query as written: going through searchParams would rewrite all of it
      // (`pretty` as `pretty=`, `%20` as `+`, `,` as `%2C`), which not every API reads alike.
      if (extra) url.search = url.search ? `${url.search}&${extra}` : extra
    }
    const headers: Record<string, string> = { Accept: 'application/json', ...options.headers }
    let form: URLSearchParams | undefined
    let body: string | undefined
    if (options.body !== undefined) {
      form = options.body instanceof URLSearchParams ? options.body : toParams(options.body)
      body = form.toString()
      headers['Content-Type'] = 'application/x-www-form-urlencoded'
    } else if (options.json !== undefined) {
      body = JSON.stringify(options.json)
      // A JSON body may have a media type of its own (JSON Merge Patch, JSON:API), which such APIs require.
      if (!Object.keys(headers).some((name) => name.toLowerCase() === 'content-type')) headers['Content-Type'] = 'application/json'
    }
    const authorized = this.authorizeRequest({ method, url, form }, token)
    const maxBytes = options.maxBytes ?? (failure === 'profile_request_failed' ? PROVIDER_ANSWER_LIMIT : DEFAULT_API_ANSWER_LIMIT)
    if (!(maxBytes >= 0)) throw new TypeError(`maxBytes must be a number of bytes, not ${maxBytes}`)
    if (options.timeoutMs !== undefined && !(options.timeoutMs > 0)) throw new TypeError(`timeoutMs must be a positive number of milliseconds, not ${options.timeoutMs}`)
    const answer = await callProvider(authorized.url, { method, headers: { ...headers, ...authorized.headers }, body, timeoutMs: options.timeoutMs, maxBytes }, failure)
    return { status: answer.status, ok: answer.ok, headers: answer.headers, text: answer.text, body: parseAnswerBody(answer.text, answer.headers.get('content-type')) as T }
  }
}

/** What a provider's logout page is told: who signs out, and where it sends the browser back to. */
export interface LogoutUrlOptions {
  /** The ID token the session's login received, as `id_token_hint`. */
  idToken: string | null
  postLogoutRedirectUri: string
}

/** The default cap on answers to API calls made with `request` (`apiClient.maxBody` sets another). */
export const DEFAULT_API_ANSWER_LIMIT = 10 * 1024 * 1024

export function toParams(values: Record<string, string | number | boolean | readonly string[]>): URLSearchParams {
  const params = new URLSearchParams()
  for (const [key, value] of Object.entries(values)) {
    if (Array.isArray(value)) for (const item of value) params.append(key, String(item))
    else params.append(key, String(value))
  }
  return params
}
