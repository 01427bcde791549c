import type { JWTVerifyGetKey } from 'jose'
import { OidcClient } from '../../clients/oidc.ts'
import type { OidcMetadata } from '../../clients/oidc-discovery.ts'

/**
 * LINE Login: the ID token of a web login is signed with HS256 and the channel secret (the client
 * secret, as OpenID Connect Core §10.1 allows), although discovery announces only ES256; ES256
 * tokens (LINE's SDKs, LIFF) are still checked against its JWKS.
 */
export class LineClient extends OidcClient {
  protected override idTokenKeys(metadata: OidcMetadata): { key: JWTVerifyGetKey; algorithms: string[] } {
    const { key: jwks, algorithms } = super.idTokenKeys(metadata)
    const secret = new TextEncoder().encode(this.provider.clientSecret ?? '')
    const key: JWTVerifyGetKey = (header, token) => (header.alg === 'HS256' ? secret : jwks(header, token))
    return { key, algorithms: ['HS256', ...algorithms.filter((alg) => alg !== 'HS256')] }
  }
}
