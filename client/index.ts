/**
 * all-access/client: the React library of the all-access BFF. A framework-free client
 * ({@link createAllAccessClient}) and thin TanStack Query hooks over it; the browser never holds a
 * provider token, and every call carries `X-CSRF: 1`.
 */
export { createAllAccessClient } from './api.ts'
export type { AllAccessClient, AllAccessClientOptions, ApiCallOptions, ApiMethod, ApiQuery, LoginOptions, LogoutOptions } from './api.ts'
export { AllAccessClientError } from './errors.ts'
export { ProviderApiError } from './errors.ts'
export { isReauthRequired } from './errors.ts'
export { AllAccessProvider } from './context.tsx'
export { useAllAccessClient } from './context.tsx'
export type { AllAccessProviderProps } from './context.tsx'
export { allAccessKeys } from './hooks.ts'
export { useSession } from './hooks.ts'
export { useSessionExpiry } from './hooks.ts'
export { useProviders } from './hooks.ts'
export { useLogin } from './hooks.ts'
export { useLogout } from './hooks.ts'
export { useDisconnect } from './hooks.ts'
export { useProviderApi } from './hooks.ts'
export { useProviderMutation } from './hooks.ts'
export { useAuthError } from './hooks.ts'
export { authErrorMessage } from '../shared/auth-errors.ts'
export type {
  AllAccessMutationOptions,
  AllAccessQueryOptions,
  AuthError,
  ProviderApiOptions,
  ProviderMutationVariables,
  SessionExpiry,
  SessionOptions,
} from './hooks.ts'
export { LoginButton } from './login-button.tsx'
export type { LoginButtonProps } from './login-button.tsx'
export { ERROR_CODES } from '../shared/errors.ts'
export type { ErrorCode } from '../shared/errors.ts'
export type { LoginPrompt } from '../shared/routes.ts'
export type { AccountStatus, AccountSummary, LogoutAnswer, SessionInfo, SessionUser } from '../shared/session.ts'
export type { PublicProvider } from '../shared/provider.ts'
