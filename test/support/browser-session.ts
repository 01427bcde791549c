/**
 * A tiny cookie-keeping HTTP client that behaves like a browser tab for the flows: it follows
 * redirects across origins, keeps cookies per host name as browsers do, whatever the port (honouring
 * Path, Max-Age/Expires and deletion), and can stop at the app's own redirect to inspect it.
 *
 * It honours `SameSite` as Chromium does: a navigation whose redirect chain (or initiator) touched
 * another site sends no `Strict` cookie, and `Lax` ones only on a GET. A jar that ignored this hid a
 * broken account linking once: real providers are on another site than the app.
 */
export interface StoredCookie {
  name: string
  value: string
  host: string
  path: string
  attributes: string
}

export class BrowserSession {
  readonly cookies: StoredCookie[] = []
  /** Every raw Set-Cookie header seen, by host, for attribute assertions. */
  readonly setCookieHeaders: { host: string; header: string }[] = []

  cookieHeader(url: URL, request: CookieContext = {}): string {
    return this.cookies
      .filter((c) => c.host === url.hostname && url.pathname.startsWith(c.path))
      .filter((c) => {
        if (!request.crossSite) return true
        const sameSite = /samesite=(\w+)/i.exec(c.attributes)?.[1]?.toLowerCase() ?? 'lax'
        if (sameSite === 'strict') return false
        return sameSite === 'none' || (request.navigation === true && (request.method ?? 'GET') === 'GET')
      })
      .map((c) => `${c.name}=${c.value}`)
      .join('; ')
  }

  cookie(name: string): StoredCookie | undefined {
    return this.cookies.find((c) => c.name === name)
  }

  private store(url: URL, headers: Headers): void {
    for (const header of headers.getSetCookie()) {
      this.setCookieHeaders.push({ host: url.hostname, header })
      const [pair, ...rest] = header.split(';')
      const eq = pair.indexOf('=')
      const name = pair.slice(0, eq).trim()
      const value = pair.slice(eq + 1).trim()
      const attributes = rest.join(';')
      const path = /path=([^;]+)/i.exec(attributes)?.[1]?.trim() ?? '/'
      const expires = /expires=([^;]+)/i.exec(attributes)?.[1]
      const maxAge = /max-age=([^;]+)/i.exec(attributes)?.[1]
      const gone = value === '' || (expires && new Date(expires).getTime() <= Date.now()) || (maxAge !== undefined && Number(maxAge) <= 0)
      const index = this.cookies.findIndex((c) => c.name === name && c.host === url.hostname && c.path === path)
      if (index >= 0) this.cookies.splice(index, 1)
      if (!gone) this.cookies.push({ name, value, host: url.hostname, path, attributes })
    }
  }

  /** One request, no redirect following; cookies sent and stored. By default a same-site request (the app calling its BFF). */
  async fetch(input: string | URL, init: RequestInit = {}, request: CookieContext = {}): Promise<Response> {
    const url = new URL(input)
    const headers = new Headers(init.headers)
    const cookie = this.cookieHeader(url, { ...request, method: init.method })
    if (cookie) headers.set('Cookie', cookie)
    const response = await fetch(url, { ...init, headers, redirect: 'manual' })
    this.store(url, response.headers)
    return response
  }

  /**
   * Follows redirects from `start` until a response is not a redirect, or until a redirect whose
   * target `stopAt` accepts (then that Location is returned without being requested).
   */
  async navigate(
    start: string | URL,
    options: { stopAt?: (location: URL) => boolean; init?: RequestInit; maxHops?: number; /** the page that starts the navigation; default the start URL's own */ from?: string | URL } = {},
  ) {
    let url = new URL(start)
    let init: RequestInit | undefined = options.init
    const hops: URL[] = [url]
    const chain = [siteOf(new URL(options.from ?? start))]
    for (let hop = 0; hop < (options.maxHops ?? 20); hop++) {
      chain.push(siteOf(url))
      const response = await this.fetch(url, init, { navigation: true, crossSite: chain.some((site) => site !== siteOf(url)) })
      const location = response.headers.get('location')
      if (response.status < 300 || response.status >= 400 || !location) return { response, url, hops }
      const nextUrl = new URL(location, url)
      if (options.stopAt?.(nextUrl)) {
        await response.body?.cancel()
        return { response, url: nextUrl, hops, stopped: true as const }
      }
      await response.body?.cancel()
      url = nextUrl
      init = undefined
      hops.push(url)
    }
    throw new Error(`too many redirects from ${start}`)
  }
}

export interface CookieContext {
  /** The request's initiator, or a hop of its redirect chain, is on another site than its target. */
  crossSite?: boolean
  /** A top-level navigation (Lax cookies go along on a cross-site GET navigation). */
  navigation?: boolean
  method?: string
}

/** A site as SameSite judges it: scheme and host name; ports do not count. */
function siteOf(url: URL): string {
  return `${url.protocol}//${url.hostname}`
}
