import { decodeJwt, errors as joseErrors, jwtVerify } from 'jose'
import { AllAccessError } from '../errors.ts'
import { constantTimeEqual, randomToken } from '../crypto/random.ts'
import type { FlowSecrets } from './base.ts'
import { OAuth2Client } from './oauth2.ts'
import { discover, issuerMatches, keySet, type OidcMetadata } from './oidc-discovery.ts'
import type { CallbackInput, ParsedToken, Profile } from './types.ts'

/**
 * OpenID Connect on top of the OAuth 2.0 client: endpoints from discovery, a nonce, and an ID token
 * whose signature (JWKS), `iss`, `aud`, `exp` and nonce are checked before the login counts.
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
      throw new AllAccessError('issuer_mismatch', { detail: iss === null ? 'authorization response lacks iss' : 'authorization response iss differs' })
    }
  }

  override async getAccessToken(input: CallbackInput): Promise<ParsedToken> {
    const token = await super.getAccessToken(input)
    if (!token.idToken) throw new AllAccessError('id_token_invalid', { detail: 'token response has no id_token' })
    token.raw.idTokenClaims = await this.verifyIdToken(token.idToken, input.flow.nonce ?? null)
    return token
  }

  /** Verifies an ID token (OpenID Connect Core §3.1.3.7) and returns its claims. */
  async verifyIdToken(idToken: string, nonce: string | null): Promise<Record<string, unknown>> {
    const metadata = await this.metadata()
    let expectedIssuer = metadata.issuer
    if (expectedIssuer.includes('{tenantid}')) {
      const tid = (() => {
        try {
          return decodeJwt(idToken).tid
        } catch {
          return undefined
        }
      })()
      if (typeof tid !== 'string') throw new AllAccessError('id_token_invalid', { detail: 'multi-tenant id_token has no tid' })
      expectedIssuer = expectedIssuer.replace('{tenantid}', tid)
    }
    const algorithms = (metadata.id_token_signing_alg_values_supported ?? ['RS256']).filter((alg) => alg !== 'none')
    let payload: Record<string, unknown>
    try {
      ;({ payload } = await jwtVerify(idToken, keySet(metadata.jwks_uri), {
        issuer: expectedIssuer,
        audience: this.provider.clientId ?? '',
        algorithms,
        clockTolerance: 30,
        requiredClaims: ['sub', 'iat', 'exp'],
      }))
    } catch (cause) {
      if (cause instanceof joseErrors.JWTClaimValidationFailed && cause.claim === 'iss') {
        throw new AllAccessError('issuer_mismatch', { detail: 'id_token iss differs', cause })
      }
      throw new AllAccessError('id_token_invalid', { detail: `id_token rejected: ${(cause as Error).message}`, cause })
    }
    if (Array.isArray(payload.aud) && payload.aud.length > 1 && payload.azp !== this.provider.clientId) {
      throw new AllAccessError('id_token_invalid', { detail: 'id_token azp is not this client' })
    }
    if (nonce !== null && (typeof payload.nonce !== 'string' || !constantTimeEqual(payload.nonce, nonce))) {
      throw new AllAccessError('id_token_invalid', { detail: 'id_token nonce differs' })
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
}
