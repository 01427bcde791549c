import type { JWTVerifyGetKey } from 'jose'
import { OidcClient } from '../../clients/oidc.ts'
import type { OidcMetadata } from '../../clients/oidc-discovery.ts'
import { callProvider } from '../../clients/provider-http.ts'

/**
 * LINE Login: the ID token of a web login is signed with HS256 and the channel secret (the client
 * secret, as OpenID Connect Core §10.1 allows), although discovery announces only ES256; ES256
 * tokens (LINE's SDKs, LIFF) are still checked against its JWKS. Its revocation endpoint takes
 * `access_token` with the client's id and secret in the body, not RFC 7009's `token`.
 */
export class LineClient extends OidcClient {
  protected override idTokenKeys(metadata: OidcMetadata): { key: JWTVerifyGetKey; algorithms: string[] } {
    const { key: jwks, algorithms } = super.idTokenKeys(metadata)
    const secret = new TextEncoder().encode(this.provider.clientSecret ?? '')
    const key: JWTVerifyGetKey = (header, token) => (header.alg === 'HS256' ? secret : jwks(header, token))
    return { key, algorithms: ['HS256', ...algorithms.filter((alg) => alg !== 'HS256')] }
  }

  protected override async revokeAt(endpoint: string, token: string, hint: 'access_token' | 'refresh_token'): Promise<boolean> {
    // The endpoint revokes access tokens only: a refresh token has nothing to be sent to.
    if (hint === 'refresh_token') return true
    const body = new URLSearchParams({ access_token: token, client_id: this.provider.clientId ?? '', client_secret: this.provider.clientSecret ?? '' })
    const answer = await callProvider(endpoint, { method: 'POST', headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, body: body.toString() }, 'upstream_unreachable')
    return answer.ok
  }
}
