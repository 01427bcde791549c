// @vitest-environment jsdom
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { act, cleanup, render, renderHook, waitFor } from '@testing-library/react'
import { QueryClient } from '@tanstack/react-query'
import * as React from 'react'
import type { ReactNode } from 'react'
import { AllAccessProvider, allAccessKeys, LoginButton, ProviderApiError, useLogin, useLogout, useProviderApi, useProviderMutation, useSession, useSessionExpiry } from '../client/index.ts'
import { startRecordingServer, type RecordedRequest as Received } from './support/recording-server.ts'

/**
 * The hooks as an app written the usual React and TanStack Query way uses them: in effects with their
 * dependencies, with its own QueryClient defaults, against a real HTTP server on 127.0.0.1.
 */
describe('the hooks in an app', () => {
  let recorder: Awaited<ReturnType<typeof startRecordingServer>>
  let received: Received[]

  beforeAll(async () => {
    recorder = await startRecordingServer(({ url }) => {
      const { pathname } = new URL(url, 'http://x')
      if (pathname === '/auth/session') return { status: 200, type: 'application/json', body: JSON.stringify({ authenticated: false }) }
      if (pathname === '/api/github/busy') return { status: 503, type: 'application/json', body: JSON.stringify({ message: 'Try again later.' }) }
      if (pathname === '/api/github/gone') return { status: 404, type: 'application/json', body: JSON.stringify({ message: 'Not Found' }) }
      return { status: 404, type: 'application/json', body: JSON.stringify({ error: 'not_found', message: 'No such route.' }) }
    })
    received = recorder.received
  })

  beforeEach(() => {
    received.length = 0
  })

  afterEach(() => {
    cleanup()
    vi.restoreAllMocks()
  })

  afterAll(() => recorder.close())

  function wrapper(queryClient = new QueryClient()) {
    return ({ children }: { children: ReactNode }) => (
      <AllAccessProvider baseUrl={recorder.url} queryClient={queryClient}>
        {children}
      </AllAccessProvider>
    )
  }

  it('gives the same login from render to render, so an effect that depends on it runs once', async () => {
    const popup = { closed: false }
    const open = vi.spyOn(window, 'open').mockReturnValue(popup as unknown as Window)
    const logins: Promise<void>[] = []
    // A silent sign-in when the page opens, written as React asks: login among the effect's dependencies.
    const { rerender } = renderHook(
      () => {
        const { login } = useLogin()
        React.useEffect(() => void logins.push(login('sandbox-oidc', { popup: true, prompt: 'none' })), [login])
      },
      { wrapper: wrapper() },
    )
    rerender()
    rerender()
    expect(open).toHaveBeenCalledTimes(1)
    // The user closes the popup: the login is over.
    vi.spyOn(document, 'hasFocus').mockReturnValue(true)
    popup.closed = true
    expect(await Promise.allSettled(logins)).toEqual([{ status: 'rejected', reason: expect.objectContaining({ code: 'access_denied' }) }])
  })

  it("rolls an optimistic update back with what its onMutate returned, typed as it returned it (TanStack Query's own pattern)", async () => {
    const queryClient = new QueryClient()
    const starred = allAccessKeys.api('github', 'user/starred')
    queryClient.setQueryData<string[]>(starred, ['octo/hello'])
    const { result } = renderHook(
      () =>
        useProviderMutation('github', {
          onMutate: ({ path }) => {
            const previous = queryClient.getQueryData<string[]>(starred) ?? []
            queryClient.setQueryData(starred, [...previous, path])
            return { previous }
          },
          // Type-checked: `previous` is a string[], as onMutate returned it.
          onError: (_error, _variables, optimistic) => queryClient.setQueryData(starred, optimistic?.previous.slice()),
        }),
      { wrapper: wrapper(queryClient) },
    )
    await act(() => result.current.mutateAsync({ path: 'gone', method: 'PUT' }).catch(() => {}))
    expect(queryClient.getQueryData(starred)).toEqual(['octo/hello'])
    // The same for the session's mutations.
    const logout = renderHook(() => useLogout({ onMutate: () => ({ at: 'sign-out' }), onSettled: (_data, _error, _variables, step) => step?.at.toUpperCase() }), { wrapper: wrapper(queryClient) })
    expect(logout.result.current.isIdle).toBe(true)
  })

  describe("with the app's own QueryClient defaults", () => {
    const reads = (path: string) => received.filter((r) => r.url === path).length
    /** Retries without their waits between, so that a test sees every one. */
    const queryClient = (retry: boolean | number | ((failureCount: number, error: Error) => boolean)) => new QueryClient({ defaultOptions: { queries: { retry, retryDelay: 0 } } })

    it('does not retry a failure when the app turns retries off (as TanStack Query advises for tests)', async () => {
      const { result } = renderHook(() => useProviderApi('github', 'busy'), { wrapper: wrapper(queryClient(false)) })
      await waitFor(() => expect(result.current.error).toBeInstanceOf(ProviderApiError))
      expect(reads('/api/github/busy')).toBe(1)
    })

    it("retries a failure as many times as the app's default says, or as its function decides", async () => {
      const { result } = renderHook(() => useProviderApi('github', 'busy'), { wrapper: wrapper(queryClient(4)) })
      await waitFor(() => expect(result.current.error).toBeInstanceOf(ProviderApiError))
      expect(reads('/api/github/busy')).toBe(5)
      received.length = 0
      const decide = vi.fn((failureCount: number) => failureCount < 1)
      const again = renderHook(() => useProviderApi('github', 'busy'), { wrapper: wrapper(queryClient(decide)) })
      await waitFor(() => expect(again.result.current.error).toBeInstanceOf(ProviderApiError))
      expect(reads('/api/github/busy')).toBe(2)
      expect(decide).toHaveBeenCalledWith(0, expect.any(ProviderApiError))
    })

    it('still never retries a 4xx answer, whatever the default: it would only be repeated', async () => {
      const { result } = renderHook(() => useProviderApi('github', 'gone'), { wrapper: wrapper(queryClient(true)) })
      await waitFor(() => expect(result.current.error).toMatchObject({ status: 404 }))
      expect(reads('/api/github/gone')).toBe(1)
    })

    it("reads the session again when the window regains focus, however long the app's staleTime keeps its own data fresh", async () => {
      const { result } = renderHook(() => useSession(), { wrapper: wrapper(new QueryClient({ defaultOptions: { queries: { staleTime: 5 * 60_000 } } })) })
      await waitFor(() => expect(result.current.isSuccess).toBe(true))
      // The user signed out in another tab, and comes back to this one (TanStack Query listens to visibilitychange).
      act(() => void window.dispatchEvent(new Event('visibilitychange')))
      await waitFor(() => expect(reads('/auth/session?slide=false')).toBe(1))
    })

    it('does not read the session on focus when the app turns focus reads off', async () => {
      const app = new QueryClient({ defaultOptions: { queries: { refetchOnWindowFocus: false } } })
      const { result } = renderHook(() => useSession(), { wrapper: wrapper(app) })
      await waitFor(() => expect(result.current.isSuccess).toBe(true))
      act(() => void window.dispatchEvent(new Event('visibilitychange')))
      // A read the focus started would be under way by now.
      expect(app.isFetching({ queryKey: allAccessKeys.session() })).toBe(0)
      expect(reads('/auth/session')).toBe(1)
    })

    it("follows the defaults the app set for the all-access keys (setQueryDefaults), as TanStack Query's own queries would", async () => {
      const app = new QueryClient()
      app.setQueryDefaults(allAccessKeys.api('github'), { retry: false })
      app.setQueryDefaults(allAccessKeys.session(), { refetchOnWindowFocus: false })
      const api = renderHook(() => useProviderApi('github', 'busy'), { wrapper: wrapper(app) })
      await waitFor(() => expect(api.result.current.error).toBeInstanceOf(ProviderApiError))
      expect(reads('/api/github/busy')).toBe(1)
      api.unmount()
      const { result } = renderHook(() => useSession(), { wrapper: wrapper(app) })
      await waitFor(() => expect(result.current.isSuccess).toBe(true))
      act(() => void window.dispatchEvent(new Event('visibilitychange')))
      expect(app.isFetching({ queryKey: allAccessKeys.session() })).toBe(0)
      expect(reads('/auth/session')).toBe(1)
    })

    it("polls the session every minute unless the app's defaults say otherwise, for LoginButton and useSessionExpiry too", async () => {
      /** Sessions reads over two minutes of a page showing a LoginButton and a countdown. */
      async function readsOverTwoMinutes(app: QueryClient): Promise<number> {
        // The page's timers are the test's from the start (the answers' are not).
        vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] })
        try {
          const page = render(<><LoginButton provider="github" /><Countdown /></>, { wrapper: wrapper(app) })
          // waitFor's own checks run on setInterval, faked here.
          while (app.getQueryState(allAccessKeys.session())?.status !== 'success') await act(() => new Promise((resolve) => setTimeout(resolve, 10)))
          for (const _ of [1, 2]) {
            act(() => void vi.advanceTimersByTime(60_000))
            // A read a poll started is sent by now.
            await act(() => new Promise((resolve) => setTimeout(resolve, 100)))
          }
          page.unmount()
          return reads('/auth/session') + reads('/auth/session?slide=false')
        } finally {
          vi.useRealTimers()
        }
      }
      function Countdown() {
        return <p>{useSessionExpiry().secondsLeft}</p>
      }
      expect(await readsOverTwoMinutes(new QueryClient())).toBe(3)
      received.length = 0
      const quiet = new QueryClient()
      quiet.setQueryDefaults(allAccessKeys.session(), { refetchInterval: false })
      expect(await readsOverTwoMinutes(quiet)).toBe(1)
      received.length = 0
      expect(await readsOverTwoMinutes(new QueryClient({ defaultOptions: { queries: { refetchInterval: false } } }))).toBe(1)
    })

    it('retries a failure twice when the app says nothing, and a retry given to the hook wins', async () => {
      const { result } = renderHook(() => useProviderApi('github', 'busy', { retryDelay: 0 }), { wrapper: wrapper(new QueryClient()) })
      await waitFor(() => expect(result.current.error).toBeInstanceOf(ProviderApiError))
      expect(reads('/api/github/busy')).toBe(3)
      received.length = 0
      const again = renderHook(() => useProviderApi('github', 'busy', { retry: 1 }), { wrapper: wrapper(queryClient(false)) })
      await waitFor(() => expect(again.result.current.error).toBeInstanceOf(ProviderApiError))
      expect(reads('/api/github/busy')).toBe(2)
    })
  })
})
