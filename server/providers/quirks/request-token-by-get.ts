import { OAuthClient } from '../../clients/oauth1.ts'

/** OAuth 1.0a providers that document the request token as a GET (Flickr, Discogs). */
export class RequestTokenByGetClient extends OAuthClient {
  protected override readonly requestTokenMethod = 'GET'
}
