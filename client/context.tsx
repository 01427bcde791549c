import * as RQ from '@tanstack/react-query'
import type { QueryClient } from '@tanstack/react-query'
import * as React from 'react'
import type { ReactNode } from 'react'
import { createAllAccessClient, type AllAccessClient } from './api.ts'

const AllAccessContext = React.createContext<AllAccessClient | null>(null)

/** Props of {@link AllAccessProvider}. */
export interface AllAccessProviderProps {
  children?: ReactNode
  /**
   * The QueryClient the hooks cache in. Without one, the app's own (from an enclosing
   * `QueryClientProvider`) is used, and failing that one is created.
   */
  queryClient?: QueryClient | undefined
  /** Where the BFF answers; default the page's own origin, where a browser needs it (see `AllAccessClientOptions.baseUrl`). */
  baseUrl?: string | undefined
  /** A ready client (a custom `fetch`, server rendering, tests); `baseUrl` is then ignored. */
  client?: AllAccessClient | undefined
}

/**
 * Makes the BFF client available to the all-access hooks below it, with a TanStack QueryClient:
 * the one given, else the app's own, else a new one.
 */
export function AllAccessProvider({ children, queryClient, baseUrl, client: given }: AllAccessProviderProps) {
  const client = React.useMemo(() => given ?? createAllAccessClient({ baseUrl }), [given, baseUrl])
  const outer = React.useContext(RQ.QueryClientContext)
  const [lazy] = React.useState<{ queryClient?: QueryClient }>({})
  const own = queryClient ?? (outer ? null : (lazy.queryClient ??= new RQ.QueryClient()))
  return React.createElement(AllAccessContext.Provider, { value: client }, own ? React.createElement(RQ.QueryClientProvider, { client: own }, children) : children)
}

/**
 * The client of the nearest {@link AllAccessProvider}, for calls the hooks do not cover.
 * @throws Error when there is no AllAccessProvider above.
 */
export function useAllAccessClient(): AllAccessClient {
  const client = React.useContext(AllAccessContext)
  if (!client) throw new Error('No AllAccessProvider found: wrap your app in <AllAccessProvider>')
  return client
}
