// @vitest-environment jsdom
import { afterEach, describe, expect, it, vi } from 'vitest'
import { act, cleanup, waitFor } from '@testing-library/react'
import { dehydrate, hydrate, QueryClient } from '@tanstack/react-query'
import { hydrateRoot, type Root } from 'react-dom/client'
import { renderToString } from 'react-dom/server'
import { AllAccessProvider, allAccessKeys, LoginButton, useAuthError, useSession, useSessionExpiry } from '../client/index.ts'

/**
 * A page rendered on the server with the session already read (prefetched and dehydrated, as
 * TanStack Query's guide for server rendering does), then hydrated in the browser.
 */
describe('the hooks rendered on the server and hydrated', () => {
  let root: Root | undefined

  afterEach(() => {
    if (root) act(() => root?.unmount())
    root = undefined
    cleanup()
    vi.restoreAllMocks()
  })

  function Page() {
    const session = useSession()
    const { secondsLeft, ended } = useSessionExpiry()
    const authError = useAuthError()
    return (
      <main>
        <p>{session.data?.authenticated ? session.data.user.displayName : 'visitor'}</p>
        <p>{secondsLeft === null ? 'no session clock' : `${secondsLeft} seconds left${ended ? ', ended' : ''}`}</p>
        <p>{authError?.message ?? 'no error'}</p>
        <LoginButton provider="github" />
      </main>
    )
  }

  it("hydrates the session's countdown without a mismatch, though the clock moved on, then counts", async () => {
    const start = Date.now()
    const clock = vi.spyOn(Date, 'now').mockReturnValue(start)
    // What the server read: no read happens in this test (the BFF's address answers nothing).
    const server = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, refetchInterval: false } } })
    server.setQueryData(allAccessKeys.session(), { authenticated: true, user: { id: '7', displayName: 'Alice' }, accounts: [], expiresAt: new Date(start + 90_500).toISOString() })
    const state = JSON.parse(JSON.stringify(dehydrate(server)))
    const html = renderToString(
      <AllAccessProvider baseUrl="http://127.0.0.1:9" queryClient={server}>
        <Page />
      </AllAccessProvider>,
    )
    // The page reaches the browser a second and a half later.
    clock.mockReturnValue(start + 1500)
    const browser = new QueryClient({ defaultOptions: { queries: { staleTime: Infinity, refetchInterval: false } } })
    hydrate(browser, state)
    const container = document.createElement('div')
    container.innerHTML = html
    document.body.append(container)
    const mismatches: unknown[] = []
    vi.spyOn(console, 'error').mockImplementation((...args) => void mismatches.push(args))
    await act(async () => {
      root = hydrateRoot(
        container,
        <AllAccessProvider baseUrl="http://127.0.0.1:9" queryClient={browser}>
          <Page />
        </AllAccessProvider>,
        { onRecoverableError: (error) => void mismatches.push(error) },
      )
    })
    expect(mismatches).toEqual([])
    expect(container.textContent).toContain('Alice')
    expect(container.textContent).toContain('89 seconds left')
    expect(container.textContent).toContain('Connect github')
    clock.mockReturnValue(start + 2500)
    await waitFor(() => expect(container.textContent).toContain('88 seconds left'), { timeout: 5000 })
  })
})
