import * as RQ from '@tanstack/react-query'
import {
  type QueryClient,
  type QueryFunction,
  type QueryKey,
  type UseMutationOptions,
  type UseQueryOptions,
} from '@tanstack/react-query'
import * as React from 'react'
import { authErrorMessage } from '../shared/auth-errors.ts'
import type { ErrorCode } from '../shared/errors.ts'
import type { PublicProvider } from '../shared/provider.ts'
import type { SessionInfo } from '../shared/session.ts'
import { apiPath, everyQuarterSecond, pageWithoutAuthError, type AllAccessClient, type ApiCallOptions, type ApiMethod, type ApiQuery, type LogoutOptions } from './api.ts'
import { useAllAccessClient } from './context.tsx'
import { AllAccessClientError, knownCode, ProviderApiError } from './errors.ts'

/** Query keys of everything the hooks cache, so an app can invalidate, prefetch or read it itself. */
export const allAccessKeys = {
  all: ['all-access'] as const,
  session: () => [...allAccessKeys.all, 'session'] as const,
  providers: () => [...allAccessKeys.all, 'providers'] as const,
  /** Every cached API answer; with a provider, that provider's; with a path and query, one call's (parts not given are left out). */
  api: (provider?: string, path?: string, query?: ApiQuery, headers?: Record<string, string>): unknown[] =>
    // The path as it is called (`/user` is `user`), so that one call has one key however it is written.
    // URLSearchParams as an object too, its pairs under '' (no query object's values are pairs): TanStack
    // Query matches a key part by its prefix only when both are plain objects, and the key of a path,
    // `{}` for its query, must find every call of that path.
    [...allAccessKeys.all, 'api', provider, path && apiPath(path), path === undefined ? path : query instanceof URLSearchParams ? { '': [...query] } : (query ?? {}), headers].filter(
      (part) => part !== undefined,
    ),
}

/**
 * These refusals mean the cached session is out of date: the account needs a reconnect, is gone
 * (disconnected in another tab), or the session ended. The error is thrown on, as the query or
 * mutation's own. Refusals arriving together share one read: each cancelling the one before, every
 * read cut short after its answer cleared the API answers again (a session that ended), and their
 * new reads were refused again, and so on.
 */
const refreshSessionAfter = (queryClient: QueryClient) => (error: Error): never => {
  if (error instanceof AllAccessClientError && ['reauth_required', 'not_authenticated', 'account_not_connected', 'account_not_found'].includes(error.code)) {
    void queryClient.invalidateQueries({ queryKey: allAccessKeys.session() }, { cancelRefetch: false })
  }
  throw error
}

/**
 * Every all-access query: 4xx answers (the BFF's or the provider's) are answers, not glitches, and
 * retrying only repeats them; other failures are retried as the app's QueryClient defaults say (an app
 * turns retries off in its tests), else twice. The hook's own options win.
 */
function useAllAccessQuery<TQueryFnData, TData>(
  queryKey: QueryKey,
  queryFn: QueryFunction<TQueryFnData>,
  options: AllAccessQueryOptions<TQueryFnData, TData>,
  focusDefault?: 'always',
  pollDefault?: number,
) {
  // The app's defaults for this key: its QueryClient's, and those it set for the key (setQueryDefaults).
  // focusDefault and pollDefault stand in for a focus and a poll default the app did not set; the
  // app's own are passed on as they are (`refetchInterval: false` stops LoginButton's polls too).
  const { retry = 2, refetchOnWindowFocus = focusDefault, refetchInterval = pollDefault } = RQ.useQueryClient().defaultQueryOptions({ queryKey })
  return RQ.useQuery<TQueryFnData, Error, TData>({
    queryKey,
    queryFn,
    retry: (failureCount, error) =>
      !((error instanceof AllAccessClientError || error instanceof ProviderApiError) && error.status < 500) &&
      (typeof retry == 'function' ? retry(failureCount, error) : retry === true || failureCount < +retry),
    refetchOnWindowFocus: refetchOnWindowFocus as AllAccessQueryOptions<TQueryFnData, TData>['refetchOnWindowFocus'],
    refetchInterval: refetchInterval as AllAccessQueryOptions<TQueryFnData, TData>['refetchInterval'],
    ...options,
  })
}

/** TanStack Query options the all-access queries pass on (`enabled`, `select`, `staleTime`, …). */
export type AllAccessQueryOptions<TQueryFnData, TData = TQueryFnData> = Omit<UseQueryOptions<TQueryFnData, Error, TData>, 'queryKey' | 'queryFn'>

/** Options of {@link useSession}. */
export type SessionOptions<TData = SessionInfo> = AllAccessQueryOptions<SessionInfo, TData> & {
  /**
   * Whether a read counts as activity and extends the session's idle end. By default only the
   * first read does (the app was opened); polls, refetches on focus and after changes do not.
   */
  slide?: boolean | undefined
}

/**
 * Who is signed in, with which accounts: `GET /auth/session` as a query, read again every minute
 * and when the window regains focus (TanStack Query's `refetchOnWindowFocus`), however fresh the
 * app's `staleTime` says it is. An account with `status: 'reauth_required'` must sign in with
 * its provider again (show "Reconnect"). When a read finds the session ended, every cached
 * provider API answer is cleared (one on screen is read again, failing with `not_authenticated`), as
 * when it finds another user signed in (read again as theirs).
 */
export function useSession<TData = SessionInfo>({ slide, ...options }: SessionOptions<TData> = {}) {
  const client = useAllAccessClient()
  const queryClient = RQ.useQueryClient()
  const key = allAccessKeys.session()
  return useAllAccessQuery(
    key,
    async ({ signal }) => {
      const before = queryClient.getQueryData<SessionInfo>(key)
      // The page's first read slides, even over a session restored from storage (persistQueryClient).
      const info = await client.getSession({ slide: slide ?? !slid.has(queryClient), signal })
      slid.add(queryClient)
      // Ended, or another user's (signed out and in again in another tab): the answers were not theirs.
      // Reset, not removed: a removed query's data stays on screen in a component that does not re-render.
      if (before?.authenticated && before.user.id !== (info.authenticated && info.user.id)) {
        void queryClient.resetQueries({ queryKey: allAccessKeys.api() })
        // Known here, not only where a useSessionExpiry counted down: the signed-out screen that mounts
        // now says ended though no countdown was ever shown. (For another user, a countdown's render
        // puts their session's end in its place.)
        sessionEnds.set(queryClient, Date.parse(before.expiresAt))
      }
      return info
    },
    options,
    // On focus however fresh the app's staleTime says it is (another tab may have signed out), and
    // every minute, unless the app's defaults decide otherwise (false: no focus reads, no polls).
    'always',
    60_000,
  )
}

/**
 * The session read of the library's own components (useSessionExpiry, LoginButton): fresh for the
 * minute between polls, so that one that mounts once the app has read the session (README's
 * LoginButton, after `isPending`) does not read it again. An app's own useSession keeps its staleTime.
 */
export const polled = { staleTime: 60_000 }

/** What {@link useSessionExpiry} returns. */
export interface SessionExpiry {
  /** Seconds until the session ends if left idle; 0 once its time has run out (or it has ended); null when nobody has been signed in, or while the session is not known yet. */
  secondsLeft: number | null
  /** The session this page knew has ended: the server says it is gone, or its time ran out and a read after that found it unmoved. Not after a sign-out through {@link useLogout}. */
  ended: boolean
}

// The session end each page (each QueryClient) has known, so that a component that mounts after it,
// the signed-out screen, knows that a session ended. A sign-out through useLogout forgets it.
const sessionEnds = new WeakMap<QueryClient, number>()
// The pages (QueryClients) whose session has been read once: the app was opened.
const slid = new WeakSet<QueryClient>()

/**
 * The session's end, counting down each second, to warn before it comes. Once the time runs out
 * the session is read again: another tab's activity may have moved the end, else it is over (`ended`).
 */
export function useSessionExpiry(): SessionExpiry {
  const { data, refetch, dataUpdatedAt } = useSession(polled)
  const queryClient = RQ.useQueryClient()
  const client = useAllAccessClient()
  // The end on this browser's clock: the server's end counted down on a clock minutes ahead would end
  // early (and the read after it say `ended` while the session lives), on one behind, late.
  if (data?.authenticated) sessionEnds.set(queryClient, Date.parse(data.expiresAt) - (client.clockSkew?.() || 0))
  const end = sessionEnds.get(queryClient)
  // Read from the clock (a render only when the count changes), but not on the server nor
  // while hydrating: the browser's clock has moved on, and the page's HTML would not match.
  // Four looks a second: a look a second, from wherever the page started it, lands beside a second's
  // change, and a timer a little late then skips a number (9, 7, 7). No session known (a query TanStack
  // Query dropped unused, being read again): not known yet, rather than ended.
  const secondsLeft = React.useSyncExternalStore(
    everyQuarterSecond,
    () => (end === undefined || !data ? null : data.authenticated ? Math.max(0, Math.ceil((end - Date.now()) / 1000)) : 0),
    () => null,
  )
  const timeUp = secondsLeft === 0
  React.useEffect(() => {
    // Every component counting shares one read: each cancelling the one before cost a read each.
    if (timeUp && data?.authenticated) void refetch({ cancelRefetch: false })
  }, [timeUp])
  // Ended once the server says so, or a read after the end still found it there: until then another
  // tab's activity may have moved it, and an app that leaves for a signed-out page would leave a live session.
  return { secondsLeft, ended: timeUp && !(data?.authenticated && dataUpdatedAt < end!) }
}

/** The enabled providers (`name`, `displayName`, `protocol`), to render login buttons. */
export function useProviders<TData = PublicProvider[]>(options: AllAccessQueryOptions<PublicProvider[], TData> = {}) {
  const client = useAllAccessClient()
  return useAllAccessQuery(allAccessKeys.providers(), ({ signal }) => client.getProviders({ signal }), { staleTime: 5 * 60_000, ...options })
}

/**
 * `login(provider, { next, prompt })` leaves the page for the provider (signing in, or linking the
 * provider to the signed-in user); the session is read afresh on return. `login(provider, { popup:
 * true })` signs in in a popup and keeps the page: the promise resolves once the session, and the
 * API answers on screen (one that failed with `reauth_required` before a reconnect), are read
 * again, or rejects with the login's AllAccessClientError. `loginUrl` gives the URL instead.
 */
export function useLogin(): Pick<AllAccessClient, 'login' | 'loginUrl'> {
  const client = useAllAccessClient()
  const queryClient = RQ.useQueryClient()
  // The same functions from render to render: an effect that signs in when the page opens lists login
  // among its dependencies, and a new one each render would start the login again at every render.
  return React.useMemo(
    () => ({
      loginUrl: client.loginUrl,
      // Signed in after all: a failure still shown (the last try's, or a full-page login's) is over.
      login: (provider, options) => client.login(provider, options).then(() => (showAuthError(null), queryClient.invalidateQueries({ queryKey: allAccessKeys.all }))),
    }),
    [client, queryClient],
  )
}

/** Options of {@link useLogout} and {@link useDisconnect}: TanStack mutation options (`TOnMutateResult` is what `onMutate` returns). */
export type AllAccessMutationOptions<TVariables, TOnMutateResult = unknown> = Omit<UseMutationOptions<void, Error, TVariables, TOnMutateResult>, 'mutationFn'>

/** A mutation that changes who is signed in with what: the API answers it ends are cleared (those on screen read again), and the session is refetched. */
function useSessionMutation<TVariables, TOnMutateResult>(
  options: AllAccessMutationOptions<TVariables, TOnMutateResult>,
  mutationFn: (client: AllAccessClient, variables: TVariables) => Promise<void>,
  provider?: (variables: TVariables) => string,
) {
  const client = useAllAccessClient()
  const queryClient = RQ.useQueryClient()
  return RQ.useMutation<void, Error, TVariables, TOnMutateResult>({
    ...options,
    // A disconnect refused as not_authenticated: the session ended meanwhile, and the page must show it.
    mutationFn: (variables) => mutationFn(client, variables).catch(refreshSessionAfter(queryClient)),
    onSuccess: async (...args) => {
      const from = provider?.(args[1])
      if (!from) {
        // Signed out, as the read that follows will find: it must not clear the answers a second time.
        queryClient.setQueryData<SessionInfo>(allAccessKeys.session(), { authenticated: false })
        // Ended by the user here: not the end useSessionExpiry tells of ("your session has ended").
        sessionEnds.delete(queryClient)
        // A login failure, shown or still in the address (a failed link, on a screen that showed none),
        // was the signed-out user's: the sign-in screen that follows would show it as its own.
        takeAuthErrorFromUrl()
        showAuthError(null)
      }
      void queryClient.resetQueries({ queryKey: allAccessKeys.api(from) })
      await queryClient.invalidateQueries({ queryKey: allAccessKeys.session() })
      await options.onSuccess?.(...args)
    },
  })
}

/**
 * Signs out (`POST /auth/logout`), clears the cached API answers (all were the user's) and refetches
 * the session. `mutate({ providerLogout: true })` then leaves for the provider's sign-out page, if any.
 */
export function useLogout<TOnMutateResult = unknown>(options: AllAccessMutationOptions<LogoutOptions | void, TOnMutateResult> = {}) {
  return useSessionMutation(options, (client, variables) => client.logout(variables || {}))
}

/** Unlinks a provider's account (`DELETE /auth/accounts/:provider`; the BFF revokes its tokens) and refetches the session. */
export function useDisconnect<TOnMutateResult = unknown>(options: AllAccessMutationOptions<string, TOnMutateResult> = {}) {
  return useSessionMutation(options, (client, provider) => client.disconnect(provider), (provider) => provider)
}

/** Options of {@link useProviderApi}: query parameters and headers of the call, and TanStack query options. */
export type ProviderApiOptions<TQueryFnData = unknown, TData = TQueryFnData> = AllAccessQueryOptions<TQueryFnData, TData> & {
  query?: ApiQuery | undefined
  headers?: Record<string, string> | undefined
}

/**
 * A GET of the provider's API through the BFF's proxy (`/api/<provider>/<path>?<query>`), as a
 * query keyed by provider, path and query. Fails with AllAccessClientError (`isReauthRequired(error)`:
 * offer "Reconnect"; the session is refetched so the account shows it too) or ProviderApiError; 4xx
 * answers are not retried.
 */
export function useProviderApi<TQueryFnData = unknown, TData = TQueryFnData>(
  provider: string,
  path: string,
  { query, headers, ...options }: ProviderApiOptions<TQueryFnData, TData> = {},
) {
  const client = useAllAccessClient()
  const queryClient = RQ.useQueryClient()
  return useAllAccessQuery(
    allAccessKeys.api(provider, path, query, headers),
    ({ signal }) => client.api<TQueryFnData>(provider, path, { query, headers, signal }).catch(refreshSessionAfter(queryClient)),
    options,
  )
}

/** What {@link useProviderMutation}'s `mutate` takes: one call of the provider's API. */
export interface ProviderMutationVariables {
  /** Relative to the provider's API base, e.g. `statuses/update.json`. */
  path: string
  /** Default `POST`. */
  method?: Exclude<ApiMethod, 'GET'> | undefined
  /** A JSON body. */
  json?: unknown
  /** A form body (what OAuth 1.0a APIs sign). */
  form?: Record<string, string> | URLSearchParams | undefined
  /** Any other body: a file to upload (`Blob`, `File`), `FormData`, bytes or text (see {@link ApiCallOptions}). */
  body?: ApiCallOptions['body']
  query?: ApiQuery | undefined
  headers?: Record<string, string> | undefined
}

/**
 * A POST, PUT, PATCH or DELETE of the provider's API through the BFF's proxy: `mutate({ path, method, json | form })`.
 * It invalidates no query itself: after a write, invalidate what it changed (`allAccessKeys.api(provider, path)`).
 */
export function useProviderMutation<TData = unknown, TOnMutateResult = unknown>(
  provider: string,
  options: Omit<UseMutationOptions<TData, Error, ProviderMutationVariables, TOnMutateResult>, 'mutationFn'> = {},
) {
  const client = useAllAccessClient()
  const queryClient = RQ.useQueryClient()
  return RQ.useMutation<TData, Error, ProviderMutationVariables, TOnMutateResult>({
    ...options,
    mutationFn: ({ path, method = 'POST', ...call }) =>
      client.api<TData>(provider, path, { method, ...call }).catch(refreshSessionAfter(queryClient)),
  })
}

/** What {@link useAuthError} returns after a failed login. */
export interface AuthError {
  /** The callback's code; one this version does not know reads as `server_error`. */
  code: ErrorCode
  /** The code in words, for an alert. */
  message: string
  /** Forgets the error (every component showing it updates); a newer failure shown since stays. */
  dismiss(): void
}

// The page's auth_error, taken from the address once and shared by every component that asks.
let authError: AuthError | null = null
const authErrorListeners = new Set<() => void>()

function toAuthError(found: string): AuthError | null {
  const code = knownCode(found)
  // Its own dismiss forgets this error only: an older one's, late (a toast's timer), leaves a newer failure shown.
  const error: AuthError | null = found ? { code, message: authErrorMessage(code), dismiss: () => authError === error && showAuthError(null) } : null
  return error
}

// In an effect, never during a render: a router that follows history.replaceState (Next.js's) updates
// itself from it, and an update of another component during this one's render is React's error.
function takeAuthErrorFromUrl(): void {
  const [url, found] = pageWithoutAuthError()
  if (found === null) return
  history.replaceState(history.state, '', url)
  showAuthError(toAuthError(found))
}

function subscribeAuthError(listener: () => void) {
  authErrorListeners.add(listener)
  return () => authErrorListeners.delete(listener)
}

function showAuthError(error: AuthError | null): void {
  authError = error
  for (const listener of authErrorListeners) listener()
}

/**
 * Shows a failed popup login where {@link useAuthError} shows a failed full-page one (LoginButton's).
 * A failure of the browser's (no BroadcastChannel) reads as server_error: without a code it would
 * take the shown failure away, and the button would seem to do nothing.
 */
export const showLoginFailure = (error: Partial<AllAccessClientError>) => showAuthError(toAuthError(error.code || 'server_error'))

/**
 * The `?auth_error=` a failed login came back with, as a code and a sentence, or null. It is read
 * from the address once and removed with `history.replaceState`, so a reload does not show it again.
 * A `<LoginButton popup>`'s failure shows here too; a popup login that succeeds takes it away.
 */
export function useAuthError(): AuthError | null {
  React.useEffect(takeAuthErrorFromUrl, [])
  return React.useSyncExternalStore(subscribeAuthError, () => authError, () => null)
}
