// @vitest-environment jsdom
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { cleanup, renderHook, waitFor } from '@testing-library/react'
import { QueryClient } from '@tanstack/react-query'
import * as React from 'react'
import type { ReactNode } from 'react'
import { AllAccessProvider, useLogin } from '../client/index.ts'
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
})
