// @vitest-environment jsdom
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { act, cleanup, fireEvent, render, renderHook, screen, waitFor } from '@testing-library/react'
import { QueryClient, QueryClientProvider, useQueryClient } from '@tanstack/react-query'
import { Blob as NodeBlob } from 'node:buffer'
import { useLayoutEffect, useState, type ReactNode } from 'react'
import {
  AllAccessClientError,
  AllAccessProvider,
  ProviderApiError,
  createAllAccessClient,
  isReauthRequired,
  LoginButton,
  useAuthError,
  useDisconnect,
  useLogin,
  useLogout,
  useProviderApi,
  useProviderMutation,
  useProviders,
  useSession,
  useSessionExpiry,
  allAccessKeys,
  type AccountSummary,
  type AllAccessClient,
  type SessionExpiry,
} from '../client/index.ts'
import { BrowserSession } from './support/browser-session.ts'
import { openDatabase, parseDatabaseUrl } from '../server/store/database.ts'
import { hashId } from '../server/crypto/random.ts'
import { SESSION_COOKIE } from '../server/session/cookies.ts'
import { databases } from './support/databases.ts'
import { startServe, type RunningServe } from './support/demo-server.ts'
import { startRecordingServer, type RecordedRequest as Received } from './support/recording-server.ts'
import { sandboxLogin } from './support/sandbox-login.ts'
import { cacheLapse } from './support/eventually.ts'


/**
 * The hooks against a small real HTTP server on 127.0.0.1 that answers the BFF's routes from an
 * in-memory state and records every request: what the hooks send and how they follow the answers.
 */
describe('the React hooks against a recording HTTP server', () => {
  let recorder: Awaited<ReturnType<typeof startRecordingServer>>
  let baseUrl: string
  let received: Received[]
  const providers = [
    { name: 'sandbox-oauth1', displayName: 'Sandbox OAuth 1.0a', protocol: 'oauth1' },
    { name: 'sandbox-oidc', displayName: 'Sandbox OpenID', protocol: 'oidc' },
  ]
  let state: { authenticated: boolean; accounts: AccountSummary[] }
  const account = (provider: string, identifier: string): AccountSummary => ({ provider, identifier, displayName: null, status: 'active', connectedAt: '2025-01-01T00:00:00.000Z' })
  const requests = (method: string, path: string) => received.filter((r) => r.method === method && r.url.split('?')[0] === path)

  function answer({ method, url, headers, body }: Received): [number, unknown?] {
    const { pathname, searchParams } = new URL(url, 'http://x')
    if (pathname === '/auth/providers') return [200, { providers }]
    if (pathname === '/auth/session') {
      return [200, state.authenticated ? { authenticated: true, user: { id: '7', displayName: 'Alice Liddell' }, accounts: state.accounts, expiresAt: '2030-01-01T00:00:00.000Z' } : { authenticated: false }]
    }
    if (method === 'POST' && pathname === '/auth/logout') {
      const signedIn = state.authenticated
      state = { authenticated: false, accounts: [] }
      // A provider's sign-out page, played by a new fragment of this page: jsdom navigates only within a page.
      if (signedIn && searchParams.get('provider_logout') === '1') return [200, { logoutUrl: `${window.location.href.split('#')[0]}#signed-out-at-provider` }]
      return [204]
    }
    const unlink = /^\/auth\/accounts\/([^/]+)$/.exec(pathname)
    if (method === 'DELETE' && unlink) {
      if (!state.accounts.some((a) => a.provider === unlink[1])) return [404, { error: 'account_not_found', message: 'No such account.' }]
      state.accounts = state.accounts.filter((a) => a.provider !== unlink[1])
      return [204]
    }
    if (pathname === '/api/sandbox-oidc/me') return [200, { sub: 'alice', fields: searchParams.getAll('fields') }]
    // GitHub's "is this repository starred?": 204 and no body for yes.
    if (pathname === '/api/sandbox-oidc/user/starred/octo/hello') return [204]
    if (pathname === '/api/sandbox-oauth1/account/verify_credentials.json') {
      state.accounts = state.accounts.map((a) => (a.provider === 'sandbox-oauth1' ? { ...a, status: 'reauth_required' } : a))
      return [401, { error: 'reauth_required', message: 'Sign in with this provider again.' }]
    }
    if (method === 'POST' && pathname.startsWith('/api/')) return [201, { method, contentType: headers['content-type'], body }]
    return [404, { message: 'Not Found' }]
  }

  beforeAll(async () => {
    recorder = await startRecordingServer((request) => {
      const [status, body] = answer(request)
      return body === undefined ? { status } : { status, body: JSON.stringify(body), type: 'application/json' }
    })
    received = recorder.received
    baseUrl = recorder.url
  })

  beforeEach(() => {
    received.length = 0
    state = { authenticated: true, accounts: [account('sandbox-oidc', 'alice'), account('sandbox-oauth1', '1001')] }
  })

  afterEach(() => cleanup())

  afterAll(() => recorder.close())

  /** A fresh cache per test, with TanStack's default retries: the hooks must turn them off for 4xx answers themselves. */
  function wrapper(options: { client?: AllAccessClient } = {}) {
    const queryClient = new QueryClient()
    return ({ children }: { children: ReactNode }) => (
      <AllAccessProvider baseUrl={baseUrl} client={options.client} queryClient={queryClient}>
        {children}
      </AllAccessProvider>
    )
  }

  it('useSession reads a signed-in session with its accounts', async () => {
    const { result } = renderHook(() => useSession(), { wrapper: wrapper() })
    await waitFor(() => expect(result.current.isSuccess).toBe(true))
    expect(result.current.data).toEqual(expect.objectContaining({ authenticated: true, user: { id: '7', displayName: 'Alice Liddell' }, accounts: state.accounts }))
    expect(received[0].headers['x-csrf']).toBe('1')
  })

  it('useSession reads an anonymous visitor', async () => {
    state.authenticated = false
    const { result } = renderHook(() => useSession(), { wrapper: wrapper() })
    await waitFor(() => expect(result.current.data).toEqual({ authenticated: false }))
  })

  it('useSession takes slide: false and TanStack options such as select', async () => {
    const { result } = renderHook(() => useSession({ slide: false, select: (s) => s.authenticated }), { wrapper: wrapper() })
    await waitFor(() => expect(result.current.data).toBe(true))
    expect(received.map((r) => r.url)).toEqual(['/auth/session?slide=false'])
  })

  it('useProviders lists the enabled providers', async () => {
    const { result } = renderHook(() => useProviders(), { wrapper: wrapper() })
    await waitFor(() => expect(result.current.data).toEqual(providers))
  })

  it('LoginButton is a button named "Sign in with <display name>" that starts the login on click', async () => {
    state.authenticated = false
    const base = createAllAccessClient({ baseUrl })
    const login = vi.fn(() => new Promise<void>(() => {}))
    render(<LoginButton provider="sandbox-oidc" next="/after" className="big" />, { wrapper: wrapper({ client: { ...base, login } }) })
    const button = await screen.findByRole('button', { name: 'Sign in with Sandbox OpenID' })
    expect(button.getAttribute('type')).toBe('button')
    expect(button.className).toBe('big')
    fireEvent.click(button)
    expect(login).toHaveBeenCalledWith('sandbox-oidc', { next: '/after' })
    expect(base.loginUrl('sandbox-oidc', { next: '/after' })).toBe(`${baseUrl}/auth/login/sandbox-oidc?next=%2Fafter`)
  })

  it('LoginButton offers "Connect <display name>" when someone is signed in, and falls back to the provider name', async () => {
    render(
      <>
        <LoginButton provider="sandbox-oauth1" />
        <LoginButton provider="github" />
      </>,
      { wrapper: wrapper() },
    )
    await screen.findByRole('button', { name: 'Connect Sandbox OAuth 1.0a' })
    await screen.findByRole('button', { name: 'Connect github' })
  })

  it('useLogin gives login and the login URL', () => {
    const { result } = renderHook(() => useLogin(), { wrapper: wrapper() })
    expect(result.current.loginUrl('sandbox-oauth1', { next: '/x' })).toBe(`${baseUrl}/auth/login/sandbox-oauth1?next=%2Fx`)
    expect(result.current.login).toBeTypeOf('function')
  })

  it('useLogout posts the logout, and the session query refetches', async () => {
    const { result } = renderHook(() => ({ session: useSession(), logout: useLogout() }), { wrapper: wrapper() })
    await waitFor(() => expect(result.current.session.data?.authenticated).toBe(true))
    await act(() => result.current.logout.mutateAsync())
    expect(requests('POST', '/auth/logout')).toEqual([expect.objectContaining({ headers: expect.objectContaining({ 'x-csrf': '1' }) })])
    expect(requests('GET', '/auth/session')).toHaveLength(2)
    await waitFor(() => expect(result.current.session.data).toEqual({ authenticated: false }))
  })

  it('useLogout({ providerLogout: true }) asks for the provider sign-out and leaves for the URL it is given', async () => {
    const { result } = renderHook(() => ({ session: useSession(), logout: useLogout() }), { wrapper: wrapper() })
    await waitFor(() => expect(result.current.session.data?.authenticated).toBe(true))
    const before = window.location.href
    try {
      await act(() => result.current.logout.mutateAsync({ providerLogout: true }))
      expect(requests('POST', '/auth/logout').map((r) => r.url)).toEqual(['/auth/logout?provider_logout=1'])
      expect(window.location.hash).toBe('#signed-out-at-provider')
      await waitFor(() => expect(result.current.session.data).toEqual({ authenticated: false }))
    } finally {
      window.history.replaceState(null, '', before)
    }
  })

  it('useLogout({ providerLogout: true }) stays on the page when there is no provider sign-out (204)', async () => {
    state.authenticated = false
    const { result } = renderHook(() => ({ logout: useLogout() }), { wrapper: wrapper() })
    const before = window.location.href
    await act(() => result.current.logout.mutateAsync({ providerLogout: true }))
    expect(requests('POST', '/auth/logout').map((r) => r.url)).toEqual(['/auth/logout?provider_logout=1'])
    expect(window.location.href).toBe(before)
  })

  it('useDisconnect deletes the account, and the session query refetches', async () => {
    const { result } = renderHook(() => ({ session: useSession(), disconnect: useDisconnect() }), { wrapper: wrapper() })
    await waitFor(() => expect(result.current.session.data?.authenticated).toBe(true))
    await act(() => result.current.disconnect.mutateAsync('sandbox-oauth1'))
    expect(requests('DELETE', '/auth/accounts/sandbox-oauth1')).toHaveLength(1)
    await waitFor(() => expect(result.current.session.data?.authenticated && result.current.session.data.accounts.map((a) => a.provider)).toEqual(['sandbox-oidc']))
  })

  it('useDisconnect fails with the contract code for an unknown account', async () => {
    const { result } = renderHook(() => useDisconnect(), { wrapper: wrapper() })
    const error = await act(() => result.current.mutateAsync('github').catch((e: unknown) => e))
    expect(error).toEqual(expect.objectContaining({ name: 'AllAccessClientError', code: 'account_not_found', status: 404 }))
  })

  it('useProviderApi GETs the path through the proxy with its query', async () => {
    const { result } = renderHook(() => useProviderApi<{ sub: string; fields: string[] }>('sandbox-oidc', 'me', { query: { fields: ['name', 'email'] } }), { wrapper: wrapper() })
    await waitFor(() => expect(result.current.data).toEqual({ sub: 'alice', fields: ['name', 'email'] }))
    expect(received.map((r) => `${r.method} ${r.url}`)).toEqual(['GET /api/sandbox-oidc/me?fields=name&fields=email'])
    expect(received[0].headers['x-csrf']).toBe('1')
  })

  it('useProviderApi waits while enabled is false, and applies select', async () => {
    const { result, rerender } = renderHook(({ enabled }) => useProviderApi('sandbox-oidc', 'me', { enabled, select: (me) => (me as { sub: string }).sub }), {
      wrapper: wrapper(),
      initialProps: { enabled: false },
    })
    await new Promise((resolve) => setTimeout(resolve, 50))
    expect(received).toHaveLength(0)
    rerender({ enabled: true })
    await waitFor(() => expect(result.current.data).toBe('alice'))
  })

  it('useProviderApi surfaces reauth_required as an error with that code, without retrying, and the session follows', async () => {
    const { result } = renderHook(() => ({ api: useProviderApi('sandbox-oauth1', 'account/verify_credentials.json'), session: useSession() }), { wrapper: wrapper() })
    await waitFor(() => expect(result.current.api.error).toBeInstanceOf(AllAccessClientError))
    expect(result.current.api.error).toEqual(expect.objectContaining({ code: 'reauth_required', status: 401 }))
    expect(isReauthRequired(result.current.api.error)).toBe(true)
    expect(requests('GET', '/api/sandbox-oauth1/account/verify_credentials.json')).toHaveLength(1)
    await waitFor(() => {
      const session = result.current.session.data
      expect(session?.authenticated && session.accounts.find((a) => a.provider === 'sandbox-oauth1')?.status).toBe('reauth_required')
    })
  })

  it("useProviderApi reads an empty answer (204) as its text, '': TanStack Query refuses undefined as a query's data", async () => {
    const { result } = renderHook(() => useProviderApi('sandbox-oidc', 'user/starred/octo/hello'), { wrapper: wrapper() })
    await waitFor(() => expect(result.current.isFetched).toBe(true))
    expect(result.current.error).toBeNull()
    expect(result.current.data).toBe('')
    expect(requests('GET', '/api/sandbox-oidc/user/starred/octo/hello')).toHaveLength(1)
  })

  it("useProviderApi passes the provider's own 4xx answer on as ProviderApiError, without retrying", async () => {
    const { result } = renderHook(() => useProviderApi('sandbox-oidc', 'no-such-endpoint'), { wrapper: wrapper() })
    await waitFor(() => expect(result.current.error).toBeInstanceOf(ProviderApiError))
    expect(result.current.error).toEqual(expect.objectContaining({ status: 404, body: { message: 'Not Found' } }))
    expect(requests('GET', '/api/sandbox-oidc/no-such-endpoint')).toHaveLength(1)
  })

  it('useProviderMutation sends a JSON body', async () => {
    const { result } = renderHook(() => useProviderMutation('sandbox-oidc'), { wrapper: wrapper() })
    const answer = await act(() => result.current.mutateAsync({ path: 'notes', json: { text: 'from a hook' } }))
    expect(answer).toEqual({ method: 'POST', contentType: 'application/json', body: '{"text":"from a hook"}' })
    expect(received.map((r) => `${r.method} ${r.url}`)).toEqual(['POST /api/sandbox-oidc/notes'])
    expect(received[0].headers['x-csrf']).toBe('1')
    await waitFor(() => expect(result.current.data).toEqual(answer))
  })

  it('useProviderMutation sends a form body with the method asked for', async () => {
    const { result } = renderHook(() => useProviderMutation('sandbox-oauth1'), { wrapper: wrapper() })
    await act(() => result.current.mutateAsync({ path: 'statuses/update.json', form: { status: 'Hello & welcome' } }))
    expect(received[0]).toEqual(expect.objectContaining({ method: 'POST', url: '/api/sandbox-oauth1/statuses/update.json', body: 'status=Hello+%26+welcome' }))
    expect(received[0].headers['content-type']).toBe('application/x-www-form-urlencoded')
    const del = await act(() => result.current.mutateAsync({ path: 'statuses/destroy/1.json', method: 'DELETE' }).catch((e: unknown) => e))
    expect(del).toBeInstanceOf(ProviderApiError)
    expect(received[1]).toEqual(expect.objectContaining({ method: 'DELETE', url: '/api/sandbox-oauth1/statuses/destroy/1.json' }))
  })

  it('useProviderMutation uploads a file', async () => {
    const { result } = renderHook(() => useProviderMutation('sandbox-oidc'), { wrapper: wrapper() })
    // Node's Blob, which its fetch (the page's here) reads: jsdom's own is another class to it.
    const answer = await act(() => result.current.mutateAsync({ path: 'photos', body: new NodeBlob(['a photo'], { type: 'image/jpeg' }) as Blob }))
    expect(answer).toEqual({ method: 'POST', contentType: 'image/jpeg', body: 'a photo' })
  })

  it('useAuthError reads auth_error once, removes it from the address, and gives it in words', () => {
    // The router's own history state stays as it was.
    window.history.replaceState({ route: 'somewhere' }, '', '/somewhere?tab=2&auth_error=access_denied#x')
    const first = renderHook(() => useAuthError(), { wrapper: wrapper() })
    expect(first.result.current).toEqual({ code: 'access_denied', message: 'Sign-in was cancelled or refused.', dismiss: expect.any(Function) })
    expect(window.location.pathname + window.location.search + window.location.hash).toBe('/somewhere?tab=2#x')
    expect(window.history.state).toEqual({ route: 'somewhere' })
    // A second component sees the same error; dismissing it clears both.
    const second = renderHook(() => useAuthError(), { wrapper: wrapper() })
    expect(second.result.current?.code).toBe('access_denied')
    act(() => first.result.current?.dismiss())
    expect(first.result.current).toBeNull()
    expect(second.result.current).toBeNull()
  })

  it("useAuthError takes auth_error from the address outside any render, so a router following history.replaceState (Next.js's App Router) updates itself without React's error", () => {
    window.history.replaceState(null, '', '/account?auth_error=account_conflict')
    const original = window.history.replaceState
    const errors = vi.spyOn(console, 'error')
    // The router as Next.js's patches history: each replaceState becomes an update of its own state.
    function Router({ children }: { children: ReactNode }) {
      const [search, setSearch] = useState(window.location.search)
      useLayoutEffect(() => {
        window.history.replaceState = function (...args: Parameters<History['replaceState']>) {
          original.apply(this, args)
          setSearch(window.location.search)
        }
        return () => void (window.history.replaceState = original)
      }, [])
      return (
        <>
          <p>search: {search || 'none'}</p>
          {children}
        </>
      )
    }
    function Alert() {
      const error = useAuthError()
      return <p role="alert">{error?.message}</p>
    }
    // The alert mounts once the router has (a sign-in screen shown once the session is read).
    const App = ({ signInShown }: { signInShown: boolean }) => (
      <AllAccessProvider baseUrl={baseUrl}>
        <Router>{signInShown && <Alert />}</Router>
      </AllAccessProvider>
    )
    try {
      const view = render(<App signInShown={false} />)
      expect(screen.getByText(/^search:/).textContent).toBe('search: ?auth_error=account_conflict')
      view.rerender(<App signInShown />)
      expect(screen.getByRole('alert').textContent).toBe('That account is already linked to another user.')
      expect(screen.getByText(/^search:/).textContent).toBe('search: none')
      expect(errors).not.toHaveBeenCalled()
    } finally {
      window.history.replaceState = original
      errors.mockRestore()
    }
  })

  it('useAuthError reads an unknown code as server_error, and nothing as null', () => {
    window.history.replaceState(null, '', '/?auth_error=%3Cscript%3E')
    const { result } = renderHook(() => useAuthError(), { wrapper: wrapper() })
    expect(result.current).toEqual(expect.objectContaining({ code: 'server_error', message: 'Something went wrong during sign-in.' }))
    act(() => result.current?.dismiss())
    expect(window.location.search).toBe('')
    expect(renderHook(() => useAuthError(), { wrapper: wrapper() }).result.current).toBeNull()
  })

  it("AllAccessProvider uses the app's own QueryClient when it is given none", async () => {
    const appQueryClient = new QueryClient()
    const { result } = renderHook(() => ({ queryClient: useQueryClient(), session: useSession() }), {
      wrapper: ({ children }) => (
        <QueryClientProvider client={appQueryClient}>
          <AllAccessProvider baseUrl={baseUrl}>{children}</AllAccessProvider>
        </QueryClientProvider>
      ),
    })
    expect(result.current.queryClient).toBe(appQueryClient)
    await waitFor(() => expect(result.current.session.isSuccess).toBe(true))
  })

  it('AllAccessProvider makes a QueryClient when there is none', async () => {
    const { result } = renderHook(() => useSession(), { wrapper: ({ children }) => <AllAccessProvider baseUrl={baseUrl}>{children}</AllAccessProvider> })
    await waitFor(() => expect(result.current.data?.authenticated).toBe(true))
  })

  it('says how to fix a missing AllAccessProvider', () => {
    vi.spyOn(console, 'error').mockImplementation(() => {})
    expect(() => renderHook(() => useSession())).toThrow('No AllAccessProvider found: wrap your app in <AllAccessProvider>')
    vi.mocked(console.error).mockRestore()
  })
})

/**
 * The hooks against a real BFF over HTTP: `all-access serve --sandbox` in its own process (the
 * providers' crypto must not run inside jsdom), with the client's fetch carrying the cookies of a
 * signed-in browser session.
 */
describe.each(databases)('the React hooks against a real BFF on $kind', (database) => {
  let bff: RunningServe
  let browser: BrowserSession
  let databaseUrl: string
  let drop: () => Promise<void>
  const login = (session: BrowserSession) => sandboxLogin(session, bff.url, 'sandbox-oidc')

  function wrapper(session: BrowserSession) {
    const client = createAllAccessClient({
      baseUrl: bff.url,
      fetch: (input, init) => session.fetch(String(input), init),
    })
    const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false } } })
    return ({ children }: { children: ReactNode }) => (
      <AllAccessProvider client={client} queryClient={queryClient}>
        {children}
      </AllAccessProvider>
    )
  }

  beforeAll(async () => {
    ;({ url: databaseUrl, drop } = await database.create())
    bff = await startServe({ sandbox: true, databaseUrl })
    browser = new BrowserSession()
    await login(browser)
  })

  afterEach(() => cleanup())

  afterAll(async () => {
    await bff?.stop()
    await drop?.()
  })

  it('useSession reads the signed-in user and accounts, and an anonymous visitor', async () => {
    const signedIn = renderHook(() => useSession(), { wrapper: wrapper(browser) })
    await waitFor(() => expect(signedIn.result.current.isSuccess).toBe(true))
    expect(signedIn.result.current.data).toEqual(expect.objectContaining({ authenticated: true, accounts: [expect.objectContaining({ provider: 'sandbox-oidc', identifier: 'alice', status: 'active' })] }))
    const anonymous = renderHook(() => useSession(), { wrapper: wrapper(new BrowserSession()) })
    await waitFor(() => expect(anonymous.result.current.data).toEqual({ authenticated: false }))
  })

  it('useProviders lists the enabled providers', async () => {
    const { result } = renderHook(() => useProviders(), { wrapper: wrapper(browser) })
    await waitFor(() => expect(result.current.data).toEqual([
      { name: 'sandbox-oauth1', displayName: 'Sandbox OAuth 1.0a', protocol: 'oauth1' },
      { name: 'sandbox-oidc', displayName: 'Sandbox OpenID', protocol: 'oidc' },
    ]))
  })

  it('LoginButton is a button named after the provider, pointing at the login route', async () => {
    render(<LoginButton provider="sandbox-oidc" next="/after" />, { wrapper: wrapper(new BrowserSession()) })
    const button = await screen.findByRole('button', { name: 'Sign in with Sandbox OpenID' })
    expect(button.getAttribute('type')).toBe('button')
    expect(createAllAccessClient({ baseUrl: bff.url }).loginUrl('sandbox-oidc', { next: '/after' })).toBe(`${bff.url}/auth/login/sandbox-oidc?next=%2Fafter`)
  })

  it('LoginButton offers to connect when someone is signed in', async () => {
    render(<LoginButton provider="sandbox-oidc" />, { wrapper: wrapper(browser) })
    await screen.findByRole('button', { name: 'Connect Sandbox OpenID' })
  })

  it('useProviderApi calls the API through the proxy', async () => {
    const { result } = renderHook(() => useProviderApi<{ sub: string }>('sandbox-oidc', 'me'), { wrapper: wrapper(browser) })
    await waitFor(() => expect(result.current.data).toEqual({ sub: 'alice', name: expect.any(String), email: expect.any(String) }))
  })

  it("useProviderApi passes the provider's own error answers on as ProviderApiError", async () => {
    const { result } = renderHook(() => useProviderApi('sandbox-oidc', 'no-such-endpoint'), { wrapper: wrapper(browser) })
    await waitFor(() => expect(result.current.error).toBeInstanceOf(ProviderApiError))
    expect((result.current.error as ProviderApiError).status).toBe(404)
    expect(isReauthRequired(result.current.error)).toBe(false)
  })

  it('useProviderMutation posts a JSON body', async () => {
    const { result } = renderHook(() => useProviderMutation<{ text: string }>('sandbox-oidc'), { wrapper: wrapper(browser) })
    const note = await act(() => result.current.mutateAsync({ path: 'notes', json: { text: 'from a hook' } }))
    expect(note).toEqual(expect.objectContaining({ text: 'from a hook' }))
    await waitFor(() => expect(result.current.data).toEqual(note))
  })

  it('useProviderApi surfaces reauth_required as an error the UI can act on', async () => {
    const other = new BrowserSession()
    await login(other)
    // The provider revoked this account's grant: the BFF has marked it so.
    const db = openDatabase(parseDatabaseUrl(databaseUrl))
    await db('accounts').update({ status: 'reauth_required' })
    await db.destroy()
    // Written behind the server's back, as another instance would: seen once its memory of the account lapses.
    await cacheLapse()
    const { result } = renderHook(() => ({ api: useProviderApi('sandbox-oidc', 'me'), session: useSession() }), { wrapper: wrapper(other) })
    await waitFor(() => expect(result.current.api.error).toBeInstanceOf(AllAccessClientError))
    expect((result.current.api.error as AllAccessClientError).code).toBe('reauth_required')
    expect(isReauthRequired(result.current.api.error)).toBe(true)
    await waitFor(() => expect(result.current.session.data?.authenticated && result.current.session.data.accounts[0].status).toBe('reauth_required'))
    await login(browser)
  })

  it('useDisconnect unlinks the account and refreshes the session', async () => {
    const session = new BrowserSession()
    await login(session)
    const { result } = renderHook(() => ({ session: useSession(), disconnect: useDisconnect() }), { wrapper: wrapper(session) })
    await waitFor(() => expect(result.current.session.data?.authenticated && result.current.session.data.accounts).toHaveLength(1))
    await act(() => result.current.disconnect.mutateAsync('sandbox-oidc'))
    await waitFor(() => expect(result.current.session.data?.authenticated && result.current.session.data.accounts).toEqual([]))
  })

  it('useDisconnect refused as not_authenticated (the session ended meanwhile) reads the session again, as an API call so refused does', async () => {
    const session = new BrowserSession()
    await login(session)
    const { result } = renderHook(() => ({ session: useSession(), disconnect: useDisconnect() }), { wrapper: wrapper(session) })
    await waitFor(() => expect(result.current.session.data?.authenticated).toBe(true))
    // The session ends on the server while the page shows the account (an operator's sessions revoke).
    const db = openDatabase(parseDatabaseUrl(databaseUrl))
    await db('sessions').where({ id_hash: hashId(session.cookie(SESSION_COOKIE)!.value) }).del()
    await db.destroy()
    await cacheLapse()
    const error = await act(() => result.current.disconnect.mutateAsync('sandbox-oidc').catch((e: unknown) => e))
    expect(error).toEqual(expect.objectContaining({ code: 'not_authenticated', status: 401 }))
    // The page shows the sign-in it needs, not an account it can no longer change.
    await waitFor(() => expect(result.current.session.data).toEqual({ authenticated: false }))
  })

  it('useDisconnect refused as account_not_found (disconnected in another tab) reads the session again, so the page stops showing the account', async () => {
    const session = new BrowserSession()
    await login(session)
    const { result } = renderHook(() => ({ session: useSession(), disconnect: useDisconnect() }), { wrapper: wrapper(session) })
    await waitFor(() => expect(result.current.session.data?.authenticated && result.current.session.data.accounts).toHaveLength(1))
    // Another tab of the same browser disconnects the account while this page still shows it.
    await createAllAccessClient({ baseUrl: bff.url, fetch: (input, init) => session.fetch(String(input), init) }).disconnect('sandbox-oidc')
    const error = await act(() => result.current.disconnect.mutateAsync('sandbox-oidc').catch((e: unknown) => e))
    expect(error).toEqual(expect.objectContaining({ code: 'account_not_found', status: 404 }))
    await waitFor(() => expect(result.current.session.data?.authenticated && result.current.session.data.accounts).toEqual([]))
  })

  it('useLogout ends the session and the session query follows', async () => {
    const session = new BrowserSession()
    await login(session)
    const { result } = renderHook(() => ({ session: useSession(), logout: useLogout() }), { wrapper: wrapper(session) })
    await waitFor(() => expect(result.current.session.data?.authenticated).toBe(true))
    await act(() => result.current.logout.mutateAsync())
    await waitFor(() => expect(result.current.session.data).toEqual({ authenticated: false }))
  })

  it('useSessionExpiry says ended on the signed-out screen when the session ended, though nothing counted down before', async () => {
    const session = new BrowserSession()
    await login(session)
    // The app tells why it shows the sign-in screen; the signed-in screens show no countdown.
    function SignedOut() {
      const { ended } = useSessionExpiry()
      return <p>{ended ? 'Your session has ended.' : 'Welcome.'}</p>
    }
    function App() {
      const current = useSession()
      if (!current.data) return null
      return current.data.authenticated ? <p>Signed in</p> : <SignedOut />
    }
    render(<App />, { wrapper: wrapper(session) })
    await screen.findByText('Signed in')
    // The session ends on the server (its idle end, or an operator's sessions revoke): its row is gone.
    const db = openDatabase(parseDatabaseUrl(databaseUrl))
    await db('sessions').where({ id_hash: hashId(session.cookie(SESSION_COOKIE)!.value) }).del()
    await db.destroy()
    await cacheLapse()
    // The user comes back to the tab: the session is read again.
    act(() => void window.dispatchEvent(new Event('visibilitychange')))
    await screen.findByText(/Your session has ended|Welcome/)
    expect(screen.getByRole('paragraph').textContent).toBe('Your session has ended.')
  })

  it('useSessionExpiry says nothing while the session is read anew, after TanStack Query dropped it unused: not that it ended', async () => {
    // gcTime 0: what five minutes without a component reading the session do (TanStack's default gcTime).
    const queryClient = new QueryClient({ defaultOptions: { queries: { retry: false, gcTime: 0 } } })
    const client = createAllAccessClient({ baseUrl: bff.url, fetch: (input, init) => browser.fetch(String(input), init) })
    const wrapper = ({ children }: { children: ReactNode }) => (
      <AllAccessProvider client={client} queryClient={queryClient}>
        {children}
      </AllAccessProvider>
    )
    const counting = renderHook(() => useSessionExpiry(), { wrapper })
    await waitFor(() => expect(counting.result.current.secondsLeft).toBeGreaterThan(0))
    counting.unmount()
    await waitFor(() => expect(queryClient.getQueryCache().find({ queryKey: allAccessKeys.session() })).toBeUndefined())
    // A page with a countdown again (the settings page): the session is read again, and it goes on.
    const seen: SessionExpiry[] = []
    const again = renderHook(() => seen[seen.push(useSessionExpiry()) - 1], { wrapper })
    await waitFor(() => expect(again.result.current.secondsLeft).toBeGreaterThan(0))
    expect(seen[0]).toEqual({ secondsLeft: null, ended: false })
    expect(seen.filter((expiry) => expiry.ended || expiry.secondsLeft === 0)).toEqual([])
  })

  it("reads the session once when the README's app shows its LoginButton or a countdown, not again as each mounts", async () => {
    function App() {
      const session = useSession()
      if (session.isPending) return null // as README's example: no sign-in button that flashes
      if (!session.data?.authenticated) return <LoginButton provider="sandbox-oidc" next="/" />
      return <SignedIn />
    }
    function SignedIn() {
      const { secondsLeft } = useSessionExpiry()
      return (
        <>
          <p>{secondsLeft} seconds left</p>
          <LoginButton provider="sandbox-oauth1" />
        </>
      )
    }
    for (const [visitor, label] of [[new BrowserSession(), 'Sign in with Sandbox OpenID'], [browser, 'Connect Sandbox OAuth 1.0a']] as const) {
      const sessionReads: string[] = []
      const client = createAllAccessClient({
        baseUrl: bff.url,
        fetch: (input, init) => (String(input).includes('/auth/session') && sessionReads.push(String(input)), visitor.fetch(String(input), init)),
      })
      render(
        <AllAccessProvider client={client} queryClient={new QueryClient()}>
          <App />
        </AllAccessProvider>,
      )
      // Named once the providers are read, which the button asks for as it mounts, as it would the session.
      await screen.findByRole('button', { name: label })
      expect(sessionReads).toEqual([`${bff.url}/auth/session`])
      cleanup()
    }
  })

  it('useAuthError reads auth_error once and removes it from the address', () => {
    window.history.replaceState(null, '', '/somewhere?tab=2&auth_error=account_conflict#x')
    const { result } = renderHook(() => useAuthError(), { wrapper: wrapper(browser) })
    expect(result.current).toEqual({ code: 'account_conflict', message: 'That account is already linked to another user.', dismiss: expect.any(Function) })
    expect(window.location.pathname + window.location.search + window.location.hash).toBe('/somewhere?tab=2#x')
    act(() => result.current?.dismiss())
    expect(result.current).toBeNull()
  })

  it('says how to fix a missing AllAccessProvider', () => {
    expect(() => renderHook(() => useSession())).toThrow('No AllAccessProvider found: wrap your app in <AllAccessProvider>')
  })
})
