import { useMutation, useQuery, useQueryClient, type UseMutationOptions, type UseQueryOptions } from '@tanstack/react-query'
import { useCallback, useState } from 'react'
import type { ErrorCode } from '../shared/errors.ts'
import { AUTH_ERROR_PARAM } from '../shared/routes.ts'
import type { ApiCallOptions } from './api.ts'
import { useAllAccessClient } from './context.tsx'
import { AllAccessClientError, ProviderApiError } from './errors.ts'

/** Query keys, so an app can invalidate or prefetch all-access data itself. */
export const allAccessKeys = {
  all: ['all-access'] as const,
  session: () => [...allAccessKeys.all, 'session'] as const,
  providers: () => [...allAccessKeys.all, 'providers'] as const,
  api: (provider: string, path: string, query?: ApiCallOptions['query']) =>
    [...allAccessKeys.all, 'api', provider, path, query instanceof URLSearchParams ? query.toString() : (query ?? {})] as const,
}

/** 4xx answers (the BFF's or the provider's) are answers, not glitches: retrying only repeats them. */
function retryTransient(failureCount: number, error: Error): boolean {
  if ((error instanceof AllAccessClientError || error instanceof ProviderApiError) && error.status < 500) return false
  return failureCount < 2
}

/** Who is signed in, with which accounts (`status: 'reauth_required'` means "reconnect"). */
export function useSession() {
  const client = useAllAccessClient()
  return useQuery({ queryKey: allAccessKeys.session(), queryFn: ({ signal }) => client.getSession({ signal }), retry: retryTransient })
}

/** The enabled providers, to render login buttons. */
export function useProviders() {
  const client = useAllAccessClient()
  return useQuery({ queryKey: allAccessKeys.providers(), queryFn: ({ signal }) => client.getProviders({ signal }), staleTime: 5 * 60_000, retry: retryTransient })
}

/** `login(provider, { next })` leaves for the provider; the session is read afresh on return. */
export function useLogin() {
  const client = useAllAccessClient()
  const login = useCallback((provider: string, options?: { next?: string }) => client.login(provider, options), [client])
  return { login, loginUrl: client.loginUrl.bind(client) }
}

export function useLogout() {
  const client = useAllAccessClient()
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: () => client.logout(),
    onSuccess: async () => {
      // Everything cached was the signed-in user's: drop provider data, then refetch the session.
      queryClient.removeQueries({ queryKey: [...allAccessKeys.all, 'api'] })
      await queryClient.invalidateQueries({ queryKey: allAccessKeys.session() })
    },
  })
}

/** Unlinks a provider account (its tokens are revoked by the BFF). */
export function useDisconnect() {
  const client = useAllAccessClient()
  const queryClient = useQueryClient()
  return useMutation({
    mutationFn: (provider: string) => client.disconnect(provider),
    onSuccess: async (_data, provider) => {
      queryClient.removeQueries({ queryKey: [...allAccessKeys.all, 'api', provider] })
      await queryClient.invalidateQueries({ queryKey: allAccessKeys.session() })
    },
  })
}

export type ProviderApiOptions<T> = Omit<UseQueryOptions<T, Error, T>, 'queryKey' | 'queryFn'> & { query?: ApiCallOptions['query'] }

/**
 * A GET of the provider's API through the BFF proxy, as a query. A `reauth_required` error also
 * refreshes the session, so the account shows as needing a reconnect.
 */
export function useProviderApi<T = unknown>(provider: string, path: string, { query, ...options }: ProviderApiOptions<T> = {}) {
  const client = useAllAccessClient()
  const queryClient = useQueryClient()
  return useQuery<T, Error, T>({
    queryKey: allAccessKeys.api(provider, path, query),
    queryFn: async ({ signal }) => {
      try {
        return await client.api<T>(provider, path, { query, signal })
      } catch (error) {
        if (error instanceof AllAccessClientError && error.code === 'reauth_required') void queryClient.invalidateQueries({ queryKey: allAccessKeys.session() })
        throw error
      }
    },
    retry: retryTransient,
    ...options,
  })
}

export interface ProviderMutationVariables {
  path: string
  method?: 'POST' | 'PUT' | 'PATCH' | 'DELETE'
  json?: unknown
  form?: Record<string, string>
  query?: ApiCallOptions['query']
}

/** A POST, PUT, PATCH or DELETE on the provider's API through the BFF proxy. */
export function useProviderMutation<T = unknown>(provider: string, options: Omit<UseMutationOptions<T, Error, ProviderMutationVariables>, 'mutationFn'> = {}) {
  const client = useAllAccessClient()
  const queryClient = useQueryClient()
  return useMutation<T, Error, ProviderMutationVariables>({
    mutationFn: ({ path, method = 'POST', json, form, query }) => client.api<T>(provider, path, { method, json, form, query }),
    ...options,
    onError: (error, variables, context, mutation) => {
      if (error instanceof AllAccessClientError && error.code === 'reauth_required') void queryClient.invalidateQueries({ queryKey: allAccessKeys.session() })
      return options.onError?.(error, variables, context, mutation)
    },
  })
}

const AUTH_ERROR_MESSAGES: Partial<Record<ErrorCode, string>> = {
  access_denied: 'Sign-in was cancelled or refused.',
  invalid_state: 'The sign-in could not be verified (it may have expired). Please try again.',
  missing_code: 'The provider did not complete the sign-in. Please try again.',
  issuer_mismatch: 'The sign-in answer did not come from the expected provider.',
  request_token_failed: 'The provider could not start the sign-in.',
  provider_unavailable: 'The provider could not be reached. Please try again later.',
  token_request_failed: 'The provider did not accept the sign-in.',
  id_token_invalid: 'The provider sent an invalid identity token.',
  profile_request_failed: 'Your profile could not be loaded from the provider.',
  missing_identifier: 'The provider did not say who you are.',
  account_conflict: 'That account is already linked to another user.',
  service_unavailable: 'The service is temporarily unavailable.',
  server_error: 'Something went wrong during sign-in.',
}

/** The message to show for a login error code. */
export function authErrorMessage(code: string): string {
  return AUTH_ERROR_MESSAGES[code as ErrorCode] ?? 'Sign-in failed.'
}

/**
 * The `?auth_error=` a failed login came back with, read once and removed from the address bar so
 * a reload does not show it again. Returns the code and its message, or null.
 */
export function useAuthError(): { code: string; message: string; dismiss(): void } | null {
  const [code, setCode] = useState<string | null>(() => {
    if (typeof window === 'undefined') return null
    const url = new URL(window.location.href)
    const found = url.searchParams.get(AUTH_ERROR_PARAM)
    if (found) {
      url.searchParams.delete(AUTH_ERROR_PARAM)
      window.history.replaceState(window.history.state, '', url.pathname + url.search + url.hash)
    }
    return found
  })
  const dismiss = useCallback(() => setCode(null), [])
  return code ? { code, message: authErrorMessage(code), dismiss } : null
}
