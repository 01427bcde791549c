import { decodeJwt, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from 'jose'
import { cutText } from '../cut-text.ts'
import { AllAccessError } from '../errors.ts'
import { constantTimeEqual, randomToken } from '../crypto/random.ts'
import type { FlowSecrets, LogoutUrlOptions } from './base.ts'
import { OAuth2Client, type RefreshOptions } from './oauth2.ts'
import { discover, issuerMatches, keySet, type OidcMetadata } from './oidc-discovery.ts'
import type { CallbackInput, ParsedToken, Profile } from './types.ts'

/**
 * OpenID Connect on top of the OAuth 2.0 client: endpoints from discovery, a nonce, and an ID token
 * whose signature (JWKS), `iss`, `aud`, `sub`, `sid`, `iat`, `exp`, nonce and, when the login asked a
 * `max_age`, `auth_time` are checked before the login counts.
 */
export class OidcClient extends OAuth2Client {
  protected metadata(): Promise<OidcMetadata> {
    if (!this.provider.issuer) throw new AllAccessError('provider_unavailable', { detail: `${this.provider.name} has no issuer` })
    return discover(this.provider.issuer)
  }

  protected override async authorizationEndpoint(): Promise<string> {
    return (await this.metadata()).authorization_endpoint
  }

  protected override async tokenEndpoint(): Promise<string> {
    return (await this.metadata()).token_endpoint
  }

  override async revocationEndpoint(): Promise<string | null> {
    return this.provider.revocationUrl ?? (await this.metadata()).revocation_endpoint ?? null
  }

  override async startFlow(): Promise<FlowSecrets> {
    await this.metadata() // a provider that cannot be discovered fails before the user leaves
    return { ...(await super.startFlow()), nonce: randomToken() }
  }

  override async getRedirectArgs(flow: FlowSecrets, callbackUrl: string): Promise<Record<string, string>> {
    const args = await super.getRedirectArgs(flow, callbackUrl)
    const scopes = new Set((this.provider.scope ?? '').split(/\s+/).filter(Boolean))
    scopes.add('openid')
    args.scope = [...scopes].join(' ')
    if (flow.nonce) args.nonce = flow.nonce
    return args
  }

  /** RFC 9207: checked whenever present, and required when the provider says it always sends it. */
  protected override async checkIssuer(iss: string | null): Promise<void> {
    const metadata = await this.metadata()
    if (iss === null ? metadata.authorization_response_iss_parameter_supported === true : !issuerMatches(iss, metadata.issuer) && iss !== this.provider.issuer) {
      // As OAuth2Client's: the callback's query, which its client may have written, is refused.
      throw new AllAccessError('issuer_mismatch', { detail: iss === null ? 'authorization response lacks iss' : 'authorization response iss differs', refusal: true })
    }
  }

  override async getAccessToken(input: CallbackInput): Promise<ParsedToken> {
    const token = await super.getAccessToken(input)
    if (!token.idToken) throw new AllAccessError('id_token_invalid', { detail: 'token response has no id_token' })
    token.raw.idTokenClaims = await this.verifyIdToken(token.idToken, input.flow.nonce ?? null, input.flow.maxAge ?? null)
    return token
  }

  /**
   * A refresh answer's ID token is checked as at login, without a nonce, and must name the subject
   * of the ID token the account holds (OpenID Connect Core §12.2): a provider that answered with
   * another user's tokens would otherwise have the account act as that user. Such an answer counts
   * as a refused refresh (`reauth_required`): the user signs in again.
   *
   * When the provider's keys cannot be had, the tokens are granted all the same, and the refresh
   * token sent may be spent (rotation): thrown away, they would end the account at the next
   * refresh. This ID token came straight from the token endpoint, whose TLS OpenID Connect Core
   * §3.1.3.7 (6) lets stand in for its signature: its claims are checked as a verified one's are.
   */
  override async refreshAccessToken(refreshToken: string, options: RefreshOptions = {}): Promise<ParsedToken> {
    const token = await super.refreshAccessToken(refreshToken, options)
    if (!token.idToken) return token
    let claims: Record<string, unknown>
    try {
      claims = await this.refreshedClaims(token.idToken)
    } catch (error) {
      // The provider's discovery document could not be had: its trouble, not a refusal of the token.
      if (error instanceof AllAccessError && error.code === 'provider_unavailable') throw error
      throw new AllAccessError('reauth_required', { detail: `refreshed ${error instanceof AllAccessError ? (error.detail ?? error.code) : String(error)}`, cause: error })
    }
    const held = heldClaims(options.idToken ?? null)
    if (held !== null && claims.sub !== held.sub) throw new AllAccessError('reauth_required', { detail: 'refreshed id_token names another subject' })
    token.raw.idTokenClaims = claims
    return token
  }

  /** A refreshed ID token's claims: verified, or read as sent while the provider's keys cannot be had (see {@link refreshAccessToken}). */
  private async refreshedClaims(idToken: string): Promise<Record<string, unknown>> {
    try {
      return await this.verifyIdToken(idToken, null)
    } catch (error) {
      if (error instanceof AllAccessError && error.code === 'provider_unavailable') return this.claimsAsRead(idToken)
      throw error
    }
  }

  /** An ID token's claims read without its signature, checked as a verified one's are: see {@link refreshAccessToken}. */
  private async claimsAsRead(idToken: string): Promise<Record<string, unknown>> {
    const expectedIssuer = issuerOf(await this.metadata(), idToken, 'id_token_invalid')
    const claims = decodeJwt(idToken) as Record<string, unknown>
    if (claims.iss !== expectedIssuer || ![claims.aud].flat().includes(this.provider.clientId ?? '')) {
      throw new AllAccessError('id_token_invalid', { detail: 'id_token read without keys: another issuer or audience' })
    }
    if (typeof claims.exp !== 'number' || claims.exp <= Date.now() / 1000 - CLOCK_SKEW_S) {
      throw new AllAccessError('id_token_invalid', { detail: 'id_token read without keys: expired' })
    }
    // As jwtVerify judges it once the keys are back: one that is not a number does not pass for none.
    if (claims.nbf !== undefined && (typeof claims.nbf !== 'number' || claims.nbf > Date.now() / 1000 + CLOCK_SKEW_S)) {
      throw new AllAccessError('id_token_invalid', { detail: 'id_token read without keys: not valid yet (nbf)' })
    }
    checkIdTokenClaims(claims, this.provider.clientId)
    return claims
  }

  /** The keys and algorithms an ID token may be signed with: the issuer's JWKS and announced algorithms. */
  protected idTokenKeys(metadata: OidcMetadata): { key: JWTVerifyGetKey; algorithms: string[] } {
    return { key: keySet(metadata.jwks_uri), algorithms: signingAlgorithms(metadata) }
  }

  /**
   * Verifies an ID token (OpenID Connect Core §3.1.3.7) and returns its claims. `maxAge` is the
   * `max_age` the login asked for, in seconds: the token must then say when the user authenticated
   * (`auth_time`), no longer ago than that (item 11), as oauth4webapi checks. A `prompt=login` is
   * not held to a time: nothing says how recent would be recent enough.
   */
  async verifyIdToken(idToken: string, nonce: string | null, maxAge: number | null = null): Promise<Record<string, unknown>> {
    const metadata = await this.metadata()
    const expectedIssuer = issuerOf(metadata, idToken, 'id_token_invalid')
    const { key, algorithms } = this.idTokenKeys(metadata)
    let payload: Record<string, unknown>
    try {
      ;({ payload } = await jwtVerify(idToken, key, {
        issuer: expectedIssuer,
        audience: this.provider.clientId ?? '',
        algorithms,
        clockTolerance: CLOCK_SKEW_S,
        requiredClaims: ['sub', 'iat', 'exp'],
      }))
    } catch (cause) {
      // Also a key set that holds no key of this token's: a rotation, jose fetches it again at most every 30 s.
      const unavailable = keysUnavailable('id_token', cause, true)
      if (unavailable) throw unavailable
      if (cause instanceof joseErrors.JWTClaimValidationFailed && cause.claim === 'iss') {
        throw new AllAccessError('issuer_mismatch', { detail: 'id_token iss differs', cause })
      }
      // jose's verdict quotes the token (a header parameter's name), which is the provider's text.
      throw new AllAccessError('id_token_invalid', { detail: `id_token rejected: ${cutText((cause as Error).message)}`, cause })
    }
    checkIdTokenClaims(payload, this.provider.clientId)
    if (nonce !== null && (typeof payload.nonce !== 'string' || !constantTimeEqual(payload.nonce, nonce))) {
      // Another login's ID token: its code brought into this login (where PKCE is off), which any visitor can try.
      throw new AllAccessError('id_token_invalid', { detail: 'id_token nonce differs', refusal: true })
    }
    if (maxAge !== null) {
      if (typeof payload.auth_time !== 'number') throw new AllAccessError('id_token_invalid', { detail: 'id_token lacks auth_time, which max_age asked for' })
      if (payload.auth_time + maxAge < Date.now() / 1000 - CLOCK_SKEW_S) {
        throw new AllAccessError('id_token_invalid', { detail: 'id_token auth_time is older than max_age allows' })
      }
    }
    return payload
  }

  /**
   * The ID token's claims, completed by the userinfo endpoint when there is one. A userinfo answer
   * whose `sub` is not exactly the ID token's, missing included, is refused (OpenID Connect Core §5.3.2).
   */
  override async getProfileInfo(token: ParsedToken): Promise<Profile> {
    const claims = (token.raw.idTokenClaims ?? {}) as Profile
    const userinfo = this.provider.profileUrl ?? (await this.metadata()).userinfo_endpoint
    if (!userinfo) return { ...claims }
    const answer = await this.send('GET', userinfo, {}, token, 'profile_request_failed')
    if (!answer.ok || typeof answer.body !== 'object' || answer.body === null) {
      throw new AllAccessError('profile_request_failed', { detail: `userinfo answered ${answer.status}` })
    }
    const info = answer.body as Profile
    if (claims.sub !== undefined && info.sub !== claims.sub) {
      throw new AllAccessError('profile_request_failed', { detail: 'userinfo sub differs from the id_token' })
    }
    return { ...claims, ...info }
  }

  /**
   * OpenID Connect RP-Initiated Logout 1.0 §2: the provider's end-session page, told who signs out
   * (`id_token_hint`, `client_id`) and where to send the browser back; null when the provider
   * announces no `end_session_endpoint`.
   */
  override async getLogoutUrl({ idToken, postLogoutRedirectUri }: LogoutUrlOptions): Promise<string | null> {
    const endpoint = (await this.metadata()).end_session_endpoint
    if (!endpoint) return null
    const url = new URL(endpoint)
    if (idToken) url.searchParams.set('id_token_hint', idToken)
    if (this.provider.clientId) url.searchParams.set('client_id', this.provider.clientId)
    url.searchParams.set('post_logout_redirect_uri', postLogoutRedirectUri)
    return url.toString()
  }

  /**
   * Validates a logout token (OpenID Connect Back-Channel Logout 1.0 §2.6): signed by the provider's
   * keys, its `iss`, this client as `aud`, a recent `iat`, the back-channel logout event, `sid` and/or
   * `sub`, no `nonce`. Whether its `jti` is new is the caller's to check. Any failure is `invalid_request`.
   */
  async verifyLogoutToken(logoutToken: string): Promise<LogoutTokenClaims> {
    const metadata = await this.metadata()
    const refuse = (detail: string, cause?: unknown) => new AllAccessError('invalid_request', { detail: `logout token rejected: ${detail}`, cause })
    // Outside the try: a multi-tenant token without `tid` is a bad token, not the provider's trouble.
    const issuer = issuerOf(metadata, logoutToken, 'invalid_request')
    let payload: Record<string, unknown>
    try {
      ;({ payload } = await jwtVerify(logoutToken, keySet(metadata.jwks_uri), {
        issuer,
        audience: this.provider.clientId ?? '',
        algorithms: signingAlgorithms(metadata),
        clockTolerance: CLOCK_SKEW_S,
        maxTokenAge: LOGOUT_TOKEN_MAX_AGE_S,
        requiredClaims: ['iat', 'jti', 'events'],
      }))
    } catch (cause) {
      // A 5xx lets the provider send the token again. A key it does not hold is a bad token's here.
      const unavailable = keysUnavailable('logout token', cause, false)
      if (unavailable) throw unavailable
      throw refuse((cause as Error).message, cause)
    }
    const events = payload.events as Record<string, unknown> | undefined
    const event = typeof events === 'object' && events !== null ? events[BACKCHANNEL_LOGOUT_EVENT] : undefined
    if (typeof event !== 'object' || event === null || Array.isArray(event)) throw refuse('events lacks the back-channel logout event')
    if ('nonce' in payload) throw refuse('a logout token must not carry a nonce')
    // Each a string (§2.4): a malformed sid read as none would end every session of the user.
    for (const claim of ['sid', 'sub']) {
      if (claim in payload && (typeof payload[claim] !== 'string' || !payload[claim])) throw refuse(`${claim} is not a non-empty string`)
    }
    const sid = typeof payload.sid === 'string' ? payload.sid : null
    const sub = typeof payload.sub === 'string' ? payload.sub : null
    if (!sid && !sub) throw refuse('neither sid nor sub')
    if (typeof payload.jti !== 'string' || !payload.jti) throw refuse('jti is not a string')
    const iat = payload.iat as number
    const lastAccepted = Math.min(typeof payload.exp === 'number' ? payload.exp : Infinity, iat + LOGOUT_TOKEN_MAX_AGE_S) + CLOCK_SKEW_S
    return { jti: payload.jti, sid, sub, refusedAfter: lastAccepted * 1000, issuedAt: iat * 1000 }
  }
}

/**
 * Whether a token's verification failed for want of the provider's keys, which says nothing of the
 * token: the key set could not be fetched (the fetch fails as an AllAccessError, which jose passes
 * on), or the token's key cannot be used (no modulus, too short: WebCrypto's DOMException or a
 * TypeError, where jose's verdicts on a token are all JOSEErrors), or, when `noMatchingKey` counts,
 * the set holds no key of the token's. That is `provider_unavailable`; null for a verdict on the token.
 */
function keysUnavailable(what: string, cause: unknown, noMatchingKey: boolean): AllAccessError | null {
  if (cause instanceof AllAccessError) return new AllAccessError('provider_unavailable', { detail: `${what} keys: ${cause.detail ?? cause.message}`, cause })
  if (cause instanceof joseErrors.JOSEError && !(noMatchingKey && cause instanceof joseErrors.JWKSNoMatchingKey)) return null
  return new AllAccessError('provider_unavailable', { detail: `${what} keys: ${cutText((cause as Error).message)}`, cause })
}

/** The `events` member a logout token must carry (OpenID Connect Back-Channel Logout 1.0 §2.4). */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout'
/** A logout token is sent as the user signs out: one older than this is refused (and its `jti` may be forgotten). */
const LOGOUT_TOKEN_MAX_AGE_S = 5 * 60
/** The clocks of provider and BFF may disagree by this much (seconds), for ID and logout tokens alike. */
const CLOCK_SKEW_S = 30

/** What a valid logout token says: which sessions end, and how long its `jti` must be remembered. */
export interface LogoutTokenClaims {
  jti: string
  /** The provider's session id: only the sessions that signed in with it end. */
  sid: string | null
  /** Without `sid`: every session of the user linked to this identity ends. */
  sub: string | null
  /** Epoch ms from which the token is refused as too old anyway. */
  refusedAfter: number
  /** When the provider issued it (`iat`), epoch ms: when it ended the session, on its own clock. */
  issuedAt: number
}

/** A `sub` or `sid` as OpenID Connect has them: a string, of 1 to 255 characters (Core §2). */
const isIdentifierClaim = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 255

/**
 * What an ID token's claims must be besides what jwtVerify checks, verified or read without keys:
 * - `sub` a string of at most 255 characters (OpenID Connect Core §2). A number would be read as
 *   the identifier of the string it prints as, and stored as no subject at all: a refresh naming
 *   another user, or a back-channel logout by `sub`, would then have nothing to be held against.
 * - `iat` not ahead of this clock by more than the clocks may disagree, which jwtVerify lets by
 *   unless given a maximum age: a back-channel logout is judged against it (ended-sign-in.ts), and
 *   one from the future would pass for newer than any logout.
 * - an `azp` when `aud` names several parties, and an `azp` naming this client (OpenID Connect
 *   Core §3.1.3.7, as oauth4webapi checks).
 * - an `auth_time`, whenever present, a number (§2): one that is not cannot be held to a `max_age`.
 * - a `sid`, whenever present, a string of 1 to 255 characters, as `sub` (OpenID Connect Front-
 *   and Back-Channel Logout: a string). Read as none, the session would be stored without it, and
 *   a back-channel logout naming the provider's session could not end it.
 */
function checkIdTokenClaims(claims: Record<string, unknown>, clientId: string | null): void {
  const { sub, iat } = claims
  if (!isIdentifierClaim(sub)) {
    throw new AllAccessError('id_token_invalid', { detail: 'id_token sub is not a string of 1 to 255 characters' })
  }
  if (typeof iat !== 'number' || iat > Date.now() / 1000 + CLOCK_SKEW_S) {
    throw new AllAccessError('id_token_invalid', { detail: 'id_token iat is not a time up to now' })
  }
  if ((claims.azp !== undefined || (Array.isArray(claims.aud) && claims.aud.length > 1)) && claims.azp !== clientId) {
    throw new AllAccessError('id_token_invalid', { detail: 'id_token azp is not this client' })
  }
  if (claims.auth_time !== undefined && typeof claims.auth_time !== 'number') {
    throw new AllAccessError('id_token_invalid', { detail: 'id_token auth_time is not a number' })
  }
  if (claims.sid !== undefined && !isIdentifierClaim(claims.sid)) {
    throw new AllAccessError('id_token_invalid', { detail: 'id_token sid is not a string of 1 to 255 characters' })
  }
}

/**
 * The claims of the ID token the account holds, as the BFF stored it; null when it holds none that
 * can be read. Its `sub` is compared as stored: one no refreshed ID token can name (a number, which
 * an earlier release let by) refuses every refresh's, where read as none it would let any user's by.
 */
function heldClaims(idToken: string | null): Record<string, unknown> | null {
  if (!idToken) return null
  try {
    return decodeJwt(idToken)
  } catch {
    return null
  }
}

function signingAlgorithms(metadata: OidcMetadata): string[] {
  return (metadata.id_token_signing_alg_values_supported ?? ['RS256']).filter((alg) => alg !== 'none')
}

/** The issuer a token must name; Microsoft's multi-tenant template is filled in with the token's own `tid`. */
function issuerOf(metadata: OidcMetadata, jwt: string, code: 'id_token_invalid' | 'invalid_request'): string {
  if (!metadata.issuer.includes('{tenantid}')) return metadata.issuer
  const tid = (() => {
    try {
      return decodeJwt(jwt).tid
    } catch {
      return undefined
    }
  })()
  if (typeof tid !== 'string') throw new AllAccessError(code, { detail: 'multi-tenant token has no tid' })
  return metadata.issuer.replace('{tenantid}', tid)
}
