/** The BFF's routes (DESIGN.md, "HTTP routes of the BFF"). */
export const routes = {
  providers: '/auth/providers',
  login: (provider: string) => `/auth/login/${encodeURIComponent(provider)}`,
  callback: (provider: string) => `/auth/callback/${encodeURIComponent(provider)}`,
  session: '/auth/session',
  logout: '/auth/logout',
  backchannelLogout: (provider: string) => `/auth/backchannel-logout/${encodeURIComponent(provider)}`,
  account: (provider: string) => `/auth/accounts/${encodeURIComponent(provider)}`,
  api: (provider: string, path: string) => `/api/${encodeURIComponent(provider)}/${path.replace(/^\/+/, '')}`,
} as const

/** The header every state-changing or data-reading route requires (a custom header forces a CORS preflight). */
export const CSRF_HEADER = 'X-CSRF'
export const CSRF_VALUE = '1'

/** The query parameter the BFF adds to `/` after a failed login. */
export const AUTH_ERROR_PARAM = 'auth_error'
