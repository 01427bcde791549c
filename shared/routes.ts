import type { ErrorCode } from './errors.ts'

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
