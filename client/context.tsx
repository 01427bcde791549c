import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { createContext, useContext, useState, type ReactNode } from 'react'
import { createAllAccessClient, type AllAccessClient } from './api.ts'

const AllAccessContext = createContext<AllAccessClient | null>(null)

export interface AllAccessProviderProps {
  children: ReactNode
  /** Your app's QueryClient; one is created when absent. */
  queryClient?: QueryClient
  /** Where the BFF answers; default the page's own origin. */
  baseUrl?: string
  /** A ready client (a custom `fetch`, server rendering, tests); `baseUrl` is then ignored. */
  client?: AllAccessClient
}

/** Makes the BFF client (and a QueryClient) available to the all-access hooks below it. */
export function AllAccessProvider({ children, queryClient, baseUrl, client: given }: AllAccessProviderProps) {
  const [client] = useState(() => given ?? createAllAccessClient({ baseUrl }))
  const [ownQueryClient] = useState(() => queryClient ?? new QueryClient())
  return (
    <AllAccessContext.Provider value={client}>
      <QueryClientProvider client={queryClient ?? ownQueryClient}>{children}</QueryClientProvider>
    </AllAccessContext.Provider>
  )
}

export function useAllAccessClient(): AllAccessClient {
  const client = useContext(AllAccessContext)
  if (!client) throw new Error('No AllAccessProvider found: wrap your app in <AllAccessProvider>')
  return client
}
