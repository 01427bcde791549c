// @vitest-environment jsdom
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { act, cleanup, renderHook, waitFor } from '@testing-library/react'
import { QueryClient } from '@tanstack/react-query'
import type { ReactNode } from 'react'
import { AllAccessProvider, allAccessKeys, useProviderApi } from '../client/index.ts'
import { startRecordingServer, type RecordedRequest as Received } from './support/recording-server.ts'

/**
 * The keys useProviderApi caches its answers under, as an app meets them: one call is one entry
 * however its path is written, and `allAccessKeys.api(provider, path)` finds every call of a path
 * (what README says to invalidate after a write), against a real HTTP server on 127.0.0.1.
 */
describe('the query keys of provider API calls', () => {
  let recorder: Awaited<ReturnType<typeof startRecordingServer>>
  let received: Received[]
  /** Bumped by each write, so a read shows whether it came after one. */
  let version = 1

  beforeAll(async () => {
    recorder = await startRecordingServer(({ url }) => ({ status: 200, type: 'application/json', body: JSON.stringify({ url, version }) }))
    received = recorder.received
  })

  beforeEach(() => {
    received.length = 0
    version = 1
  })

  afterEach(() => cleanup())

  afterAll(() => recorder.close())

  function setup() {
    const queryClient = new QueryClient()
    const wrapper = ({ children }: { children: ReactNode }) => (
      <AllAccessProvider baseUrl={recorder.url} queryClient={queryClient}>
        {children}
      </AllAccessProvider>
    )
    return { queryClient, wrapper }
  }

  it('caches a path written with and without a leading slash as one call, read once and found by either', async () => {
    const { queryClient, wrapper } = setup()
    const { result } = renderHook(() => [useProviderApi('github', '/user'), useProviderApi('github', 'user')], { wrapper })
    await waitFor(() => expect(result.current.map((call) => call.data)).toEqual([{ url: '/api/github/user', version: 1 }, { url: '/api/github/user', version: 1 }]))
    expect(received.map((r) => r.url)).toEqual(['/api/github/user'])
    expect(queryClient.getQueriesData({ queryKey: allAccessKeys.api('github') })).toHaveLength(1)
    expect(queryClient.getQueryData(allAccessKeys.api('github', 'user'))).toEqual({ url: '/api/github/user', version: 1 })
    expect(queryClient.getQueryData(allAccessKeys.api('github', '/user'))).toEqual({ url: '/api/github/user', version: 1 })
  })

  it('reads a call with a leading slash again when its path is invalidated as README writes it', async () => {
    const { queryClient, wrapper } = setup()
    const { result } = renderHook(() => useProviderApi('github', '/user/repos'), { wrapper })
    await waitFor(() => expect(result.current.data).toEqual({ url: '/api/github/user/repos', version: 1 }))
    version = 2
    await act(() => queryClient.invalidateQueries({ queryKey: allAccessKeys.api('github', 'user/repos') }))
    await waitFor(() => expect(result.current.data).toEqual({ url: '/api/github/user/repos', version: 2 }))
  })

  it('finds a call whose query is URLSearchParams by its path, so invalidating the path reads it again', async () => {
    const { queryClient, wrapper } = setup()
    const { result } = renderHook(() => useProviderApi('github', 'search/repositories', { query: new URLSearchParams({ q: 'all-access' }) }), { wrapper })
    await waitFor(() => expect(result.current.data).toEqual({ url: '/api/github/search/repositories?q=all-access', version: 1 }))
    version = 2
    await act(() => queryClient.invalidateQueries({ queryKey: allAccessKeys.api('github', 'search/repositories') }))
    await waitFor(() => expect(result.current.data).toEqual({ url: '/api/github/search/repositories?q=all-access', version: 2 }))
  })

  it('finds a call by its path and URLSearchParams query, as by a query object, and tells calls with other queries apart', async () => {
    const { queryClient, wrapper } = setup()
    const { result } = renderHook(
      () => [
        useProviderApi('github', 'search/repositories', { query: new URLSearchParams({ q: 'a' }) }),
        useProviderApi('github', 'search/repositories', { query: new URLSearchParams({ q: 'b' }) }),
        useProviderApi('github', 'search/repositories', { query: { q: 'c' } }),
      ],
      { wrapper },
    )
    await waitFor(() => expect(result.current.every((call) => call.isSuccess)).toBe(true))
    expect(queryClient.getQueryData(allAccessKeys.api('github', 'search/repositories', new URLSearchParams({ q: 'b' })))).toEqual({ url: '/api/github/search/repositories?q=b', version: 1 })
    expect(queryClient.getQueryData(allAccessKeys.api('github', 'search/repositories', { q: 'c' }))).toEqual({ url: '/api/github/search/repositories?q=c', version: 1 })
    expect(queryClient.getQueriesData({ queryKey: allAccessKeys.api('github', 'search/repositories') })).toHaveLength(3)
  })

  it("renders a call whose path was cut inside an emoji (text.slice(0, n)): its lone half is sent as U+FFFD, as the browser's URL parser and the query's encoding send it, instead of throwing URIError during the render", async () => {
    const { wrapper } = setup()
    const cut = 'search/caf\u00e9 \u{1F600}'.slice(0, -1)
    const { result } = renderHook(() => useProviderApi('github', cut, { query: { q: cut } }), { wrapper })
    await waitFor(() => expect(result.current.data).toEqual({ url: '/api/github/search/caf%C3%A9%20%EF%BF%BD?q=search%2Fcaf%C3%A9+%EF%BF%BD', version: 1 }))
  })
})
