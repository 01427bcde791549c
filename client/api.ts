import type { PublicProvider } from '../shared/provider.ts'
import { CSRF_HEADER, CSRF_VALUE, routes } from '../shared/routes.ts'
import type { LogoutAnswer, SessionInfo } from '../shared/session.ts'
import { errorFromAnswer } from './errors.ts'

/** Query parameters of an API call; an array value repeats the parameter, `undefined` leaves it out. */
export type ApiQuery = Record<string, string | number | boolean | undefined | readonly (string | number | boolean)[]> | URLSearchParams

/** The HTTP methods the proxy forwards. */
export type ApiMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'

/** One call of a provider's API through the BFF's proxy (`/api/<provider>/<path>`). */
export interface ApiCallOptions {
  /** Default `GET`. */
  method?: ApiMethod
  query?: ApiQuery
  /** A JSON body (`application/json`). */
  json?: unknown
  /** A form body (`application/x-www-form-urlencoded`): what OAuth 1.0a APIs sign. */
  form?: Record<string, string> | URLSearchParams
  /** Extra headers for the provider (the BFF drops `Cookie`, `Authorization`, `X-CSRF`, `Origin`, `Referer`). */
  headers?: Record<string, string>
  signal?: AbortSignal
}

/** Options of {@link AllAccessClient.logout}. */
export interface LogoutOptions {
  /** Also sign out at the provider (OpenID Connect RP-Initiated Logout), when it offers that. */
  providerLogout?: boolean
}

/** Options of {@link createAllAccessClient}. */
export interface AllAccessClientOptions {
  /** Where the BFF answers, e.g. `https://bff.example`; default `''`, the page's own origin. */
  baseUrl?: string
  /** A `fetch` to use instead of the global one (tests, server rendering). */
  fetch?: typeof fetch
}

/** The framework-free core the React hooks wrap: every BFF route as one method. */
export interface AllAccessClient {
  /** The BFF's origin (and path prefix) as given, without a trailing slash. */
  readonly baseUrl: string
  /** `GET /auth/session`. `slide: false` reads the session without counting as activity (for polling). */
  getSession(options?: { slide?: boolean; signal?: AbortSignal }): Promise<SessionInfo>
  /** `GET /auth/providers`: the enabled providers, for login buttons. */
  getProviders(options?: { signal?: AbortSignal }): Promise<PublicProvider[]>
  /** The URL that starts a login (or links a provider when someone is signed in); `next` is a local path. */
  loginUrl(provider: string, options?: { next?: string }): string
  /** Leaves the page for {@link AllAccessClient.loginUrl} (`window.location.assign`). */
  login(provider: string, options?: { next?: string }): void
  /**
   * `POST /auth/logout`: ends the session. With `providerLogout`, a session that signed in through an
   * OpenID provider with a sign-out page then leaves the page for it, to sign out there too.
   */
  logout(options?: LogoutOptions): Promise<void>
  /** `DELETE /auth/accounts/:provider`: unlinks the account (the BFF revokes its tokens). */
  disconnect(provider: string): Promise<void>
  /**
   * Calls the provider's API through the proxy and resolves with the parsed answer. Rejects with
   * AllAccessClientError for the BFF's own refusals (`reauth_required`, …) and ProviderApiError for
   * the provider's non-2xx answers.
   */
  api<T = unknown>(provider: string, path: string, options?: ApiCallOptions): Promise<T>
}

/**
 * Keeps an API path relative and encodes only what may not stand in a URL path (spaces,
 * non-ASCII, `?`, `#`, a `%` that starts no escape). Escapes already present stay as given, so an
 * encoded path is not encoded twice; the BFF refuses anything that is not a plain relative path.
 */
export function apiPath(path: string): string {
  return path
    .replace(/^\/+/, '')
    .replace(/%(?![0-9A-Fa-f]{2})/g, '%25')
    .replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/gu, (c) => encodeURIComponent(c))
}

function searchOf(query: ApiQuery = {}): string {
  const params = new URLSearchParams()
  for (const [key, value] of query instanceof URLSearchParams ? query : Object.entries(query)) {
    for (const item of [value].flat()) if (item !== undefined) params.append(key, String(item))
  }
  const search = `${params}`
  return search && `?${search}`
}

/** Reads a body as JSON when it says it is JSON; otherwise (or when it does not parse) as text. */
async function readBody(response: Response): Promise<unknown> {
  const text = await response.text()
  try {
    return /[/+]json\b/i.test(response.headers.get('content-type') ?? '') ? JSON.parse(text) : text
  } catch {
    return text
  }
}

function isCrossOrigin(baseUrl: string): boolean {
  if (!/^[a-z][a-z0-9+.-]*:/i.test(baseUrl)) return false
  return typeof window === 'undefined' || new URL(baseUrl).origin !== window.location.origin
}

/**
 * Makes a client of the BFF. Every call sends `X-CSRF: 1`, and the session cookie
 * (`credentials: 'same-origin'`, or `'include'` when `baseUrl` is another origin).
 */
export function createAllAccessClient(options: AllAccessClientOptions = {}): AllAccessClient {
  const baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '')
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init))
  const credentials: RequestCredentials = isCrossOrigin(baseUrl) ? 'include' : 'same-origin'

  /** One call of the BFF. `type` is the body's Content-Type, unless the caller's headers name one (`application/merge-patch+json`, a charset). */
  async function call<T>(path: string, init: RequestInit = {}, fromProxy = false, type?: string): Promise<T> {
    const headers = new Headers(init.headers)
    headers.set(CSRF_HEADER, CSRF_VALUE)
    if (!headers.has('Accept')) headers.set('Accept', 'application/json')
    if (type && !headers.has('Content-Type')) headers.set('Content-Type', type)
    const response = await doFetch(`${baseUrl}${path}`, { ...init, headers, credentials })
    const body = await readBody(response)
    if (!response.ok) throw errorFromAnswer(response.status, body, fromProxy)
    return (body === '' ? undefined : body) as T
  }

  function loginUrl(provider: string, { next }: { next?: string } = {}): string {
    return `${baseUrl}${routes.login(provider)}${next ? `?${new URLSearchParams({ next })}` : ''}`
  }

  return {
    baseUrl,
    getSession: ({ slide = true, signal } = {}) => call<SessionInfo>(`${routes.session}${slide ? '' : '?slide=false'}`, { signal }),
    getProviders: async ({ signal } = {}) => (await call<{ providers: PublicProvider[] }>(routes.providers, { signal })).providers,
    loginUrl,
    login: (provider, loginOptions) => window.location.assign(loginUrl(provider, loginOptions)),
    async logout({ providerLogout } = {}) {
      const answer = await call<LogoutAnswer | undefined>(routes.logout + (providerLogout ? '?provider_logout=1' : ''), { method: 'POST' })
      if (answer?.logoutUrl) window.location.assign(answer.logoutUrl)
    },
    disconnect: (provider) => call<void>(routes.account(provider), { method: 'DELETE' }),
    api<T>(provider: string, path: string, { method = 'GET', query, json, form, headers, signal }: ApiCallOptions = {}) {
      const [body, type] =
        json !== undefined ? [JSON.stringify(json), 'application/json'] : form !== undefined ? [`${new URLSearchParams(form)}`, 'application/x-www-form-urlencoded'] : []
      return call<T>(routes.api(provider, apiPath(path)) + searchOf(query), { method, body, headers, signal }, true, type)
    },
  }
}
