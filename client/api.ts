import type { PublicProvider } from '../shared/provider.ts'
import { authErrorMessage } from '../shared/auth-errors.ts'
import {
  accountRoute,
  apiPrefix,
  AUTH_ERROR_PARAM,
  CSRF_HEADER,
  CSRF_VALUE,
  loginRoute,
  logoutRoute,
  POPUP_MESSAGE_TYPE,
  providersRoute,
  sessionRoute,
  type LoginPrompt,
} from '../shared/routes.ts'
import type { LogoutAnswer, SessionInfo } from '../shared/session.ts'
import { AllAccessClientError, errorFromAnswer, knownCode } from './errors.ts'

/** Query parameters of an API call; an array value repeats the parameter, `undefined` leaves it out. */
export type ApiQuery = Record<string, string | number | boolean | undefined | readonly (string | number | boolean)[]> | URLSearchParams

/** The HTTP methods the proxy forwards. */
export type ApiMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

// Optional options and props take `undefined` as leaving them out, and say so (`| undefined`): an app
// compiled with exactOptionalPropertyTypes passes its own optional values on (`next={next}`).

/** One call of a provider's API through the BFF's proxy (`/api/<provider>/<path>`). */
export interface ApiCallOptions {
  /** Default `GET`. */
  method?: ApiMethod | undefined
  query?: ApiQuery | undefined
  /** A JSON body (`application/json`). */
  json?: unknown
  /** A form body (`application/x-www-form-urlencoded`): what OAuth 1.0a APIs sign. */
  form?: Record<string, string> | URLSearchParams | undefined
  /**
   * Any other body, sent as it is: a file to upload (a `Blob` or `File`, sent with its own type),
   * `FormData` (multipart; OAuth 1.0a signs no part of it), bytes or text. Name its Content-Type in
   * `headers` when it has none of its own. `json` or `form`, when given, win.
   */
  body?: Blob | FormData | BufferSource | string | undefined
  /** Extra headers for the provider (the BFF drops `Cookie`, `Authorization`, `X-CSRF`, `Origin`, `Referer`). */
  headers?: Record<string, string> | undefined
  signal?: AbortSignal | undefined
}

/** Options of {@link AllAccessClient.logout}. */
export interface LogoutOptions {
  /** Also sign out at the provider (OpenID Connect RP-Initiated Logout), when it offers that. */
  providerLogout?: boolean | undefined
}

/** Options of {@link createAllAccessClient}. */
export interface AllAccessClientOptions {
  /**
   * Where the BFF answers; default `''`, the page's own origin. In a browser the BFF must be on the
   * page's origin, at its root (its session cookie is `SameSite=Strict`, it refuses other origins
   * and sends no CORS headers, and callbacks come back to `PUBLIC_URL/auth/callback/…`), so this is
   * for an absolute URL outside a browser (server rendering, tests).
   */
  baseUrl?: string | undefined
  /** A `fetch` to use instead of the global one (tests, server rendering). */
  fetch?: typeof fetch | undefined
}

/** Options of a login: where to land, the provider's `prompt`, and whether to sign in in a popup. */
export interface LoginOptions {
  /** A local path to land on after a full-page login; anything else becomes `/`. `login` defaults it to the page it leaves (less its `auth_error`), `loginUrl` to `/`. */
  next?: string | undefined
  /** Passed to OAuth 2.0 / OIDC providers: `none` signs in silently or fails with `login_required`. */
  prompt?: LoginPrompt | undefined
  /**
   * Sign in in a popup, keeping the page and its state. Needs the app on the BFF's origin
   * (`PUBLIC_URL`): the popup posts its result to that origin only.
   */
  popup?: boolean | undefined
}

/** The framework-free core the React hooks wrap: every BFF route as one method. */
export interface AllAccessClient {
  /** The BFF's origin (and path prefix) as given, without a trailing slash. */
  readonly baseUrl: string
  /**
   * How far the BFF's clock is ahead of this one, in milliseconds (negative: behind), as the `Date`
   * header of its answers tells (not a proxied one's): what turns its times (`expiresAt`) into this
   * clock's. 0 before any answer, for answers without the header, and for a skew under 2 s, which
   * the header's whole seconds cannot tell from none; it changes only when a reading differs by 2 s.
   * Optional, so that a client of an app's own making still compiles: without it, the clocks agree.
   */
  clockSkew?(): number
  /** `GET /auth/session`. `slide: false` reads the session without counting as activity (for polling). */
  getSession(options?: { slide?: boolean | undefined; signal?: AbortSignal | undefined }): Promise<SessionInfo>
  /** `GET /auth/providers`: the enabled providers, for login buttons. */
  getProviders(options?: { signal?: AbortSignal | undefined }): Promise<PublicProvider[]>
  /** The URL that starts a login (or links a provider when someone is signed in); `next` is a local path. */
  loginUrl(provider: string, options?: LoginOptions): string
  /**
   * Starts a login. Without `popup` it leaves the page for {@link AllAccessClient.loginUrl}, coming
   * back to `next` or else this page (the promise never settles). With `popup: true` it opens the login in a popup and resolves when the
   * popup reports success, or rejects with AllAccessClientError: the login's code
   * (`login_required`, …), or `access_denied` when the popup is closed (once this page has the
   * focus back: a popup the provider cut off reads as closed while still open). A blocked popup falls back
   * to the full-page login, landing on `next` or else the current page.
   */
  login(provider: string, options?: LoginOptions): Promise<void>
  /**
   * `POST /auth/logout`: ends the session. With `providerLogout`, a session that signed in through an
   * OpenID provider with a sign-out page then leaves the page for it, to sign out there too.
   */
  logout(options?: LogoutOptions): Promise<void>
  /** `DELETE /auth/accounts/:provider`: unlinks the account (the BFF revokes its tokens). */
  disconnect(provider: string): Promise<void>
  /**
   * Calls the provider's API through the proxy and resolves with the answer: parsed JSON, text (`''`
   * for an empty answer, a 204), or a Blob of bytes that are not UTF-8 text (an image, a file). Rejects with
   * AllAccessClientError for the BFF's own refusals (`reauth_required`, …) and ProviderApiError for
   * the provider's non-2xx answers. A path with `.` or `..` segments (`%2e` too) is refused with
   * `invalid_path`: it never reaches another provider's API or the BFF's own routes.
   */
  api<T = unknown>(provider: string, path: string, options?: ApiCallOptions): Promise<T>
}

/**
 * Keeps an API path relative and encodes only what may not stand in a URL path (spaces,
 * non-ASCII, `?`, `#`, a `%` that starts no escape). Escapes already present stay as given, so an
 * encoded path is not encoded twice; the BFF refuses anything that is not a plain relative path,
 * dot segments included (kept from the browser's URL resolution here).
 */
export function apiPath(path: string): string {
  return path
    .replace(/^\/+/, '')
    .replace(/%(?![\da-f]{2})/gi, '%25')
    // What a path segment may hold (RFC 3986: unreserved, sub-delims, `:`, `@`), `/` and the escapes;
    // without the `i` flag `\w` is exactly ASCII letters, digits and `_`. Half an emoji (a string cut by
    // slice), which encodeURIComponent would throw URIError on in the render of the hook that keys the
    // call, stays for the URL parser to send as U+FFFD, as the query's encoding does.
    .replace(/[^\w.~!$&'()*+,;=:@/%\p{Cs}-]/gu, encodeURIComponent)
    // A browser resolves `.` and `..` segments (`%2e` too) before the request leaves, so the BFF
    // would never see them to refuse: an escaped slash in front keeps them, and the BFF refuses that.
    .replace(/(^|\/)(?=(\.|%2e){1,2}(\/|$))/gi, '$1%2F')
}

function searchOf(query: ApiQuery = {}): string {
  const params = new URLSearchParams()
  for (const [key, value] of query instanceof URLSearchParams ? query : Object.entries(query)) {
    for (const item of [value].flat()) if (item !== undefined) params.append(key, String(item))
  }
  const search = `${params}`
  return search && `?${search}`
}

/**
 * Reads a body as JSON when it says it is JSON; otherwise (or when it does not parse) as text; and
 * bytes that are not UTF-8 text (an image, a file) as a Blob, which text would have mangled.
 */
async function readBody(response: Response): Promise<unknown> {
  const blob = await response.blob()
  let text: string | undefined
  try {
    text = new TextDecoder(undefined, { fatal: true }).decode(await blob.arrayBuffer())
    return /[/+]json\b/i.test(response.headers.get('content-type') ?? '') ? JSON.parse(text) : text
  } catch {
    return text ?? blob
  }
}

/**
 * This page's address without the `auth_error` a failed login came back with, and that code (null
 * when there is none). The address is written anew only when there was one to take out.
 */
export function pageWithoutAuthError(): [URL, string | null] {
  const url = new URL(location.href)
  const found = url.searchParams.get(AUTH_ERROR_PARAM)
  if (found !== null) url.searchParams.delete(AUTH_ERROR_PARAM)
  return [url, found]
}

/** Calls `tick` four times a second until the function it returns is called: the popup login's watch and useSessionExpiry's clock. */
export function everyQuarterSecond(tick: () => void): () => void {
  const timer = setInterval(tick, 250)
  return () => clearInterval(timer)
}

/**
 * Makes a client of the BFF. Every call sends `X-CSRF: 1`, and the session cookie (fetch's own
 * `credentials: 'same-origin'`: the BFF answers on the page's origin).
 */
export function createAllAccessClient(options: AllAccessClientOptions = {}): AllAccessClient {
  const baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '')
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init))
  let skew = 0

  /** One call of the BFF. `type` is the body's Content-Type, unless the caller's headers name one (`application/merge-patch+json`, a charset). */
  async function call<T>(path: string, init: RequestInit, fromProxy?: boolean, type?: string): Promise<T> {
    const headers = new Headers(init.headers)
    headers.set(CSRF_HEADER, CSRF_VALUE)
    if (!headers.has('Accept')) headers.set('Accept', 'application/json')
    if (type && !headers.has('Content-Type')) headers.set('Content-Type', type)
    const response = await doFetch(baseUrl + path, { ...init, headers })
    // The BFF's own answers only: a proxied one may come from the browser's cache, dated then. The
    // header is cut down to the second, so the skew reads up to a second (and the trip) behind: a
    // count toward the server's end ends late, never early. A reading within 2 s of the last one
    // changes nothing (the count would step back a second and end twice); no header (NaN), nothing either.
    const seen = fromProxy ? NaN : Date.parse(response.headers.get('date') ?? '') - Date.now()
    if (Math.abs(seen - skew) >= 2000) skew = Math.abs(seen) < 2000 ? 0 : seen
    const body = await readBody(response)
    if (!response.ok) throw errorFromAnswer(response.status, body, fromProxy)
    // The BFF's own empty answers (204) are nothing; a provider's is its text, '', which a query may hold (not undefined).
    return (body === '' && !fromProxy ? undefined : body) as T
  }

  function loginUrl(provider: string, { next, prompt, popup }: LoginOptions = {}): string {
    return baseUrl + loginRoute(provider) + searchOf({ next: next || undefined, prompt, display: popup ? 'popup' : undefined })
  }

  /** A popup login: the popup page's message counts only from the BFF's origin and from that popup. */
  function login(provider: string, options: LoginOptions = {}): Promise<void> {
    const popup = options.popup && open(loginUrl(provider, options), 'all-access-login', 'popup')
    return new Promise((resolve, reject) => {
      // A full-page login (a blocked popup's too) comes back, unless `next` says where, to this page, fragment and
      // all (a hash-routed app's route): a "Reconnect" pressed on a page of the app must not land on its home.
      // Less a failed login's auth_error that no useAuthError took away: back from a login that succeeded, the page would show the old failure.
      if (!popup) return location.assign(loginUrl(provider, { ...options, popup: false, next: options.next ?? pageWithoutAuthError()[0].href.slice(location.origin.length) }))
      const origin = new URL(baseUrl, location.href).origin
      // A popup cut off from this page by the provider's Cross-Origin-Opener-Policy reports its
      // result here: a BroadcastChannel reaches only pages of the BFF's origin, as the popup's page is.
      // Every such page: while this page's popup is not cut off (it reads as closed once it is), a
      // result there is another tab's.
      const channel = new BroadcastChannel(POPUP_MESSAGE_TYPE)
      let closedTicks = 0
      const settle = ({ ok, error }: { ok?: boolean; error?: unknown }) => {
        stopWatching()
        removeEventListener('message', onMessage)
        channel.close()
        if (ok) return resolve()
        const code = knownCode(error)
        reject(new AllAccessClientError(code, 0, authErrorMessage(code)))
      }
      const onMessage = ({ origin: from, source, data }: MessageEvent) => {
        if (from === origin && source === popup && data?.type === POPUP_MESSAGE_TYPE) settle(data)
      }
      channel.onmessage = ({ data }) => popup.closed && data?.type === POPUP_MESSAGE_TYPE && settle(data)
      // Seen closed twice: the page's message, posted just before it closed, has had its turn. A cut-off
      // popup reads as closed at once, while it still holds the provider's page and the focus: only
      // once this page has the focus back has the user closed it.
      const stopWatching = everyQuarterSecond(() => popup.closed && document.hasFocus() && ++closedTicks > 1 && settle({ error: 'access_denied' }))
      addEventListener('message', onMessage)
    })
  }

  return {
    baseUrl,
    clockSkew: () => skew,
    getSession: ({ slide = true, signal } = {}) => call<SessionInfo>(sessionRoute + (slide ? '' : '?slide=false'), { signal }),
    getProviders: async ({ signal } = {}) => (await call<{ providers: PublicProvider[] }>(providersRoute, { signal })).providers,
    loginUrl,
    login,
    async logout({ providerLogout } = {}) {
      const answer = await call<LogoutAnswer | undefined>(logoutRoute + (providerLogout ? '?provider_logout=1' : ''), { method: 'POST' })
      if (answer?.logoutUrl) location.assign(answer.logoutUrl)
    },
    disconnect: (provider) => call<void>(accountRoute(provider), { method: 'DELETE' }),
    api<T>(provider: string, path: string, { method = 'GET', query, json, form, body: given, headers, signal }: ApiCallOptions = {}) {
      // A given body's type is fetch's to set: a Blob's own, FormData's with its boundary.
      const [body, type] =
        json !== undefined ? [JSON.stringify(json), 'application/json'] : form !== undefined ? [`${new URLSearchParams(form)}`, 'application/x-www-form-urlencoded'] : [given]
      return call<T>(apiPrefix(provider) + apiPath(path) + searchOf(query), { method, body, headers, signal }, true, type)
    },
  }
}
