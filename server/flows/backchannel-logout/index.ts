import compose from 'koa-compose'
import { checkLogoutToken } from './check-logout-token.ts'
import { endProviderSessions } from './end-provider-sessions.ts'
import { loadOpenIdProvider } from './load-openid-provider.ts'
import { readLogoutToken } from './read-logout-token.ts'

/**
 * `POST /auth/backchannel-logout/:provider` (OpenID Connect Back-Channel Logout 1.0): the provider,
 * server to server, says a user signed out there. No CSRF header: no browser sends this.
 */
export const backchannelLogout = compose([
  loadOpenIdProvider,
  readLogoutToken,
  checkLogoutToken,
  endProviderSessions,
] as compose.Middleware<never>[])
