import type { PublicProvider } from '../shared/provider.ts'
import { AUTH_ERROR_PARAM, CSRF_HEADER, CSRF_VALUE } from '../shared/routes.ts'
import type { SessionInfo } from '../shared/session.ts'
import { AllAccessClientError, errorFromAnswer } from './errors.ts'

export interface ApiCallOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  query?: Record<string, string | number | boolean | undefined> | URLSearchParams
  /** A JSON body. */
  json?: unknown
  /** A form body (`application/x-www-form-urlencoded`): what OAuth 1.0a APIs sign. */
  form?: Record<string, string> | URLSearchParams
  headers?: Record<string, string>
  signal?: AbortSignal
}

export interface AllAccessClientOptions {
  /** Where the BFF answers; default the page's own origin. */
  baseUrl?: string
  fetch?: typeof fetch
}

/** The framework-free core the React hooks wrap: every BFF route as one method. */
export interface AllAccessClient {
  baseUrl: string
  getSession(options?: { slide?: boolean; signal?: AbortSignal }): Promise<SessionInfo>
  getProviders(options?: { signal?: AbortSignal }): Promise<PublicProvider[]>
  loginUrl(provider: string, options?: { next?: string }): string
  login(provider: string, options?: { next?: string }): void
  logout(): Promise<void>
  disconnect(provider: string): Promise<void>
  api<T = unknown>(provider: string, path: string, options?: ApiCallOptions): Promise<T>
  authErrorFrom(url: string): string | null
}

/**
 * Keeps an API path relative and encodes only what may not stand in a URL path (spaces, non-ASCII);
 * escapes already present stay as given, so an encoded path is not encoded twice.
 */
export function apiPath(path: string): string {
  return path.replace(/^\/+/, '').replace(/[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]/gu, (c) => encodeURIComponent(c))
}

export function createAllAccessClient(options: AllAccessClientOptions = {}): AllAccessClient {
  const baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '')
  const doFetch = options.fetch ?? ((input, init) => fetch(input, init))
  const crossOrigin = baseUrl !== '' && typeof window !== 'undefined' && new URL(baseUrl, window.location.href).origin !== window.location.origin

  async function call<T>(path: string, init: RequestInit & { fromProxy?: boolean } = {}): Promise<T> {
    const { fromProxy = false, ...requestInit } = init
    const headers = new Headers(requestInit.headers)
    headers.set(CSRF_HEADER, CSRF_VALUE)
    if (!headers.has('Accept')) headers.set('Accept', 'application/json')
    const response = await doFetch(`${baseUrl}${path}`, { ...requestInit, headers, credentials: crossOrigin ? 'include' : 'same-origin' })
    const text = await response.text()
    let body: unknown = text
    if (text && /json/i.test(response.headers.get('content-type') ?? '')) {
      try {
        body = JSON.parse(text)
      } catch {
        body = text
      }
    }
    if (!response.ok) throw errorFromAnswer(response.status, body, fromProxy)
    return (text === '' ? undefined : body) as T
  }

  return {
    baseUrl,
    getSession: ({ slide = true, signal } = {}) => call<SessionInfo>(`/auth/session${slide ? '' : '?slide=false'}`, { signal }),
    getProviders: async ({ signal } = {}) => (await call<{ providers: PublicProvider[] }>('/auth/providers', { signal })).providers,
    loginUrl(provider, { next } = {}) {
      const query = next ? `?${new URLSearchParams({ next })}` : ''
      return `${baseUrl}/auth/login/${encodeURIComponent(provider)}${query}`
    },
    login(provider, loginOptions) {
      window.location.assign(this.loginUrl(provider, loginOptions))
    },
    logout: () => call<void>('/auth/logout', { method: 'POST' }),
    disconnect: (provider) => call<void>(`/auth/accounts/${encodeURIComponent(provider)}`, { method: 'DELETE' }),
    api<T>(provider: string, path: string, { method = 'GET', query, json, form, headers = {}, signal }: ApiCallOptions = {}) {
      const params = query instanceof URLSearchParams ? query : new URLSearchParams(Object.entries(query ?? {}).filter(([, v]) => v !== undefined).map(([k, v]) => [k, String(v)]))
      const search = params.toString() ? `?${params}` : ''
      let body: string | undefined
      const requestHeaders: Record<string, string> = { ...headers }
      if (json !== undefined) {
        body = JSON.stringify(json)
        requestHeaders['Content-Type'] = 'application/json'
      } else if (form !== undefined) {
        body = new URLSearchParams(form).toString()
        requestHeaders['Content-Type'] = 'application/x-www-form-urlencoded'
      }
      return call<T>(`/api/${encodeURIComponent(provider)}/${apiPath(path)}${search}`, { method, body, headers: requestHeaders, signal, fromProxy: true })
    },
    authErrorFrom(url) {
      return new URL(url, 'http://local.invalid').searchParams.get(AUTH_ERROR_PARAM)
    },
  }
}

export { AllAccessClientError }
