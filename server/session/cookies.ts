import type { Context } from 'koa'

export interface CookieSettings {
  /** https PUBLIC_URL: Secure cookies with the `__Host-` prefix. */
  secure: boolean
}

export const SESSION_COOKIE = 'allaccess_session'
export const FLOW_COOKIE = 'allaccess_flow'

/** What `randomToken()` makes: 256 bits, base64url. Anything else is not worth a database lookup. */
const ID_PATTERN = /^[A-Za-z0-9_-]{43}$/

export function cookieName(base: string, settings: CookieSettings): string {
  return settings.secure ? `__Host-${base}` : base
}

/**
 * Cookies hold only a random 256-bit id, stored hashed: unguessable without any key-bound signature,
 * so rotating ALLACCESS_KEYS signs nobody out and ends no login in flight.
 */
export function readIdCookie(ctx: Context, base: string, settings: CookieSettings): string | null {
  const raw = ctx.cookies.get(cookieName(base, settings))
  return raw && ID_PATTERN.test(raw) ? raw : null
}

/**
 * With an https PUBLIC_URL the BFF usually sits behind a TLS-terminating proxy and sees plain http;
 * the cookies library would then refuse Secure cookies, so the public URL decides instead.
 */
function allowSecure(ctx: Context, settings: CookieSettings): void {
  if (settings.secure) (ctx.cookies as unknown as { secure: boolean }).secure = true
}

export function writeIdCookie(
  ctx: Context,
  base: string,
  id: string,
  settings: CookieSettings,
  options: { sameSite: 'strict' | 'lax'; maxAgeMs?: number },
): void {
  allowSecure(ctx, settings)
  ctx.cookies.set(cookieName(base, settings), id, {
    httpOnly: true,
    secure: settings.secure,
    sameSite: options.sameSite,
    path: '/',
    maxAge: options.maxAgeMs,
    overwrite: true,
  })
}

export function clearCookie(ctx: Context, base: string, settings: CookieSettings, sameSite: 'strict' | 'lax'): void {
  allowSecure(ctx, settings)
  ctx.cookies.set(cookieName(base, settings), '', {
    httpOnly: true,
    secure: settings.secure,
    sameSite,
    path: '/',
    expires: new Date(0),
    overwrite: true,
  })
}
