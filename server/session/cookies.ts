import type { Context } from 'koa'
import { createHmac } from 'node:crypto'
import type { RootKey } from '../crypto/keys.ts'
import { constantTimeEqual } from '../crypto/random.ts'

export interface CookieSettings {
  /** https PUBLIC_URL: Secure cookies with the `__Host-` prefix. */
  secure: boolean
  keys: RootKey[]
}

export const SESSION_COOKIE = 'allaccess_session'
export const FLOW_COOKIE = 'allaccess_flow'

export function cookieName(base: string, settings: CookieSettings): string {
  return settings.secure ? `__Host-${base}` : base
}

/** The cookie's MAC; exported for tests that plant a session as a signed-in browser would hold it. */
export function sign(key: RootKey, name: string, value: string): string {
  return createHmac('sha256', key.cookieKey).update(`${name}=${value}`).digest('base64url')
}

/**
 * Cookies hold a random id and an HMAC of it (keys derived from ALLACCESS_KEYS, so they rotate with
 * them): a forged or altered cookie is dropped before any database lookup.
 */
export function readSignedCookie(ctx: Context, base: string, settings: CookieSettings): string | null {
  const name = cookieName(base, settings)
  const raw = ctx.cookies.get(name)
  if (!raw) return null
  const dot = raw.lastIndexOf('.')
  if (dot < 1) return null
  const value = raw.slice(0, dot)
  const mac = raw.slice(dot + 1)
  return settings.keys.some((key) => constantTimeEqual(mac, sign(key, name, value))) ? value : null
}

/**
 * With an https PUBLIC_URL the BFF usually sits behind a TLS-terminating proxy and sees plain http;
 * the cookies library would then refuse Secure cookies, so the public URL decides instead.
 */
function allowSecure(ctx: Context, settings: CookieSettings): void {
  if (settings.secure) (ctx.cookies as unknown as { secure: boolean }).secure = true
}

export function writeSignedCookie(
  ctx: Context,
  base: string,
  value: string,
  settings: CookieSettings,
  options: { sameSite: 'strict' | 'lax'; maxAgeMs?: number },
): void {
  const name = cookieName(base, settings)
  allowSecure(ctx, settings)
  ctx.cookies.set(name, `${value}.${sign(settings.keys[0], name, value)}`, {
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
