// @vitest-environment jsdom
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { act, cleanup, fireEvent, render, renderHook, screen, waitFor } from '@testing-library/react'
import { QueryClient } from '@tanstack/react-query'
import type { ReactNode } from 'react'
import { AllAccessClientError, AllAccessProvider, allAccessKeys, createAllAccessClient, isReauthRequired, LoginButton, useAuthError, useLogin, useLogout, useProviderApi, useSession, useSessionExpiry } from '../client/index.ts'
import { startRecordingServer, type RecordedRequest as Received } from './support/recording-server.ts'

/**
 * The session's end as the hooks show it, and the popup login's receiving side, against a small real
 * HTTP server on 127.0.0.1 that answers the BFF's routes from an in-memory state.
 */
describe('the session end and popup login in the React hooks', () => {
  let recorder: Awaited<ReturnType<typeof startRecordingServer>>
  let baseUrl: string
  let received: Received[]
  /**
   * `later`: the expiresAt of every read after the first; `userId`: who is signed in (default 7); `reauth`: the proxy answers reauth_required;
   * `slowSignedOutReads`: a signed-out session read answers this much later; `slowReads`: every session read does;
   * `serverClock`: how far the server's clock (its `Date` header) is ahead of the test's, in ms.
   */
  let state: { authenticated: boolean; expiresAt: string; later?: string; userId?: string; reauth?: boolean; slowSignedOutReads?: number; slowReads?: number; serverClock?: number }
  const sessionReads = () => received.filter((r) => r.url.split('?')[0] === '/auth/session').map((r) => r.url)
  /** The server's time, on its own clock. */
  const serverNow = () => Date.now() + (state.serverClock ?? 0)

  beforeAll(async () => {
    recorder = await startRecordingServer((request) => ({
      ...answer(request),
      ...(state.serverClock !== undefined && { headers: { Date: new Date(serverNow()).toUTCString() } }),
    }))
    function answer({ url }: Received) {
      const { pathname } = new URL(url, 'http://x')
      const json = (status: number, body: unknown) => ({ status, body: JSON.stringify(body), type: 'application/json' })
      if (pathname === '/auth/session') {
        const expiresAt = state.expiresAt
        if (state.later) state.expiresAt = state.later
        if (!state.authenticated) return { ...json(200, { authenticated: false }), delayMs: state.slowSignedOutReads }
        return { ...json(200, { authenticated: true, user: { id: state.userId ?? '7', displayName: 'Alice' }, accounts: [], expiresAt }), delayMs: state.slowReads }
      }
      if (pathname === '/auth/logout') {
        state.authenticated = false
        return { status: 204 }
      }
      if (pathname.startsWith('/api/')) {
        if (state.reauth) return json(401, { error: 'reauth_required', message: 'Sign in with this provider again.' })
        return state.authenticated ? json(200, { path: pathname }) : json(401, { error: 'not_authenticated', message: 'Sign in first.' })
      }
      return json(404, { error: 'not_found', message: 'No such route.' })
    }
    received = recorder.received
    baseUrl = recorder.url
  })

  beforeEach(() => {
    received.length = 0
    state = { authenticated: true, expiresAt: new Date(Date.now() + 90_000).toISOString() }
  })

  afterEach(() => {
    cleanup()
    vi.restoreAllMocks()
  })

  afterAll(() => recorder.close())

  function setup() {
    const queryClient = new QueryClient()
    const wrapper = ({ children }: { children: ReactNode }) => (
      <AllAccessProvider baseUrl={baseUrl} queryClient={queryClient}>
        {children}
      </AllAccessProvider>
    )
    const cachedApiData = () => queryClient.getQueriesData({ queryKey: allAccessKeys.api() }).filter(([, data]) => data !== undefined)
    return { queryClient, wrapper, cachedApiData }
  }

  it('useSession slides on its first read only: refetches, polls and focus read with slide=false', async () => {
    const { wrapper, queryClient } = setup()
    // The observer as the cache announces it: Query's own list of observers is private in TanStack Query 5.0.
    const observers: { options: { refetchInterval?: unknown } }[] = []
    queryClient.getQueryCache().subscribe((event) => event.type === 'observerAdded' && observers.push(event.observer))
    const { result } = renderHook(() => useSession(), { wrapper })
    await waitFor(() => expect(result.current.isSuccess).toBe(true))
    await act(() => result.current.refetch())
    expect(sessionReads()).toEqual(['/auth/session', '/auth/session?slide=false'])
    // The window regains focus (TanStack Query listens to visibilitychange).
    act(() => void window.dispatchEvent(new Event('visibilitychange')))
    await waitFor(() => expect(sessionReads()).toHaveLength(3))
    expect(sessionReads()[2]).toBe('/auth/session?slide=false')
    expect(observers.map((observer) => observer.options.refetchInterval)).toEqual([60_000])
  })

  it('useSession slides on the first read of a page whose cache was restored from storage (persistQueryClient), and only then', async () => {
    const { wrapper, queryClient } = setup()
    // What a persister restores: last visit's session, read ten minutes ago.
    queryClient.setQueryData(allAccessKeys.session(), { authenticated: true, user: { id: '7', displayName: 'Alice' }, accounts: [], expiresAt: state.expiresAt }, { updatedAt: Date.now() - 600_000 })
    const { result } = renderHook(() => useSession(), { wrapper })
    await waitFor(() => expect(sessionReads()).toHaveLength(1))
    await waitFor(() => expect(result.current.isFetching).toBe(false))
    await act(() => result.current.refetch())
    expect(sessionReads()).toEqual(['/auth/session', '/auth/session?slide=false'])
  })

  it('useSessionExpiry gives the seconds left until expiresAt, and the session has not ended', async () => {
    const { wrapper } = setup()
    const { result } = renderHook(() => useSessionExpiry(), { wrapper })
    await waitFor(() => expect(result.current.secondsLeft).not.toBeNull())
    expect(result.current.secondsLeft).toBeGreaterThan(80)
    expect(result.current.secondsLeft).toBeLessThanOrEqual(90)
    expect(result.current.ended).toBe(false)
  })

  it('useSessionExpiry gives null and not ended for a visitor who never signed in', async () => {
    state.authenticated = false
    const { wrapper } = setup()
    const { result } = renderHook(() => ({ expiry: useSessionExpiry(), session: useSession() }), { wrapper })
    await waitFor(() => expect(result.current.session.isSuccess).toBe(true))
    expect(result.current.expiry).toEqual({ secondsLeft: null, ended: false })
  })

  it('useSessionExpiry says ended, with 0 seconds left, once the server says the session is gone', async () => {
    const { wrapper, queryClient } = setup()
    const { result } = renderHook(() => useSessionExpiry(), { wrapper })
    await waitFor(() => expect(result.current.secondsLeft).toBeGreaterThan(0))
    state.authenticated = false
    await act(() => queryClient.invalidateQueries({ queryKey: allAccessKeys.session() }))
    await waitFor(() => expect(result.current).toEqual({ secondsLeft: 0, ended: true }))
  })

  /** Every value useSessionExpiry gave, in order, without repeats. */
  function renderExpiry(wrapper: (props: { children: ReactNode }) => ReactNode) {
    const seen: unknown[] = []
    const { result } = renderHook(() => {
      const expiry = useSessionExpiry()
      if (seen.at(-1) === undefined || JSON.stringify(seen.at(-1)) !== JSON.stringify(expiry)) seen.push(expiry)
      return expiry
    }, { wrapper })
    return { result, seen }
  }

  it('useSessionExpiry reads the session again when expiresAt has passed, and does not say ended while another tab kept it alive', async () => {
    // The end has moved (another tab was busy): the session is read again to know, and an app that
    // leaves for a signed-out page on `ended` must not do so for a session that goes on.
    state = { authenticated: true, expiresAt: new Date(Date.now() + 1200).toISOString(), later: new Date(Date.now() + 60_000).toISOString() }
    const { result, seen } = renderExpiry(setup().wrapper)
    await waitFor(() => expect(result.current.secondsLeft).toBeGreaterThan(2), { timeout: 5000 })
    expect(seen).toContainEqual({ secondsLeft: 0, ended: false })
    expect(seen.filter((expiry) => (expiry as { ended: boolean }).ended)).toEqual([])
    expect(sessionReads()).toEqual(['/auth/session', '/auth/session?slide=false'])
  })

  it('useSessionExpiry says ended when expiresAt has passed and the read that follows finds the end unmoved', async () => {
    state = { authenticated: true, expiresAt: new Date(Date.now() + 1200).toISOString() }
    const { result, seen } = renderExpiry(setup().wrapper)
    await waitFor(() => expect(result.current.ended).toBe(true), { timeout: 5000 })
    expect(seen.slice(-2)).toEqual([{ secondsLeft: 0, ended: false }, { secondsLeft: 0, ended: true }])
    expect(sessionReads()).toEqual(['/auth/session', '/auth/session?slide=false'])
  })

  describe("useSessionExpiry with a browser clock minutes off the server's (the BFF's answers carry its clock, in their Date header)", () => {
    it.each([
      ['ahead of', -300_000],
      ['behind', 300_000],
    ])("counts to the server's end with a browser clock 5 minutes %s it, and does not say a live session ended", async (_, serverClock) => {
      state = { authenticated: true, serverClock, expiresAt: '' }
      state.expiresAt = new Date(serverNow() + 60_000).toISOString()
      const { result, seen } = renderExpiry(setup().wrapper)
      await waitFor(() => expect(result.current.secondsLeft).not.toBeNull())
      // Time for the read a count that ended at once would make, and for `ended` after it.
      await new Promise((resolve) => setTimeout(resolve, 600))
      // The Date header's whole seconds may add up to a second, never take one away; a loaded machine
      // may spend a few seconds getting here (a count off by the skew would show 0 or 360).
      expect(result.current.secondsLeft).toBeGreaterThanOrEqual(50)
      expect(result.current.secondsLeft).toBeLessThanOrEqual(61)
      expect(seen.filter((expiry) => (expiry as { ended: boolean }).ended)).toEqual([])
      expect(sessionReads()).toEqual(['/auth/session'])
    })

    it("says ended at the server's end with a browser clock 5 minutes behind it, once the read that follows finds the end unmoved", async () => {
      state = { authenticated: true, serverClock: 300_000, expiresAt: '' }
      state.expiresAt = new Date(serverNow() + 1200).toISOString()
      const { result, seen } = renderExpiry(setup().wrapper)
      await waitFor(() => expect(result.current.ended).toBe(true), { timeout: 5000 })
      expect(seen.slice(-2)).toEqual([{ secondsLeft: 0, ended: false }, { secondsLeft: 0, ended: true }])
      expect(sessionReads()).toEqual(['/auth/session', '/auth/session?slide=false'])
    })
  })

  it('useSessionExpiry in several components reads the session once when the count ends, not once each, each cancelling the one before', async () => {
    // Mounted apart, each component's clock ticks at its own moment, and a read outlasts the gaps between them.
    state = { authenticated: true, expiresAt: new Date(Date.now() + 1500).toISOString(), later: new Date(Date.now() + 60_000).toISOString(), slowReads: 300 }
    function Countdown() {
      const { secondsLeft, ended } = useSessionExpiry()
      return <p>{ended ? 'ended' : String(secondsLeft)}</p>
    }
    const Page = ({ count }: { count: number }) => Array.from({ length: count }, (_, i) => <Countdown key={i} />)
    const view = render(<Page count={1} />, { wrapper: setup().wrapper })
    for (const count of [2, 3]) {
      await new Promise((resolve) => setTimeout(resolve, 100))
      view.rerender(<Page count={count} />)
    }
    const shown = () => screen.getAllByRole('paragraph').map((p) => p.textContent)
    await waitFor(() => expect(shown()).toContain('0'), { timeout: 3000 })
    await waitFor(() => expect(shown().map(Number).every((seconds) => seconds > 50)).toBe(true), { timeout: 3000 })
    // Settled: a straggling read would have been sent by now.
    await new Promise((resolve) => setTimeout(resolve, 400))
    expect(sessionReads()).toEqual(['/auth/session', '/auth/session?slide=false'])
  })

  it('useSessionExpiry shows each second of the count within a quarter second, so it never skips one for a late timer', async () => {
    const end = Date.now() + 3_600_000
    state = { authenticated: true, expiresAt: new Date(end).toISOString() }
    // The page's timers are the test's from the start (the session read's are not).
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
    try {
      const { result } = renderExpiry(setup().wrapper)
      while (result.current.secondsLeft === null) await act(() => new Promise((resolve) => setTimeout(resolve, 10)))
      // Ten seconds before the end, then a second later, as a timer that fires late finds the clock.
      const now = vi.spyOn(Date, 'now').mockReturnValue(end - 10_000 + 1)
      act(() => void vi.advanceTimersByTime(250))
      expect(result.current.secondsLeft).toBe(10)
      now.mockReturnValue(end - 9_000 + 1)
      act(() => void vi.advanceTimersByTime(250))
      expect(result.current.secondsLeft).toBe(9)
    } finally {
      vi.useRealTimers()
    }
  })

  it("useSessionExpiry says ended in a component that mounts after the end: the signed-out screen that tells why", async () => {
    const { wrapper, queryClient } = setup()
    function SignedOut() {
      const { ended } = useSessionExpiry()
      return <p>{ended ? 'Your session has ended.' : 'Welcome.'}</p>
    }
    function Page() {
      const { secondsLeft } = useSessionExpiry()
      const session = useSession()
      if (!session.data) return null
      return session.data.authenticated ? <p>{secondsLeft} seconds left</p> : <SignedOut />
    }
    render(<Page />, { wrapper })
    await screen.findByText(/seconds left/)
    state.authenticated = false
    await act(() => queryClient.invalidateQueries({ queryKey: allAccessKeys.session() }))
    await screen.findByText(/Your session has ended|Welcome/)
    expect(screen.getByRole('paragraph').textContent).toBe('Your session has ended.')
  })

  it('useSessionExpiry does not say ended after the user signs out here (useLogout): nothing ended that they did not end', async () => {
    const { wrapper } = setup()
    function SignedOut() {
      const { secondsLeft, ended } = useSessionExpiry()
      return <p>{ended ? 'Your session has ended.' : `Welcome (${secondsLeft}).`}</p>
    }
    function Page() {
      const { secondsLeft, ended } = useSessionExpiry()
      const session = useSession()
      const logout = useLogout()
      if (!session.data) return null
      if (!session.data.authenticated) return <SignedOut />
      return <button onClick={() => logout.mutate()}>{`Sign out (${secondsLeft} seconds left${ended ? ', ended' : ''})`}</button>
    }
    render(<Page />, { wrapper })
    fireEvent.click(await screen.findByRole('button', { name: /Sign out/ }))
    await screen.findByRole('paragraph')
    expect(screen.getByRole('paragraph').textContent).toBe('Welcome (null).')
  })

  it("forgets a login failure at a sign-out (useLogout), shown or still in the address: the sign-in screen that follows does not show it as its own", async () => {
    const { wrapper } = setup()
    // A link that failed came back signed in, to a screen that shows no login failure.
    window.history.replaceState(null, '', '/?auth_error=account_conflict')
    function Page() {
      const session = useSession()
      const logout = useLogout()
      if (!session.data) return null
      if (!session.data.authenticated) return <SignIn />
      return <button onClick={() => logout.mutate()}>Sign out</button>
    }
    function SignIn() {
      const error = useAuthError()
      return <p>{error ? error.message : 'Sign in.'}</p>
    }
    render(<Page />, { wrapper })
    fireEvent.click(await screen.findByRole('button', { name: 'Sign out' }))
    expect((await screen.findByRole('paragraph')).textContent).toBe('Sign in.')
    expect(window.location.search).toBe('')
  })

  it('drops every cached provider API answer when a session read finds the session ended', async () => {
    const { wrapper, queryClient, cachedApiData } = setup()
    queryClient.setQueryData(allAccessKeys.api('sandbox-oauth1', 'account/settings.json'), { screen_name: 'alice' })
    // Reads what a component would show, so that TanStack Query re-renders when it changes.
    const { result } = renderHook(() => {
      const [session, me] = [useSession(), useProviderApi('sandbox-oidc', 'me')]
      return { session, me, shown: [session.data, me.data, me.error] }
    }, { wrapper })
    await waitFor(() => expect(result.current.me.data).toEqual({ path: '/api/sandbox-oidc/me' }))
    expect(cachedApiData()).toHaveLength(2)
    state.authenticated = false
    await act(() => result.current.session.refetch())
    await waitFor(() => expect(result.current.session.data).toEqual({ authenticated: false }))
    expect(cachedApiData()).toEqual([])
    await waitFor(() => expect(result.current.me.error).toBeInstanceOf(AllAccessClientError))
    expect(result.current.me.data).toBeUndefined()
  })

  it('drops them too when an API call answers not_authenticated while the page thought it was signed in', async () => {
    const { wrapper, queryClient, cachedApiData } = setup()
    const { result, rerender } = renderHook(({ enabled }) => ({ session: useSession(), me: useProviderApi('sandbox-oidc', 'me', { enabled }) }), {
      wrapper,
      initialProps: { enabled: false },
    })
    await waitFor(() => expect(result.current.session.data?.authenticated).toBe(true))
    queryClient.setQueryData(allAccessKeys.api('sandbox-oauth1', 'account/settings.json'), { screen_name: 'alice' })
    // The session ended on the server (an operator revoked it); the page learns it from the proxy.
    state.authenticated = false
    rerender({ enabled: true })
    await waitFor(() => expect((result.current.me.error as AllAccessClientError | null)?.code).toBe('not_authenticated'))
    await waitFor(() => expect(result.current.session.data).toEqual({ authenticated: false }))
    expect(cachedApiData()).toEqual([])
  })

  it('drops them too when a session read finds another user signed in (signed out and in again in another tab)', async () => {
    const { wrapper, queryClient, cachedApiData } = setup()
    const { result } = renderHook(() => useSession(), { wrapper })
    await waitFor(() => expect(result.current.data?.authenticated).toBe(true))
    queryClient.setQueryData(allAccessKeys.api('sandbox-oauth1', 'account/settings.json'), { screen_name: 'alice' })
    state.userId = '8'
    await act(() => result.current.refetch())
    await waitFor(() => expect(result.current.data).toMatchObject({ authenticated: true, user: { id: '8' } }))
    expect(cachedApiData()).toEqual([])
  })

  describe('a provider API answer on screen, in a component that does not read the session', () => {
    function Profile() {
      const me = useProviderApi<{ path: string }>('sandbox-oidc', 'me')
      return <p data-testid="profile">{me.data?.path ?? (me.error as AllAccessClientError | null)?.code ?? 'loading'}</p>
    }
    function SessionAndSignOut() {
      const session = useSession()
      const logout = useLogout()
      return <button onClick={() => logout.mutate()}>{session.data?.authenticated ? `Sign out ${session.data.user.id}` : 'Signed out'}</button>
    }
    const profile = () => screen.getByTestId('profile').textContent
    const apiReads = () => received.filter((r) => r.url === '/api/sandbox-oidc/me')

    async function shown() {
      const { wrapper, queryClient } = setup()
      render(<><Profile /><SessionAndSignOut /></>, { wrapper })
      await waitFor(() => expect(profile()).toBe('/api/sandbox-oidc/me'))
      await screen.findByRole('button', { name: 'Sign out 7' })
      return queryClient
    }

    it('is taken off the screen by a sign-out, not only out of the cache', async () => {
      await shown()
      fireEvent.click(screen.getByRole('button', { name: 'Sign out 7' }))
      await screen.findByRole('button', { name: 'Signed out' })
      await waitFor(() => expect(profile()).toBe('not_authenticated'))
    })

    it('is read once more after a sign-out, not once for the sign-out and again for the session read that follows', async () => {
      await shown()
      fireEvent.click(screen.getByRole('button', { name: 'Sign out 7' }))
      await screen.findByRole('button', { name: 'Signed out' })
      await waitFor(() => expect(profile()).toBe('not_authenticated'))
      // Settled: whatever the sign-out and the session read after it set off has had its turn.
      await new Promise((resolve) => setTimeout(resolve, 300))
      expect(apiReads()).toHaveLength(2)
    })

    it('is taken off the screen when a session read finds the session ended', async () => {
      const queryClient = await shown()
      state.authenticated = false
      await act(() => queryClient.invalidateQueries({ queryKey: allAccessKeys.session() }))
      await waitFor(() => expect(profile()).toBe('not_authenticated'))
    })

    it('costs a session read or two after a sign-out, however many API answers are on screen', async () => {
      const { wrapper } = setup()
      const paths = ['me', 'notes', 'photos', 'events', 'files', 'friends', 'groups', 'pages', 'albums', 'likes', 'posts', 'videos', 'tags', 'places', 'books', 'music']
      function Answer({ path }: { path: string }) {
        const answer = useProviderApi<{ path: string }>('sandbox-oidc', path)
        return <p data-testid="answer">{answer.data?.path ?? (answer.error as AllAccessClientError | null)?.code ?? 'loading'}</p>
      }
      render(<>{paths.map((path) => <Answer key={path} path={path} />)}<SessionAndSignOut /></>, { wrapper })
      const answers = () => screen.getAllByTestId('answer').map((answer) => answer.textContent)
      await waitFor(() => expect(answers()).toEqual(paths.map((path) => `/api/sandbox-oidc/${path}`)))
      // Session reads answer slowly once signed out: every not_authenticated answer arrives while one is
      // in flight, however loaded the machine, and the count does not hang on timing.
      state.slowSignedOutReads = 400
      fireEvent.click(await screen.findByRole('button', { name: 'Sign out 7' }))
      await waitFor(() => expect(answers()).toEqual(paths.map(() => 'not_authenticated')))
      await screen.findByRole('button', { name: 'Signed out' }, { timeout: 3000 })
      await new Promise((resolve) => setTimeout(resolve, 500))
      // The read after the sign-out, which the not_authenticated answers share, and perhaps one of
      // their own. When each started its own read, cancelling the one before, this made six.
      expect(sessionReads().length - 1).toBeGreaterThanOrEqual(1)
      expect(sessionReads().length - 1).toBeLessThanOrEqual(2)
    })

    it("is read again, as the new user's, when a session read finds another user signed in", async () => {
      const queryClient = await shown()
      state.userId = '8'
      await act(() => queryClient.invalidateQueries({ queryKey: allAccessKeys.session() }))
      await screen.findByRole('button', { name: 'Sign out 8' })
      await waitFor(() => expect(apiReads()).toHaveLength(2))
      await waitFor(() => expect(profile()).toBe('/api/sandbox-oidc/me'))
    })
  })

  it('keeps cached API answers while the session goes on', async () => {
    const { wrapper, cachedApiData } = setup()
    const { result } = renderHook(() => ({ session: useSession(), me: useProviderApi('sandbox-oidc', 'me') }), { wrapper })
    await waitFor(() => expect(result.current.me.isSuccess).toBe(true))
    await act(() => result.current.session.refetch())
    expect(cachedApiData()).toHaveLength(1)
  })

  describe('login with popup: true', () => {
    /** A stand-in for the popup window: what window.open returned. */
    function openedPopup() {
      const popup = { closed: false }
      const open = vi.spyOn(window, 'open').mockReturnValue(popup as unknown as Window)
      return { popup, open }
    }

    /** What the BFF's popup page posts, as the browser delivers it to the opener. */
    function post(data: unknown, origin: string, source: unknown) {
      const event = new MessageEvent('message', { data, origin })
      Object.defineProperty(event, 'source', { value: source })
      window.dispatchEvent(event)
    }

    it('opens the login with display=popup and prompt, and resolves on ok from the popup, then reads the session', async () => {
      const { wrapper } = setup()
      const { popup, open } = openedPopup()
      const { result } = renderHook(() => ({ ...useLogin(), session: useSession().data }), { wrapper })
      await waitFor(() => expect(result.current.session).toBeDefined())
      let settled = false
      const done = result.current.login('sandbox-oidc', { popup: true, prompt: 'none' }).then(() => (settled = true))
      expect(open).toHaveBeenCalledWith(`${baseUrl}/auth/login/sandbox-oidc?prompt=none&display=popup`, 'all-access-login', expect.any(String))
      // Another origin, or another window of the right origin: ignored.
      post({ type: 'all-access:login', ok: true }, 'http://evil.example', popup)
      post({ type: 'all-access:login', ok: true }, baseUrl, window)
      post({ type: 'something-else', ok: true }, baseUrl, popup)
      await new Promise((resolve) => setTimeout(resolve, 50))
      expect(settled).toBe(false)
      post({ type: 'all-access:login', ok: true }, baseUrl, popup)
      await done
      expect(sessionReads()).toEqual(['/auth/session', '/auth/session?slide=false'])
    })

    it('reads the API answers on screen again once it resolves: a query that failed with reauth_required shows the reconnected account', async () => {
      const { wrapper } = setup()
      const { popup } = openedPopup()
      state.reauth = true
      // Reads what a component would show, so that TanStack Query re-renders when it changes.
      const { result } = renderHook(() => {
        const me = useProviderApi('sandbox-oidc', 'me')
        return { ...useLogin(), me, shown: [me.data, me.error] }
      }, { wrapper })
      await waitFor(() => expect(isReauthRequired(result.current.me.error)).toBe(true))
      // Reconnected in the popup; the page neither reloads nor regains the focus to refetch on.
      state.reauth = false
      const done = result.current.login('sandbox-oidc', { popup: true })
      post({ type: 'all-access:login', ok: true }, baseUrl, popup)
      await act(() => done)
      await waitFor(() => expect(result.current.me.data).toEqual({ path: '/api/sandbox-oidc/me' }))
      expect(result.current.me.error).toBeNull()
    })

    it('rejects with the code the popup posts', async () => {
      const { popup } = openedPopup()
      const login = createAllAccessClient({ baseUrl }).login('sandbox-oidc', { popup: true, prompt: 'none' })
      post({ type: 'all-access:login', ok: false, error: 'login_required' }, baseUrl, popup)
      const error = await login.catch((e: unknown) => e)
      expect(error).toBeInstanceOf(AllAccessClientError)
      expect(error).toMatchObject({ code: 'login_required', message: 'The provider needs you to sign in.' })
    })

    it('reads a code it does not know as server_error', async () => {
      const { popup } = openedPopup()
      const login = createAllAccessClient({ baseUrl }).login('sandbox-oidc', { popup: true })
      post({ type: 'all-access:login', ok: false, error: 'no_such_code' }, baseUrl, popup)
      await expect(login).rejects.toMatchObject({ code: 'server_error' })
    })

    it('rejects with access_denied when the popup is closed and this page has the focus back', async () => {
      const { popup } = openedPopup()
      vi.spyOn(document, 'hasFocus').mockReturnValue(true)
      const login = createAllAccessClient({ baseUrl }).login('sandbox-oidc', { popup: true })
      popup.closed = true
      await expect(login).rejects.toMatchObject({ code: 'access_denied' })
    })

    it('waits while a popup that reads as closed still holds the focus, and rejects once this page has it back', async () => {
      // What a provider page with Cross-Origin-Opener-Policy: same-origin does: the popup reads as
      // closed at once, while it is still open in front with the provider's page.
      const { popup } = openedPopup()
      const hasFocus = vi.spyOn(document, 'hasFocus').mockReturnValue(false)
      let settled = false
      const login = createAllAccessClient({ baseUrl }).login('sandbox-oidc', { popup: true }).finally(() => (settled = true))
      popup.closed = true
      await new Promise((resolve) => setTimeout(resolve, 900))
      expect(settled).toBe(false)
      hasFocus.mockReturnValue(true)
      await expect(login).rejects.toMatchObject({ code: 'access_denied' })
    })

    it('settles on the result a cut-off popup broadcasts to pages of its origin', async () => {
      const { popup } = openedPopup()
      vi.spyOn(document, 'hasFocus').mockReturnValue(false)
      popup.closed = true
      const client = createAllAccessClient({ baseUrl })
      const channel = new BroadcastChannel('all-access:login')
      try {
        const refused = client.login('sandbox-oidc', { popup: true })
        channel.postMessage({ type: 'something-else', ok: true })
        channel.postMessage({ type: 'all-access:login', ok: false, error: 'access_denied' })
        await expect(refused).rejects.toMatchObject({ code: 'access_denied', message: 'Sign-in was cancelled or refused.' })
        const signedIn = client.login('sandbox-oidc', { popup: true })
        channel.postMessage({ type: 'all-access:login', ok: true })
        await expect(signedIn).resolves.toBeUndefined()
      } finally {
        channel.close()
      }
    })

    it("ignores another tab's broadcast result while its own popup is open: only a popup cut off from this page (it reads as closed) broadcasts", async () => {
      const { popup } = openedPopup()
      vi.spyOn(document, 'hasFocus').mockReturnValue(false)
      const client = createAllAccessClient({ baseUrl })
      // Another tab of the app, whose own popup login went through a provider that cut it off, failed there.
      const otherTab = new BroadcastChannel('all-access:login')
      try {
        let settled = false
        const login = client.login('sandbox-oidc', { popup: true }).finally(() => (settled = true))
        otherTab.postMessage({ type: 'all-access:login', ok: false, error: 'access_denied' })
        await new Promise((resolve) => setTimeout(resolve, 300))
        expect(settled).toBe(false)
        // This tab's popup, still open, then signs in.
        post({ type: 'all-access:login', ok: true }, baseUrl, popup)
        await expect(login).resolves.toBeUndefined()
      } finally {
        otherTab.close()
      }
    })

    it("shows a <LoginButton popup>'s failure in useAuthError, in every component asking, until dismissed", async () => {
      const { wrapper } = setup()
      const { popup } = openedPopup()
      function Alert() {
        const error = useAuthError()
        return error && <p role="alert" data-code={error.code} onClick={error.dismiss}>{error.message}</p>
      }
      render(<><LoginButton provider="sandbox-oidc" popup prompt="none" /><Alert /><Alert /></>, { wrapper })
      expect(screen.queryAllByRole('alert')).toEqual([])
      fireEvent.click(await screen.findByRole('button', { name: /sandbox-oidc/ }))
      post({ type: 'all-access:login', ok: false, error: 'login_required' }, baseUrl, popup)
      await waitFor(() => expect(screen.getAllByRole('alert').map((alert) => [alert.dataset.code, alert.textContent])).toEqual([
        ['login_required', 'The provider needs you to sign in.'],
        ['login_required', 'The provider needs you to sign in.'],
      ]))
      act(() => fireEvent.click(screen.getAllByRole('alert')[0]))
      expect(screen.queryAllByRole('alert')).toEqual([])
    })

    it("shows a <LoginButton popup>'s failure that is not the BFF's (a browser without BroadcastChannel) as server_error, not as nothing", async () => {
      const { wrapper } = setup()
      openedPopup()
      window.history.replaceState(null, '', '/?auth_error=access_denied')
      const shown = renderHook(() => useAuthError(), { wrapper })
      expect(shown.result.current?.code).toBe('access_denied')
      vi.stubGlobal('BroadcastChannel', undefined)
      try {
        render(<LoginButton provider="sandbox-oidc" popup />, { wrapper })
        fireEvent.click(screen.getByRole('button', { name: /sandbox-oidc/ }))
        await waitFor(() => expect(shown.result.current).toMatchObject({ code: 'server_error', message: 'Something went wrong during sign-in.' }))
      } finally {
        vi.unstubAllGlobals()
      }
    })

    it("keeps a newer login failure when an older one's dismiss comes late (a toast's timer, closing the first failure)", async () => {
      const { wrapper } = setup()
      const { popup } = openedPopup()
      // A full-page login came back failed, and the app gave it a toast that closes after a while.
      window.history.replaceState(null, '', '/?auth_error=access_denied')
      const shown = renderHook(() => useAuthError(), { wrapper })
      const first = shown.result.current
      expect(first?.code).toBe('access_denied')
      // The user tries again in a popup before that toast closed, and fails otherwise.
      render(<LoginButton provider="sandbox-oidc" popup />, { wrapper })
      fireEvent.click(screen.getByRole('button', { name: /sandbox-oidc/ }))
      post({ type: 'all-access:login', ok: false, error: 'account_conflict' }, baseUrl, popup)
      await waitFor(() => expect(shown.result.current?.code).toBe('account_conflict'))
      act(() => first?.dismiss())
      expect(shown.result.current?.code).toBe('account_conflict')
      act(() => shown.result.current?.dismiss())
      expect(shown.result.current).toBeNull()
    })

    it('takes a shown login failure away once a popup login succeeds: the user signed in after all', async () => {
      const { wrapper } = setup()
      const { popup } = openedPopup()
      function Alert() {
        const error = useAuthError()
        return error && <p role="alert">{error.message}</p>
      }
      // A full-page login came back failed; the user then signs in in a popup.
      window.history.replaceState(null, '', '/?auth_error=access_denied')
      const { result } = renderHook(() => useLogin(), { wrapper })
      render(<><LoginButton provider="sandbox-oidc" popup /><Alert /></>, { wrapper })
      await screen.findByRole('alert')
      const done = result.current.login('sandbox-oidc', { popup: true })
      post({ type: 'all-access:login', ok: true }, baseUrl, popup)
      await act(() => done)
      expect(screen.queryAllByRole('alert')).toEqual([])
      // A popup login from the button fails, and the next try succeeds.
      fireEvent.click(screen.getByRole('button', { name: /sandbox-oidc/ }))
      post({ type: 'all-access:login', ok: false, error: 'access_denied' }, baseUrl, popup)
      await screen.findByRole('alert')
      fireEvent.click(screen.getByRole('button', { name: /sandbox-oidc/ }))
      post({ type: 'all-access:login', ok: true }, baseUrl, popup)
      await waitFor(() => expect(screen.queryAllByRole('alert')).toEqual([]))
    })

    it('builds the full-page login URL with next and prompt, as before', () => {
      const client = createAllAccessClient({ baseUrl })
      expect(client.loginUrl('sandbox-oidc', { next: '/after', prompt: 'login' })).toBe(`${baseUrl}/auth/login/sandbox-oidc?next=%2Fafter&prompt=login`)
      expect(client.loginUrl('sandbox-oidc')).toBe(`${baseUrl}/auth/login/sandbox-oidc`)
    })
  })
})
