import { OAuth2Client } from '../../clients/oauth2.ts'
import type { AuthorizedRequest, ClientToken } from '../../clients/types.ts'

/** Yandex reads the access token from `Authorization: OAuth <token>`, not `Bearer`. */
export class YandexClient extends OAuth2Client {
  override authorizeRequest(request: { method: string; url: URL }, token: ClientToken | null = this.token): AuthorizedRequest {
    const authorized = super.authorizeRequest(request, token)
    const header = authorized.headers.Authorization
    if (header?.startsWith('Bearer ')) authorized.headers.Authorization = `OAuth ${header.slice('Bearer '.length)}`
    return authorized
  }
}
