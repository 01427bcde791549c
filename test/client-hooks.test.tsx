// @vitest-environment jsdom
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { act, cleanup, render, renderHook, screen, waitFor } from '@testing-library/react'
import { QueryClient } from '@tanstack/react-query'
import type { ReactNode } from 'react'
import {
  AllAccessClientError,
  AllAccessProvider,
  ProviderApiError,
  createAllAccessClient,
  isReauthRequired,
  LoginButton,
  useAuthError,
  useDisconnect,
  useLogout,
  useProviderApi,
  useProviderMutation,
  useProviders,
  useSession,
} from '../client/index.ts'
import { BrowserSession } from './support/browser-session.ts'
import { afterEach } from 'vitest'
import { openDatabase, parseDatabaseUrl } from '../server/store/database.ts'
import { databases } from './support/databases.ts'
import { startServe, type RunningServe } from './support/demo-server.ts'
import { sandboxLogin } from './support/sandbox-login.ts'

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

  it('useLogout ends the session and the session query follows', async () => {
    const session = new BrowserSession()
    await login(session)
    const { result } = renderHook(() => ({ session: useSession(), logout: useLogout() }), { wrapper: wrapper(session) })
    await waitFor(() => expect(result.current.session.data?.authenticated).toBe(true))
    await act(() => result.current.logout.mutateAsync())
    await waitFor(() => expect(result.current.session.data).toEqual({ authenticated: false }))
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
