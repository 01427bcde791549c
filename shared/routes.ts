import type { ErrorCode } from './errors.ts'

// The BFF's routes, one export each so that the React library's bundle carries only those it calls.
// A provider's name stands in a route as one path segment, encoded.
export const providersRoute = '/auth/providers'
export const loginRoute = (provider: string) => `/auth/login/${encodeURIComponent(provider)}`
export const callbackRoute = (provider: string) => `/auth/callback/${encodeURIComponent(provider)}`
export const sessionRoute = '/auth/session'
export const logoutRoute = '/auth/logout'
export const backchannelLogoutRoute = (provider: string) => `/auth/backchannel-logout/${encodeURIComponent(provider)}`
export const accountRoute = (provider: string) => `/auth/accounts/${encodeURIComponent(provider)}`
// The React library puts its path after the prefix itself: apiPath has already made it relative.
export const apiPrefix = (provider: string) => `/api/${encodeURIComponent(provider)}/`
export const apiRoute = (provider: string, path: string) => apiPrefix(provider) + path.replace(/^\/+/, '')

/** The BFF's routes (DESIGN.md, "HTTP routes of the BFF"), as the server and the tests use them. */
export const routes = {
  providers: providersRoute,
  login: loginRoute,
  callback: callbackRoute,
  session: sessionRoute,
  logout: logoutRoute,
  backchannelLogout: backchannelLogoutRoute,
  account: accountRoute,
  api: apiRoute,
} as const

/** The paths the BFF answers itself, every one of them: nothing else in the app may answer these. */
export function isBffPath(path: string): boolean {
  return path === '/auth' || path.startsWith('/auth/') || path === '/api' || path.startsWith('/api/')
}

/** The header every state-changing or data-reading route requires (a custom header forces a CORS preflight). */
export const CSRF_HEADER = 'X-CSRF'
export const CSRF_VALUE = '1'

/** The query parameter the BFF adds to `/` after a failed login. */
export const AUTH_ERROR_PARAM = 'auth_error'

/**
 * The `prompt` values a login may pass to OAuth 2.0 / OpenID Connect providers (OpenID Connect
 * Core §3.1.2.1): `none` asks for a silent login, which fails with `login_required` when the
 * provider needs the user.
 */
export const LOGIN_PROMPTS = ['none', 'login', 'consent', 'select_account'] as const
export type LoginPrompt = (typeof LOGIN_PROMPTS)[number]

/** The `type` of the message a popup login's callback page posts to its opener. */
export const POPUP_MESSAGE_TYPE = 'all-access:login'

/** What a popup login's callback page posts to its opener. */
export type PopupLoginMessage = { type: typeof POPUP_MESSAGE_TYPE; ok: true } | { type: typeof POPUP_MESSAGE_TYPE; ok: false; error: ErrorCode }
