import { importPKCS8, SignJWT } from 'jose'
import { OidcClient } from '../../clients/oidc.ts'
import type { CallbackInput, ParsedToken, Profile } from '../../clients/types.ts'
import { AllAccessError } from '../../errors.ts'

/** The audience Apple requires in a client secret, whatever host the token endpoint is on. */
export const APPLE_AUDIENCE = 'https://appleid.apple.com'

/**
 * Sign in with Apple. Its client secret is a short JWT signed (ES256) with the app's private key:
 * the provider's stored secret is that key (the `.p8` file), and the `team_id` and `key_id` preset
 * parameters name the signer. The user's name comes once, in the `user` field of the first
 * authorization response, never in the ID token: it is kept in the profile as `user`.
 */
export class AppleClient extends OidcClient {
  protected override async authenticateClient(body: URLSearchParams): Promise<void> {
    body.set('client_id', this.provider.clientId ?? '')
    body.set('client_secret', await this.clientSecret())
  }

  /** A client secret for one request: valid five minutes (Apple allows six months; less is safer). */
  async clientSecret(): Promise<string> {
    const { team_id: teamId, key_id: keyId } = this.provider.presetParams ?? {}
    if (!teamId || !keyId) throw new AllAccessError('token_request_failed', { detail: `${this.provider.name}: the apple preset needs the team_id and key_id parameters` })
    let key: CryptoKey
    try {
      key = await importPKCS8(this.provider.clientSecret ?? '', 'ES256')
    } catch (cause) {
      throw new AllAccessError('token_request_failed', { detail: `${this.provider.name}: the client secret is not Apple's .p8 private key`, cause })
    }
    return new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: keyId })
      .setIssuer(teamId)
      .setSubject(this.provider.clientId ?? '')
      .setAudience(APPLE_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(key)
  }

  override async getAccessToken(input: CallbackInput): Promise<ParsedToken> {
    const token = await super.getAccessToken(input)
    const user = readUser(input.params.get('user'))
    if (user) token.raw.appleUser = user
    return token
  }

  override async getProfileInfo(token: ParsedToken): Promise<Profile> {
    const profile = await super.getProfileInfo(token)
    const user = token.raw.appleUser
    return user ? { ...profile, user } : profile
  }
}

/** Apple's `user` field: JSON naming the user, sent only at the first authorization. Anything else is ignored. */
function readUser(raw: string | null): Record<string, unknown> | null {
  if (!raw || raw.length > 4096) return null
  try {
    const user: unknown = JSON.parse(raw)
    return user !== null && typeof user === 'object' && !Array.isArray(user) ? (user as Record<string, unknown>) : null
  } catch {
    return null
  }
}
