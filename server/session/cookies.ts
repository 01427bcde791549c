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
 * The value of the first cookie called `name` in a `Cookie` header, read as the `cookies` package
 * reads it (`(?:^|;) *name=([^;]*)`, a leading quote and the last character dropped), in one
 * pass: every request reads its session cookie, and Koa's `ctx.cookies` builds a jar per request
 * to do it.
 */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined
  let start = 0
  while (start <= header.length) {
    let end = header.indexOf(';', start)
    if (end < 0) end = header.length
    let at = start
    while (header.charCodeAt(at) === 32) at++
    if (header.startsWith(name, at) && header.charCodeAt(at + name.length) === 61 /* = */) {
      const value = header.slice(at + name.length + 1, end)
      return value[0] === '"' ? value.slice(1, -1) : value
    }
    start = end + 1
  }
  return undefined
}

/**
 * The `<name>.sig` twin of one of the BFF's cookies, when the request carries one: the BFF signs
 * none, so another middleware writes under its name (koa-session keyed `allaccess_session`, a
 * `ctx.cookies.set` with `app.keys`), and replaces the BFF's id with its own value.
 */
export function signedTwinOfBffCookie(header: string | undefined, settings: CookieSettings): string | null {
  for (const base of [SESSION_COOKIE, FLOW_COOKIE]) {
    const name = `${cookieName(base, settings)}.sig`
    if (cookieValue(header, name) !== undefined) return name
  }
  return null
}

/**
 * Cookies hold only a random 256-bit id, stored hashed: unguessable without any key-bound signature,
 * so rotating ALLACCESS_KEYS signs nobody out and ends no login in flight.
 */
export function readIdCookie(ctx: Context, base: string, settings: CookieSettings): string | null {
  const raw = cookieValue(ctx.req.headers.cookie, cookieName(base, settings))
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
    // Never a `.sig` cookie beside it, which Koa adds to every cookie once a host app sets `app.keys` (koa-session needs them).
    signed: false,
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
    signed: false,
  })
}
